//! Reports end to end: answers in, a snapshot run by staff with the passphrase, publication, the
//! public page and its downloads, the differencing guard and the synthetic-data guard.

use sha2::{Digest, Sha256};

use crate::helpers::{
    Backend, PASSPHRASE, TestApp, read_response, run,
    staff::{ADMIN_PW, RESEARCHER_PW, add, get_as, login, post_as},
};

tests! {
    both: [
        submit_snapshot_publish_and_read_logged_out,
        a_snapshot_is_refused_until_k_responses_changed,
        synthetic_snapshots_are_labelled_and_never_published,
        a_wrong_passphrase_runs_no_snapshot,
    ],
}

async fn submit(app: &TestApp, n: usize) {
    let ages = ["18_24", "25_34", "25_34", "35_44", "45_54"];
    let regions = ["on", "on", "qc", "bc", "atlantic", "ab"];
    for i in 0..n {
        let body = format!(
            r#"{{"answers":{{"age":"{}","region":"{}","work_type":"{}","officials":["{}"]}}}}"#,
            ages[i % ages.len()],
            regions[i % regions.len()],
            if i % 3 == 0 { "massage_only" } else { "sex_work" },
            if i % 4 == 0 { "none" } else { "city_police" },
        );
        let (status, reply) = app.post_json("/api/v1/surveys/harms/responses", &body).await;
        assert_eq!(status, 201, "{reply}");
    }
}

fn month() -> String {
    chorus::month::Month::now().to_string()
}

async fn snapshot(app: &TestApp, cookie: &str, csrf: &str, passphrase: &str) -> (u16, String, Option<String>) {
    let body = format!("csrf={csrf}&survey=harms&through={}&k=10&passphrase={}", month(), passphrase.replace(' ', "+"));
    let res = app
        .client
        .post(app.url("/staff/reports"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, headers, page) = read_response(res).await;
    let location = headers.get("location").map(|l| l.to_str().unwrap().to_owned());
    (status, page, location)
}

fn submit_snapshot_publish_and_read_logged_out(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        submit(&app, 60).await;
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let (status, page, location) = snapshot(&app, &s.cookie, &s.csrf, PASSPHRASE).await;
        assert_eq!(status, 303, "{page}");
        let path = location.unwrap();
        let id = path.rsplit('/').next().unwrap().to_owned();
        assert_eq!(get_as(&app, &format!("/reports/{id}"), "").await.0, 404, "a private snapshot is not public");
        let (status, _, page) = get_as(&app, &path, &s.cookie).await;
        assert_eq!(status, 200);
        assert!(page.contains("opt-in sample"), "the opt-in caveat is on the page");
        assert!(page.contains("<svg class=\"bar\""), "bar charts are inline SVG");
        // Publish, then read it logged out.
        let (status, _) =
            post_as(&app, &format!("/staff/reports/{id}/publish"), &s.cookie, &format!("csrf={}", s.csrf), None).await;
        assert_eq!(status, 303);
        let (status, headers, list) = app.get("/reports").await;
        assert_eq!(status, 200);
        assert!(headers.get("set-cookie").is_none());
        assert!(list.contains(&format!("/reports/{id}")));
        let (status, _, page) = app.get(&format!("/reports/{id}?lang=fr")).await;
        assert_eq!(status, 200);
        assert!(page.contains("lang=\"fr\"") && page.contains("Méthode"), "French labels");
        let (_, _, page) = app.get(&format!("/reports/{id}")).await;
        assert!(page.contains("How to cite") && page.contains("SHA-256"));
        // The citation's hash is the hash of the English JSON served beside the page.
        let (status, _, json) = app.get(&format!("/reports/{id}.json?lang=en")).await;
        assert_eq!(status, 200);
        let hash = hex::encode(Sha256::digest(json.as_bytes()));
        assert!(page.contains(&hash), "citation names the JSON's SHA-256");
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(doc["snapshot"]["n"], 60);
        assert_eq!(doc["snapshot"]["k"], 10);
        assert_eq!(doc["snapshot"]["survey"], "harms");
        let tables = doc["tables"].as_array().unwrap();
        let age = tables.iter().find(|t| t["id"] == "age").unwrap();
        assert_eq!(age["total"], 60);
        assert!(age["by"].is_null());
        let cell = |row: &str| age["cells"].as_array().unwrap().iter().find(|c| c["row"] == row).unwrap().clone();
        assert_eq!(cell("25_34")["count"], 24);
        assert_eq!(cell("18_24")["count"], 12);
        assert_eq!(cell("55_plus")["count"], 0, "zero shown on a line of 60");
        assert!(cell("25_34")["percent"].is_number() && cell("25_34")["ci_low"].is_number());
        // Suppression is visible: no released count is between 1 and 9, and something is hidden.
        let mut hidden = 0;
        for t in tables {
            for c in t["cells"].as_array().unwrap() {
                if let Some(n) = c["count"].as_u64() {
                    assert!(n == 0 || n >= 10, "{} released {n}", t["id"]);
                } else {
                    assert_eq!(c["suppressed"], true);
                    hidden += 1;
                }
            }
        }
        assert!(hidden > 0, "some cells are suppressed");
        let (status, headers, csv) = app.get(&format!("/reports/{id}.csv")).await;
        assert_eq!(status, 200);
        assert!(headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/csv"));
        assert!(csv.starts_with("table,title,row,column,count,suppressed,percent,ci_low,ci_high,flags\n"));
        assert!(csv.contains("\nage,How old are you?,25_34,,24,false,40,"), "{}", &csv[..400]);
        // Retraction keeps it listed, marked.
        let (status, _) =
            post_as(&app, &format!("/staff/reports/{id}/retract"), &s.cookie, &format!("csrf={}", s.csrf), None).await;
        assert_eq!(status, 303);
        let (_, _, list) = app.get("/reports").await;
        assert!(list.contains(&format!("/reports/{id}")) && list.contains("retracted"));
        let (status, _, page) = app.get(&format!("/reports/{id}")).await;
        assert_eq!(status, 200);
        assert!(page.contains("retracted on"));
        // The audit trail has the run, the publication and the retraction.
        let (_, _, audit) = get_as(&app, "/staff/audit", &s.cookie).await;
        for action in ["snapshot_run", "publish", "retract"] {
            assert!(audit.contains(&format!("<td>{action}</td>")), "{action}");
        }
    });
}

