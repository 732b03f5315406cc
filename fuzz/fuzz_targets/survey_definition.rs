//! `Survey::parse` on arbitrary UTF-8: every input must give `Ok` or a `DefinitionError`, never a panic.
//! A definition that parses must also keep its promise that the longest answer set fits the sealed size.
#![no_main]

use std::collections::BTreeMap;

use chorus::survey::{Kind, PNS, RawAnswers, Survey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let Ok(survey) = Survey::parse(source) else { return };

    // The largest answer set this definition allows: every option ticked (up to `max_selected`), and
    // every text at its limit in 4-byte characters.
    let mut raw = BTreeMap::new();
    for q in &survey.questions {
        let values: Vec<String> = match q.kind {
            Kind::Text => vec!["\u{1F4A9}".repeat(q.max_length)],
            Kind::Multiple => q
                .options
                .iter()
                .filter(|o| o.id != PNS)
                .take(q.max_selected.unwrap_or(usize::MAX))
                .map(|o| o.id.clone())
                .collect(),
            _ => q.options.first().map(|o| vec![o.id.clone()]).unwrap_or_default(),
        };
        raw.insert(q.id.clone(), values);
    }
    let answers = survey.validate(&RawAnswers(raw)).expect("the largest answer set is valid");
    let padded = survey.encode(&answers).expect("a parsed survey's largest answer set fits the sealed size");
    assert_eq!(survey.decode(&padded).expect("encoded answers decode"), answers);
});
