//! Issue 15, "hold the doors": each test is an attack that worked against the earlier build — one
//! address closing the survey for everyone, onion visitors sharing one bucket, parallel password
//! guesses slipping past the backoff, one address locking every account, a huge typed name pushing
//! the audit trail out of view, online passphrase guessing, a setup code kept in logs and URLs, and
//! client-chosen words in the request log.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use crate::helpers::{
    Backend, PASSPHRASE, TestApp, cli, logs,
    page::hidden,
    read_response, run,
    staff::{ADMIN_PW, RESEARCHER_PW, add, get_as, login, post_as},
};

tests! {
    both: [
        invalid_floods_cost_only_their_sender,
        form_and_api_have_separate_global_budgets,
        proxy_protocol_gives_each_circuit_its_own_bucket,
        parallel_wrong_passwords_leave_the_account_locked,
        one_address_cannot_lock_every_account,
        typed_names_are_cut_and_the_audit_trail_pages_and_filters,
        wrong_passphrases_are_limited_and_audited,
        head_answers_like_get,
        the_request_log_names_only_known_methods_and_hides_withdrawal_latency,
    ],
    once: [
        serve_writes_the_setup_code_to_a_private_file_when_not_a_terminal,
    ],
}

async fn api_as(app: &TestApp, ip: &str, body: &str) -> u16 {
    let res = app
        .client
        .post(app.url("/api/v1/surveys/15977e8c/responses"))
        .header("content-type", "application/json")
        .header("x-real-ip", ip)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    read_response(res).await.0
}

const VALID: &str = r#"{"answers":{"age":"25_34"}}"#;
const INVALID: &str = r#"{"answers":{"age":"not_an_option"}}"#;

/// 1,000 invalid bodies from one address in about a second used to spend the global budget (600 a
/// minute) before any per-address check or validation, so the next address got 429.
fn invalid_floods_cost_only_their_sender(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| {
            c.limits.per_address_per_hour = 20;
            c.limits.global_per_minute = 600;
            c.limits.api_global_per_minute = 600;
            c.limits.trusted_proxy_header = Some("x-real-ip".into());
        })
        .await;
        app.init_keys();
        let started = std::time::Instant::now();
        let mut statuses = Vec::new();
        for batch in 0..50 {
            let sends = (0..20).map(|i| {
                // Mostly answers that fail validation, some bodies that are not even JSON.
                let body = if (batch * 20 + i) % 4 == 0 { "{not json" } else { INVALID };
                api_as(&app, "203.0.113.66", body)
            });
            statuses.extend(futures_util::future::join_all(sends).await);
        }
        eprintln!("1,000 invalid bodies took {:?}", started.elapsed());
        assert_eq!(statuses.len(), 1000);
        assert!(statuses.iter().filter(|s| **s == 429).count() >= 980, "the sender is limited after 20");
        assert_eq!(api_as(&app, "198.51.100.7", VALID).await, 201, "another address's valid answer goes through");
        assert_eq!(app.count("harms"), 1);
    });
}

/// The form and the API each have their own global budget: a flood of valid API answers from many
/// addresses does not close the form.
fn form_and_api_have_separate_global_budgets(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| {
            c.limits.global_per_minute = 3;
            c.limits.api_global_per_minute = 3;
            c.limits.trusted_proxy_header = Some("x-real-ip".into());
        })
        .await;
        app.init_keys();
        for i in 0..3 {
            assert_eq!(api_as(&app, &format!("192.0.2.{i}"), VALID).await, 201);
        }
        assert_eq!(api_as(&app, "192.0.2.9", VALID).await, 429, "the API's budget is spent");
        let (_, _, page) = app.form_page("/s/15977e8c").await;
        let token = hidden(&page, "token");
        let (status, _, html) = app.post_form("/s/15977e8c", &format!("token={token}&q.age=18_24")).await;
        assert_eq!(status, 200, "the form still takes answers: {html}");
    });
}

