use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::{Kind, Survey, codec};
use crate::seal::{Padded, SealError};

/// Answers as they arrive, before any checking: question id → the values given.
#[derive(Default)]
pub struct RawAnswers(pub BTreeMap<String, Vec<String>>);

impl RawAnswers {
    /// From form fields named `q.<question id>`; other fields are the caller's business.
    pub fn from_form(pairs: &[(String, String)]) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in pairs {
            if let Some(id) = name.strip_prefix("q.") {
                map.entry(id.to_owned()).or_default().push(value.clone());
            }
        }
        Self(map)
    }

    /// The raw values of one question, for re-showing a form after an error.
    pub fn values(&self, id: &str) -> &[String] {
        self.0.get(id).map(Vec::as_slice).unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// One option index (single, scale, period, region).
    One(u8),
    /// Option indices in ascending order (multiple).
    Many(Vec<u8>),
    Text(Zeroizing<String>),
}

/// Answers checked against one survey version. Index = question position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidAnswers {
    pub(super) answers: Vec<Option<Answer>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerErrorKind {
    UnknownQuestion,
    UnknownOption,
    OneChoice,
    TooManyChoices(usize),
    TextTooLong(usize),
    PnsWithOthers,
    /// An option marked `exclusive` (its index) was chosen together with others.
    ExclusiveWithOthers(usize),
    /// Nothing was answered at all (the error's question is empty).
    Empty,
    Malformed,
}

/// A problem with one answer: the API reports it as `{"error", "question"}`, the form next to the question.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct AnswerError {
    pub question: String,
    pub kind: AnswerErrorKind,
}

impl AnswerError {
    pub(super) fn new(question: &str, kind: AnswerErrorKind) -> Self {
        Self { question: question.to_owned(), kind }
    }

    pub fn message(&self) -> String {
        let q = &self.question;
        match self.kind {
            AnswerErrorKind::UnknownQuestion => format!("unknown question \"{q}\""),
            AnswerErrorKind::UnknownOption => format!("question \"{q}\": not one of its options"),
            AnswerErrorKind::OneChoice => format!("question \"{q}\": takes one choice only"),
            AnswerErrorKind::TooManyChoices(n) => format!("question \"{q}\": at most {n} choices"),
            AnswerErrorKind::TextTooLong(n) => format!("question \"{q}\": at most {n} characters"),
            AnswerErrorKind::PnsWithOthers => {
                format!("question \"{q}\": \"pns\" cannot be combined with other options")
            }
            AnswerErrorKind::ExclusiveWithOthers(_) => {
                format!("question \"{q}\": an option that stands alone was combined with other options")
            }
            AnswerErrorKind::Empty => "you have not answered anything".to_owned(),
            AnswerErrorKind::Malformed => format!("question \"{q}\": the value must be a string or a list of strings"),
        }
    }

    /// The interface-string key and its `{n}` for the respondent's language.
    pub fn ui_key(&self) -> (&'static str, Option<usize>) {
        match self.kind {
            AnswerErrorKind::UnknownQuestion | AnswerErrorKind::Malformed => ("error_bad_request", None),
            AnswerErrorKind::UnknownOption => ("error_unknown_option", None),
            AnswerErrorKind::OneChoice => ("error_one_choice", None),
            AnswerErrorKind::TooManyChoices(n) => ("error_too_many_choices", Some(n)),
            AnswerErrorKind::TextTooLong(n) => ("error_text_too_long", Some(n)),
            AnswerErrorKind::PnsWithOthers => ("error_pns_with_others", None),
            AnswerErrorKind::ExclusiveWithOthers(_) => ("error_exclusive_with_others", None),
            AnswerErrorKind::Empty => ("form_empty", None),
        }
    }
}

impl Survey {
    /// Check raw answers against this definition. All problems are returned, in question order.
    /// Lenient about what only a new submission must meet (see [`Survey::validate_submission`]), so
    /// stored answers re-read against a newer version, and synthetic data, still pass.
    pub fn validate(&self, raw: &RawAnswers) -> Result<ValidAnswers, Vec<AnswerError>> {
        self.check(raw, false)
    }

