//! Keeping the figures clean without identifying anyone: in-memory rate limits, honeypot, minimum
//! fill time, single-use outreach codes, flood counts and quarantine.

use crate::helpers::{
    Backend, PASSPHRASE, TestApp, cli, contains, files_under, logs,
    page::hidden,
    read_response, run,
    staff::{ADMIN_PW, RESEARCHER_PW, add, get_as, login, post_as},
};

tests! {
    both: [
        one_address_is_limited_codes_and_other_addresses_are_not,
        proxy_headers_are_ignored_unless_trusted,
        honeypot_and_too_fast_store_nothing,
        a_code_works_once_and_required_codes_are_enforced,
        a_quarantined_month_drops_out_and_comes_back,
        admins_quarantine_from_the_dashboard_and_it_is_audited,
    ],
    once: [
        codes_issue_prints_csv_and_cards,
    ],
}

fn admins_quarantine_from_the_dashboard_and_it_is_audited(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        add(&app, "admin1", "admin", ADMIN_PW);
        add(&app, "res1", "researcher", RESEARCHER_PW);
        let admin = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let res = login(&app, "res1", RESEARCHER_PW).await.unwrap();
        let path = "/staff/surveys/harms/quarantine";
        let body = |csrf: &str, action: &str| format!("csrf={csrf}&month=2026-10&action={action}");
        assert_eq!(post_as(&app, path, &res.cookie, &body(&res.csrf, "quarantine"), None).await.0, 403);
        assert_eq!(post_as(&app, path, &admin.cookie, "csrf=x&month=2026-10", None).await.0, 403);
        assert_eq!(post_as(&app, path, &admin.cookie, &body(&admin.csrf, "quarantine"), None).await.0, 303);
        assert_eq!(chorus::store::defences::quarantined(&mut app.conn(), "harms").unwrap(), vec!["2026-10".to_owned()]);
        let (_, _, dash) = get_as(&app, "/staff", &admin.cookie).await;
        assert!(dash.contains("Left out of reports: 2026-10"));
        assert_eq!(post_as(&app, path, &admin.cookie, &body(&admin.csrf, "release"), None).await.0, 303);
        assert!(chorus::store::defences::quarantined(&mut app.conn(), "harms").unwrap().is_empty());
        let (_, _, audit) = get_as(&app, "/staff/audit", &admin.cookie).await;
        assert!(audit.contains("<td>quarantine</td>") && audit.contains("<td>quarantine_release</td>"));
    });
}

fn issue_codes(app: &TestApp, slug: &str, n: usize) -> Vec<String> {
    let codes: Vec<String> = (0..n).map(|_| chorus::intake::codes::generate()).collect();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| chorus::intake::codes::hash(slug, &chorus::intake::codes::normalise(c).unwrap()))
        .collect();
    chorus::store::defences::insert_codes(&mut app.conn(), slug, "test", &hashes).unwrap();
    codes
}

