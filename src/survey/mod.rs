//! Survey definitions (parse, validate, translate) and answers (parse, don't validate: a
//! [`ValidAnswers`] can only come out of this module, already checked against its definition).

mod answers;
mod cache;
mod carry;
mod codec;
mod definition;
mod diff;
pub mod edit;
mod json;
pub mod xlsform;

pub use answers::{Answer, AnswerError, AnswerErrorKind, RawAnswers, ValidAnswers};
pub use cache::Surveys;
pub use definition::{CodesMode, Condition, DefinitionError, Join, Kind, Opt, PNS, Question, Section, ShowIf, Survey};
pub use diff::{Change, Diff};
pub use json::JsonAnswers;

/// The bundled default survey, imported on first start.
pub const DEFAULT_SURVEY: &str = include_str!("../../surveys/harms.toml");
