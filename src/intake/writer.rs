//! Durable group commit, and the one thread that writes what respondents cause. It owns a database
//! connection of its own; it takes every job waiting in its queue, stores a batch of answers in one
//! transaction, their rows in one multi-row INSERT (per 32 rows on SQLite, `responses::insert_many`;
//! one fsync on SQLite with `synchronous = FULL`, one WAL flush on PostgreSQL with
//! `synchronous_commit = on`), and only then tells each waiting request whether its row is committed.
//!
//! What this thread does, and why each is here:
//! - answers of one batch are stored in a random order, so neither the WAL nor PostgreSQL's heap and
//!   `xmin` show which arrived first within it;
//! - an outreach code is never spent in the answer's transaction: its hash goes to `PendingCodes`
//!   (RAM) and is spent later with at least `SPEND_BATCH` others in a shuffled transaction of its own,
//!   or by the scrub, so no commit, frame run or `xmin` joins a code (and its batch label) to an answer;
//! - withdrawals are queued jobs like answers: a delete that matches zero or one row, committed the
//!   same way either way, so timing cannot tell a real receipt from a made-up one;
//! - the scrub runs here, so answers arriving meanwhile wait in the queue and are never refused.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        mpsc::{self, Receiver, Sender},
    },
    thread,
    time::{Duration, Instant},
};

use rand::seq::SliceRandom;
use tokio::sync::oneshot;

use super::SubmitError;
use crate::metrics::Metrics;
use crate::store::{
    DbConn, Store, StoreError, checkpoint, defences, form_tokens,
    responses::{self, Placement, ReceiptKey, ResponseRow},
    scrub::{self, Scope, ScrubReport},
};

/// The most answers one transaction takes: enough to amortise the commit, small enough to answer fast.
const MAX_BATCH: usize = 512;

/// About how many answers one scrub transaction rewrites: a fraction of a second on either backend
/// (docs/benchmarks.md), which is the longest a submission waits during a scrub.
pub const SCRUB_CHUNK_ROWS: i64 = 4_000;

/// Codes are spent in the database only once at least this many wait, so a spend's commit can be
/// narrowed to no fewer than this many verified answers; the scrub spends any remainder.
pub const SPEND_BATCH: usize = 16;

/// Outreach codes accepted with an answer but not yet marked used in the database: (survey, code hash).
/// `Intake::look_up` and the writer both refuse a code found here, so a code still works exactly once
/// while its spend waits.
#[derive(Clone, Default)]
pub struct PendingCodes(Arc<Mutex<HashSet<PendingCode>>>);

/// (survey slug, code hash)
type PendingCode = (String, Vec<u8>);

impl PendingCodes {
    pub fn contains(&self, slug: &str, hash: &[u8]) -> bool {
        self.lock().contains(&(slug.to_owned(), hash.to_vec()))
    }
    pub fn len(&self) -> usize {
        self.lock().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<PendingCode>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One answer ready to be stored: its sealed row and what must be spent with it.
pub struct Submission {
    pub row: ResponseRow,
    /// (token hash, form key id) of a form token to spend.
    pub token: Option<(Vec<u8>, String)>,
    /// Hash of an outreach code to spend (later, see the module note).
    pub code: Option<Vec<u8>>,
    /// The placement its row was stored under, for its receipt (`Receipt::place`).
    pub reply: oneshot::Sender<Result<Placement, SubmitError>>,
}

enum Job {
    Submit(Submission),
    /// Delete the row this receipt finds (a random receipt's when the typed one did not parse).
    Withdraw(ReceiptKey, oneshot::Sender<Result<(), StoreError>>),
    /// Scope, and about how many answers each chunk's transaction rewrites.
    Scrub(Scope, i64, oneshot::Sender<Result<ScrubReport, StoreError>>),
}

pub struct Writer {
    queue: Sender<Job>,
    pub pending: PendingCodes,
}

impl Writer {
    /// Start the writer thread on its own connection.
    pub fn start(store: &Store, metrics: Arc<Metrics>) -> Result<Self, StoreError> {
        let mut conn = store.dedicated()?;
        crate::store::tune_for_writing(&mut conn)?;
        // An external `chorus scrub` may hold SQLite's write lock for a while: the writer waits for
        // it (answers queue) instead of failing them after the pool's usual ten seconds.
        scrub::wait_for_locks(&mut conn)?;
        let (queue, jobs) = mpsc::channel();
        let pending = PendingCodes::default();
        // Lives as long as the writer's thread: the last checkpoint follows the last commit.
        let checkpointer = checkpoint::start(store)?;
        let (store, shared) = (store.clone(), pending.clone());
        thread::Builder::new()
            .name("chorus-writer".into())
            .spawn(move || run(conn, Ctx { store, metrics, checkpointer }, jobs, shared))
            .map_err(StoreError::Thread)?;
        Ok(Self { queue, pending })
    }

    /// Queue a row and wait until it is committed (or refused). Never answers before the commit; the
    /// answer is the placement the row was stored under.
    pub async fn commit(
        &self,
        row: ResponseRow,
        token: Option<(Vec<u8>, String)>,
        code: Option<Vec<u8>>,
    ) -> Result<Placement, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job::Submit(Submission { row, token, code, reply }))
            .map_err(|_| SubmitError::Store(StoreError::WriterStopped))?;
        answer.await.map_err(|_| SubmitError::Store(StoreError::WriterStopped))?
    }

