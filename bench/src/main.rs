#![allow(unsafe_code)] // temporary until the benchmark moves to its own crate
//! The load benchmark: Chorus against a bare actix-web POST route, measured in the same run with the
//! same load generator, so figures are ratios to this machine's own limits. See docs/benchmarks.md.
//!
//! `cargo build --release --bin chorus` first (this crate runs that binary but does not build it), then
//! `cargo run --release -p chorus-bench` — submissions (API and form) on SQLite and PostgreSQL.
//! `… -- --sustained` — 60 s at a fixed rate: errors and resident-memory growth.
//! `… -- --report [--report-rows N] [--no-postgres]` — release time and peak memory over 10,000 and
//! N (default 1,000,000) synthetic responses, on SQLite and PostgreSQL (bench/src/release.rs).
//! `… -- --grown S [--no-postgres]` — the JSON API (ours and wrk) on a database first filled by S
//! seconds of unmeasured load, as after a long flood (about 1.5M answers at S = 90).
//! `… -- --weight` — the respondent form's weight in each launch language (bench/src/weight.rs).
//! `… -- --scrub [--scrub-rows N]` — scrub time over 10,000 and N (default 1,000,000) synthetic
//! responses on each backend, and the longest wait of a submission sent during it.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use actix_web::{App, HttpResponse, HttpServer, web};
use chorus::survey::{Answer, Survey};
use diesel::{Connection, RunQueryDsl};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    Method, Request, Response,
    body::{Bytes, Incoming},
    client::conn::http1::{self, SendRequest},
    header::{CONTENT_TYPE, HOST},
};
use hyper_util::rt::TokioIo;

mod release;
mod threads;
mod weight;

const PASSPHRASE: &str = "dwelling sprinkler unmasked thimble pancake scouting gizmo";

struct Args {
    connections: usize,
    seconds: u64,
    postgres: Option<String>,
    sustained: bool,
    rate: u64,
    report: bool,
    report_rows: u64,
    scrub: bool,
    scrub_rows: u64,
    weight: bool,
    grown: Option<u64>,
}

fn args() -> Args {
    let mut a = Args {
        connections: 32,
        seconds: 10,
        postgres: Some(
            std::env::var("CHORUS_BENCH_POSTGRES_URL")
                .or_else(|_| std::env::var("CHORUS_TEST_POSTGRES_URL"))
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        ),
        sustained: false,
        rate: 200,
        report: false,
        report_rows: 1_000_000,
        scrub: false,
        scrub_rows: 1_000_000,
        weight: false,
        grown: None,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let mut value = |name: &str| argv.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match flag.as_str() {
            "--connections" => a.connections = value("--connections").parse().expect("--connections N"),
            "--seconds" => a.seconds = value("--seconds").parse().expect("--seconds N"),
            "--postgres" => a.postgres = Some(value("--postgres")),
            "--no-postgres" => a.postgres = None,
            "--sustained" => a.sustained = true,
            "--rate" => a.rate = value("--rate").parse().expect("--rate N"),
            "--report" => a.report = true,
            "--report-rows" => a.report_rows = value("--report-rows").parse().expect("--report-rows N"),
            "--scrub" => a.scrub = true,
            "--scrub-rows" => a.scrub_rows = value("--scrub-rows").parse().expect("--scrub-rows N"),
            "--weight" => a.weight = true,
            "--grown" => a.grown = Some(value("--grown").parse().expect("--grown SECONDS")),
            other => panic!("unknown argument {other}; see the file's header"),
        }
    }
    a
}

// ---- the load generator -----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Route {
    Json,
    Form,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

struct Outcome {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
}

/// Realistic answer sets from the default survey, as API bodies and form fields.
struct Answers {
    json: Vec<Bytes>,
    form: Vec<String>,
}

fn bodies() -> Answers {
    let survey = Survey::parse(chorus::survey::DEFAULT_SURVEY).expect("default survey");
    let mut rng = rand::rng();
    let mut json = Vec::new();
    let mut form = Vec::new();
    for _ in 0..500 {
        let answers = chorus::dev::synthetic_answers(&survey, &mut rng);
        let mut map = serde_json::Map::new();
        let mut fields = Vec::new();
        for (i, q) in survey.questions.iter().enumerate() {
            match answers.get(i) {
                Some(Answer::One(o)) => {
                    let id = &q.options[usize::from(*o)].id;
                    map.insert(q.id.clone(), id.clone().into());
                    fields.push(format!("q.{}={id}", q.id));
                }
                Some(Answer::Many(os)) => {
                    let ids: Vec<String> = os.iter().map(|o| q.options[usize::from(*o)].id.clone()).collect();
                    fields.extend(ids.iter().map(|id| format!("q.{}={id}", q.id)));
                    map.insert(q.id.clone(), ids.into());
                }
                _ => {}
            }
        }
        json.push(Bytes::from(serde_json::json!({ "answers": map }).to_string()));
        form.push(fields.join("&"));
    }
    Answers { json, form }
}

