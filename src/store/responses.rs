//! Sealed answer rows. Nothing here can read an answer: it stores and hands back ciphertext.

use diesel::prelude::*;

use super::{DbConn, StoreError, schema::responses};

// `treat_none_as_default_value = false`: a missing receipt is bound as NULL, not written as the
// DEFAULT keyword, which SQLite's VALUES lists do not take; diesel then writes a batch as one
// multi-row statement on SQLite too, instead of one statement per row.
#[derive(Clone, Debug, Queryable, Insertable, Selectable)]
#[diesel(table_name = responses, treat_none_as_default_value = false)]
pub struct ResponseRow {
    pub id: String,
    pub survey_slug: String,
    pub survey_version: i32,
    pub month: String,
    pub epoch_id: String,
    pub sealed: Vec<u8>,
    pub receipt_hash: Option<Vec<u8>>,
    pub synthetic: bool,
    pub verified: bool,
}

/// Hex digits of an answer's own id: the id its sealing binds (`Receipt::response_id`, or random).
pub const ID_LEN: usize = 32;

/// Where one group commit's answers wait until the next scrub. The writer draws one per batch and
/// stores each answer under `placement ‖ id`, so a batch's rows sit side by side in the key order:
/// a commit writes one or two leaf pages instead of one page per answer, each at a random place
/// (docs/benchmarks.md). The key shows which answers were committed together, and only until the
/// scrub, which stores every row under its id alone (`store::scrub`); before it, the -wal and the
/// page layout show that much anyway (docs/privacy.md). The receipt carries the placement, masked,
/// so a withdrawal finds the row by key either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement(pub u32);

impl Placement {
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// The stored key of the answer `id` committed under this placement.
    pub fn key(self, id: &str) -> String {
        format!("{:08x}{id}", self.0)
    }
}

/// An answer's own id inside its stored key: the key without its placement, if it still has one.
pub fn answer_id(key: &str) -> &str {
    key.get(key.len().saturating_sub(ID_LEN)..).unwrap_or(key)
}

pub fn insert(conn: &mut DbConn, row: &ResponseRow) -> Result<(), StoreError> {
    diesel::insert_into(responses::table).values(row).execute(conn)?;
    Ok(())
}

/// Columns of a `responses` row, each one bound parameter.
const COLUMNS: usize = 9;

/// Rows per INSERT statement. SQLite refuses a statement with more than 32,766 bound parameters
/// (`SQLITE_MAX_VARIABLE_NUMBER` since 3.32; the bundled SQLite is newer), PostgreSQL more than 65,535.
pub const ROWS_PER_STATEMENT: usize = 32_766 / COLUMNS;

/// Store many rows with few statements, in the order given (the caller chooses it; the writer
/// shuffles). Either every row is stored or, on error, the caller's transaction must be rolled back.
/// Up to `PREPARED_ROWS` rows (every group commit under 32 connections): one INSERT, prepared once
/// for its row count (`insert_prepared`). More: on SQLite one such INSERT per `PREPARED_ROWS` rows; on
/// PostgreSQL one multi-row INSERT per `ROWS_PER_STATEMENT` rows, so that a batch with nothing to claim
/// can still go as one statement with no transaction around it (`intake::writer`).
pub fn insert_many(conn: &mut DbConn, rows: &[ResponseRow]) -> Result<(), StoreError> {
    if rows.len() <= PREPARED_ROWS {
        insert_prepared(conn, rows)?;
        return Ok(());
    }
    // Per backend so each uses its own batch form (a MultiConnection batch would fall back to one
    // statement per row on SQLite).
    match conn {
        DbConn::Sqlite(_) => {
            for chunk in rows.chunks(PREPARED_ROWS) {
                insert_prepared(conn, chunk)?;
            }
        }
        DbConn::Postgres(_) => {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                insert_unprepared(conn, chunk)?;
            }
        }
    }
    Ok(())
}

/// One multi-row INSERT of any number of rows, prepared for this run only (`insert_prepared`).
fn insert_unprepared(conn: &mut DbConn, rows: &[ResponseRow]) -> QueryResult<usize> {
    match conn {
        DbConn::Sqlite(c) => diesel::insert_into(responses::table).values(rows).execute(c),
        DbConn::Postgres(c) => diesel::insert_into(responses::table).values(rows).execute(c),
    }
}

/// Rows of the largest INSERT kept prepared: a group commit under 32 connections fits one.
pub const PREPARED_ROWS: usize = 32;

/// One INSERT of `rows` (at most `PREPARED_ROWS`) from a statement prepared once per row count and
/// then kept. diesel prepares a slice's multi-row INSERT anew each time, because its SQL depends on
/// the count: on SQLite that parse took an eighth of the writer's time per answer, and PostgreSQL
/// parsed and planned each batch's statement (docs/benchmarks.md). An array of a fixed size has a
/// query id of its own, which diesel's statement cache keys on.
fn insert_prepared(conn: &mut DbConn, rows: &[ResponseRow]) -> QueryResult<usize> {
    fn exactly<const N: usize>(conn: &mut DbConn, rows: &[ResponseRow]) -> QueryResult<usize> {
        let rows: &[ResponseRow; N] = rows.try_into().expect("the match below gives each count its own N");
        match conn {
            DbConn::Sqlite(c) => diesel::insert_into(responses::table).values(rows).execute(c),
            DbConn::Postgres(c) => diesel::insert_into(responses::table).values(rows).execute(c),
        }
    }
    macro_rules! by_count {
        ($($n:literal)*) => {
            match rows.len() {
                0 => Ok(0),
                $($n => exactly::<$n>(conn, rows),)*
                // Not reached (`insert_many` gives at most PREPARED_ROWS rows); stored all the same.
                _ => insert_unprepared(conn, rows),
            }
        };
    }
    by_count!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32)
}

