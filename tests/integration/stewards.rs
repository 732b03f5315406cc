//! Releases on the web need k stewards (issue 18): a researcher asks, with no passphrase; each
//! steward signs in and gives their own share; the k-th share runs the release. One share opens
//! nothing, one account gives one share, a waiting run expires and leaves nothing a later run can
//! use, a restart forgets it, and a wrong passphrase is refused and counted.

use chorus::keyring::{Keyring, KeyringError};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    custody::{ALICE, BORIS, CHIDI, init_two_of_three},
    helpers::{
        Backend, PASSPHRASE, TestApp, run,
        staff::{ADMIN_PW, RESEARCHER_PW, Session, add, get_as, login, post_as},
    },
    reports::submit,
};

tests! {
    both: [
        a_release_waits_for_two_stewards_and_the_second_runs_it,
        a_waiting_run_expires_and_leaves_nothing_behind,
        a_wrong_steward_passphrase_is_refused_and_counted,
        one_of_one_custody_still_runs_at_once,
        the_keys_page_changes_stewards_only_with_k_passphrases,
        setup_makes_k_of_n_stewards,
        a_definition_sets_retention_unless_an_admin_did,
    ],
}

const STEWARD_PW: &str = "steward password long enough";

fn month() -> String {
    chorus::month::Month::now().to_string()
}

/// A researcher who asks, and three stewards with staff accounts of their own.
async fn staff(app: &TestApp) -> (Session, Session, Session, Session) {
    add(app, "res1", "researcher", RESEARCHER_PW);
    add(app, "admin1", "admin", ADMIN_PW);
    for name in ["alice", "boris", "chidi"] {
        add(app, name, "researcher", STEWARD_PW);
    }
    (
        login(app, "res1", RESEARCHER_PW).await.unwrap(),
        login(app, "alice", STEWARD_PW).await.unwrap(),
        login(app, "boris", STEWARD_PW).await.unwrap(),
        login(app, "admin1", ADMIN_PW).await.unwrap(),
    )
}

async fn ask(app: &TestApp, s: &Session, passphrase: &str) -> (u16, String) {
    let body =
        format!("csrf={}&survey=harms&through={}&rho=0.5&passphrase={}", s.csrf, month(), passphrase.replace(' ', "+"));
    post_as(app, "/staff/reports", &s.cookie, &body, None).await
}

async fn give(app: &TestApp, s: &Session, id: &str, steward: &str, passphrase: &str) -> (u16, String) {
    let body = format!("csrf={}&steward={steward}&passphrase={}", s.csrf, passphrase.replace(' ', "+"));
    post_as(app, &format!("/staff/reports/pending/{id}/contribute"), &s.cookie, &body, None).await
}

/// The ids of the waiting runs the staff page offers a share to, in its order.
async fn waiting(app: &TestApp, s: &Session) -> (Vec<String>, String) {
    let (status, _, page) = get_as(app, "/staff/reports", &s.cookie).await;
    assert_eq!(status, 200);
    let ids = page
        .split("/staff/reports/pending/")
        .skip(1)
        .filter_map(|rest| rest.split_once("/contribute").map(|(id, _)| id.to_owned()))
        .filter(|id| !id.contains('"'))
        .collect();
    (ids, page)
}

fn releases(app: &TestApp) -> Vec<chorus::store::snapshots::SnapshotRow> {
    chorus::store::snapshots::list(&mut app.conn(), false).unwrap()
}

async fn audit(app: &TestApp, admin: &Session, action: &str) -> usize {
    let (_, _, page) = get_as(app, &format!("/staff/audit?action={action}"), &admin.cookie).await;
    page.matches(&format!("<td>{action}</td>")).count()
}