/// A request or a body read that takes longer than this counts as an error.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A load-generating client: one HTTP/1.1 keep-alive connection of its own (hyper, HTTP/1 only),
/// reopened when the server closes it. Each client has exactly one, so `--connections N` means N
/// open connections, each carrying one request at a time, as a browser's would.
struct Client {
    addr: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    fn new(addr: &str) -> Self {
        Self { addr: addr.to_owned(), sender: None }
    }

    /// Send one request and wait for the response head; `None` (and the connection dropped) on error.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Option<Response<Incoming>> {
        let mut req = Request::builder().method(method).uri(path).header(HOST, &self.addr);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let req = req.body(Full::new(body)).expect("a well-formed request");
        let res = tokio::time::timeout(TIMEOUT, async {
            if let Some(sender) = &mut self.sender
                && sender.ready().await.is_err()
            {
                self.sender = None; // closed by the server (keep-alive ended): open a new one
            }
            if self.sender.is_none() {
                let stream = tokio::net::TcpStream::connect(&self.addr).await.ok()?;
                stream.set_nodelay(true).ok()?;
                let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.ok()?;
                tokio::spawn(conn);
                self.sender = Some(sender);
            }
            let sender = self.sender.as_mut()?;
            sender.ready().await.ok()?;
            sender.send_request(req).await.ok()
        })
        .await
        .ok()
        .flatten();
        if res.is_none() {
            self.sender = None;
        }
        res
    }

    /// Read a response body whole (at most 1 MiB); `None` (and the connection dropped) on error.
    async fn body(&mut self, res: Response<Incoming>) -> Option<Bytes> {
        match tokio::time::timeout(TIMEOUT, Limited::new(res.into_body(), 1 << 20).collect()).await {
            Ok(Ok(collected)) => Some(collected.to_bytes()),
            _ => {
                self.sender = None;
                None
            }
        }
    }

    /// One submission: for the form, fetch a form (and its single-use token) first. Only the
    /// submission is timed, from sending it to its response head; its latency is noted even when
    /// it fails. True when it was accepted (201 for the API, 200 for the form) and read whole.
    async fn submit(&mut self, route: Route, path: &str, answers: &Answers, n: usize, tally: &mut Tally) -> bool {
        let (content_type, body, accepted) = match route {
            Route::Json => ("application/json", answers.json[n % answers.json.len()].clone(), 201),
            Route::Form => {
                let mut page = match self.send(Method::GET, path, None, Bytes::new()).await {
                    Some(res) => self.body(res).await,
                    None => None,
                };
                // A survey with a screening question (harms: the age question) shows it alone first;
                // its step, posted without an answer (skipping is allowed), gives the form.
                if page.as_ref().is_some_and(|p| String::from_utf8_lossy(p).contains("name=\"step\" value=\"screen\""))
                {
                    let form = "application/x-www-form-urlencoded";
                    page = match self.send(Method::POST, path, Some(form), Bytes::from_static(b"step=screen")).await {
                        Some(res) => self.body(res).await,
                        None => None,
                    };
                }
                let Some(token) = page.and_then(|page| {
                    let page = String::from_utf8_lossy(&page).into_owned();
                    let at = page.find("name=\"token\" value=\"")? + 20;
                    Some(page[at..].split('"').next()?.to_owned())
                }) else {
                    return false;
                };
                let body = format!("token={token}&{}", answers.form[n % answers.form.len()]);
                ("application/x-www-form-urlencoded", Bytes::from(body), 200)
            }
        };
        let begun = Instant::now();
        let res = self.send(Method::POST, path, Some(content_type), body).await;
        tally.latencies_us.push(begun.elapsed().as_micros() as u32);
        match res {
            Some(res) => res.status().as_u16() == accepted && self.body(res).await.is_some(),
            None => false,
        }
    }
}

/// Drive `url` with `connections` concurrent clients for `seconds` (or at `rate` per second in all).
/// The clients are shared between two threads, each running a single-threaded tokio runtime.
fn drive(base: &str, path: &str, route: Route, connections: usize, seconds: u64, rate: Option<u64>) -> Outcome {
    drive_until(base, path, route, connections, seconds, rate, None)
}

