//! What a person near the respondent could see (issue 16): the survey's public address is a neutral
//! word, never its slug; the printed card names the code box by the form's own label and not the
//! survey's purpose; support organisations appear where configured, in the respondent's language.

use chorus::{
    config::{SupportOrg, SurveyPaths},
    i18n::{I18n, LANGUAGES},
    survey::{DEFAULT_SURVEY, Survey},
};

use crate::helpers::{
    Backend, TestApp, cli,
    page::{hidden, receipt_in},
    run,
};

tests! {
    both: [
        the_slug_is_not_an_address_and_the_derived_path_is,
        a_configured_word_replaces_every_other_address,
        support_follows_the_marked_question_and_the_receipt_in_the_respondents_language,
        without_support_configured_nothing_is_shown,
    ],
    once: [
        outreach_cards_name_the_forms_real_label_and_not_the_survey,
    ],
}

/// The bundled survey's public path when none is configured (a hash of its slug).
const HARMS: &str = "15977e8c";

fn the_slug_is_not_an_address_and_the_derived_path_is(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        assert_eq!(SurveyPaths::derived("harms"), HARMS, "the tests' literal path is the derived one");
        // The slug serves nothing: not the form, not a submission, not the API. A redirect would
        // write /s/harms into the history on the way, so it is a plain 404.
        for path in ["/s/harms", "/s/harms?lang=fr", "/api/v1/surveys/harms"] {
            let (status, headers, _) = app.get(path).await;
            assert_eq!(status, 404, "{path}");
            assert!(headers.get("location").is_none(), "{path} is not a redirect");
        }
        assert_eq!(app.post_form("/s/harms", "q.age=18_24").await.0, 404);
        assert_eq!(app.post_json("/api/v1/surveys/harms/responses", r#"{"answers":{"age":"18_24"}}"#).await.0, 404);
        assert_eq!(app.count("harms"), 0, "nothing stored through the slug");

        let (_, _, landing) = app.get("/?lang=en").await;
        assert!(landing.contains(&format!("href=\"/s/{HARMS}?lang=en\"")), "{landing}");
        assert!(!landing.contains("/s/harms"), "the landing page links the neutral path only");
        let (status, _, form) = app.form_page(&format!("/s/{HARMS}")).await;
        assert_eq!(status, 200);
        assert!(form.contains(&format!("action=\"/s/{HARMS}\"")));
        assert!(!form.contains("harms"), "the form's page never names the slug");
        let token = hidden(&form, "token");
        let (status, _, receipt) = app.post_form(&format!("/s/{HARMS}"), &format!("token={token}&q.age=18_24")).await;
        assert_eq!(status, 200, "{receipt}");
        assert_eq!(hidden(&receipt, "path"), HARMS);
        assert!(!receipt.contains("harms"), "the receipt page never names the slug");

        let (status, _, body) = app.get(&format!("/api/v1/surveys/{HARMS}")).await;
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["path"], HARMS);
        assert!(json.get("slug").is_none(), "the API does not hand out the slug: {body}");
        let (status, _) =
            app.post_json(&format!("/api/v1/surveys/{HARMS}/responses"), r#"{"answers":{"age":"18_24"}}"#).await;
        assert_eq!(status, 201);
        assert_eq!(app.count("harms"), 2, "stored under the slug, inside");
    });
}