fn a_release_waits_for_two_stewards_and_the_second_runs_it(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        init_two_of_three(&app);
        submit(&app, 120).await;
        let (res, alice, boris, admin) = staff(&app).await;
        // A researcher asks with no passphrase at all.
        let (status, page) = ask(&app, &res, "").await;
        assert_eq!(status, 303, "{page}");
        let (ids, page) = waiting(&app, &res).await;
        assert_eq!(ids.len(), 1, "{page}");
        let id = &ids[0];
        assert!(page.contains("0 of 2 shares given") && page.contains("Expires "), "{page}");
        // One steward's share does not run it, whoever gives it.
        assert_eq!(give(&app, &alice, id, "alice", ALICE).await.0, 303);
        assert!(releases(&app).is_empty(), "one share of two made a release");
        let (_, page) = waiting(&app, &res).await;
        assert!(page.contains("1 of 2 shares given") && page.contains("Steward alice (signed in as alice)"), "{page}");
        // Nor may one account give two shares, even knowing a second passphrase.
        let (_, page) = give(&app, &alice, id, "chidi", CHIDI).await;
        assert!(page.contains("already given a share"), "{page}");
        assert!(releases(&app).is_empty());
        // A steward asking with their passphrase gives one share: with k = 2 that makes no release.
        let (status, _) = ask(&app, &boris, BORIS).await;
        assert_eq!(status, 303);
        assert!(releases(&app).is_empty(), "a single passphrase made a release with k = 2");
        assert_eq!(waiting(&app, &res).await.0.len(), 2);
        // The second steward's share runs it, and the release is the researcher's.
        let (status, page) = give(&app, &boris, id, "boris", BORIS).await;
        assert_eq!(status, 303, "{page}");
        let made = releases(&app);
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].created_by, "res1");
        assert_eq!(waiting(&app, &res).await.0.len(), 1, "the run that ran waits no more");
        assert_eq!(app.state.pending_runs.shares_held(), 1, "its shares are gone; boris's other one waits");
        for (action, n) in
            [("release_requested", 2), ("share_contributed", 3), ("release_started", 1), ("release_run", 1)]
        {
            assert_eq!(audit(&app, &admin, action).await, n, "{action}");
        }
        // The one who asked, or an admin, cancels; its share is wiped.
        let left = waiting(&app, &res).await.0.remove(0);
        let body = format!("csrf={}", res.csrf);
        let (_, page) = post_as(&app, &format!("/staff/reports/pending/{left}/cancel"), &res.cookie, &body, None).await;
        assert!(page.contains("only the staff member who asked"), "{page}");
        let body = format!("csrf={}", boris.csrf);
        assert_eq!(
            post_as(&app, &format!("/staff/reports/pending/{left}/cancel"), &boris.cookie, &body, None).await.0,
            303
        );
        assert_eq!(app.state.pending_runs.shares_held(), 0);
        assert_eq!(audit(&app, &admin, "release_cancelled").await, 1);
    });
}