/// `drive`, also stopping early when `stop` is set.
fn drive_until(
    base: &str,
    path: &str,
    route: Route,
    connections: usize,
    seconds: u64,
    rate: Option<u64>,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Outcome {
    let answers = Arc::new(bodies());
    let addr = base.strip_prefix("http://").expect("an http:// address").to_owned();
    let threads = 2.min(connections);
    // At a fixed rate, each client sends one request per `gap`.
    let gap = rate.map(|r| Duration::from_secs_f64(connections as f64 / r as f64));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (answers, tally, addr, path) = (answers.clone(), tally.clone(), addr.clone(), path.to_owned());
            let stop = stop.clone();
            let per_thread = connections / threads + usize::from(t < connections % threads);
            std::thread::spawn(move || {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
                runtime.block_on(async move {
                    let tasks: Vec<_> = (0..per_thread)
                        .map(|c| {
                            let (answers, tally, path) = (answers.clone(), tally.clone(), path.clone());
                            let stop = stop.clone();
                            let mut client = Client::new(&addr);
                            tokio::spawn(async move {
                                let mut local = Tally::default();
                                let mut n = c * 7 + t * 131;
                                let mut next = Instant::now();
                                let stopped =
                                    || stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed));
                                while Instant::now() < deadline && !stopped() {
                                    if let Some(gap) = gap {
                                        let now = Instant::now();
                                        if next > now {
                                            tokio::time::sleep(next - now).await;
                                        }
                                        next += gap;
                                    }
                                    n += 1;
                                    if client.submit(route, &path, &answers, n, &mut local).await {
                                        local.ok += 1;
                                    } else {
                                        local.errors += 1;
                                    }
                                }
                                let mut all = tally.lock().unwrap();
                                all.ok += local.ok;
                                all.errors += local.errors;
                                all.latencies_us.extend(local.latencies_us);
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("load task");
                    }
                })
            })
        })
        .collect();
    for h in handles {
        h.join().expect("load thread");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut t = std::mem::take(&mut *tally.lock().unwrap());
    t.latencies_us.sort_unstable();
    let pct = |p: f64| {
        t.latencies_us
            .get(((t.latencies_us.len() as f64 * p) as usize).min(t.latencies_us.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let max_ms = t.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0;
    Outcome { per_second: t.ok as f64 / elapsed, p50_ms: pct(0.50), p99_ms: pct(0.99), max_ms, errors: t.errors }
}

// ---- the servers --------------------------------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("port").port()
}

/// The three pages of a form journey as Chorus served them: the screening step, the form, and the
/// page after the answers.
struct Journey {
    screen: Bytes,
    form: Bytes,
    receipt: Bytes,
}

/// Walk one form journey against a running Chorus (one answer is stored) and keep its pages.
fn capture_journey(base: &str, path: &str) -> Journey {
    let addr = base.strip_prefix("http://").expect("an http:// address").to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async move {
        let mut client = Client::new(&addr);
        let form_type = Some("application/x-www-form-urlencoded");
        let res = client.send(Method::GET, path, None, Bytes::new()).await.expect("the screening page");
        let screen = client.body(res).await.expect("its body");
        let res =
            client.send(Method::POST, path, form_type, Bytes::from_static(b"step=screen")).await.expect("the form");
        let form = client.body(res).await.expect("its body");
        let page = String::from_utf8_lossy(&form).into_owned();
        let at = page.find("name=\"token\" value=\"").expect("a token in the form") + 20;
        let token = page[at..].split('"').next().expect("a token").to_owned();
        let body = Bytes::from(format!("token={token}&{}", bodies().form[0]));
        let res = client.send(Method::POST, path, form_type, body).await.expect("the answers' page");
        assert_eq!(res.status().as_u16(), 200, "the captured journey's answers were accepted");
        let receipt = client.body(res).await.expect("its body");
        Journey { screen, form, receipt }
    })
}

/// The baseline: a bare actix-web POST route at `/echo` that reads the body and answers 201 with a
/// small JSON, on two workers like Chorus's.
fn baseline() -> (String, std::thread::JoinHandle<()>) {
    bare(None)
}

/// A second baseline: the same bare server, also serving a captured journey's pages, unchanged, at
/// `/journey` (GET: the screening page; POST `step=screen`: the form; any other POST: the page after
/// the answers). The same generator drives it as it drives Chorus's form, so the ratio between the
/// two is what Chorus costs beyond moving the same bytes.
fn bare_journey(journey: Journey) -> (String, std::thread::JoinHandle<()>) {
    bare(Some(Arc::new(journey)))
}

fn bare(journey: Option<Arc<Journey>>) -> (String, std::thread::JoinHandle<()>) {
    let port = free_port();
    let handle = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                let echo = web::post().to(|body: web::Bytes| async move {
                    HttpResponse::Created().json(serde_json::json!({ "receipt": body.len() }))
                });
                let journey = journey.clone();
                App::new().route("/echo", echo).configure(move |cfg| {
                    let Some(j) = journey else { return };
                    let html = "text/html; charset=utf-8";
                    let (get, post) = (j.clone(), j);
                    cfg.service(
                        web::resource("/journey")
                            .route(web::get().to(move || {
                                let j = get.clone();
                                async move { HttpResponse::Ok().content_type(html).body(j.screen.clone()) }
                            }))
                            .route(web::post().to(move |body: web::Bytes| {
                                let j = post.clone();
                                async move {
                                    let page = if body.as_ref() == b"step=screen" { &j.form } else { &j.receipt };
                                    HttpResponse::Ok().content_type(html).body(page.clone())
                                }
                            })),
                    );
                })
            })
            .workers(2)
            .bind(("127.0.0.1", port))
            .expect("bind the bare server")
            .run()
            .await
            .expect("bare server");
        })
    });
    std::thread::sleep(Duration::from_millis(300));
    (format!("http://127.0.0.1:{port}"), handle)
}

