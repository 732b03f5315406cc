//! Sealed at rest: answers are stored without the passphrase and open only with it.

use chorus::{
    keyring::{Keyring, KeyringError},
    month::Month,
    seal::SealError,
    survey::{Answer, Survey},
};
use diesel::RunQueryDsl;
use secrecy::SecretString;

use crate::helpers::{Backend, PASSPHRASE, TestApp, contains, logs, run};

tests! {
    both: [
        answers_seal_without_the_passphrase_and_open_with_it,
        a_wrong_passphrase_opens_nothing,
        a_row_moved_to_another_survey_fails_to_open,
        a_reflagged_or_moved_row_fails_to_open_and_is_counted,
        canary_answer_and_private_key_are_nowhere_in_plaintext,
        epochs_rotate_and_all_stay_readable,
        passphrase_change_and_key_rotation_keep_old_answers_readable,
        no_answers_are_accepted_before_a_key_exists,
        opening_on_several_threads_sees_what_one_thread_sees,
        a_walk_stopped_early_leaves_the_next_one_free,
    ],
}

fn open_all(app: &TestApp, passphrase: &str) -> Result<Vec<(i32, Vec<u8>)>, KeyringError> {
    open_all_of(app, "harms", passphrase)
}

fn open_all_of(app: &TestApp, slug: &str, passphrase: &str) -> Result<Vec<(i32, Vec<u8>)>, KeyringError> {
    let mut conn = app.conn();
    let mut unsealed = Keyring::unseal(&mut conn, &SecretString::from(passphrase))?;
    let mut out = Vec::new();
    let streamed = unsealed.for_each_answer(&mut conn, slug, Month::now(), &[], |a| {
        out.push((a.survey_version, a.plaintext.payload().to_vec()));
        Ok(())
    })?;
    // A row that does not open is counted; here it fails the whole opening, as a report run does.
    if streamed.failed > 0 {
        return Err(KeyringError::Seal(SealError::Tampered));
    }
    Ok(out)
}

/// How many rows of a survey fail to open.
fn failed_to_open(app: &TestApp, slug: &str) -> u64 {
    let mut conn = app.conn();
    let mut unsealed = Keyring::unseal(&mut conn, &SecretString::from(PASSPHRASE)).unwrap();
    unsealed.for_each_answer(&mut conn, slug, Month::now(), &[], |_| Ok(())).unwrap().failed
}

fn default_survey() -> Survey {
    Survey::parse(chorus::survey::DEFAULT_SURVEY).unwrap()
}

fn answers_seal_without_the_passphrase_and_open_with_it(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let ages = ["18_24", "25_34", "35_44", "45_plus", "pns"];
        for age in ages {
            let (status, body) = app
                .post_json("/api/v1/surveys/15977e8c/responses", &format!(r#"{{"answers":{{"age":"{age}"}}}}"#))
                .await;
            assert_eq!(status, 201, "{body}");
        }
        // A restart forgets the epoch key; answers keep being accepted, still with no passphrase.
        let app = app.restart().await;
        for age in &ages[..3] {
            let (status, _) = app
                .post_json("/api/v1/surveys/15977e8c/responses", &format!(r#"{{"answers":{{"age":"{age}"}}}}"#))
                .await;
            assert_eq!(status, 201);
        }
        let survey = default_survey();
        let (age_q, q) = survey.question("age").unwrap();
        let mut opened: Vec<String> = open_all(&app, PASSPHRASE)
            .unwrap()
            .into_iter()
            .map(|(_, bytes)| {
                let padded = chorus::seal::Padded::new(&bytes).unwrap();
                let a = survey.decode(&padded).unwrap();
                match a.get(age_q) {
                    Some(Answer::One(o)) => q.options[usize::from(*o)].id.clone(),
                    other => panic!("unexpected {other:?}"),
                }
            })
            .collect();
        opened.sort();
        let mut expected: Vec<String> = ages.iter().chain(&ages[..3]).map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(opened, expected);
    });
}

fn a_wrong_passphrase_opens_nothing(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"25_34"}}"#).await;
        let err = open_all(&app, "correct horse battery staple in the snow").expect_err("must fail");
        assert!(matches!(err, KeyringError::Seal(SealError::WrongPassphrase)), "{err}");
        assert!(err.to_string().contains("passphrase is wrong"));
    });
}

