//! The respondent's path over HTTP: the form, the JSON API, receipts, withdrawal and bad input.

use chorus::{i18n::LANGUAGES, survey::Survey};

use crate::helpers::{
    Backend, TestApp,
    page::{hidden, names_another_origin, receipt_in},
    read_response, run,
};

/// The per-rendering prefix of a form's answer fields (`<prefix>.<question id>`).
fn field_prefix(html: &str) -> String {
    let at = html.find("name=\"a").expect("an answer field") + "name=\"".len();
    html[at..].split('.').next().unwrap().to_owned()
}

tests! {
    both: [
        form_round_trip_gives_a_receipt_that_withdraws,
        a_form_token_stores_once,
        json_round_trip_and_withdrawal,
        bad_input_is_refused_and_stores_nothing,
        form_errors_sit_beside_the_question_and_keep_answers,
        public_pages_set_no_cookie_and_name_no_other_origin,
        every_language_renders_its_own_title,
        skip_logic_renders_a_labelled_group_without_javascript,
        closed_and_unknown_surveys,
        withdrawal_reads_the_same_whether_or_not_it_matched,
        nothing_answered_is_refused_kindly_in_form_and_api,
        exclusive_options_stand_alone_in_form_and_api,
        no_form_before_setup_or_while_closed,
        a_mistyped_receipt_is_recognised_without_a_lookup,
        field_names_change_with_every_rendering_and_copies_show_nothing,
        the_receipt_survives_its_language_buttons,
        the_age_question_comes_first_and_no_ends_kindly_storing_nothing,
    ],
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn fresh_token(app: &TestApp, lang: &str) -> String {
    let (status, _, html) = app.form_page(&format!("/s/15977e8c?lang={lang}")).await;
    assert_eq!(status, 200);
    hidden(&html, "token")
}

fn form_round_trip_gives_a_receipt_that_withdraws(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let token = fresh_token(&app, "ko").await;
        let body = format!(
            "token={token}&lang=ko&q.adult=yes&q.age=25_34&q.gender=woman&q.gender=trans_woman&q.region={}&q.officials=bylaw",
            encode("on")
        );
        let (status, headers, html) = app.post_form("/s/15977e8c", &body).await;
        assert_eq!(status, 200, "{html}");
        assert!(headers.get("location").is_none(), "the receipt is never a redirect");
        assert!(html.contains("lang=\"ko\""), "the receipt page is in Korean");
        let receipt = receipt_in(&html);
        assert_eq!(receipt.len(), 33, "26 symbols, a check symbol and 6 dashes: {receipt}");
        assert_eq!(app.count("harms"), 1);
        let (status, _, html) =
            app.post_form("/withdraw", &format!("lang=ko&receipt={}", encode(&receipt.to_lowercase()))).await;
        assert_eq!(status, 200);
        assert!(html.contains("role=\"status\""));
        assert_eq!(app.count("harms"), 0, "a withdrawn receipt's response is gone");
    });
}

fn a_form_token_stores_once(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let token = fresh_token(&app, "en").await;
        let body = format!("token={token}&q.age=18_24");
        assert_eq!(app.post_form("/s/15977e8c", &body).await.0, 200);
        // A refresh or a double tap re-sends the same token: nothing is stored twice.
        let (status, _, html) = app.post_form("/s/15977e8c", &body).await;
        assert_eq!(status, 200);
        assert!(html.contains("already received"), "{html}");
        assert_eq!(app.count("harms"), 1);
        // A forged or missing token is refused, the answers kept on the re-shown form.
        let (status, _, html) = app.post_form("/s/15977e8c", "token=00112233445566778899&q.age=18_24").await;
        assert_eq!(status, 400);
        assert!(html.contains("value=\"18_24\" checked"));
        assert_eq!(app.count("harms"), 1);
        // A token under a retired key no longer works (keys retire after many spends).
        let token = fresh_token(&app, "en").await;
        app.with_conn(|c| {
            app.state.intake.tokens.rotate_now_for_tests(c).unwrap();
            app.state.intake.tokens.rotate_now_for_tests(c).unwrap();
        });
        assert_eq!(app.post_form("/s/15977e8c", &format!("token={token}&q.age=18_24")).await.0, 400);
        assert_eq!(app.count("harms"), 1);
    });
}

