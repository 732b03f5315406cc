//! Report snapshots: immutable once written; only their publication status changes.

use diesel::prelude::*;

use super::{DbConn, StoreError, schema::snapshots};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = snapshots)]
pub struct SnapshotRow {
    pub id: String,
    pub survey_slug: String,
    pub survey_version: i32,
    pub through_month: String,
    pub spec: String,
    pub n: i64,
    pub verified_n: i64,
    pub synthetic: bool,
    pub created: String,
    pub created_at: i64,
    pub created_by: String,
    pub tables: String,
    pub members: Vec<u8>,
    pub status: String,
    pub published: Option<String>,
    pub retracted: Option<String>,
}

pub fn insert(conn: &mut DbConn, row: &SnapshotRow) -> Result<(), StoreError> {
    diesel::insert_into(snapshots::table).values(row).execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<SnapshotRow>, StoreError> {
    Ok(snapshots::table.find(id).select(SnapshotRow::as_select()).first(conn).optional()?)
}

/// The latest snapshot of a survey: the one a new snapshot must differ from by at least k responses.
pub fn latest(conn: &mut DbConn, slug: &str) -> Result<Option<SnapshotRow>, StoreError> {
    Ok(snapshots::table
        .filter(snapshots::survey_slug.eq(slug))
        .order((snapshots::created_at.desc(), snapshots::id.desc()))
        .select(SnapshotRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every snapshot, newest first (`only_public`: published and retracted ones).
pub fn list(conn: &mut DbConn, only_public: bool) -> Result<Vec<SnapshotRow>, StoreError> {
    let mut q = snapshots::table.into_boxed();
    if only_public {
        q = q.filter(snapshots::status.ne("private"));
    }
    Ok(q.order((snapshots::created_at.desc(), snapshots::id)).select(SnapshotRow::as_select()).load(conn)?)
}

pub fn set_status(conn: &mut DbConn, id: &str, status: &str, date: &str) -> Result<(), StoreError> {
    let target = snapshots::table.find(id);
    match status {
        "published" => {
            diesel::update(target).set((snapshots::status.eq(status), snapshots::published.eq(date))).execute(conn)?
        }
        _ => diesel::update(target).set((snapshots::status.eq(status), snapshots::retracted.eq(date))).execute(conn)?,
    };
    Ok(())
}

/// The membership hashes of every snapshot of a survey.
pub fn members_of(conn: &mut DbConn, slug: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    Ok(snapshots::table.filter(snapshots::survey_slug.eq(slug)).select(snapshots::members).load(conn)?)
}
