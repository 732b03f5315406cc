//! The key hierarchy, as pure cryptography (no database, no HTTP):
//! passphrase → Argon2id key-encryption key → report private key (X25519) → epoch keys (HPKE-wrapped)
//! → sealed answers (XChaCha20-Poly1305, fixed-size plaintexts). See docs/crypto.md.

mod answer;
mod custody;
mod epoch;
mod kdf;
mod report_key;
mod signing;

pub use answer::{
    AnswerAad, PADDED_SIZES, PLAINTEXT_LEN, Padded, Sealed, open_answer, open_legacy_answer, seal_answer,
};
pub use custody::{MAX_STEWARDS, SealedStewardKey, Share, StewardKeypair, UnsealKey, wrap_share};
pub use epoch::EpochKey;
pub use kdf::{
    KdfCost, KdfParams, MIN_PASSPHRASE_BITS, PASSPHRASE_RULE, check_passphrase_strength, generate_passphrase,
    passphrase_bits,
};
pub use report_key::{ReportKeypair, ReportPrivateKey, SealedPrivateKey};
pub use signing::{NAMESPACE as SIGNING_NAMESPACE, SigningKey, verify as verify_signature};

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use zeroize::Zeroizing;

pub const NONCE_LEN: usize = 24;
pub const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the passphrase is wrong (or the sealed key was altered)")]
    WrongPassphrase,
    #[error("the passphrase is too weak: {0}")]
    WeakPassphrase(&'static str),
    #[error("a sealed value failed authentication: it was altered, moved or belongs elsewhere")]
    Tampered,
    #[error("malformed sealed data: {0}")]
    Format(&'static str),
    #[error("key derivation failed")]
    Kdf(#[source] argon2::Error),
    #[error("the stored key-derivation cost is above the ceiling this server accepts; it was altered")]
    KdfTooCostly,
    #[error("custody: {0}")]
    Custody(&'static str),
    #[error("the answer is too large to seal ({0} bytes)")]
    TooLarge(usize),
}

/// Fresh random bytes from the thread-local CSPRNG (ChaCha12 seeded from the OS).
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out[..]);
    out
}

/// A random 128-bit id, hex encoded: never sequential, never derived from time.
pub fn random_id() -> String {
    hex::encode(random::<16>())
}

/// XChaCha20-Poly1305 with a random 24-byte nonce; output is nonce ‖ ciphertext ‖ tag.
pub(crate) fn xseal(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce: [u8; NONCE_LEN] = random();
    let ct = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad })
        .expect("XChaCha20-Poly1305 accepts any message shorter than 256 GiB");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

pub(crate) fn xopen(key: &[u8; KEY_LEN], sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Format("shorter than a nonce and a tag"));
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Format("nonce"))?;
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher.decrypt(&XNonce::from(nonce), Payload { msg: ct, aad }).map(Zeroizing::new).map_err(|_| SealError::Tampered)
}

/// Length-prefixed concatenation, so that distinct field lists never give the same bytes.
pub(crate) fn bind(label: &str, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(label.as_bytes());
    out.push(0);
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}