fn json_round_trip_and_withdrawal(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let (status, _, body) = app.get("/api/v1/surveys/15977e8c?lang=fr").await;
        assert_eq!(status, 200);
        let def: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(def["path"], "15977e8c");
        assert_eq!(def["languages"].as_array().unwrap().len(), 7);
        let questions = def["questions"].as_array().unwrap();
        let age = questions.iter().find(|q| q["id"] == "age").unwrap();
        assert_eq!(age["type"], "single");
        assert!(age["options"].as_array().unwrap().iter().any(|o| o["id"] == "pns"));
        assert!(questions.iter().any(|q| q["show_if"].is_object()));
        assert_eq!(def["minutes"], 10, "the stated length");
        assert_eq!(def["screen"], "adult", "the screening question is named");
        let (status, body) = app
            .post_json(
                "/api/v1/surveys/15977e8c/responses",
                r#"{"answers":{"adult":"yes","age":"25_34","gender":["woman","nonbinary_two_spirit"]}}"#,
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let receipt = body["receipt"].as_str().unwrap().to_owned();
        assert_eq!(app.count("harms"), 1);
        let (status, body) = app.post_json("/api/v1/withdraw", &format!(r#"{{"receipt":"{receipt}"}}"#)).await;
        assert_eq!(status, 202);
        let (status2, body2) = app.post_json("/api/v1/withdraw", &format!(r#"{{"receipt":"{receipt}"}}"#)).await;
        assert_eq!((status, body), (status2, body2), "the reply is the same whether or not it matched");
        assert_eq!(app.count("harms"), 0);
    });
}

fn bad_input_is_refused_and_stores_nothing(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let api = "/api/v1/surveys/15977e8c/responses";
        let cases: Vec<(&str, String, u16, Option<&str>)> = vec![
            ("unknown question", r#"{"answers":{"nope":"x"}}"#.into(), 400, Some("nope")),
            ("unknown option", r#"{"answers":{"age":"99_100"}}"#.into(), 400, Some("age")),
            ("two values for one choice", r#"{"answers":{"age":["18_24","25_34"]}}"#.into(), 400, Some("age")),
            (
                "an option that stands alone, with others",
                r#"{"answers":{"officials":["none","bylaw"]}}"#.into(),
                400,
                Some("officials"),
            ),
            ("a number instead of a string", r#"{"answers":{"age":5}}"#.into(), 400, Some("age")),
            ("malformed JSON", r#"{"answers":{"age":"#.into(), 400, None),
            ("unknown top-level field", r#"{"answers":{},"ip":"1.2.3.4"}"#.into(), 400, None),
        ];
        for (name, body, status, question) in cases {
            let (got, reply) = app.post_json(api, &body).await;
            assert_eq!(got, status, "{name}: {reply}");
            assert!(reply["error"].as_str().is_some_and(|e| !e.is_empty()), "{name}: {reply}");
            if let Some(q) = question {
                assert_eq!(reply["question"], q, "{name}: {reply}");
            }
            assert_eq!(app.count("harms"), 0, "{name} stored something");
        }
        // Invalid UTF-8 and an oversized body.
        let res = app
            .client
            .post(app.url(api))
            .header("content-type", "application/json")
            .body(vec![b'{', 0xff, 0xfe, b'}'])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
        let big = format!(r#"{{"answers":{{"age":"{}"}}}}"#, "y".repeat(70 * 1024));
        assert_eq!(app.post_json(api, &big).await.0, 413);
        let res = app
            .client
            .post(app.url("/s/15977e8c"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'q', b'.', b'a', b'=', 0xff])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
        assert_eq!(app.post_form("/s/15977e8c", &format!("q.age={}", "z".repeat(70 * 1024))).await.0, 413);
        // Text over its cap (the default survey has no text question since version 2).
        app.open_notes_survey();
        let long = format!(r#"{{"answers":{{"notes":"{}"}}}}"#, "x".repeat(201));
        let (status, reply) = app.post_json("/api/v1/surveys/1e05d277/responses", &long).await;
        assert_eq!((status, &reply["question"]), (400, &serde_json::json!("notes")), "{reply}");
        assert_eq!(app.count("notes"), 0);
        // Unknown survey.
        assert_eq!(app.post_json("/api/v1/surveys/nope/responses", r#"{"answers":{}}"#).await.0, 404);
        assert_eq!(app.count("harms"), 0);
    });
}

fn form_errors_sit_beside_the_question_and_keep_answers(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let token = fresh_token(&app, "fr").await;
        let body = format!("token={token}&lang=fr&q.age=25_34&q.work_type=sex_work&q.work_type=both&q.officials=bylaw");
        let (status, _, html) = app.post_form("/s/15977e8c", &body).await;
        assert_eq!(status, 400);
        assert!(html.contains("id=\"err-work_type\""), "the error sits beside its question");
        assert!(html.contains("Veuillez choisir une seule option"), "French error text");
        assert!(html.contains("value=\"25_34\" checked"), "other answers are kept");
        assert!(html.contains("value=\"bylaw\" checked"), "ticked boxes are kept");
        assert!(html.contains("href=\"#q-work_type\""), "the error summary links to the question");
        assert_eq!(app.count("harms"), 0);
    });
}

fn public_pages_set_no_cookie_and_name_no_other_origin(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let token = fresh_token(&app, "en").await;
        let (_, headers, receipt_page) = app.post_form("/s/15977e8c", &format!("token={token}&q.age=18_24")).await;
        assert!(headers.get("set-cookie").is_none());
        let mut pages = vec![receipt_page];
        for path in [
            "/",
            "/?lang=th",
            "/s/15977e8c",
            "/s/15977e8c?lang=zh-Hant",
            "/safety",
            "/withdraw",
            "/static/style.css",
            "/static/chorus.js",
            "/nothing-here",
        ] {
            let (_, headers, body) = app.get(path).await;
            assert!(headers.get("set-cookie").is_none(), "{path} sets a cookie");
            pages.push(body);
        }
        for page in &pages {
            assert!(names_another_origin(page).is_none(), "another origin named: {:?}", names_another_origin(page));
            assert!(!page.contains("localStorage") && !page.contains("sessionStorage"));
        }
        // The check itself catches a foreign origin.
        assert!(names_another_origin(r#"<img src="https://tracker.example/x.png">"#).is_some());
        assert!(names_another_origin("body{background:url(//cdn.example/a.png)}").is_some());
        // The quick exit leaves through our own /exit, a redirect to the neutral site.
        let (status, headers, _) = app.get("/exit").await;
        assert_eq!(status, 303);
        assert!(headers.get("location").unwrap().to_str().unwrap().starts_with("https://"));
    });
}

fn every_language_renders_its_own_title(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let survey = Survey::parse(chorus::survey::DEFAULT_SURVEY).unwrap();
        let english = survey.title("en").to_owned();
        for lang in LANGUAGES {
            let (status, _, html) = app.get(&format!("/s/15977e8c?lang={lang}")).await;
            assert_eq!(status, 200);
            let title = survey.title(lang);
            assert!(html.contains(&format!("<h1>{}</h1>", askama_escape(title))), "{lang}: title missing");
            if *lang != "en" {
                assert_ne!(title, english, "{lang} has no translated title");
            }
            assert!(html.contains(&format!("lang=\"{lang}\"")), "{lang}: html lang attribute");
            // The neutral page title never names the survey.
            assert!(html.contains("<title>Survey</title>"));
        }
        // Accept-Language picks the language when no link chose one.
        let res =
            app.client.get(app.url("/s/15977e8c")).header("accept-language", "vi-VN,vi;q=0.9").send().await.unwrap();
        let (_, _, body) = read_response(res).await;
        assert!(body.contains("<html lang=\"vi\""));
    });
}

pub(crate) fn askama_escape(s: &str) -> String {
    s.replace('&', "&#38;").replace('<', "&#60;").replace('>', "&#62;").replace('"', "&#34;").replace('\'', "&#39;")
}

fn skip_logic_renders_a_labelled_group_without_javascript(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let (_, _, html) = app.form_page("/s/15977e8c").await;
        assert!(html.contains("data-show-if=\"officials\""));
        assert!(html.contains("If you answered"), "the group is labelled for readers without JavaScript");
        for tag in html.match_indices("<div class=\"conditional\"").map(|(i, _)| html[i..].split('>').next().unwrap()) {
            assert!(!tag.contains("hidden"), "nothing is hidden without JavaScript: {tag}");
        }
        let (_, _, html) = app.form_page("/s/15977e8c?lang=ko").await;
        assert!(html.contains("data-show-if=\"officials\""));
    });
}

fn closed_and_unknown_surveys(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let token = fresh_token(&app, "en").await;
        assert_eq!(app.get("/s/nope").await.0, 404);
        let closed = chorus::store::surveys::SurveyStatus::Closed;
        app.with_conn(|c| app.state.intake.surveys.set_status(c, "harms", closed).unwrap());
        let (status, _, html) = app.get("/s/15977e8c").await;
        assert_eq!(status, 410);
        assert!(html.contains("closed"));
        assert_eq!(app.post_form("/s/15977e8c", &format!("token={token}&q.age=18_24")).await.0, 410);
        assert_eq!(app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{}}"#).await.0, 410);
        assert_eq!(app.count("harms"), 0);
        let (_, _, landing) = app.get("/").await;
        assert!(!landing.contains("/s/15977e8c"), "a closed survey is not offered");
    });
}

fn withdrawal_reads_the_same_whether_or_not_it_matched(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let (_, body) = app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#).await;
        let receipt = body["receipt"].as_str().unwrap().to_owned();
        let (s1, _, matched) = app.post_form("/withdraw", &format!("receipt={receipt}")).await;
        let (s2, _, unmatched) = app.post_form("/withdraw", "receipt=0000-0000-0000-0000-0000-0000-00").await;
        let fresh = chorus::intake::Receipt::generate().display();
        let (s3, _, unmatched_new) = app.post_form("/withdraw", &format!("receipt={fresh}")).await;
        assert_eq!((s1, s2, s3), (200, 200, 200));
        assert_eq!(matched, unmatched);
        assert_eq!(matched, unmatched_new);
        assert_eq!(app.count("harms"), 0);
    });
}

fn nothing_answered_is_refused_kindly_in_form_and_api(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        for body in ["", "&q.age=&q.status=+++", "&q.what_happened=id_check"] {
            let token = fresh_token(&app, "en").await;
            let (status, _, html) = app.post_form("/s/15977e8c", &format!("token={token}{body}")).await;
            assert_eq!(status, 400, "{body}: {html}");
            assert!(html.contains("You have not answered anything"), "{body}: the kind message");
            assert!(html.find("error-summary").unwrap() < html.find("<h1>").unwrap(), "the message comes first");
        }
        let (status, _, html) =
            app.post_form("/s/15977e8c", &format!("token={}&lang=ko", fresh_token(&app, "ko").await)).await;
        assert_eq!(status, 400);
        assert!(html.contains("아직 아무 질문에도 답하지 않았어요"), "in Korean");
        let (status, reply) = app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{}}"#).await;
        assert_eq!(status, 400, "{reply}");
        assert_eq!(reply["error"], "you have not answered anything");
        assert!(reply.get("question").is_none(), "names no question: {reply}");
        let (status, _) = app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":null}}"#).await;
        assert_eq!(status, 400);
        assert_eq!(app.count("harms"), 0, "nothing was stored");
    });
}

