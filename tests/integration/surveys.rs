//! Staff survey pages: the list, the admin upload (XLSForm and TOML) with its diff and confirmation,
//! drafts, the preview in every language, and hostile uploads that store nothing.

use crate::helpers::{
    Backend, PASSPHRASE, TestApp,
    page::hidden,
    read_response, run,
    staff::{ADMIN_PW, RESEARCHER_PW, add, get_as, login, post_as},
};

tests! {
    both: [
        upload_a_draft_preview_it_and_open_it,
        a_changed_definition_waits_for_confirmation,
        hostile_and_invalid_uploads_store_nothing,
        answers_under_version_1_count_in_version_2_tables,
        an_xlsform_edit_is_shown_confirmed_audited_and_older_answers_still_count,
        skip_logic_with_and_and_or_on_the_form_and_in_answers,
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
        // Every language, with what a screened-out respondent reads in place of the form.
        let harms = chorus::survey::Survey::parse(chorus::survey::DEFAULT_SURVEY).unwrap();
        for lang in chorus::i18n::LANGUAGES {
            let (status, _, page) =
                get_as(&app, &format!("/staff/surveys/harms/preview/{lang}"), &researcher.cookie).await;
            assert_eq!(status, 200, "{lang}");
            let end = harms.text(lang, "q.adult.end").unwrap();
            let shown = page.split("id=\"preview-end-h\"").nth(1).unwrap_or_default();
            assert!(
                shown.contains(&crate::respondent::askama_escape(end)),
                "{lang}: the screening end text is previewed: {page}"
            );
        }
        let (_, _, page) = get_as(&app, "/staff/surveys/night-shift/preview/fr", &researcher.cookie).await;
        assert!(!page.contains("preview-end"), "a survey without a screening question has no end text");
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
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("unchanged"), "{page}");

        // A relabelled question and a new option: shown, nothing stored until confirmed.
        let changed = chorus::survey::DEFAULT_SURVEY.replacen(
            &format!("label = \"{label}\""),
            "label = \"Reworded first question\"",
            1,
        );
        let (status, page) = upload(&app, &admin.cookie, &admin.csrf, changed.as_bytes()).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("relabelled") && page.contains("Reworded first question") && page.contains("2 → 3"),
            "{page}"
        );
        let current = app.with_conn(|c| chorus::store::surveys::get(c, "harms").unwrap().unwrap().current_version);
        assert_eq!(current, 2, "nothing stored before confirmation");
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
        assert_eq!((row.current_version, row.status.as_str()), (3, "open"), "an open survey stays open");
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
        let (_, _, form) = app.form_page("/s/15977e8c").await;
        let token = hidden(&form, "token");
        // The screening answer alone is nothing answered: the next question is answered too.
        let second = &harms.questions[1];
        let body =
            format!("token={token}&q.{}={}&q.{}={}", first.id, first.options[0].id, second.id, second.options[0].id);
        let (status, _, _) = app.post_form("/s/15977e8c", &body).await;
        assert_eq!(status, 200);
        let retyped = changed.replacen("id = \"age\"\ntype = \"single\"", "id = \"age\"\ntype = \"multiple\"", 1);
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
        // A zip whose headers declare 1 KB for a part that inflates to 9 MB: refused by what really
        // inflates, with the part named.
        let lying = lying_zip(9 << 20, 1024);
        let (status, page) = upload(&app, &admin.cookie, &admin.csrf, &lying).await;
        assert_eq!(status, 400);
        assert!(page.contains("xl/worksheets/sheet1.xml") && page.contains("larger than its declared"), "{page}");
        let after = app.with_conn(|c| chorus::store::surveys::list(c).unwrap().len());
        assert_eq!(before, after, "nothing stored");
    });
}