/// The `chorus` binary beside this one (same profile). This crate does not build it: see `warn_if_stale`.
fn chorus_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let bin = exe.with_file_name("chorus");
    assert!(bin.exists(), "build the chorus binary first: cargo build --release --bin chorus");
    bin
}

/// `cargo run -p chorus-bench` rebuilds this benchmark but not the `chorus` binary it measures: say so
/// when the server's sources changed after that binary was built, or the figures are an older server's.
fn warn_if_stale(bin: &Path) {
    fn newest(path: &Path) -> Option<SystemTime> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_dir() {
            return meta.modified().ok();
        }
        std::fs::read_dir(path).ok()?.flatten().filter_map(|e| newest(&e.path())).max()
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository");
    // What is compiled into the binary (not Cargo.lock: a dependency of this crate alone changes it).
    let sources = ["src", "templates", "static", "locales", "migrations", "surveys"]
        .iter()
        .filter_map(|p| newest(&root.join(p)))
        .max();
    if let (Some(sources), Some(built)) = (sources, newest(bin))
        && sources > built
    {
        eprintln!(
            "WARNING: {} is older than the sources under {}: run `cargo build --release --bin chorus` (or \
             without --release for a debug run) first, or these figures are an older server's",
            bin.display(),
            root.display()
        );
    }
}

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chorus_env(cmd: &mut Command, dir: &Path, database_url: &str) {
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CHORUS_")) {
        cmd.env_remove(k);
    }
    cmd.current_dir(dir)
        .env("CHORUS_DATA_DIR", dir.join("data"))
        .env("CHORUS_DATABASE_URL", database_url)
        .env("CHORUS_SUBMIT_LIMIT_PER_HOUR", "0")
        .env("CHORUS_SUBMIT_LIMIT_GLOBAL_PER_MINUTE", "0")
        .env("CHORUS_API_LIMIT_GLOBAL_PER_MINUTE", "0")
        .env("CHORUS_MIN_FILL_SECONDS", "0")
        .env("CHORUS_KDF_MEMORY_MIB", "64")
        .env("CHORUS_KDF_ITERATIONS", "3")
        .env("CHORUS_LOG", "warn");
    // `CHORUS_BENCH_SQLITE_SYNCHRONOUS=normal` measures what the per-commit fsync costs.
    if let Ok(sync) = std::env::var("CHORUS_BENCH_SQLITE_SYNCHRONOUS") {
        cmd.env("CHORUS_SQLITE_SYNCHRONOUS", sync);
    }
    // `CHORUS_BENCH_METRICS_BIND=127.0.0.1:9464` lets the writer's batch sizes and commit times be
    // scraped during a run (docs/benchmarks.md, the profile).
    if let Ok(bind) = std::env::var("CHORUS_BENCH_METRICS_BIND") {
        cmd.env("CHORUS_METRICS_BIND", bind);
    }
}

