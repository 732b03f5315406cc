//! Nothing acknowledged is lost, and nothing unstored is acknowledged: the group-commit writer
//! answers a receipt only after its row is committed.

use diesel::{RunQueryDsl, connection::SimpleConnection};

use crate::helpers::{Backend, TestApp, page::hidden, read_response, run};

tests! {
    both: [
        a_failed_insert_is_answered_with_an_error_not_a_receipt,
        concurrent_submissions_are_all_committed,
        a_row_the_database_refuses_costs_that_answer_alone,
        a_batch_larger_than_one_statement_is_stored_whole,
        a_batch_insert_is_prepared_once_per_row_count,
        a_token_or_code_sent_many_times_at_once_is_spent_once,
        staff_changes_commit_while_answers_pour_in,
    ],
    once: [
        answers_reach_the_database_file_beside_the_writer,
        under_a_flood_the_writer_starts_the_wal_over,
    ],
    postgres_only: [
        a_failed_commit_is_answered_with_an_error_not_a_receipt,
    ],
}

fn a_failed_insert_is_answered_with_an_error_not_a_receipt(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        assert_eq!(app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#).await.0, 201);
        let sql = match backend {
            Backend::Sqlite => "CREATE TRIGGER fail_insert BEFORE INSERT ON responses BEGIN SELECT RAISE(FAIL, 'injected'); END;",
            Backend::Postgres => {
                "CREATE FUNCTION fail_insert() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql;
                 CREATE TRIGGER fail_insert BEFORE INSERT ON responses FOR EACH ROW EXECUTE FUNCTION fail_insert();"
            }
        };
        app.with_conn(|c| c.batch_execute(sql).unwrap());
        let (status, body) =
            app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#).await;
        assert_eq!(status, 500, "{body}");
        assert!(body.get("receipt").is_none(), "no receipt for an answer that was not stored: {body}");
        let (_, _, form) = app.form_page("/s/15977e8c").await;
        let token = hidden(&form, "token");
        let (status, _, page) = app.post_form("/s/15977e8c", &format!("token={token}&q.age=18_24")).await;
        assert_eq!(status, 500);
        assert!(!page.contains("class=\"code\""), "the form shows no receipt either");
        assert_eq!(app.count("harms"), 1);
        // The token was not spent by the failed attempt: once storage works again it is accepted.
        app.with_conn(|c| {
            c.batch_execute("DROP TRIGGER fail_insert ON responses")
                .or_else(|_| c.batch_execute("DROP TRIGGER fail_insert"))
                .unwrap()
        });
        assert_eq!(app.post_form("/s/15977e8c", &format!("token={token}&q.age=18_24")).await.0, 200);
        assert_eq!(app.count("harms"), 2);
    });
}

fn a_failed_commit_is_answered_with_an_error_not_a_receipt() {
    run(async {
        let app = TestApp::spawn(Backend::Postgres).await;
        app.init_keys();
        // A deferred constraint fails at COMMIT itself, after every statement of the batch succeeded.
        app.with_conn(|c| {
            c.batch_execute(
                "CREATE FUNCTION fail_commit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected at commit'; END $$ LANGUAGE plpgsql;
                 CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON responses DEFERRABLE INITIALLY DEFERRED
                   FOR EACH ROW EXECUTE FUNCTION fail_commit();",
            )
            .unwrap()
        });
        let (status, body) =
            app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#).await;
        assert_eq!(status, 500, "{body}");
        assert!(body.get("receipt").is_none());
        assert_eq!(app.count("harms"), 0);
        app.with_conn(|c| diesel::sql_query("DROP TRIGGER fail_commit ON responses").execute(c).unwrap());
        assert_eq!(app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#).await.0, 201);
        assert_eq!(app.count("harms"), 1);
    });
}

fn concurrent_submissions_are_all_committed(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let requests = (0..64).map(|i| {
            let body = format!(r#"{{"answers":{{"age":"{}"}}}}"#, ["18_24", "25_34", "35_44"][i % 3]);
            app.client
                .post(app.url("/api/v1/surveys/15977e8c/responses"))
                .header("content-type", "application/json")
                .body(body)
                .send()
        });
        let mut receipts = 0;
        for res in futures_util::future::join_all(requests).await {
            let (status, _, body) = read_response(res.unwrap()).await;
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            if status == 201 && body["receipt"].is_string() {
                receipts += 1;
            }
        }
        assert_eq!(receipts, 64);
        assert_eq!(app.count("harms"), 64, "every receipt stands for a stored row");
    });
}

