//! The form submit path: strict `application/x-www-form-urlencoded` decoding, `q.*` fields to
//! `RawAnswers`, then validation against the bundled default survey.
#![no_main]

use std::sync::OnceLock;

use chorus::survey::{DEFAULT_SURVEY, RawAnswers, Survey};
use chorus::web::body::parse_form;
use libfuzzer_sys::fuzz_target;

fn survey() -> &'static Survey {
    static SURVEY: OnceLock<Survey> = OnceLock::new();
    SURVEY.get_or_init(|| Survey::parse(DEFAULT_SURVEY).expect("the bundled survey parses"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(pairs) = parse_form(data) else { return };
    let raw = RawAnswers::from_form(&pairs);
    if let Ok(answers) = survey().validate(&raw) {
        // Validation promises the answer set fits the sealed size.
        let padded = survey().encode(&answers).expect("valid answers always fit the padded size");
        let back = survey().decode(&padded).expect("encoded answers decode");
        assert_eq!(back, answers, "encode/decode round trip");
    }
});
