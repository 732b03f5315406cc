//! Storage: one diesel code path over SQLite (embedded default) or PostgreSQL, picked by the URL scheme.
//! Backend-specific SQL stays inside this module tree.

use std::time::Duration;

use diesel::{Connection, connection::SimpleConnection, pg::PgConnection, r2d2, sqlite::SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::{DatabaseUrl, SqliteSync};

pub mod defences;
pub mod form_tokens;
pub mod keys;
pub mod responses;
pub mod schema;
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL: {0}")]
    Url(String),
    #[error("database connection failed: {0}")]
    Connect(String),
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database pool: {0}")]
    Pool(String),
    #[error("blocking task failed")]
    Blocking,
}

impl Backend {
    /// Dispatch on the scheme ourselves: diesel's MultiConnection would try SQLite, which takes any
    /// string as a file name, so a mistyped URL would silently create an empty database.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once("://").map(|(s, _)| s);
        match scheme {
            Some("sqlite") => Ok(Self::Sqlite),
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            Some(other) => Err(StoreError::Url(format!(
                "unsupported scheme `{other}://`; use sqlite://PATH or postgres://USER@HOST/DB"
            ))),
            None => Err(StoreError::Url("no scheme; use sqlite://PATH or postgres://USER@HOST/DB".into())),
        }
    }
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
                let path = self.url.expose().trim_start_matches("sqlite://");
                let mut conn = SqliteConnection::establish(path).map_err(|e| StoreError::Connect(e.to_string()))?;
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
                .map_err(|e| StoreError::Connect(e.to_string()))?;
                Ok(DbConn::Sqlite(conn))
            }
            // The error text of libpq can echo the URL's host but never its password.
            Backend::Postgres => PgConnection::establish(self.url.expose())
                .map(DbConn::Postgres)
                .map_err(|e| StoreError::Connect(e.to_string())),
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
    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
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
        let backend = Backend::from_url(url.expose())?;
        if backend == Backend::Sqlite {
            let path = std::path::Path::new(url.expose().trim_start_matches("sqlite://"));
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Connect(e.to_string()))?;
            }
        }
        let manager = Manager { url: url.clone(), backend, sync };
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            // A broken connection shows itself on use; a `SELECT 1` before every checkout would add a
            // round trip to every request.
            .test_on_check_out(false)
            // r2d2 logs connection errors itself; ours never hold the URL's password.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(manager)
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        Ok(Self { pool, backend, url: url.clone(), sync })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection of its own, outside the pool: for the group-commit writer, which must never wait
    /// for a pooled connection held by a request that is waiting for it.
    pub fn dedicated(&self) -> Result<DbConn, StoreError> {
        Manager { url: self.url.clone(), backend: self.backend, sync: self.sync }.establish()
    }

    pub fn conn(&self) -> Result<Conn, StoreError> {
        self.pool.get().map_err(|e| StoreError::Pool(e.to_string()))
    }

    /// Run pending migrations of this backend's tree; returns how many ran.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let ran = match &mut *conn {
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
        };
        ran.map_err(|e| StoreError::Migrate(e.to_string()))
    }

    /// Run blocking database work on actix's blocking pool, never on a worker thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        actix_web::web::block(move || {
            let mut conn = store.conn()?;
            f(&mut conn)
        })
        .await
        .map_err(|_| StoreError::Blocking)?
    }

    /// A quick reachability check for /healthz: it waits two seconds at most for a connection.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get_timeout(Duration::from_secs(2)).map_err(|e| StoreError::Pool(e.to_string()))?;
            conn.batch_execute("SELECT 1").map_err(StoreError::Query)
        })
        .await
        .map_err(|_| StoreError::Blocking)?
    }

    /// The SQLite integrity check, or a trivial query on PostgreSQL.
    pub fn integrity_check(&self) -> Result<bool, StoreError> {
        use diesel::{QueryableByName, RunQueryDsl, sql_query, sql_types::Text};
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            integrity_check: String,
        }
        let mut conn = self.conn()?;
        match &mut *conn {
            DbConn::Sqlite(c) => {
                let rows: Vec<Row> = sql_query("PRAGMA integrity_check").load(c)?;
                Ok(rows.len() == 1 && rows[0].integrity_check == "ok")
            }
            DbConn::Postgres(c) => Ok(c.batch_execute("SELECT 1").is_ok()),
        }
    }
}
