//! Staff survey pages: the list, the admin upload (XLSForm and TOML) with its diff and confirmation,
//! drafts, the preview in every language, and hostile uploads that store nothing.

use crate::helpers::{
    Backend, TestApp,
    page::hidden,
    read_response, run,
    staff::{ADMIN_PW, RESEARCHER_PW, add, get_as, login, post_as},
};

tests! {
    both: [
        upload_a_draft_preview_it_and_open_it,
        a_changed_definition_waits_for_confirmation,
        hostile_and_invalid_uploads_store_nothing,
    ],
}

const EXAMPLE: &[u8] = include_bytes!("../data/example.xlsx");

fn multipart(csrf: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "chorussurveys91c2";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.xlsx\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(app: &TestApp, cookie: &str, csrf: &str, file: &[u8]) -> (u16, String) {
    let (ctype, body) = multipart(csrf, file);
    let res = app
        .client
        .post(app.url("/staff/surveys"))
        .header("content-type", ctype)
        .header("cookie", cookie)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, _, page) = read_response(res).await;
    (status, page)
}

fn status_of(app: &TestApp, slug: &str) -> Option<String> {
    app.with_conn(|c| chorus::store::surveys::get(c, slug).unwrap().map(|r| r.status.to_string()))
}

fn upload_a_draft_preview_it_and_open_it(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        // Without a report key no survey shows its form (issue 17's not-ready page).
        app.init_keys();
        add(&app, "ada", "admin", ADMIN_PW);
        add(&app, "rita", "researcher", RESEARCHER_PW);
        let admin = login(&app, "ada", ADMIN_PW).await.unwrap();
        let researcher = login(&app, "rita", RESEARCHER_PW).await.unwrap();

        // A researcher sees the list but cannot upload.
        let (status, _, page) = get_as(&app, "/staff/surveys", &researcher.cookie).await;
        assert_eq!(status, 200);
        assert!(page.contains("harms") && page.contains("open") && !page.contains("enctype"), "{page}");
        let (status, _) = upload(&app, &researcher.cookie, &researcher.csrf, EXAMPLE).await;
        assert_eq!(status, 403);
        assert_eq!(status_of(&app, "night-shift"), None);
        // Without the CSRF token, refused too.
        let (status, _) = upload(&app, &admin.cookie, "wrong", EXAMPLE).await;
        assert_eq!(status, 403);

        // The admin's upload becomes a draft: listed for staff, not for respondents, no answers.
        let (status, _) = upload(&app, &admin.cookie, &admin.csrf, EXAMPLE).await;
        assert_eq!(status, 303);
        assert_eq!(status_of(&app, "night-shift").as_deref(), Some("draft"));
        let (_, _, page) = get_as(&app, "/staff/surveys", &admin.cookie).await;
        assert!(page.contains("night-shift") && page.contains("draft") && page.contains("en, fr"), "{page}");
        let (_, _, landing) = app.get("/").await;
        assert!(!landing.contains("night-shift"), "a draft is not listed");
        let (status, _, _) = app.get("/s/104ce887").await;
        assert_eq!(status, 410, "a draft takes no answers");

        // The survey page: languages, untranslated strings per language.
        let (status, _, page) = get_as(&app, "/staff/surveys/night-shift", &admin.cookie).await;
        assert_eq!(status, 200);
        assert!(page.contains("/staff/surveys/night-shift/preview/fr"), "{page}");
        assert!(page.contains("q.places.help"), "the French hint is missing and listed: {page}");
        let (_, _, harms) = get_as(&app, "/staff/surveys/harms", &researcher.cookie).await;
        // Where respondents reach it, and, per language, every string still marked `review = true`
        // beside its English, for a community reviewer (issue 16).
        assert!(harms.contains("<code>/s/15977e8c</code>"), "the public address");
        assert!(harms.contains("strings awaiting community review"), "{harms}");
        let i18n = chorus::i18n::I18n::load();
        let ui_row =
            format!("<code>quick_exit</code></th><td>Exit now</td><td lang=\"th\">{}</td>", i18n.t("th", "quick_exit"));
        assert!(harms.contains(&ui_row), "an interface string awaiting review");
        assert!(harms.contains("<td>survey</td><th scope=\"row\"><code>q.age</code></th>"), "a survey string");
        for lang in chorus::i18n::LANGUAGES {
            assert!(harms.contains(&format!("/staff/surveys/harms/preview/{lang}")), "{lang}");
        }

        // The preview is the respondent form, in the language, with no token and no way to submit.
        let (status, headers, page) = get_as(&app, "/staff/surveys/night-shift/preview/fr", &researcher.cookie).await;
        assert_eq!(status, 200);
        assert!(page.contains("Où avez-vous travaillé ?") && page.contains("Travail de nuit"), "{page}");
        assert_eq!(hidden(&page, "token"), "");
        assert!(!page.contains("action=\"/s/104ce887\""));
        let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.contains("form-action 'none'"), "{csp}");
        for lang in chorus::i18n::LANGUAGES {
            let (status, _, _) =
                get_as(&app, &format!("/staff/surveys/harms/preview/{lang}"), &researcher.cookie).await;
            assert_eq!(status, 200, "{lang}");
        }
        let (status, _, _) = get_as(&app, "/staff/surveys/night-shift/preview/ko", &admin.cookie).await;
        assert_eq!(status, 404, "not offered in Korean");
        let (status, _, _) = get_as(&app, "/staff/surveys/night-shift/preview/fr", "").await;
        assert_ne!(status, 200, "staff only");

        // Only an admin opens it; then respondents see it.
        let body = format!("csrf={}&action=open", researcher.csrf);
        let (status, _) = post_as(&app, "/staff/surveys/night-shift/status", &researcher.cookie, &body, None).await;
        assert_eq!(status, 403);
        let body = format!("csrf={}&action=open", admin.csrf);
        let (status, _) = post_as(&app, "/staff/surveys/night-shift/status", &admin.cookie, &body, None).await;
        assert_eq!(status, 303);
        app.state.intake.surveys.forget();
        let (status, _, _) = app.get("/s/104ce887").await;
        assert_eq!(status, 200);
        let (_, _, audit) = get_as(&app, "/staff/audit", &admin.cookie).await;
        assert!(audit.contains("survey_import") && audit.contains("survey_open"), "{audit}");
    });
}

