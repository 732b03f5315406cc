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
    conn.write_transaction(|conn| {
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

/// Mark many tokens spent with one read and one multi-row insert (the writer's batches): returns, for
/// each token in order, whether this call spent it. A token spent before, or earlier in `tokens`,
/// gives false. Only the writer thread spends tokens, so nothing can spend one between the read and
/// the insert here; another instance on the same PostgreSQL can, and then the insert fails on the
/// unique key and the caller's transaction rolls back (the writer retries the batch answer by answer).
pub fn spend_many(conn: &mut DbConn, tokens: &[(&[u8], &str)]) -> Result<Vec<bool>, StoreError> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let hashes: Vec<&[u8]> = tokens.iter().map(|(hash, _)| *hash).collect();
    let mut seen: std::collections::HashSet<Vec<u8>> = used_form_tokens::table
        .filter(used_form_tokens::token_hash.eq_any(&hashes))
        .select(used_form_tokens::token_hash)
        .load(conn)?
        .into_iter()
        .collect();
    let spent: Vec<bool> = hashes.iter().map(|hash| seen.insert(hash.to_vec())).collect();
    let rows: Vec<_> = tokens
        .iter()
        .zip(&spent)
        .filter(|(_, fresh)| **fresh)
        .map(|((hash, key), _)| (used_form_tokens::token_hash.eq(*hash), used_form_tokens::form_key_id.eq(*key)))
        .collect();
    if !rows.is_empty() {
        match conn {
            DbConn::Sqlite(c) => diesel::insert_into(used_form_tokens::table).values(&rows).execute(c)?,
            DbConn::Postgres(c) => diesel::insert_into(used_form_tokens::table).values(&rows).execute(c)?,
        };
    }
    Ok(spent)
}