fn start_chorus(database_url: Option<&str>) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = database_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("data/chorus.db").display()));
    std::fs::write(dir.path().join("pass"), PASSPHRASE).expect("passphrase file");
    let mut init = Command::new(chorus_binary());
    chorus_env(&mut init, dir.path(), &url);
    let out = init.args(["keys", "init", "--passphrase-file", "pass"]).output().expect("chorus keys init");
    assert!(out.status.success(), "keys init: {}", String::from_utf8_lossy(&out.stderr));
    let port = free_port();
    let mut serve = Command::new(chorus_binary());
    chorus_env(&mut serve, dir.path(), &url);
    let child = serve
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chorus serve");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Server { child, base, _dir: dir, url }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    fn create(admin: &str) -> Option<Self> {
        let mut conn = diesel::PgConnection::establish(admin).ok()?;
        let name = format!("chorus_bench_{}", chorus::seal::random_id());
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).ok()?;
        let url = format!("{}/{name}", admin.rsplit_once('/')?.0);
        Some(Self { admin: admin.to_owned(), name, url })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn);
        }
    }
}

// ---- the runs -----------------------------------------------------------------------------------------

fn row(name: &str, o: &Outcome, baseline: f64) {
    println!(
        "| {name:<28} | {:>10.0} | {:>7.2} | {:>7.2} | {:>6} | {:>6.3} |",
        o.per_second,
        o.p50_ms,
        o.p99_ms,
        o.errors,
        o.per_second / baseline
    );
}

// ---- an external load generator ----------------------------------------------------------------------

/// The same API submissions driven by wrk (Debian's `wrk`), when it is installed, so the figures do not
/// depend on our own client alone: 2 threads, `connections` keep-alive connections, `seconds` long,
/// cycling through 50 realistic bodies. None when wrk is not on the PATH or its output is not read.
fn wrk(base: &str, path: &str, connections: usize, seconds: u64, answers: &Answers) -> Option<Outcome> {
    let dir = tempfile::tempdir().ok()?;
    let script = dir.path().join("submit.lua");
    let bodies: Vec<String> =
        answers.json.iter().take(50).map(|b| format!("[==[{}]==]", String::from_utf8_lossy(b))).collect();
    // wrk counts answers other than 2xx and 3xx in `errors.status`; latencies are in microseconds.
    let lua = format!(
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {{ {} }}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d\n", summary.requests, e.connect + e.read + e.write + e.timeout,
    e.status, summary.duration, latency:percentile(50), latency:percentile(99)))
  io.write(string.format("WRKMAX %d\n", latency.max))
