//! What the staff dashboard shows of intake: stored answers per month, the flood counters, outreach
//! code batches and quarantined months. Counts only; answers stay sealed.

use super::{Intake, flood::Counts};
use crate::{
    month::{Month, civil_from_days},
    store::{
        DbConn, StoreError, defences, responses,
        surveys::{self, SurveyStatus},
    },
};

/// One survey on the dashboard.
pub struct SurveySummary {
    pub slug: String,
    pub version: i32,
    pub status: SurveyStatus,
    pub total: i64,
    pub months: Vec<(String, i64)>,
    pub quarantined: Vec<String>,
    /// The last 24 hours, newest first, labelled `YYYY-MM-DD HH:00` (UTC).
    pub hours: Vec<(String, Counts)>,
    /// (this hour's accepted answers, the trailing median) when they look like a flood.
    pub alert: Option<(u64, u64)>,
    /// Stored monthly totals (written at the change of month and at shutdown), newest first.
    pub monthly: Vec<defences::MonthlyRow>,
    /// (batch label, issued, used)
    pub batches: Vec<(String, i64, i64)>,
}

pub fn dashboard(conn: &mut DbConn, intake: &Intake) -> Result<Vec<SurveySummary>, StoreError> {
    let mut out = Vec::new();
    for row in surveys::list(conn)? {
        let months = responses::count_by_month(conn, &row.slug)?;
        let flood = &intake.flood;
        let hours = flood
            .recent(&row.slug, 24)
            .into_iter()
            .map(|h| {
                let (y, m, d) = civil_from_days((h.hour * 3600).div_euclid(86_400));
                (format!("{y:04}-{m:02}-{d:02} {:02}:00", h.hour.rem_euclid(24)), h.counts)
            })
            .collect();
        out.push(SurveySummary {
            total: months.iter().map(|(_, n)| n).sum(),
            quarantined: defences::quarantined(conn, &row.slug)?,
            alert: flood.alert(&row.slug),
            hours,
            monthly: defences::monthly(conn, &row.slug, 12)?,
            batches: defences::code_batches(conn, &row.slug)?,
            slug: row.slug,
            version: row.current_version,
            status: row.status,
            months,
        });
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("no such survey")]
    NoSurvey,
    #[error("the month must look like 2026-11")]
    BadMonth,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Leave a month of a survey out of reports after a confirmed flood (`on`), or bring it back.
pub fn set_quarantine(conn: &mut DbConn, slug: &str, month: &str, on: bool) -> Result<(), QuarantineError> {
    let month = Month::parse(month).ok_or(QuarantineError::BadMonth)?;
    if surveys::get(conn, slug)?.is_none() {
        return Err(QuarantineError::NoSurvey);
    }
    defences::set_quarantine(conn, slug, &month.to_string(), on)?;
    Ok(())
}