fn a_row_moved_to_another_survey_fails_to_open(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"25_34"}}"#).await;
        assert_eq!(open_all(&app, PASSPHRASE).unwrap().len(), 1);
        // An insider moves the row to another survey (or swaps its version): it must no longer open.
        app.with_conn(|c| diesel::sql_query("UPDATE responses SET survey_version = 3").execute(c).unwrap());
        let err = open_all(&app, PASSPHRASE).expect_err("a moved row must not open");
        assert!(matches!(err, KeyringError::Seal(SealError::Tampered)), "{err}");
        app.with_conn(|c| {
            diesel::sql_query("UPDATE responses SET survey_version = 2, survey_slug = 'other'").execute(c).unwrap()
        });
        assert_eq!(failed_to_open(&app, "other"), 1, "a moved row is counted as failing to open");
    });
}

/// Month, verified and synthetic are bound too (issue 14 item 5): an insider who moves a real answer
/// into a quarantined month, marks it synthetic (blocking publication) or verified makes it fail to
/// open, and a report run refuses, naming the count.
fn a_reflagged_or_moved_row_fails_to_open_and_is_counted(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        for _ in 0..3 {
            app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"25_34"}}"#).await;
        }
        assert_eq!(failed_to_open(&app, "harms"), 0);
        let ids: Vec<String> = {
            use chorus::store::schema::responses::dsl::*;
            use diesel::QueryDsl;
            app.with_conn(|c| responses.select(id).order(id).load(c).unwrap())
        };
        let tamper = [
            format!("UPDATE responses SET month = '2020-01' WHERE id = '{}'", ids[0]),
            format!("UPDATE responses SET verified = TRUE WHERE id = '{}'", ids[1]),
            format!("UPDATE responses SET synthetic = TRUE WHERE id = '{}'", ids[2]),
        ];
        for (n, sql) in tamper.iter().enumerate() {
            app.with_conn(|c| diesel::sql_query(sql).execute(c).unwrap());
            assert_eq!(failed_to_open(&app, "harms"), n as u64 + 1, "{sql}");
        }
        let run = chorus::report::run_snapshot(
            &mut app.conn(),
            &app.state.intake.surveys,
            &SecretString::from(PASSPHRASE),
            &chorus::report::SnapshotSpec::new("harms", Month::now().to_string()),
            "test",
            app.state.clock.now(),
        );
        let err = run.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("3 stored answers failed to open"), "the run refuses and counts: {err}");
    });
}

fn canary_answer_and_private_key_are_nowhere_in_plaintext(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let canary = format!("zebracanary{}", &chorus::seal::random_id()[..10]);
        app.open_notes_survey();
        for i in 0..20 {
            let text = if i == 7 { canary.clone() } else { format!("ordinary words {i}") };
            let (status, _) = app
                .post_json(
                    "/api/v1/surveys/1e05d277/responses",
                    &format!(r#"{{"answers":{{"age":"25_34","notes":"{text}"}}}}"#),
                )
                .await;
            assert_eq!(status, 201);
        }
        let bytes = app.database_bytes();
        assert!(!contains(&bytes, canary.as_bytes()), "the canary answer is readable in the database");
        assert!(!logs().contains(&canary), "the canary answer reached the logs");
        // The canary is really in there, sealed: the steward can open it.
        let opened = open_all_of(&app, "notes", PASSPHRASE).unwrap();
        assert!(opened.iter().any(|(_, p)| contains(p, canary.as_bytes())));
        // And the private key never appears unwrapped.
        let mut conn = app.conn();
        let unsealed = Keyring::unseal(&mut conn, &SecretString::from(PASSPHRASE)).unwrap();
        let keys = unsealed.secrets_for_leak_tests();
        assert_eq!(keys.len(), 1);
        for key in keys {
            assert!(!contains(&bytes, &key), "the private key is stored unwrapped");
            assert!(!contains(&bytes, hex::encode(key).as_bytes()), "the private key is stored unwrapped (hex)");
        }
    });
}