async fn api_from(app: &TestApp, ip: &str, code: Option<&str>) -> u16 {
    let body = match code {
        Some(c) => format!(r#"{{"answers":{{"age":"25_34"}},"code":"{c}"}}"#),
        None => r#"{"answers":{"age":"25_34"}}"#.to_owned(),
    };
    let res = app
        .client
        .post(app.url("/api/v1/surveys/15977e8c/responses"))
        .header("content-type", "application/json")
        .header("x-real-ip", ip)
        .body(body)
        .send()
        .await
        .unwrap();
    read_response(res).await.0
}

fn one_address_is_limited_codes_and_other_addresses_are_not(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| {
            c.limits.per_address_per_hour = 20;
            c.limits.trusted_proxy_header = Some("x-real-ip".into());
        })
        .await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        let codes = issue_codes(&app, "harms", 3);
        let flooder = "192.0.2.77";
        let mut statuses = Vec::new();
        for _ in 0..50 {
            statuses.push(api_from(&app, flooder, None).await);
        }
        assert!(statuses[..20].iter().all(|s| *s == 201), "{statuses:?}");
        assert!(statuses[20..].iter().all(|s| *s == 429), "the 21st and later are refused: {statuses:?}");
        assert_eq!(app.count("harms"), 20);
        // A shared address with valid codes still gets through, and the responses are verified.
        for c in &codes {
            assert_eq!(api_from(&app, flooder, Some(c)).await, 201);
        }
        assert_eq!(api_from(&app, "198.51.100.4", None).await, 201, "another address is not affected");
        let verified: i64 = app.with_conn(|c| {
            use chorus::store::schema::responses::dsl::*;
            use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
            responses.filter(verified.eq(true)).count().get_result(c).unwrap()
        });
        assert_eq!(verified, 3);
        // The form's 429 is a calm page in the respondent's language.
        let (_, _, form) = app.form_page("/s/15977e8c?lang=ko").await;
        let token = hidden(&form, "token");
        let res = app
            .client
            .post(app.url("/s/15977e8c"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-real-ip", flooder)
            .body(format!("token={token}&lang=ko&q.age=18_24"))
            .send()
            .await
            .unwrap();
        let (status, _, page) = read_response(res).await;
        assert_eq!(status, 429);
        assert!(
            page.contains("lang=\"ko\"") && page.contains("여러분 때문이 아니에요"),
            "a calm page in Korean that accuses no one: {page}"
        );
        // A new day brings a new key and fresh counters.
        let key = app.state.intake.limits.key_for_tests();
        app.state.clock.advance(86_400);
        assert_eq!(api_from(&app, flooder, None).await, 201);
        let new_key = app.state.intake.limits.key_for_tests();
        assert_ne!(key, new_key);
        // Flood counts reach the dashboard; monthly totals reach the database (here forced, as at
        // shutdown); nothing else does.
        chorus::intake::flush_monthly(&app.state.intake, &mut app.conn(), true).unwrap();
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let (_, _, dash) = get_as(&app, "/staff", &s.cookie).await;
        assert!(
            dash.contains("<td class=\"num\">30</td>") || dash.contains("<td class=\"num\">31</td>"),
            "rate-limited count shown"
        );
        let monthly = chorus::store::defences::monthly(&mut app.conn(), "harms", 12).unwrap();
        assert!(monthly.iter().map(|d| d.counts.rate_limited).sum::<u64>() >= 30, "{monthly:?}");
        assert!(monthly.iter().all(|d| d.month.len() == 7), "months only: {monthly:?}");
        let bytes = app.database_bytes();
        for secret in [key.as_slice(), new_key.as_slice(), hex::encode(key).as_bytes(), flooder.as_bytes()] {
            assert!(!contains(&bytes, secret), "an address or limiter key reached the database");
        }
        assert!(!logs().contains(flooder) && !logs().contains(&hex::encode(new_key)));
    });
}

fn proxy_headers_are_ignored_unless_trusted(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| c.limits.per_address_per_hour = 2).await;
        app.init_keys();
        // Without a trusted header, spoofed headers do not give a flooder new identities.
        assert_eq!(api_from(&app, "203.0.113.1", None).await, 201);
        assert_eq!(api_from(&app, "203.0.113.2", None).await, 201);
        assert_eq!(api_from(&app, "203.0.113.3", None).await, 429);
    });
}

fn honeypot_and_too_fast_store_nothing(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| c.limits.min_fill_seconds = 3).await;
        app.init_keys();
        let (_, _, form) = app.form_page("/s/15977e8c?lang=en").await;
        let token = hidden(&form, "token");
        assert!(form.contains("name=\"website\""), "the honeypot is in the form");
        let (status, _, page) = app.post_form("/s/15977e8c", &format!("token={token}&q.age=18_24")).await;
        assert_eq!(status, 400);
        assert!(page.contains("very quick"), "too fast: told calmly, answers kept");
        assert!(page.contains("value=\"18_24\" checked"));
        let (status, _, _) =
            app.post_form("/s/15977e8c", &format!("token={token}&website=http%3A%2F%2Fspam&q.age=18_24")).await;
        assert_eq!(status, 400, "honeypot");
        assert_eq!(app.count("harms"), 0);
        app.state.clock.advance(4);
        assert_eq!(
            app.post_form("/s/15977e8c", &format!("token={token}&q.age=18_24")).await.0,
            200,
            "after 3 s it is accepted"
        );
        assert_eq!(app.count("harms"), 1);
        let counts = app.state.intake.flood.recent("harms", 1)[0].counts;
        let expected =
            chorus::store::defences::IntakeCounts { accepted: 1, honeypot: 1, too_fast: 1, ..Default::default() };
        assert_eq!(counts, expected, "accepted, honeypot and too fast are counted");
    });
}

