//! Outreach codes, monthly intake totals and quarantined months.

use diesel::prelude::*;

use super::{
    DbConn, StoreError,
    schema::{monthly_intake, outreach_codes, quarantined_months},
};

pub fn insert_codes(conn: &mut DbConn, slug: &str, batch: &str, hashes: &[Vec<u8>]) -> Result<(), StoreError> {
    conn.write_transaction(|conn| {
        for h in hashes {
            diesel::insert_into(outreach_codes::table)
                .values((
                    outreach_codes::code_hash.eq(h),
                    outreach_codes::survey_slug.eq(slug),
                    outreach_codes::batch.eq(batch),
                    outreach_codes::used.eq(false),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Whether an unused code with this hash exists for the survey.
pub fn code_usable(conn: &mut DbConn, slug: &str, hash: &[u8]) -> Result<bool, StoreError> {
    let n: i64 = outreach_codes::table
        .filter(outreach_codes::code_hash.eq(hash))
        .filter(outreach_codes::survey_slug.eq(slug))
        .filter(outreach_codes::used.eq(false))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Spend a code; false when it was not usable (already used, or another request spent it first).
pub fn spend_code(conn: &mut DbConn, slug: &str, hash: &[u8]) -> Result<bool, StoreError> {
    let n = diesel::update(
        outreach_codes::table
            .filter(outreach_codes::code_hash.eq(hash))
            .filter(outreach_codes::survey_slug.eq(slug))
            .filter(outreach_codes::used.eq(false)),
    )
    .set(outreach_codes::used.eq(true))
    .execute(conn)?;
    Ok(n == 1)
}

/// Codes per batch of a survey: (batch, issued, used).
pub fn code_batches(conn: &mut DbConn, slug: &str) -> Result<Vec<(String, i64, i64)>, StoreError> {
    let rows: Vec<(String, bool)> = outreach_codes::table
        .filter(outreach_codes::survey_slug.eq(slug))
        .select((outreach_codes::batch, outreach_codes::used))
        .load(conn)?;
    let mut out: Vec<(String, i64, i64)> = Vec::new();
    for (batch, used) in rows {
        match out.iter_mut().find(|(b, _, _)| *b == batch) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += i64::from(used);
            }
            None => out.push((batch, 1, i64::from(used))),
        }
    }
    out.sort();
    Ok(out)
}

/// Accepted and refused submissions over some period. Counts only: nothing identifies anyone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntakeCounts {
    pub accepted: u64,
    pub rate_limited: u64,
    pub honeypot: u64,
    pub too_fast: u64,
    pub bad_code: u64,
}

impl IntakeCounts {
    fn as_i64(&self) -> [i64; 5] {
        [self.accepted, self.rate_limited, self.honeypot, self.too_fast, self.bad_code]
            .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
    }

    fn from_i64((a, r, h, t, b): (i64, i64, i64, i64, i64)) -> Self {
        let u = |v: i64| u64::try_from(v).unwrap_or(0);
        Self { accepted: u(a), rate_limited: u(r), honeypot: u(h), too_fast: u(t), bad_code: u(b) }
    }
}

/// One stored month of a survey's intake totals.
#[derive(Clone, Debug)]
pub struct MonthlyRow {
    pub month: String,
    pub counts: IntakeCounts,
}

/// Add a month's counts to its stored totals.
pub fn add_monthly(conn: &mut DbConn, slug: &str, month: &str, counts: &IntakeCounts) -> Result<(), StoreError> {
    let c = counts.as_i64();
    conn.write_transaction(|conn| {
        let existing: Option<(i64, i64, i64, i64, i64)> = monthly_intake::table
            .find((slug, month))
            .select((
                monthly_intake::accepted,
                monthly_intake::rate_limited,
                monthly_intake::honeypot,
                monthly_intake::too_fast,
                monthly_intake::bad_code,
            ))
            .first(conn)
            .optional()?;
        match existing {
            Some((a, r, h, t, b)) => {
                diesel::update(monthly_intake::table.find((slug, month)))
                    .set((
                        monthly_intake::accepted.eq(a + c[0]),
                        monthly_intake::rate_limited.eq(r + c[1]),
                        monthly_intake::honeypot.eq(h + c[2]),
                        monthly_intake::too_fast.eq(t + c[3]),
                        monthly_intake::bad_code.eq(b + c[4]),
                    ))
                    .execute(conn)?;
            }
            None => {
                diesel::insert_into(monthly_intake::table)
                    .values((
                        monthly_intake::survey_slug.eq(slug),
                        monthly_intake::month.eq(month),
                        monthly_intake::accepted.eq(c[0]),
                        monthly_intake::rate_limited.eq(c[1]),
                        monthly_intake::honeypot.eq(c[2]),
                        monthly_intake::too_fast.eq(c[3]),
                        monthly_intake::bad_code.eq(c[4]),
                    ))
                    .execute(conn)?;
            }
        }
        Ok(())
    })
}

/// The stored monthly totals of a survey, newest first.
pub fn monthly(conn: &mut DbConn, slug: &str, limit: i64) -> Result<Vec<MonthlyRow>, StoreError> {
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = monthly_intake::table
        .filter(monthly_intake::survey_slug.eq(slug))
        .order(monthly_intake::month.desc())
        .limit(limit)
        .select((
            monthly_intake::month,
            monthly_intake::accepted,
            monthly_intake::rate_limited,
            monthly_intake::honeypot,
            monthly_intake::too_fast,
            monthly_intake::bad_code,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(month, a, r, h, t, b)| MonthlyRow { month, counts: IntakeCounts::from_i64((a, r, h, t, b)) })
        .collect())
}

pub fn quarantined(conn: &mut DbConn, slug: &str) -> Result<Vec<String>, StoreError> {
    Ok(quarantined_months::table
        .filter(quarantined_months::survey_slug.eq(slug))
        .select(quarantined_months::month)
        .order(quarantined_months::month)
        .load(conn)?)
}

pub fn set_quarantine(conn: &mut DbConn, slug: &str, month: &str, on: bool) -> Result<(), StoreError> {
    let existing = quarantined(conn, slug)?.iter().any(|m| m == month);
    if on && !existing {
        diesel::insert_into(quarantined_months::table)
            .values((quarantined_months::survey_slug.eq(slug), quarantined_months::month.eq(month)))
            .execute(conn)?;
    } else if !on && existing {
        diesel::delete(
            quarantined_months::table
                .filter(quarantined_months::survey_slug.eq(slug))
                .filter(quarantined_months::month.eq(month)),
        )
        .execute(conn)?;
    }
    Ok(())
}
