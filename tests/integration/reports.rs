//! Releases end to end: answers in, a release made by staff with the passphrase under the survey's
//! privacy budget, publication, the public page and its downloads, retraction, the budget ledger,
//! consistency of every released table, and the synthetic-data guard.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{
    Backend, PASSPHRASE, TestApp, read_response, run,
    staff::{ADMIN_PW, RESEARCHER_PW, add, get_as, login, post_as},
};

tests! {
    both: [
        release_publish_read_and_retract,
        the_budget_pays_for_each_release_and_refuses_what_it_cannot_carry,
        the_same_request_gets_the_stored_release_not_fresh_noise,
        every_released_table_adds_up,
        a_conditional_question_counts_those_who_were_asked,
        too_few_respondents_are_refused_and_nothing_is_stored,
        synthetic_releases_are_labelled_and_never_published,
        a_wrong_passphrase_runs_no_release,
        concurrent_releases_never_overspend,
    ],
}

pub async fn submit(app: &TestApp, n: usize) {
    let ages = ["18_24", "25_34", "25_34", "35_44", "45_plus"];
    let regions = ["on", "on", "qc", "bc", "atlantic", "prairies"];
    for i in 0..n {
        let body = format!(
            r#"{{"answers":{{"age":"{}","region":"{}","work_type":"{}","officials":["{}"]{}}}}}"#,
            ages[i % ages.len()],
            regions[i % regions.len()],
            if i % 3 == 0 { "massage_only" } else { "sex_work" },
            if i % 4 == 0 { "none" } else { "city_police" },
            if i % 4 == 0 { "" } else { r#","targeted":"maybe""# },
        );
        let (status, reply) = app.post_json("/api/v1/surveys/15977e8c/responses", &body).await;
        assert_eq!(status, 201, "{reply}");
    }
}

fn month() -> String {
    chorus::month::Month::now().to_string()
}

/// Ask for a release through the staff form; (status, page, location).
pub async fn release(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    extra: &str,
    passphrase: &str,
) -> (u16, String, Option<String>) {
    let body =
        format!("csrf={csrf}&survey=harms&through={}&{extra}&passphrase={}", month(), passphrase.replace(' ', "+"));
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

fn id_of(location: &str) -> String {
    location.rsplit('/').next().unwrap().to_owned()
}

async fn json_of(app: &TestApp, cookie: &str, id: &str) -> Value {
    let (status, _, json) = get_as(app, &format!("/staff/reports/{id}.json?lang=en"), cookie).await;
    assert_eq!(status, 200);
    serde_json::from_str(&json).unwrap()
}

fn budget(app: &TestApp) -> chorus::report::Budget {
    chorus::report::budget(&mut app.conn(), "harms").unwrap()
}

fn release_publish_read_and_retract(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        submit(&app, 120).await;
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let (status, page, location) = release(&app, &s.cookie, &s.csrf, "rho=0.5&by=region", PASSPHRASE).await;
        assert_eq!(status, 303, "{page}");
        let path = location.unwrap();
        let id = id_of(&path);
        assert_eq!(get_as(&app, &format!("/reports/{id}"), "").await.0, 404, "a private release is not public");
        let (status, _, page) = get_as(&app, &path, &s.cookie).await;
        assert_eq!(status, 200);
        assert!(page.contains("opt-in sample"), "the opt-in caveat is on the page");
        assert!(
            page.contains("differential privacy") && page.contains("random noise"),
            "the method says noise was added"
        );
        assert!(page.contains("<svg class=\"bar\""), "bar charts are inline SVG");
        // Publishing shows a preview first, with the figures to choose for the fact sheet.
        let (status, _, preview) = get_as(&app, &format!("/staff/reports/{id}/publish"), &s.cookie).await;
        assert_eq!(status, 200);
        assert!(preview.contains("Publish this release?") && preview.contains("value=\"age|25_34\""), "{preview}");
        let body = format!("csrf={}&headline=age%7C25_34&headline=officials.city_police%7Cchosen", s.csrf);
        let (status, _) = post_as(&app, &format!("/staff/reports/{id}/publish"), &s.cookie, &body, None).await;
        assert_eq!(status, 303);
        let (status, _, sheet) = app.get(&format!("/reports/{id}/factsheet")).await;
        assert_eq!(status, 200);
        assert!(
            sheet.contains("Key figures") && sheet.contains("25 to 34") && sheet.contains("City or regional police"),
            "{sheet}"
        );
        assert!(
            sheet.contains("95% interval") && sheet.contains("/reports/verify") && sheet.contains("SHA-256"),
            "{sheet}"
        );
        // The explorer: a question by a breakdown, as counts, from released numbers.
        let (status, _, explore) = app.get(&format!("/reports/explore?release={id}&q=age&by=region&show=count")).await;
        assert_eq!(status, 200);
        assert!(
            explore.contains("How old are you?") && explore.contains("<option value=\"region\" selected>"),
            "{explore}"
        );
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
        assert!(page.contains(&hex::encode(Sha256::digest(json.as_bytes()))), "citation names the JSON's SHA-256");
        let doc: Value = serde_json::from_str(&json).unwrap();
        let snap = &doc["snapshot"];
        assert_eq!(snap["survey"], "harms");
        let n = snap["n"].as_u64().unwrap();
        assert!(n.abs_diff(120) < 60, "the released n is near the true 120: {n}");
        let privacy = &snap["privacy"];
        assert_eq!(privacy["guarantee"], "zero-concentrated differential privacy");
        assert!(privacy["rho_this_release"].as_f64().unwrap() <= 0.5);
        assert!((privacy["budget_total"].as_f64().unwrap() - 1.0).abs() < 1e-9);
        assert!(privacy["budget_remaining"].as_f64().unwrap() >= 0.5 - 1e-6);
        assert!(snap["left_out"].as_array().unwrap().iter().any(|t| t == "age~status"), "tables not chosen are named");
        let tables = doc["tables"].as_array().unwrap();
        assert!(tables.iter().any(|t| t["id"] == "age~region"), "cross-tables by the chosen breakdown are released");
        for t in tables {
            for c in t["cells"].as_array().unwrap() {
                assert!(c["noise_sd"].as_f64().unwrap() > 0.0, "each count carries its noise");
                match c["count"].as_u64() {
                    Some(v) => assert!(v >= 5, "{} shows {v}: under 5 is 'fewer than 5'", t["id"]),
                    None => assert_eq!(c["fewer_than"], 5),
                }
            }
        }
        let (status, headers, csv) = app.get(&format!("/reports/{id}.csv")).await;
        assert_eq!(status, 200);
        assert!(headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/csv"));
        assert!(
            csv.starts_with("# release: ")
                && csv.contains(
                    "\ntable,title,row,row_label,column,column_label,count,fewer_than,noise_sd,percent,ci_low,ci_high\n"
                )
        );
        // Retraction asks for a reason, and takes the release down in every format, saying why.
        let retract = format!("/staff/reports/{id}/retract");
        assert_eq!(post_as(&app, &retract, &s.cookie, &format!("csrf={}", s.csrf), None).await.0, 400, "no reason");
        let body = format!("csrf={}&reason=A+coding+error+in+the+age+table", s.csrf);
        assert_eq!(post_as(&app, &retract, &s.cookie, &body, None).await.0, 303);
        let (_, _, list) = app.get("/reports").await;
        assert!(!list.contains(&format!("/reports/{id}")), "a retracted release is not listed");
        for suffix in ["", ".csv", ".json"] {
            let (status, _, page) = app.get(&format!("/reports/{id}{suffix}")).await;
            assert_eq!(status, 410, "{suffix}");
            assert!(page.contains("retracted") && page.contains("A coding error in the age table"), "{page}");
        }
        // The audit trail has the run with its spend, the publication and the retraction.
        let (_, _, audit) = get_as(&app, "/staff/audit", &s.cookie).await;
        for action in ["release_run", "publish", "retract"] {
            assert!(audit.contains(&format!("<td>{action}</td>")), "{action}");
        }
        assert!(audit.contains("spent rho"), "the spend is audited");
    });
}

fn the_budget_pays_for_each_release_and_refuses_what_it_cannot_carry(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        submit(&app, 80).await;
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let (_, _, page) = get_as(&app, "/staff/reports", &s.cookie).await;
        assert!(
            page.contains("Privacy budgets") && page.contains("1.000"),
            "spent and remaining before the passphrase"
        );
        assert_eq!(release(&app, &s.cookie, &s.csrf, "rho=0.6&tables=age", PASSPHRASE).await.0, 303);
        let after = budget(&app);
        assert!(after.spent > 0.59 && after.spent <= 0.6 + 1e-6, "{after:?}");
        let (status, page, _) = release(&app, &s.cookie, &s.csrf, "rho=0.5&tables=age", PASSPHRASE).await;
        assert_eq!(status, 400);
        assert!(
            page.contains("privacy budget") && page.contains("remaining 0.4"),
            "names the budget and its numbers: {page}"
        );
        assert_eq!(budget(&app).spent, after.spent, "a refused release spends nothing");
        // An admin raises the total; the next release fits.
        let body = format!("csrf={}&total=2", s.csrf);
        assert_eq!(post_as(&app, "/staff/surveys/harms/budget", &s.cookie, &body, None).await.0, 303);
        assert_eq!(release(&app, &s.cookie, &s.csrf, "rho=0.5&tables=age", PASSPHRASE).await.0, 303);
        // Never below what is spent.
        let body = format!("csrf={}&total=0.5", s.csrf);
        assert_eq!(post_as(&app, "/staff/surveys/harms/budget", &s.cookie, &body, None).await.0, 400);
        let (_, _, audit) = get_as(&app, "/staff/audit", &s.cookie).await;
        assert!(audit.contains("budget_set"));
    });
}