fn a_snapshot_is_refused_until_k_responses_changed(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        submit(&app, 40).await;
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        assert_eq!(snapshot(&app, &s.cookie, &s.csrf, PASSPHRASE).await.0, 303);
        // Nine new answers and a withdrawal: 10 differ... but first only nine.
        submit(&app, 9).await;
        let (status, page, _) = snapshot(&app, &s.cookie, &s.csrf, PASSPHRASE).await;
        assert_eq!(status, 400);
        assert!(page.contains("only 9 responses differ"), "{page}");
        let (_, reply) = app.post_json("/api/v1/surveys/harms/responses", r#"{"answers":{"age":"18_24"}}"#).await;
        let receipt = reply["receipt"].as_str().unwrap().to_owned();
        // Adding and then withdrawing one answer changes nothing.
        app.post_json("/api/v1/withdraw", &format!(r#"{{"receipt":"{receipt}"}}"#)).await;
        assert_eq!(snapshot(&app, &s.cookie, &s.csrf, PASSPHRASE).await.0, 400);
        submit(&app, 1).await;
        assert_eq!(snapshot(&app, &s.cookie, &s.csrf, PASSPHRASE).await.0, 303, "ten changed responses allow it");
    });
}

fn synthetic_snapshots_are_labelled_and_never_published(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        let survey = chorus::survey::Survey::parse(chorus::survey::DEFAULT_SURVEY).unwrap();
        let mut rng = rand::rng();
        let batch: Vec<_> = (0..50).map(|_| chorus::dev::synthetic_answers(&survey, &mut rng)).collect();
        chorus::intake::store_synthetic(&app.state.intake.keyring, &mut app.conn(), &survey, &batch).unwrap();
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let (status, _, location) = snapshot(&app, &s.cookie, &s.csrf, PASSPHRASE).await;
        assert_eq!(status, 303);
        let path = location.unwrap();
        let (_, _, page) = get_as(&app, &path, &s.cookie).await;
        assert!(page.contains("SYNTHETIC DATA"));
        assert!(!page.contains("Publish to /reports"), "no publish button");
        let id = path.rsplit('/').next().unwrap();
        let (status, _) =
            post_as(&app, &format!("/staff/reports/{id}/publish"), &s.cookie, &format!("csrf={}", s.csrf), None).await;
        assert_eq!(status, 409);
        assert_eq!(app.get(&format!("/reports/{id}")).await.0, 404);
        let (_, _, json) = get_as(&app, &format!("{path}.json"), &s.cookie).await;
        assert!(json.contains("\"synthetic\":true"));
    });
}

fn a_wrong_passphrase_runs_no_snapshot(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "res1", "researcher", RESEARCHER_PW);
        submit(&app, 30).await;
        let s = login(&app, "res1", RESEARCHER_PW).await.unwrap();
        let (status, page, _) = snapshot(&app, &s.cookie, &s.csrf, "not the steward passphrase at all").await;
        assert_eq!(status, 400);
        assert!(page.contains("passphrase is wrong"));
        assert!(chorus::store::snapshots::list(&mut app.conn(), false).unwrap().is_empty());
        // A researcher who holds the passphrase may run one, but not publish it.
        let (status, _, location) = snapshot(&app, &s.cookie, &s.csrf, PASSPHRASE).await;
        assert_eq!(status, 303);
        let id = location.unwrap().rsplit('/').next().unwrap().to_owned();
        let (status, _) =
            post_as(&app, &format!("/staff/reports/{id}/publish"), &s.cookie, &format!("csrf={}", s.csrf), None).await;
        assert_eq!(status, 403);
    });
}