fn a_waiting_run_expires_and_leaves_nothing_behind(backend: Backend) {
    run(async {
        // Ten minutes (`pending_run_minutes`), so the stewards' sessions outlive the wait.
        let app = TestApp::spawn_with(backend, |c| c.pending_run_ttl = std::time::Duration::from_secs(600)).await;
        init_two_of_three(&app);
        submit(&app, 60).await;
        let (res, alice, boris, admin) = staff(&app).await;
        ask(&app, &res, "").await;
        let first = waiting(&app, &res).await.0.remove(0);
        assert_eq!(give(&app, &alice, &first, "alice", ALICE).await.0, 303);
        assert_eq!(app.state.pending_runs.shares_held(), 1);
        // Not a second early: at nine minutes it still waits with alice's share.
        app.state.clock.advance(9 * 60);
        assert_eq!(waiting(&app, &res).await.0, std::slice::from_ref(&first));
        assert_eq!(app.state.pending_runs.shares_held(), 1);
        // Ten minutes after it was asked for, the run and alice's share are gone.
        app.state.clock.advance(60);
        let (_, page) = give(&app, &boris, &first, "boris", BORIS).await;
        assert!(page.contains("no such waiting release"), "{page}");
        assert_eq!(app.state.pending_runs.shares_held(), 0, "an expired share stayed in RAM");
        assert_eq!(audit(&app, &admin, "release_expired").await, 1);
        // A later run starts from nothing: boris's share alone does not run it.
        ask(&app, &res, "").await;
        let second = waiting(&app, &res).await.0.remove(0);
        assert_ne!(second, first);
        assert_eq!(give(&app, &boris, &second, "boris", BORIS).await.0, 303);
        assert!(releases(&app).is_empty(), "an expired share helped a later run");
        let (_, page) = waiting(&app, &res).await;
        assert!(page.contains("1 of 2 shares given"), "{page}");
        // A restart forgets waiting runs and their shares.
        let app = app.restart().await;
        assert_eq!(app.state.pending_runs.shares_held(), 0);
        let res = login(&app, "res1", RESEARCHER_PW).await.unwrap();
        assert!(waiting(&app, &res).await.0.is_empty());
        let alice = login(&app, "alice", STEWARD_PW).await.unwrap();
        let (_, page) = give(&app, &alice, &second, "alice", ALICE).await;
        assert!(page.contains("no such waiting release"), "{page}");
        assert!(releases(&app).is_empty());
    });
}

fn a_wrong_steward_passphrase_is_refused_and_counted(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        init_two_of_three(&app);
        let (res, alice, _, admin) = staff(&app).await;
        ask(&app, &res, "").await;
        let id = waiting(&app, &res).await.0.remove(0);
        // Another steward's passphrase under alice's name, or a stranger's, opens nothing.
        let (_, page) = give(&app, &alice, &id, "alice", BORIS).await;
        assert!(page.contains("passphrase is wrong"), "{page}");
        let (_, page) = give(&app, &alice, &id, "", "not a steward passphrase at all").await;
        assert!(page.contains("passphrase is wrong"), "{page}");
        assert_eq!(app.state.pending_runs.shares_held(), 0);
        assert_eq!(audit(&app, &admin, "passphrase_failed").await, 2);
        // Counted: past five, even the right one waits.
        for _ in 0..3 {
            give(&app, &alice, &id, "alice", "still not the steward passphrase").await;
        }
        let (_, page) = give(&app, &alice, &id, "alice", ALICE).await;
        assert!(page.contains("too many wrong passphrases"), "{page}");
        assert_eq!(app.state.pending_runs.shares_held(), 0);
        assert_eq!(audit(&app, &admin, "passphrase_throttled").await, 1);
        // A wrong passphrase given with a request leaves nothing waiting.
        let (_, _, before) = get_as(&app, "/staff/reports", &res.cookie).await;
        let (_, page) = ask(&app, &res, "not a steward passphrase at all").await;
        assert!(page.contains("passphrase is wrong"), "{page}");
        let (_, _, after) = get_as(&app, "/staff/reports", &res.cookie).await;
        assert_eq!(before.matches("Give my share").count(), after.matches("Give my share").count());
    });
}

fn one_of_one_custody_still_runs_at_once(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        submit(&app, 120).await;
        let (res, ..) = staff(&app).await;
        let (status, page) = ask(&app, &res, PASSPHRASE).await;
        assert_eq!(status, 303, "{page}");
        assert_eq!(releases(&app).len(), 1, "one steward of one runs the release with the request");
        assert_eq!(app.state.pending_runs.shares_held(), 0);
        let (_, _, page) = get_as(&app, "/staff", &res.cookie).await;
        assert!(page.contains("one steward alone"), "the dashboard warns about 1-of-1 custody: {page}");
    });
}

const DARIA: &str = "slapstick ovary geologist unpaved sprinkler tidings backdrop";

fn opens(app: &TestApp, passes: &[&str]) -> Result<(), KeyringError> {
    let passes: Vec<SecretString> = passes.iter().map(|p| SecretString::from(*p)).collect();
    Keyring::unseal_with(&mut app.conn(), &passes).map(drop)
}

