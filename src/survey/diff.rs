//! What a new version of a survey changes, shown to an admin before it is stored, and what it may
//! not change once answers exist: answers are read across versions by question and option id
//! (`report::to_current`), so an id must keep its meaning.

use super::{Kind, Survey};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    QuestionAdded(String),
    QuestionRemoved(String),
    /// Question id, old English label, new English label.
    QuestionRelabelled(String, String, String),
    /// Question id, old type, new type.
    QuestionRetyped(String, &'static str, &'static str),
    /// Question id, old skip logic, new skip logic (in ids, see `Survey::describe`).
    ConditionChanged(String, String, String),
    OptionAdded(String, String),
    OptionRemoved(String, String),
    /// Question id, old option id, the new option its answers now count as (through `was`).
    OptionMapped(String, String, String),
    /// Question id, option id, old English label, new English label.
    OptionRelabelled(String, String, String, String),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::QuestionAdded(q) => write!(f, "question \"{q}\" added"),
            Change::QuestionRemoved(q) => write!(f, "question \"{q}\" removed"),
            Change::QuestionRelabelled(q, a, b) => write!(f, "question \"{q}\" relabelled: \"{a}\" → \"{b}\""),
            Change::QuestionRetyped(q, a, b) => write!(f, "question \"{q}\" changes type: {a} → {b}"),
            Change::ConditionChanged(q, a, b) => write!(f, "question \"{q}\" shown when: {a} → {b}"),
            Change::OptionAdded(q, o) => write!(f, "question \"{q}\": option \"{o}\" added"),
            Change::OptionRemoved(q, o) => write!(f, "question \"{q}\": option \"{o}\" removed"),
            Change::OptionMapped(q, o, n) => {
                write!(f, "question \"{q}\": option \"{o}\" removed; its answers count as \"{n}\"")
            }
            Change::OptionRelabelled(q, o, a, b) => {
                write!(f, "question \"{q}\": option \"{o}\" relabelled: \"{a}\" → \"{b}\"")
            }
        }
    }
}

/// The changes from one definition to the next.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    pub changes: Vec<Change>,
}

impl Diff {
    pub fn between(old: &Survey, new: &Survey) -> Diff {
        let mut changes = Vec::new();
        let label = |s: &Survey, key: &str| s.own_text("en", key).unwrap_or_default().to_owned();
        for q in &old.questions {
            if new.question(&q.id).is_none() {
                changes.push(Change::QuestionRemoved(q.id.clone()));
            }
        }
        for nq in &new.questions {
            let Some((_, oq)) = old.question(&nq.id) else {
                changes.push(Change::QuestionAdded(nq.id.clone()));
                continue;
            };
            let key = format!("q.{}", nq.id);
            let (a, b) = (label(old, &key), label(new, &key));
            if a != b {
                changes.push(Change::QuestionRelabelled(nq.id.clone(), a, b));
            }
            if oq.kind != nq.kind {
                changes.push(Change::QuestionRetyped(nq.id.clone(), oq.kind.as_str(), nq.kind.as_str()));
            }
            // Compared as text in ids: indices differ when earlier questions or options move.
            let (a, b) = (old.describe(oq.show_if.as_ref()), new.describe(nq.show_if.as_ref()));
            if a != b {
                changes.push(Change::ConditionChanged(nq.id.clone(), a, b));
            }
            for o in &oq.options {
                if nq.option_index(&o.id).is_none() {
                    changes.push(match nq.options.iter().find(|n| n.was.contains(&o.id)) {
                        Some(n) => Change::OptionMapped(nq.id.clone(), o.id.clone(), n.id.clone()),
                        None => Change::OptionRemoved(nq.id.clone(), o.id.clone()),
                    });
                }
            }
            for o in &nq.options {
                if oq.option_index(&o.id).is_none() {
                    changes.push(Change::OptionAdded(nq.id.clone(), o.id.clone()));
                } else if o.builtin.is_none() {
                    let key = format!("q.{}.o.{}", nq.id, o.id);
                    let (a, b) = (label(old, &key), label(new, &key));
                    if a != b {
                        changes.push(Change::OptionRelabelled(nq.id.clone(), o.id.clone(), a, b));
                    }
                }
            }
        }
        Diff { changes }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Changes refused because answers already exist: each with the reason. A question that changes
    /// type would have its stored answers read as something else; a scale whose options are
    /// reordered would shift what "higher" means. Relabelling is allowed (a typo, a better word) and
    /// shown to the admin, who confirms that the meaning stays.
    pub fn refusals(&self, old: &Survey, new: &Survey) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.changes {
            if let Change::QuestionRetyped(q, a, b) = c {
                out.push(format!(
                    "question \"{q}\" cannot change from {a} to {b}: answers are stored under this id; give the new question a new id"
                ));
            }
        }
        for nq in new.questions.iter().filter(|q| q.kind == Kind::Scale) {
            let Some((_, oq)) = old.question(&nq.id) else { continue };
            let kept: Vec<&str> =
                oq.options.iter().filter(|o| nq.option_index(&o.id).is_some()).map(|o| o.id.as_str()).collect();
            let order: Vec<&str> =
                nq.options.iter().filter(|o| oq.option_index(&o.id).is_some()).map(|o| o.id.as_str()).collect();
            if kept != order {
                out.push(format!(
                    "question \"{}\": the scale's options cannot be reordered: answers are stored under these ids and their order is the scale",
                    nq.id
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_rule(rule: &str) -> Survey {
        Survey::parse(&format!(
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
options = [{{ id = "x", label = "X" }}, {{ id = "y", label = "Y" }}]
[[sections.questions]]
id = "b"
type = "single"
label = "B"
options = [{{ id = "p", label = "P" }}]
[[sections.questions]]
id = "c"
type = "text"
label = "C"
max_length = 20
{rule}
"#
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_changed_skip_rule_is_shown_in_ids() {
        let none = with_rule("");
        let one = with_rule(r#"show_if = { question = "a", any_of = ["x"] }"#);
        let same = with_rule(r#"show_if = { any = [{ question = "a", any_of = ["x"] }] }"#);
        let all = with_rule(
            r#"show_if = { all = [{ question = "a", any_of = ["x", "y"] }, { question = "b", any_of = ["p"] }] }"#,
        );
        assert!(Diff::between(&one, &same).is_empty(), "one rule however written");
        let shown =
            |a: &Survey, b: &Survey| Diff::between(a, b).changes.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(shown(&none, &one), ["question \"c\" shown when: always shown → a: x"]);
        assert_eq!(shown(&one, &all), ["question \"c\" shown when: a: x → a: x, y and b: p"]);
    }
}
