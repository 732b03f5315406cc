//! Answers given under an earlier version, read as the current one, and the screening rule.
//!
//! Ids keep their meaning across versions (`diff` refuses what would change it), so an old answer is
//! carried by id: a question takes the answers of the old question with its own id, or, when the old
//! version has none, of the question its `was` names (a list split in two); an option takes the old
//! option with its own id, or those its `was` lists (options grouped into one, a region group and its
//! provinces). What maps to nothing counts as not answered; a one-choice question whose old choice
//! maps to several options counts as not answered too, never as a guess.

use std::collections::BTreeSet;

use super::{Answer, Kind, Question, RawAnswers, Survey, ValidAnswers};

impl Survey {
    /// Answers given under `old` (an earlier version of this survey), as this version reads them; None
    /// when they answer the screening question with an option that ends the survey (such an answer
    /// set is counted nowhere).
    pub fn carry_from(&self, old: &Survey, answers: &ValidAnswers) -> Option<ValidAnswers> {
        let mut raw = RawAnswers::default();
        for q in &self.questions {
            let source = old.question(&q.id).or_else(|| q.was.as_deref().and_then(|w| old.question(w)));
            let Some((i, oq)) = source else { continue };
            let values = match answers.get(i) {
                Some(Answer::Text(t)) if q.kind == Kind::Text && oq.kind == Kind::Text => vec![t.to_string()],
                Some(Answer::One(o)) => map_options(q, oq, &[*o]),
                Some(Answer::Many(os)) => map_options(q, oq, os),
                _ => continue,
            };
            let one = !matches!(q.kind, Kind::Multiple | Kind::Text);
            if values.is_empty() || (one && values.len() > 1) {
                continue;
            }
            raw.0.insert(q.id.clone(), values);
        }
        if self.ends_survey(&raw) {
            return None;
        }
        loop {
            match self.validate(&raw) {
                Ok(v) => return Some(v),
                // Anything the mapping could not make fit counts as not answered.
                Err(errors) => {
                    for e in errors {
                        raw.0.remove(&e.question);
                    }
                }
            }
        }
    }

    /// A question's number as the form shows it: the screening question, asked on its own step
    /// before the form, is not counted (it gets 0).
    pub fn number(&self, question: usize) -> usize {
        (question + 1).saturating_sub(usize::from(self.screen.is_some()))
    }

    /// Whether these answers choose an option of the screening question that ends the survey: such
    /// a submission is refused and nothing of it is stored.
    pub fn ends_survey(&self, raw: &RawAnswers) -> bool {
        self.screen.map(|i| &self.questions[i]).is_some_and(|q| {
            raw.values(&q.id).iter().any(|v| q.option_index(v.trim()).is_some_and(|o| q.options[o].ends))
        })
    }
}

