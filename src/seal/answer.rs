use zeroize::Zeroizing;

use super::{EpochKey, SealError, bind, xopen, xseal};

/// The largest padded size, and the one every survey version uses unless its definition names a
/// smaller one (`sealed_size`).
pub const PLAINTEXT_LEN: usize = 1024;

/// The sizes an answer set may be padded to before sealing. A survey version pads every one of its
/// answer sets to the same size, fixed in its definition, so within a survey version a ciphertext's
/// length says nothing about which options were chosen or how long the free text was. A smaller size
/// costs less to store, write and open (a survey of closed questions fits in 256 bytes); the size is
/// part of the definition, never chosen per answer. Survey validation guarantees fit.
pub const PADDED_SIZES: [usize; 5] = [64, 128, 256, 512, PLAINTEXT_LEN];

/// A padded plaintext: 2-byte big-endian length, the payload, zeros. Zeroized on drop.
pub struct Padded(Zeroizing<Vec<u8>>);

impl Padded {
    /// Pad to `PLAINTEXT_LEN`.
    pub fn new(payload: &[u8]) -> Result<Self, SealError> {
        Self::sized(payload, PLAINTEXT_LEN)
    }

    /// Pad to `size`, one of `PADDED_SIZES`.
    pub fn sized(payload: &[u8], size: usize) -> Result<Self, SealError> {
        if !PADDED_SIZES.contains(&size) {
            return Err(SealError::Format("padded size"));
        }
        if payload.len() > size - 2 {
            return Err(SealError::TooLarge(payload.len()));
        }
        let mut buf = Zeroizing::new(vec![0u8; size]);
        buf[..2].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        buf[2..2 + payload.len()].copy_from_slice(payload);
        Ok(Self(buf))
    }

    pub fn payload(&self) -> &[u8] {
        let len = u16::from_be_bytes([self.0[0], self.0[1]]) as usize;
        &self.0[2..2 + len]
    }

    /// The size this plaintext was padded to.
    pub fn size(&self) -> usize {
        self.0.len()
    }

    fn from_plain(plain: Zeroizing<Vec<u8>>) -> Result<Self, SealError> {
        if !PADDED_SIZES.contains(&plain.len()) {
            return Err(SealError::Format("padded length"));
        }
        let len = u16::from_be_bytes([plain[0], plain[1]]) as usize;
        if len > plain.len() - 2 || plain[2 + len..].iter().any(|b| *b != 0) {
            return Err(SealError::Format("padding"));
        }
        Ok(Self(plain))
    }
}

/// Where a sealed answer belongs and what its row says of it. All of it is bound as associated data,
/// so a row that is moved to another survey, version, epoch or month, given another id, or re-flagged
/// (verified, synthetic) no longer opens. Any future column that matters belongs here too.
#[derive(Clone, Copy, Debug)]
pub struct AnswerAad<'a> {
    pub response_id: &'a str,
    pub survey_slug: &'a str,
    pub survey_version: i32,
    pub epoch_id: &'a str,
    pub month: &'a str,
    pub verified: bool,
    pub synthetic: bool,
}

impl AnswerAad<'_> {
    /// Version 2 (the label names it): everything above.
    fn bytes(&self) -> Vec<u8> {
        bind(
            "chorus/answer/v2",
            &[
                self.response_id.as_bytes(),
                self.survey_slug.as_bytes(),
                &self.survey_version.to_be_bytes(),
                self.epoch_id.as_bytes(),
                self.month.as_bytes(),
                &[u8::from(self.verified), u8::from(self.synthetic)],
            ],
        )
    }

    /// Version 1, for rows sealed before month and flags were bound. A v2 row never opens under it
    /// (the label differs), so it cannot be used to re-flag new rows.
    fn legacy_bytes(&self) -> Vec<u8> {
        bind(
            "chorus/answer/v1",
            &[
                self.response_id.as_bytes(),
                self.survey_slug.as_bytes(),
                &self.survey_version.to_be_bytes(),
                self.epoch_id.as_bytes(),
            ],
        )
    }
}

/// Ciphertext of an answer set: nonce ‖ XChaCha20-Poly1305 output. Its `Debug` shows only a length,
/// so a sealed answer cannot end up in a log even by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

