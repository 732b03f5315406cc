//! Split custody of the report keys (k-of-n stewards), as pure cryptography.
//!
//! passphrase → Argon2id → steward private key (X25519) → HPKE-wrapped share of the unseal key
//! → k shares combine (Shamir over GF(256), vsss-rs) → unseal key → report private keys.
//!
//! The unseal key is random (256 bits) and never stored: only its shares are, each HPKE-wrapped to
//! one steward's public key, whose private half is sealed under that steward's passphrase exactly as
//! a report key used to be (Argon2id, XChaCha20-Poly1305). Re-sharing therefore needs only k
//! stewards: new shares are wrapped to the other stewards' public keys without their passphrases.

use hpke::{Serializable, kem::X25519HkdfSha256};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use vsss_rs::{Gf256, IdentifierGf256};
use zeroize::Zeroizing;

use super::{
    KEY_LEN, KdfParams, ReportKeypair, ReportPrivateKey, SealError, bind,
    epoch::{unwrap_key, wrap_key},
    random, xopen, xseal,
};

const SHARE_INFO: &[u8] = b"chorus/unseal-share/v1";

/// The most stewards a sharing can have (GF(256) gives 255 x-coordinates).
pub const MAX_STEWARDS: usize = 255;

/// The 256-bit key the report private keys are wrapped under. Exists only in RAM, zeroized on drop.
pub struct UnsealKey(SecretBox<[u8; KEY_LEN]>);

impl std::fmt::Debug for UnsealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsealKey([redacted])")
    }
}

/// One steward's share: its x-coordinate (1..=255, public) and its 32 y-bytes (secret, zeroized).
pub struct Share {
    pub index: u8,
    value: SecretBox<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share({}, [redacted])", self.index)
    }
}

impl UnsealKey {
    pub fn generate() -> Self {
        Self(SecretBox::new(Box::new(random())))
    }

    /// Only for tests that prove the key never reaches the database.
    #[doc(hidden)]
    pub fn bytes_for_leak_tests(&self) -> [u8; 32] {
        *self.0.expose_secret()
    }

    /// Split into `n` shares at x = 1..=n, any `k` of which give the key back. k = 1 gives every
    /// steward the key itself (a constant polynomial).
    pub fn split(&self, k: usize, n: usize) -> Result<Vec<Share>, SealError> {
        if k == 0 || n == 0 || k > n || n > MAX_STEWARDS {
            return Err(SealError::Custody("the threshold must be between 1 and the number of stewards (at most 255)"));
        }
        let shares: Zeroizing<Vec<Vec<u8>>> = Zeroizing::new(if k == 1 {
            (1..=n).map(|i| std::iter::once(i as u8).chain(self.0.expose_secret().iter().copied()).collect()).collect()
        } else {
            Gf256::split_bytes_with_participant_ids_iter(
                k,
                n,
                self.0.expose_secret(),
                rand::rng(),
                (1..=n).map(|i| IdentifierGf256(Gf256(i as u8))),
            )
            .map_err(|_| SealError::Custody("the unseal key could not be split"))?
        });
        shares.iter().map(|s| share_from_bytes(s)).collect()
    }

    /// Combine `shares` (exactly the threshold, distinct indices) into the key. Wrong or mismatched
    /// shares give a different key, which then fails to open the report keys.
    pub fn combine(shares: &[Share]) -> Result<Self, SealError> {
        Self::combine_refs(&shares.iter().collect::<Vec<_>>())
    }