/// One HTTP request over a raw TCP connection that begins with `header`; the reply's status, or None
/// when the server closed the connection without answering.
fn raw_request(port: u16, header: &[u8], body: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = header.to_vec();
    request.extend_from_slice(
        format!(
            "POST /api/v1/surveys/15977e8c/responses HTTP/1.1\r\nHost: example.onion\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    if s.write_all(&request).is_err() {
        return None;
    }
    let mut reply = Vec::new();
    // A reset after a partial reply still leaves what arrived.
    drop(s.read_to_end(&mut reply));
    let text = String::from_utf8_lossy(&reply);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn v1_circuit(id: u32) -> Vec<u8> {
    // What Tor sends with `HiddenServiceExportCircuitID haproxy`: the circuit id in the low 32 bits.
    format!("PROXY TCP6 fc00:dead:beef:4dad::{:x}:{:x} ::1 65535 80\r\n", id >> 16, id & 0xffff).into_bytes()
}

fn v2_ipv4(source: [u8; 4]) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]); // v2 PROXY, TCP over IPv4, 12 address bytes
    h.extend_from_slice(&source);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&4000u16.to_be_bytes());
    h.extend_from_slice(&80u16.to_be_bytes());
    h
}

/// Behind an onion service every respondent came from 127.0.0.1 and shared one bucket. On the PROXY
/// listener each circuit (or v2 source) has its own, under that listener's own limit.
fn proxy_protocol_gives_each_circuit_its_own_bucket(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| {
            c.proxy_protocol_bind = Some("127.0.0.1:0".into());
            c.limits.per_address_per_hour = 20;
            c.limits.proxied_per_address_per_hour = 2;
            // Trusted on the ordinary listener only; the PROXY listener never reads it.
            c.limits.trusted_proxy_header = Some("x-real-ip".into());
        })
        .await;
        app.init_keys();
        let port = app.proxy_port.expect("a PROXY-protocol listener");
        let results = actix_web::rt::task::spawn_blocking(move || {
            let one = (0..3).map(|_| raw_request(port, &v1_circuit(0x0001_0001), VALID)).collect::<Vec<_>>();
            let two = raw_request(port, &v1_circuit(0x0002_0002), VALID);
            let v2 = (0..3).map(|_| raw_request(port, &v2_ipv4([198, 51, 100, 1]), VALID)).collect::<Vec<_>>();
            let none = raw_request(port, b"", VALID);
            let junk = raw_request(port, b"PROXY BOGUS\r\n", VALID);
            (one, two, v2, none, junk)
        })
        .await
        .unwrap();
        let (one, two, v2, none, junk) = results;
        assert_eq!(one, vec![Some(201), Some(201), Some(429)], "a circuit has a bucket of 2");
        assert_eq!(two, Some(201), "another circuit is not affected");
        assert_eq!(v2, vec![Some(201), Some(201), Some(429)], "v2 headers work the same");
        assert_eq!(none, None, "no PROXY header: the connection is closed unanswered");
        assert_eq!(junk, None);
        assert_eq!(app.count("harms"), 5);
        // The ordinary listener keeps its own, larger limit.
        assert_eq!(api_as(&app, "192.0.2.50", VALID).await, 201);
        let log = logs();
        assert!(!log.contains("fc00:dead:beef") && !log.contains("198.51.100.1"), "no source is logged");
    });
}