impl Sealed {
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

pub fn seal_answer(key: &EpochKey, aad: &AnswerAad<'_>, plaintext: &Padded) -> Sealed {
    Sealed(xseal(key.bytes(), &plaintext.0, &aad.bytes()))
}

pub fn open_answer(key: &EpochKey, aad: &AnswerAad<'_>, sealed: &[u8]) -> Result<Padded, SealError> {
    Padded::from_plain(xopen(key.bytes(), sealed, &aad.bytes())?)
}

/// Open a row sealed under the version 1 associated data (month and flags not bound). Callers try
/// `open_answer` first and count rows that open only this way.
pub fn open_legacy_answer(key: &EpochKey, aad: &AnswerAad<'_>, sealed: &[u8]) -> Result<Padded, SealError> {
    Padded::from_plain(xopen(key.bytes(), sealed, &aad.legacy_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::*;
    use secrecy::SecretString;

    fn aad<'a>(id: &'a str, slug: &'a str) -> AnswerAad<'a> {
        AnswerAad {
            response_id: id,
            survey_slug: slug,
            survey_version: 1,
            epoch_id: "e1",
            month: "2026-11",
            verified: false,
            synthetic: false,
        }
    }

    #[test]
    fn round_trip_through_the_whole_hierarchy() {
        let pass = SecretString::from("correct horse battery staple sky");
        let kp = ReportKeypair::generate();
        let sealed_key = kp.seal("k1", &pass, &KdfParams::new(KdfCost::TESTING)).unwrap();
        let epoch = EpochKey::generate();
        let wrapped = epoch.wrap(&kp.public, "e1").unwrap();
        let sealed = seal_answer(&epoch, &aad("r1", "harms"), &Padded::new(b"hello").unwrap());
        drop(epoch);

        let private = sealed_key.open("k1", &kp.public, &pass).unwrap();
        let epoch = EpochKey::unwrap(&private, &wrapped, "e1").unwrap();
        let opened = open_answer(&epoch, &aad("r1", "harms"), sealed.as_bytes()).unwrap();
        assert_eq!(opened.payload(), b"hello");
    }

    #[test]
    fn wrong_passphrase_opens_nothing() {
        let kp = ReportKeypair::generate();
        let sealed_key =
            kp.seal("k1", &"correct horse battery staple sky".into(), &KdfParams::new(KdfCost::TESTING)).unwrap();
        let err = sealed_key.open("k1", &kp.public, &"correct horse battery staple sea".into()).unwrap_err();
        assert!(matches!(err, SealError::WrongPassphrase));
        // Weakening the stored KDF parameters must not help: they are bound as associated data.
        let mut weakened = sealed_key.clone();
        weakened.kdf = weakened.kdf.replace("t=1", "t=2");
        assert!(weakened.open("k1", &kp.public, &"correct horse battery staple sky".into()).is_err());
    }

    #[test]
    fn tampering_or_moving_fails() {
        let epoch = EpochKey::generate();
        let sealed = seal_answer(&epoch, &aad("r1", "harms"), &Padded::new(b"x").unwrap());
        let mut flipped = sealed.as_bytes().to_vec();
        flipped[40] ^= 1;
        assert!(open_answer(&epoch, &aad("r1", "harms"), &flipped).is_err());
        assert!(open_answer(&epoch, &aad("r1", "other"), sealed.as_bytes()).is_err());
        assert!(open_answer(&epoch, &aad("r2", "harms"), sealed.as_bytes()).is_err());
        let other_version = AnswerAad { survey_version: 2, ..aad("r1", "harms") };
        assert!(open_answer(&epoch, &other_version, sealed.as_bytes()).is_err());
        let other_epoch = AnswerAad { epoch_id: "e2", ..aad("r1", "harms") };
        assert!(open_answer(&epoch, &other_epoch, sealed.as_bytes()).is_err());
        let other_month = AnswerAad { month: "2026-10", ..aad("r1", "harms") };
        assert!(open_answer(&epoch, &other_month, sealed.as_bytes()).is_err());
        let verified = AnswerAad { verified: true, ..aad("r1", "harms") };
        assert!(open_answer(&epoch, &verified, sealed.as_bytes()).is_err());
        let synthetic = AnswerAad { synthetic: true, ..aad("r1", "harms") };
        assert!(open_answer(&epoch, &synthetic, sealed.as_bytes()).is_err());
        // Nor can a v2 row be opened as a legacy (v1) row, which binds less.
        assert!(open_legacy_answer(&epoch, &verified, sealed.as_bytes()).is_err());
    }

    #[test]
    fn a_wrapped_epoch_key_cannot_move_to_another_epoch() {
        let kp = ReportKeypair::generate();
        let wrapped = EpochKey::generate().wrap(&kp.public, "e1").unwrap();
        assert!(EpochKey::unwrap(&kp.private, &wrapped, "e2").is_err());
        assert!(EpochKey::unwrap(&kp.private, &wrapped, "e1").is_ok());
    }

    #[test]
    fn ciphertext_length_is_independent_of_content() {
        let epoch = EpochKey::generate();
        let small = seal_answer(&epoch, &aad("r1", "harms"), &Padded::new(b"a").unwrap());
        let large = seal_answer(&epoch, &aad("r1", "harms"), &Padded::new(&[7u8; 900]).unwrap());
        assert_eq!(small.as_bytes().len(), large.as_bytes().len());
        assert!(Padded::new(&[0u8; PLAINTEXT_LEN]).is_err());
    }

    #[test]
    fn every_padded_size_seals_to_one_length_and_opens() {
        let epoch = EpochKey::generate();
        for size in PADDED_SIZES {
            let lengths: Vec<usize> = [&b""[..], b"a", &vec![7u8; size - 2]]
                .iter()
                .map(|payload| {
                    let sealed = seal_answer(&epoch, &aad("r1", "harms"), &Padded::sized(payload, size).unwrap());
                    let opened = open_answer(&epoch, &aad("r1", "harms"), sealed.as_bytes()).unwrap();
                    assert_eq!((opened.payload(), opened.size()), (*payload, size));
                    sealed.as_bytes().len()
                })
                .collect();
            assert!(lengths.iter().all(|l| *l == lengths[0]), "size {size}: {lengths:?}");
            assert!(Padded::sized(&vec![0u8; size - 1], size).is_err(), "size {size} took one byte too many");
        }
        assert!(Padded::sized(b"a", 300).is_err(), "only the listed sizes");
    }
}
