//! Report snapshots: immutable once written; only their publication status changes.

use diesel::prelude::*;

use super::{DbConn, StoreError, schema::snapshots};

text_enum! {
    /// A snapshot is made private; an admin may publish it, and retract what was published.
    SnapshotStatus { Private = "private", Published = "published", Retracted = "retracted" }
}

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
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: SnapshotStatus,
    pub published: Option<String>,
    pub retracted: Option<String>,
    pub rho_micro: i64,
    pub fingerprint: Vec<u8>,
    /// The English JSON and CSV as published and signed, byte for byte.
    pub doc_json: String,
    pub doc_csv: String,
    pub json_sha256: String,
    pub csv_sha256: String,
    pub sig_json: String,
    pub sig_csv: String,
    pub signing_key_id: String,
    pub retract_reason: Option<String>,
    pub replaced_by: Option<String>,
    /// The figures chosen for the fact sheet: JSON list of [table, row, column].
    pub headlines: String,
}

pub fn insert(conn: &mut DbConn, row: &SnapshotRow) -> Result<(), StoreError> {
    diesel::insert_into(snapshots::table).values(row.clone()).execute(conn)?;
    Ok(())
}

/// Inside a transaction that reads and then writes: take SQLite's write lock first (a statement that
/// writes nothing still takes it, waiting up to busy_timeout). Otherwise a commit elsewhere between
/// the read and the write fails the upgrade at once with "database is locked". A no-op on PostgreSQL.
pub fn lock_for_write(conn: &mut DbConn) -> Result<(), StoreError> {
    diesel::sql_query("UPDATE snapshots SET status = status WHERE 1 = 0").execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<SnapshotRow>, StoreError> {
    Ok(snapshots::table.find(id).select(SnapshotRow::as_select()).first(conn).optional()?)
}

/// Every snapshot, newest first (`only_public`: published and retracted ones).
pub fn list(conn: &mut DbConn, only_public: bool) -> Result<Vec<SnapshotRow>, StoreError> {
    let mut q = snapshots::table.into_boxed();
    if only_public {
        q = q.filter(snapshots::status.ne(SnapshotStatus::Private.as_str()));
    }
    Ok(q.order((snapshots::created_at.desc(), snapshots::id)).select(SnapshotRow::as_select()).load(conn)?)
}

/// Move a snapshot from `from` to `to`, stamping the day; false when it was not in `from` (so two
/// admins acting at once cannot both win).
pub fn set_status(
    conn: &mut DbConn,
    id: &str,
    from: SnapshotStatus,
    to: SnapshotStatus,
    date: &str,
) -> Result<bool, StoreError> {
    let target = snapshots::table.find(id).filter(snapshots::status.eq(from.as_str()));
    let n = match to {
        SnapshotStatus::Published => diesel::update(target)
            .set((snapshots::status.eq(to.as_str()), snapshots::published.eq(date)))
            .execute(conn)?,
        SnapshotStatus::Retracted => diesel::update(target)
            .set((snapshots::status.eq(to.as_str()), snapshots::retracted.eq(date)))
            .execute(conn)?,
        SnapshotStatus::Private => diesel::update(target).set(snapshots::status.eq(to.as_str())).execute(conn)?,
    };
    Ok(n == 1)
}

/// A stored release of the same request over the same answers, if there is one.
pub fn same_as(conn: &mut DbConn, slug: &str, fingerprint: &[u8]) -> Result<Option<SnapshotRow>, StoreError> {
    Ok(snapshots::table
        .filter(snapshots::survey_slug.eq(slug))
        .filter(snapshots::fingerprint.eq(fingerprint))
        .select(SnapshotRow::as_select())
        .first(conn)
        .optional()?)
}

/// The release whose English JSON or CSV has this SHA-256 (hex), if any.
pub fn by_hash(conn: &mut DbConn, sha256: &str) -> Result<Option<SnapshotRow>, StoreError> {
    Ok(snapshots::table
        .filter(snapshots::json_sha256.eq(sha256).or(snapshots::csv_sha256.eq(sha256)))
        .filter(snapshots::json_sha256.ne(""))
        .select(SnapshotRow::as_select())
        .first(conn)
        .optional()?)
}

/// Record a retraction's reason and replacement, and a publication's chosen headline figures.
pub fn set_notes(
    conn: &mut DbConn,
    id: &str,
    reason: Option<&str>,
    replaced_by: Option<&str>,
    headlines: Option<&str>,
) -> Result<(), StoreError> {
    let target = snapshots::table.find(id);
    if reason.is_some() || replaced_by.is_some() {
        diesel::update(target)
            .set((snapshots::retract_reason.eq(reason), snapshots::replaced_by.eq(replaced_by)))
            .execute(conn)?;
    }
    if let Some(h) = headlines {
        diesel::update(target).set(snapshots::headlines.eq(h)).execute(conn)?;
    }
    Ok(())
}