async fn login_from(app: &TestApp, ip: &str, name: &str, pw: &str) -> u16 {
    let res = app
        .client
        .post(app.url("/staff/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-real-ip", ip)
        .body(format!("name={name}&password={}", pw.replace(' ', "+")))
        .send()
        .await
        .unwrap();
    read_response(res).await.0
}

fn failed_logins(app: &TestApp, name: &str) -> i32 {
    chorus::store::staff::user_by_name(&mut app.conn(), name).unwrap().unwrap().failed_logins
}

/// The backoff read the failure count, checked the password, then wrote count + 1: two bursts of 16
/// parallel wrong passwords left the account unlocked. Now the count goes up in one UPDATE first.
fn parallel_wrong_passwords_leave_the_account_locked(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| c.limits.trusted_proxy_header = Some("x-real-ip".into())).await;
        add(&app, "res1", "researcher", RESEARCHER_PW);
        for burst in 0..2 {
            let ips: Vec<String> = (0..16).map(|i| format!("10.{burst}.0.{i}")).collect();
            let tries = ips.iter().map(|ip| login_from(&app, ip, "res1", "wrong wrong wrong"));
            let statuses = futures_util::future::join_all(tries).await;
            assert!(statuses.iter().all(|s| *s == 401));
        }
        assert_eq!(failed_logins(&app, "res1"), 32, "every guess was counted");
        assert_eq!(login_from(&app, "10.9.9.9", "res1", RESEARCHER_PW).await, 401, "the account is locked");
    });
}

/// Anyone could lock any account by guessing its password; a RAM-only per-address throttle now stops
/// one address after a few failures, before it touches any account.
fn one_address_cannot_lock_every_account(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| c.limits.trusted_proxy_header = Some("x-real-ip".into())).await;
        add(&app, "res1", "researcher", RESEARCHER_PW);
        add(&app, "admin1", "admin", ADMIN_PW);
        for _ in 0..10 {
            assert_eq!(login_from(&app, "203.0.113.9", "res1", "wrong wrong wrong").await, 401);
        }
        for _ in 0..10 {
            assert_eq!(login_from(&app, "203.0.113.9", "admin1", "wrong wrong wrong").await, 401);
        }
        assert_eq!(failed_logins(&app, "admin1"), 0, "the throttled address never reached the second account");
        assert_eq!(login_from(&app, "192.0.2.1", "admin1", ADMIN_PW).await, 303, "its owner signs in");
    });
}

/// A failed sign-in stored the typed name verbatim (a 60 KB name made a 120 KB row), and the audit page
/// showed only the latest 500 entries, so real entries could be pushed out of view.
fn typed_names_are_cut_and_the_audit_trail_pages_and_filters(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| c.limits.trusted_proxy_header = Some("x-real-ip".into())).await;
        add(&app, "admin1", "admin", ADMIN_PW);
        let admin = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let long = "x".repeat(30_000);
        assert_eq!(login_from(&app, "192.0.2.2", &long, "whatever password").await, 401);
        let rows = chorus::store::staff::audit_page(&mut app.conn(), None, Some("login_failed"), 0, 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].actor.chars().count() <= 40 && rows[0].target.chars().count() <= 40);
        // 700 later entries do not push the admin's sign-in out of reach.
        app.state.clock.advance(1);
        app.with_conn(|c| {
            for _ in 0..700 {
                app.state.accounts.audit(c, "noise", "login_failed", "noise").unwrap();
            }
        });
        let (_, _, first) = get_as(&app, "/staff/audit", &admin.cookie).await;
        assert!(first.contains("page=1"), "a link to older entries");
        let (_, _, page) = get_as(&app, "/staff/audit?page=7", &admin.cookie).await;
        assert!(page.contains("<td>admin1</td><td>login</td>"), "the oldest page holds the sign-in");
        let (_, _, filtered) = get_as(&app, "/staff/audit?actor=admin1&action=login", &admin.cookie).await;
        assert!(filtered.contains("<td>admin1</td><td>login</td>") && !filtered.contains("noise"));
    });
}

async fn run_report(app: &TestApp, cookie: &str, csrf: &str, passphrase: &str) -> (u16, String) {
    let body = format!("csrf={csrf}&survey=harms&through=2099-12&rho=0.5&passphrase={}", passphrase.replace(' ', "+"));
    post_as(app, "/staff/reports", cookie, &body, None).await
}

