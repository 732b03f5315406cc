//! The scrub: erase the order in which rows arrived from what the submit path wrote (`responses`,
//! `outreach_codes`, `used_form_tokens`), so that a seized disk shows which rows exist, not when or in
//! which order they came. See docs/privacy.md ("What a seized disk shows").
//!
//! - SQLite: in one write transaction the rows are copied to a temporary table in memory, deleted
//!   (`secure_delete` zeroes their cells) and inserted back in random order, so which page holds a row
//!   follows the random insertion, not the arrival; a full scrub then runs `VACUUM`, which lays every
//!   page out in key (random id) order; last, `wal_checkpoint(TRUNCATE)` empties the -wal file.
//! - PostgreSQL: under an exclusive lock, in one transaction, the rows are copied out and written back
//!   in id order into a fresh heap (`TRUNCATE` gives the table a new file) or, for a partial scrub,
//!   after a `DELETE`; every row written carries that transaction's one `xmin`. `VACUUM` follows.
//!
//! A partial scrub (`Scope::Since`) rewrites only the answers of recent months, which are the only
//! ones whose order can have changed since the previous scrub: older months got no new rows. Codes and
//! spent tokens are always rewritten whole (they are few), first, in a transaction of their own: a
//! code row never shares a transaction (`xmin`, commit) with an answer.
//!
//! Incremental: a big table is rewritten in chunks, each a survey's answers or a range of them by
//! id prefix (1, 16 or 256 ranges per survey, about `chunk_rows` answers each; rows are keyed
//! (survey, id), so a chunk is one key range), one transaction per chunk, and the caller's `between`
//! runs after each (the writer commits the answers that queued meanwhile), so no submission waits for
//! more than one chunk. Ids are random to anyone without the receipts, so which transaction (`xmin`)
//! or which rewrite step a row went through says nothing of when it arrived. With one chunk,
//! PostgreSQL gets a fresh heap (`TRUNCATE`) and every row one `xmin`; with several, `DELETE` and
//! re-insert (`VACUUM` follows).
//! Every answer goes back under its id alone: the writer stores a group commit's answers under one
//! random placement before their ids (`responses::Placement`), and the scrub takes it off, so after it
//! the keys no longer show which answers were committed together. A re-keyed row can fall into a
//! range not yet rewritten; it is then rewritten twice, which changes nothing.
//! Nothing here knows HTTP or cryptography.

use std::time::Duration;

use diesel::{QueryableByName, RunQueryDsl, connection::SimpleConnection, sql_types::Integer};

use super::{DbConn, StoreError, responses};

/// Which answers a scrub rewrites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every row, in one transaction, and on SQLite a `VACUUM` of the whole file: blocks writers for
    /// the whole run (seconds per 100,000 answers, see docs/benchmarks.md), for maintenance windows.
    Full,
    /// Every row, in chunks.
    All,
    /// Answers of this month (`YYYY-MM`) and later; codes and tokens in full.
    Since(String),
}

/// What a scrub did, for the log and the benchmark.
#[derive(Clone, Debug, Default)]
pub struct ScrubReport {
    /// Rows written back: each answer once, or twice when taking its placement off moved it into a
    /// range still to come.
    pub answers_rewritten: i64,
    /// Transactions the answers were rewritten in.
    pub chunks: usize,
    /// SQLite: the -wal file was emptied (false when readers held it; the next scrub retries).
    pub wal_emptied: bool,
    pub took: Duration,
}