fn exclusive_options_stand_alone_in_form_and_api(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let token = fresh_token(&app, "en").await;
        let body = format!(
            "token={token}&q.age=25_34&q.officials=none&q.officials=city_police&q.changes_after=none&q.changes_after=moved"
        );
        let (status, _, html) = app.post_form("/s/15977e8c", &body).await;
        assert_eq!(status, 400, "{html}");
        assert!(
            html.contains("id=\"err-officials\"") && html.contains("id=\"err-changes_after\""),
            "both errors at once"
        );
        assert!(html.contains("“None of these” cannot be chosen together with other answers."));
        assert!(html.contains("href=\"#q-officials\"") && html.contains("href=\"#q-changes_after\""));
        assert!(html.contains("value=\"none\" data-exclusive"), "JavaScript can find the option that stands alone");
        let api = "/api/v1/surveys/15977e8c/responses";
        let (status, reply) = app.post_json(api, r#"{"answers":{"officials":["none","bylaw"]}}"#).await;
        assert_eq!(status, 400, "{reply}");
        assert_eq!(reply["question"], "officials");
        assert_eq!(app.count("harms"), 0);
        // Alone, it is fine; so are several ordinary options.
        assert_eq!(app.post_json(api, r#"{"answers":{"officials":["none"]}}"#).await.0, 201);
        assert_eq!(app.post_json(api, r#"{"answers":{"officials":["bylaw","city_police"]}}"#).await.0, 201);
        assert_eq!(app.count("harms"), 2);
        // The API's definition says which options stand alone.
        let (_, _, def) = app.get("/api/v1/surveys/15977e8c").await;
        let def: serde_json::Value = serde_json::from_str(&def).unwrap();
        let officials = def["questions"].as_array().unwrap().iter().find(|q| q["id"] == "officials").unwrap();
        let none = officials["options"].as_array().unwrap().iter().find(|o| o["id"] == "none").unwrap();
        assert_eq!(none["exclusive"], true);
    });
}

fn no_form_before_setup_or_while_closed(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        // Before setup there is no report key: a kind page, not a form whose answers would be lost.
        let (status, _, html) = app.get("/s/15977e8c?lang=fr").await;
        assert_eq!(status, 503, "{html}");
        assert!(html.contains("Ce sondage n’est pas encore ouvert"), "{html}");
        assert!(!html.contains("<form method=\"post\" action=\"/s/15977e8c\""), "no form is shown");
        assert!(!html.contains("name=\"token\""));
        app.init_keys();
        let (status, _, html) = app.get("/s/15977e8c").await;
        assert_eq!(status, 200);
        assert!(html.contains("<form method=\"post\" action=\"/s/15977e8c\""));
        let closed = chorus::store::surveys::SurveyStatus::Closed;
        app.with_conn(|c| app.state.intake.surveys.set_status(c, "harms", closed).unwrap());
        let (status, _, html) = app.get("/s/15977e8c").await;
        assert_eq!(status, 410);
        assert!(html.contains("This survey is closed"));
        assert!(!html.contains("<form method=\"post\" action=\"/s/15977e8c\""), "no form while closed");
        // Again, with the closed status now remembered (pages of an open survey come from memory).
        let (status, _, html) = app.get("/s/15977e8c").await;
        assert_eq!(status, 410, "{html}");
        let (status, _, html) = app.post_form("/s/15977e8c", "step=screen").await;
        assert_eq!(status, 410, "{html}");
        assert!(!html.contains("name=\"token\""), "no token while closed");
    });
}

fn a_mistyped_receipt_is_recognised_without_a_lookup(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let (_, body) = app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#).await;
        let receipt = body["receipt"].as_str().unwrap().to_owned();
        assert_eq!(receipt.len(), 33);
        // One symbol changed: recognised as mistyped from the text alone, nothing deleted.
        let mut typo: Vec<char> = receipt.chars().collect();
        typo[5] = if typo[5] == 'A' { 'B' } else { 'A' };
        let typo: String = typo.into_iter().collect();
        for bad in [typo.as_str(), &receipt[..30], "hello"] {
            let (status, _, html) = app.post_form("/withdraw", &format!("receipt={bad}")).await;
            assert_eq!(status, 400, "{bad}");
            assert!(html.contains("This code does not look right"), "{bad}");
            assert!(!html.contains("role=\"status\""), "{bad}: no 'done' page");
        }
        // A well-formed code that matches nothing reads like one that matched (checked in
        // withdrawal_reads_the_same_whether_or_not_it_matched); the mistyped page says only "mistyped".
        let other = chorus::intake::Receipt::generate().display();
        let (status, _, _) = app.post_form("/withdraw", &format!("receipt={other}")).await;
        assert_eq!(status, 200);
        assert_eq!(app.count("harms"), 1, "a mistyped or unknown code deleted nothing");
        // An old receipt without its check symbol (26 symbols) still works.
        let old: String = receipt.chars().filter(|c| *c != '-').take(26).collect();
        let (status, _, html) = app.post_form("/withdraw", &format!("receipt={old}")).await;
        assert_eq!(status, 200);
        assert!(html.contains("role=\"status\""));
        assert_eq!(app.count("harms"), 0);
    });
}

