//! SQLite's checkpoints, taken off the writer's thread.
//!
//! Left to itself, SQLite checkpoints inside the commit that pushes the -wal past 1,000 pages: the
//! writer then copies megabytes into the database file and fsyncs it while every waiting answer
//! waits with it. On the load benchmark that was a fifth of the writer's samples (docs/benchmarks.md,
//! 2026-12-01 after midnight), and moving it here halved the p99 (2026-12-01 morning). Here a thread of its own runs a PASSIVE
//! checkpoint every `EVERY`, on its own connection, beside the writer's commits; the writer keeps an
//! automatic checkpoint only as a backstop (`BACKSTOP_PAGES`) should this thread fall behind.
//!
//! What this thread cannot do alone is restart the -wal. SQLite writes from the start of the -wal
//! again only when a write transaction begins while every frame in it has been copied; under a steady
//! flood the writer commits every millisecond or so, each pass here takes ten or more, so a pass never
//! ends with nothing left, and the -wal grew to the backstop. There the writer's own checkpoint copied
//! what the last 100 ms had left, and flushed it, inside a commit: 30 to 130 ms during which no answer
//! was stored, about once a second on a database of a million answers, which is what pushed the p99
//! up as the database grew (docs/benchmarks.md). So once the -wal is past `RESTART_AT` frames and a
//! pass here has copied all it saw, this thread says so (`restart_due`), and the writer, between two
//! batches, runs one more PASSIVE checkpoint itself: it copies only the frames committed during that
//! pass, and its next transaction starts the -wal over.
//!
//! That last checkpoint must flush the database file before the -wal's frames may be written over,
//! and SQLite flushes it only in a checkpoint that reaches the end of the -wal, which under load only
//! the writer's does: so it flushed every page copied since the last one, tens of milliseconds. This
//! thread therefore flushes the database file itself after each pass (`pre_flush`), and the writer's
//! flush finds only the pages of its own few frames. Nothing depends on that early flush for safety:
//! SQLite still flushes before the restart as it always did.
//!
//! Nothing on disk changes in kind: the -wal holds the same frames until they are overwritten, and
//! the scrub still empties it (`scrub::empty_wal`, which retries when this thread holds the lock).

use std::{
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc::{self, RecvTimeoutError, Sender},
    },
    thread,
    time::Duration,
};

use diesel::{RunQueryDsl, SqliteConnection, sql_types::Integer};

use super::{DbConn, Store, StoreError};

/// How often the checkpoint runs. 50 to 200 ms measured alike; a PASSIVE checkpoint of an idle -wal
/// costs a lock and a read of the wal-index.
const EVERY: Duration = Duration::from_millis(100);

/// The writer's own automatic checkpoint, only reached if this thread has stopped or fallen behind
/// (about 80 MiB of -wal at 8 KiB pages).
pub const BACKSTOP_PAGES: u32 = 10_000;

/// Frames (8 KiB each) past which the -wal is started over (module note): 16 MiB.
pub const RESTART_AT: i32 = 2_000;

/// Stops the checkpoint thread when dropped (after one last checkpoint).
pub struct Checkpointer {
    _stop: Sender<()>,
    restart_due: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Whether the writer should checkpoint the last few frames itself now, so its next transaction
    /// starts the -wal over (module note). True once per pass that asked for it.
    pub fn restart_due(&self) -> bool {
        self.restart_due.swap(false, Ordering::Relaxed)
    }
}

/// What `PRAGMA wal_checkpoint` answers.
#[derive(diesel::QueryableByName)]
pub struct Pass {
    /// 1 when the checkpoint could not run (another held its lock).
    #[diesel(sql_type = Integer)]
    pub busy: i32,
    /// Frames in the -wal.
    #[diesel(sql_type = Integer)]
    pub log: i32,
    /// Of which copied into the database.
    #[diesel(sql_type = Integer)]
    pub checkpointed: i32,
}

/// One PASSIVE checkpoint: it never waits for the writer or readers, it copies what it can and returns.
pub fn passive(conn: &mut SqliteConnection) -> diesel::QueryResult<Pass> {
    diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE);").get_result(conn)
}

/// Whether a pass leaves the writer's final step worth taking: everything it saw is copied, and the
/// -wal is long enough to be started over.
fn restart_due(pass: &Pass) -> bool {
    pass.busy == 0 && pass.log >= RESTART_AT && pass.checkpointed == pass.log
}