/// Number of stored responses of a survey.
pub fn count(conn: &mut DbConn, slug: &str) -> Result<i64, StoreError> {
    Ok(responses::table.filter(responses::survey_slug.eq(slug)).count().get_result(conn)?)
}

/// Counts per month of receipt, oldest first: what staff may see of the flow of answers.
pub fn count_by_month(conn: &mut DbConn, slug: &str) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(responses::table
        .filter(responses::survey_slug.eq(slug))
        .group_by(responses::month)
        .select((responses::month, diesel::dsl::count_star()))
        .order(responses::month)
        .load(conn)?)
}

/// How a receipt finds its response: by the keys it may be stored under (`Receipt::key`: the id
/// derived from it, with and without its placement, and the id an older receipt derived), or, for a
/// row stored before ids were derived from receipts, by the receipt's hash.
pub struct ReceiptKey {
    pub keys: [String; 3],
    pub legacy_hash: Vec<u8>,
}

/// Delete the response a receipt belongs to; true when one was deleted. Both lookups always run, and
/// the first looks in every survey's key range for every key, so the work is the same whichever
/// survey (if any) holds the answer, and whether or not a scrub has moved it since.
pub fn delete_by_receipt(conn: &mut DbConn, key: &ReceiptKey) -> Result<bool, StoreError> {
    let every_survey = super::schema::surveys::table.select(super::schema::surveys::slug);
    let n = diesel::delete(
        responses::table.filter(responses::survey_slug.eq_any(every_survey)).filter(responses::id.eq_any(&key.keys)),
    )
    .execute(conn)?;
    let legacy = diesel::delete(responses::table.filter(responses::receipt_hash.eq(&key.legacy_hash))).execute(conn)?;
    Ok(n + legacy > 0)
}

/// What a report run reads of a row: no slug (the query names it) and no receipt hash, so a page of
/// a million-row run copies only what opening the answer needs.
#[derive(Debug, Queryable)]
pub struct SealedRow {
    pub id: String,
    pub survey_version: i32,
    pub month: String,
    pub epoch_id: String,
    pub sealed: Vec<u8>,
    pub verified: bool,
    pub synthetic: bool,
}

/// One page of a survey's rows through a month, in id order after `after`, handed to `each` one at
/// a time as the database gives them (no page of owned rows): a keyset scan, so a report run never
/// holds more than a few pages of ciphertext in memory. Answers how many rows it gave.
pub fn page(
    conn: &mut DbConn,
    slug: &str,
    through: &str,
    excluded: &[String],
    after: &str,
    limit: i64,
    mut each: impl FnMut(SealedRow),
) -> Result<usize, StoreError> {
    let rows = responses::table
        .filter(responses::survey_slug.eq(slug))
        .filter(responses::month.le(through))
        .filter(responses::month.ne_all(excluded))
        .filter(responses::id.gt(after))
        .order(responses::id)
        .limit(limit)
        .select((
            responses::id,
            responses::survey_version,
            responses::month,
            responses::epoch_id,
            responses::sealed,
            responses::verified,
            responses::synthetic,
        ))
        .load_iter::<SealedRow, diesel::connection::DefaultLoadingMode>(conn)?;
    let mut n = 0;
    for row in rows {
        each(row?);
        n += 1;
    }
    Ok(n)
}

/// Before a report reads every row (PostgreSQL): fresh planner statistics. Until autovacuum has
/// analysed a table that grew fast (an import, a flood, a benchmark's seeding), PostgreSQL believes it
/// small and answers each page of `page` with a bitmap scan and a sort of every remaining row
/// (quadratic in the rows: 9.4 s to open 1,000,000 answers, docs/benchmarks.md) instead of walking
/// the (survey, id) index. ANALYZE samples a fixed number of rows. SQLite needs nothing.
pub fn refresh_statistics(conn: &mut DbConn) -> Result<(), StoreError> {
    if let DbConn::Postgres(c) = conn {
        use diesel::connection::SimpleConnection;
        c.batch_execute("ANALYZE responses;")?;
    }
    Ok(())
}

/// The months of receipt of a survey's responses through a month, oldest first.
pub fn months(conn: &mut DbConn, slug: &str, through: &str, excluded: &[String]) -> Result<Vec<String>, StoreError> {
    Ok(responses::table
        .filter(responses::survey_slug.eq(slug))
        .filter(responses::month.le(through))
        .filter(responses::month.ne_all(excluded))
        .select(responses::month)
        .distinct()
        .order(responses::month)
        .load(conn)?)
}

/// Number of real (not synthetic) responses of a survey.
pub fn count_real(conn: &mut DbConn, slug: &str) -> Result<i64, StoreError> {
    Ok(responses::table
        .filter(responses::survey_slug.eq(slug))
        .filter(responses::synthetic.eq(false))
        .count()
        .get_result(conn)?)
}