    /// Queue a withdrawal (a delete of zero or one row) and wait for its commit.
    pub async fn withdraw(&self, key: ReceiptKey) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Job::Withdraw(key, reply)).map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Spend every waiting code and rewrite what the submit path wrote (see `store::scrub`). Answers
    /// sent meanwhile wait in the queue.
    pub async fn scrub(&self, scope: Scope, chunk_rows: i64) -> Result<ScrubReport, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Job::Scrub(scope, chunk_rows, reply)).map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

/// Whether an answer's outreach code may be taken: not waiting in the pending set already (so a second
/// answer with it, even in the same batch, is refused) and usable in the database. Checked, not spent:
/// the caller puts it in the pending set.
fn check_code(conn: &mut DbConn, slug: &str, code: &[u8], pending: &PendingCodes) -> Result<(), SubmitError> {
    if pending.contains(slug, code) || !defences::code_usable(conn, slug, code)? {
        return Err(SubmitError::BadCode(super::CodeProblem::NotValid));
    }
    Ok(())
}

/// What one answer must spend before its row may be stored, when a batch is stored answer by answer
/// (`store_one`; a batch goes through `claim_batch`, which decides the same way): its outreach code
/// (`check_code`) and its form token (spent under the answer's own savepoint, so a spent token refuses
/// that answer alone). The caller removes the code again if the batch fails.
fn claim(conn: &mut DbConn, slug: &str, job: &Waiter, pending: &PendingCodes) -> Result<(), SubmitError> {
    if job.token.is_none() && job.code.is_none() {
        return Ok(());
    }
    conn.write_transaction(|conn| {
        if let Some(code) = &job.code {
            check_code(conn, slug, code, pending)?;
        }
        if let Some((hash, key)) = &job.token
            && !form_tokens::spend(conn, hash, key)?
        {
            return Err(SubmitError::AlreadyReceived);
        }
        Ok(())
    })?;
    if let Some(code) = &job.code {
        pending.lock().insert((slug.to_owned(), code.clone()));
    }
    Ok(())
}

/// `claim` for a whole batch, without a savepoint per answer (each was a round trip or three on
/// PostgreSQL): outreach codes first, in batch order (`check_code`; each taken joins the pending set
/// at once); then the form tokens of the answers still standing, spent together
/// (`form_tokens::spend_many`), so a token spent before or earlier in the batch refuses its answer,
/// which gives its code back. Nothing here should fail; if a statement does, every code taken is
/// given back and the batch is retried answer by answer.
fn claim_batch(
    conn: &mut DbConn,
    rows: &[ResponseRow],
    jobs: &[Waiter],
    pending: &PendingCodes,
) -> Result<Vec<Result<(), SubmitError>>, diesel::result::Error> {
    let mut results = Vec::with_capacity(jobs.len());
    for (row, job) in rows.iter().zip(jobs) {
        let result = job.code.as_ref().map_or(Ok(()), |code| check_code(conn, &row.survey_slug, code, pending));
        if let (Ok(()), Some(code)) = (&result, &job.code) {
            pending.lock().insert((row.survey_slug.clone(), code.clone()));
        }
        results.push(result);
    }
    let give_back = |i: usize| unclaim(pending, &rows[i].survey_slug, &jobs[i]);
    let standing: Vec<usize> = (0..jobs.len()).filter(|i| results[*i].is_ok()).collect();
    if results.iter().any(|r| matches!(r, Err(SubmitError::Store(_)))) {
        standing.into_iter().for_each(give_back);
        return Err(diesel::result::Error::RollbackTransaction);
    }
    let wanted: Vec<(usize, (&[u8], &str))> = standing
        .iter()
        .filter_map(|&i| jobs[i].token.as_ref().map(|(hash, key)| (i, (hash.as_slice(), key.as_str()))))
        .collect();
    let tokens: Vec<(&[u8], &str)> = wanted.iter().map(|(_, t)| *t).collect();
    let spent = match form_tokens::spend_many(conn, &tokens) {
        Ok(spent) => spent,
        Err(e) => {
            tracing::warn!(error = %e, "a batch's form tokens could not be spent together; storing it answer by answer");
            standing.into_iter().for_each(give_back);
            return Err(diesel::result::Error::RollbackTransaction);
        }
    };
    for ((i, _), fresh) in wanted.iter().zip(spent) {
        if !fresh {
            give_back(*i);
            results[*i] = Err(SubmitError::AlreadyReceived);
        }
    }
    Ok(results)
}