fn a_configured_word_replaces_every_other_address(backend: Backend) {
    run(async {
        let paths = SurveyPaths::new([("harms".to_owned(), "start".to_owned())].into()).unwrap();
        let app = TestApp::spawn_with(backend, |c| c.survey_paths = paths).await;
        app.init_keys();
        assert_eq!(app.get("/s/start?lang=vi").await.0, 200);
        // Only the configured word: the derived path and the slug are both unknown.
        for path in [format!("/s/{HARMS}"), "/s/harms".to_owned(), format!("/api/v1/surveys/{HARMS}")] {
            assert_eq!(app.get(&path).await.0, 404, "{path}");
        }
        let (_, _, landing) = app.get("/").await;
        assert!(landing.contains("href=\"/s/start?lang=en\"") && !landing.contains(HARMS), "{landing}");
        let (_, _, form) = app.form_page("/s/start").await;
        let token = hidden(&form, "token");
        let (status, _, page) = app.post_form("/s/start", &format!("token={token}&q.age=25_34")).await;
        assert_eq!(status, 200, "{page}");
        let receipt = receipt_in(&page);
        // The receipt's language buttons post the path back, and the page comes again in French.
        let (status, _, again) = app.post_form("/receipt", &format!("receipt={receipt}&path=start&lang=fr")).await;
        assert_eq!(status, 200);
        assert!(again.contains("lang=\"fr\"") && again.contains(&receipt));
        assert_eq!(app.post_form("/receipt", &format!("receipt={receipt}&path=harms&lang=fr")).await.0, 404);
        assert_eq!(app.post_json("/api/v1/surveys/start/responses", r#"{"answers":{"age":"18_24"}}"#).await.0, 201);
        assert_eq!(app.count("harms"), 2);
        // Staff see the address to print (and keep the slug).
        crate::helpers::staff::add(&app, "admin1", "admin", crate::helpers::staff::ADMIN_PW);
        let admin = crate::helpers::staff::login(&app, "admin1", crate::helpers::staff::ADMIN_PW).await.unwrap();
        let (_, _, detail) = crate::helpers::staff::get_as(&app, "/staff/surveys/harms", &admin.cookie).await;
        assert!(detail.contains("<code>/s/start</code>"), "{detail}");
    });
}

/// A small survey whose first question is followed by the support list, stated at 7 minutes.
const CHECK_IN: &str = r#"
format = 1
slug = "check-in"
version = 1
languages = ["en", "fr", "th"]
title = "Check-in"
minutes = 7

[[sections]]
id = "one"
title = "One"

[[sections.questions]]
id = "hurt"
type = "single"
label = "Did someone hurt you at work?"
support_after = true
options = [{ id = "yes", label = "Yes" }, { id = "no", label = "No" }]

[[sections.questions]]
id = "later"
type = "single"
label = "Was it this year?"
options = [{ id = "yes", label = "Yes" }, { id = "no", label = "No" }]
"#;

fn org(name: &str, languages: &[&str]) -> SupportOrg {
    SupportOrg {
        name: name.to_owned(),
        reach: format!("{}.example", name.to_lowercase()),
        languages: languages.iter().map(|l| (*l).to_owned()).collect(),
    }
}

async fn with_check_in(backend: Backend, support: Vec<SupportOrg>) -> TestApp {
    let app = TestApp::spawn_with(backend, |c| c.support = support).await;
    app.init_keys();
    // A new slug imported here opens at once.
    app.with_conn(|c| chorus::store::surveys::import(c, "check-in", 1, CHECK_IN).unwrap());
    app.state.intake.surveys.forget();
    app
}

fn support_follows_the_marked_question_and_the_receipt_in_the_respondents_language(backend: Backend) {
    run(async {
        let app = with_check_in(backend, vec![org("Aurora", &["en", "fr"]), org("Lotus", &["th"])]).await;
        let i18n = I18n::load();
        let path = format!("/s/{}", SurveyPaths::derived("check-in"));
        for (lang, shown, hidden_org) in
            [("en", "Aurora", "Lotus"), ("fr", "Aurora", "Lotus"), ("th", "Lotus", "Aurora")]
        {
            let (status, _, form) = app.get(&format!("{path}?lang={lang}")).await;
            assert_eq!(status, 200, "{form}");
            let at = form.find(&format!("<strong>{shown}</strong>")).unwrap_or_else(|| panic!("{lang}: {form}"));
            let hurt = form.find("id=\"q-hurt\"").unwrap();
            let later = form.find("id=\"q-later\"").unwrap();
            assert!(hurt < at && at < later, "{lang}: the list sits under the marked question, before the next");
            assert_eq!(form.matches("class=\"support\"").count(), 1, "{lang}: under that question only");
            assert!(form.contains(i18n.t(lang, "support_heading")), "{lang}: the heading in the page's language");
            assert!(!form.contains(hidden_org), "{lang}: a group that does not work in {lang} is not listed");

            let token = hidden(&form, "token");
            let (status, _, receipt) = app.post_form(&path, &format!("token={token}&lang={lang}&q.hurt=no")).await;
            assert_eq!(status, 200, "{receipt}");
            assert!(receipt.contains(&format!("<strong>{shown}</strong>")), "{lang}: on the receipt page too");
            assert!(receipt.contains(i18n.t(lang, "support_note")));
            assert!(!receipt.contains(hidden_org));
        }
        // A language no group works in shows no list at all (never another language's).
        let (_, _, form) = app.get(&format!("{path}?lang=ko")).await;
        assert!(!form.contains("class=\"support\""), "{form}");
        // The landing page states the survey's length in the page's language.
        let (_, _, landing) = app.get("/?lang=fr").await;
        assert!(landing.contains(&i18n.t("fr", "home_minutes").replace("{n}", "7")), "{landing}");
    });
}

fn without_support_configured_nothing_is_shown(backend: Backend) {
    run(async {
        let app = with_check_in(backend, Vec::new()).await;
        let path = format!("/s/{}", SurveyPaths::derived("check-in"));
        let (_, _, form) = app.get(&format!("{path}?lang=en")).await;
        assert!(form.contains("id=\"q-hurt\"") && !form.contains("class=\"support\""), "{form}");
        let token = hidden(&form, "token");
        let (_, _, receipt) = app.post_form(&path, &format!("token={token}&q.hurt=yes")).await;
        assert!(receipt.contains("class=\"code\"") && !receipt.contains("class=\"support\""), "{receipt}");
    });
}

/// Text as askama writes it into HTML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The text of the outreach-code box's label on a form page.
fn code_label(form: &str) -> String {
    let marker = "<label class=\"qlabel\" for=\"code\">";
    let at = form.find(marker).expect("a code box") + marker.len();
    form[at..].split("</label>").next().unwrap().to_owned()
}

fn outreach_cards_name_the_forms_real_label_and_not_the_survey() {
    run(async {
        let app = TestApp::spawn(Backend::Sqlite).await;
        app.init_keys();
        let dir = tempfile::tempdir().unwrap();
        let survey = Survey::parse(DEFAULT_SURVEY).unwrap();
        let i18n = I18n::load();
        for &lang in LANGUAGES {
            let (_, _, form) = app.form_page(&format!("/s/{HARMS}?lang={lang}")).await;
            let label = code_label(&form);
            assert!(!label.is_empty(), "{lang}");
            let file = format!("cards-{lang}.html");
            let out = cli::chorus(dir.path())
                .args([
                    "codes",
                    "issue",
                    "harms",
                    "--count",
                    "2",
                    "--batch",
                    "street",
                    "--lang",
                    lang,
                    "--html",
                    file.as_str(),
                ])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let cards = std::fs::read_to_string(dir.path().join(&file)).unwrap();
            assert!(cards.contains(&format!("<html lang=\"{lang}\">")), "{lang}");
            // The card quotes the box exactly as this language's form labels it (and, bilingual, as
            // the English form does).
            let sentence = i18n.t(lang, "card_text").split("{label}").next().unwrap().to_owned();
            assert!(
                cards.contains(&format!("{}{label}", escape(&sentence))),
                "{lang}: the card must name the box as the form does, {label:?}: {cards}"
            );
            if lang != "en" {
                assert!(cards.contains("Outreach code (only if you were given one)"), "{lang}: English too");
            }
            assert!(cards.contains(&format!("/s/{HARMS}")), "{lang}: the neutral address");
            // Nothing on the cards says what the survey is about.
            for l in LANGUAGES {
                let title = survey.title(l);
                assert!(!cards.contains(title), "{lang}: the card prints the {l} title {title:?}");
            }
            let lower = cards.to_lowercase();
            for word in ["harms", "violence", "assault", "police", "sex work", "massage"] {
                assert!(!lower.contains(word), "{lang}: the card says {word:?}");
            }
        }
        let out = cli::chorus(dir.path())
            .args(["codes", "issue", "harms", "--count", "1", "--batch", "x", "--lang", "xx"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "an unknown language is refused");
    });
}
