//! Retention (issue 18, item 4): a survey's sealed answers do not outlive their use. Each survey has
//! a retention period (days, default [`DEFAULT_DAYS`]); once the survey is closed and a release of it
//! exists (or its privacy budget is spent), its sealed answers are destroyed when the period after
//! closing has passed: the rows are deleted (SQLite runs with `secure_delete`, and the write-ahead
//! log is checkpointed and truncated; PostgreSQL's table is rewritten with `VACUUM FULL`). An admin
//! may destroy earlier. Destruction is audited and cannot be undone; published releases stay.

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

use crate::{
    month,
    staff::Accounts,
    store::{
        DbConn, StoreError, budgets, responses,
        retention::{self as store, RetentionRow},
        schema, snapshots,
        surveys::{self, SurveyStatus},
    },
};

/// The retention period when none was set.
pub use store::DEFAULT_DAYS;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("no survey `{0}`")]
    NoSurvey(String),
    #[error("a retention period is between 1 and 36500 days")]
    BadDays,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for RetentionError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

/// What the console and the dashboard show of one survey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub slug: String,
    pub days: i32,
    pub closed_on: Option<String>,
    /// Whether a release exists or the budget is spent (the answers have served their purpose).
    pub served: bool,
    /// The day the answers will be destroyed, once it is known (closed and served).
    pub destroy_on: Option<String>,
    pub destroyed_on: Option<String>,
    pub sealed: i64,
}

fn row_of(conn: &mut DbConn, slug: &str) -> Result<RetentionRow, RetentionError> {
    if surveys::get(conn, slug)?.is_none() {
        return Err(RetentionError::NoSurvey(slug.to_owned()));
    }
    Ok(store::get(conn, slug)?.unwrap_or(RetentionRow {
        survey_slug: slug.to_owned(),
        days: DEFAULT_DAYS,
        closed_on: None,
        destroyed_on: None,
        destroyed_count: 0,
    }))
}

pub fn set_days(conn: &mut DbConn, slug: &str, days: i32) -> Result<Status, RetentionError> {
    if !(1..=36_500).contains(&days) {
        return Err(RetentionError::BadDays);
    }
    let row = RetentionRow { days, ..row_of(conn, slug)? };
    store::upsert(conn, &row)?;
    status(conn, slug)
}

/// Record the day a survey closed (the first close counts; reopening clears it).
pub fn survey_status_changed(
    conn: &mut DbConn,
    slug: &str,
    status: SurveyStatus,
    today: &str,
) -> Result<(), RetentionError> {
    let row = row_of(conn, slug)?;
    let closed_on = match status {
        SurveyStatus::Open => None,
        _ => Some(row.closed_on.clone().unwrap_or_else(|| today.to_owned())),
    };
    if closed_on != row.closed_on {
        store::upsert(conn, &RetentionRow { closed_on, ..row })?;
    }
    Ok(())
}

pub fn status(conn: &mut DbConn, slug: &str) -> Result<Status, RetentionError> {
    let row = row_of(conn, slug)?;
    let released = snapshots::list(conn, false)?.iter().any(|s| s.survey_slug == slug);
    let spent = budgets::get(conn, slug)?.is_some_and(|(total, spent)| total > 0 && spent >= total);
    let served = released || spent;
    let destroy_on = match (&row.closed_on, served) {
        (Some(closed), true) => Some(add_days(closed, row.days)),
        _ => None,
    };
    Ok(Status {
        slug: slug.to_owned(),
        days: row.days,
        closed_on: row.closed_on,
        served,
        destroy_on,
        destroyed_on: row.destroyed_on,
        sealed: responses::count(conn, slug)?,
    })
}

fn add_days(date: &str, days: i32) -> String {
    let d = |a: usize, b: usize| date.get(a..b).and_then(|s| s.parse::<i64>().ok()).unwrap_or(1);
    month::date((days_from_civil(d(0, 4), d(5, 7), d(8, 10)) + i64::from(days)) * 86_400)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Destroy every sealed answer of a survey now: delete the rows, then make sure no copy stays in
/// the database files. Audited by `actor`; cannot be undone; releases are untouched.
pub fn destroy(
    conn: &mut DbConn,
    accounts: &Accounts,
    actor: &str,
    slug: &str,
    reason: &str,
) -> Result<u64, RetentionError> {
    let row = row_of(conn, slug)?;
    let deleted =
        diesel::delete(schema::responses::table.filter(schema::responses::survey_slug.eq(slug))).execute(conn)? as u64;
    // What remains is rewritten in random order (chunked, as the scheduled scrub does): the gaps the
    // deleted rows leave must not outline when they had arrived.
    let scrubbed = crate::store::scrub::scrub(
        conn,
        crate::store::scrub::Scope::All,
        crate::intake::writer::SCRUB_CHUNK_ROWS,
        &mut |_| Ok(()),
        &mut |_| {},
    )?;
    match conn {
        // secure_delete has overwritten the rows in the database file; the write-ahead log still
        // holds the pages as they were until it is checkpointed and truncated, which the scrub
        // did last unless readers held the log: then once more here, and said if that failed too.
        DbConn::Sqlite(c) => {
            if !scrubbed.wal_emptied && !crate::store::scrub::empty_wal(c)? {
                tracing::warn!(slug, "the -wal could not be emptied after destruction; the next scrub empties it");
            }
        }
        // Dead tuples stay in the table's pages until it is rewritten.
        DbConn::Postgres(c) => {
            diesel::sql_query("VACUUM FULL responses").execute(c)?;
        }
    }
    let today = month::date(accounts.clock.now());
    store::upsert(
        conn,
        &RetentionRow { destroyed_on: Some(today), destroyed_count: row.destroyed_count + deleted as i64, ..row },
    )?;
    accounts.audit(conn, actor, "answers_destroyed", &format!("{slug}: {deleted} sealed answers ({reason})"))?;
    Ok(deleted)
}

/// Destroy the answers of every survey whose destruction day has come. Returns (slug, count).
pub fn run_due(conn: &mut DbConn, accounts: &Accounts) -> Result<Vec<(String, u64)>, RetentionError> {
    let today = month::date(accounts.clock.now());
    let mut done = Vec::new();
    for survey in surveys::list(conn)? {
        let st = status(conn, &survey.slug)?;
        if st.sealed > 0 && st.destroy_on.as_deref().is_some_and(|d| d <= today.as_str()) {
            let n = destroy(conn, accounts, "retention", &survey.slug, "retention period over")?;
            done.push((survey.slug, n));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_added_to_dates() {
        assert_eq!(super::add_days("2026-11-30", 1), "2026-12-01");
        assert_eq!(super::add_days("2026-12-31", 365), "2027-12-31");
        assert_eq!(super::add_days("2028-02-28", 1), "2028-02-29");
    }
}