/// The slow way, used only when a batch's multi-row INSERT fails: one answer's claim and row under
/// one savepoint, so a row the database refuses costs that answer alone, never its neighbours.
fn store_one(conn: &mut DbConn, row: &ResponseRow, job: &Waiter, pending: &PendingCodes) -> Result<(), SubmitError> {
    conn.write_transaction(|conn| {
        claim(conn, &row.survey_slug, job, pending)?;
        if let Err(e) = responses::insert(conn, row) {
            unclaim(pending, &row.survey_slug, job);
            return Err(SubmitError::Store(e));
        }
        Ok(())
    })
}

/// Undo a claim's place in the pending set (its savepoint or transaction was rolled back).
fn unclaim(pending: &PendingCodes, slug: &str, job: &Waiter) {
    if let Some(code) = &job.code {
        pending.lock().remove(&(slug.to_owned(), code.clone()));
    }
}

/// Mark waiting codes used, in a random order, in a transaction of their own. Only when at least
/// `SPEND_BATCH` wait, unless `all` (the scrub, shutdown).
fn spend_codes(conn: &mut DbConn, pending: &PendingCodes, all: bool) -> Result<usize, StoreError> {
    let mut codes: Vec<PendingCode> = pending.lock().iter().cloned().collect();
    if codes.is_empty() || (!all && codes.len() < SPEND_BATCH) {
        return Ok(0);
    }
    codes.shuffle(&mut rand::rng());
    conn.write_transaction(|conn| {
        codes.iter().try_for_each(|(slug, hash)| defences::spend_code(conn, slug, hash).map(drop))
    })?;
    let mut set = pending.lock();
    for c in &codes {
        set.remove(c);
    }
    Ok(codes.len())
}

/// What the writer thread keeps beside its connection.
struct Ctx {
    store: Store,
    metrics: Arc<Metrics>,
    /// SQLite's checkpoint thread; dropped with this, after the last commit.
    checkpointer: Option<checkpoint::Checkpointer>,
}

fn run(mut conn: DbConn, ctx: Ctx, jobs: Receiver<Job>, pending: PendingCodes) {
    while let Ok(first) = jobs.recv() {
        if ctx.checkpointer.as_ref().is_some_and(checkpoint::Checkpointer::restart_due) {
            checkpoint::restart_step(&mut conn);
        }
        work(&mut conn, &ctx, &jobs, &pending, first);
    }
    // Every sender is gone (shutdown): spend what waits, so no code can be used twice after a restart.
    if let Err(e) = spend_codes(&mut conn, &pending, true) {
        tracing::error!(error = %e, "could not spend outreach codes at shutdown");
    }
}

