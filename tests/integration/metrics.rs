//! `/metrics` (issue 19 item 4): off unless configured, on a listener of its own; counts accepted and
//! refused submissions by reason; never carries a client address or anything of an answer.

use crate::helpers::{Backend, TestApp, read_response, run};

tests! {
    both: [
        metrics_are_off_unless_configured,
        metrics_count_submissions_and_carry_no_address_or_answer,
    ],
}

/// The test survey with a free-text question (the default survey has none since version 2).
const SUBMIT: &str = "/api/v1/surveys/1e05d277/responses";
/// Documentation addresses (RFC 5737), sent as the trusted proxy header: a canary for the client.
const CLIENT: &str = "203.0.113.77";
/// A free-text answer no figure may echo.
const ANSWER: &str = "canarywordmetrics";

fn metrics_are_off_unless_configured(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        assert_eq!(app.metrics_port, None, "no metrics listener by default");
        // Nor is the endpoint served on the respondents' listener.
        let (status, _, body) = app.get("/metrics").await;
        assert_eq!(status, 404);
        assert!(!body.contains("chorus_submissions"), "{body}");
    });
}

async fn post_from(app: &TestApp, body: &str) -> u16 {
    let req = app.client.post(app.url(SUBMIT)).header("content-type", "application/json").header("x-real-ip", CLIENT);
    read_response(req.body(body.to_owned()).send().await.expect("POST")).await.0
}

async fn scrape(app: &TestApp) -> String {
    let port = app.metrics_port.expect("a metrics listener");
    let res = app.client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.expect("scrape");
    assert_eq!(res.status().as_u16(), 200);
    let kind = res.headers().get("content-type").expect("a content type").to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "Prometheus text format: {kind}");
    res.text().await.expect("body")
}

/// The value of one sample line, by its exact name and labels.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn metrics_count_submissions_and_carry_no_address_or_answer(backend: Backend) {
    run(async {
        let app = TestApp::spawn_with(backend, |c| {
            c.metrics_bind = Some("127.0.0.1:0".into());
            c.limits.trusted_proxy_header = Some("x-real-ip".into());
        })
        .await;
        app.init_keys();
        app.open_notes_survey();
        let before = scrape(&app).await;
        assert_eq!(sample(&before, "chorus_submissions_accepted_total"), Some(0.0), "{before}");

        let accepted = format!(r#"{{"answers":{{"age":"25_34","notes":"{ANSWER}"}}}}"#);
        assert_eq!(post_from(&app, &accepted).await, 201);
        // An answer outside the question's options: refused as invalid, nothing stored.
        let refused = format!(r#"{{"answers":{{"age":"{ANSWER}"}}}}"#);
        assert_eq!(post_from(&app, &refused).await, 400);
        // The default survey's screening answer ends it: refused, nothing stored, counted by its reason.
        let req = app.client.post(app.url("/api/v1/surveys/15977e8c/responses")).header("x-real-ip", CLIENT);
        let req = req.header("content-type", "application/json").body(r#"{"answers":{"adult":"no"}}"#);
        assert_eq!(read_response(req.send().await.expect("POST")).await.0, 422);
        assert_eq!(app.count("harms"), 0);

        let text = scrape(&app).await;
        assert_eq!(sample(&text, "chorus_submissions_accepted_total"), Some(1.0), "{text}");
        assert_eq!(sample(&text, r#"chorus_submissions_refused_total{reason="invalid_answers"}"#), Some(1.0), "{text}");
        assert_eq!(sample(&text, r#"chorus_submissions_refused_total{reason="screened_out"}"#), Some(1.0), "{text}");
        assert_eq!(sample(&text, "chorus_writer_batch_size_count"), Some(1.0), "one group commit: {text}");
        assert!(sample(&text, "chorus_writer_commit_seconds_count").is_some(), "{text}");
        assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|b| b > 0.0), "{text}");
        assert!(sample(&text, "process_open_fds").is_some_and(|n| n > 0.0), "{text}");
        assert!(sample(&text, "process_cpu_seconds_total").is_some(), "{text}");
        assert!(sample(&text, "process_start_time_seconds").is_some(), "{text}");
        for canary in [CLIENT, "127.0.0.1", ANSWER, "harms", "notes", "adult", "25_34"] {
            assert!(!text.contains(canary), "/metrics shows {canary}: {text}");
        }
        // Every label is one of the closed list of reasons.
        for line in text.lines().filter(|l| !l.starts_with('#') && l.contains('{')) {
            let labels = &line[line.find('{').unwrap()..=line.find('}').unwrap()];
            assert!(labels.starts_with("{reason=\"") || labels.starts_with("{le=\""), "unexpected label: {line}");
        }
    });
}