fn field_names_change_with_every_rendering_and_copies_show_nothing(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let (_, _, first) = app.form_page("/s/15977e8c").await;
        let (_, _, second) = app.form_page("/s/15977e8c").await;
        let (p1, p2) = (field_prefix(&first), field_prefix(&second));
        assert_ne!(p1, p2, "a browser restoring form state by name finds nothing on a new rendering");
        assert!(!first.contains("name=\"q."), "no stable answer field names");
        // The prefixed names are read back through the token sent with them.
        let token = hidden(&first, "token");
        let body = format!("token={token}&{p1}.age=25_34&{p1}.officials=bylaw");
        let (status, _, html) = app.post_form("/s/15977e8c", &body).await;
        assert_eq!(status, 200, "{html}");
        assert_eq!(app.count("harms"), 1);
        // Another rendering's names do not count for this token.
        let token = hidden(&second, "token");
        let (status, _, html) = app.post_form("/s/15977e8c", &format!("token={token}&{p1}.age=25_34")).await;
        assert_eq!(status, 400);
        assert!(html.contains("You have not answered anything"));
        // A refused form shows her answers back once; the same POST sent again (Back after leaving,
        // a reload) is refused with the form empty, saying why.
        let (_, _, third) = app.form_page("/s/15977e8c").await;
        let (token, p3) = (hidden(&third, "token"), field_prefix(&third));
        let body =
            format!("token={token}&{p3}.age=25_34&{p3}.officials=none&{p3}.officials=bylaw&{p3}.violence=yes_reported");
        let (status, _, html) = app.post_form("/s/15977e8c", &body).await;
        assert_eq!(status, 400);
        assert!(
            html.contains("value=\"25_34\" checked") && html.contains("value=\"yes_reported\" checked"),
            "shown back once"
        );
        let (status, _, html) = app.post_form("/s/15977e8c", &body).await;
        assert_eq!(status, 400);
        assert!(html.contains("sent again from the browser history"), "{html}");
        assert!(
            !html.contains("value=\"25_34\" checked") && !html.contains("value=\"yes_reported\" checked"),
            "a copy shows nothing back"
        );
        assert!(!html.contains("id=\"err-officials\""), "nor which answers were refused");
        assert_eq!(app.count("harms"), 1);
        // Fixing the answers on the re-shown page (a new token) still works.
        let fixed = format!("token={}&q.age=25_34&q.officials=bylaw", hidden(&html, "token"));
        assert_eq!(app.post_form("/s/15977e8c", &fixed).await.0, 200);
        assert_eq!(app.count("harms"), 2);
    });
}