/// Handle `first` and everything queued behind it, in queue order; answers are batched.
fn work(conn: &mut DbConn, ctx: &Ctx, jobs: &Receiver<Job>, pending: &PendingCodes, first: Job) {
    let mut batch = Vec::new();
    let mut next = Some(first);
    while let Some(job) = next.take() {
        match job {
            Job::Submit(s) => batch.push(s),
            // Withdrawals and scrubs keep their place in the queue: what came before is stored first.
            Job::Withdraw(hash, reply) => {
                commit_batch(conn, ctx, std::mem::take(&mut batch), pending);
                let done = conn.write_transaction(|conn| responses::delete_by_receipt(conn, &hash).map(drop));
                drop(reply.send(done));
            }
            Job::Scrub(scope, chunk_rows, reply) => {
                commit_batch(conn, ctx, std::mem::take(&mut batch), pending);
                let started = Instant::now();
                let mut later = Vec::new();
                // Between chunks, what queued meanwhile is committed (a second scrub waits its turn).
                let mut between = |conn: &mut DbConn| {
                    let mut waiting = Vec::new();
                    while let Ok(job) = jobs.try_recv() {
                        match job {
                            Job::Submit(s) => waiting.push(s),
                            Job::Withdraw(hash, reply) => {
                                commit_batch(conn, ctx, std::mem::take(&mut waiting), pending);
                                let done = conn.write_transaction(|c| responses::delete_by_receipt(c, &hash).map(drop));
                                drop(reply.send(done));
                            }
                            scrub @ Job::Scrub(..) => later.push(scrub),
                        }
                    }
                    commit_batch(conn, ctx, waiting, pending);
                };
                // The waiting codes are marked used inside the scrub's code transaction, and leave the
                // pending set only once the scrub has committed (a failed scrub leaves them pending).
                let mut spent: Vec<PendingCode> = Vec::new();
                let mut spend = |c: &mut DbConn| {
                    spent = pending.lock().iter().cloned().collect();
                    spent.iter().try_for_each(|(slug, hash)| defences::spend_code(c, slug, hash).map(drop))
                };
                let done = scrub::scrub(conn, scope, chunk_rows, &mut spend, &mut between)
                    .map(|r| ScrubReport { took: started.elapsed(), ..r });
                if done.is_ok() {
                    let mut set = pending.lock();
                    for c in &spent {
                        set.remove(c);
                    }
                }
                drop(reply.send(done));
                for job in later {
                    work(conn, ctx, jobs, pending, job);
                }
            }
        }
        if batch.len() < MAX_BATCH {
            next = jobs.try_recv().ok();
        }
    }
    commit_batch(conn, ctx, batch, pending);
    if let Err(e) = spend_codes(conn, pending, false) {
        tracing::error!(error = %e, "could not spend outreach codes; they stay pending");
    }
}

/// Arrival order must not become storage order (module note): a batch is stored in a random order.
fn in_storage_order<T>(batch: &mut [T]) {
    batch.shuffle(&mut rand::rng());
}

/// A submission's waiting request and what it must spend, apart from its row (the rows of a batch
/// travel together, to one multi-row INSERT).
struct Waiter {
    token: Option<(Vec<u8>, String)>,
    code: Option<Vec<u8>>,
    reply: oneshot::Sender<Result<Placement, SubmitError>>,
}

/// The batch in one transaction: every answer's claim (`claim_batch`), then every accepted
/// row in one multi-row INSERT (`responses::insert_many`), in the shuffled order. When that INSERT
/// fails it answers `RollbackTransaction`, and the caller goes row by row (`store_one`).
fn store_batch(
    conn: &mut DbConn,
    rows: &[ResponseRow],
    jobs: &[Waiter],
    pending: &PendingCodes,
    results: &mut Vec<Result<(), SubmitError>>,
) -> Result<(), diesel::result::Error> {
    *results = claim_batch(conn, rows, jobs, pending)?;
    let inserted = if results.iter().all(Result::is_ok) {
        responses::insert_many(conn, rows)
    } else {
        let accepted: Vec<ResponseRow> =
            rows.iter().zip(results.iter()).filter(|(_, r)| r.is_ok()).map(|(row, _)| row.clone()).collect();
        responses::insert_many(conn, &accepted)
    };
    if let Err(e) = inserted {
        tracing::warn!(error = %e, rows = rows.len(), "a batch's multi-row insert failed; storing it row by row");
        for ((row, job), _) in rows.iter().zip(jobs).zip(results.iter()).filter(|(_, r)| r.is_ok()) {
            unclaim(pending, &row.survey_slug, job);
        }
        // Roll the whole transaction back: the spent tokens are undone with it.
        return Err(diesel::result::Error::RollbackTransaction);
    }
    Ok(())
}

