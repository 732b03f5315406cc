use hpke::{Deserializable, Kem as _, Serializable, kem::X25519HkdfSha256};
use secrecy::{ExposeSecret, SecretBox, SecretString};

use super::{KEY_LEN, KdfParams, SealError, bind, xopen, xseal};

/// The report keypair: its public half seals epoch keys; its private half exists unwrapped only in RAM
/// during an unseal run.
pub struct ReportKeypair {
    pub public: [u8; 32],
    pub private: ReportPrivateKey,
}

/// An X25519 private key, zeroized on drop, never printable.
pub struct ReportPrivateKey(SecretBox<[u8; KEY_LEN]>);

impl std::fmt::Debug for ReportPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportPrivateKey([redacted])")
    }
}

impl ReportPrivateKey {
    pub(super) fn hpke(&self) -> <X25519HkdfSha256 as hpke::Kem>::PrivateKey {
        <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(self.0.expose_secret())
            .expect("32 bytes are always a valid X25519 private key")
    }

    pub(super) fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }

    /// Only for tests that prove the key never reaches the database unwrapped.
    #[doc(hidden)]
    pub fn bytes_for_leak_tests(&self) -> [u8; 32] {
        *self.0.expose_secret()
    }
}

impl ReportKeypair {
    pub fn generate() -> Self {
        let (sk, pk) = X25519HkdfSha256::gen_keypair();
        let mut private = [0u8; KEY_LEN];
        private.copy_from_slice(&sk.to_bytes());
        let public: [u8; 32] = pk.to_bytes().into();
        let kp = Self { public, private: ReportPrivateKey(SecretBox::new(Box::new(private))) };
        zeroize::Zeroize::zeroize(&mut private);
        kp
    }

    /// Seal the private half under a key derived from the passphrase.
    pub fn seal(
        &self,
        key_id: &str,
        passphrase: &SecretString,
        params: &KdfParams,
    ) -> Result<SealedPrivateKey, SealError> {
        let kek = params.derive(passphrase)?;
        let kdf = params.encode();
        let aad = aad(key_id, &self.public, &kdf);
        let blob = xseal(kek.expose_secret(), self.private.0.expose_secret(), &aad);
        Ok(SealedPrivateKey { kdf, blob })
    }
}

/// The private key as stored: XChaCha20-Poly1305 under the Argon2id-derived key, with the key id,
/// the public key and the KDF parameters bound as associated data.
#[derive(Clone, Debug)]
pub struct SealedPrivateKey {
    pub kdf: String,
    pub blob: Vec<u8>,
}

fn aad(key_id: &str, public: &[u8; 32], kdf: &str) -> Vec<u8> {
    bind("chorus/report-key/v1", &[key_id.as_bytes(), public, kdf.as_bytes()])
}

impl SealedPrivateKey {
    /// Unwrap with the passphrase. A wrong passphrase and a tampered record look the same.
    pub fn open(
        &self,
        key_id: &str,
        public: &[u8; 32],
        passphrase: &SecretString,
    ) -> Result<ReportPrivateKey, SealError> {
        let params = KdfParams::decode(&self.kdf)?;
        let kek = params.derive(passphrase)?;
        let plain = xopen(kek.expose_secret(), &self.blob, &aad(key_id, public, &self.kdf))
            .map_err(|_| SealError::WrongPassphrase)?;
        let bytes: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| SealError::Format("private key length"))?;
        let key = ReportPrivateKey(SecretBox::new(Box::new(bytes)));
        // The public key must belong to the private key, or epoch keys would be sealed to a stranger.
        let derived = <X25519HkdfSha256 as hpke::Kem>::sk_to_pk(&key.hpke()).to_bytes();
        if derived.as_slice() != public {
            return Err(SealError::Tampered);
        }
        Ok(key)
    }
}
