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
//! spent tokens are always rewritten whole (they are few). Nothing here knows HTTP or cryptography.

use std::time::Duration;

use diesel::{QueryableByName, RunQueryDsl, connection::SimpleConnection, sql_types::Integer};

use super::{DbConn, StoreError};

/// Which answers a scrub rewrites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every row, and on SQLite a `VACUUM` of the whole file.
    Full,
    /// Answers of this month (`YYYY-MM`) and later; codes and tokens in full.
    Since(String),
}

/// What a scrub did, for the log and the benchmark.
#[derive(Clone, Debug, Default)]
pub struct ScrubReport {
    pub answers_rewritten: i64,
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

fn month_filter(scope: &Scope) -> String {
    match scope {
        Scope::Full => String::new(),
        // The month is a `YYYY-MM` made by `Month`; checked again here since it is spliced into SQL.
        Scope::Since(m) if m.len() == 7 && m.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
            format!(" WHERE month >= '{m}'")
        }
        Scope::Since(_) => " WHERE 1 = 0".into(),
    }
}

/// Rewrite the submit path's tables as the module note says. `before` runs first inside the
/// rewriting transaction (the writer spends its waiting outreach codes there, so they take the
/// scrub's single commit). Run it only where no other write of this process can interleave: the
/// writer thread, or `chorus scrub` (which waits for the service's writer through the database lock).
pub fn scrub(
    conn: &mut DbConn,
    scope: Scope,
    before: &mut dyn FnMut(&mut DbConn) -> Result<(), StoreError>,
) -> Result<ScrubReport, StoreError> {
    use diesel::Connection;
    let filter = month_filter(&scope);
    let sqlite = matches!(conn, DbConn::Sqlite(_));
    if sqlite {
        // The copies stay in RAM, never in a temporary file that would outlive the scrub on disk.
        conn.batch_execute("PRAGMA temp_store = MEMORY;")?;
    }
    let rewritten = conn.transaction(|conn| -> Result<i64, StoreError> {
        if sqlite {
            // A write first, so the transaction holds the write lock from its start (no stale snapshot).
            conn.batch_execute("UPDATE outreach_codes SET used = used WHERE 1 = 0;")?;
        } else {
            conn.batch_execute("LOCK TABLE responses, outreach_codes, used_form_tokens IN ACCESS EXCLUSIVE MODE;")?;
        }
        before(conn)?;
        let n: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("SELECT COUNT(*) FROM responses{filter}"))
            .get_result(conn)?;
        let tables = [
            ("responses", "id", filter.as_str()),
            ("outreach_codes", "code_hash", ""),
            ("used_form_tokens", "token_hash", ""),
        ];
        for (table, key, filter) in tables {
            let copy = format!("scrub_{table}");
            let sql = if sqlite {
                format!(
                    "CREATE TEMP TABLE {copy} AS SELECT * FROM {table}{filter};
                     DELETE FROM {table}{filter};
                     INSERT INTO {table} SELECT * FROM {copy} ORDER BY random();
                     DROP TABLE {copy};"
                )
            } else {
                // TRUNCATE gives a fresh heap file; a partial scrub deletes (VACUUM reclaims the space).
                let clear = if filter.is_empty() {
                    format!("TRUNCATE {table}")
                } else {
                    format!("DELETE FROM {table}{filter}")
                };
                format!(
                    "CREATE TEMP TABLE {copy} ON COMMIT DROP AS SELECT * FROM {table}{filter};
                     {clear};
                     INSERT INTO {table} SELECT * FROM {copy} ORDER BY {key};"
                )
            };
            conn.batch_execute(&sql)?;
        }
        Ok(n)
    })?;
    let mut wal_emptied = true;
    match conn {
        DbConn::Sqlite(c) => {
            if scope == Scope::Full {
                c.batch_execute("VACUUM;")?;
            }
            // Readers may hold the WAL for a moment; a few tries, then the next scrub finishes it.
            wal_emptied = false;
            for _ in 0..20 {
                let r: Checkpoint = diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(c)?;
                if r.busy == 0 {
                    wal_emptied = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        DbConn::Postgres(c) => c.batch_execute("VACUUM responses, outreach_codes, used_form_tokens;")?,
    }
    Ok(ScrubReport { answers_rewritten: rewritten, wal_emptied, took: Duration::ZERO })
}
