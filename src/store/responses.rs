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
#[derive(Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = responses)]
pub struct SealedRow {
    pub id: String,
    pub survey_version: i32,
    pub month: String,
    pub epoch_id: String,
    pub sealed: Vec<u8>,
    pub verified: bool,
    pub synthetic: bool,
}

/// A report run's walk over a survey's rows through a month, a page at a time, each row handed over
/// as the database gives it (no page of owned rows), so a run never holds more than a few pages of
/// ciphertext. The order does not matter to a run (its tallies are sums, its fingerprint counts a
/// set), so each backend reads in the order it keeps the rows:
///
/// - SQLite's table is clustered on its key: keyset pages in key order read it front to back.
/// - PostgreSQL's heap keeps rows in the order they were written until a scrub rewrites them, so a
///   walk in key order (through the index) reads the heap at random: 8.4 s against 2.8 s for the
///   pages of a million unscrubbed answers (docs/benchmarks.md). There one cursor reads the heap as
///   it lies, inside the read-only transaction [`reading`] opens.
pub enum Scan {
    /// SQLite: the walk's scope, and the key the next page starts after.
    Keyset { slug: String, through: String, excluded: Vec<String>, after: String },
    /// PostgreSQL: the name of the cursor [`Scan::open`] declared, closed once the walk ends (or with
    /// its transaction).
    Cursor(String),
}

/// Numbers each cursor's name, so that two walks in one caller's transaction never meet.
static CURSORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Run `f`, which may open a [`Scan`]: on PostgreSQL inside a read-only transaction, where a cursor
/// lives (and the whole walk sees one snapshot); on SQLite as it is, so that no long read
/// transaction holds back the -wal's restart.
pub fn reading<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConn::Postgres(c) = conn else { return f(conn) };
    // Inside a caller's transaction the cursor lives in that one.
    if AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()?.is_some() {
        return f(conn);
    }
    conn.transaction(|conn| {
        diesel::sql_query("SET TRANSACTION READ ONLY").execute(conn)?;
        f(conn)
    })
}

impl Scan {
    /// Start a walk over `slug`'s rows received through `through`, leaving out `excluded` months.
    /// On PostgreSQL, only inside [`reading`].
    pub fn open(conn: &mut DbConn, slug: &str, through: &str, excluded: &[String]) -> Result<Self, StoreError> {
        let DbConn::Postgres(c) = conn else {
            let (slug, through, excluded) = (slug.to_owned(), through.to_owned(), excluded.to_vec());
            return Ok(Self::Keyset { slug, through, excluded, after: String::new() });
        };
        use diesel::sql_types::{Array, Text};
        // Whatever the planner's statistics say (a table that grew faster than autovacuum looked has
        // none worth the name), it may choose only plans that read the heap in its own order: a
        // sequential scan, or a bitmap scan for a survey that is a small part of the table.
        diesel::sql_query("SET LOCAL enable_indexscan = off").execute(c)?;
        let name = format!("chorus_scan_{}", CURSORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        diesel::sql_query(format!(
            "DECLARE {name} NO SCROLL CURSOR FOR \
             SELECT id, survey_version, month, epoch_id, sealed, verified, synthetic FROM responses \
             WHERE survey_slug = $1 AND month <= $2 AND month <> ALL($3)"
        ))
        .bind::<Text, _>(slug)
        .bind::<Text, _>(through)
        .bind::<Array<Text>, _>(excluded)
        .execute(c)?;
        Ok(Self::Cursor(name))
    }

    /// Hand the next page's rows, at most `limit`, to `each`; answers how many (0 at the end, after
    /// which the walk is over).
    pub fn next(
        &mut self,
        conn: &mut DbConn,
        limit: i64,
        mut each: impl FnMut(SealedRow),
    ) -> Result<usize, StoreError> {
        let mut n = 0;
        match (self, conn) {
            (Self::Cursor(name), DbConn::Postgres(c)) => {
                let rows = diesel::sql_query(format!("FETCH {limit} FROM {name}"))
                    .load_iter::<SealedRow, diesel::connection::DefaultLoadingMode>(c)?;
                for row in rows {
                    each(row?);
                    n += 1;
                }
                if n == 0 {
                    diesel::sql_query(format!("CLOSE {name}")).execute(c)?;
                }
            }
            (Self::Keyset { slug, through, excluded, after }, conn) => {
                let rows = responses::table
                    .filter(responses::survey_slug.eq(&*slug))
                    .filter(responses::month.le(&*through))
                    .filter(responses::month.ne_all(&*excluded))
                    .filter(responses::id.gt(&*after))
                    .order(responses::id)
                    .limit(limit)
                    .select(SealedRow::as_select())
                    .load_iter::<SealedRow, diesel::connection::DefaultLoadingMode>(conn)?;
                let mut last = String::new();
                for row in rows {
                    let row = row?;
                    last.clear();
                    last.push_str(&row.id);
                    each(row);
                    n += 1;
                }
                if n > 0 {
                    *after = last;
                }
            }
            (Self::Cursor(_), DbConn::Sqlite(_)) => unreachable!("a cursor is declared on PostgreSQL only"),
        }
        Ok(n)
    }
}

/// Before a release plans its tables (PostgreSQL): fresh planner statistics. Until autovacuum has
/// analysed a table that grew fast (an import, a flood, a benchmark's seeding), PostgreSQL believes a
/// survey to be a small part of it, and answers [`months`] with a bitmap scan and a sort of every row
/// on disk: 3.4 s for a million answers, against 0.2 s once analysed (docs/benchmarks.md). A light
/// sample does (3,000 rows, 0.1 s; the default 30,000 took 0.25 to 0.9 s): the plans only need to
/// know that the survey is most of the table. Columns of answers and receipts keep no statistics
/// (`SET STATISTICS 0`). SQLite needs nothing.
pub fn refresh_statistics(conn: &mut DbConn) -> Result<(), StoreError> {
    if let DbConn::Postgres(c) = conn {
        use diesel::connection::SimpleConnection;
        c.transaction(|c| c.batch_execute("SET LOCAL default_statistics_target = 10; ANALYZE responses;"))?;
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