/// A connection that must wait for a scrub in another process rather than fail: SQLite's busy
/// timeout is raised to ten minutes (PostgreSQL lock waits have no limit unless configured).
pub fn wait_for_locks(conn: &mut DbConn) -> Result<(), StoreError> {
    if let DbConn::Sqlite(_) = conn {
        conn.batch_execute("PRAGMA busy_timeout = 600000;").map_err(StoreError::Setup)?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Checkpoint {
    #[diesel(sql_type = Integer)]
    busy: i32,
}

/// Checkpoint the -wal into the database file and truncate it to nothing. Readers, or the
/// checkpoint thread (`store::checkpoint`), may hold it for a moment: a few tries, then `false`
/// (the next scrub finishes it).
pub fn empty_wal(c: &mut diesel::SqliteConnection) -> diesel::QueryResult<bool> {
    for _ in 0..20 {
        let r: Checkpoint = diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(c)?;
        if r.busy == 0 {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(false)
}

fn month_filter(scope: &Scope) -> String {
    match scope {
        Scope::Full | Scope::All => " WHERE 1 = 1".into(),
        // The month is a `YYYY-MM` made by `Month`; checked again here since it is spliced into SQL.
        // Also any answer still placed, whatever its month (one committed before an unclean stop
        // that outlasted the month): the month is no index either, so this costs no extra scan.
        Scope::Since(m) if m.len() == 7 && m.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
            format!(" WHERE (month >= '{m}' OR length(id) > {})", responses::ID_LEN)
        }
        Scope::Since(_) => format!(" WHERE length(id) > {}", responses::ID_LEN),
    }
}

/// The id ranges to rewrite one at a time within one survey's answers: 1, 16 or 256 hex prefixes,
/// the fewest that keep a chunk near `chunk_rows` answers. Keys are lowercase hex: an id of 32 digits,
/// or a placement of 8 and then the id (`responses::Placement`); the prefixes cover both.
fn chunks(total: i64, chunk_rows: i64, scope: &Scope) -> Vec<String> {
    let wanted = if *scope == Scope::Full { 1 } else { total / chunk_rows.max(1) };
    let digits = match wanted {
        ..=1 => return vec![String::new()],
        2..=16 => 1,
        _ => 2,
    };
    let hex = |n: usize| format!("{n:0digits$x}");
    (0..16usize.pow(digits as u32))
        .map(|n| {
            let from = hex(n);
            if n + 1 == 16usize.pow(digits as u32) {
                format!(" AND id >= '{from}'")
            } else {
                format!(" AND id >= '{from}' AND id < '{}'", hex(n + 1))
            }
        })
        .collect()
}

/// The surveys that hold answers (whether or not `surveys` still lists them), each found by one seek
/// of the primary key: rows are keyed (survey, id), so a chunk must name its survey to be a key range.
fn surveys_with_answers(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    Ok(diesel::dsl::sql::<diesel::sql_types::Text>(
        "WITH RECURSIVE s (slug) AS (
             SELECT MIN(survey_slug) FROM responses
             UNION ALL
             SELECT (SELECT MIN(survey_slug) FROM responses WHERE survey_slug > s.slug) FROM s WHERE s.slug IS NOT NULL
         )
         SELECT slug FROM s WHERE slug IS NOT NULL",
    )
    .load(conn)?)
}

/// The filters, one per transaction, that together cover the answers of `filter` once each: the
/// whole of it when it fits one chunk (or for a full scrub), else id ranges within each survey.
fn chunk_filters(
    conn: &mut DbConn,
    filter: &str,
    total: i64,
    chunk_rows: i64,
    scope: &Scope,
) -> Result<Vec<String>, StoreError> {
    if chunks(total, chunk_rows, scope).len() == 1 {
        return Ok(vec![filter.to_owned()]);
    }
    let mut filters = Vec::new();
    for slug in surveys_with_answers(conn)? {
        // Spliced into SQL as a standard string literal (slugs are checked on import; quoted anyway).
        let survey = format!("{filter} AND survey_slug = '{}'", slug.replace('\'', "''"));
        let n: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("SELECT COUNT(*) FROM responses{survey}"))
            .get_result(conn)?;
        filters.extend(chunks(n, chunk_rows, scope).into_iter().map(|range| format!("{survey}{range}")));
    }
    Ok(filters)
}

/// One transaction: the answers of `filter` (None: none), or with `side_tables` the codes and spent
/// tokens (after `before`). Never both: a code row must not share a transaction (`xmin`) with answers.
fn rewrite(
    conn: &mut DbConn,
    filter: Option<&str>,
    side_tables: bool,
    fresh_heap: bool,
    before: &mut dyn FnMut(&mut DbConn) -> Result<(), StoreError>,
) -> Result<i64, StoreError> {
    let sqlite = matches!(conn, DbConn::Sqlite(_));
    conn.write_transaction(|conn| -> Result<i64, StoreError> {
        if sqlite {
            // A write first, so the transaction holds the write lock from its start (no stale snapshot).
            conn.batch_execute("UPDATE outreach_codes SET used = used WHERE 1 = 0;")?;
        } else {
            let locked = if side_tables { "outreach_codes, used_form_tokens" } else { "responses" };
            conn.batch_execute(&format!("LOCK TABLE {locked} IN EXCLUSIVE MODE;"))?;
        }
        if side_tables {
            before(conn)?;
        }
        let mut tables = vec![];
        let mut n = 0;
        if let Some(filter) = filter {
            n = diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("SELECT COUNT(*) FROM responses{filter}"))
                .get_result(conn)?;
            tables.push(("responses", "id", filter.to_owned(), fresh_heap));
        }
        if side_tables {
            tables.push(("outreach_codes", "code_hash", String::new(), true));
            tables.push(("used_form_tokens", "token_hash", String::new(), true));
        }
        for (table, key, filter, fresh) in tables {
            let copy = format!("scrub_{table}");
            // Answers go back under their ids alone: the key no longer says which were committed
            // together (`responses::Placement`). The same SQL on both backends.
            let unplace = if table == "responses" {
                format!(
                    "UPDATE {copy} SET id = substr(id, length(id) - {}) WHERE length(id) > {};",
                    responses::ID_LEN - 1,
                    responses::ID_LEN
                )
            } else {
                String::new()
            };
            let sql = if sqlite {
                format!(
                    "CREATE TEMP TABLE {copy} AS SELECT * FROM {table}{filter};
                     DELETE FROM {table}{filter};
                     {unplace}
                     INSERT INTO {table} SELECT * FROM {copy} ORDER BY random();
                     DROP TABLE {copy};"
                )
            } else {
                // TRUNCATE gives a fresh heap file (and takes an ACCESS EXCLUSIVE lock); a chunk deletes.
                let clear = if fresh { format!("TRUNCATE {table}") } else { format!("DELETE FROM {table}{filter}") };
                format!(
                    "CREATE TEMP TABLE {copy} ON COMMIT DROP AS SELECT * FROM {table}{filter};
                     {clear};
                     {unplace}
                     INSERT INTO {table} SELECT * FROM {copy} ORDER BY {key};"
                )
            };
            conn.batch_execute(&sql)?;
        }
        Ok(n)
    })
}