fn the_same_request_gets_the_stored_release_not_fresh_noise(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        submit(&app, 80).await;
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let first = release(&app, &s.cookie, &s.csrf, "rho=0.2&tables=age", PASSPHRASE).await.2.unwrap();
        let spent = budget(&app).spent;
        let again = release(&app, &s.cookie, &s.csrf, "rho=0.2&tables=age", PASSPHRASE).await.2.unwrap();
        assert_eq!(first, again, "the stored release is served again");
        assert_eq!(budget(&app).spent, spent, "and nothing more is spent");
        // The scrub re-keys every answer (their placements come off): the same answers, the same release.
        app.state.intake.scrub(false).await.unwrap();
        let scrubbed = release(&app, &s.cookie, &s.csrf, "rho=0.2&tables=age", PASSPHRASE).await.2.unwrap();
        assert_eq!(first, scrubbed, "the stored release is served again after a scrub");
        assert_eq!(budget(&app).spent, spent, "and nothing more is spent after a scrub");
        // One more answer is a different release, paid for.
        submit(&app, 1).await;
        let third = release(&app, &s.cookie, &s.csrf, "rho=0.2&tables=age", PASSPHRASE).await.2.unwrap();
        assert_ne!(first, third);
        assert!(budget(&app).spent > spent);
    });
}

