//! Report keys and epochs. Only sealed or public material is ever written here.

use diesel::prelude::*;

use super::{
    DbConn, StoreError,
    schema::{epochs, report_keys, stewards},
};

#[derive(Clone, Debug, Queryable, Insertable, Selectable)]
#[diesel(table_name = report_keys)]
pub struct ReportKeyRow {
    pub id: String,
    pub public_key: Vec<u8>,
    pub sealed_private_key: Vec<u8>,
    pub kdf: String,
    pub created_month: String,
    pub ordinal: i32,
    pub active: bool,
}

#[derive(Clone, Debug, Queryable, Insertable, Selectable)]
#[diesel(table_name = epochs)]
pub struct EpochRow {
    pub id: String,
    pub report_key_id: String,
    pub wrapped_key: Vec<u8>,
    pub month: String,
}

pub fn all_report_keys(conn: &mut DbConn) -> Result<Vec<ReportKeyRow>, StoreError> {
    Ok(report_keys::table.select(ReportKeyRow::as_select()).order(report_keys::ordinal).load(conn)?)
}

pub fn active_report_key(conn: &mut DbConn) -> Result<Option<ReportKeyRow>, StoreError> {
    Ok(report_keys::table
        .filter(report_keys::active.eq(true))
        .select(ReportKeyRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert_report_key(conn: &mut DbConn, row: &ReportKeyRow) -> Result<(), StoreError> {
    diesel::insert_into(report_keys::table).values(row).execute(conn)?;
    Ok(())
}

/// Make `id` the only active key (after a rotation).
pub fn activate_only(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
    diesel::update(report_keys::table.filter(report_keys::id.ne(id)))
        .set(report_keys::active.eq(false))
        .execute(conn)?;
    diesel::update(report_keys::table.filter(report_keys::id.eq(id)))
        .set(report_keys::active.eq(true))
        .execute(conn)?;
    Ok(())
}

pub fn update_sealed_private_key(conn: &mut DbConn, id: &str, blob: &[u8], kdf: &str) -> Result<(), StoreError> {
    diesel::update(report_keys::table.filter(report_keys::id.eq(id)))
        .set((report_keys::sealed_private_key.eq(blob), report_keys::kdf.eq(kdf)))
        .execute(conn)?;
    Ok(())
}

pub fn insert_epoch(conn: &mut DbConn, row: &EpochRow) -> Result<(), StoreError> {
    diesel::insert_into(epochs::table).values(row).execute(conn)?;
    Ok(())
}

pub fn epoch(conn: &mut DbConn, id: &str) -> Result<Option<EpochRow>, StoreError> {
    Ok(epochs::table.find(id).select(EpochRow::as_select()).first(conn).optional()?)
}

/// One steward of the current sharing: public and sealed material only, never the unseal key.
#[derive(Clone, Debug, Queryable, Insertable, Selectable)]
#[diesel(table_name = stewards)]
pub struct StewardRow {
    pub id: String,
    pub name: String,
    pub share_index: i32,
    pub threshold: i32,
    pub generation: String,
    pub public_key: Vec<u8>,
    pub sealed_private_key: Vec<u8>,
    pub kdf: String,
    pub wrapped_share: Vec<u8>,
    pub created_at: i64,
}

pub fn stewards(conn: &mut DbConn) -> Result<Vec<StewardRow>, StoreError> {
    Ok(stewards::table.select(StewardRow::as_select()).order(stewards::share_index).load(conn)?)
}

/// Replace the whole sharing: the steward rows and every report key's wrapping, in one transaction
/// (the caller's), so the database never holds shares of one generation and keys of another.
pub fn replace_sharing(
    conn: &mut DbConn,
    rows: &[StewardRow],
    rewrapped_keys: &[(String, Vec<u8>)],
    kdf_marker: &str,
) -> Result<(), StoreError> {
    diesel::delete(stewards::table).execute(conn)?;
    for row in rows {
        diesel::insert_into(stewards::table).values(row).execute(conn)?;
    }
    for (id, blob) in rewrapped_keys {
        update_sealed_private_key(conn, id, blob, kdf_marker)?;
    }
    Ok(())
}

/// A steward's own private key, re-sealed under a new passphrase (the share is untouched).
pub fn update_steward_key(conn: &mut DbConn, id: &str, blob: &[u8], kdf: &str) -> Result<(), StoreError> {
    diesel::update(stewards::table.filter(stewards::id.eq(id)))
        .set((stewards::sealed_private_key.eq(blob), stewards::kdf.eq(kdf)))
        .execute(conn)?;
    Ok(())
}
