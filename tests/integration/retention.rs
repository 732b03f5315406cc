//! Retention (issue 18, item 4): once a survey is closed and released, its sealed answers are
//! destroyed when the retention period is over — no sealed byte left in the database files (-wal
//! included) or in pg_dump — while the published release still serves. Both backends.

use chorus::{
    report::{self, SnapshotSpec, SnapshotStatus},
    retention,
    store::surveys::SurveyStatus,
};
use secrecy::SecretString;

use crate::helpers::{Backend, PASSPHRASE, TestApp, cli, files_under, run};

tests! {
    both: [answers_are_destroyed_on_schedule_and_releases_stay, an_admin_destroys_early],
    once: [retention_from_the_console],
}

/// `n` answers to `slug`; for the `notes` survey (free text) each carries the returned canary.
async fn answers_with_canary(app: &TestApp, slug: &str, n: usize) -> String {
    let canary = format!("canary-{}", chorus::seal::random_id());
    for _ in 0..n {
        let body = if slug == "notes" {
            format!(r#"{{"answers":{{"age":"25_34","notes":"{canary}"}}}}"#)
        } else {
            r#"{"answers":{"age":"25_34"}}"#.to_owned()
        };
        let path = app.state.public_path(slug);
        assert_eq!(app.post_json(&format!("/api/v1/surveys/{path}/responses"), &body).await.0, 201);
    }
    canary
}

fn sealed_bytes(app: &TestApp) -> Vec<Vec<u8>> {
    app.with_conn(|c| {
        use diesel::{QueryDsl, RunQueryDsl};
        chorus::store::schema::responses::table.select(chorus::store::schema::responses::sealed).load(c).unwrap()
    })
}

fn database_files(app: &TestApp) -> Vec<u8> {
    match app.backend {
        Backend::Sqlite => files_under(app.dir.path()),
        Backend::Postgres => app.database_bytes(),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn answers_are_destroyed_on_schedule_and_releases_stay(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        answers_with_canary(&app, "harms", 120).await;
        let sealed = sealed_bytes(&app);
        assert_eq!(sealed.len(), 120);
        let accounts = &app.state.accounts;
        let today = chorus::month::date(accounts.clock.now());
        let mut conn = app.conn();
        let st = retention::set_days(&mut conn, "harms", 10).unwrap();
        assert_eq!((st.sealed, st.destroy_on.as_deref()), (120, None), "open: nothing scheduled");
        app.state.intake.surveys.set_status(&mut conn, "harms", SurveyStatus::Closed).unwrap();
        retention::survey_status_changed(&mut conn, "harms", SurveyStatus::Closed, &today).unwrap();
        assert_eq!(retention::status(&mut conn, "harms").unwrap().destroy_on, None, "no release yet");
        // The final release, published.
        let spec = SnapshotSpec {
            tables: vec!["age".into()],
            ..SnapshotSpec::new("harms", chorus::month::Month::now().to_string())
        };
        let snap = report::run_and_audit(
            &mut conn,
            &app.state.intake.surveys,
            accounts,
            &SecretString::from(PASSPHRASE),
            &spec,
            "t",
        )
        .unwrap();
        let id = snap.row.id.clone();
        report::change_status(&mut conn, accounts, "t", &id, SnapshotStatus::Published, &today, &Default::default())
            .unwrap();
        let st = retention::status(&mut conn, "harms").unwrap();
        let due = st.destroy_on.clone().expect("closed and released: scheduled");
        assert!(due > today);
        assert!(retention::run_due(&mut conn, accounts).unwrap().is_empty(), "not before the day");
        assert_eq!(app.count("harms"), 120);
        accounts.clock.advance(11 * 86_400);
        let done = retention::run_due(&mut conn, accounts).unwrap();
        assert_eq!(done, vec![("harms".to_owned(), 120)]);
        drop(conn);
        assert_eq!(app.count("harms"), 0);
        let bytes = database_files(&app);
        for s in &sealed {
            // Any 48 bytes of a sealed answer (past its nonce) would betray that it is still there.
            assert!(!contains(&bytes, &s[24..72]), "a sealed answer survives its destruction");
        }
        let mut conn = app.conn();
        let st = retention::status(&mut conn, "harms").unwrap();
        assert_eq!(st.sealed, 0);
        assert!(st.destroyed_on.is_some());
        let audit = chorus::store::staff::audit_page(&mut conn, None, Some("answers_destroyed"), 0, 10).unwrap();
        assert_eq!(audit.len(), 1, "destruction is audited");
        drop(conn);
        let (status, _, page) = app.get(&format!("/reports/{id}")).await;
        assert_eq!(status, 200, "the published release still serves: {page}");
        assert_eq!(app.get(&format!("/reports/{id}.json")).await.0, 200);
    });
}

fn an_admin_destroys_early(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        app.open_notes_survey();
        let canary = answers_with_canary(&app, "notes", 5).await;
        let sealed = sealed_bytes(&app);
        let mut conn = app.conn();
        assert!(retention::destroy(&mut conn, &app.state.accounts, "admin", "nope", "test").is_err());
        assert_eq!(retention::destroy(&mut conn, &app.state.accounts, "admin", "notes", "early").unwrap(), 5);
        drop(conn);
        let bytes = database_files(&app);
        assert!(!contains(&bytes, canary.as_bytes()));
        for s in &sealed {
            assert!(!contains(&bytes, &s[24..72]), "a sealed answer survives its destruction");
        }
        // New answers still arrive (the survey is open) and open with the passphrase.
        answers_with_canary(&app, "notes", 1).await;
        assert_eq!(app.count("notes"), 1);
    });
}

fn retention_from_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("pp"), format!("{PASSPHRASE}\n")).unwrap();
    let chorus = |args: &[&str]| {
        let out = cli::chorus(d)
            .args(args)
            .env("CHORUS_KDF_MEMORY_MIB", "64")
            .env("CHORUS_KDF_ITERATIONS", "3")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &err)
    };
    assert!(chorus(&["keys", "init", "--passphrase-file", "pp"]).0);
    assert!(chorus(&["survey", "testing", "harms"]).0);
    assert!(chorus(&["dev", "seed", "harms", "--count", "10"]).0);
    let (ok, out) = chorus(&["survey", "retention", "harms", "--days", "30"]);
    assert!(ok && out.contains("10 sealed answers; kept 30 days") && out.contains("when the survey closes"), "{out}");
    assert!(chorus(&["survey", "close", "harms"]).0);
    let (ok, out) = chorus(&["survey", "retention", "harms"]);
    assert!(ok && out.contains("closed ") && out.contains("once a release is made"), "{out}");
    let (ok, out) = chorus(&["survey", "destroy-due"]);
    assert!(ok && out.contains("0 surveys"), "{out}");
    let (ok, out) = chorus(&["survey", "destroy", "harms", "--confirm", "nope"]);
    assert!(!ok && out.contains("--confirm harms"), "{out}");
    let (ok, out) = chorus(&["survey", "destroy", "harms", "--confirm", "harms"]);
    assert!(ok && out.contains("10 sealed answers of harms destroyed"), "{out}");
    let (ok, out) = chorus(&["survey", "retention", "harms"]);
    assert!(ok && out.contains("0 sealed answers") && out.contains("destroyed "), "{out}");
}
