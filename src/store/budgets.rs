//! The privacy budget of each survey, in millionths of rho (zCDP): integers, so the ledger adds up
//! exactly on both backends. A spend is one conditional UPDATE, so two releases racing for the last
//! of a budget cannot both win, on SQLite or PostgreSQL.

use diesel::prelude::*;

use super::{DbConn, StoreError, schema::privacy_budgets};

/// (total, spent) of a survey's budget.
pub fn get(conn: &mut DbConn, slug: &str) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(privacy_budgets::table
        .find(slug)
        .select((privacy_budgets::total_micro, privacy_budgets::spent_micro))
        .first(conn)
        .optional()?)
}

/// Give a survey its budget the first time it is asked for.
pub fn ensure(conn: &mut DbConn, slug: &str, default_total: i64) -> Result<(i64, i64), StoreError> {
    if let Some(found) = get(conn, slug)? {
        return Ok(found);
    }
    let inserted = diesel::insert_into(privacy_budgets::table)
        .values((
            privacy_budgets::survey_slug.eq(slug),
            privacy_budgets::total_micro.eq(default_total),
            privacy_budgets::spent_micro.eq(0),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok((default_total, 0)),
        // Another request made it first: theirs stands.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            get(conn, slug)?.ok_or(StoreError::Query(diesel::result::Error::NotFound))
        }
        Err(e) => Err(e.into()),
    }
}

/// Set a survey's total; false when it would fall below what is already spent.
pub fn set_total(conn: &mut DbConn, slug: &str, total: i64) -> Result<bool, StoreError> {
    let n = diesel::update(privacy_budgets::table.find(slug).filter(privacy_budgets::spent_micro.le(total)))
        .set(privacy_budgets::total_micro.eq(total))
        .execute(conn)?;
    Ok(n == 1)
}

/// Spend `amount` from a survey's budget; false (nothing spent) when the budget cannot carry it.
pub fn spend(conn: &mut DbConn, slug: &str, amount: i64) -> Result<bool, StoreError> {
    let n = diesel::update(
        privacy_budgets::table
            .find(slug)
            .filter((privacy_budgets::spent_micro + amount).le(privacy_budgets::total_micro)),
    )
    .set(privacy_budgets::spent_micro.eq(privacy_budgets::spent_micro + amount))
    .execute(conn)?;
    Ok(n == 1)
}