/// A group commit writes its rows with one multi-row INSERT; when the database refuses one row, the
/// whole statement fails. The writer then stores the batch row by row: the refused answer gets an
/// error, its neighbours their receipts, and every receipt stands for a stored row.
fn a_row_the_database_refuses_costs_that_answer_alone(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        // Ids are random hex: about half of them start with 0-7 and are refused. (The id, not the key:
        // a batch's keys share the placement before it.)
        let sql = match backend {
            Backend::Sqlite => {
                "CREATE TRIGGER fail_some BEFORE INSERT ON responses WHEN substr(NEW.id, length(NEW.id) - 31, 1) < '8' BEGIN SELECT RAISE(FAIL, 'injected'); END;"
            }
            Backend::Postgres => {
                "CREATE FUNCTION fail_some() RETURNS trigger AS $$ BEGIN IF substr(NEW.id, length(NEW.id) - 31, 1) < '8' THEN RAISE EXCEPTION 'injected'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
                 CREATE TRIGGER fail_some BEFORE INSERT ON responses FOR EACH ROW EXECUTE FUNCTION fail_some();"
            }
        };
        app.with_conn(|c| c.batch_execute(sql).unwrap());
        // Hold the table's write lock while the answers arrive, so they queue at the writer and most
        // of them meet in one batch (one multi-row INSERT) once it is released.
        let mut lock = app.store().dedicated().unwrap();
        lock.batch_execute(match backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN; LOCK TABLE responses IN EXCLUSIVE MODE",
        })
        .unwrap();
        let requests: Vec<_> = (0..64)
            .map(|_| {
                let req = app
                    .client
                    .post(app.url("/api/v1/surveys/15977e8c/responses"))
                    .header("content-type", "application/json")
                    .body(r#"{"answers":{"age":"18_24"}}"#)
                    .send();
                actix_web::rt::spawn(req)
            })
            .collect();
        actix_web::rt::time::sleep(std::time::Duration::from_millis(1500)).await;
        lock.batch_execute("COMMIT").unwrap();
        let (mut receipts, mut refused) = (0, 0);
        for res in futures_util::future::join_all(requests).await {
            let res = res.expect("request task");
            let (status, _, body) = read_response(res.unwrap()).await;
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            match status {
                201 if body["receipt"].is_string() => receipts += 1,
                500 if body.get("receipt").is_none() => refused += 1,
                other => panic!("unexpected answer {other}: {body}"),
            }
        }
        assert!(receipts > 0 && refused > 0, "{receipts} stored, {refused} refused: the trigger should split them");
        assert_eq!(app.count("harms"), receipts, "every receipt stands for a stored row, and only those");
    });
}

/// Batches small enough for a kept statement (up to `PREPARED_ROWS` rows), one past that, and more
/// rows than one statement may bind (SQLite's limit on bound parameters) are stored whole; each size
/// comes twice, so a kept statement runs again with new rows (had it kept the first rows' values,
/// the second run would repeat their ids and fail).
fn a_batch_larger_than_one_statement_is_stored_whole(backend: Backend) {
    use chorus::store::responses::{PREPARED_ROWS, ROWS_PER_STATEMENT};
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let sizes = [1, 2, 13, PREPARED_ROWS - 1, PREPARED_ROWS, PREPARED_ROWS + 1, ROWS_PER_STATEMENT * 2 + 3];
        let mut stored = 0;
        for n in sizes.into_iter().flat_map(|n| [n, n]) {
            app.with_conn(|c| store_synthetic_batch(&app, c, n));
            stored += n as i64;
            assert_eq!(app.count("harms"), stored, "a batch of {n} was not stored whole");
        }
    });
}

/// Seal `n` synthetic answer sets of the default survey and store them in one transaction.
fn store_synthetic_batch(app: &TestApp, conn: &mut chorus::store::DbConn, n: usize) {
    let intake = &app.state.intake;
    let (survey, _) = intake.surveys.current(conn, "harms").unwrap().unwrap();
    let mut rng = rand::rng();
    let batch: Vec<_> = (0..n).map(|_| chorus::dev::synthetic_answers(&survey, &mut rng)).collect();
    chorus::intake::store_synthetic(&intake.keyring, conn, &survey, &batch).unwrap();
}

/// A batch's INSERT is prepared once per row count and kept (`responses::insert_prepared`): two
/// batches of the same size add one statement to the connection's cache, not two, and not none (a
/// statement prepared anew for every batch is what this replaced, docs/benchmarks.md).
fn a_batch_insert_is_prepared_once_per_row_count(backend: Backend) {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Connection, InstrumentationEvent};
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let cached = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut conn = app.store().dedicated().unwrap();
        let seen = cached.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                seen.lock().unwrap().push(sql.to_owned());
            }
        });
        for n in [13, 13, 5] {
            store_synthetic_batch(&app, &mut conn, n);
        }
        let inserts = cached
            .lock()
            .unwrap()
            .iter()
            .filter(|sql| sql.starts_with("INSERT INTO") && sql.contains("responses"))
            .count();
        assert_eq!(inserts, 2, "one kept statement for 13 rows and one for 5: {:?}", cached.lock().unwrap());
        assert_eq!(app.count("harms"), 31);
    });
}

