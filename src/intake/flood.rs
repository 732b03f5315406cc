//! Flood visibility for stewards: per survey, accepted and refused submissions per hour, held in RAM
//! for 7 days; only monthly totals are written to the database (`intake::flush_monthly`, at the change
//! of month and at shutdown). Nothing identifies anyone.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use crate::{clock::Clock, month::Month};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Accepted,
    RateLimited,
    Honeypot,
    TooFast,
    BadCode,
}

pub use crate::store::defences::IntakeCounts as Counts;

impl Outcome {
    fn count_in(self, counts: &mut Counts) {
        let field = match self {
            Self::Accepted => &mut counts.accepted,
            Self::RateLimited => &mut counts.rate_limited,
            Self::Honeypot => &mut counts.honeypot,
            Self::TooFast => &mut counts.too_fast,
            Self::BadCode => &mut counts.bad_code,
        };
        *field += 1;
    }
}

const KEEP_HOURS: i64 = 7 * 24;
/// The least baseline an hour is compared with: a new survey's trailing median is 0, and "five times
/// nothing" would call its first twenty answers a flood.
const MEDIAN_FLOOR: u64 = 10;

#[derive(Default)]
struct Inner {
    /// survey → hour number → counts
    hours: HashMap<String, BTreeMap<i64, Counts>>,
    /// (survey, month) → counts not yet written to the database
    unflushed: HashMap<(String, Month), Counts>,
}

pub struct FloodStats {
    clock: Arc<Clock>,
    inner: Mutex<Inner>,
    factor: u32,
}

/// One hour of one survey, for the dashboard.
pub struct HourRow {
    pub hour: i64,
    pub counts: Counts,
}

impl FloodStats {
    pub fn new(clock: Arc<Clock>, factor: u32) -> Self {
        Self { clock, inner: Mutex::default(), factor }
    }

    pub fn record(&self, slug: &str, outcome: Outcome) {
        let now = self.clock.now();
        let (hour, month) = (now.div_euclid(3600), Month::from_unix_days(now.div_euclid(86_400)));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let hours = inner.hours.entry(slug.to_owned()).or_default();
        outcome.count_in(hours.entry(hour).or_default());
        hours.retain(|h, _| *h > hour - KEEP_HOURS);
        outcome.count_in(inner.unflushed.entry((slug.to_owned(), month)).or_default());
    }

    /// The last `n` hours of a survey, newest first (hours with nothing are included as zeros).
    pub fn recent(&self, slug: &str, n: i64) -> Vec<HourRow> {
        let hour = self.clock.now().div_euclid(3600);
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let hours = inner.hours.get(slug);
        (0..n.min(KEEP_HOURS))
            .map(|back| {
                let h = hour - back;
                HourRow { hour: h, counts: hours.and_then(|m| m.get(&h)).copied().unwrap_or_default() }
            })
            .collect()
    }

    /// An alert when this hour's accepted submissions pass `factor` × the median of the previous 24
    /// hours, the median taken as at least `MEDIAN_FLOOR` (and at least 20 answers), so a new or quiet
    /// survey's first answers raise no alarm.
    pub fn alert(&self, slug: &str) -> Option<(u64, u64)> {
        let rows = self.recent(slug, 25);
        let current = rows[0].counts.accepted;
        let mut previous: Vec<u64> = rows[1..].iter().map(|r| r.counts.accepted).collect();
        previous.sort_unstable();
        let median = previous[previous.len() / 2];
        let baseline = median.max(MEDIAN_FLOOR);
        (current >= 20 && current > u64::from(self.factor) * baseline).then_some((current, median))
    }

    /// Hand over monthly totals gathered since the last call, for the database: only of months that
    /// have ended, unless `all` (shutdown).
    pub fn take_monthly(&self, all: bool) -> Vec<(String, Month, Counts)> {
        let current = Month::from_unix_days(self.clock.now().div_euclid(86_400));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let done: Vec<_> = inner.unflushed.keys().filter(|(_, m)| all || *m < current).cloned().collect();
        done.into_iter().filter_map(|key| inner.unflushed.remove(&key).map(|counts| (key.0, key.1, counts))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_hour_and_alerts_on_a_burst() {
        let clock = Arc::new(Clock::default());
        let stats = FloodStats::new(clock.clone(), 5);
        for _ in 0..24 {
            for _ in 0..4 {
                stats.record("harms", Outcome::Accepted);
            }
            clock.advance(3600);
        }
        stats.record("harms", Outcome::Honeypot);
        assert!(stats.alert("harms").is_none());
        for _ in 0..21 {
            stats.record("harms", Outcome::Accepted);
        }
        assert!(stats.alert("harms").is_none(), "21 is not over 5 × the floor of 10");
        for _ in 0..30 {
            stats.record("harms", Outcome::Accepted);
        }
        assert_eq!(stats.alert("harms"), Some((51, 4)));
        let rows = stats.recent("harms", 2);
        assert_eq!(rows[0].counts, Counts { accepted: 51, honeypot: 1, ..Counts::default() });
        assert_eq!(rows[1].counts.accepted, 4);
        let month_ended: u64 = stats.take_monthly(false).iter().map(|(_, _, c)| c.accepted).sum();
        let rest: u64 = stats.take_monthly(true).iter().map(|(_, _, c)| c.accepted).sum();
        assert_eq!(month_ended + rest, 24 * 4 + 51);
        assert!(stats.take_monthly(true).is_empty());
    }

    #[test]
    fn a_new_surveys_first_answers_raise_no_alert() {
        let clock = Arc::new(Clock::default());
        let stats = FloodStats::new(clock, 5);
        for _ in 0..30 {
            stats.record("new", Outcome::Accepted);
        }
        assert_eq!(stats.alert("new"), None, "a trailing median of 0 is no baseline");
        for _ in 0..21 {
            stats.record("new", Outcome::Accepted);
        }
        assert_eq!(stats.alert("new"), Some((51, 0)), "but a burst over the floor still alerts");
    }
}