fn plus(p: &str) -> String {
    p.replace(' ', "+")
}

fn the_keys_page_changes_stewards_only_with_k_passphrases(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        init_two_of_three(&app);
        let (res, _, boris, admin) = staff(&app).await;
        let (status, _, page) = get_as(&app, "/staff/keys", &admin.cookie).await;
        assert_eq!(status, 200);
        assert!(page.contains("takes 2 of 3 stewards") && page.contains(">chidi</th>"), "{page}");
        assert!(page.contains(r#"name="current_2""#), "a ceremony asks for k passphrases");
        // A researcher sees the stewards but runs no ceremony.
        let (_, _, page) = get_as(&app, "/staff/keys", &res.cookie).await;
        assert!(page.contains(">alice</th>") && !page.contains("/staff/keys/add"), "{page}");
        let add = |cur: &[&str]| {
            let mut body = format!(
                "csrf={}&name=daria&new_passphrase={}&new_passphrase_again={}",
                admin.csrf,
                plus(DARIA),
                plus(DARIA)
            );
            for (i, p) in cur.iter().enumerate() {
                body.push_str(&format!("&current_{}={}", i + 1, plus(p)));
            }
            body
        };
        let (_, page) = post_as(&app, "/staff/keys/add", &admin.cookie, &add(&[ALICE]), None).await;
        assert!(page.contains("needs 2 stewards"), "one steward adds no one: {page}");
        let (status, _) = post_as(&app, "/staff/keys/add", &res.cookie, &add(&[ALICE, BORIS]), None).await;
        assert_eq!(status, 403, "a researcher runs no ceremony");
        let (status, page) = post_as(&app, "/staff/keys/add", &admin.cookie, &add(&[ALICE, BORIS]), None).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("takes 2 of 4 stewards") && page.contains(">daria</th>"), "{page}");
        opens(&app, &[DARIA, CHIDI]).unwrap();
        // Removing chidi: chidi's passphrase opens nothing afterwards.
        let body = format!("csrf={}&name=chidi&current_1={}&current_2={}", admin.csrf, plus(DARIA), plus(ALICE));
        let (status, page) = post_as(&app, "/staff/keys/remove", &admin.cookie, &body, None).await;
        assert!(status == 200 && page.contains("takes 2 of 3 stewards"), "{page}");
        assert!(opens(&app, &[ALICE, CHIDI]).is_err());
        // A wrong passphrase at a ceremony is refused and counted.
        let body = format!("csrf={}&threshold=3&current_1={}&current_2={}", admin.csrf, plus(ALICE), plus(CHIDI));
        let (_, page) = post_as(&app, "/staff/keys/threshold", &admin.cookie, &body, None).await;
        assert!(page.contains("passphrase is wrong"), "{page}");
        assert_eq!(audit(&app, &admin, "passphrase_failed").await, 1);
        let body = format!("csrf={}&threshold=3&current_1={}&current_2={}", admin.csrf, plus(ALICE), plus(BORIS));
        let (_, page) = post_as(&app, "/staff/keys/threshold", &admin.cookie, &body, None).await;
        assert!(page.contains("takes 3 of 3 stewards"), "{page}");
        // A steward, signed in as a researcher, changes their own passphrase only.
        let new = "reunion giblet stagnate gallery unlisted facedown cattishly";
        let body = format!(
            "csrf={}&steward=boris&old_passphrase={}&new_passphrase={}&new_passphrase_again={}",
            boris.csrf,
            plus(BORIS),
            plus(new),
            plus(new)
        );
        let (_, page) = post_as(&app, "/staff/keys/passphrase", &boris.cookie, &body, None).await;
        assert!(page.contains("Done: steward boris"), "{page}");
        assert!(opens(&app, &[ALICE, BORIS, DARIA]).is_err());
        opens(&app, &[ALICE, new, DARIA]).unwrap();
        for (action, n) in
            [("steward_add", 1), ("steward_remove", 1), ("keys_reshare", 1), ("keys_change_passphrase", 1)]
        {
            assert_eq!(audit(&app, &admin, action).await, n, "{action}");
        }
        let (_, _, page) = get_as(&app, "/staff/keys", &admin.cookie).await;
        assert!(!page.contains(ALICE) && !page.contains(new), "no passphrase is ever shown back");
    });
}