/// Issue 16: the bundled version 2 groups version 1's options (languages, provinces, years, ages) and
/// splits one list in two; answers stored under version 1 count in version 2's tables through the
/// mapping the definition declares, and a minor's answers stored under version 1 count nowhere.
fn answers_under_version_1_count_in_version_2_tables(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        // A deployment still on version 1 (stored in place of the bundled version 2).
        let v1 = include_str!("../data/harms-v1.toml");
        app.with_conn(|c| {
            use chorus::store::schema::{survey_versions as v, surveys};
            use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
            diesel::delete(v::table.filter(v::slug.eq("harms"))).execute(c).unwrap();
            diesel::update(surveys::table.find("harms")).set(surveys::current_version.eq(1)).execute(c).unwrap();
            diesel::insert_into(v::table)
                .values((v::slug.eq("harms"), v::version.eq(1), v::definition.eq(v1)))
                .execute(c)
                .unwrap();
        });
        app.state.intake.surveys.forget();
        let api = "/api/v1/surveys/15977e8c/responses";
        let old = r#"{"answers":{"adult":"yes","age":"55_plus","language":"yue","region":"sk",
            "years_in_canada":"under_2","status":"refugee","officials":["bylaw"],
            "what_happened":["entry_raid","arrested"],"anything_else":"old words"}}"#;
        for _ in 0..60 {
            let (status, reply) = app.post_json(api, old).await;
            assert_eq!(status, 201, "version 1 takes it: {reply}");
        }
        // Version 1 stored what a minor sent; those answers must not count any more.
        let minor = r#"{"answers":{"adult":"no","age":"18_24","language":"en","region":"on"}}"#;
        for _ in 0..5 {
            assert_eq!(app.post_json(api, minor).await.0, 201);
        }
        // The server starts again with version 2 bundled: it becomes current (the diff allows it).
        let app = app.restart().await;
        let row = app.with_conn(|c| chorus::store::surveys::get(c, "harms").unwrap().unwrap());
        assert_eq!(row.current_version, 2);
        assert_eq!(app.count("harms"), 65, "the old answers are all still there");

        // A release with so much of the budget that the noise is well under one.
        app.with_conn(|c| chorus::report::set_budget(c, "harms", 1000.0).unwrap());
        let tables = [
            "age",
            "language",
            "region",
            "years_in_canada",
            "status",
            "what_happened.entry_raid",
            "what_happened_to_you.arrested",
        ];
        let snapshot = chorus::report::run_snapshot(
            &mut app.conn(),
            &app.state.intake.surveys,
            &secrecy::SecretString::from(PASSPHRASE),
            &chorus::report::SnapshotSpec {
                rho: 900.0,
                tables: tables.iter().map(|t| (*t).to_owned()).collect(),
                ..chorus::report::SnapshotSpec::new("harms", chorus::month::Month::now().to_string())
            },
            "test",
            app.state.clock.now(),
        )
        .unwrap();
        let cell = |table: &str, row: &str| -> i64 {
            let t = snapshot.tables.iter().find(|t| t.id == table).unwrap_or_else(|| panic!("no table {table}"));
            let r = t.rows.iter().position(|x| x == row).unwrap_or_else(|| panic!("{table}: no row {row}"));
            t.cells[r] as i64
        };
        let near =
            |got: i64, want: i64, what: &str| assert!((got - want).abs() <= 2, "{what}: {got}, not about {want}");
        near(snapshot.row.n, 60, "the minors' five answer sets count nowhere");
        near(cell("age", "45_plus"), 60, "55 or older counts as 45 or older");
        near(cell("language", "chinese"), 60, "Cantonese counts as Chinese");
        near(cell("region", "prairies"), 60, "Saskatchewan counts as the prairie provinces");
        near(cell("years_in_canada", "up_to_5"), 60, "under 2 years counts as 5 years or less");
        near(cell("status", "skipped"), 60, "claimant or protected person maps to neither");
        near(cell("what_happened.entry_raid", "chosen"), 60, "the first half of the split list");
        near(cell("what_happened_to_you.arrested", "chosen"), 60, "the second half takes its share");
    });
}

/// A zip of one part, `xl/worksheets/sheet1.xml`, that inflates to `real` bytes while its local
/// header and central directory declare `declared`.
fn lying_zip(real: usize, declared: u32) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
        std::io::Write::write_all(&mut w, &vec![b' '; real]).unwrap();
        w.finish().unwrap();
    }
    let mut bytes = buf.into_inner();
    for i in 0..bytes.len().saturating_sub(30) {
        let at = match &bytes[i..i + 4] {
            b"PK\x03\x04" => i + 22,
            b"PK\x01\x02" => i + 24,
            _ => continue,
        };
        bytes[at..at + 4].copy_from_slice(&declared.to_le_bytes());
    }
    bytes
}