fn a_code_works_once_and_required_codes_are_enforced(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let codes = issue_codes(&app, "harms", 1);
        // Typed loosely: lower case, no dash, O for 0.
        let typed = codes[0].to_lowercase().replace('-', " ").replace('0', "o");
        assert_eq!(api_from(&app, "1.1.1.1", Some(&typed)).await, 201);
        let (status, reply) = app
            .post_json("/api/v1/surveys/15977e8c/responses", &format!(r#"{{"answers":{{}},"code":"{}"}}"#, codes[0]))
            .await;
        assert_eq!(status, 400);
        assert_eq!(reply["field"], "code");
        assert_eq!(app.count("harms"), 1);
        // A code of another survey does not work here.
        let other = issue_codes(&app, "elsewhere", 1);
        assert_eq!(api_from(&app, "1.1.1.1", Some(&other[0])).await, 400);
        // A survey that requires codes refuses answers without one.
        let required = chorus::survey::DEFAULT_SURVEY
            .replacen("codes = \"optional\"", "codes = \"required\"", 1)
            .replacen("version = 2", "version = 3", 1);
        chorus::store::surveys::import(&mut app.conn(), "harms", 3, &required).unwrap();
        app.state.intake.surveys.forget(); // as a second passing would
        assert_eq!(api_from(&app, "1.1.1.1", None).await, 400);
        let (_, _, form) = app.form_page("/s/15977e8c").await;
        assert!(form.contains("name=\"code\""));
        let fresh = issue_codes(&app, "harms", 1);
        assert_eq!(api_from(&app, "1.1.1.1", Some(&fresh[0])).await, 201);
        assert_eq!(app.count("harms"), 2);
    });
}

fn a_quarantined_month_drops_out_and_comes_back(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        for _ in 0..120 {
            assert_eq!(api_from(&app, "1.1.1.1", None).await, 201);
        }
        let month = chorus::month::Month::now().to_string();
        chorus::store::defences::set_quarantine(&mut app.conn(), "harms", &month, true).unwrap();
        // A small release (three tables), so its noise is small against 120.
        let spec = chorus::report::SnapshotSpec {
            tables: vec!["age".into()],
            ..chorus::report::SnapshotSpec::new("harms", month.clone())
        };
        let run = |spec: &chorus::report::SnapshotSpec| {
            chorus::report::run_snapshot(
                &mut app.conn(),
                &app.state.intake.surveys,
                &secrecy::SecretString::from(PASSPHRASE),
                spec,
                "test",
                app.state.clock.now(),
            )
        };
        let quarantined = run(&spec).map(|_| ()).unwrap_err();
        assert!(
            matches!(quarantined, chorus::report::ReportError::TooFew { .. }),
            "the quarantined month is left out, leaving too few to release: {quarantined}"
        );
        chorus::store::defences::set_quarantine(&mut app.conn(), "harms", &month, false).unwrap();
        let released = run(&spec).unwrap();
        assert!((released.row.n - 120).abs() < 30, "and comes back when released: n = {}", released.row.n);
        assert!(released.spec.excluded_months.is_empty());
    });
}

fn codes_issue_prints_csv_and_cards() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| cli::chorus(dir.path()).args(args).output().unwrap();
    let out = run(&["codes", "issue", "harms", "--count", "20", "--batch", "street team"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "code,batch,survey");
    assert_eq!(lines.len(), 21);
    let code = lines[1].split(',').next().unwrap();
    assert_eq!(code.len(), 11);
    let cards = std::fs::read_to_string(dir.path().join("codes-street-team.html")).unwrap();
    assert_eq!(cards.matches("class=\"card\"").count(), 20);
    assert!(cards.contains(code));
    // Only hashes are stored.
    assert!(!contains(&files_under(&dir.path().join("chorus-data")), code.as_bytes()));
    let out = run(&["codes", "list", "harms"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("street team\t20\t0"));
}