    /// [`Self::combine`] for shares held elsewhere (a pending run keeps them with their stewards).
    pub fn combine_refs(shares: &[&Share]) -> Result<Self, SealError> {
        let mut seen = std::collections::HashSet::new();
        if shares.is_empty() || !shares.iter().all(|s| s.index != 0 && seen.insert(s.index)) {
            return Err(SealError::Custody("shares must be distinct"));
        }
        if shares.len() == 1 {
            return Ok(Self(SecretBox::new(Box::new(*shares[0].value.expose_secret()))));
        }
        let bytes: Zeroizing<Vec<Vec<u8>>> = Zeroizing::new(
            shares
                .iter()
                .map(|s| std::iter::once(s.index).chain(s.value.expose_secret().iter().copied()).collect())
                .collect(),
        );
        let secret = Zeroizing::new(
            Gf256::combine_bytes(bytes.as_slice()).map_err(|_| SealError::Custody("the shares do not combine"))?,
        );
        let key: [u8; KEY_LEN] =
            secret.as_slice().try_into().map_err(|_| SealError::Format("combined unseal key length"))?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// Wrap a report private key under this key (XChaCha20-Poly1305), bound to its id, its public
    /// key and the sharing's generation.
    pub fn wrap_report_key(
        &self,
        generation: &str,
        key_id: &str,
        public: &[u8; 32],
        private: &ReportPrivateKey,
    ) -> Vec<u8> {
        xseal(self.0.expose_secret(), private.secret_bytes(), &report_aad(generation, key_id, public))
    }

    /// Open a report private key wrapped by [`Self::wrap_report_key`]. Wrong shares give
    /// [`SealError::WrongPassphrase`]: a wrong share and a wrong passphrase look the same.
    pub fn open_report_key(
        &self,
        generation: &str,
        key_id: &str,
        public: &[u8; 32],
        blob: &[u8],
    ) -> Result<ReportPrivateKey, SealError> {
        let plain = xopen(self.0.expose_secret(), blob, &report_aad(generation, key_id, public))
            .map_err(|_| SealError::WrongPassphrase)?;
        let bytes: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| SealError::Format("private key length"))?;
        let key = ReportPrivateKey::from_bytes(bytes);
        if <X25519HkdfSha256 as hpke::Kem>::sk_to_pk(&key.hpke()).to_bytes().as_slice() != public {
            return Err(SealError::Tampered);
        }
        Ok(key)
    }
}

fn share_from_bytes(s: &[u8]) -> Result<Share, SealError> {
    let (&index, value) = s.split_first().ok_or(SealError::Format("empty share"))?;
    let value: [u8; KEY_LEN] = value.try_into().map_err(|_| SealError::Format("share length"))?;
    Ok(Share { index, value: SecretBox::new(Box::new(value)) })
}

fn report_aad(generation: &str, key_id: &str, public: &[u8; 32]) -> Vec<u8> {
    bind("chorus/report-key-under-unseal-key/v1", &[generation.as_bytes(), key_id.as_bytes(), public])
}

fn share_aad(generation: &str, steward_id: &str, index: u8) -> Vec<u8> {
    bind("chorus/unseal-share/v1", &[generation.as_bytes(), steward_id.as_bytes(), &[index]])
}

/// A steward's keypair: the public half receives shares; the private half is sealed under the
/// steward's passphrase (Argon2id at the configured cost) and opened only to take part.
pub struct StewardKeypair(ReportKeypair);

/// A steward's private key as stored: the KDF parameters and the sealed blob.
#[derive(Clone, Debug)]
pub struct SealedStewardKey {
    pub kdf: String,
    pub blob: Vec<u8>,
}

impl StewardKeypair {
    pub fn generate() -> Self {
        Self(ReportKeypair::generate())
    }

    pub fn public(&self) -> [u8; 32] {
        self.0.public
    }

    /// Seal the private half under the steward's passphrase (the caller checks its strength).
    pub fn seal(
        &self,
        steward_id: &str,
        passphrase: &SecretString,
        params: &KdfParams,
    ) -> Result<SealedStewardKey, SealError> {
        let kek = params.derive(passphrase)?;
        let kdf = params.encode();
        let blob =
            xseal(kek.expose_secret(), self.0.private.secret_bytes(), &steward_aad(steward_id, &self.0.public, &kdf));
        Ok(SealedStewardKey { kdf, blob })
    }

