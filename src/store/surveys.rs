//! Survey definitions as imported: one row per slug, one per version.

use diesel::prelude::*;

use super::{
    DbConn, StoreError,
    schema::{responses, survey_versions, surveys},
};

text_enum! {
    /// Whether a survey takes answers. A draft (imported, never opened) is not listed and takes none.
    SurveyStatus { Open = "open", Closed = "closed", Draft = "draft" }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = surveys)]
pub struct SurveyRow {
    pub slug: String,
    pub current_version: i32,
    #[diesel(deserialize_as = String)]
    pub status: SurveyStatus,
    /// Marked for testing: `chorus dev seed` may write synthetic answers into it (as into a draft).
    pub testing: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Imported {
    New,
    NewVersion,
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("version {0} of this survey was already imported with different content; raise `version`")]
    Conflict(i32),
    #[error("version {0} is older than the current version {1}")]
    Older(i32, i32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for ImportError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

pub fn get(conn: &mut DbConn, slug: &str) -> Result<Option<SurveyRow>, StoreError> {
    Ok(surveys::table.find(slug).select(SurveyRow::as_select()).first(conn).optional()?)
}

pub fn list(conn: &mut DbConn) -> Result<Vec<SurveyRow>, StoreError> {
    Ok(surveys::table.select(SurveyRow::as_select()).order(surveys::slug).load(conn)?)
}

pub fn definition(conn: &mut DbConn, slug: &str, version: i32) -> Result<Option<String>, StoreError> {
    Ok(survey_versions::table.find((slug, version)).select(survey_versions::definition).first(conn).optional()?)
}

/// Change a survey's status. A draft that opens loses its synthetic and test answers in the same
/// transaction, so nothing written while it was being tried out is ever counted.
pub fn set_status(conn: &mut DbConn, slug: &str, status: SurveyStatus) -> Result<bool, StoreError> {
    conn.write_transaction(|conn| {
        let Some(row) = get(conn, slug)? else { return Ok(false) };
        if row.status == SurveyStatus::Draft && status == SurveyStatus::Open {
            purge_synthetic(conn, slug)?;
        }
        diesel::update(surveys::table.find(slug)).set(surveys::status.eq(status.as_str())).execute(conn)?;
        Ok(true)
    })
}

/// Mark or unmark a survey for testing; false when there is no such survey.
pub fn set_testing(conn: &mut DbConn, slug: &str, testing: bool) -> Result<bool, StoreError> {
    let n = diesel::update(surveys::table.find(slug)).set(surveys::testing.eq(testing)).execute(conn)?;
    Ok(n > 0)
}

/// Delete a survey's synthetic (seeded) and test answers; real answers are never touched.
pub fn purge_synthetic(conn: &mut DbConn, slug: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(responses::table.filter(responses::survey_slug.eq(slug)).filter(responses::synthetic.eq(true)))
        .execute(conn)?)
}

/// Store a validated definition; a new slug opens (the bundled survey, tests). See [`import_as`].
pub fn import(conn: &mut DbConn, slug: &str, version: i32, definition: &str) -> Result<Imported, ImportError> {
    import_as(conn, slug, version, definition, SurveyStatus::Open)
}

/// Store a validated definition. A new slug starts with `status_if_new` (imports by staff start as
/// drafts); a higher version becomes current; the same version with the same text is a no-op; the
/// same version with other text is refused.
pub fn import_as(
    conn: &mut DbConn,
    slug: &str,
    version: i32,
    definition: &str,
    status_if_new: SurveyStatus,
) -> Result<Imported, ImportError> {
    conn.write_transaction(|conn| {
        let existing = get(conn, slug)?;
        if let Some(old) = definition_of(conn, slug, version)? {
            return if old == definition { Ok(Imported::Unchanged) } else { Err(ImportError::Conflict(version)) };
        }
        let outcome = match existing {
            None => {
                diesel::insert_into(surveys::table)
                    .values((
                        surveys::slug.eq(slug),
                        surveys::current_version.eq(version),
                        surveys::status.eq(status_if_new.as_str()),
                    ))
                    .execute(conn)?;
                Imported::New
            }
            Some(row) if row.current_version > version => return Err(ImportError::Older(version, row.current_version)),
            Some(_) => {
                diesel::update(surveys::table.find(slug)).set(surveys::current_version.eq(version)).execute(conn)?;
                Imported::NewVersion
            }
        };
        diesel::insert_into(survey_versions::table)
            .values((
                survey_versions::slug.eq(slug),
                survey_versions::version.eq(version),
                survey_versions::definition.eq(definition),
            ))
            .execute(conn)?;
        Ok(outcome)
    })
}

fn definition_of(conn: &mut DbConn, slug: &str, version: i32) -> Result<Option<String>, StoreError> {
    definition(conn, slug, version)
}