end
"#,
        bodies.join(", ")
    );
    std::fs::write(&script, lua).ok()?;
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--timeout", "30s", "-s"])
        .arg(&script)
        .arg(format!("{base}{path}"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().find_map(|l| l.strip_prefix("WRK ")) else {
        eprintln!("wrk said: {text}{}", String::from_utf8_lossy(&out.stderr));
        return None;
    };
    let n: Vec<f64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    let [requests, socket_errors, status_errors, duration_us, p50_us, p99_us] = n[..] else { return None };
    let max_us: f64 = text.lines().find_map(|l| l.strip_prefix("WRKMAX "))?.trim().parse().ok()?;
    Some(Outcome {
        per_second: (requests - status_errors) / (duration_us / 1e6),
        p50_ms: p50_us / 1000.0,
        p99_ms: p99_us / 1000.0,
        max_ms: max_us / 1000.0,
        errors: (socket_errors + status_errors) as u64,
    })
}

fn submissions(a: &Args) {
    println!(
        "Load: {} connections, {} s per run, {} cores. Ratio = accepted/s ÷ the baseline's requests/s.\n",
        a.connections,
        a.seconds,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| run                          | accepted/s | p50 ms  | p99 ms  | errors | ratio  |");
    println!("|------------------------------|-----------:|--------:|--------:|-------:|-------:|");
    let (base, _baseline) = baseline();
    let echo = || drive(&base, "/echo", Route::Json, a.connections, a.seconds, None);
    let b = echo();
    row("baseline: bare actix POST", &b, b.per_second);
    let server = start_chorus(None);
    let (o, profile) = profiled(&server, || {
        drive(&server.base, "/api/v1/surveys/15977e8c/responses", Route::Json, a.connections, a.seconds, None)
    });
    let after = echo();
    bracketed("chorus SQLite, JSON API", &o, &b, &after);
    profile_line(profile, &o, a.seconds, "");
    let o = drive(&server.base, "/s/15977e8c", Route::Form, a.connections, a.seconds, None);
    row("chorus SQLite, HTML form", &o, b.per_second);
    let journey = capture_journey(&server.base, "/s/15977e8c");
    drop(server);
    let sizes = (journey.screen.len(), journey.form.len(), journey.receipt.len());
    let (bare, _bare) = bare_journey(journey);
    let j = drive(&bare, "/journey", Route::Form, a.connections, a.seconds, None);
    row("bare actix, same form pages", &j, b.per_second);
    println!(
        "| (pages of {} + {} + {} bytes: Chorus's form above is {:.3} of this bare journey) |",
        sizes.0,
        sizes.1,
        sizes.2,
        o.per_second / j.per_second
    );
    match a.postgres.as_deref().and_then(PgDb::create) {
        Some(db) => {
            let server = start_chorus(Some(&db.url));
            let before = echo();
            row("  baseline (before)", &before, before.per_second);
            let (o, profile) = profiled(&server, || {
                drive(&server.base, "/api/v1/surveys/15977e8c/responses", Route::Json, a.connections, a.seconds, None)
            });
            let after = echo();
            bracketed("chorus PostgreSQL, JSON API", &o, &before, &after);
            profile_line(profile, &o, a.seconds, POSTGRES_NOT_COUNTED);
            let o = drive(&server.base, "/s/15977e8c", Route::Form, a.connections, a.seconds, None);
            row("chorus PostgreSQL, HTML form", &o, b.per_second);
        }
        None => println!("| PostgreSQL: skipped (no server at the configured URL) |"),
    }
    println!(
        "\nEach JSON API ratio is to the faster of the baseline runs just before and just after it (the `(before)` and\n`(after)` rows, or the first baseline): this host's speed drifts by a fifth within minutes. The form rows keep the first baseline."
    );
    wrk_runs(a);
}

/// A JSON API run between two baseline runs (the one before is printed by the caller, or is the
/// table's first): print the baseline that follows it, then the run with its ratio to the faster of
/// the two. This host's speed drifts by a fifth within minutes, so a ratio to one baseline taken a
/// minute earlier could be flattered by a slow spell during the run; the faster bracket never
/// flatters it.
fn bracketed(name: &str, o: &Outcome, before: &Outcome, after: &Outcome) {
    row("  baseline (after)", after, after.per_second);
    row(name, o, before.per_second.max(after.per_second));
}

const POSTGRES_NOT_COUNTED: &str = "; PostgreSQL's own processes not counted";

/// The server's threads before and after a run (`threads`), when /proc could be read both times.
type Profile = Option<(threads::Snapshot, threads::Snapshot)>;

/// `run` against `server`, with the server's threads read just before and just after it.
fn profiled<T>(server: &Server, run: impl FnOnce() -> T) -> (T, Profile) {
    let before = threads::snapshot(server.child.id());
    let out = run();
    (out, before.zip(threads::snapshot(server.child.id())))
}

/// The line under a JSON API row: the server's CPU per accepted answer by thread, and the bytes each
/// wrote to files (`threads`). Answers are counted as the run's rate times its length.
fn profile_line(profile: Profile, o: &Outcome, seconds: u64, note: &str) {
    let Some((before, after)) = profile else { return };
    if let Some(line) = threads::per_answer(&before, &after, o.per_second * seconds as f64) {
        println!("| (per accepted answer, by server thread{note}: {line}) |");
    }
}

/// The JSON API runs again under wrk, with a baseline of its own measured by wrk in the same run.
fn wrk_runs(a: &Args) {
    let answers = bodies();
    let (base, _baseline) = baseline();
    let Some(b) = wrk(&base, "/echo", a.connections, a.seconds, &answers) else {
        println!("\n(wrk not found or its output not understood: `apt-get install wrk` for the external figures)");
        return;
    };
    println!("\nThe same with wrk (2 threads, {} connections), ratio to wrk's own baseline:\n", a.connections);
    println!("| run                          | accepted/s | p50 ms  | p99 ms  | errors | ratio  |");
    println!("|------------------------------|-----------:|--------:|--------:|-------:|-------:|");
    row("wrk baseline: bare actix POST", &b, b.per_second);
    let echo = || wrk(&base, "/echo", a.connections, a.seconds, &answers);
    let server = start_chorus(None);
    let (o, profile) = profiled(&server, || {
        wrk(&server.base, "/api/v1/surveys/15977e8c/responses", a.connections, a.seconds, &answers)
    });
    if let Some(o) = o
        && let Some(after) = echo()
    {
        bracketed("wrk chorus SQLite, JSON API", &o, &b, &after);
        profile_line(profile, &o, a.seconds, "");
    }
    drop(server);
    if let Some(db) = a.postgres.as_deref().and_then(PgDb::create) {
        let server = start_chorus(Some(&db.url));
        if let Some(before) = echo() {
            row("  baseline (before)", &before, before.per_second);
            let (o, profile) = profiled(&server, || {
                wrk(&server.base, "/api/v1/surveys/15977e8c/responses", a.connections, a.seconds, &answers)
            });
            if let Some(o) = o
                && let Some(after) = echo()
            {
                bracketed("wrk chorus PostgreSQL, JSON API", &o, &before, &after);
                profile_line(profile, &o, a.seconds, POSTGRES_NOT_COUNTED);
            }
        }
    }
}

/// The JSON API on a database that `fill` seconds of unmeasured load have grown first: the p99 of a
/// fresh database hid a checkpoint stall that grew with the database (docs/benchmarks.md, fifth
/// session). Our generator and wrk each measure `a.seconds` on the same grown database.
fn grown(a: &Args, fill: u64) {
    const API: &str = "/api/v1/surveys/15977e8c/responses";
    println!(
        "Load: {} connections, {} s per run after {fill} s of unmeasured load into the same database. Ratio = accepted/s ÷ the baseline's requests/s (wrk rows: wrk's baseline).\n",
        a.connections, a.seconds
    );
    println!("| run                          | accepted/s | p50 ms  | p99 ms  | errors | ratio  |");
    println!("|------------------------------|-----------:|--------:|--------:|-------:|-------:|");
    let answers = bodies();
    let (base, _baseline) = baseline();
    let b = drive(&base, "/echo", Route::Json, a.connections, a.seconds, None);
    row("baseline: bare actix POST", &b, b.per_second);
    let wb = wrk(&base, "/echo", a.connections, a.seconds, &answers);
    if let Some(wb) = &wb {
        row("wrk baseline: bare actix POST", wb, wb.per_second);
    }
    let pg = a.postgres.as_deref().and_then(PgDb::create);
    for (name, url) in [("SQLite", None), ("PostgreSQL", pg.as_ref().map(|d| d.url.as_str()))] {
        if name == "PostgreSQL" && url.is_none() {
            println!("| PostgreSQL: skipped (no server at the configured URL) |");
            continue;
        }
        let server = start_chorus(url);
        let filled = drive(&server.base, API, Route::Json, a.connections, fill, None);
        println!(
            "| ({name} grown by {:.0} answers in {fill} s, {} errors) |",
            filled.per_second * fill as f64,
            filled.errors
        );
        let o = drive(&server.base, API, Route::Json, a.connections, a.seconds, None);
        row(&format!("grown {name}, JSON API"), &o, b.per_second);
        if let (Some(wb), Some(o)) = (&wb, wrk(&server.base, API, a.connections, a.seconds, &answers)) {
            row(&format!("wrk grown {name}, JSON API"), &o, wb.per_second);
        }
    }
}

fn sustained(a: &Args) {
    let server = start_chorus(None);
    // Warm up at the same load first, so the database page caches of the pooled connections and the
    // writer have filled: the measurement is of growth at a steady state, not of caches warming.
    drive(&server.base, "/api/v1/surveys/15977e8c/responses", Route::Json, 16, 20, Some(a.rate));
    // Resident memory is sampled every second of the run. The allocator keeps and returns freed pages
    // in bursts, so two single readings moved by -8% to +15% between identical runs (2026-12-01);
    // a leak shows as growth from the first ten seconds' median to the last ten's, which a burst does not.
    let pid = server.child.id();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                samples.push(rss_kib(pid));
                std::thread::sleep(Duration::from_secs(1));
            }
            samples
        })
    };
    let o = drive(&server.base, "/api/v1/surveys/15977e8c/responses", Route::Json, 16, 60, Some(a.rate));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = sampler.join().expect("memory sampler");
    let window = 10.min(samples.len() / 2).max(1);
    let median = |s: &[u64]| {
        let mut s = s.to_vec();
        s.sort_unstable();
        s[s.len() / 2]
    };
    let (before, after) = (median(&samples[..window]), median(&samples[samples.len() - window..]));
    let growth = (after as f64 - before as f64) / before.max(1) as f64 * 100.0;
    let (low, high) = (samples.iter().min().copied().unwrap_or(0), samples.iter().max().copied().unwrap_or(0));
    println!("Sustained: 60 s at {} submissions/s on SQLite", a.rate);
    println!("accepted/s {:.0}, p50 {:.2} ms, p99 {:.2} ms, errors {}", o.per_second, o.p50_ms, o.p99_ms, o.errors);
    println!(
        "resident memory, median of the first and last {window} s: {before} KiB -> {after} KiB ({growth:+.1}%); \
         {} samples from {low} to {high} KiB",
        samples.len()
    );
    let pass = o.errors == 0 && growth < 10.0;
    println!("{}", if pass { "PASS: zero errors, memory grew by less than 10%" } else { "FAIL" });
    if !pass {
        std::process::exit(1);
    }
}