/// The current option ids an old question's chosen options stand for.
fn map_options(q: &Question, oq: &Question, chosen: &[u8]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for &o in chosen {
        let Some(old) = oq.options.get(usize::from(o)) else { continue };
        let now =
            q.options.iter().find(|n| n.id == old.id).or_else(|| q.options.iter().find(|n| n.was.contains(&old.id)));
        if let Some(n) = now {
            out.insert(n.id.clone());
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"
format = 1
slug = "tt"
version = 1
languages = ["en"]
title = "T"
[[sections]]
id = "a"
title = "A"
[[sections.questions]]
id = "lang"
type = "single"
label = "Language"
options = [{ id = "zh", label = "Mandarin" }, { id = "yue", label = "Cantonese" }, { id = "en", label = "English" }]
[[sections.questions]]
id = "region"
type = "region"
label = "Region"
merge = ["atlantic"]
[[sections.questions]]
id = "happened"
type = "multiple"
label = "What happened"
options = [{ id = "raid", label = "Raid" }, { id = "arrested", label = "Arrested" }, { id = "fined", label = "Fined" }]
[[sections.questions]]
id = "langs"
type = "multiple"
label = "Languages spoken"
options = [{ id = "zh", label = "Mandarin" }, { id = "yue", label = "Cantonese" }]
"#;

    const V2: &str = r#"
format = 1
slug = "tt"
version = 2
languages = ["en"]
title = "T"
[[sections]]
id = "a"
title = "A"
[[sections.questions]]
id = "adult"
type = "single"
label = "18 or older?"
end_text = "Thank you. This survey is for adults."
options = [{ id = "yes", label = "Yes" }, { id = "no", label = "No", ends = true }]
[[sections.questions]]
id = "lang"
type = "single"
label = "Language"
options = [{ id = "chinese", label = "Chinese", was = ["zh", "yue"] }, { id = "en", label = "English" }]
[[sections.questions]]
id = "region"
type = "region"
label = "Region"
merge = ["prairies", "atlantic", "territories"]
[[sections.questions]]
id = "happened"
type = "multiple"
label = "What they did"
options = [{ id = "raid", label = "Raid" }, { id = "fined", label = "Fined" }]
[[sections.questions]]
id = "happened_to_you"
type = "multiple"
label = "What happened to you"
was = "happened"
options = [{ id = "arrested", label = "Arrested" }]
[[sections.questions]]
id = "langs"
type = "single"
label = "Main language"
options = [{ id = "chinese", label = "Chinese", was = ["zh", "yue"] }]
"#;

    fn answer(s: &Survey, pairs: &[(&str, &str)]) -> ValidAnswers {
        let raw =
            RawAnswers::from_form(&pairs.iter().map(|(k, v)| (format!("q.{k}"), (*v).to_owned())).collect::<Vec<_>>());
        s.validate(&raw).unwrap()
    }

    fn id_of(s: &Survey, a: &ValidAnswers, q: &str) -> Vec<String> {
        let (i, q) = s.question(q).unwrap();
        match a.get(i) {
            Some(Answer::One(o)) => vec![q.options[usize::from(*o)].id.clone()],
            Some(Answer::Many(os)) => os.iter().map(|o| q.options[usize::from(*o)].id.clone()).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn old_answers_land_on_the_options_that_now_stand_for_them() {
        let (v1, v2) = (Survey::parse(V1).unwrap(), Survey::parse(V2).unwrap());
        let old = answer(
            &v1,
            &[("lang", "yue"), ("region", "sk"), ("happened", "raid"), ("happened", "arrested"), ("langs", "zh")],
        );
        let now = v2.carry_from(&v1, &old).unwrap();
        assert_eq!(id_of(&v2, &now, "lang"), ["chinese"]);
        assert_eq!(id_of(&v2, &now, "region"), ["prairies"], "a province counts as its group");
        assert_eq!(id_of(&v2, &now, "happened"), ["raid"], "an option moved elsewhere leaves the rest");
        assert_eq!(id_of(&v2, &now, "happened_to_you"), ["arrested"], "a split list takes its share");
        assert_eq!(id_of(&v2, &now, "langs"), ["chinese"]);
        assert!(id_of(&v2, &now, "adult").is_empty(), "never asked is not answered");
        // Two old choices that now mean the same option are one answer; a group already merged stays.
        let both = answer(&v1, &[("langs", "zh"), ("langs", "yue"), ("region", "atlantic")]);
        let now = v2.carry_from(&v1, &both).unwrap();
        assert_eq!(id_of(&v2, &now, "langs"), ["chinese"]);
        assert_eq!(id_of(&v2, &now, "region"), ["atlantic"]);
    }

    /// The bundled version 2 against version 1 as it was shipped (and is stored in deployments).
    #[test]
    fn the_bundled_survey_reads_its_version_1() {
        let v1 = Survey::parse(include_str!("../../tests/data/harms-v1.toml")).unwrap_or_else(|e| panic!("{e}"));
        let v2 = Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap();
        assert!(v2.version > v1.version);
        let diff = crate::survey::Diff::between(&v1, &v2);
        assert!(diff.refusals(&v1, &v2).is_empty(), "{:?}", diff.refusals(&v1, &v2));
        let old = answer(
            &v1,
            &[
                ("adult", "yes"),
                ("age", "45_54"),
                ("status", "refugee"),
                ("years_in_canada", "6_10"),
                ("language", "tl"),
                ("region", "mb"),
                ("officials", "bylaw"),
                ("what_happened", "money_taken"),
                ("what_happened", "detained"),
                ("worry", "4"),
                ("anything_else", "words"),
            ],
        );
        let now = v2.carry_from(&v1, &old).unwrap();
        for (q, want) in [
            ("adult", vec!["yes"]),
            ("age", vec!["45_plus"]),
            ("status", vec![]),
            ("years_in_canada", vec!["over_5"]),
            ("language", vec!["other_language"]),
            ("region", vec!["prairies"]),
            ("officials", vec!["bylaw"]),
            ("what_happened", vec!["money_taken"]),
            ("what_happened_to_you", vec!["detained"]),
            ("worry", vec!["4"]),
        ] {
            assert_eq!(id_of(&v2, &now, q), want, "{q}");
        }
        let minor = answer(&v1, &[("adult", "no"), ("age", "18_24")]);
        assert!(v2.carry_from(&v1, &minor).is_none());
    }

    #[test]
    fn the_diff_says_where_old_options_now_count() {
        use crate::survey::{Change, Diff};
        let (v1, v2) = (Survey::parse(V1).unwrap(), Survey::parse(V2).unwrap());
        let d = Diff::between(&v1, &v2);
        let mapped = |q: &str, o: &str, n: &str| Change::OptionMapped(q.into(), o.into(), n.into());
        assert!(d.changes.contains(&mapped("lang", "yue", "chinese")), "{:?}", d.changes);
        assert!(d.changes.contains(&mapped("region", "sk", "prairies")), "{:?}", d.changes);
        assert!(d.changes.contains(&Change::OptionRemoved("happened".into(), "arrested".into())));
    }

    #[test]
    fn an_answer_that_ends_the_survey_counts_nowhere() {
        let v2 = Survey::parse(V2).unwrap();
        let raw = |v: &str| RawAnswers::from_form(&[("q.adult".to_owned(), v.to_owned())]);
        assert_eq!(v2.screen, Some(0));
        assert!(v2.ends_survey(&raw("no")));
        assert!(!v2.ends_survey(&raw("yes")) && !v2.ends_survey(&raw("pns")) && !v2.ends_survey(&raw("")));
        let minor = answer(&v2, &[("adult", "no"), ("lang", "en")]);
        let v3 = Survey::parse(&V2.replace("version = 2", "version = 3")).unwrap();
        assert!(v3.carry_from(&v2, &minor).is_none());
    }

    #[test]
    fn mappings_are_checked_when_the_definition_loads() {
        let bad = V2
            .replace(
                r#"{ id = "en", label = "English" }"#,
                r#"{ id = "en", label = "English", was = ["chinese", "zh"] }"#,
            )
            .replace(r#"was = "happened""#, r#"was = "happened_to_you""#)
            .replace(r#"end_text = "Thank you. This survey is for adults.""#, "");
        let e = Survey::parse(&bad).unwrap_err().to_string();
        assert!(e.contains("option \"en\": was: \"chinese\" is an option of this version"), "{e}");
        assert!(e.contains("option \"en\": was: \"zh\" is claimed by two options"), "{e}");
        assert!(e.contains("question \"happened_to_you\": was"), "{e}");
        assert!(e.contains("question \"adult\": end_text"), "{e}");
        // The screening question must come first, and a text question must say who reads it.
        let late = V1.replace(
            r#"options = [{ id = "raid", label = "Raid" }, { id = "arrested", label = "Arrested" }, { id = "fined", label = "Fined" }]"#,
            "options = [{ id = \"raid\", label = \"Raid\" }]\n[[sections.questions]]\nid = \"gate\"\ntype = \"single\"\nlabel = \"G\"\nend_text = \"Bye\"\noptions = [{ id = \"y\", label = \"Y\" }, { id = \"n\", label = \"N\", ends = true }]\n[[sections.questions]]\nid = \"words\"\ntype = \"text\"\nlabel = \"W\"",
        );
        let e = Survey::parse(&late).unwrap_err().to_string();
        assert!(e.contains("question \"gate\": ends: only the survey's first question"), "{e}");
        // A text question without `read_by` still loads (stored versions must), but is not imported.
        let words = late.replace("end_text = \"Bye\"\n", "").replace(", ends = true", "");
        let s = Survey::parse(&words).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.import_problems().iter().any(|p| p.starts_with("question \"words\": read_by")));
        assert!(Survey::parse(V1).unwrap().import_problems().is_empty());
    }
}
