//! The API's `answers` object read straight into [`RawAnswers`]: each value is kept as the string or
//! strings it carries, with no `serde_json::Value` tree built and copied first (that tree and its
//! copy were about a tenth of an actix worker's time per submission, docs/benchmarks.md). A value
//! of the wrong JSON type is not a parse error: it becomes the same per-question error as before,
//! naming the question, and the first such error in question-id order is the one reported.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::answers::{AnswerError, AnswerErrorKind, RawAnswers};

/// `{"question id": "option" | ["option", …] | null, …}` read into the answers' own map as it
/// arrives, with the ids whose value had the wrong type set aside; a repeated key keeps its last
/// value, as a JSON object read into a map always has.
pub struct JsonAnswers {
    answers: RawAnswers,
    malformed: BTreeSet<String>,
}

enum JsonValue {
    One(String),
    Many(Vec<String>),
    /// `null`: the question is skipped.
    Skipped,
    /// A number, boolean or object, or a list holding anything but strings.
    Malformed,
}

impl JsonAnswers {
    pub fn into_raw(self) -> Result<RawAnswers, AnswerError> {
        match self.malformed.first() {
            Some(id) => Err(AnswerError::new(id, AnswerErrorKind::Malformed)),
            None => Ok(self.answers),
        }
    }
}

impl<'de> Deserialize<'de> for JsonAnswers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Answers;
        impl<'de> Visitor<'de> for Answers {
            type Value = JsonAnswers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of answers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonAnswers, A::Error> {
                let (mut answers, mut malformed) = (BTreeMap::new(), BTreeSet::new());
                while let Some((id, value)) = map.next_entry::<String, JsonValue>()? {
                    // A repeated id replaces whatever its earlier value left, in either map.
                    if !malformed.is_empty() {
                        malformed.remove(&id);
                    }
                    match value {
                        JsonValue::One(s) => drop(answers.insert(id, vec![s])),
                        JsonValue::Many(items) => drop(answers.insert(id, items)),
                        JsonValue::Skipped => drop(answers.remove(&id)),
                        JsonValue::Malformed => {
                            answers.remove(&id);
                            malformed.insert(id);
                        }
                    }
                }
                Ok(JsonAnswers { answers: RawAnswers(answers), malformed })
            }
        }
        d.deserialize_map(Answers)
    }
}

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Value;
        impl<'de> Visitor<'de> for Value {
            type Value = JsonValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an answer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonValue, E> {
                Ok(JsonValue::One(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<JsonValue, E> {
                Ok(JsonValue::One(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<JsonValue, E> {
                Ok(JsonValue::Skipped)
            }
            fn visit_none<E: de::Error>(self) -> Result<JsonValue, E> {
                Ok(JsonValue::Skipped)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonValue, E> {
                Ok(JsonValue::Malformed)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<JsonValue, E> {
                Ok(JsonValue::Malformed)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<JsonValue, E> {
                Ok(JsonValue::Malformed)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<JsonValue, E> {
                Ok(JsonValue::Malformed)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Malformed)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonValue, A::Error> {
                let mut items = Vec::new();
                let mut malformed = false;
                while let Some(item) = seq.next_element::<JsonValue>()? {
                    match item {
                        JsonValue::One(s) if !malformed => items.push(s),
                        _ => malformed = true,
                    }
                }
                Ok(if malformed { JsonValue::Malformed } else { JsonValue::Many(items) })
            }
        }
        d.deserialize_any(Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
        let answers: JsonAnswers = serde_json::from_str(json).map_err(|e| format!("parse: {e}"))?;
        answers.into_raw().map(|r| r.0).map_err(|e| format!("{}: {:?}", e.question, e.kind))
    }

    #[test]
    fn strings_lists_and_skips_are_read_as_they_came() {
        let got = read(r#"{"b": ["x", "y"], "a": "one", "c": null, "d": []}"#).unwrap();
        let want: BTreeMap<String, Vec<String>> = [
            ("a".to_owned(), vec!["one".to_owned()]),
            ("b".to_owned(), vec!["x".to_owned(), "y".to_owned()]),
            ("d".to_owned(), vec![]),
        ]
        .into();
        assert_eq!(got, want);
        // A repeated key keeps its last value, as any JSON object read into a map does.
        assert_eq!(read(r#"{"a": "first", "a": "second"}"#).unwrap()["a"], ["second"]);
        assert_eq!(read(r#"{"a": 1, "a": "fine"}"#).unwrap()["a"], ["fine"]);
        assert!(!read(r#"{"a": "x", "a": null}"#).unwrap().contains_key("a"));
        assert_eq!(read(r#"{"a": "x", "a": 1}"#), Err("a: Malformed".to_owned()));
        // Escapes are decoded.
        assert_eq!(read(r#"{"a": "l\u00e9a\n"}"#).unwrap()["a"], ["léa\n"]);
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_question_and_the_first_in_id_order_wins() {
        for bad in ["1", "true", "{\"x\": [1]}", "[\"ok\", 2]", "[[\"nested\"]]", "[null]", "2.5"] {
            let got = read(&format!(r#"{{"z": {bad}, "q": "fine"}}"#));
            assert_eq!(got, Err("z: Malformed".to_owned()), "{bad}");
        }
        assert_eq!(read(r#"{"z": 1, "b": false, "a": "fine"}"#), Err("b: Malformed".to_owned()));
    }

    #[test]
    fn what_is_not_an_object_of_answers_is_a_parse_error() {
        for bad in [r#"["a"]"#, r#""a""#, r#"{"a": "x""#, r#"{"a": [1, }"#] {
            assert!(read(bad).unwrap_err().starts_with("parse:"), "{bad}");
        }
    }
}