fn epochs_rotate_and_all_stay_readable(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| c.epoch_max_answers = 2).await;
        app.init_keys();
        for _ in 0..5 {
            assert_eq!(
                app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"25_34"}}"#).await.0,
                201
            );
        }
        let (epochs, used): (i64, Vec<String>) = app.with_conn(|c| {
            use chorus::store::schema::{epochs, responses};
            use diesel::QueryDsl;
            (
                epochs::table.count().get_result(c).unwrap(),
                responses::table.select(responses::epoch_id).load(c).unwrap(),
            )
        });
        let mut per_epoch = std::collections::HashMap::<String, usize>::new();
        for e in used {
            *per_epoch.entry(e).or_default() += 1;
        }
        // The cap holds exactly: each epoch is left only once full, so 5 answers fill 2 + 2 + 1.
        let mut counts: Vec<usize> = per_epoch.into_values().collect();
        counts.sort_unstable();
        assert_eq!(counts, [1, 2, 2], "answers per epoch");
        // The next epoch is prepared ahead, off the request path: at most one more row, with no answer.
        assert!((3..=4).contains(&epochs), "{epochs} epochs for 5 answers at 2 per epoch");
        assert_eq!(open_all(&app, PASSPHRASE).unwrap().len(), 5);
        // Ids are random, not sequential: no two consecutive answers share a prefix pattern.
        let ids: Vec<String> = app.with_conn(|c| {
            use diesel::QueryDsl;
            chorus::store::schema::responses::table.select(chorus::store::schema::responses::id).load(c).unwrap()
        });
        // Each key: the commit's random placement (8 hex digits) and the answer's id (32).
        assert!(ids.iter().all(|id| id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())), "{ids:?}");
        let months: Vec<String> = app.with_conn(|c| {
            use diesel::QueryDsl;
            chorus::store::schema::responses::table.select(chorus::store::schema::responses::month).load(c).unwrap()
        });
        assert!(months.iter().all(|m| Month::parse(m).is_some()), "only a month is stored: {months:?}");
    });
}

fn passphrase_change_and_key_rotation_keep_old_answers_readable(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"25_34"}}"#).await;
        let keyring = &app.state.intake.keyring;
        let new = "molecule dingy outsider crayfish tightness plywood evacuee";
        keyring.change_passphrase(&mut app.conn(), &SecretString::from(PASSPHRASE), &SecretString::from(new)).unwrap();
        assert!(open_all(&app, PASSPHRASE).is_err());
        assert_eq!(open_all(&app, new).unwrap().len(), 1);
        assert!(
            keyring
                .change_passphrase(&mut app.conn(), &SecretString::from(new), &SecretString::from("too short"))
                .is_err()
        );
        keyring.rotate(&mut app.conn(), &SecretString::from(new)).unwrap();
        app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"35_44"}}"#).await;
        let keys = chorus::store::keys::all_report_keys(&mut app.conn()).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.iter().filter(|k| k.active).count(), 1);
        assert_eq!(open_all(&app, new).unwrap().len(), 2, "answers under both keys open");
        assert!(keyring.rotate(&mut app.conn(), &SecretString::from("not the passphrase at all, no")).is_err());
        assert!(keyring.init(&mut app.conn(), &SecretString::from(new)).is_err(), "init refuses to run twice");
    });
}

fn no_answers_are_accepted_before_a_key_exists(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        let (status, body) =
            app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"25_34"}}"#).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(app.count("harms"), 0);
    });
}