/// Cells of a table as a rows × cols matrix of released counts (from the staff JSON, which shows
/// "fewer than 5" as null: those are read back from the stored release instead).
fn stored(app: &TestApp, id: &str) -> Vec<chorus::report::StoredTable> {
    let row = chorus::store::snapshots::get(&mut app.conn(), id).unwrap().unwrap();
    chorus::report::Snapshot::from_row(row).unwrap().tables
}

fn every_released_table_adds_up(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        let survey = chorus::survey::Survey::parse(chorus::survey::DEFAULT_SURVEY).unwrap();
        submit(&app, 60).await;
        let mut rng = rand::rng();
        let batch: Vec<_> = (0..60).map(|_| chorus::dev::synthetic_answers(&survey, &mut rng)).collect();
        chorus::intake::store_synthetic(&app.state.intake.keyring, &mut app.conn(), &survey, &batch).unwrap();
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let location = release(&app, &s.cookie, &s.csrf, "rho=0.5&by=status&by=month", PASSPHRASE).await.2.unwrap();
        let tables = stored(&app, &id_of(&location));
        let by_id = |id: &str| tables.iter().find(|t| t.id == id).unwrap_or_else(|| panic!("no table {id}"));
        let n = by_id("n").total;
        let mut crossed = 0;
        for t in &tables {
            let cols = t.cols.len().max(1);
            for (r, total) in t.row_totals.iter().enumerate() {
                assert_eq!((0..cols).map(|c| t.cells[r * cols + c]).sum::<u64>(), *total, "{}: row {r}", t.id);
            }
            assert_eq!(t.row_totals.iter().sum::<u64>(), t.total, "{}: rows add to the total", t.id);
            if let Some(by) = &t.by {
                crossed += 1;
                assert_eq!(t.col_totals.iter().sum::<u64>(), t.total, "{}", t.id);
                let parent = t.option.as_ref().map(|_| format!("{}~{by}", t.question));
                match parent {
                    // An option crossed with a breakdown: its columns are those who answered, per column.
                    Some(p) => assert_eq!(t.col_totals, by_id(&p).cells[..t.col_totals.len()], "{}", t.id),
                    None => {
                        assert_eq!(t.col_totals, by_id(by).cells, "{}: columns equal the one-way {by}", t.id);
                        assert_eq!(t.row_totals, by_id(&t.question).cells, "{}: rows equal the one-way table", t.id);
                    }
                }
            } else if t.option.is_some() {
                let answered = by_id(&t.question).cells[0];
                assert_eq!(t.total, answered, "{}: chosen + not chosen = those who answered", t.id);
            } else {
                assert_eq!(t.total, n, "{}: a one-way table adds up to n", t.id);
            }
        }
        assert!(crossed > 40, "cross-tables are released, none withheld: {crossed}");
    });
}