/// A double tap, a replayed form or a shared outreach code, arriving together: the copies meet in one
/// batch, whose claims are made together (one read and one insert for the tokens). One copy of each is
/// stored; every other copy is refused, and every receipt stands for a stored row.
fn a_token_or_code_sent_many_times_at_once_is_spent_once(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let (_, _, form) = app.form_page("/s/15977e8c").await;
        let token = hidden(&form, "token");
        let code = chorus::intake::codes::generate();
        let hash = chorus::intake::codes::hash("harms", &chorus::intake::codes::normalise(&code).unwrap());
        chorus::store::defences::insert_codes(&mut app.conn(), "harms", "test", &[hash]).unwrap();
        // Hold the write lock while the copies arrive, so they queue at the writer and meet in a batch.
        let mut lock = app.store().dedicated().unwrap();
        lock.batch_execute(match backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN; LOCK TABLE responses, used_form_tokens IN EXCLUSIVE MODE",
        })
        .unwrap();
        let send = |path: &str, content_type: &str, body: String| {
            let req = app.client.post(app.url(path)).header("content-type", content_type).body(body).send();
            actix_web::rt::spawn(req)
        };
        let forms: Vec<_> = (0..6)
            .map(|_| send("/s/15977e8c", "application/x-www-form-urlencoded", format!("token={token}&q.age=18_24")))
            .collect();
        let coded: Vec<_> = (0..4)
            .map(|_| {
                let body = format!(r#"{{"answers":{{"age":"25_34"}},"code":"{code}"}}"#);
                send("/api/v1/surveys/15977e8c/responses", "application/json", body)
            })
            .collect();
        actix_web::rt::time::sleep(std::time::Duration::from_millis(1000)).await;
        lock.batch_execute("COMMIT").unwrap();
        let (mut stored, mut refused) = (0, 0);
        for res in futures_util::future::join_all(forms).await {
            let (status, _, page) = read_response(res.expect("request task").unwrap()).await;
            assert_eq!(status, 200, "{page}");
            if page.contains("already received") {
                refused += 1;
            } else {
                assert!(!crate::helpers::page::receipt_in(&page).is_empty(), "{page}");
                stored += 1;
            }
        }
        assert_eq!((stored, refused), (1, 5), "one copy of the form is stored, five are told it already was");
        let statuses: Vec<u16> = futures_util::future::join_all(coded)
            .await
            .into_iter()
            .map(|res| res.expect("request task").unwrap().status().as_u16())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "one answer with the code is stored: {statuses:?}"
        );
        assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 3, "the others are refused: {statuses:?}");
        assert_eq!(app.count("harms"), 2, "every acknowledged answer is stored, and only those");
    });
}

/// A flood is exactly when staff close a survey, so a staff change must not fail because answers are
/// being committed meanwhile. A transaction that reads before it writes (closing reads the survey's
/// row first) used to start as a reader on SQLite; when the writer committed between its read and its
/// write, SQLite refused the write at once ("database is locked"), without waiting.
fn staff_changes_commit_while_answers_pour_in(backend: Backend) {
    use chorus::store::surveys::SurveyStatus;
    use std::sync::atomic::{AtomicBool, Ordering};
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let flood = (0..8).map(|_| {
            let (client, url, done) = (app.client.clone(), app.url("/api/v1/surveys/15977e8c/responses"), done.clone());
            async move {
                let mut sent = 0;
                while !done.load(Ordering::Relaxed) {
                    let res = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(r#"{"answers":{"age":"25_34"}}"#)
                        .send()
                        .await
                        .expect("POST");
                    assert_eq!(res.status().as_u16(), 201, "an answer during the staff changes");
                    sent += 1;
                }
                sent
            }
        });
        let store = app.store().clone();
        let staff_done = done.clone();
        let staff = std::thread::spawn(move || {
            let mut conn = store.conn().expect("connection");
            // Wait until answers are being committed, then change the survey again and again.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let failures: Vec<String> = (0..300)
                .filter_map(|_| chorus::store::surveys::set_status(&mut conn, "harms", SurveyStatus::Open).err())
                .map(|e| e.to_string())
                .collect();
            staff_done.store(true, Ordering::Relaxed);
            failures
        });
        let sent: usize = futures_util::future::join_all(flood).await.into_iter().sum();
        let failures = staff.join().expect("staff thread");
        assert!(failures.is_empty(), "{} of 300 staff changes failed: {:?}", failures.len(), failures.first());
        assert!(sent > 0, "answers were sent meanwhile");
        assert_eq!(app.count("harms"), sent as i64, "every answer acknowledged meanwhile is stored");
    });
}

