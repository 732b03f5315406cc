//! Opening a survey's answers for one report run, a page of rows at a time: on the calling thread
//! (`for_each_answer`), or with the reading on the calling thread and the opening on others
//! (`open_in_parallel`), so a release over a million answers uses every core. Either way memory is
//! bounded by a few pages, a row that does not open is counted and never passed on, and opened
//! answers exist only in RAM (each plaintext is wiped when dropped).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
};

use super::{KeyringError, OpenedAnswer, Streamed, Unsealed};
use crate::{
    month::Month,
    seal::{self, AnswerAad, EpochKey, Padded},
    store::{DbConn, keys, responses},
};

/// Rows read per query: a keyset page.
const PAGE: i64 = 2_000;

/// What the reading thread sees of every row, in id order, before it is opened: a run hashes the ids
/// into its fingerprint here. The flags are the row's columns; they are bound into the ciphertext, so
/// a run that goes on to use them (every row opened) has them authenticated.
pub struct RowHead<'a> {
    pub id: &'a str,
    pub verified: bool,
    pub synthetic: bool,
}

/// One page as it travels from the reading thread to an opening thread: the rows, and for each the
/// index of its epoch key in `keys` (`None`: the row names no epoch this run can open).
struct SealedPage {
    rows: Vec<responses::SealedRow>,
    key_of: Vec<Option<usize>>,
    keys: Vec<Arc<EpochKey>>,
}

/// How one row went: opened (perhaps only under the version 1 associated data), or not.
enum Opened {
    Current(Padded),
    Legacy(Padded),
    Failed,
}

fn open_row(key: Option<&EpochKey>, slug: &str, row: &responses::SealedRow) -> Opened {
    let Some(key) = key else { return Opened::Failed };
    let aad = AnswerAad {
        response_id: &row.id,
        survey_slug: slug,
        survey_version: row.survey_version,
        epoch_id: &row.epoch_id,
        month: &row.month,
        verified: row.verified,
        synthetic: row.synthetic,
    };
    match seal::open_answer(key, &aad, &row.sealed) {
        Ok(p) => Opened::Current(p),
        Err(_) => match seal::open_legacy_answer(key, &aad, &row.sealed) {
            Ok(p) => Opened::Legacy(p),
            Err(_) => Opened::Failed,
        },
    }
}

impl SealedPage {
    /// Open every row, counting into `n`, and hand each opened answer to `each`.
    fn open(self, slug: &str, n: &mut Streamed, mut each: impl FnMut(OpenedAnswer)) {
        for (row, key) in self.rows.into_iter().zip(self.key_of) {
            let plaintext = match open_row(key.map(|k| &*self.keys[k]), slug, &row) {
                Opened::Current(p) => p,
                Opened::Legacy(p) => {
                    n.legacy += 1;
                    p
                }
                Opened::Failed => {
                    n.failed += 1;
                    continue;
                }
            };
            n.opened += 1;
            each(OpenedAnswer {
                id: row.id,
                survey_version: row.survey_version,
                month: row.month,
                synthetic: row.synthetic,
                verified: row.verified,
                plaintext,
            });
        }
    }
}

impl Unsealed {
    /// The epoch key of `epoch_id`, unwrapped once per run. `Ok(None)`: no such epoch, or one this
    /// run's report keys do not open (a moved or forged row: counted, not fatal).
    fn epoch_key(&mut self, conn: &mut DbConn, epoch_id: &str) -> Result<Option<Arc<EpochKey>>, KeyringError> {
        if let Some(key) = self.epochs.get(epoch_id) {
            return Ok(Some(key.clone()));
        }
        let Some(row) = keys::epoch(conn, epoch_id)? else { return Ok(None) };
        let Some(private) = self.keys.get(&row.report_key_id) else { return Ok(None) };
        let Ok(key) = EpochKey::unwrap(private, &row.wrapped_key, epoch_id) else { return Ok(None) };
        let key = Arc::new(key);
        self.epochs.insert(epoch_id.to_owned(), key.clone());
        Ok(Some(key))
    }