/// A release reads on one thread and opens on others (issue 19): over several pages, with rows that
/// fail to open among them, the threads together open exactly the answers one thread opens, count
/// the same failures, and the reading thread sees every row once, in the order the database keeps them.
fn opening_on_several_threads_sees_what_one_thread_sees(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let survey = default_survey();
        let mut rng = rand::rng();
        // Three pages and a bit: the split between threads falls inside and across pages.
        let batch: Vec<_> = (0..4_100).map(|_| chorus::dev::synthetic_answers(&survey, &mut rng)).collect();
        app.with_conn(|c| {
            chorus::intake::store_synthetic(&app.state.intake.keyring, c, &survey, &batch).unwrap();
            let ids: Vec<String> = {
                use chorus::store::schema::responses::dsl::*;
                use diesel::QueryDsl;
                responses.select(id).order(id).load(c).unwrap()
            };
            for i in [7, 2_500] {
                diesel::sql_query(format!("UPDATE responses SET verified = TRUE WHERE id = '{}'", ids[i]))
                    .execute(c)
                    .unwrap();
            }
        });
        let mut conn = app.conn();
        let mut unsealed = Keyring::unseal(&mut conn, &SecretString::from(PASSPHRASE)).unwrap();
        let mut one = Vec::new();
        let alone = unsealed
            .for_each_answer(&mut conn, "harms", Month::now(), &[], |a| {
                one.push((a.id.to_owned(), a.plaintext.payload().to_vec()));
                Ok(())
            })
            .unwrap();
        let mut heads = Vec::new();
        let (together, shares) = unsealed
            .open_in_parallel(
                &mut conn,
                "harms",
                Month::now(),
                &[],
                3,
                |h| heads.push(h.id.to_owned()),
                Vec::new,
                |mine: &mut Vec<(String, Vec<u8>)>, a| mine.push((a.id.to_owned(), a.plaintext.payload().to_vec())),
                None,
            )
            .unwrap();
        assert_eq!(alone.failed, 2, "the two re-flagged rows fail to open");
        assert_eq!(together, alone, "the same rows open, fail and fall back");
        let mut many: Vec<_> = shares.into_iter().flatten().collect();
        many.sort();
        one.sort();
        assert_eq!(many.len(), 4_098);
        assert_eq!(many, one, "the threads together open exactly what one thread opens");
        // Each backend is read in the order it keeps the rows (`responses::Scan`): SQLite's table is
        // clustered on its key, PostgreSQL's heap is not, and a walk in key order reads an unscrubbed
        // heap at random (docs/benchmarks.md). A run does not depend on the order.
        let kept: Vec<String> = app.with_conn(|c| {
            let order = if backend == Backend::Postgres { "ctid" } else { "survey_slug, id" };
            diesel::dsl::sql::<diesel::sql_types::Text>(&format!("SELECT id FROM responses ORDER BY {order}"))
                .load(c)
                .unwrap()
        });
        // Compared as the share of consecutive reads that move forward in the stored order: all of
        // them when each backend is read as it lies, about half for a walk in another order.
        let at: std::collections::HashMap<&str, usize> =
            kept.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
        let forward = heads.windows(2).filter(|w| at[w[0].as_str()] < at[w[1].as_str()]).count();
        assert!(
            forward * 100 >= (heads.len() - 1) * 99,
            "the rows are not read in the order the database keeps them: {forward} of {} reads move forward",
            heads.len() - 1
        );
        heads.sort();
        heads.dedup();
        assert_eq!(heads.len(), 4_100, "the reading thread sees each row once");
    });
}

/// A walk over the answers may stop early (its caller refuses an answer), and may run inside a
/// caller's transaction, where PostgreSQL keeps its cursor open until that transaction ends
/// (`responses::Scan`). A second walk in the same transaction must still see every answer.
fn a_walk_stopped_early_leaves_the_next_one_free(backend: Backend) {
    use diesel::Connection;
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        app.answer_api(5, r#"{"age":"18_24"}"#).await;
        let mut conn = app.conn();
        let mut unsealed = Keyring::unseal(&mut conn, &SecretString::from(PASSPHRASE)).unwrap();
        let opened = conn
            .transaction(|conn| {
                let stopped = unsealed.for_each_answer(conn, "harms", Month::now(), &[], |_| Err(KeyringError::NoKey));
                assert!(matches!(stopped, Err(KeyringError::NoKey)), "the first walk stops at its first answer");
                unsealed.for_each_answer(conn, "harms", Month::now(), &[], |_| Ok(()))
            })
            .unwrap();
        assert_eq!(opened.opened, 5);
    });
}
