//! Importing a definition by staff (the command line and the admin upload, written once): read TOML
//! or XLSForm, compare with the current version, refuse what would change the meaning of stored
//! answers, and store a new survey as a draft or a changed one as version N+1 once confirmed.

use std::sync::Arc;

use super::{Diff, Survey, Surveys, xlsform};
use crate::store::{
    DbConn, StoreError, responses,
    surveys::{self, ImportError, Imported, SurveyStatus},
};

/// A definition read and checked, not yet stored.
#[derive(Debug)]
pub struct Proposed {
    /// The TOML text to store (for a changed survey, with `version` set to N+1).
    pub text: String,
    pub survey: Survey,
    /// For an existing slug: its current version and what changes.
    pub current: Option<(i32, Diff)>,
    /// Stored answers of the slug (every version).
    pub answers: i64,
}

impl Proposed {
    /// An existing survey whose definition does not change.
    pub fn unchanged(&self) -> bool {
        self.current.as_ref().is_some_and(|(_, d)| d.is_empty())
            && self.current.as_ref().is_some_and(|(v, _)| *v == self.survey.version)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file: every problem, each naming where it is.
    #[error("{0}")]
    Invalid(String),
    /// Changes that would alter the meaning of stored answers.
    #[error("{}", .0.join("\n"))]
    Refused(Vec<String>),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Read a file (XLSForm when it is a zip, TOML otherwise) and compare it with what is stored.
pub fn propose(conn: &mut DbConn, cache: &Surveys, bytes: &[u8]) -> Result<Proposed, EditError> {
    let (text, survey) = if xlsform::looks_like_xlsx(bytes) {
        xlsform::import(bytes).map_err(|e| EditError::Invalid(e.to_string()))?
    } else {
        if bytes.len() > xlsform::MAX_FILE {
            return Err(EditError::Invalid(format!("file: over the limit of {} bytes", xlsform::MAX_FILE)));
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| EditError::Invalid("file: not UTF-8 text".into()))?;
        let survey = Survey::parse(&text).map_err(|e| EditError::Invalid(e.to_string()))?;
        (text, survey)
    };
    let problems = survey.import_problems();
    if !problems.is_empty() {
        return Err(EditError::Invalid(problems.join("\n")));
    }
    let Some(row) = surveys::get(conn, &survey.slug)? else {
        return Ok(Proposed { text, survey, current: None, answers: 0 });
    };
    let current: Arc<Survey> = cache
        .version(conn, &row.slug, row.current_version)?
        .ok_or_else(|| StoreError::corrupt("survey version", row.slug.clone()))?;
    let answers = responses::count(conn, &row.slug)?;
    let diff = Diff::between(&current, &survey);
    let mut refusals = Vec::new();
    if answers > 0 {
        refusals = diff.refusals(&current, &survey);
    }
    if !refusals.is_empty() {
        return Err(EditError::Refused(refusals));
    }
    let same = survey_with_version(&survey, current.version).is_some_and(|s| s.differs_from(&current).is_none());
    if same {
        return Ok(Proposed {
            text: current.source.clone(),
            survey: (*current).clone(),
            current: Some((row.current_version, Diff::default())),
            answers,
        });
    }
    // A change becomes the next version, whatever the file says.
    let next = row.current_version + 1;
    let text = with_version(&text, next).map_err(EditError::Invalid)?;
    let survey = Survey::parse(&text).map_err(|e| EditError::Invalid(e.to_string()))?;
    Ok(Proposed { text, survey, current: Some((row.current_version, diff)), answers })
}

fn survey_with_version(survey: &Survey, version: i32) -> Option<Survey> {
    Survey::parse(&with_version(&survey.source, version).ok()?).ok()
}

/// The same TOML text with `version` replaced (the table is written again, comments dropped).
fn with_version(text: &str, version: i32) -> Result<String, String> {
    let mut doc: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    if doc.get("version").and_then(toml::Value::as_integer) == Some(i64::from(version)) {
        return Ok(text.to_owned());
    }
    doc.insert("version".into(), toml::Value::Integer(i64::from(version)));
    toml::to_string(&doc).map_err(|e| e.to_string())
}

/// Store what was proposed: a new slug as a draft, a change as the next version.
pub fn commit(conn: &mut DbConn, cache: &Surveys, proposed: &Proposed) -> Result<Imported, EditError> {
    if proposed.unchanged() {
        return Ok(Imported::Unchanged);
    }
    let previous = match proposed.current {
        Some((version, _)) => cache.version(conn, &proposed.survey.slug, version)?.and_then(|s| s.retention_days),
        None => None,
    };
    let outcome =
        surveys::import_as(conn, &proposed.survey.slug, proposed.survey.version, &proposed.text, SurveyStatus::Draft)?;
    apply_retention(conn, &proposed.survey.slug, previous, proposed.survey.retention_days)?;
    cache.forget();
    Ok(outcome)
}

/// A definition's `retention_days` sets the survey's retention period when it is imported, unless an
/// admin has set another since (`chorus survey retention`): the period stored is changed only while
/// it is still what the previous definition asked for (or the default, if it asked for nothing).
/// A definition without the field leaves the period alone.
fn apply_retention(
    conn: &mut DbConn,
    slug: &str,
    previous: Option<i32>,
    wanted: Option<i32>,
) -> Result<(), StoreError> {
    use crate::store::retention::{self, DEFAULT_DAYS, RetentionRow};
    let Some(days) = wanted else { return Ok(()) };
    let row = retention::get(conn, slug)?.unwrap_or(RetentionRow {
        survey_slug: slug.to_owned(),
        days: DEFAULT_DAYS,
        closed_on: None,
        destroyed_on: None,
        destroyed_count: 0,
    });
    if row.days == days || row.days != previous.unwrap_or(DEFAULT_DAYS) {
        return Ok(());
    }
    retention::upsert(conn, &RetentionRow { days, ..row })
}
