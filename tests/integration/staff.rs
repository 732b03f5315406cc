//! Staff side: setup, sign-in, sessions, CSRF, backoff, roles and the audit trail.

use secrecy::ExposeSecret;

use crate::helpers::{
    Backend, TestApp, contains,
    page::hidden,
    read_response, run,
    staff::{ADMIN_PW, RESEARCHER_PW, add, get_as, login, post_as},
};

tests! {
    both: [
        setup_link_creates_the_admin_and_key_then_disappears,
        authorization_matrix,
        session_cookie_attributes_and_logout,
        csrf_and_foreign_origin_are_refused,
        backoff_and_disabled_accounts,
        sessions_time_out,
        admin_adds_a_researcher_and_the_audit_trail_records_it,
    ],
}

fn setup_link_creates_the_admin_and_key_then_disappears(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        let token = app.state.setup_token.lock().unwrap().as_ref().unwrap().expose_secret().to_owned();
        // The page asks for the code; the code travels only in the POST body, never in a URL.
        let (status, _, page) = app.get("/setup").await;
        assert_eq!(status, 200);
        assert!(page.contains("passphrase") && page.contains(r#"name="token""#));
        assert!(!page.contains(&token), "the page never carries the code");
        assert!(page.contains("80 bits"), "the page states the rule");
        let wrong = "token=0000&name=ada&password=admin+password+long&password_again=admin+password+long";
        assert_eq!(app.post_form("/setup", wrong).await.0, 404, "a wrong code sets nothing up");
        // A weak passphrase is refused before anything is created.
        let weak = format!(
            "token={token}&name=ada&password=admin+password+long&password_again=admin+password+long&passphrase=short&passphrase_again=short"
        );
        assert_eq!(app.post_form("/setup", &weak).await.0, 400);
        let body = format!(
            "token={token}&name=ada&password=admin+password+long&password_again=admin+password+long&passphrase=gravy+quarrel+unclaimed+bunkbed+tamper+ferocious+spotless&passphrase_again=gravy+quarrel+unclaimed+bunkbed+tamper+ferocious+spotless"
        );
        let (status, headers, _) = app.post_form("/setup", &body).await;
        assert_eq!(status, 303);
        assert_eq!(headers.get("location").unwrap(), "/staff/login?setup=done");
        assert!(app.with_conn(chorus::keyring::Keyring::has_key).unwrap(), "the report key exists");
        // Gone once an admin exists, even with the old token.
        assert_eq!(app.get("/setup").await.0, 404);
        assert_eq!(app.post_form("/setup", &body).await.0, 404);
        assert!(login(&app, "ada", "admin password long").await.is_some());
        // Answers can now be accepted.
        assert_eq!(app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#).await.0, 201);
    });
}

fn authorization_matrix(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        add(&app, "admin1", "admin", ADMIN_PW);
        add(&app, "res1", "researcher", RESEARCHER_PW);
        let admin = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let res = login(&app, "res1", RESEARCHER_PW).await.unwrap();
        // (method, path, anonymous, researcher, admin)
        let matrix: &[(&str, &str, u16, u16, u16)] = &[
            ("GET", "/staff", 303, 200, 200),
            ("GET", "/staff/users", 303, 403, 200),
            ("GET", "/staff/audit", 303, 403, 200),
            ("GET", "/staff/login", 200, 200, 200),
            ("POST", "/staff/users", 401, 403, 400),
            ("POST", "/staff/users/nobody/disable", 401, 403, 400),
            ("POST", "/staff/logout", 401, 303, 303),
        ];
        for (method, path, anon, researcher, adm) in matrix {
            for (who, session, expected) in
                [("anonymous", None, anon), ("researcher", Some(&res), researcher), ("admin", Some(&admin), adm)]
            {
                let cookie = session.map(|s| s.cookie.as_str()).unwrap_or("");
                let csrf = session.map(|s| s.csrf.as_str()).unwrap_or("");
                let status = if *method == "GET" {
                    get_as(&app, path, cookie).await.0
                } else if path.ends_with("logout") {
                    // Logging out ends the session: run it last, on a fresh session of the same user.
                    let fresh = match who {
                        "researcher" => login(&app, "res1", RESEARCHER_PW).await,
                        "admin" => login(&app, "admin1", ADMIN_PW).await,
                        _ => None,
                    };
                    let (c, t) = fresh.map(|s| (s.cookie, s.csrf)).unwrap_or_default();
                    post_as(&app, path, &c, &format!("csrf={t}"), None).await.0
                } else {
                    post_as(&app, path, cookie, &format!("csrf={csrf}&name=&role=&password="), None).await.0
                };
                assert_eq!(status, *expected, "{method} {path} as {who}");
            }
        }
    });
}

fn session_cookie_attributes_and_logout(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        add(&app, "admin1", "admin", ADMIN_PW);
        let (status, headers, _) =
            app.post_form("/staff/login", &format!("name=admin1&password={}", ADMIN_PW.replace(' ', "+"))).await;
        assert_eq!(status, 303);
        let set = headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
        assert!(set.starts_with("chorus_staff="), "{set}");
        let token = set.split(';').next().unwrap().trim_start_matches("chorus_staff=").to_owned();
        assert_eq!(token.len(), 64, "256-bit token");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/staff"] {
            assert!(set.contains(attr), "{attr} missing: {set}");
        }
        assert!(!set.contains("Secure"), "served on loopback, so not Secure: {set}");
        // Off loopback the cookie is Secure.
        let res = app
            .client
            .post(app.url("/staff/login"))
            .header("host", "survey.example.org")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("name=admin1&password={}", ADMIN_PW.replace(' ', "+")))
            .send()
            .await
            .unwrap();
        let (_, headers, _) = read_response(res).await;
        assert!(headers.get("set-cookie").unwrap().to_str().unwrap().contains("; Secure"));
        // Only a hash of the token is stored.
        assert!(!contains(&app.database_bytes(), token.as_bytes()));
        // No public route ever sets a cookie, even for a signed-in member.
        let cookie = format!("chorus_staff={token}");
        for path in ["/", "/s/15977e8c", "/withdraw", "/safety", "/api/v1/surveys/15977e8c"] {
            let (_, headers, _) = get_as(&app, path, &cookie).await;
            assert!(headers.get("set-cookie").is_none(), "{path}");
        }
        let (_, _, page) = get_as(&app, "/staff", &cookie).await;
        let csrf = hidden(&page, "csrf");
        assert_eq!(post_as(&app, "/staff/logout", &cookie, &format!("csrf={csrf}"), None).await.0, 303);
        assert_eq!(get_as(&app, "/staff", &cookie).await.0, 303, "logout deleted the session");
    });
}