fn a_changed_definition_waits_for_confirmation(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        add(&app, "ada", "admin", ADMIN_PW);
        let admin = login(&app, "ada", ADMIN_PW).await.unwrap();
        let harms = chorus::survey::Survey::parse(chorus::survey::DEFAULT_SURVEY).unwrap();
        let first = &harms.questions[0];
        let label = harms.own_text("en", &format!("q.{}", first.id)).unwrap();

        // The same definition again: nothing to do.
        let (status, page) = upload(&app, &admin.cookie, &admin.csrf, chorus::survey::DEFAULT_SURVEY.as_bytes()).await;
        assert_eq!(status, 200);
        assert!(page.contains("unchanged"), "{page}");

        // A relabelled question and a new option: shown, nothing stored until confirmed.
        let changed = chorus::survey::DEFAULT_SURVEY.replacen(
            &format!("label = \"{label}\""),
            "label = \"Reworded first question\"",
            1,
        );
        let (status, page) = upload(&app, &admin.cookie, &admin.csrf, changed.as_bytes()).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("relabelled") && page.contains("Reworded first question") && page.contains("1 → 2"),
            "{page}"
        );
        let current = app.with_conn(|c| chorus::store::surveys::get(c, "harms").unwrap().unwrap().current_version);
        assert_eq!(current, 1, "nothing stored before confirmation");
        let pending = hidden(&page, "pending");
        let (status, _) = post_as(
            &app,
            "/staff/surveys/confirm",
            &admin.cookie,
            &format!("csrf={}&pending={pending}", admin.csrf),
            None,
        )
        .await;
        assert_eq!(status, 303);
        let row = app.with_conn(|c| chorus::store::surveys::get(c, "harms").unwrap().unwrap());
        assert_eq!((row.current_version, row.status.as_str()), (2, "open"), "an open survey stays open");
        // A confirmation is used once.
        let (status, page) = post_as(
            &app,
            "/staff/surveys/confirm",
            &admin.cookie,
            &format!("csrf={}&pending={pending}", admin.csrf),
            None,
        )
        .await;
        assert!(status == 400 && page.contains("expired"), "{status} {page}");

        // With answers stored, a question may not change type.
        app.init_keys();
        let (_, _, form) = app.get("/s/15977e8c").await;
        let token = hidden(&form, "token");
        let (status, _, _) =
            app.post_form("/s/15977e8c", &format!("token={token}&q.{}={}", first.id, first.options[0].id)).await;
        assert_eq!(status, 200);
        let retyped = changed.replacen("type = \"single\"", "type = \"multiple\"", 1);
        let (status, page) = upload(&app, &admin.cookie, &admin.csrf, retyped.as_bytes()).await;
        assert_eq!(status, 400);
        assert!(page.contains("cannot change from single to multiple"), "{page}");
    });
}

fn hostile_and_invalid_uploads_store_nothing(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        add(&app, "ada", "admin", ADMIN_PW);
        let admin = login(&app, "ada", ADMIN_PW).await.unwrap();
        let before = app.with_conn(|c| chorus::store::surveys::list(c).unwrap().len());

        // Over 2 MB: refused while reading, before anything parses it.
        let big = vec![b'P'; chorus::survey::xlsform::MAX_FILE + 10];
        let (status, _) = upload(&app, &admin.cookie, &admin.csrf, &big).await;
        assert_eq!(status, 413);
        // Junk that starts like a zip.
        let (status, page) = upload(&app, &admin.cookie, &admin.csrf, b"PK\x03\x04 not a workbook").await;
        assert_eq!(status, 400);
        assert!(page.contains("not a readable .xlsx"), "{page}");
        // An XLSForm with features Chorus refuses: every problem at once, with sheet, row and column.
        let bad = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/unsupported.xlsx")).unwrap();
        let (status, page) = upload(&app, &admin.cookie, &admin.csrf, &bad).await;
        assert_eq!(status, 400);
        for needle in ["calculations are not supported", "required", "locations are not collected", "row 3", "column"] {
            assert!(page.contains(needle), "{needle}: {page}");
        }
        let after = app.with_conn(|c| chorus::store::surveys::list(c).unwrap().len());
        assert_eq!(before, after, "nothing stored");
    });
}
