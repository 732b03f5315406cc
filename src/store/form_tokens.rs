//! Form-token keys and spent tokens (see intake::token).

use diesel::prelude::*;

use super::{
    DbConn, StoreError,
    schema::{form_keys, used_form_tokens},
};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = form_keys)]
pub struct FormKeyRow {
    pub id: String,
    pub key_bytes: Vec<u8>,
    pub generation: i64,
}

pub fn newest(conn: &mut DbConn) -> Result<Option<FormKeyRow>, StoreError> {
    Ok(form_keys::table.order(form_keys::generation.desc()).select(FormKeyRow::as_select()).first(conn).optional()?)
}

pub fn by_generation(conn: &mut DbConn, generation: i64) -> Result<Option<FormKeyRow>, StoreError> {
    Ok(form_keys::table
        .filter(form_keys::generation.eq(generation))
        .select(FormKeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Insert a key; false when another instance took that generation first.
pub fn insert(conn: &mut DbConn, row: &FormKeyRow) -> Result<bool, StoreError> {
    match diesel::insert_into(form_keys::table).values(row).execute(conn) {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Retire keys older than `keep_from` together with their spent tokens.
pub fn retire_before(conn: &mut DbConn, keep_from: i64) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        let old = form_keys::table.filter(form_keys::generation.lt(keep_from)).select(form_keys::id);
        diesel::delete(used_form_tokens::table.filter(used_form_tokens::form_key_id.eq_any(old))).execute(conn)?;
        diesel::delete(form_keys::table.filter(form_keys::generation.lt(keep_from))).execute(conn)?;
        Ok(())
    })
}

pub fn spent_under(conn: &mut DbConn, key_id: &str) -> Result<i64, StoreError> {
    Ok(used_form_tokens::table.filter(used_form_tokens::form_key_id.eq(key_id)).count().get_result(conn)?)
}

/// Mark a token spent; false when it already was.
pub fn spend(conn: &mut DbConn, token_hash: &[u8], key_id: &str) -> Result<bool, StoreError> {
    match diesel::insert_into(used_form_tokens::table)
        .values((used_form_tokens::token_hash.eq(token_hash), used_form_tokens::form_key_id.eq(key_id)))
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