fn csrf_and_foreign_origin_are_refused(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        add(&app, "admin1", "admin", ADMIN_PW);
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let add_body = |csrf: &str| format!("csrf={csrf}&name=newbie&role=researcher&password=a+long+password+here");
        assert_eq!(post_as(&app, "/staff/users", &s.cookie, &add_body(""), None).await.0, 403, "no CSRF token");
        assert_eq!(post_as(&app, "/staff/users", &s.cookie, &add_body("deadbeef"), None).await.0, 403, "wrong token");
        let (status, _) =
            post_as(&app, "/staff/users", &s.cookie, &add_body(&s.csrf), Some("https://evil.example")).await;
        assert_eq!(status, 403, "foreign Origin");
        assert_eq!(
            post_as(&app, "/staff/login", "", "name=admin1&password=x", Some("https://evil.example")).await.0,
            403
        );
        assert!(chorus::store::staff::user_by_name(&mut app.conn(), "newbie").unwrap().is_none());
        let same_origin = app.addr.clone();
        let (status, page) = post_as(&app, "/staff/users", &s.cookie, &add_body(&s.csrf), Some(&same_origin)).await;
        assert_eq!(status, 200, "{page}");
        assert!(chorus::store::staff::user_by_name(&mut app.conn(), "newbie").unwrap().is_some());
    });
}

fn backoff_and_disabled_accounts(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        add(&app, "admin1", "admin", ADMIN_PW);
        add(&app, "res1", "researcher", RESEARCHER_PW);
        let (status, _, unknown) = app.post_form("/staff/login", "name=nobody&password=whatever+password").await;
        let (status2, _, wrong) = app.post_form("/staff/login", "name=res1&password=whatever+password").await;
        assert_eq!((status, status2), (401, 401));
        assert_eq!(unknown, wrong, "the message never says which of name or password was wrong");
        for _ in 0..5 {
            app.post_form("/staff/login", "name=res1&password=wrong+wrong+wrong").await;
        }
        assert!(
            login(&app, "res1", RESEARCHER_PW).await.is_none(),
            "during backoff even the right password is refused"
        );
        app.state.clock.advance(3600 + 1);
        assert!(login(&app, "res1", RESEARCHER_PW).await.is_some(), "after the backoff the account works again");
        // A disabled account cannot sign in, and its open sessions end.
        let s = login(&app, "res1", RESEARCHER_PW).await.unwrap();
        app.state.accounts.set_disabled(&mut app.conn(), "res1", true).unwrap();
        assert_eq!(get_as(&app, "/staff", &s.cookie).await.0, 303);
        assert!(login(&app, "res1", RESEARCHER_PW).await.is_none());
    });
}

fn sessions_time_out(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        add(&app, "admin1", "admin", ADMIN_PW);
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        app.state.clock.advance(29 * 60);
        assert_eq!(get_as(&app, "/staff", &s.cookie).await.0, 200, "activity within 30 minutes keeps it alive");
        app.state.clock.advance(31 * 60);
        assert_eq!(get_as(&app, "/staff", &s.cookie).await.0, 303, "idle for over 30 minutes");
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        for _ in 0..25 {
            app.state.clock.advance(29 * 60);
            get_as(&app, "/staff", &s.cookie).await;
        }
        assert_eq!(get_as(&app, "/staff", &s.cookie).await.0, 303, "12 hours at most, however active");
    });
}

fn admin_adds_a_researcher_and_the_audit_trail_records_it(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        add(&app, "admin1", "admin", ADMIN_PW);
        app.init_keys();
        app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#).await;
        let s = login(&app, "admin1", ADMIN_PW).await.unwrap();
        let (_, _, dash) = get_as(&app, "/staff", &s.cookie).await;
        assert!(dash.contains(&chorus::month::Month::now().to_string()) && dash.contains("<td>1</td>"), "{dash}");
        let body = format!("csrf={}&name=rita&role=researcher&password=rita+password+long", s.csrf);
        let (status, page) = post_as(&app, "/staff/users", &s.cookie, &body, None).await;
        assert_eq!(status, 200);
        assert!(page.contains("Added rita"));
        let (_, page) = post_as(&app, "/staff/users", &s.cookie, &body, None).await;
        assert!(page.contains("already exists"));
        assert!(login(&app, "rita", "rita password long").await.is_some());
        app.post_form("/staff/login", "name=rita&password=nope+nope+nope+nope").await;
        let (_, _, audit) = get_as(&app, "/staff/audit", &s.cookie).await;
        for action in ["login", "login_failed", "user_add"] {
            assert!(audit.contains(&format!("<td>{action}</td>")), "{action} missing from the audit trail");
        }
        assert!(!audit.contains("18_24"), "no respondent data in the audit trail");
    });
}
