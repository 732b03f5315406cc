//! Opening a survey's answers for one report run, a page of rows at a time: on the calling thread
//! (`for_each_answer`), or with the reading on the calling thread and the opening on others
//! (`open_in_parallel`), so a release over a million answers uses every core. Either way memory is
//! bounded by a few pages, a row that does not open is counted and never passed on, and opened
//! answers exist only in RAM (each plaintext is wiped when dropped).

use std::{
    collections::HashMap,
    ops::Range,
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
    store::{
        DbConn, keys,
        responses::{self, Scan},
    },
};

/// Rows read per query: a keyset page (SQLite) or a cursor's fetch (PostgreSQL).
const PAGE: i64 = 2_000;

/// What the reading thread sees of every row, in the order the scan reads them (`responses::Scan`),
/// before it is opened: a run hashes the ids into its fingerprint here. The flags are the row's
/// columns; they are bound into the ciphertext, so a run that goes on to use them (every row opened)
/// has them authenticated.
pub struct RowHead<'a> {
    pub id: &'a str,
    pub verified: bool,
    pub synthetic: bool,
}

/// One page as it travels from the reading thread to an opening thread: every row's text fields
/// side by side in one string and every ciphertext in one buffer, so a page is a handful of
/// allocations made and freed by one thread each, not several per row freed by another thread
/// (which made the allocator's arenas contend). `keys` holds the epoch keys the rows name.
#[derive(Default)]
struct SealedPage {
    text: String,
    sealed: Vec<u8>,
    rows: Vec<PageRow>,
    keys: Vec<Arc<EpochKey>>,
}

/// Where one row's fields lie in its page, and what else the row says.
struct PageRow {
    /// The answer's own id, without the placement its stored key may carry: what its sealing bound,
    /// and what a fingerprint counts (the same before and after a scrub).
    id: Range<usize>,
    month: Range<usize>,
    epoch: Range<usize>,
    sealed: Range<usize>,
    survey_version: i32,
    verified: bool,
    synthetic: bool,
    /// Index of its epoch key in `keys` (`None`: the row names no epoch this run can open).
    key: Option<usize>,
}

impl SealedPage {
    fn push(&mut self, row: responses::SealedRow) {
        let mut text = |s: &str| {
            let at = self.text.len();
            self.text.push_str(s);
            at..self.text.len()
        };
        let (id, month, epoch) = (text(responses::answer_id(&row.id)), text(&row.month), text(&row.epoch_id));
        let at = self.sealed.len();
        self.sealed.extend_from_slice(&row.sealed);
        self.rows.push(PageRow {
            id,
            month,
            epoch,
            sealed: at..self.sealed.len(),
            survey_version: row.survey_version,
            verified: row.verified,
            synthetic: row.synthetic,
            key: None,
        });
    }

    fn head(&self, row: &PageRow) -> RowHead<'_> {
        RowHead { id: &self.text[row.id.clone()], verified: row.verified, synthetic: row.synthetic }
    }
}

/// How one row went: opened (perhaps only under the version 1 associated data), or not.
enum Opened {
    Current(Padded),
    Legacy(Padded),
    Failed,
}

fn open_row(key: Option<&EpochKey>, slug: &str, page: &SealedPage, row: &PageRow) -> Opened {
    let Some(key) = key else { return Opened::Failed };
    let aad = AnswerAad {
        response_id: &page.text[row.id.clone()],
        survey_slug: slug,
        survey_version: row.survey_version,
        epoch_id: &page.text[row.epoch.clone()],
        month: &page.text[row.month.clone()],
        verified: row.verified,
        synthetic: row.synthetic,
    };
    let sealed = &page.sealed[row.sealed.clone()];
    match seal::open_answer(key, &aad, sealed) {
        Ok(p) => Opened::Current(p),
        Err(_) => match seal::open_legacy_answer(key, &aad, sealed) {
            Ok(p) => Opened::Legacy(p),
            Err(_) => Opened::Failed,
        },
    }
}

impl SealedPage {
    /// Open every row, counting into `n`, and hand each opened answer to `each`.
    fn open(&self, slug: &str, n: &mut Streamed, mut each: impl FnMut(OpenedAnswer<'_>)) {
        for row in &self.rows {
            let plaintext = match open_row(row.key.map(|k| &*self.keys[k]), slug, self, row) {
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
                id: &self.text[row.id.clone()],
                survey_version: row.survey_version,
                month: &self.text[row.month.clone()],
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

    /// Read the scan's next page and find each row's epoch key. `None` at the end.
    fn next_page(&mut self, conn: &mut DbConn, scan: &mut Scan) -> Result<Option<SealedPage>, KeyringError> {
        let mut page = SealedPage::default();
        if scan.next(conn, PAGE, |row| page.push(row))? == 0 {
            return Ok(None);
        }
        let mut index: HashMap<String, Option<usize>> = HashMap::new();
        for r in 0..page.rows.len() {
            let epoch = &page.text[page.rows[r].epoch.clone()];
            let k = match index.get(epoch) {
                Some(k) => *k,
                None => {
                    let k = self.epoch_key(conn, epoch)?.map(|key| {
                        page.keys.push(key);
                        page.keys.len() - 1
                    });
                    index.insert(epoch.to_owned(), k);
                    k
                }
            };
            page.rows[r].key = k;
        }
        Ok(Some(page))
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
        mut each: impl FnMut(OpenedAnswer<'_>) -> Result<(), KeyringError>,
    ) -> Result<Streamed, KeyringError> {
        let through = through.to_string();
        responses::reading(conn, |conn| {
            let mut scan = Scan::open(conn, slug, &through, excluded_months)?;
            let mut n = Streamed::default();
            let mut failed = None;
            while let Some(page) = self.next_page(conn, &mut scan)? {
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
        })
    }

    /// As [`Unsealed::for_each_answer`], with the work split: this thread reads pages (and shows
    /// `head` every row), `threads` others open them and hand each opened answer to
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
        each: impl Fn(&mut S, OpenedAnswer<'_>) + Sync,
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
            let read = responses::reading(conn, |conn| {
                let mut scan = Scan::open(conn, slug, &through, excluded_months)?;
                while !stop.load(Ordering::Relaxed) {
                    let Some(page) = self.next_page(conn, &mut scan)? else { break };
                    for row in &page.rows {
                        head(page.head(row));
                    }
                    if tx.send(page).is_err() {
                        break;
                    }
                }
                Ok::<_, KeyringError>(())
            });
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