    /// Open with the passphrase. A wrong passphrase and a tampered row look the same.
    pub fn open(
        steward_id: &str,
        public: &[u8; 32],
        sealed: &SealedStewardKey,
        passphrase: &SecretString,
    ) -> Result<Self, SealError> {
        let params = KdfParams::decode(&sealed.kdf)?;
        let kek = params.derive(passphrase)?;
        let plain = xopen(kek.expose_secret(), &sealed.blob, &steward_aad(steward_id, public, &sealed.kdf))
            .map_err(|_| SealError::WrongPassphrase)?;
        let bytes: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| SealError::Format("steward key length"))?;
        let private = ReportPrivateKey::from_bytes(bytes);
        if <X25519HkdfSha256 as hpke::Kem>::sk_to_pk(&private.hpke()).to_bytes().as_slice() != public {
            return Err(SealError::Tampered);
        }
        Ok(Self(ReportKeypair { public: *public, private }))
    }

    /// Unwrap this steward's share of one generation.
    pub fn open_share(
        &self,
        generation: &str,
        steward_id: &str,
        index: u8,
        wrapped: &[u8],
    ) -> Result<Share, SealError> {
        let value = unwrap_key(&self.0.private, wrapped, SHARE_INFO, &share_aad(generation, steward_id, index))?;
        Ok(Share { index, value: SecretBox::new(Box::new(value)) })
    }
}

fn steward_aad(steward_id: &str, public: &[u8; 32], kdf: &str) -> Vec<u8> {
    bind("chorus/steward-key/v1", &[steward_id.as_bytes(), public, kdf.as_bytes()])
}

/// HPKE-wrap a share to a steward's public key, bound to the generation, the steward and the index.
pub fn wrap_share(
    steward_public: &[u8; 32],
    generation: &str,
    steward_id: &str,
    share: &Share,
) -> Result<Vec<u8>, SealError> {
    wrap_key(steward_public, SHARE_INFO, &share_aad(generation, steward_id, share.index), share.value.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(key: &UnsealKey, kp: &ReportKeypair, blob: &[u8]) -> bool {
        key.open_report_key("g", "k", &kp.public, blob).is_ok()
    }

    #[test]
    fn any_k_of_n_shares_open_and_fewer_do_not() {
        let key = UnsealKey::generate();
        let kp = ReportKeypair::generate();
        let blob = key.wrap_report_key("g", "k", &kp.public, &kp.private);
        let shares = key.split(2, 3).unwrap();
        for (a, b) in [(0, 1), (0, 2), (1, 2), (2, 0)] {
            let pair = [
                Share { index: shares[a].index, value: SecretBox::new(Box::new(*shares[a].value.expose_secret())) },
                Share { index: shares[b].index, value: SecretBox::new(Box::new(*shares[b].value.expose_secret())) },
            ];
            assert!(open(&UnsealKey::combine(&pair).unwrap(), &kp, &blob));
        }
        // One share of a 2-of-3 sharing is not the key.
        assert!(!open(&UnsealKey::combine(&shares[..1]).unwrap(), &kp, &blob));
        // 1-of-n: every share is the key.
        for s in key.split(1, 3).unwrap() {
            assert!(open(&UnsealKey::combine(&[s]).unwrap(), &kp, &blob));
        }
        assert!(key.split(3, 2).is_err() && key.split(0, 2).is_err() && key.split(2, 256).is_err());
    }

    #[test]
    fn shares_travel_wrapped_to_stewards() {
        let params = KdfParams::new(super::super::KdfCost::TESTING);
        let steward = StewardKeypair::generate();
        let pass = SecretString::from("gravy quarrel unclaimed bunkbed tamper ferocious spotless");
        let sealed = steward.seal("s1", &pass, &params).unwrap();
        let key = UnsealKey::generate();
        let share = key.split(1, 1).unwrap().remove(0);
        let wrapped = wrap_share(&steward.public(), "g", "s1", &share).unwrap();
        let opened = StewardKeypair::open("s1", &steward.public(), &sealed, &pass).unwrap();
        let back = opened.open_share("g", "s1", share.index, &wrapped).unwrap();
        assert_eq!(back.value.expose_secret(), share.value.expose_secret());
        assert!(opened.open_share("other generation", "s1", share.index, &wrapped).is_err());
        assert!(StewardKeypair::open("s1", &steward.public(), &sealed, &SecretString::from("wrong")).is_err());
        assert!(StewardKeypair::open("s2", &steward.public(), &sealed, &pass).is_err());
    }
}
