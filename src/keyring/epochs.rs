//! The epoch keys in RAM: the current one, and the next, prepared before the current one is spent.
//!
//! Starting an epoch stores a row (its key wrapped to the report key). On SQLite that INSERT waits for
//! the write lock, which the group-commit writer holds most of the time under load, with SQLite's
//! busy handler sleeping 1, 2, 5, 10 … ms between tries, and its commit may run an automatic
//! checkpoint. Done inside a submission while holding the keyring's lock, it made every actix worker
//! that sealed meanwhile wait (every submission seals), three times a second at 30,000 answers a
//! second and 10,000 answers an epoch, and for as long as anything else held the write lock (a scrub
//! holds it for seconds). Moving it off the request path did not change the benchmark's p99, whose
//! cause was the -wal's late restarts (`store::checkpoint`). So the next epoch is prepared off the
//! request path once the current one is four-fifths spent, and the switch is made in memory. The
//! cap still holds exactly: no epoch seals more than its maximum; when the prepared one is not there
//! in time, the submission starts one itself, as before.

use crate::{month::Month, seal::EpochKey};

pub(super) struct CurrentEpoch {
    pub id: String,
    pub key: EpochKey,
    pub month: Month,
    pub sealed: u64,
}

/// A preparation the caller should run (`Keyring::prepare_next_epoch`); opaque outside the keyring.
#[derive(Clone, Copy, Debug)]
pub struct NextEpochDue(u64);

#[derive(Default)]
pub(super) struct Epochs {
    current: Option<CurrentEpoch>,
    next: Option<CurrentEpoch>,
    /// A preparation is under way: at most one at a time.
    preparing: bool,
    /// Bumped by `end`: a preparation begun before it was wrapped to a report key no longer active.
    generation: u64,
}

impl Epochs {
    /// The epoch the next answer is sealed with, switching to the prepared one when the current one is
    /// spent (full, or of another month). None: a new epoch must be started (`start`).
    pub fn usable(&mut self, month: Month, max: u64) -> Option<&mut CurrentEpoch> {
        let spent = |e: &CurrentEpoch| e.month != month || e.sealed >= max;
        if self.current.as_ref().is_none_or(spent) {
            // The spent key is dropped (and zeroized) before the next one takes its place.
            self.current = None;
            self.current = self.next.take().filter(|e| !spent(e));
        }
        self.current.as_mut()
    }

    pub fn start(&mut self, epoch: CurrentEpoch) {
        self.current = None;
        self.current = Some(epoch);
    }

    /// Whether the next epoch should be prepared now (once, until it is ready or has failed).
    pub fn due(&mut self, max: u64) -> Option<NextEpochDue> {
        let sealed = self.current.as_ref()?.sealed;
        if sealed < max - max / 5 || self.next.is_some() || self.preparing {
            return None;
        }
        self.preparing = true;
        Some(NextEpochDue(self.generation))
    }

    /// The outcome of a preparation begun at `due`; kept only if no `end` came between.
    pub fn prepared(&mut self, due: NextEpochDue, epoch: Option<CurrentEpoch>) {
        if due.0 != self.generation {
            return;
        }
        self.preparing = false;
        if self.next.is_none() {
            self.next = epoch;
        }
    }

    /// Forget both keys: the next answer starts an epoch wrapped to the report key active then.
    pub fn end(&mut self) {
        self.current = None;
        self.next = None;
        self.preparing = false;
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn epoch(n: &mut u32, month: Month) -> CurrentEpoch {
        *n += 1;
        CurrentEpoch { id: format!("e{n}"), key: EpochKey::generate(), month, sealed: 0 }
    }

    /// Seal `answers` answers; a preparation finishes `lag` answers after it was asked for.
    fn seal_all(max: u64, answers: usize, lag: usize) -> (HashMap<String, u64>, usize) {
        let month = Month::now();
        let (mut epochs, mut made, mut started_inline) = (Epochs::default(), 0, 0);
        let mut pending: Vec<(usize, NextEpochDue)> = Vec::new();
        let mut used: HashMap<String, u64> = HashMap::new();
        for i in 0..answers {
            if let Some(at) = pending.iter().position(|(ready, _)| *ready <= i) {
                let (_, due) = pending.remove(at);
                let e = epoch(&mut made, month);
                epochs.prepared(due, Some(e));
            }
            if epochs.usable(month, max).is_none() {
                started_inline += 1;
                let e = epoch(&mut made, month);
                epochs.start(e);
            }
            let e = epochs.usable(month, max).expect("an epoch");
            e.sealed += 1;
            *used.entry(e.id.clone()).or_default() += 1;
            if let Some(due) = epochs.due(max) {
                pending.push((i + 1 + lag, due));
            }
        }
        (used, started_inline)
    }

    #[test]
    fn no_epoch_seals_more_than_its_cap_however_late_the_next_one_is() {
        for max in [1, 2, 5, 10, 10_000] {
            for lag in [0, 1, 3, 50] {
                let (used, _) = seal_all(max, 23_000.min(40 * max as usize + 7), lag);
                assert!(used.values().all(|&n| n <= max), "max {max}, lag {lag}: {used:?}");
            }
        }
    }

    #[test]
    fn a_next_epoch_ready_in_time_spares_the_request_path() {
        // Only the very first epoch is started by a submission; every later one was prepared.
        let (used, inline) = seal_all(10, 95, 1);
        assert_eq!(inline, 1);
        assert_eq!(used.len(), 10);
        // Too late, and the submission starts the epoch itself, as before.
        let (_, inline) = seal_all(10, 95, 5);
        assert!(inline > 1);
    }

    #[test]
    fn a_preparation_is_asked_for_once_and_one_begun_before_an_end_is_thrown_away() {
        let month = Month::now();
        let (mut epochs, mut made) = (Epochs::default(), 0);
        epochs.start(epoch(&mut made, month));
        epochs.usable(month, 5).unwrap().sealed = 4;
        let due = epochs.due(5).expect("four-fifths spent");
        assert!(epochs.due(5).is_none(), "one preparation at a time");
        // A report key is created meanwhile: the epoch prepared for the old one must not be used.
        epochs.end();
        epochs.prepared(due, Some(epoch(&mut made, month)));
        assert!(epochs.usable(month, 5).is_none(), "nothing usable after an end");
        // A failed preparation can be asked for again.
        epochs.start(epoch(&mut made, month));
        epochs.usable(month, 5).unwrap().sealed = 4;
        let due = epochs.due(5).unwrap();
        epochs.prepared(due, None);
        assert!(epochs.due(5).is_some());
    }

    #[test]
    fn an_epoch_prepared_in_one_month_is_not_used_in_the_next() {
        let (this, next) = (Month::parse("2026-11").unwrap(), Month::parse("2026-12").unwrap());
        let (mut epochs, mut made) = (Epochs::default(), 0);
        epochs.start(epoch(&mut made, this));
        epochs.usable(this, 5).unwrap().sealed = 4;
        let due = epochs.due(5).unwrap();
        epochs.prepared(due, Some(epoch(&mut made, this)));
        assert!(epochs.usable(next, 5).is_none());
    }
}
