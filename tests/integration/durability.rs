//! Nothing acknowledged is lost, and nothing unstored is acknowledged: the group-commit writer
//! answers a receipt only after its row is committed.

use diesel::{RunQueryDsl, connection::SimpleConnection};

use crate::helpers::{Backend, TestApp, page::hidden, read_response, run};

tests! {
    both: [
        a_failed_insert_is_answered_with_an_error_not_a_receipt,
        concurrent_submissions_are_all_committed,
    ],
    postgres_only: [
        a_failed_commit_is_answered_with_an_error_not_a_receipt,
    ],
}

fn a_failed_insert_is_answered_with_an_error_not_a_receipt(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        assert_eq!(app.post_json("/api/v1/surveys/harms/responses", r#"{"answers":{"age":"18_24"}}"#).await.0, 201);
        let sql = match backend {
            Backend::Sqlite => "CREATE TRIGGER fail_insert BEFORE INSERT ON responses BEGIN SELECT RAISE(FAIL, 'injected'); END;",
            Backend::Postgres => {
                "CREATE FUNCTION fail_insert() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql;
                 CREATE TRIGGER fail_insert BEFORE INSERT ON responses FOR EACH ROW EXECUTE FUNCTION fail_insert();"
            }
        };
        app.with_conn(|c| c.batch_execute(sql).unwrap());
        let (status, body) = app.post_json("/api/v1/surveys/harms/responses", r#"{"answers":{"age":"18_24"}}"#).await;
        assert_eq!(status, 500, "{body}");
        assert!(body.get("receipt").is_none(), "no receipt for an answer that was not stored: {body}");
        let (_, _, form) = app.form_page("/s/harms").await;
        let token = hidden(&form, "token");
        let (status, _, page) = app.post_form("/s/harms", &format!("token={token}&q.age=18_24")).await;
        assert_eq!(status, 500);
        assert!(!page.contains("class=\"code\""), "the form shows no receipt either");
        assert_eq!(app.count("harms"), 1);
        // The token was not spent by the failed attempt: once storage works again it is accepted.
        app.with_conn(|c| {
            c.batch_execute("DROP TRIGGER fail_insert ON responses")
                .or_else(|_| c.batch_execute("DROP TRIGGER fail_insert"))
                .unwrap()
        });
        assert_eq!(app.post_form("/s/harms", &format!("token={token}&q.age=18_24")).await.0, 200);
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
        let (status, body) = app.post_json("/api/v1/surveys/harms/responses", r#"{"answers":{"age":"18_24"}}"#).await;
        assert_eq!(status, 500, "{body}");
        assert!(body.get("receipt").is_none());
        assert_eq!(app.count("harms"), 0);
        app.with_conn(|c| diesel::sql_query("DROP TRIGGER fail_commit ON responses").execute(c).unwrap());
        assert_eq!(app.post_json("/api/v1/surveys/harms/responses", r#"{"answers":{"age":"18_24"}}"#).await.0, 201);
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
                .post(app.url("/api/v1/surveys/harms/responses"))
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