fn a_conditional_question_counts_those_who_were_asked(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        submit(&app, 120).await;
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let location = release(&app, &s.cookie, &s.csrf, "rho=0.5&tables=targeted", PASSPHRASE).await.2.unwrap();
        let doc = json_of(&app, &s.cookie, &id_of(&location)).await;
        let targeted = doc["tables"].as_array().unwrap().iter().find(|t| t["id"] == "targeted").unwrap().clone();
        assert_eq!(targeted["not_asked_counted"], true);
        let rows: Vec<&str> =
            targeted["cells"].as_array().unwrap().iter().map(|c| c["row"].as_str().unwrap()).collect();
        assert!(rows.contains(&"not_asked") && rows.contains(&"skipped"), "{rows:?}");
        // 90 of 120 were asked (those who met officials); the released figure is near that, below n.
        let asked = targeted["asked"].as_u64().unwrap();
        assert!(asked < doc["snapshot"]["n"].as_u64().unwrap() && asked.abs_diff(90) < 30, "asked {asked}");
        let (_, _, page) = get_as(&app, &location, &s.cookie).await;
        assert!(page.contains("Asked this question"), "the page says who the table counts");
    });
}

fn too_few_respondents_are_refused_and_nothing_is_stored(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        submit(&app, 8).await;
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let (status, page, _) = release(&app, &s.cookie, &s.csrf, "rho=0.5&tables=age", PASSPHRASE).await;
        assert_eq!(status, 400);
        assert!(page.contains("fewer than 50 respondents"), "{page}");
        assert!(chorus::store::snapshots::list(&mut app.conn(), false).unwrap().is_empty());
        let spent = budget(&app).spent;
        assert!(spent > 0.0 && spent < 0.5, "only the total's share is charged: {spent}");
    });
}