/// Run a chorus command and return (seconds, peak resident memory of that command in MiB). The
/// command runs under a fresh copy of this program (`--rusage`), so its peak is its own alone.
fn timed(dir: &Path, url: &str, args: &[&str]) -> (f64, f64) {
    let begun = Instant::now();
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    chorus_env(&mut cmd, dir, url);
    let out = cmd.arg("--rusage").args(args).stderr(Stdio::inherit()).output().expect("chorus runs");
    assert!(out.status.success(), "chorus {args:?} failed");
    let seconds = begun.elapsed().as_secs_f64();
    let peak_kib: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0.0);
    (seconds, peak_kib / 1024.0)
}

/// [`timed`] for `chorus report`, with the run's own per-phase wall times (its debug log line).
fn timed_phases(dir: &Path, url: &str, args: &[&str]) -> (f64, f64, String) {
    let begun = Instant::now();
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    chorus_env(&mut cmd, dir, url);
    cmd.env("CHORUS_LOG", "warn,chorus::report=debug");
    let out = cmd.arg("--rusage").args(args).stderr(Stdio::piped()).output().expect("chorus runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chorus {args:?} failed: {log}");
    let seconds = begun.elapsed().as_secs_f64();
    let peak_kib: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0.0);
    let phases = log.lines().find_map(|l| l.split_once("phases=")).map_or(String::new(), |(_, p)| p.trim().to_owned());
    (seconds, peak_kib / 1024.0, phases)
}