fn versions(app: &TestApp, slug: &str) -> Vec<i32> {
    use chorus::store::schema::survey_versions;
    use diesel::prelude::*;
    app.with_conn(|c| {
        survey_versions::table
            .filter(survey_versions::slug.eq(slug))
            .select(survey_versions::version)
            .order(survey_versions::version)
            .load(c)
            .unwrap()
    })
}

/// The bundled survey, changed (its first question relabelled; with `retype`, `age` made a multiple
/// choice) and written as an XLSForm.
fn relabelled_xlsform(retype: bool) -> Vec<u8> {
    let harms = chorus::survey::Survey::parse(chorus::survey::DEFAULT_SURVEY).unwrap();
    let label = harms.own_text("en", &format!("q.{}", harms.questions[0].id)).unwrap();
    let mut text = chorus::survey::DEFAULT_SURVEY.replacen(
        &format!("label = \"{label}\""),
        "label = \"Reworded first question\"",
        1,
    );
    if retype {
        text = text.replacen("id = \"age\"\ntype = \"single\"", "id = \"age\"\ntype = \"multiple\"", 1);
    }
    chorus::survey::xlsform::export(&chorus::survey::Survey::parse(&text).unwrap()).unwrap()
}

/// The upload path of a versioned edit, end to end: an XLSForm of the changed survey (the bundled
/// version 2) is shown as a diff, stored as version 3 only once confirmed, audited; a change of meaning
/// is refused and stores nothing; and answers given under version 2 still count in a release made
/// under version 3.
fn an_xlsform_edit_is_shown_confirmed_audited_and_older_answers_still_count(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "ada", "admin", ADMIN_PW);
        let admin = login(&app, "ada", ADMIN_PW).await.unwrap();
        crate::reports::submit(&app, 60).await;

        let (status, page) = upload(&app, &admin.cookie, &admin.csrf, &relabelled_xlsform(false)).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("relabelled") && page.contains("Reworded first question") && page.contains("2 → 3"),
            "{page}"
        );
        assert_eq!(versions(&app, "harms"), [2], "nothing stored before confirmation");
        let pending = hidden(&page, "pending");
        let body = format!("csrf={}&pending={pending}", admin.csrf);
        let (status, _) = post_as(&app, "/staff/surveys/confirm", &admin.cookie, &body, None).await;
        assert_eq!(status, 303);
        assert_eq!(versions(&app, "harms"), [2, 3]);
        let (_, _, audit) = get_as(&app, "/staff/audit", &admin.cookie).await;
        assert!(audit.contains("survey_import") && audit.contains("harms v3"), "{audit}");

        // Answers exist: a question may not change type, whatever the file's format. Nothing stored.
        let (status, page) = upload(&app, &admin.cookie, &admin.csrf, &relabelled_xlsform(true)).await;
        assert_eq!(status, 400);
        assert!(page.contains("cannot change from single to multiple") && page.contains("new id"), "{page}");
        assert_eq!(versions(&app, "harms"), [2, 3]);

        // 60 answers under version 2, 60 under version 3: a release under version 3 counts all 120,
        // in the total and in a question's table (version 2's answers read by id).
        app.state.intake.surveys.forget();
        crate::reports::submit(&app, 60).await;
        let (status, page, location) =
            crate::reports::release(&app, &admin.cookie, &admin.csrf, "rho=1&tables=age", PASSPHRASE).await;
        let location = location.unwrap_or_else(|| panic!("{status} {page}"));
        let id = location.rsplit('/').next().unwrap();
        let (_, _, json) = get_as(&app, &format!("/staff/reports/{id}.json?lang=en"), &admin.cookie).await;
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        let n = doc["snapshot"]["n"].as_u64().unwrap();
        assert!(n.abs_diff(120) < 30, "n = {n}");
        // Every one of the 120 answered age: had version 2's answers been lost on the way to version 3,
        // about 60 would show as skipped (noise sd about 8 at this rho; the line is near 4 sd from both).
        let age = doc["tables"].as_array().unwrap().iter().find(|t| t["id"] == "age").unwrap().clone();
        let skipped = age["cells"].as_array().unwrap().iter().find(|c| c["row"] == "skipped").unwrap();
        let skipped = skipped["count"].as_u64().unwrap_or(0);
        assert!(skipped < 30, "age skipped by {skipped}: older answers were not counted: {age}");
    });
}