/// Rewrite the submit path's tables as the module note says. `before` runs first inside the first
/// transaction (the writer spends its waiting outreach codes there, so they take the scrub's commit);
/// `between` runs after each chunk's commit. Run it only where no other write of this process can
/// interleave: the writer thread, or `chorus scrub` (the service's writer waits on the database lock).
pub fn scrub(
    conn: &mut DbConn,
    scope: Scope,
    chunk_rows: i64,
    before: &mut dyn FnMut(&mut DbConn) -> Result<(), StoreError>,
    between: &mut dyn FnMut(&mut DbConn),
) -> Result<ScrubReport, StoreError> {
    let filter = month_filter(&scope);
    if let DbConn::Sqlite(_) = conn {
        // The copies stay in RAM, never in a temporary file that would outlive the scrub on disk.
        conn.batch_execute("PRAGMA temp_store = MEMORY;")?;
    }
    let total: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("SELECT COUNT(*) FROM responses{filter}"))
        .get_result(conn)?;
    let ranges = chunk_filters(conn, &filter, total, chunk_rows, &scope)?;
    // One chunk over the whole table: a fresh heap on PostgreSQL (a partial scope must delete).
    let whole_table = ranges == [filter.clone()] && !matches!(scope, Scope::Since(_));
    // Codes (with the waiting spends) and tokens first, in a transaction of their own.
    rewrite(conn, None, true, true, before)?;
    between(conn);
    let mut rewritten = 0;
    for range in &ranges {
        rewritten += rewrite(conn, Some(range), false, whole_table, before)?;
        between(conn);
    }
    let mut wal_emptied = true;
    match conn {
        DbConn::Sqlite(c) => {
            if scope == Scope::Full {
                c.batch_execute("VACUUM;")?;
            }
            wal_emptied = empty_wal(c)?;
        }
        DbConn::Postgres(c) => c.batch_execute("VACUUM responses, outreach_codes, used_form_tokens;")?,
    }
    Ok(ScrubReport { answers_rewritten: rewritten, chunks: ranges.len(), wal_emptied, took: Duration::ZERO })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_id_once() {
        assert_eq!(chunks(100, 2_000, &Scope::All), vec![String::new()]);
        assert_eq!(chunks(1_000_000, 2_000, &Scope::Full), vec![String::new()]);
        let c = chunks(20_000, 2_000, &Scope::All);
        assert_eq!(c.len(), 16);
        assert_eq!(c[0], " AND id >= '0' AND id < '1'");
        assert_eq!(c[15], " AND id >= 'f'");
        let c = chunks(1_000_000, 2_000, &Scope::All);
        assert_eq!(c.len(), 256);
        assert_eq!(c[255], " AND id >= 'ff'");
        assert_eq!(c[9], " AND id >= '09' AND id < '0a'");
    }
}
