//! Withdrawal says nothing (issue 15 item 3): a matching and a made-up receipt do the same work (one
//! queued delete through the writer) and answer after the same fixed minimum delay. Measured over 200
//! requests of each kind, interleaved so that load on a busy machine falls on both alike, compared by
//! their medians.

use std::time::Instant;

use crate::helpers::{Backend, TestApp, run};

tests! {
    both: [
        matched_and_unmatched_withdrawals_take_the_same_time,
        no_ciphertext_or_receipt_hash_is_copied_into_planner_statistics,
        a_receipt_from_before_derived_ids_still_withdraws_its_answer,
        a_receipt_withdraws_its_answer_before_and_after_the_scrub,
    ],
}

const EACH: usize = 200;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn matched_and_unmatched_withdrawals_take_the_same_time(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let mut receipts = Vec::new();
        for _ in 0..EACH {
            let (status, body) =
                app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#).await;
            assert_eq!(status, 201);
            receipts.push(body["receipt"].as_str().unwrap().to_owned());
        }
        // Made-up receipts of the same shape (a fresh receipt never stored).
        let fake = |r: &str| r.chars().map(|c| if c == '-' { '-' } else { 'A' }).collect::<String>();
        let (mut matched, mut unmatched) = (Vec::new(), Vec::new());
        for (i, receipt) in receipts.iter().enumerate() {
            // Alternate which kind goes first, so neither always follows the other.
            let pair = [(true, receipt.clone()), (false, fake(receipt))];
            let order: Vec<_> = if i % 2 == 0 { pair.into_iter().collect() } else { pair.into_iter().rev().collect() };
            for (real, r) in order {
                let body = format!(r#"{{"receipt":"{r}"}}"#);
                let started = Instant::now();
                let (status, _) = app.post_json("/api/v1/withdraw", &body).await;
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                assert_eq!(status, 202);
                if real { matched.push(ms) } else { unmatched.push(ms) }
            }
        }
        assert_eq!(app.count("harms"), 0, "every real receipt withdrew its answer");
        let (m, u) = (median(matched), median(unmatched));
        eprintln!("withdrawal medians: matched {m:.2} ms, unmatched {u:.2} ms");
        assert!(
            (m - u).abs() <= 0.10 * m.min(u),
            "medians differ by more than 10%: matched {m:.2} ms, unmatched {u:.2} ms"
        );
        assert!(m >= chorus::intake::writer::WITHDRAW_MIN.as_secs_f64() * 1000.0, "the minimum delay holds");
    });
}

/// The attack: answers are sampled into the database's planner statistics (PostgreSQL's ANALYZE,
/// which autovacuum and every release run do, keeps about a hundred whole values of a bytea column as
/// histogram bounds), then one is withdrawn: its ciphertext and receipt hash would survive in
/// pg_statistic, where no delete reaches; so would its id, which is derived from the receipt. No
/// statistics of these columns may be kept at all.
fn no_ciphertext_or_receipt_hash_is_copied_into_planner_statistics(backend: Backend) {
    use diesel::connection::SimpleConnection;
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let receipts = app.answer_api(150, r#"{"age":"18_24"}"#).await;
        app.with_conn(|c| c.batch_execute("ANALYZE responses").unwrap());
        let status = app.withdraw_api(&receipts[0]).await;
        assert!(status < 400, "withdrawal: {status}");
        app.with_conn(|c| c.batch_execute("ANALYZE responses").unwrap());
        if backend == Backend::Postgres {
            use diesel::RunQueryDsl;
            let kept: i64 = app.with_conn(|c| {
                diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "SELECT count(*) FROM pg_stats WHERE tablename = 'responses' \
                     AND attname IN ('sealed', 'receipt_hash', 'id') \
                     AND (histogram_bounds IS NOT NULL OR most_common_vals IS NOT NULL)",
                )
                .get_result(c)
                .unwrap()
            });
            assert_eq!(kept, 0, "pg_statistic holds sampled ciphertexts, receipt hashes or receipt-derived ids");
        }
        assert_eq!(app.count("harms"), 149);
    });
}

/// Rows stored before ids were derived from receipts have a random id and keep the receipt's hash;
/// their receipts must still work, beside new ones, and withdraw only their own answer.
fn a_receipt_from_before_derived_ids_still_withdraws_its_answer(backend: Backend) {
    use chorus::store::{responses, schema};
    use diesel::{QueryDsl, RunQueryDsl, SelectableHelper};
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let new_receipt = app.answer_api(1, r#"{"age":"18_24"}"#).await.remove(0);
        let old_receipt = chorus::intake::Receipt::generate();
        app.with_conn(|c| {
            let mut row: responses::ResponseRow =
                schema::responses::table.select(responses::ResponseRow::as_select()).first(c).unwrap();
            assert_eq!(row.receipt_hash, None, "a new row keeps no receipt hash");
            assert_eq!(
                responses::answer_id(&row.id),
                chorus::intake::Receipt::parse(&new_receipt).unwrap().response_id()
            );
            row.id = chorus::seal::random_id();
            row.receipt_hash = Some(old_receipt.hash());
            responses::insert(c, &row).unwrap();
        });
        assert_eq!(app.count("harms"), 2);
        assert!(app.withdraw_api(&old_receipt.display()).await < 400);
        assert_eq!(app.count("harms"), 1, "the old receipt withdrew its own answer only");
        let left: Option<Vec<u8>> =
            app.with_conn(|c| schema::responses::table.select(schema::responses::receipt_hash).first(c).unwrap());
        assert_eq!(left, None, "the answer left is the new one");
        assert!(app.withdraw_api(&new_receipt).await < 400);
        assert_eq!(app.count("harms"), 0);
    });
}

/// A receipt finds its answer under its commit's placement before a scrub and under the id alone
/// after one; a receipt given before placements existed (its id derived from all 128 bits) still
/// finds its own. Each withdraws its own answer only.
fn a_receipt_withdraws_its_answer_before_and_after_the_scrub(backend: Backend) {
    use chorus::{
        intake::Receipt,
        store::{responses, schema},
    };
    use diesel::{QueryDsl, RunQueryDsl, SelectableHelper};
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let receipts = app.answer_api(4, r#"{"age":"18_24"}"#).await;
        assert!(app.withdraw_api(&receipts[0]).await < 400);
        assert_eq!(app.count("harms"), 3, "withdrawn under its placement, before the scrub");
        app.state.intake.scrub(false).await.unwrap();
        assert!(app.withdraw_api(&receipts[1]).await < 400);
        assert_eq!(app.count("harms"), 2, "withdrawn under its id alone, after the scrub");
        let old = Receipt::generate();
        app.with_conn(|c| {
            let mut row: responses::ResponseRow =
                schema::responses::table.select(responses::ResponseRow::as_select()).first(c).unwrap();
            row.id = old.key().keys[2].clone();
            responses::insert(c, &row).unwrap();
        });
        assert_eq!(app.count("harms"), 3);
        assert!(app.withdraw_api(&Receipt::generate().display()).await < 400);
        assert_eq!(app.count("harms"), 3, "a made-up receipt withdraws nothing");
        assert!(app.withdraw_api(&old.display()).await < 400);
        assert_eq!(app.count("harms"), 2, "a receipt from before placements withdraws its own answer");
        assert!(app.withdraw_api(&receipts[2]).await < 400);
        assert!(app.withdraw_api(&receipts[3]).await < 400);
        assert_eq!(app.count("harms"), 0);
    });
}
