//! Release-signing keys: public keys in the clear, private keys sealed to the report key.

use diesel::prelude::*;

use super::{DbConn, StoreError, schema::signing_keys};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub id: String,
    pub public_key: String,
    pub report_key_id: String,
    pub wrapped_key: Vec<u8>,
    pub valid_from: String,
    pub valid_until: Option<String>,
    pub active: bool,
}

pub fn active(conn: &mut DbConn) -> Result<Option<SigningKeyRow>, StoreError> {
    Ok(signing_keys::table
        .filter(signing_keys::active.eq(true))
        .select(SigningKeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every key ever used, oldest first: old signatures stay checkable.
pub fn all(conn: &mut DbConn) -> Result<Vec<SigningKeyRow>, StoreError> {
    Ok(signing_keys::table.order(signing_keys::valid_from).select(SigningKeyRow::as_select()).load(conn)?)
}

/// Store a new key as the active one, retiring the previous one as of `today`.
pub fn replace_active(conn: &mut DbConn, row: &SigningKeyRow, today: &str) -> Result<(), StoreError> {
    conn.write_transaction(|conn| {
        diesel::update(signing_keys::table.filter(signing_keys::active.eq(true)))
            .set((signing_keys::active.eq(false), signing_keys::valid_until.eq(today)))
            .execute(conn)?;
        diesel::insert_into(signing_keys::table).values(row).execute(conn)?;
        Ok(())
    })
}