fn the_receipt_survives_its_language_buttons(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let token = fresh_token(&app, "en").await;
        let (_, headers, html) = app.post_form("/s/15977e8c", &format!("token={token}&q.age=18_24")).await;
        let receipt = receipt_in(&html);
        assert!(headers.get("cache-control").is_some_and(|v| v == "no-store"));
        assert!(
            html.contains("action=\"/receipt\"") && html.contains("name=\"lang\" value=\"ko\""),
            "language buttons post"
        );
        assert!(html.contains("we cannot show it again"), "the page says the code is not kept");
        for (n, group) in receipt.split('-').enumerate() {
            let last = n == 6;
            assert!(
                html.contains(&format!("<span class=\"group\">{group}{}</span>", if last { "" } else { "-" })),
                "{group}"
            );
        }
        let (status, _, html) = app.post_form("/receipt", &format!("receipt={receipt}&path=15977e8c&lang=ko")).await;
        assert_eq!(status, 200);
        assert!(html.contains("<html lang=\"ko\""));
        assert_eq!(receipt_in(&html), receipt, "the same code, now in Korean");
        let (status, _, _) = app.post_form("/receipt", "receipt=hello&path=15977e8c&lang=ko").await;
        assert_eq!(status, 400);
        // Reloading the page that sent the answers shows no code (it is kept nowhere) and says so.
        let (_, _, again) = app.post_form("/s/15977e8c", &format!("token={token}&q.age=18_24")).await;
        assert!(again.contains("already received") && again.contains("we cannot show it again"));
        assert!(!again.contains(&receipt));
        // Every respondent page loads /forget.css, which asks the browser to drop this site's cached pages.
        let (_, headers, _) = app.get("/forget.css").await;
        assert_eq!(headers.get("clear-site-data").unwrap(), "\"cache\"");
        assert!(html.contains("href=\"/forget.css\""));
        assert_eq!(app.count("harms"), 1);
    });
}