    /// Read the next page after `after` and find each row's epoch key. `None` at the end.
    fn next_page(
        &mut self,
        conn: &mut DbConn,
        slug: &str,
        through: &str,
        excluded_months: &[String],
        after: &mut String,
    ) -> Result<Option<SealedPage>, KeyringError> {
        let rows = responses::page(conn, slug, through, excluded_months, after, PAGE)?;
        let Some(last) = rows.last() else { return Ok(None) };
        after.clone_from(&last.id);
        let mut keys: Vec<Arc<EpochKey>> = Vec::new();
        let mut index: HashMap<&str, Option<usize>> = HashMap::new();
        let mut key_of = Vec::with_capacity(rows.len());
        for row in &rows {
            let k = match index.get(row.epoch_id.as_str()) {
                Some(k) => *k,
                None => {
                    let k = self.epoch_key(conn, &row.epoch_id)?.map(|key| {
                        keys.push(key);
                        keys.len() - 1
                    });
                    index.insert(&row.epoch_id, k);
                    k
                }
            };
            key_of.push(k);
        }
        drop(index);
        Ok(Some(SealedPage { rows, key_of, keys }))
    }

    /// Open every answer of `slug` received through `through` (inclusive), a page at a time, calling
    /// `each` for every one, on this thread. Memory stays bounded by the page size whatever the
    /// number of answers. Rows that fail to open are counted in the result, not passed on; the
    /// caller must report them.
    pub fn for_each_answer(
        &mut self,
        conn: &mut DbConn,
        slug: &str,
        through: Month,
        excluded_months: &[String],
        mut each: impl FnMut(OpenedAnswer) -> Result<(), KeyringError>,
    ) -> Result<Streamed, KeyringError> {
        let through = through.to_string();
        let mut after = String::new();
        let mut n = Streamed::default();
        let mut failed = None;
        while let Some(page) = self.next_page(conn, slug, &through, excluded_months, &mut after)? {
            page.open(slug, &mut n, |a| {
                if failed.is_none()
                    && let Err(e) = each(a)
                {
                    failed = Some(e);
                }
            });
            if let Some(e) = failed.take() {
                return Err(e);
            }
        }
        Ok(n)
    }

    /// As [`Unsealed::for_each_answer`], with the work split: this thread reads pages (and shows
    /// `head` every row, in id order), `threads` others open them and hand each opened answer to
    /// `each` with their own state (made by `make`); the states come back for the caller to merge.
    /// At most two pages per opening thread wait in between, so memory stays bounded. `opened`, if
    /// given, counts the rows gone through as the run goes (for a progress bar).
    #[expect(clippy::too_many_arguments, reason = "the run's scope, its three hooks and its progress counter")]
    pub fn open_in_parallel<S: Send>(
        &mut self,
        conn: &mut DbConn,
        slug: &str,
        through: Month,
        excluded_months: &[String],
        threads: usize,
        mut head: impl FnMut(RowHead<'_>),
        make: impl Fn() -> S + Sync,
        each: impl Fn(&mut S, OpenedAnswer) + Sync,
        opened: Option<&AtomicU64>,
    ) -> Result<(Streamed, Vec<S>), KeyringError> {
        let threads = threads.max(1);
        let through = through.to_string();
        let (tx, rx) = mpsc::sync_channel::<SealedPage>(2 * threads);
        // Held by the opening threads only: when the last one ends (even by a panic) the channel
        // closes, and the reading thread's next send fails instead of waiting for ever.
        let rx = Arc::new(Mutex::new(rx));
        // Set when an opening thread panicked, so the reading stops at the next page.
        let stop = AtomicBool::new(false);
        let (make, each, stop) = (&make, &each, &stop);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let rx = rx.clone();
                    scope.spawn(move || {
                        let mut state = make();
                        let mut n = Streamed::default();
                        let guard = StopOnPanic(stop);
                        loop {
                            // Waiting for a page holds the lock; the other threads wait for the lock.
                            let page = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                            let Ok(page) = page else { break };
                            let rows = page.rows.len() as u64;
                            page.open(slug, &mut n, |a| each(&mut state, a));
                            if let Some(o) = opened {
                                o.fetch_add(rows, Ordering::Relaxed);
                            }
                        }
                        std::mem::forget(guard);
                        (n, state)
                    })
                })
                .collect();
            drop(rx);
            let mut after = String::new();
            let mut read = || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(page) = self.next_page(conn, slug, &through, excluded_months, &mut after)? else { break };
                    for row in &page.rows {
                        head(RowHead { id: &row.id, verified: row.verified, synthetic: row.synthetic });
                    }
                    if tx.send(page).is_err() {
                        break;
                    }
                }
                Ok::<_, KeyringError>(())
            };
            let read = read();
            drop(tx);
            let mut total = Streamed::default();
            let mut states = Vec::with_capacity(threads);
            for w in workers {
                let (n, state) = w.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                total.opened += n.opened;
                total.failed += n.failed;
                total.legacy += n.legacy;
                states.push(state);
            }
            read.map(|()| (total, states))
        })
    }
}

/// Raises the stop flag if the opening thread it lives on unwinds.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
