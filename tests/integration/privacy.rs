//! The privacy promises in one place: every public route's headers, no other origin in any public
//! page, and a scripted respondent session from a distinctive loopback address with a distinctive
//! user agent and a canary answer, none of which may reach the database files, the WAL, a pg_dump,
//! or the logs.

use std::process::Command;

use crate::helpers::{
    Backend, PASSPHRASE, TestApp, contains, logs,
    page::names_another_origin,
    run,
    staff::{ADMIN_PW, add, login, post_as},
};

tests! {
    both: [
        a_respondent_session_leaves_no_address_agent_or_answer_behind,
    ],
}

/// curl, so the request really leaves from 127.0.0.77, from another program than the test's own
/// client, and the raw response head can be read as a browser would receive it.
fn curl(args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "--interface", "127.0.0.77", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (rest, status) = text.rsplit_once('\n').unwrap_or((&text, "0"));
    let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
    (status.trim().parse().unwrap_or(0), head.to_lowercase(), body.to_owned())
}

fn headers_are_private(path: &str, head: &str, html: bool) {
    assert!(head.contains("content-security-policy: default-src 'self'"), "{path}: CSP");
    assert!(head.contains("referrer-policy: no-referrer"), "{path}: Referrer-Policy");
    assert!(head.contains("x-content-type-options: nosniff"), "{path}");
    assert!(head.contains("cache-control: no-store"), "{path}: no-store");
    assert!(head.contains("permissions-policy: camera=()"), "{path}");
    assert!(!head.contains("set-cookie"), "{path}: sets a cookie");
    if html {
        assert!(head.contains("content-type: text/html"), "{path}");
    }
}

fn a_respondent_session_leaves_no_address_agent_or_answer_behind(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| c.limits.per_address_per_hour = 100).await;
        app.init_keys();
        // The default survey has no free text since version 2: the typed canary goes to `notes`.
        app.open_notes_survey();
        let agent = format!("CanaryBrowser/{}", &chorus::seal::random_id()[..12]);
        let canary = format!("canaryanswer{}", &chorus::seal::random_id()[..12]);
        let base = app.addr.clone();
        // A published report, so /reports/{id} is among the public routes checked.
        add(&app, "admin1", "admin", ADMIN_PW);
        for i in 0..80 {
            let body = format!(r#"{{"answers":{{"age":"{}"}}}}"#, ["18_24", "25_34"][i % 2]);
            assert_eq!(app.post_json("/api/v1/surveys/15977e8c/responses", &body).await.0, 201);
        }
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let snapshot = chorus::report::run_snapshot(
            &mut app.conn(),
            &app.state.intake.surveys,
            &secrecy::SecretString::from(PASSPHRASE),
            &chorus::report::SnapshotSpec {
                tables: vec!["age".into()],
                ..chorus::report::SnapshotSpec::new("harms", chorus::month::Month::now().to_string())
            },
            "test",
            app.state.clock.now(),
        )
        .unwrap();
        let id = snapshot.row.id.clone();
        assert_eq!(
            post_as(&app, &format!("/staff/reports/{id}/publish"), &s.cookie, &format!("csrf={}", s.csrf), None)
                .await
                .0,
            303
        );

        // The scripted session, from 127.0.0.77 with a distinctive agent.
        let ua = format!("user-agent: {agent}");
        let public_html = [
            "/",
            "/?lang=th",
            "/s/15977e8c",
            "/s/15977e8c?lang=zh-Hans",
            "/s/1e05d277",
            "/safety",
            "/withdraw",
            "/reports",
        ];
        let mut pages = Vec::new();
        for path in public_html.iter().map(|p| p.to_string()).chain([format!("/reports/{id}")]) {
            let (status, head, body) = curl(&["-H", &ua, &format!("{base}{path}")]);
            assert_eq!(status, 200, "{path}");
            headers_are_private(&path, &head, true);
            pages.push((path, body));
        }
        for path in ["/static/style.css", "/static/chorus.js", "/healthz", "/api/v1/surveys/15977e8c", "/nope"]
            .map(String::from)
            .into_iter()
            .chain([format!("/reports/{id}.csv"), format!("/reports/{id}.json")])
        {
            let (_, head, body) = curl(&["-H", &ua, &format!("{base}{path}")]);
            headers_are_private(&path, &head, false);
            pages.push((path, body));
        }
        for (path, body) in &pages {
            assert!(names_another_origin(body).is_none(), "{path} names another origin");
        }
        // The screening step of the default survey is a POST too.
        let (status, head, screened) =
            curl(&["-H", &ua, "--data", "step=screen&lang=en&q.adult=yes", &format!("{base}/s/15977e8c")]);
        assert_eq!(status, 200);
        headers_are_private("POST /s/15977e8c (screening step)", &head, true);
        assert!(screened.contains("name=\"token\""), "the form follows the screening step");
        let form = &pages.iter().find(|(p, _)| p == "/s/1e05d277").unwrap().1;
        let at = form.find("name=\"token\" value=\"").unwrap() + 20;
        let token = form[at..].split('"').next().unwrap();
        let (status, head, receipt_page) = curl(&[
            "-H",
            &ua,
            "-H",
            "referer: https://referer-canary.example/",
            "--data",
            &format!("token={token}&lang=en&q.age=25_34&q.notes={canary}"),
            &format!("{base}/s/1e05d277"),
        ]);
        assert_eq!(status, 200, "{receipt_page}");
        headers_are_private("POST /s/1e05d277", &head, true);
        let at = receipt_page.find("translate=\"no\">").unwrap() + 15;
        let receipt = receipt_page[at..].split('<').next().unwrap().to_owned();
        let (status, _, _) =
            curl(&["-H", &ua, "--data", "receipt=0000-0000-0000-0000-0000-0000-00", &format!("{base}/withdraw")]);
        assert_eq!(status, 200);
        assert_eq!((app.count("harms"), app.count("notes")), (80, 1));

        // None of the three, nor the receipt or referer, is anywhere it could be read later.
        let stored = app.database_bytes();
        let logged = logs();
        for secret in ["127.0.0.77", agent.as_str(), canary.as_str(), receipt.as_str(), "referer-canary"] {
            assert!(!contains(&stored, secret.as_bytes()), "{secret} is in the database files");
            assert!(!logged.contains(secret), "{secret} is in the logs");
        }
        // The test would see them if they were there: the session did reach the log and the store.
        assert!(logged.contains("route=/s/{path}"));
        assert!(contains(&stored, b"harms"));
    });
}
