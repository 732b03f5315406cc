//! SQLite's WAL checkpoints on a thread of their own, beside the writer.
//!
//! SQLite checkpoints in the thread that commits: every thousand pages, the writer would stop taking
//! answers to copy the WAL back into the database file and fsync it (a sixth of its time under load,
//! docs/benchmarks.md). Here a second connection copies what the writer committed, a moment after
//! each nudge, with a PASSIVE checkpoint (it never blocks the writer or a reader). The writer keeps
//! SQLite's own autocheckpoint as the bound on the WAL's size: by the time it fires, the pages are
//! already copied and it has next to nothing left to do, and the WAL starts again from its beginning.

use std::{
    sync::mpsc::{self, Receiver, SyncSender, TrySendError},
    thread,
    time::Duration,
};

use diesel::connection::SimpleConnection;

use super::{DbConn, Store, StoreError};

/// How long the checkpointer waits after a nudge, so one checkpoint (and its fsync) covers the
/// commits of a burst rather than each one.
const GATHER: Duration = Duration::from_millis(20);

/// A handle the writer nudges after each commit. Dropping it stops the thread.
pub struct Checkpointer {
    nudge: SyncSender<()>,
}

impl Checkpointer {
    /// Start the thread on a connection of its own; `None` on PostgreSQL (no WAL file to copy).
    pub fn start(store: &Store) -> Result<Option<Self>, StoreError> {
        let mut conn = store.dedicated()?;
        if !matches!(conn, DbConn::Sqlite(_)) {
            return Ok(None);
        }
        // The writer's own checkpoint (or a scrub's) may hold the checkpoint lock; this one waits
        // briefly, then tries again at the next nudge.
        conn.batch_execute("PRAGMA busy_timeout = 100;").map_err(StoreError::Setup)?;
        let (nudge, nudged) = mpsc::sync_channel(1);
        thread::Builder::new()
            .name("chorus-checkpoint".into())
            .spawn(move || run(conn, nudged))
            .map_err(StoreError::Thread)?;
        Ok(Some(Self { nudge }))
    }

    /// Something was committed: copy it back soon. Never waits.
    pub fn nudge(&self) {
        match self.nudge.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }
}

fn run(mut conn: DbConn, nudged: Receiver<()>) {
    while nudged.recv().is_ok() {
        thread::sleep(GATHER);
        while nudged.try_recv().is_ok() {}
        // A failed checkpoint loses nothing (the pages stay in the WAL, committed); the next nudge or
        // the writer's own checkpoint copies them.
        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
            tracing::debug!(error = %e, "a background checkpoint did not run");
        }
    }
}
