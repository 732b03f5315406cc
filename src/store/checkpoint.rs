//! SQLite's checkpoints, taken off the writer's thread.
//!
//! Left to itself, SQLite checkpoints inside the commit that pushes the -wal past 1,000 pages: the
//! writer then copies megabytes into the database file and fsyncs it while every waiting answer
//! waits with it. On the load benchmark that was a fifth of the writer's samples (docs/benchmarks.md,
//! 2026-12-01 after midnight), and moving it here halved the p99 (2026-12-01 morning). Here a thread of its own runs a PASSIVE
//! checkpoint every `EVERY`, on its own connection, beside the writer's commits; the writer keeps an
//! automatic checkpoint only as a backstop (`BACKSTOP_PAGES`) should this thread fall behind.
//!
//! Nothing on disk changes in kind: the -wal holds the same frames until they are overwritten, and
//! the scrub still empties it (`scrub::empty_wal`, which retries when this thread holds the lock).

use std::{
    sync::mpsc::{self, RecvTimeoutError, Sender},
    thread,
    time::Duration,
};

use diesel::connection::SimpleConnection;

use super::{DbConn, Store, StoreError};

/// How often the checkpoint runs. 50 to 200 ms measured alike; a PASSIVE checkpoint of an idle -wal
/// costs a lock and a read of the wal-index.
const EVERY: Duration = Duration::from_millis(100);

/// The writer's own automatic checkpoint, only reached if this thread has stopped or fallen behind
/// (about 80 MiB of -wal at 8 KiB pages).
pub const BACKSTOP_PAGES: u32 = 10_000;

/// Stops the checkpoint thread when dropped (after one last checkpoint).
pub struct Checkpointer {
    _stop: Sender<()>,
}

/// Start the checkpoint thread for a SQLite store; PostgreSQL checkpoints itself, so `None` there.
pub fn start(store: &Store) -> Result<Option<Checkpointer>, StoreError> {
    let mut conn = match store.dedicated()? {
        DbConn::Sqlite(c) => c,
        DbConn::Postgres(_) => return Ok(None),
    };
    let (stop, stopped) = mpsc::channel::<()>();
    thread::Builder::new()
        .name("chorus-checkpoint".into())
        .spawn(move || {
            loop {
                let last = matches!(stopped.recv_timeout(EVERY), Err(RecvTimeoutError::Disconnected));
                // PASSIVE never waits for the writer or readers: it copies what it can and returns. A
                // failure (the scrub holding the checkpoint lock) is tried again at the next tick.
                if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                    tracing::debug!(error = %e, "passive checkpoint did not run");
                }
                if last {
                    break;
                }
            }
        })
        .map_err(StoreError::Thread)?;
    Ok(Some(Checkpointer { _stop: stop }))
}
