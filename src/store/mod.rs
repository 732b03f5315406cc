//! Storage: one diesel code path over SQLite (embedded default) or PostgreSQL, picked by the URL scheme.
//! Backend-specific SQL stays inside this module tree.

use std::time::Duration;

use diesel::{Connection, connection::SimpleConnection, pg::PgConnection, r2d2, sqlite::SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use crate::config::Backend;
use crate::config::{DatabaseUrl, SqliteSync};

/// A closed set of states kept in a TEXT column (with a CHECK constraint in the migrations). Rows read
/// an unknown value as a corrupt row, never as a guess.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::store::StoreError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::parse(&text).ok_or_else(|| $crate::store::StoreError::corrupt(stringify!($name), text))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod budgets;
pub mod checkpoint;
pub mod defences;
pub mod form_tokens;
pub mod keys;
pub mod responses;
pub mod retention;
pub mod schema;
pub mod scrub;
pub mod signing_keys;
pub mod snapshots;
pub mod staff;
pub mod surveys;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL: {0}")]
    Url(String),
    #[error("database connection failed")]
    Connect(#[source] diesel::ConnectionError),
    #[error("could not create the database's folder")]
    Folder(#[source] std::io::Error),
    #[error("could not set up the database connection")]
    Setup(#[source] diesel::result::Error),
    #[error("database migration failed")]
    Migrate(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database pool: {0}")]
    Pool(#[source] r2d2::PoolError),
    /// A row that cannot be read back as it was written: the database was altered or damaged.
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("the group-commit writer has stopped")]
    WriterStopped,
    #[error("could not start {0}")]
    Thread(#[source] std::io::Error),
    #[error("a blocking database task panicked or was cancelled")]
    Blocking,
}

impl StoreError {
    pub fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt { what, detail: detail.to_string() }
    }
}

impl DbConn {
    /// Whether the connection's transport or transaction state is unusable (diesel's own check).
    pub fn is_broken(&mut self) -> bool {
        use diesel::r2d2::R2D2Connection;
        match self {
            Self::Sqlite(c) => c.is_broken(),
            Self::Postgres(c) => c.is_broken(),
        }
    }
}

impl DbConn {
    /// A transaction that writes. On SQLite it takes the write lock at `BEGIN IMMEDIATE`, waiting for
    /// it up to the busy timeout: a transaction that began as a reader cannot take the lock once
    /// another connection (the writer, during a flood) has committed since its first read, and SQLite
    /// then refuses its write at once ("database is locked") instead of waiting. PostgreSQL waits on
    /// row locks by itself.
    pub fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        let Self::Sqlite(c) = self else { return self.transaction(f) };
        // Inside an outer transaction (which already began IMMEDIATE) this is a savepoint.
        let nested = AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()?.is_some();
        if nested {
            return self.transaction(f);
        }
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
        let outcome = f(self);
        let Self::Sqlite(c) = self else { unreachable!("the backend of a connection does not change") };
        match outcome {
            Ok(value) => {
                AnsiTransactionManager::commit_transaction(c)?;
                Ok(value)
            }
            Err(e) => {
                AnsiTransactionManager::rollback_transaction(c)?;
                Err(e)
            }
        }
    }
}

/// The writer's own connection (SQLite): statement journals and temporary tables in memory, never
/// in a temporary file (they hold copies of pages about to change, and a seized disk should not get
/// them). A larger page cache was measured and made the writer slower (docs/benchmarks.md). Its
/// commits checkpoint only as a backstop: `checkpoint` does that beside it.
pub fn tune_for_writing(conn: &mut DbConn) -> Result<(), StoreError> {
    if let DbConn::Sqlite(c) = conn {
        c.batch_execute(&format!(
            "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = {};",
            checkpoint::BACKSTOP_PAGES
        ))
        .map_err(StoreError::Setup)?;
    }
    Ok(())
}

/// The file of a `sqlite://PATH` URL: what follows the scheme, as SQLite opens it.
pub fn sqlite_file(url: &DatabaseUrl) -> &str {
    url.expose().trim_start_matches("sqlite://")
}

pub struct Manager {
    url: DatabaseUrl,
    backend: Backend,
    sync: SqliteSync,
}

impl Manager {
    fn establish(&self) -> Result<DbConn, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let path = sqlite_file(&self.url);
                let mut conn = SqliteConnection::establish(path).map_err(StoreError::Connect)?;
                let sync = match self.sync {
                    SqliteSync::Full => "FULL",
                    SqliteSync::Normal => "NORMAL",
                };
                // WAL lets readers run beside the writer; secure_delete overwrites withdrawn answers;
                // synchronous=FULL fsyncs the WAL at each commit so an acknowledged answer survives a power cut.
                // 8 KiB pages keep a sealed answer (about 1.1 KB) inside its B-tree leaf: with 4 KiB pages a
                // WITHOUT ROWID row that size spills to an overflow page of its own, quadrupling the file
                // and the reads of a report. It only takes effect when the database file is created.
                conn.batch_execute(&format!(
                    "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA synchronous = {sync};
                     PRAGMA secure_delete = ON; PRAGMA foreign_keys = ON;"
                ))
                .map_err(StoreError::Setup)?;
                Ok(DbConn::Sqlite(conn))
            }
            // The error text of libpq can echo the URL's host but never its password.
            Backend::Postgres => {
                PgConnection::establish(self.url.expose()).map(DbConn::Postgres).map_err(StoreError::Connect)
            }
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConn, StoreError> {
        self.establish()
    }
    fn is_valid(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        conn.batch_execute("SELECT 1").map_err(StoreError::Query)
    }
    /// A connection whose last use failed at the transport level is dropped, not pooled again: a dead
    /// PostgreSQL socket would otherwise fail the next request too.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

/// The shared handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    url: DatabaseUrl,
    sync: SqliteSync,
}

pub type Conn = r2d2::PooledConnection<Manager>;

impl Store {
    pub fn open(url: &DatabaseUrl, sync: SqliteSync) -> Result<Self, StoreError> {
        let backend = Backend::from_url(url.expose()).map_err(StoreError::Url)?;
        if backend == Backend::Sqlite {
            let path = std::path::Path::new(sqlite_file(url));
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(StoreError::Folder)?;
            }
        }
        let manager = Manager { url: url.clone(), backend, sync };
        let pool = r2d2::Pool::builder()
            .max_size(8)
            // No connection kept idle in reserve: with one, every checkout started a replacement on
            // r2d2's worker thread, and a console command that exited while it was being made
            // crashed there (SIGSEGV; foundation::console_commands_exit_cleanly). Connections
            // returned to the pool are still reused.
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(10))
            // A broken connection shows itself on use; a `SELECT 1` before every checkout would add a
            // round trip to every request.
            .test_on_check_out(false)
            // r2d2 logs connection errors itself; ours never hold the URL's password.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(manager)
            .map_err(StoreError::Pool)?;
        Ok(Self { pool, backend, url: url.clone(), sync })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite database's file; None on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        (self.backend == Backend::Sqlite).then(|| sqlite_file(&self.url).into())
    }

    /// A connection of its own, outside the pool: for the group-commit writer, which must never wait
    /// for a pooled connection held by a request that is waiting for it.
    pub fn dedicated(&self) -> Result<DbConn, StoreError> {
        Manager { url: self.url.clone(), backend: self.backend, sync: self.sync }.establish()
    }

    pub fn conn(&self) -> Result<Conn, StoreError> {
        self.pool.get().map_err(StoreError::Pool)
    }

    /// Run pending migrations of this backend's tree; returns how many ran.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let ran = match &mut *conn {
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
        };
        ran.map_err(StoreError::Migrate)
    }

    /// Run blocking database work on the runtime's blocking pool, never on an async worker thread.
    pub async fn run<T, F, E>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = store.conn()?;
            f(&mut conn)
        })
        .await
        .map_err(|_| StoreError::Blocking)?
    }

    /// A quick reachability check for /healthz: it waits two seconds at most for a connection.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get_timeout(Duration::from_secs(2)).map_err(StoreError::Pool)?;
            conn.batch_execute("SELECT 1").map_err(StoreError::Query)
        })
        .await
        .map_err(|_| StoreError::Blocking)?
    }
}
