//! Spawning the real application for a test, with its own database, and looking inside afterwards.
//! `staff` signs members in and acts as them; `page` reads what a page shows; `cli` runs the binary.

pub mod cli;
pub mod page;
pub mod staff;

use std::{
    io::Write,
    path::Path,
    sync::{Arc, Mutex, OnceLock},
};

use chorus::{
    app::Application,
    config::{Config, DatabaseUrl},
    store::{DbConn, Store},
    web::AppState,
};
use diesel::{Connection, RunQueryDsl};
use secrecy::SecretString;

/// A survey with a free-text question (the default survey has none): slug `notes` (public path
/// `/s/1e05d277`, derived from the slug), questions `age` (18_24, 25_34) and `notes` (text).
pub const NOTES_SURVEY: &str = r#"
format = 1
slug = "notes"
version = 1
languages = ["en"]
title = "Notes"
[[sections]]
id = "a"
title = "A"
[[sections.questions]]
id = "age"
type = "single"
label = "How old are you?"
options = [{ id = "18_24", label = "18 to 24" }, { id = "25_34", label = "25 to 34" }]
[[sections.questions]]
id = "notes"
type = "text"
label = "Is there anything else you want to tell us?"
read_by = "Only the two researchers of this study read what you write here."
"#;

/// Seven random words, as `chorus keys generate-passphrase` makes them (well over the 80-bit rule).
pub const PASSPHRASE: &str = "gravy quarrel unclaimed bunkbed tamper ferocious spotless";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

// ---- log capture: every line any test's app logs, to search for canaries --------------------------

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn capture_logs() {
    let buf = LOGS.get_or_init(|| Arc::new(Mutex::new(Vec::new()))).clone();
    chorus::telemetry::init("debug", move || Capture(buf.clone()));
}

pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.get().expect("capture_logs ran").lock().unwrap()).into_owned()
}

// ---- databases ---------------------------------------------------------------------------------------

/// A PostgreSQL database made for one test and dropped after it.
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        let admin_url = std::env::var("CHORUS_TEST_POSTGRES_URL").expect("CHORUS_TEST_POSTGRES_URL");
        let name = format!("chorus_test_{}", chorus::seal::random_id());
        let mut conn = diesel::PgConnection::establish(&admin_url).expect("connect to CHORUS_TEST_POSTGRES_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create test database");
        let (base, _) = admin_url.rsplit_once('/').expect("URL with a database name");
        let url = format!("{base}/{name}");
        Self { admin_url, name, url }
    }

    pub fn drop_now(&self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin_url) {
            // Best effort: a database left behind is dropped by the next run's cleanup or by hand.
            if let Err(e) =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn)
            {
                eprintln!("could not drop test database {}: {e}", self.name);
            }
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// The headers of a response.
pub type Headers = reqwest::header::HeaderMap;

pub struct TestApp {
    pub addr: String,
    /// The PROXY-protocol listener's port, when the test configured one.
    pub proxy_port: Option<u16>,
    /// The `/metrics` listener's port, when the test configured one.
    pub metrics_port: Option<u16>,
    pub state: Arc<AppState>,
    pub config: Config,
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDatabase>,
    /// For requests with headers of their own (`read_response` takes the reply apart).
    pub client: reqwest::Client,
    server: actix_web::dev::ServerHandle,
}

/// The client of every test: HTTP/1.1 only, redirects not followed (tests check the 303s), no proxy.
pub fn client() -> reqwest::Client {
    // The server drops a connection idle for its keep-alive (5 s); a test that pauses longer (a scrub,
    // a VACUUM on a loaded machine) would otherwise reuse a socket the server is closing and read an
    // incomplete message. Idle sockets are let go well before that.
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("HTTP client")
}

