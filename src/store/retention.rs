//! How long each survey's sealed answers are kept, and when they were destroyed.

use diesel::prelude::*;

use super::{DbConn, StoreError, schema::retention};

#[derive(Clone, Debug, Queryable, Insertable, Selectable, PartialEq, Eq)]
#[diesel(table_name = retention)]
pub struct RetentionRow {
    pub survey_slug: String,
    pub days: i32,
    pub closed_on: Option<String>,
    pub destroyed_on: Option<String>,
    pub destroyed_count: i64,
}

/// The retention period when none was set (days).
pub const DEFAULT_DAYS: i32 = 365;

pub fn get(conn: &mut DbConn, slug: &str) -> Result<Option<RetentionRow>, StoreError> {
    Ok(retention::table.find(slug).select(RetentionRow::as_select()).first(conn).optional()?)
}

pub fn all(conn: &mut DbConn) -> Result<Vec<RetentionRow>, StoreError> {
    Ok(retention::table.select(RetentionRow::as_select()).order(retention::survey_slug).load(conn)?)
}

pub fn upsert(conn: &mut DbConn, row: &RetentionRow) -> Result<(), StoreError> {
    conn.write_transaction(|conn| {
        let n = diesel::update(retention::table.find(&row.survey_slug))
            .set((
                retention::days.eq(row.days),
                retention::closed_on.eq(&row.closed_on),
                retention::destroyed_on.eq(&row.destroyed_on),
                retention::destroyed_count.eq(row.destroyed_count),
            ))
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(retention::table).values(row).execute(conn)?;
        }
        Ok(())
    })
}