/// Whether the batch may go as one INSERT with no transaction around it: nothing to claim (no token,
/// no code: the API's answers), one statement, and PostgreSQL, where a statement is all or nothing.
/// Not SQLite: there a row refused with FAIL semantics (a trigger's `RAISE(FAIL)`) leaves the rows
/// the statement inserted before it, which autocommit would keep without receipts
/// (durability::a_row_the_database_refuses_costs_that_answer_alone).
fn alone_is_atomic(conn: &DbConn, rows: &[ResponseRow], jobs: &[Waiter]) -> bool {
    matches!(conn, DbConn::Postgres(_))
        && rows.len() <= responses::ROWS_PER_STATEMENT
        && jobs.iter().all(|j| j.token.is_none() && j.code.is_none())
}

fn commit_batch(conn: &mut DbConn, ctx: &Ctx, mut batch: Vec<Submission>, pending: &PendingCodes) {
    if batch.is_empty() {
        return;
    }
    in_storage_order(&mut batch);
    // One placement for the whole batch: its rows go side by side, into one or two leaf pages.
    let placement = Placement::random();
    for s in &mut batch {
        s.row.id = placement.key(&s.row.id);
    }
    let started = Instant::now();
    let (rows, jobs): (Vec<ResponseRow>, Vec<Waiter>) =
        batch.into_iter().map(|Submission { row, token, code, reply }| (row, Waiter { token, code, reply })).unzip();
    let mut results: Vec<Result<(), SubmitError>> = Vec::with_capacity(rows.len());
    let mut committed = if alone_is_atomic(conn, &rows, &jobs) {
        // The one INSERT is the transaction: no BEGIN and COMMIT round trips.
        match responses::insert_many(conn, &rows) {
            Ok(()) => {
                results.resize_with(rows.len(), || Ok(()));
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, rows = rows.len(), "a batch's multi-row insert failed; storing it row by row");
                Err(diesel::result::Error::RollbackTransaction)
            }
        }
    } else {
        conn.write_transaction(|conn| store_batch(conn, &rows, &jobs, pending, &mut results))
    };
    if matches!(committed, Err(diesel::result::Error::RollbackTransaction)) {
        results.clear();
        committed = conn.write_transaction(|conn| {
            results = rows.iter().zip(&jobs).map(|(row, job)| store_one(conn, row, job, pending)).collect();
            Ok::<_, diesel::result::Error>(())
        });
    }
    ctx.metrics.batch(rows.len(), started.elapsed());
    // If the transaction never began, no job ran: every one is refused below.
    results.resize_with(rows.len(), || Err(SubmitError::Store(StoreError::WriterStopped)));
    match committed {
        Ok(()) => {
            for (job, result) in jobs.into_iter().zip(results) {
                // A waiter that has gone (its client disconnected) needs no answer; the row is stored.
                drop(job.reply.send(result.map(|()| placement)));
            }
        }
        Err(e) => {
            // Nothing of this batch is stored: every request hears so, none gets a receipt, and no
            // code of it stays pending.
            tracing::error!(error = %e, rows = rows.len(), "group commit failed");
            for ((row, job), result) in rows.iter().zip(jobs).zip(results) {
                if result.is_ok() {
                    unclaim(pending, &row.survey_slug, &job);
                }
                let refused = Err(SubmitError::Store(StoreError::Query(diesel::result::Error::RollbackTransaction)));
                drop(job.reply.send(refused));
            }
            // The connection may be broken; take a fresh one for the next batch.
            if let Ok(mut fresh) = ctx.store.dedicated()
                && scrub::wait_for_locks(&mut fresh).is_ok()
            {
                *conn = fresh;
            }
        }
    }
}

/// The shortest time a withdrawal takes to answer, matched or not (issue 15 item 3).
pub const WITHDRAW_MIN: Duration = Duration::from_millis(120);

#[cfg(test)]
mod tests {
    use super::in_storage_order;

    /// Spearman's rank correlation between arrival position and storage position.
    fn rank_correlation(order: &[usize]) -> f64 {
        let n = order.len() as f64;
        let d2: f64 = order.iter().enumerate().map(|(i, &a)| (i as f64 - a as f64).powi(2)).sum();
        1.0 - 6.0 * d2 / (n * (n * n - 1.0))
    }

    #[test]
    fn a_batch_is_stored_in_an_order_unrelated_to_arrival() {
        // 500 answers arrived in order 0, 1, 2 …; at n = 500 the rank correlation of a random
        // permutation has a standard deviation of 0.045, so 0.25 is more than five of them.
        let mut batch: Vec<usize> = (0..500).collect();
        in_storage_order(&mut batch);
        let rho = rank_correlation(&batch);
        assert!(rho.abs() < 0.25, "storage order follows arrival order: rho = {rho:.3}");
    }
}