/// A response's status, headers and body (as text; invalid UTF-8 replaced).
pub async fn read_response(res: reqwest::Response) -> (u16, Headers, String) {
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    let body = res.bytes().await.expect("body");
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Run an async test body on its own actix system.
pub fn run<F: Future<Output = ()>>(f: F) {
    actix_web::rt::System::new().block_on(f);
}

pub fn test_config(backend: Backend) -> (Config, tempfile::TempDir, Option<PgDatabase>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, pg) = match backend {
        Backend::Sqlite => (format!("sqlite://{}", dir.path().join("chorus.db").display()), None),
        Backend::Postgres => {
            let pg = PgDatabase::create();
            (pg.url.clone(), Some(pg))
        }
    };
    (Config::for_tests(dir.path().to_path_buf(), DatabaseUrl::new(url)), dir, pg)
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let (mut config, dir, pg) = test_config(backend);
        tweak(&mut config);
        Self::start(backend, config, dir, pg)
    }

    /// Start (or restart) the application over an existing configuration and database.
    pub fn start(backend: Backend, config: Config, dir: tempfile::TempDir, pg: Option<PgDatabase>) -> Self {
        let app = Application::build(config.clone()).expect("application starts");
        let server = app.server.handle();
        actix_web::rt::spawn(app.server);
        Self {
            addr: format!("http://127.0.0.1:{}", app.port),
            proxy_port: app.proxy_port,
            metrics_port: app.metrics_port,
            state: app.state,
            config,
            backend,
            dir,
            pg,
            client: client(),
            server,
        }
    }

    /// Stop the server and start a fresh process-equivalent on the same database (new keyring, new epoch).
    pub async fn restart(self) -> Self {
        self.server.stop(true).await;
        let Self { backend, config, dir, pg, .. } = self;
        Self::start(backend, config, dir, pg)
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn conn(&self) -> chorus::store::Conn {
        self.store().conn().expect("connection")
    }

    pub fn init_keys(&self) {
        self.state.intake.keyring.init(&mut self.conn(), &SecretString::from(PASSPHRASE)).expect("keys init");
    }

    /// A survey's form as a respondent reaches it: after its screening step (answered with its first
    /// option) when it has one. The language goes along as the page's own field does.
    pub async fn form_page(&self, path: &str) -> (u16, Headers, String) {
        let (status, headers, html) = self.get(path).await;
        if !html.contains("name=\"step\" value=\"screen\"") {
            return (status, headers, html);
        }
        let at = html.find("name=\"q.").expect("the screening question") + "name=\"".len();
        let name = html[at..].split('"').next().unwrap();
        let at = at + html[at..].find("value=\"").unwrap() + "value=\"".len();
        let value = html[at..].split('"').next().unwrap();
        let lang = path.split("lang=").nth(1).unwrap_or("en");
        let action = path.split('?').next().unwrap();
        self.post_form(action, &format!("step=screen&lang={lang}&{name}={value}")).await
    }

    /// Open a small survey with a text question (`notes`), for tests that need typed words stored.
    pub fn open_notes_survey(&self) {
        let s = chorus::survey::Survey::parse(NOTES_SURVEY).expect("the notes survey is valid");
        self.with_conn(|c| {
            chorus::store::surveys::import(c, &s.slug, s.version, &s.source).expect("notes survey imported")
        });
        self.state.intake.surveys.forget();
    }

    pub fn count(&self, slug: &str) -> i64 {
        chorus::store::responses::count(&mut self.conn(), slug).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Headers, String) {
        read_response(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    pub async fn post_form(&self, path: &str, body: &str) -> (u16, Headers, String) {
        let req = self.client.post(self.url(path)).header("content-type", "application/x-www-form-urlencoded");
        read_response(req.body(body.to_owned()).send().await.expect("POST")).await
    }

    /// POST a JSON body; the reply parsed, or `Null` when it is not JSON.
    pub async fn post_json(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let req = self.client.post(self.url(path)).header("content-type", "application/json");
        let res = req.body(body.to_owned()).send().await.expect("POST");
        let status = res.status().as_u16();
        let bytes = res.bytes().await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    /// Send `n` answers to the bundled survey through the JSON API, each accepted; their receipts.
    pub async fn answer_api(&self, n: usize, answers: &str) -> Vec<String> {
        let mut receipts = Vec::with_capacity(n);
        for _ in 0..n {
            let (status, body) =
                self.post_json("/api/v1/surveys/15977e8c/responses", &format!(r#"{{"answers":{answers}}}"#)).await;
            assert_eq!(status, 201, "{body}");
            receipts.push(body["receipt"].as_str().expect("a receipt").to_owned());
        }
        receipts
    }

    /// Withdraw through the JSON API; the status.
    pub async fn withdraw_api(&self, receipt: &str) -> u16 {
        self.post_json("/api/v1/withdraw", &format!(r#"{{"receipt":"{receipt}"}}"#)).await.0
    }

    /// Every byte the database keeps: the SQLite file with its WAL and shared memory, or a pg_dump.
    pub fn database_bytes(&self) -> Vec<u8> {
        match self.backend {
            Backend::Sqlite => files_under(self.dir.path()),
            Backend::Postgres => {
                let pg = self.pg.as_ref().expect("postgres database");
                let out = std::process::Command::new("pg_dump")
                    .arg("--no-owner")
                    .arg(&pg.url)
                    .output()
                    .expect("pg_dump runs");
                assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
                out.stdout
            }
        }
    }

    pub fn with_conn<T>(&self, f: impl FnOnce(&mut DbConn) -> T) -> T {
        f(&mut self.conn())
    }
}

/// The bytes of every file under a folder (for SQLite: chorus.db, chorus.db-wal, chorus.db-shm).
pub fn files_under(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
