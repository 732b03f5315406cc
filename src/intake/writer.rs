//! Durable group commit. One writer thread owns a database connection of its own; it takes every
//! answer waiting in its queue, stores them all in one transaction (one fsync on SQLite with
//! `synchronous = FULL`, one WAL flush on PostgreSQL with `synchronous_commit = on`), and only then
//! tells each waiting request whether its row is committed. A receipt is shown only after that.

use std::{
    sync::mpsc::{self, Receiver, Sender},
    thread,
};

use diesel::Connection;
use tokio::sync::oneshot;

use super::SubmitError;
use crate::store::{DbConn, Store, StoreError, defences, form_tokens, responses::ResponseRow};

/// The most rows one transaction takes: enough to amortise the commit, small enough to answer fast.
const MAX_BATCH: usize = 512;

/// One answer ready to be stored: its sealed row and what must be spent with it.
pub struct Job {
    pub row: ResponseRow,
    /// (token hash, form key id) of a form token to spend.
    pub token: Option<(Vec<u8>, String)>,
    /// Hash of an outreach code to spend.
    pub code: Option<Vec<u8>>,
    pub reply: oneshot::Sender<Result<(), SubmitError>>,
}

pub struct Writer {
    queue: Sender<Job>,
}

impl Writer {
    /// Start the writer thread on its own connection.
    pub fn start(store: &Store) -> Result<Self, StoreError> {
        let conn = store.dedicated()?;
        let (queue, jobs) = mpsc::channel();
        let store = store.clone();
        thread::Builder::new()
            .name("chorus-writer".into())
            .spawn(move || run(conn, store, jobs))
            .map_err(StoreError::Thread)?;
        Ok(Self { queue })
    }

    /// Queue a row and wait until it is committed (or refused). Never answers before the commit.
    pub async fn commit(
        &self,
        job_row: ResponseRow,
        token: Option<(Vec<u8>, String)>,
        code: Option<Vec<u8>>,
    ) -> Result<(), SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { row: job_row, token, code, reply })
            .map_err(|_| SubmitError::Store(StoreError::WriterStopped))?;
        answer.await.map_err(|_| SubmitError::Store(StoreError::WriterStopped))?
    }
}

/// One job inside the batch transaction, under its own savepoint: a spent token or code (or a
/// failing row) refuses that answer alone, never its neighbours.
fn store_one(conn: &mut DbConn, job: &Job) -> Result<(), SubmitError> {
    conn.transaction(|conn| {
        if let Some((hash, key)) = &job.token
            && !form_tokens::spend(conn, hash, key)?
        {
            return Err(SubmitError::AlreadyReceived);
        }
        if let Some(code) = &job.code
            && !defences::spend_code(conn, &job.row.survey_slug, code)?
        {
            return Err(SubmitError::BadCode(super::CodeProblem::NotValid));
        }
        crate::store::responses::insert(conn, &job.row)?;
        Ok(())
    })
}

fn run(mut conn: DbConn, store: Store, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut results: Vec<Result<(), SubmitError>> = Vec::with_capacity(batch.len());
        let committed = conn.transaction(|conn| {
            results = batch.iter().map(|job| store_one(conn, job)).collect();
            Ok::<_, diesel::result::Error>(())
        });
        match committed {
            Ok(()) => {
                for (job, result) in batch.into_iter().zip(results) {
                    // A waiter that has gone (its client disconnected) needs no answer; the row is stored.
                    drop(job.reply.send(result));
                }
            }
            Err(e) => {
                // Nothing of this batch is stored: every request hears so, none gets a receipt.
                tracing::error!(error = %e, rows = batch.len(), "group commit failed");
                for job in batch {
                    let refused =
                        Err(SubmitError::Store(StoreError::Query(diesel::result::Error::RollbackTransaction)));
                    drop(job.reply.send(refused));
                }
                // The connection may be broken; take a fresh one for the next batch.
                if let Ok(fresh) = store.dedicated() {
                    conn = fresh;
                }
            }
        }
    }
}
