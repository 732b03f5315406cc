//! The JSON API path: arbitrary bytes read as the API's `answers` object (`JsonAnswers`, its own
//! deserializer), then `RawAnswers`, validation against the default survey, and for valid answers an
//! `encode` → `decode` round trip.
#![no_main]

use std::sync::OnceLock;

use chorus::survey::{DEFAULT_SURVEY, JsonAnswers, Survey};
use libfuzzer_sys::fuzz_target;

fn survey() -> &'static Survey {
    static SURVEY: OnceLock<Survey> = OnceLock::new();
    SURVEY.get_or_init(|| Survey::parse(DEFAULT_SURVEY).expect("the bundled survey parses"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(answers) = serde_json::from_slice::<JsonAnswers>(data) else { return };
    let Ok(raw) = answers.into_raw() else { return };
    let Ok(answers) = survey().validate(&raw) else { return };
    let padded = survey().encode(&answers).expect("valid answers always fit the padded size");
    let back = survey().decode(&padded).expect("encoded answers decode");
    assert_eq!(back, answers, "encode/decode round trip");
});
