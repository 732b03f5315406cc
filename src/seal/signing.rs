//! The organisation's release-signing key: Ed25519, signatures in the SSH signature format (SshSig,
//! namespace `chorus-release`), so anyone can check a published file with `ssh-keygen -Y verify`.
//! The private key is stored only HPKE-sealed to the report public key, like the epoch keys: it can
//! be opened only in a release run, with the steward's passphrase.

use secrecy::{ExposeSecret, SecretBox};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig, private::Ed25519Keypair};

use super::{
    KEY_LEN, ReportPrivateKey, SealError, bind,
    epoch::{unwrap_key, wrap_key},
    random,
};

/// The SshSig namespace of release signatures: a signature made for anything else never verifies.
pub const NAMESPACE: &str = "chorus-release";
const INFO: &[u8] = b"chorus/signing-key/v1";

/// An Ed25519 signing key (its 32-byte seed), zeroized on drop and never printed.
pub struct SigningKey(SecretBox<[u8; KEY_LEN]>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

impl SigningKey {
    pub fn generate() -> Self {
        Self(SecretBox::new(Box::new(random())))
    }

    /// An existing unencrypted OpenSSH Ed25519 private key (`ssh-keygen -t ed25519 -N ''`).
    pub fn from_openssh(pem: &str) -> Result<Self, SealError> {
        let key = PrivateKey::from_openssh(pem).map_err(|_| SealError::Format("not an OpenSSH private key"))?;
        if key.is_encrypted() {
            return Err(SealError::Format("the OpenSSH key is passphrase-protected; export it without one"));
        }
        let pair = key.key_data().ed25519().ok_or(SealError::Format("not an Ed25519 key"))?;
        Ok(Self(SecretBox::new(Box::new(pair.private.to_bytes()))))
    }

    fn private(&self) -> PrivateKey {
        PrivateKey::from(Ed25519Keypair::from_seed(self.0.expose_secret()))
    }

    /// The public key as an OpenSSH line (`ssh-ed25519 AAAA… comment`).
    pub fn public_openssh(&self, comment: &str) -> Result<String, SealError> {
        let mut public = self.private().public_key().clone();
        public.set_comment(comment);
        public.to_openssh().map_err(|_| SealError::Format("public key encoding"))
    }

    /// An armored SshSig over `msg` (`-----BEGIN SSH SIGNATURE-----`), as `ssh-keygen -Y sign` makes.
    pub fn sign(&self, msg: &[u8]) -> Result<String, SealError> {
        let sig = self.private().sign(NAMESPACE, HashAlg::Sha512, msg).map_err(|_| SealError::Format("signing"))?;
        sig.to_pem(LineEnding::LF).map_err(|_| SealError::Format("signature encoding"))
    }

    /// Sealed to the report public key, bound to the signing key's id.
    pub fn wrap(&self, report_public: &[u8; 32], key_id: &str) -> Result<Vec<u8>, SealError> {
        wrap_key(report_public, INFO, &bind("chorus/signing/v1", &[key_id.as_bytes()]), self.0.expose_secret())
    }

    pub fn unwrap(private: &ReportPrivateKey, wrapped: &[u8], key_id: &str) -> Result<Self, SealError> {
        let aad = bind("chorus/signing/v1", &[key_id.as_bytes()]);
        Ok(Self(SecretBox::new(Box::new(unwrap_key(private, wrapped, INFO, &aad)?))))
    }
}

/// Whether `sig_pem` is a valid release signature over `msg` by the OpenSSH public key `public`.
pub fn verify(public: &str, msg: &[u8], sig_pem: &str) -> bool {
    let (Ok(key), Ok(sig)) = (PublicKey::from_openssh(public.trim()), SshSig::from_pem(sig_pem.trim())) else {
        return false;
    };
    key.verify(NAMESPACE, msg, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_refuse_tampering() {
        let key = SigningKey::generate();
        let public = key.public_openssh("chorus").unwrap();
        assert!(public.starts_with("ssh-ed25519 "));
        let sig = key.sign(b"a release").unwrap();
        assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"));
        assert!(verify(&public, b"a release", &sig));
        assert!(!verify(&public, b"a release!", &sig), "an altered file fails");
        let other = SigningKey::generate().public_openssh("x").unwrap();
        assert!(!verify(&other, b"a release", &sig), "another key fails");
    }

    #[test]
    fn the_seed_round_trips_through_openssh() {
        let key = SigningKey::generate();
        let pem = key.private().to_openssh(LineEnding::LF).unwrap();
        let back = SigningKey::from_openssh(&pem).unwrap();
        assert_eq!(back.public_openssh("c").unwrap(), key.public_openssh("c").unwrap());
    }
}