/// Issue 16: "No" to "Are you 18 or older?" ends the survey kindly before the rest of the form, and
/// any submission that says "No" anyway (an edited form, the API) is refused with nothing stored.
fn the_age_question_comes_first_and_no_ends_kindly_storing_nothing(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        // The first step: the age question alone, in a POST form; no token, no other question yet.
        let (status, headers, html) = app.get("/s/15977e8c?lang=fr").await;
        assert_eq!(status, 200);
        assert!(headers.get("set-cookie").is_none());
        assert!(html.contains("name=\"step\" value=\"screen\"") && html.contains("method=\"post\""), "{html}");
        assert!(html.contains("Avez-vous 18 ans ou plus?"), "{html}");
        assert!(!html.contains("name=\"token\""), "no token before the form");
        assert!(!html.contains("id=\"q-age\""), "the other questions wait");
        // "No": the kind end page, and no form.
        let end = "Ce sondage est seulement pour les personnes de 18 ans ou plus";
        let (status, _, html) = app.post_form("/s/15977e8c", "step=screen&lang=fr&q.adult=no").await;
        assert_eq!(status, 200);
        assert!(html.contains(end), "{html}");
        assert!(!html.contains("name=\"token\"") && !html.contains("id=\"q-age\""));
        // "Yes": the form, which carries the answer in a hidden field and shows its parts.
        let (status, _, form) = app.post_form("/s/15977e8c", "step=screen&lang=fr&q.adult=yes").await;
        assert_eq!(status, 200);
        let (token, prefix) = (hidden(&form, "token"), field_prefix(&form));
        assert!(form.contains(&format!("name=\"{prefix}.adult\" value=\"yes\"")), "{form}");
        assert!(!form.contains("id=\"q-adult\""), "not asked twice");
        assert!(form.contains("Partie 1 sur 4") && form.contains("Partie 4 sur 4"), "progress by part");
        // No answer at all goes on too: every question can be skipped.
        let (_, _, skipped) = app.post_form("/s/15977e8c", "step=screen&lang=fr").await;
        assert!(skipped.contains("name=\"token\"") && !skipped.contains(".adult\""), "{skipped}");
        // A form sent with "No" anyway: refused kindly, no receipt, and its token is not spent.
        let body = format!("token={token}&lang=fr&{prefix}.adult=no&{prefix}.age=18_24");
        let (status, _, html) = app.post_form("/s/15977e8c", &body).await;
        assert_eq!(status, 200);
        assert!(html.contains(end) && !html.contains("class=\"code\""), "{html}");
        let api = "/api/v1/surveys/15977e8c/responses";
        let (status, reply) = app.post_json(api, r#"{"answers":{"adult":"no","age":"18_24"}}"#).await;
        assert_eq!(status, 422, "{reply}");
        assert_eq!(reply["question"], "adult");
        let (status, reply) = app.post_json(api, r#"{"answers":{"adult":["yes","no"],"age":"18_24"}}"#).await;
        assert_eq!(status, 422, "a \"No\" among others ends it too: {reply}");
        assert_eq!(app.count("harms"), 0, "nothing was stored");
        let body = format!("token={token}&lang=fr&{prefix}.adult=yes&{prefix}.age=18_24");
        let (status, _, html) = app.post_form("/s/15977e8c", &body).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("class=\"code\""), "the same form, sent with Yes, is taken");
        assert_eq!(app.count("harms"), 1);
    });
}
