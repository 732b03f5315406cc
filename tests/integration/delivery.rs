//! How pages travel (issue 19): compression only where no lasting secret sits beside reflected text
//! (BREACH), the stylesheet inline on respondent pages (nothing cached) and under a content-hashed,
//! long-cached path on staff pages, and a favicon.

use crate::helpers::{
    Backend, Headers, TestApp, read_response, run,
    staff::{self, ADMIN_PW},
};

/// The whole stylesheet as the repository holds it (respondent rules, then staff and report rules):
/// what staff pages link and public report pages carry.
const STYLE: &str = concat!(include_str!("../../static/respondent.css"), include_str!("../../static/style.css"));

/// The CSP source that allows exactly this stylesheet inline.
fn style_source(css: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(css.as_bytes())))
}

/// The text of a page's one inline stylesheet.
fn inline_style(body: &str) -> &str {
    let start = body.find("<style>").expect("an inline stylesheet") + "<style>".len();
    &body[start..start + body[start..].find("</style>").expect("closed")]
}

tests! {
    both: [
        respondent_pages_are_compressed_only_when_the_client_accepts_it,
        staff_pages_are_never_compressed,
        staff_pages_link_a_hashed_stylesheet_cached_for_a_year,
        respondent_pages_carry_their_stylesheet_inline_and_cache_nothing,
        the_questionnaire_weighs_at_most_50_kb_in_every_language,
    ],
}

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, Headers, String) {
    let mut req = app.client.get(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read_response(req.send().await.unwrap()).await
}

fn encoding(headers: &Headers) -> String {
    headers.get("content-encoding").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

fn respondent_pages_are_compressed_only_when_the_client_accepts_it(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        for path in ["/", "/s/15977e8c", "/withdraw", "/safety", "/reports"] {
            let (status, headers, _) = get_with(&app, path, &[("accept-encoding", "gzip")]).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(encoding(&headers), "gzip", "{path} is compressed for a client that accepts gzip");
            let (_, headers, body) = get_with(&app, path, &[]).await;
            assert_eq!(encoding(&headers), "", "{path} is sent as it is to a client that does not ask");
            assert!(body.contains("<html"), "{path}");
        }
    });
}

fn staff_pages_are_never_compressed(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        staff::add(&app, "ada", "admin", ADMIN_PW);
        let session = staff::login(&app, "ada", ADMIN_PW).await.expect("signed in");
        let gzip = ("accept-encoding", "gzip");
        // Pages that hold the session's CSRF token, which stays the same from page to page.
        for path in ["/staff", "/staff/reports", "/staff/users"] {
            let (status, headers, body) = get_with(&app, path, &[gzip, ("cookie", session.cookie.as_str())]).await;
            assert_eq!(status, 200, "{path}");
            assert!(body.contains(&session.csrf), "{path} holds the CSRF token");
            assert_eq!(encoding(&headers), "", "{path}: a page with a lasting secret is never compressed");
        }
        // Signed out too, and a public page asked for with a session cookie.
        let (_, headers, _) = get_with(&app, "/staff/login", &[gzip]).await;
        assert_eq!(encoding(&headers), "");
        let (_, headers, _) = get_with(&app, "/reports", &[gzip, ("cookie", session.cookie.as_str())]).await;
        assert_eq!(encoding(&headers), "", "a request with a cookie gets nothing compressed");
    });
}

fn staff_pages_link_a_hashed_stylesheet_cached_for_a_year(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        let (_, _, login) = app.get("/staff/login").await;
        let link = |rel: &str| -> String {
            let at = login.find(&format!("rel=\"{rel}\" href=\"")).unwrap_or_else(|| panic!("a {rel} link"));
            let rest = &login[at + rel.len() + 13..];
            rest[..rest.find('"').unwrap()].to_owned()
        };
        let style = link("stylesheet");
        assert!(style.starts_with("/static/style.") && style.ends_with(".css") && style.len() > 27, "{style}");
        let hash = &style["/static/style.".len()..style.len() - ".css".len()];
        assert!(hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{style}");
        let (status, headers, body) = app.get(&style).await;
        assert_eq!(status, 200);
        assert_eq!(body, STYLE);
        let cache = headers.get("cache-control").unwrap().to_str().unwrap();
        assert_eq!(cache, "public, max-age=31536000, immutable");
        let icon = link("icon");
        let (status, headers, _) = app.get(&icon).await;
        assert_eq!(status, 200, "{icon}");
        assert!(headers.get("cache-control").unwrap().to_str().unwrap().contains("immutable"));
        // Another hash (an old stylesheet, a guess) is no file at all.
        let old = style.replace("style.", "style.0");
        assert_eq!(app.get(&old).await.0, 404, "{old}");
        assert_eq!(app.get("/static/style.0123456789abcdef.css").await.0, 404);
        // A browser that asks for /favicon.ico anyway gets one, not a 404 in the log.
        assert_eq!(app.get("/favicon.ico").await.0, 200);
    });
}

fn respondent_pages_carry_their_stylesheet_inline_and_cache_nothing(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        for path in ["/", "/s/15977e8c", "/withdraw", "/safety", "/reports", "/nothing-here"] {
            let (_, headers, body) = app.get(path).await;
            assert!(!body.contains("/static/style."), "{path} links no cacheable stylesheet");
            let css = inline_style(&body);
            if path == "/reports" {
                assert_eq!(css, STYLE, "{path}: the whole stylesheet inline (report tables)");
            } else {
                // The respondent rules only, without comments or line breaks: a few KB, not the whole.
                assert!(
                    css.contains(".quick-exit{") && css.contains(".o{") && !css.contains("table{"),
                    "{path}: {css}"
                );
                assert!(!css.contains("/*") && !css.contains('\n') && css.len() * 2 < STYLE.len(), "{path}");
            }
            assert!(body.contains("<link rel=\"icon\" href=\"data:,\">"), "{path}: asks for no favicon");
            assert_eq!(headers.get("cache-control").unwrap(), "no-store", "{path}");
            let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
            let style_src = csp.split(';').map(str::trim).find(|d| d.starts_with("style-src")).unwrap();
            assert!(style_src.split_whitespace().any(|s| s == style_source(css)), "{path}: {csp}");
            assert_eq!(style_src.split_whitespace().count(), 4, "'self' and the two stylesheets only: {csp}");
            assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"), "{csp}");
            assert!(headers.get("set-cookie").is_none(), "{path}");
        }
        // The one script stays a file, served no-store like every page.
        let (_, headers, _) = app.get("/static/chorus.js").await;
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    });
}

/// Issue 19's page-weight bound as a guard (bytes, not time): the questionnaire after the screening
/// step, with the script and every stylesheet it loads, uncompressed, in each launch language.
/// `chorus-bench --weight` prints the figures; this only keeps them from growing past the bound.
fn the_questionnaire_weighs_at_most_50_kb_in_every_language(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let extra: usize = {
            let (_, _, script) = app.get("/static/chorus.js").await;
            let (_, _, forget) = app.get("/forget.css").await;
            script.len() + forget.len()
        };
        for lang in chorus::i18n::LANGUAGES {
            let (status, _, html) = app.form_page(&format!("/s/15977e8c?lang={lang}")).await;
            assert_eq!(status, 200, "{lang}");
            assert!(html.contains("button") && html.contains("class=\"o\""), "{lang}: not the questionnaire");
            let total = html.len() + extra;
            assert!(total <= 50_000, "{lang}: the questionnaire weighs {total} bytes");
        }
    });
}