fn synthetic_releases_are_labelled_and_never_published(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "admin1", "admin", ADMIN_PW);
        let survey = chorus::survey::Survey::parse(chorus::survey::DEFAULT_SURVEY).unwrap();
        let mut rng = rand::rng();
        let batch: Vec<_> = (0..100).map(|_| chorus::dev::synthetic_answers(&survey, &mut rng)).collect();
        chorus::intake::store_synthetic(&app.state.intake.keyring, &mut app.conn(), &survey, &batch).unwrap();
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let (status, page, location) = release(&app, &s.cookie, &s.csrf, "rho=0.3&tables=age", PASSPHRASE).await;
        assert_eq!(status, 303, "{page}");
        let path = location.unwrap();
        let (_, _, page) = get_as(&app, &path, &s.cookie).await;
        assert!(page.contains("SYNTHETIC DATA"));
        assert!(!page.contains("Publish to /reports"), "no publish button");
        let id = id_of(&path);
        let (status, _) =
            post_as(&app, &format!("/staff/reports/{id}/publish"), &s.cookie, &format!("csrf={}", s.csrf), None).await;
        assert_eq!(status, 409);
        assert_eq!(app.get(&format!("/reports/{id}")).await.0, 404);
        assert_eq!(json_of(&app, &s.cookie, &id).await["snapshot"]["synthetic"], true);
    });
}

fn a_wrong_passphrase_runs_no_release(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "res1", "researcher", RESEARCHER_PW);
        submit(&app, 80).await;
        let s = login(&app, "res1", RESEARCHER_PW).await.unwrap();
        let (status, page, _) =
            release(&app, &s.cookie, &s.csrf, "rho=0.3&tables=age", "not the steward passphrase at all").await;
        assert_eq!(status, 400);
        assert!(page.contains("passphrase is wrong"));
        assert!(chorus::store::snapshots::list(&mut app.conn(), false).unwrap().is_empty());
        assert_eq!(budget(&app).spent, 0.0, "a wrong passphrase spends nothing");
        // A researcher who holds the passphrase may make one, but not publish it.
        let (status, _, location) = release(&app, &s.cookie, &s.csrf, "rho=0.3&tables=age", PASSPHRASE).await;
        assert_eq!(status, 303);
        let id = id_of(&location.unwrap());
        let (status, _) =
            post_as(&app, &format!("/staff/reports/{id}/publish"), &s.cookie, &format!("csrf={}", s.csrf), None).await;
        assert_eq!(status, 403);
    });
}

/// Many releases at once against one budget: whatever the interleaving, the ledger never spends
/// past its total and never goes negative, and every stored release was paid for.
fn concurrent_releases_never_overspend(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        submit(&app, 60).await;
        let workers: Vec<_> = (0..8)
            .map(|i| {
                let state = app.state.clone();
                std::thread::spawn(move || {
                    let spec = chorus::report::SnapshotSpec {
                        // Different rhos: different requests, so none is served another's release.
                        rho: 0.3 + f64::from(i) * 0.001,
                        tables: vec!["age".into()],
                        ..chorus::report::SnapshotSpec::new("harms", chorus::month::Month::now().to_string())
                    };
                    let mut conn = state.store.conn().unwrap();
                    chorus::report::run_snapshot(
                        &mut conn,
                        &state.intake.surveys,
                        &secrecy::SecretString::from(PASSPHRASE),
                        &spec,
                        "test",
                        state.clock.now(),
                    )
                    .map(|s| s.row.rho_micro)
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        let paid: i64 = results.iter().filter_map(|r| r.as_ref().ok()).sum();
        let succeeded = results.iter().filter(|r| r.is_ok()).count();
        assert!((1..=3).contains(&succeeded), "a budget of 1 carries at most three releases of 0.3: {succeeded}");
        for r in &results {
            if let Err(e) = r {
                assert!(matches!(e, chorus::report::ReportError::OverBudget { .. }), "{e}");
            }
        }
        let b = budget(&app);
        assert!(b.spent <= b.total && b.spent >= 0.0, "{b:?}");
        assert!((b.spent - paid as f64 / 1e6).abs() < 1e-9, "the ledger equals the sum of stored releases");
    });
}