/// A survey whose skip logic joins conditions with `and` and `or` (uploaded as an XLSForm): the form
/// shows every question without JavaScript, each conditional one under its conditions, and an answer
/// to a question whose rule does not hold is dropped.
fn skip_logic_with_and_and_or_on_the_form_and_in_answers(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        add(&app, "ada", "admin", ADMIN_PW);
        let admin = login(&app, "ada", ADMIN_PW).await.unwrap();
        let definition = r#"
format = 1
slug = "logic"
version = 1
languages = ["en", "fr"]
title = "Logic"
[[sections]]
id = "s"
title = "S"
text = "Some questions depend on others."
[[sections.questions]]
id = "a"
type = "single"
label = "A?"
options = [{ id = "x", label = "Ex" }, { id = "y", label = "Why" }]
[[sections.questions]]
id = "b"
type = "single"
label = "B?"
options = [{ id = "p", label = "Pea" }, { id = "q", label = "Queue" }]
[[sections.questions]]
id = "both"
type = "single"
label = "Both?"
options = [{ id = "yes", label = "Yes" }]
show_if = { all = [{ question = "a", any_of = ["x"] }, { question = "b", any_of = ["q"] }] }
[[sections.questions]]
id = "either"
type = "single"
label = "Either?"
options = [{ id = "yes", label = "Yes" }]
show_if = { any = [{ question = "a", any_of = ["y"] }, { question = "b", any_of = ["p"] }] }
"#;
        let survey = chorus::survey::Survey::parse(definition).unwrap();
        let xlsx = chorus::survey::xlsform::export(&survey).unwrap();
        let (status, _) = upload(&app, &admin.cookie, &admin.csrf, &xlsx).await;
        assert_eq!(status, 303);
        let body = format!("csrf={}&action=open", admin.csrf);
        let (status, _) = post_as(&app, "/staff/surveys/logic/status", &admin.cookie, &body, None).await;
        assert_eq!(status, 303);
        app.state.intake.surveys.forget();

        let path = app.state.public_path("logic");
        let (status, _, form) = app.get(&format!("/s/{path}")).await;
        assert_eq!(status, 200);
        assert!(form.contains("Some questions depend on others."), "the section's text: {form}");
        for q in ["a", "b", "both", "either"] {
            assert!(form.contains(&format!("id=\"q-{q}\"")), "every question is on the page: {q}");
        }
        assert!(form.contains(r#"data-show-if="a b" data-any-of="x|q" data-join="all""#), "{form}");
        assert!(form.contains(r#"data-show-if="a b" data-any-of="y|p" data-join="any""#), "{form}");
        assert!(form.contains("If all of these are true:") && form.contains("If any of these is true:"), "{form}");
        assert!(
            form.contains("you answered “Ex” to question 1") && form.contains("you answered “Queue” to question 2")
        );
        let (_, _, fr) = app.get(&format!("/s/{path}?lang=fr")).await;
        assert!(fr.contains("Si tout ceci est vrai :"), "{fr}");

        // The API describes the rule in the definition's shape, and takes answers under it (what the
        // rule hides is dropped: survey::answers' unit tests).
        let (_, _, api) = app.get(&format!("/api/v1/surveys/{path}")).await;
        let api: serde_json::Value = serde_json::from_str(&api).unwrap();
        let rule =
            |id: &str| api["questions"].as_array().unwrap().iter().find(|q| q["id"] == id).unwrap()["show_if"].clone();
        assert_eq!(rule("both")["all"].as_array().unwrap().len(), 2, "{api}");
        assert_eq!(rule("either")["any"][1], serde_json::json!({"question": "b", "any_of": ["p"]}), "{api}");
        let before = app.count("logic");
        let (status, reply) = app
            .post_json(
                &format!("/api/v1/surveys/{path}/responses"),
                r#"{"answers":{"a":"x","b":"q","both":"yes","either":"yes"}}"#,
            )
            .await;
        assert_eq!(status, 201, "{reply}");
        assert_eq!(app.count("logic"), before + 1);
    });
}
