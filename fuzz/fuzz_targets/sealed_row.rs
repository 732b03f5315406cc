//! The report side of a sealed row: arbitrary plaintext payloads through `Survey::decode` of the default
//! survey, and arbitrary ciphertexts through `open_answer` (which must refuse them, never panic).
#![no_main]

use std::sync::OnceLock;

use chorus::seal::{AnswerAad, EpochKey, Padded, open_answer};
use chorus::survey::{DEFAULT_SURVEY, Survey};
use libfuzzer_sys::fuzz_target;

fn survey() -> &'static Survey {
    static SURVEY: OnceLock<Survey> = OnceLock::new();
    SURVEY.get_or_init(|| Survey::parse(DEFAULT_SURVEY).expect("the bundled survey parses"))
}

fn key() -> &'static EpochKey {
    static KEY: OnceLock<EpochKey> = OnceLock::new();
    KEY.get_or_init(EpochKey::generate)
}

const AAD: AnswerAad<'static> = AnswerAad {
    response_id: "fuzz-response",
    survey_slug: "harms",
    survey_version: 1,
    epoch_id: "fuzz-epoch",
    month: "2026-01",
    verified: false,
    synthetic: false,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(padded) = Padded::new(data) {
        if let Ok(answers) = survey().decode(&padded) {
            // Whatever decodes must encode back to a set that decodes to the same answers.
            let again = survey().encode(&answers).expect("decoded answers re-encode");
            assert_eq!(survey().decode(&again).expect("re-encoded answers decode"), answers);
        }
    }
    // The key is random and fresh: no fuzzer input can forge a tag for it.
    assert!(open_answer(key(), &AAD, data).is_err(), "an arbitrary ciphertext opened");
});