/// `--rusage ARGS…`: run chorus with ARGS, then print its peak resident memory in KiB.
fn rusage_child(args: &[String]) -> ! {
    let status = Command::new(chorus_binary()).args(args).stdout(Stdio::null()).status().expect("chorus runs");
    // SAFETY: getrusage only writes the struct it is given.
    let peak_kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    };
    println!("{peak_kib}");
    std::process::exit(if status.success() { 0 } else { 1 });
}

/// Seed `rows` synthetic answers into a running service's database, then time `chorus scrub` (full and
/// partial) while a light load (20 submissions/s) runs: the load's longest latency is the longest wait
/// a submission saw. The service's own scheduled scrub takes the same path through its writer.
fn scrub(a: &Args) {
    println!("| backend | responses | scope | scrub s | submissions during | longest wait ms | p50 ms | errors |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    let pg = a.postgres.as_deref();
    for backend in ["SQLite", "PostgreSQL"] {
        for rows in [10_000u64, a.scrub_rows] {
            let db = if backend == "PostgreSQL" {
                match pg.and_then(PgDb::create) {
                    Some(db) => Some(db),
                    None => {
                        println!("| PostgreSQL | skipped (no server at the configured URL) |");
                        break;
                    }
                }
            } else {
                None
            };
            let server = start_chorus(db.as_ref().map(|d| d.url.as_str()));
            let dir = server._dir.path().to_owned();
            // Synthetic answers go only into drafts or surveys marked for testing.
            timed(&dir, &server.url, &["survey", "testing", "harms"]);
            timed(&dir, &server.url, &["dev", "seed", "harms", "--count", &rows.to_string()]);
            for mode in ["--vacuum", "--full", ""] {
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let (base, s) = (server.base.clone(), stop.clone());
                let load = std::thread::spawn(move || {
                    drive_until(&base, "/api/v1/surveys/15977e8c/responses", Route::Json, 4, 3600, Some(20), Some(s))
                });
                std::thread::sleep(Duration::from_secs(1));
                let args: Vec<&str> = ["scrub", mode].into_iter().filter(|a| !a.is_empty()).collect();
                let (secs, _) = timed(&dir, &server.url, &args);
                std::thread::sleep(Duration::from_millis(500));
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                let o = load.join().expect("load thread");
                let scope = match mode {
                    "--vacuum" => "one transaction (--vacuum)",
                    "--full" => "all, in chunks (--full)",
                    _ => "recent months, in chunks (scheduled)",
                };
                println!(
                    "| {backend} | {rows} | {scope} | {secs:.2} | {:.0}/s | {:.1} | {:.2} | {} |",
                    o.per_second, o.max_ms, o.p50_ms, o.errors
                );
            }
            drop(server);
            drop(db);
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--rusage") {
        rusage_child(&argv[1..]);
    }
    let a = args();
    warn_if_stale(&chorus_binary());
    if a.sustained {
        sustained(&a);
    } else if a.report {
        release::run(a.report_rows, a.postgres.as_deref());
    } else if a.weight {
        weight::run();
    } else if a.scrub {
        scrub(&a);
    } else if let Some(fill) = a.grown {
        grown(&a, fill);
    } else {
        submissions(&a);
    }
}
