//! The JSON API path: an arbitrary JSON value, its object (if any) to `RawAnswers`, validation against
//! the default survey, and for valid answers an `encode` → `decode` round trip.
#![no_main]

use std::sync::OnceLock;

use chorus::survey::{DEFAULT_SURVEY, RawAnswers, Survey};
use libfuzzer_sys::fuzz_target;

fn survey() -> &'static Survey {
    static SURVEY: OnceLock<Survey> = OnceLock::new();
    SURVEY.get_or_init(|| Survey::parse(DEFAULT_SURVEY).expect("the bundled survey parses"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let serde_json::Value::Object(map) = value else { return };
    let Ok(raw) = RawAnswers::from_json(&map) else { return };
    let Ok(answers) = survey().validate(&raw) else { return };
    let padded = survey().encode(&answers).expect("valid answers always fit the padded size");
    let back = survey().decode(&padded).expect("encoded answers decode");
    assert_eq!(back, answers, "encode/decode round trip");
});