    /// Check a new submission (form or API): as [`Survey::validate`], and also refuse an option marked
    /// `exclusive` chosen with others, and an answer set with nothing answered (it would only inflate
    /// the count of people who answered).
    pub fn validate_submission(&self, raw: &RawAnswers) -> Result<ValidAnswers, Vec<AnswerError>> {
        self.check(raw, true)
    }

    fn check(&self, raw: &RawAnswers, submission: bool) -> Result<ValidAnswers, Vec<AnswerError>> {
        let mut errors = Vec::new();
        for id in raw.0.keys() {
            if self.question(id).is_none() {
                errors.push(AnswerError::new(id, AnswerErrorKind::UnknownQuestion));
            }
        }
        let mut answers: Vec<Option<Answer>> = vec![None; self.questions.len()];
        for (i, q) in self.questions.iter().enumerate() {
            let values: Vec<&str> =
                raw.values(&q.id).iter().map(|v| v.as_str()).filter(|v| !v.trim().is_empty()).collect();
            if values.is_empty() {
                continue;
            }
            let fail = |kind| AnswerError::new(&q.id, kind);
            let answer = match q.kind {
                Kind::Text => {
                    if values.len() > 1 {
                        Err(fail(AnswerErrorKind::OneChoice))
                    } else {
                        // Normalise line ends, drop control characters other than newline and tab.
                        let text: String = values[0]
                            .replace("\r\n", "\n")
                            .chars()
                            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
                            .collect();
                        let text = text.trim().to_owned();
                        if text.chars().count() > q.max_length {
                            Err(fail(AnswerErrorKind::TextTooLong(q.max_length)))
                        } else if text.is_empty() {
                            continue;
                        } else {
                            Ok(Answer::Text(Zeroizing::new(text)))
                        }
                    }
                }
                Kind::Multiple => {
                    let mut picked = Vec::new();
                    let mut bad = None;
                    for v in &values {
                        match q.option_index(v) {
                            Some(o) => picked.push(o as u8),
                            None => bad = Some(AnswerErrorKind::UnknownOption),
                        }
                    }
                    picked.sort_unstable();
                    picked.dedup();
                    let pns = q.pns_index().map(|p| p as u8);
                    let exclusive = picked
                        .iter()
                        .map(|&o| usize::from(o))
                        .find(|&o| submission && q.options[o].exclusive && picked.len() > 1);
                    if let Some(kind) = bad {
                        Err(fail(kind))
                    } else if picked.len() > 1 && pns.is_some_and(|p| picked.contains(&p)) {
                        Err(fail(AnswerErrorKind::PnsWithOthers))
                    } else if let Some(o) = exclusive {
                        Err(fail(AnswerErrorKind::ExclusiveWithOthers(o)))
                    } else if let Some(max) = q.max_selected.filter(|m| picked.len() > *m) {
                        Err(fail(AnswerErrorKind::TooManyChoices(max)))
                    } else {
                        Ok(Answer::Many(picked))
                    }
                }
                _ => {
                    if values.len() > 1 {
                        Err(fail(AnswerErrorKind::OneChoice))
                    } else {
                        q.option_index(values[0])
                            .map(|o| Answer::One(o as u8))
                            .ok_or_else(|| fail(AnswerErrorKind::UnknownOption))
                    }
                }
            };
            match answer {
                Ok(a) => answers[i] = Some(a),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Skip logic: an answer to a question whose condition is not met never counts.
        for (i, q) in self.questions.iter().enumerate() {
            // Conditions name earlier questions only, whose answers were already dropped if hidden.
            if let Some(rule) = &q.show_if
                && !rule.holds(|c| c.met_by(answers[c.question].as_ref()))
            {
                answers[i] = None;
            }
        }
        // An empty answer set would only inflate the count of people who answered; the screening
        // answer alone ("yes, I am an adult") says nothing either.
        if submission && answers.iter().enumerate().all(|(i, a)| a.is_none() || self.screen == Some(i)) {
            return Err(vec![AnswerError::new("", AnswerErrorKind::Empty)]);
        }
        Ok(ValidAnswers { answers })
    }

    /// Encode for sealing: compact, versioned, padded to this version's one size (`sealed_size`).
    pub fn encode(&self, answers: &ValidAnswers) -> Result<Padded, SealError> {
        Padded::sized(&codec::encode(answers), self.sealed_size)
    }

    /// Decode an opened plaintext of this survey version.
    pub fn decode(&self, plaintext: &Padded) -> Result<ValidAnswers, SealError> {
        codec::decode(self, plaintext.payload())
    }
}

impl ValidAnswers {
    pub fn get(&self, question: usize) -> Option<&Answer> {
        self.answers.get(question).and_then(Option::as_ref)
    }
    pub fn answered(&self) -> usize {
        self.answers.iter().filter(|a| a.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey() -> Survey {
        Survey::parse(crate::survey::DEFAULT_SURVEY).unwrap()
    }

    /// A survey with a free-text question (the default survey has none).
    fn with_text() -> Survey {
        Survey::parse(
            r#"
format = 1
slug = "tt"
version = 1
languages = ["en"]
title = "T"
[[sections]]
id = "a"
title = "A"
[[sections.questions]]
id = "age"
type = "single"
label = "Age"
options = [{ id = "25_34", label = "25 to 34" }]
[[sections.questions]]
id = "notes"
type = "text"
label = "Anything else?"
read_by = "Only the study's two researchers."
"#,
        )
        .unwrap()
    }

    fn raw(pairs: &[(&str, &str)]) -> RawAnswers {
        RawAnswers::from_form(&pairs.iter().map(|(k, v)| (format!("q.{k}"), (*v).to_owned())).collect::<Vec<_>>())
    }

    #[test]
    fn round_trip_through_the_codec() {
        let s = survey();
        let a = s
            .validate(&raw(&[("age", "25_34"), ("gender", "woman"), ("gender", "trans_woman"), ("region", "atlantic")]))
            .unwrap();
        let padded = s.encode(&a).unwrap();
        assert_eq!(s.decode(&padded).unwrap(), a);
        let t = with_text();
        let a = t.validate(&raw(&[("age", "25_34"), ("notes", "ça va 你好")])).unwrap();
        assert_eq!(t.decode(&t.encode(&a).unwrap()).unwrap(), a);
    }

    #[test]
    fn bad_answers_name_their_question() {
        let s = survey();
        let e = s.validate(&raw(&[("age", "25_34"), ("age", "35_44")])).unwrap_err();
        assert_eq!(e[0], AnswerError { question: "age".into(), kind: AnswerErrorKind::OneChoice });
        let e = s.validate(&raw(&[("nope", "x")])).unwrap_err();
        assert_eq!(e[0].kind, AnswerErrorKind::UnknownQuestion);
        let e = s.validate(&raw(&[("age", "99")])).unwrap_err();
        assert_eq!(e[0].kind, AnswerErrorKind::UnknownOption);
        let long = "x".repeat(201);
        let e = with_text().validate(&raw(&[("notes", &long)])).unwrap_err();
        assert_eq!(e[0].kind, AnswerErrorKind::TextTooLong(200));
        let e = s.validate(&raw(&[("gender", "pns"), ("gender", "woman")])).unwrap_err();
        assert_eq!(e[0].kind, AnswerErrorKind::PnsWithOthers);
    }

    #[test]
    fn exclusive_options_stand_alone_and_nothing_at_all_is_refused() {
        let s = survey();
        let (_, officials) = s.question("officials").unwrap();
        let none = officials.option_index("none").unwrap();
        assert!(officials.options[none].exclusive, "\"None of these\" is marked exclusive");
        let e = s.validate_submission(&raw(&[("officials", "none"), ("officials", "city_police")])).unwrap_err();
        assert_eq!(
            e[0],
            AnswerError { question: "officials".into(), kind: AnswerErrorKind::ExclusiveWithOthers(none) }
        );
        assert!(s.validate_submission(&raw(&[("officials", "none")])).is_ok());
        assert!(s.validate_submission(&raw(&[("officials", "city_police"), ("officials", "bylaw")])).is_ok());
        // Re-reading stored answers stays lenient: both pass `validate`.
        assert!(s.validate(&raw(&[("officials", "none"), ("officials", "city_police")])).is_ok());
        assert!(s.validate(&raw(&[])).is_ok());
        // Nothing, only blanks, or only answers to questions whose condition is not met: refused.
        // The screening answer alone ("yes, an adult") is nothing answered either.
        for empty in [raw(&[]), raw(&[("age", " "), ("status", "  ")]), raw(&[("adult", "yes")])] {
            assert_eq!(s.validate_submission(&empty).unwrap_err()[0].kind, AnswerErrorKind::Empty);
        }
        let (_, wq) = s.question("what_happened").unwrap();
        let e = s.validate_submission(&raw(&[("what_happened", &wq.options[0].id)])).unwrap_err();
        assert_eq!(e[0].kind, AnswerErrorKind::Empty);
    }

    #[test]
    fn skipped_branches_never_count() {
        let s = survey();
        let (wi, _) = s.question("what_happened").unwrap();
        let (_, wq) = s.question("what_happened").unwrap();
        let first = wq.options[0].id.clone();
        let a = s.validate_submission(&raw(&[("officials", "none"), ("what_happened", &first)])).unwrap();
        assert!(a.get(wi).is_none());
        let a = s.validate_submission(&raw(&[("officials", "bylaw"), ("what_happened", &first)])).unwrap();
        assert!(a.get(wi).is_some());
    }

    /// `all` hides unless every condition holds, `any` shows when one does; a condition on a question
    /// that was itself hidden does not hold.
    #[test]
    fn all_and_any_of_conditions() {
        let s = Survey::parse(
            r#"
format = 1
slug = "tt"
version = 1
languages = ["en"]
title = "T"
[[sections]]
id = "s"
title = "S"
[[sections.questions]]
id = "a"
type = "single"
label = "A"
options = [{ id = "x", label = "X" }, { id = "y", label = "Y" }]
[[sections.questions]]
id = "b"
type = "multiple"
label = "B"
options = [{ id = "p", label = "P" }, { id = "q", label = "Q" }]
show_if = { question = "a", any_of = ["x", "y"] }
[[sections.questions]]
id = "both"
type = "text"
label = "Both"
max_length = 20
show_if = { all = [{ question = "a", any_of = ["x"] }, { question = "b", any_of = ["q"] }] }
[[sections.questions]]
id = "either"
type = "text"
label = "Either"
max_length = 20
show_if = { any = [{ question = "a", any_of = ["y"] }, { question = "b", any_of = ["p"] }] }
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let kept = |pairs: &[(&str, &str)]| {
            let a = s.validate(&raw(pairs)).unwrap();
            ["both", "either"]
                .iter()
                .filter(|id| a.get(s.question(id).unwrap().0).is_some())
                .copied()
                .collect::<Vec<_>>()
        };
        let texts = [("both", "t1"), ("either", "t2")];
        let with = |more: &[(&'static str, &'static str)]| [more, &texts[..]].concat();
        assert_eq!(kept(&with(&[("a", "x"), ("b", "q")])), ["both"]);
        assert_eq!(kept(&with(&[("a", "x"), ("b", "p"), ("b", "q")])), ["both", "either"]);
        assert_eq!(kept(&with(&[("a", "y")])), ["either"]);
        assert_eq!(kept(&with(&[("a", "x")])), Vec::<&str>::new());
        // b is hidden without an answer to a: its answer is dropped, so it meets nothing.
        assert!(kept(&with(&[("b", "p"), ("b", "q")])).is_empty());
    }
}
