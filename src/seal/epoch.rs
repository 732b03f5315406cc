use hpke::{
    Deserializable, OpModeR, OpModeS, Serializable, aead::ChaCha20Poly1305, kdf::HkdfSha256, kem::X25519HkdfSha256,
};
use secrecy::{ExposeSecret, SecretBox};

use super::{KEY_LEN, ReportPrivateKey, SealError, bind, random};

const INFO: &[u8] = b"chorus/epoch-key/v1";
const ENC_LEN: usize = 32;

/// A 256-bit data key for one epoch of answers. Lives in RAM while the epoch is current, is stored
/// only HPKE-wrapped to the report public key, and is zeroized on drop.
pub struct EpochKey(SecretBox<[u8; KEY_LEN]>);

impl std::fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochKey([redacted])")
    }
}

impl EpochKey {
    pub fn generate() -> Self {
        Self(SecretBox::new(Box::new(random())))
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        self.0.expose_secret()
    }

    /// HPKE base mode (X25519-HKDF-SHA256, ChaCha20-Poly1305) to the report public key; the epoch id is
    /// the associated data, so a wrapped key cannot be attached to another epoch. Output: enc ‖ ct.
    pub fn wrap(&self, report_public: &[u8; 32], epoch_id: &str) -> Result<Vec<u8>, SealError> {
        wrap_key(report_public, INFO, &bind("chorus/epoch/v1", &[epoch_id.as_bytes()]), self.bytes())
    }

    pub fn unwrap(private: &ReportPrivateKey, wrapped: &[u8], epoch_id: &str) -> Result<Self, SealError> {
        let aad = bind("chorus/epoch/v1", &[epoch_id.as_bytes()]);
        Ok(Self(SecretBox::new(Box::new(unwrap_key(private, wrapped, INFO, &aad)?))))
    }
}

/// A 256-bit secret HPKE-sealed to the report public key (base mode, X25519-HKDF-SHA256,
/// ChaCha20-Poly1305) under `info` and `aad`: enc ‖ ct. Only the report private key opens it.
pub(super) fn wrap_key(
    report_public: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    secret: &[u8; KEY_LEN],
) -> Result<Vec<u8>, SealError> {
    let pk = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(report_public)
        .map_err(|_| SealError::Format("report public key"))?;
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeS::Base,
        &pk,
        info,
        secret,
        aad,
    )
    .map_err(|_| SealError::Format("HPKE seal"))?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

pub(super) fn unwrap_key(
    private: &ReportPrivateKey,
    wrapped: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<[u8; KEY_LEN], SealError> {
    if wrapped.len() <= ENC_LEN {
        return Err(SealError::Format("wrapped key too short"));
    }
    let (enc, ct) = wrapped.split_at(ENC_LEN);
    let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(enc)
        .map_err(|_| SealError::Format("encapsulated key"))?;
    let plain = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &private.hpke(),
        &enc,
        info,
        ct,
        aad,
    )
    .map_err(|_| SealError::Tampered)?;
    let plain = zeroize::Zeroizing::new(plain);
    plain.as_slice().try_into().map_err(|_| SealError::Format("wrapped key length"))
}