/// Any staff session could guess the steward passphrase through the report form without limit.
fn wrong_passphrases_are_limited_and_audited(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        add(&app, "res1", "researcher", RESEARCHER_PW);
        let res = login(&app, "res1", RESEARCHER_PW).await.unwrap();
        for _ in 0..5 {
            let (_, page) = run_report(&app, &res.cookie, &res.csrf, "molecule dingy outsider crayfish").await;
            assert!(page.contains("passphrase is wrong"), "{page}");
        }
        let (_, page) = run_report(&app, &res.cookie, &res.csrf, PASSPHRASE).await;
        assert!(page.contains("too many wrong passphrases"), "even the right one waits: {page}");
        let admin = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let (_, _, audit) = get_as(&app, "/staff/audit?action=passphrase_failed", &admin.cookie).await;
        assert_eq!(audit.matches("<td>passphrase_failed</td>").count(), 5);
        let (_, _, audit) = get_as(&app, "/staff/audit?action=passphrase_throttled", &admin.cookie).await;
        assert!(audit.contains("<td>res1</td><td>passphrase_throttled</td>"));
        app.state.clock.advance(3600);
        let (status, _) = run_report(&app, &res.cookie, &res.csrf, PASSPHRASE).await;
        assert_ne!(
            status, 200,
            "an hour later the run is tried again (refused here for too few answers, not throttled)"
        );
    });
}

/// Uptime monitors use HEAD; every page answered it 404.
fn head_answers_like_get(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        for path in
            ["/", "/s/15977e8c", "/withdraw", "/safety", "/healthz", "/reports", "/staff/login", "/static/style.css"]
        {
            let (get, _, _) = app.get(path).await;
            let (head, headers, body) = read_response(app.client.head(app.url(path)).send().await.unwrap()).await;
            assert_eq!(head, get, "HEAD {path}");
            assert!(body.is_empty(), "HEAD {path} has no body");
            assert!(headers.contains_key("content-security-policy"), "HEAD {path} has the same headers");
        }
    });
}

/// The request log wrote client-chosen methods verbatim, and withdrawal latency told a matching
/// receipt from another.
fn the_request_log_names_only_known_methods_and_hides_withdrawal_latency(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        let method = reqwest::Method::from_bytes(b"CANARYMETHOD").unwrap();
        let res = app.client.request(method, app.url("/")).send().await.unwrap();
        assert!(res.status().is_client_error());
        app.post_form("/withdraw", "receipt=ABCD-EFGH").await;
        // A malformed request: actix-http answers it 400 and logged it at ERROR.
        let port: u16 = app.addr.rsplit(':').next().unwrap().parse().unwrap();
        let reply = actix_web::rt::task::spawn_blocking(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\x01: y\r\n\r\n").unwrap();
            let mut reply = [0u8; 12];
            drop(s.read(&mut reply));
            reply
        })
        .await
        .unwrap();
        assert!(reply.starts_with(b"HTTP/1.1 400"));
        app.post_json("/api/v1/withdraw", r#"{"receipt":"ABCD"}"#).await;
        let log = logs();
        assert!(!log.contains("CANARYMETHOD"), "a client-chosen method reaches the log");
        assert!(log.contains("method=OTHER"));
        assert!(!log.contains("request parse error"), "a malformed request is logged at ERROR");
        for line in log.lines().filter(|l| l.contains("route=/withdraw") || l.contains("route=/api/v1/withdraw")) {
            assert!(!line.contains("ms="), "withdrawal latency is logged: {line}");
        }
    });
}

/// The setup link went to stdout even at CHORUS_LOG=warn, so container logs kept it, in a URL query.
fn serve_writes_the_setup_code_to_a_private_file_when_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = cli::chorus(dir.path())
        .args(["serve"])
        .env("CHORUS_BIND", "127.0.0.1:0")
        .env("CHORUS_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let file = dir.path().join("chorus-data").join("setup-code");
    let mut waited = 0;
    while !file.exists() && waited < 300 {
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    }
    let code = std::fs::read_to_string(&file);
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let code = code.unwrap_or_else(|e| panic!("no setup-code file ({e}); stdout: {stdout}; stderr: {stderr}"));
    let code = code.trim();
    assert_eq!(code.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(!stdout.contains(code) && !stderr.contains(code), "the code is in the output");
    assert!(stderr.contains("setup-code"), "the log says where: {stderr}");
}