fn setup_makes_k_of_n_stewards(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        let token = app.state.setup_token.lock().unwrap().as_ref().unwrap().expose_secret().to_owned();
        let (status, _, page) = app.get("/setup?stewards=3&threshold=2").await;
        assert_eq!(status, 200);
        assert!(page.contains("Steward 3 of 3") && page.contains(r#"name="passphrase_3""#), "{page}");
        let mut body = format!(
            "token={token}&name=ada&password=admin+password+long&password_again=admin+password+long&stewards=3&threshold=2"
        );
        for (i, (name, p)) in [("alice", ALICE), ("boris", BORIS), ("chidi", CHIDI)].iter().enumerate() {
            let suffix = if i == 0 { String::new() } else { format!("_{}", i + 1) };
            body.push_str(&format!(
                "&steward{suffix}={name}&passphrase{suffix}={}&passphrase_again{suffix}={}",
                plus(p),
                plus(p)
            ));
        }
        // Mismatched copies of one passphrase set nothing up.
        let wrong = body.replace(&format!("passphrase_again_3={}", plus(CHIDI)), "passphrase_again_3=x");
        assert_eq!(app.post_form("/setup", &wrong).await.0, 400);
        let (status, _, page) = app.post_form("/setup", &body).await;
        assert_eq!(status, 303, "{page}");
        let c = Keyring::custody(&mut app.conn()).unwrap().unwrap();
        assert_eq!((c.threshold, c.stewards.clone()), (2, vec!["alice".to_owned(), "boris".into(), "chidi".into()]));
        assert!(opens(&app, &[BORIS]).is_err());
        opens(&app, &[CHIDI, ALICE]).unwrap();
        // The dashboard says that two are needed, and warns of nothing.
        let admin = login(&app, "ada", "admin password long").await.unwrap();
        let (_, _, page) = get_as(&app, "/staff", &admin.cookie).await;
        assert!(page.contains("takes 2 of 3 stewards") && !page.contains("one steward alone"), "{page}");
        assert!(page.contains("Sealed answers and their destruction"), "{page}");
    });
}

/// A definition's retention_days applies at import, and never over an admin's later setting.
fn a_definition_sets_retention_unless_an_admin_did(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        let surveys = &app.state.intake.surveys;
        let text =
            chorus::survey::DEFAULT_SURVEY.replacen("slug = \"harms\"", "slug = \"wave2\"\nretention_days = 30", 1);
        assert!(text.contains("retention_days = 30"));
        let import = |text: &str| {
            let mut conn = app.conn();
            let p = chorus::survey::edit::propose(&mut conn, surveys, text.as_bytes()).unwrap();
            chorus::survey::edit::commit(&mut conn, surveys, &p).unwrap();
        };
        let days = || chorus::retention::status(&mut app.conn(), "wave2").unwrap().days;
        import(&text);
        assert_eq!(days(), 30);
        // A new version asking for 60 moves it: nobody changed the 30 since.
        import(&text.replace("retention_days = 30", "retention_days = 60"));
        assert_eq!(days(), 60);
        // An admin sets 10; a later version asking for 90 leaves the admin's 10.
        chorus::retention::set_days(&mut app.conn(), "wave2", 10).unwrap();
        import(&text.replace("retention_days = 30", "retention_days = 90"));
        assert_eq!(days(), 10);
        let bad = text.replace("retention_days = 30", "retention_days = 0");
        assert!(chorus::survey::edit::propose(&mut app.conn(), surveys, bad.as_bytes()).is_err());
    });
}