#[derive(diesel::QueryableByName)]
struct Rows {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The writer's commits no longer checkpoint (`store::checkpoint` does, beside them; the writer's
/// own automatic checkpoint waits for 10,000 pages). Committed answers must still reach the database
/// file itself within a moment, not stay in its -wal: read a copy of the main file alone.
fn answers_reach_the_database_file_beside_the_writer() {
    use diesel::Connection;
    run(async {
        let app = TestApp::spawn(Backend::Sqlite).await;
        app.init_keys();
        for _ in 0..20 {
            assert_eq!(
                app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#).await.0,
                201
            );
        }
        let copy = tempfile::tempdir().unwrap();
        let alone = copy.path().join("alone.db");
        let mut in_file = Err("never read".to_string());
        for _ in 0..50 {
            // A copy taken while a checkpoint writes may be torn: read again a moment later.
            std::fs::copy(app.dir.path().join("chorus.db"), &alone).unwrap();
            std::fs::remove_file(copy.path().join("alone.db-wal")).ok();
            in_file = diesel::SqliteConnection::establish(alone.to_str().unwrap()).map_err(|e| e.to_string()).and_then(
                |mut c| {
                    diesel::sql_query("SELECT count(*) AS n FROM responses WHERE survey_slug = 'harms'")
                        .get_result::<Rows>(&mut c)
                        .map(|r| r.n)
                        .map_err(|e| e.to_string())
                },
            );
            if in_file == Ok(20) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(in_file, Ok(20), "answers in the database file itself, five seconds after their commits");
        assert_eq!(app.count("harms"), 20);
    });
}

/// Under a flood the checkpoint thread never finds the -wal wholly copied when the writer's next
/// transaction begins (the writer commits during every pass), so SQLite never starts the -wal over by
/// itself and it grows to the backstop. The writer's own step, taken between two batches when the
/// checkpoint thread asks (`checkpoint::restart_step`), is what starts it over (docs/benchmarks.md,
/// fifth session). Flood the writer and watch the -wal's frame count, in the wal-index, fall back.
fn under_a_flood_the_writer_starts_the_wal_over() {
    use chorus::store::checkpoint::{BACKSTOP_PAGES, RESTART_AT};
    use futures_util::StreamExt;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    const ROWS: usize = 40_000;
    run(async {
        let app = TestApp::spawn(Backend::Sqlite).await;
        app.init_keys();
        let intake = &app.state.intake;
        let mut conn = app.store().dedicated().unwrap();
        let (survey, _) = intake.surveys.current(&mut conn, "harms").unwrap().unwrap();
        let mut rng = rand::rng();
        let answers = chorus::dev::synthetic_answers(&survey, &mut rng);
        let shm = app.dir.path().join("chorus.db-shm");
        // mxFrame, the frames in the -wal, from the first copy of the wal-index header.
        let frames = || {
            use std::os::unix::fs::FileExt;
            let mut word = [0u8; 4];
            std::fs::File::open(&shm)
                .and_then(|f| f.read_exact_at(&mut word, 16))
                .map_or(0, |()| u32::from_ne_bytes(word))
        };
        // Sealed first, so that the flood keeps the writer's queue full from the first batch to the last.
        let rows: Vec<_> = (0..ROWS)
            .map(|_| chorus::intake::synthetic_row(&intake.keyring, &mut conn, &survey, &answers).unwrap())
            .collect();
        let (highest, restarted, done) = (AtomicU32::new(0), AtomicBool::new(false), AtomicU32::new(0));
        futures_util::stream::iter(rows)
            .for_each_concurrent(32, |row| async {
                if restarted.load(Ordering::Relaxed) {
                    return;
                }
                intake.writer.commit(row, None, None).await.expect("committed");
                done.fetch_add(1, Ordering::Relaxed);
                let now = frames();
                let high = highest.fetch_max(now, Ordering::Relaxed).max(now);
                if high >= RESTART_AT as u32 && now < high / 2 {
                    restarted.store(true, Ordering::Relaxed);
                }
            })
            .await;
        let high = highest.load(Ordering::Relaxed);
        assert!(high >= RESTART_AT as u32, "the flood never filled the -wal to {RESTART_AT} frames: {high}");
        assert!(
            restarted.load(Ordering::Relaxed),
            "the -wal was never started over during the flood: {high} frames at most"
        );
        // Without the step the -wal is started over only by the writer's own automatic checkpoint, at
        // the backstop: a flood of 27,000 answers took it to 10,006 frames (broken on purpose).
        assert!(
            high < BACKSTOP_PAGES,
            "the -wal grew to {high} frames, after {} answers, before it was started over",
            done.load(Ordering::Relaxed)
        );
    });
}
