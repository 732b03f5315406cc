//! Developer tooling: realistic synthetic responses, written through the normal sealing path and
//! marked synthetic so that no snapshot including them can ever be published.

use rand::RngExt;

use crate::survey::{Kind, RawAnswers, Survey, ValidAnswers};

/// One synthetic answer set. Options are drawn with falling weights (1, 1/2, 1/3 …), so later
/// options are rare and small cells — and their suppression — show up in reports as in real data.
pub fn synthetic_answers(survey: &Survey, rng: &mut impl rand::Rng) -> ValidAnswers {
    let mut raw = RawAnswers::default();
    for q in &survey.questions {
        let roll: f64 = rng.random();
        if q.kind == Kind::Text || roll < 0.08 {
            continue; // not answered (free text is never synthesised)
        }
        let pns = q.pns_index().expect("closed question");
        if roll < 0.12 {
            raw.0.insert(q.id.clone(), vec![q.options[pns].id.clone()]);
            continue;
        }
        // An option that ends the survey (the screening question's "No") is never drawn: such an
        // answer set is refused and stored nowhere.
        let weights: Vec<f64> =
            (0..pns).map(|i| if q.options[i].ends { 0.0 } else { 1.0 / (i as f64 + 1.0) }).collect();
        let last = weights.iter().rposition(|w| *w > 0.0).unwrap_or(0);
        let pick = |rng: &mut dyn FnMut() -> f64| {
            let total: f64 = weights.iter().sum();
            let mut x = rng() * total;
            weights
                .iter()
                .position(|w| {
                    x -= w;
                    x <= 0.0 && *w > 0.0
                })
                .unwrap_or(last)
        };
        let mut draw = || rng.random::<f64>();
        let values = if q.kind == Kind::Multiple {
            let max = q.max_selected.unwrap_or(3).min(3);
            let count = 1 + (draw() * max as f64) as usize;
            let mut chosen: Vec<usize> = (0..count).map(|_| pick(&mut draw)).collect();
            chosen.sort_unstable();
            chosen.dedup();
            // An option that stands alone ("None of these") is chosen alone, as the form requires.
            if let Some(&alone) = chosen.iter().find(|&&o| q.options[o].exclusive) {
                chosen = vec![alone];
            }
            chosen.into_iter().map(|o| q.options[o].id.clone()).collect()
        } else {
            vec![q.options[pick(&mut draw)].id.clone()]
        };
        raw.0.insert(q.id.clone(), values);
    }
    survey.validate(&raw).expect("synthetic answers are valid by construction")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::survey::RawAnswers;

    /// The benchmark and `chorus dev seed` submit these: each must pass what a real submission must
    /// (no option that stands alone chosen with others, never an empty set).
    #[test]
    fn synthetic_answers_pass_as_submissions() {
        let survey = Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap();
        let mut rng = rand::rng();
        for _ in 0..2_000 {
            let answers = synthetic_answers(&survey, &mut rng);
            let mut raw = RawAnswers::default();
            for (i, q) in survey.questions.iter().enumerate() {
                let ids: Vec<String> = match answers.get(i) {
                    Some(crate::survey::Answer::One(o)) => vec![q.options[usize::from(*o)].id.clone()],
                    Some(crate::survey::Answer::Many(os)) => {
                        os.iter().map(|o| q.options[usize::from(*o)].id.clone()).collect()
                    }
                    _ => continue,
                };
                raw.0.insert(q.id.clone(), ids);
            }
            assert!(survey.validate_submission(&raw).is_ok(), "{:?}", raw.0);
            assert!(!survey.ends_survey(&raw), "{:?}", raw.0);
        }
    }
}