/// Start the checkpoint thread for a SQLite store; PostgreSQL checkpoints itself, so `None` there.
pub fn start(store: &Store) -> Result<Option<Checkpointer>, StoreError> {
    let (DbConn::Sqlite(mut conn), Some(path)) = (store.dedicated()?, store.sqlite_path()) else {
        return Ok(None);
    };
    // Without the descriptor (a URI-style path SQLite reads and `File::open` does not) the passes only
    // leave more for the writer's step to flush.
    let db = database_file(&path)
        .map_err(|e| tracing::warn!(error = %e, "the database file will not be flushed after each checkpoint"))
        .ok();
    let (stop, stopped) = mpsc::channel::<()>();
    let restart = Arc::new(AtomicBool::new(false));
    let due = restart.clone();
    thread::Builder::new()
        .name("chorus-checkpoint".into())
        .spawn(move || {
            let mut copied = 0;
            loop {
                let last = matches!(stopped.recv_timeout(EVERY), Err(RecvTimeoutError::Disconnected));
                // A failure (the scrub holding the checkpoint lock) is tried again at the next tick.
                match passive(&mut conn) {
                    Ok(pass) => {
                        if let Some(db) = db.as_deref()
                            && pass.busy == 0
                            && pass.checkpointed != copied
                        {
                            copied = pass.checkpointed;
                            pre_flush(db);
                        }
                        due.store(restart_due(&pass), Ordering::Relaxed);
                    }
                    Err(e) => tracing::debug!(error = %e, "passive checkpoint did not run"),
                }
                if last {
                    break;
                }
            }
        })
        .map_err(StoreError::Thread)?;
    Ok(Some(Checkpointer { _stop: stop, restart_due: restart }))
}

/// Flush what the passes copied into the database file (module note). A failure is only logged: the
/// writer's checkpoint flushes the file again, through SQLite, and fails the restart if it cannot.
fn pre_flush(db: &File) {
    if let Err(e) = db.sync_data() {
        tracing::warn!(error = %e, "could not flush the database file after a checkpoint");
    }
}

/// A descriptor of the database file, opened once per file and never closed. Closing any descriptor
/// of a file drops every POSIX lock this process holds on it (fcntl semantics), SQLite's own among
/// them, and another process (a console command) could then take itself for the database's last user
/// and remove the -wal under this one. One descriptor per database file the process ever opens; a file
/// replaced at the same path is only flushed later, by SQLite, since nothing depends on this flush.
fn database_file(path: &Path) -> std::io::Result<Arc<File>> {
    static OPEN: LazyLock<Mutex<HashMap<PathBuf, Arc<File>>>> = LazyLock::new(Mutex::default);
    let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(file) = open.get(path) {
        return Ok(file.clone());
    }
    let file = Arc::new(File::open(path)?);
    open.insert(path.to_owned(), file.clone());
    Ok(file)
}

/// The writer's final step (module note), between two of its transactions. Returns the pass's
/// outcome for the tests; a failure only means the -wal is started over a little later.
pub fn restart_step(conn: &mut DbConn) -> Option<Pass> {
    let DbConn::Sqlite(c) = conn else { return None };
    passive(c).map_err(|e| tracing::debug!(error = %e, "the writer's checkpoint did not run")).ok()
}

#[cfg(test)]
mod tests {
    use diesel::{Connection, connection::SimpleConnection};

    use super::*;

    /// Frames in the -wal, read from the wal-index header in -shm (`mxFrame`), so looking changes
    /// nothing: a checkpoint run to look would itself copy frames.
    fn wal_frames(db: &Path) -> u32 {
        let shm = std::fs::read(db.with_extension("db-shm")).expect("-shm");
        u32::from_ne_bytes(shm[16..20].try_into().expect("four bytes"))
    }

    #[test]
    fn the_writers_step_lets_its_next_transaction_start_the_wal_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let mut c = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
        c.batch_execute("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x BLOB);").unwrap();
        let mut writer = DbConn::Sqlite(c);
        // One commit per row, as the writer's batches: each appends frames to the -wal.
        let commits =
            |w: &mut DbConn| (0..50).for_each(|_| w.batch_execute("INSERT INTO t VALUES (randomblob(3000));").unwrap());
        while wal_frames(&db) < RESTART_AT as u32 {
            commits(&mut writer);
        }
        let grown = wal_frames(&db);
        commits(&mut writer);
        assert!(wal_frames(&db) > grown, "with frames left to copy, a transaction appends to the -wal");

        let pass = restart_step(&mut writer).expect("a SQLite connection checkpoints");
        assert_eq!((pass.busy, pass.checkpointed), (0, pass.log), "the step copies every frame");
        commits(&mut writer);
        assert!(wal_frames(&db) < 200, "the -wal was not started over: {} frames", wal_frames(&db));
    }

    #[test]
    fn the_writer_is_asked_only_after_a_complete_pass_over_a_long_wal() {
        let pass = |busy, log, checkpointed| Pass { busy, log, checkpointed };
        assert!(restart_due(&pass(0, RESTART_AT, RESTART_AT)));
        assert!(restart_due(&pass(0, 9_000, 9_000)));
        assert!(!restart_due(&pass(0, RESTART_AT - 1, RESTART_AT - 1)), "short -wal");
        assert!(!restart_due(&pass(0, 9_000, 8_999)), "frames left behind");
        assert!(!restart_due(&pass(1, 9_000, 9_000)), "the pass did not run");
        assert!(!restart_due(&pass(0, -1, -1)), "not in WAL mode");
    }
}
