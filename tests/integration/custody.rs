//! k-of-n custody (issue 18): the report keys open with any k stewards' passphrases and with no
//! fewer; a removed steward's passphrase opens nothing; one steward changes only their own share;
//! installations from before custody keep working and convert. Both backends, and the console.

use chorus::{
    keyring::{Keyring, KeyringError, NewSteward, Reshare},
    month::Month,
    report::ReportError,
    seal::SealError,
};
use secrecy::SecretString;

use crate::helpers::{Backend, PASSPHRASE, TestApp, cli, run};

tests! {
    both: [
        two_of_three_opens_with_any_two_and_not_with_one,
        a_removed_steward_opens_nothing_and_an_added_one_does,
        one_steward_changes_only_their_own_passphrase,
        single_passphrase_installations_keep_working_and_convert,
        no_secret_of_custody_reaches_the_database,
    ],
    once: [custody_from_the_console],
}

pub const ALICE: &str = "gravy quarrel unclaimed bunkbed tamper ferocious spotless";
pub const BORIS: &str = "molecule dingy outsider crayfish tightness plywood evacuee";
pub const CHIDI: &str = "unsworn pavilion deflation reissue outmatch quiver hamstring";
const DARIA: &str = "slapstick ovary geologist unpaved sprinkler tidings backdrop";

fn s(p: &str) -> SecretString {
    SecretString::from(p)
}

fn steward(name: &str, p: &str) -> NewSteward {
    NewSteward { name: name.to_owned(), passphrase: s(p) }
}

/// Three stewards, two to open.
pub fn init_two_of_three(app: &TestApp) {
    let stewards = [steward("alice", ALICE), steward("boris", BORIS), steward("chidi", CHIDI)];
    app.state.intake.keyring.init_custody(&mut app.conn(), &stewards, 2).expect("2-of-3 init");
}

/// How many answers of the bundled survey open with these passphrases.
fn opened(app: &TestApp, passes: &[&str]) -> Result<usize, KeyringError> {
    let mut conn = app.conn();
    let passes: Vec<SecretString> = passes.iter().map(|p| s(p)).collect();
    let mut unsealed = Keyring::unseal_with(&mut conn, &passes)?;
    let n = unsealed.for_each_answer(&mut conn, "harms", Month::now(), &[], |_| Ok(()))?;
    Ok(n.opened as usize)
}

async fn answer(app: &TestApp) {
    let (status, _) = app.post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"25_34"}}"#).await;
    assert_eq!(status, 201);
}

fn two_of_three_opens_with_any_two_and_not_with_one(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        init_two_of_three(&app);
        answer(&app).await;
        answer(&app).await;
        for pair in [[ALICE, BORIS], [BORIS, ALICE], [ALICE, CHIDI], [CHIDI, BORIS]] {
            assert_eq!(opened(&app, &pair).unwrap(), 2, "{pair:?} open");
        }
        for one in [ALICE, BORIS, CHIDI] {
            let e = opened(&app, &[one]).unwrap_err();
            assert!(matches!(e, KeyringError::NeedStewards { threshold: 2, given: 1 }), "{e}");
        }
        // The same steward twice is not two stewards; a stranger is a wrong passphrase.
        let e = opened(&app, &[ALICE, ALICE]).unwrap_err();
        assert!(matches!(e, KeyringError::Seal(SealError::WrongPassphrase)), "{e}");
        let e = opened(&app, &[ALICE, DARIA]).unwrap_err();
        assert!(matches!(e, KeyringError::Seal(SealError::WrongPassphrase)), "{e}");
        // The one-passphrase entry points say that two are needed.
        assert!(matches!(Keyring::unseal(&mut app.conn(), &s(ALICE)), Err(KeyringError::NeedStewards { .. })));
        // A release run takes two stewards too.
        let month = Month::now().to_string();
        let spec = chorus::report::SnapshotSpec::new("harms", month);
        let surveys = &app.state.intake.surveys;
        let Err(one) = chorus::report::run_snapshot(&mut app.conn(), surveys, &s(ALICE), &spec, "t", 0) else {
            panic!("one steward ran a release")
        };
        assert!(matches!(one, ReportError::Keyring(KeyringError::NeedStewards { .. })), "{one}");
        let passes = [s(BORIS), s(CHIDI)];
        // Two answers are too few to release, which the run says only after the keys opened.
        let Err(two) = chorus::report::run_snapshot_with(&mut app.conn(), surveys, &passes, &spec, "t", 0) else {
            panic!("two answers were released")
        };
        assert!(matches!(two, ReportError::TooFew { .. }), "two stewards open the keys: {two}");
        // Rotation needs two as well, and old answers stay readable.
        let keyring = &app.state.intake.keyring;
        assert!(keyring.rotate(&mut app.conn(), &s(ALICE)).is_err());
        keyring.rotate_with(&mut app.conn(), &[s(ALICE), s(CHIDI)]).unwrap();
        answer(&app).await;
        assert_eq!(opened(&app, &[BORIS, CHIDI]).unwrap(), 3);
        let c = Keyring::custody(&mut app.conn()).unwrap().unwrap();
        assert_eq!((c.threshold, c.stewards.len(), c.legacy), (2, 3, false));
    });
}

fn a_removed_steward_opens_nothing_and_an_added_one_does(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        init_two_of_three(&app);
        answer(&app).await;
        let keyring = &app.state.intake.keyring;
        // Keep a copy of chidi's row as it was: a removed steward who kept their sealed share.
        let before = chorus::store::keys::stewards(&mut app.conn()).unwrap();
        let remove = Reshare { remove: vec!["chidi".into()], ..Reshare::default() };
        // One steward is not enough to change the sharing.
        assert!(keyring.reshare(&mut app.conn(), &[s(ALICE)], &remove).is_err());
        let c = keyring.reshare(&mut app.conn(), &[s(CHIDI), s(ALICE)], &remove).unwrap();
        assert_eq!(c.stewards, ["alice", "boris"]);
        assert_eq!(opened(&app, &[ALICE, BORIS]).unwrap(), 1);
        for pair in [[ALICE, CHIDI], [CHIDI, BORIS]] {
            assert!(opened(&app, &pair).is_err(), "a removed steward's passphrase opens nothing");
        }
        // Even with the old row put back, the old share belongs to a sharing that no longer exists.
        let old_chidi = before.iter().find(|r| r.name == "chidi").unwrap().clone();
        app.with_conn(|c| {
            use diesel::RunQueryDsl;
            diesel::insert_into(chorus::store::schema::stewards::table).values(&old_chidi).execute(c).unwrap();
        });
        assert!(opened(&app, &[ALICE, CHIDI]).is_err(), "an old share does not combine with a new one");
        app.with_conn(|c| {
            use chorus::store::schema::stewards::dsl;
            use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
            diesel::delete(dsl::stewards.filter(dsl::name.eq("chidi"))).execute(c).unwrap();
        });
        // A new steward, and a new threshold; too high a threshold is refused.
        let too_high = Reshare { threshold: Some(4), add: vec![steward("daria", DARIA)], ..Reshare::default() };
        assert!(keyring.reshare(&mut app.conn(), &[s(ALICE), s(BORIS)], &too_high).is_err());
        let add = Reshare { add: vec![steward("daria", DARIA)], ..Reshare::default() };
        keyring.reshare(&mut app.conn(), &[s(ALICE), s(BORIS)], &add).unwrap();
        assert_eq!(opened(&app, &[DARIA, BORIS]).unwrap(), 1);
        let dup = Reshare { add: vec![steward("alice", CHIDI)], ..Reshare::default() };
        assert!(keyring.reshare(&mut app.conn(), &[s(ALICE), s(BORIS)], &dup).is_err(), "names are distinct");
        let three = Reshare { threshold: Some(3), ..Reshare::default() };
        keyring.reshare(&mut app.conn(), &[s(DARIA), s(ALICE)], &three).unwrap();
        assert!(opened(&app, &[DARIA, ALICE]).is_err());
        assert_eq!(opened(&app, &[DARIA, ALICE, BORIS]).unwrap(), 1);
    });
}

fn one_steward_changes_only_their_own_passphrase(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        init_two_of_three(&app);
        answer(&app).await;
        let keyring = &app.state.intake.keyring;
        let new = "reunion giblet stagnate gallery unlisted facedown cattishly";
        assert!(keyring.change_steward_passphrase(&mut app.conn(), Some("boris"), &s(ALICE), &s(new)).is_err());
        assert!(keyring.change_steward_passphrase(&mut app.conn(), None, &s(BORIS), &s("too weak")).is_err());
        let name = keyring.change_steward_passphrase(&mut app.conn(), None, &s(BORIS), &s(new)).unwrap();
        assert_eq!(name, "boris");
        assert!(opened(&app, &[ALICE, BORIS]).is_err());
        assert_eq!(opened(&app, &[ALICE, new]).unwrap(), 1);
        assert_eq!(opened(&app, &[CHIDI, ALICE]).unwrap(), 1, "the others are untouched");
    });
}

fn single_passphrase_installations_keep_working_and_convert(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        // `chorus init` and the setup page: one steward, 1-of-1 custody.
        app.init_keys();
        answer(&app).await;
        assert_eq!(opened(&app, &[PASSPHRASE]).unwrap(), 1);
        let c = Keyring::custody(&mut app.conn()).unwrap().unwrap();
        assert_eq!((c.threshold, c.stewards.as_slice()), (1, ["steward-1".to_owned()].as_slice()));
        // An installation from before custody: its key sealed directly under the passphrase.
        let legacy = TestApp::spawn(backend).await;
        make_legacy_key(&legacy, PASSPHRASE);
        answer(&legacy).await;
        assert_eq!(opened(&legacy, &[PASSPHRASE]).unwrap(), 1);
        assert!(Keyring::custody(&mut legacy.conn()).unwrap().unwrap().legacy);
        // It converts: the one passphrase holder becomes steward-1, and a second steward joins at 2-of-2.
        let change = Reshare { threshold: Some(2), add: vec![steward("boris", BORIS)], ..Reshare::default() };
        let c = legacy.state.intake.keyring.reshare(&mut legacy.conn(), &[s(PASSPHRASE)], &change).unwrap();
        assert_eq!((c.threshold, c.stewards.len(), c.legacy), (2, 2, false));
        assert!(opened(&legacy, &[PASSPHRASE]).is_err());
        assert_eq!(opened(&legacy, &[BORIS, PASSPHRASE]).unwrap(), 1);
        answer(&legacy).await;
        assert_eq!(opened(&legacy, &[PASSPHRASE, BORIS]).unwrap(), 2);
    });
}

/// A report key as `Keyring::init` made it before custody: sealed under the passphrase itself.
fn make_legacy_key(app: &TestApp, passphrase: &str) {
    let kp = chorus::seal::ReportKeypair::generate();
    let id = chorus::seal::random_id();
    let sealed = kp.seal(&id, &s(passphrase), &chorus::seal::KdfParams::new(chorus::seal::KdfCost::TESTING)).unwrap();
    let row = chorus::store::keys::ReportKeyRow {
        id,
        public_key: kp.public.to_vec(),
        sealed_private_key: sealed.blob,
        kdf: sealed.kdf,
        created_month: Month::now().to_string(),
        ordinal: 1,
        active: true,
    };
    chorus::store::keys::insert_report_key(&mut app.conn(), &row).unwrap();
}

fn no_secret_of_custody_reaches_the_database(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        init_two_of_three(&app);
        answer(&app).await;
        let unsealed = Keyring::unseal_with(&mut app.conn(), &[s(ALICE), s(BORIS)]).unwrap();
        let mut secrets = unsealed.secrets_for_leak_tests();
        secrets.push(Keyring::unseal_key_for_leak_tests(&mut app.conn(), &[s(ALICE), s(BORIS)]).unwrap());
        assert_eq!(secrets.len(), 2, "the report key and the unseal key");
        let bytes = app.database_bytes();
        for secret in secrets {
            assert!(!contains(&bytes, &secret), "a secret of custody is stored unwrapped");
            assert!(!contains(&bytes, hex::encode(secret).as_bytes()), "a secret of custody is stored in hex");
        }
    });
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn custody_from_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (f, p) in [("a", ALICE), ("b", BORIS), ("c", CHIDI), ("d", DARIA)] {
        std::fs::write(d.join(f), format!("{p}\n")).unwrap();
    }
    let chorus = |args: &[&str]| {
        let out = cli::chorus(d)
            .args(args)
            .env("CHORUS_KDF_MEMORY_MIB", "64")
            .env("CHORUS_KDF_ITERATIONS", "3")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &err)
    };
    let pf = "--passphrase-file";
    let (ok, out) = chorus(&[
        "keys",
        "init",
        "--stewards",
        "3",
        "--threshold",
        "2",
        "--names",
        "alice,boris,chidi",
        pf,
        "a",
        pf,
        "b",
    ]);
    assert!(!ok && out.contains("needs 3"), "{out}");
    let (ok, out) = chorus(&[
        "keys",
        "init",
        "--stewards",
        "3",
        "--threshold",
        "2",
        "--names",
        "alice,boris,chidi",
        pf,
        "a",
        pf,
        "b",
        pf,
        "c",
    ]);
    assert!(ok && out.contains("2 of them"), "{out}");
    // Seeding writes only into drafts or surveys marked for testing.
    assert!(chorus(&["survey", "testing", "harms"]).0);
    assert!(chorus(&["dev", "seed", "harms", "--count", "60"]).0);
    let month = Month::now().to_string();
    let report = |files: &[&str]| {
        let mut args = vec!["report", "harms", "--through", &month, "--rho", "0.1", "--tables", "age"];
        for f in files {
            args.extend([pf, f]);
        }
        chorus(&args)
    };
    let (ok, out) = report(&["a"]);
    assert!(!ok && out.contains("needs 2 stewards"), "{out}");
    let (ok, out) = report(&["c", "a"]);
    assert!(ok, "{out}");
    assert!(chorus(&["dev", "open-all", "harms", pf, "b", pf, "c"]).1.contains("opened 60 answers"));
    let (ok, out) = chorus(&["keys", "remove-steward", "chidi", pf, "a", pf, "b"]);
    assert!(ok && out.contains("2 of 2 stewards"), "{out}");
    assert!(!chorus(&["dev", "open-all", "harms", pf, "a", pf, "c"]).0, "chidi's passphrase opens nothing");
    let (ok, out) = chorus(&["keys", "add-steward", "daria", "--new-passphrase-file", "d", pf, "a", pf, "b"]);
    assert!(ok && out.contains("2 of 3 stewards"), "{out}");
    std::fs::write(d.join("new"), "reunion giblet stagnate gallery unlisted facedown cattishly\n").unwrap();
    let (ok, out) = chorus(&["keys", "change-passphrase", pf, "d", "--new-passphrase-file", "new"]);
    assert!(ok && out.contains("daria"), "{out}");
    assert!(chorus(&["dev", "open-all", "harms", pf, "new", pf, "a"]).0);
    let (ok, out) = chorus(&["keys", "reshare", "--threshold", "1", pf, "new", pf, "b"]);
    assert!(ok && out.contains("warning: one steward alone"), "{out}");
    let (ok, out) = chorus(&["keys", "stewards"]);
    assert!(ok && out.contains("1 of 3 stewards") && out.contains("daria"), "{out}");
    assert!(chorus(&["dev", "open-all", "harms", pf, "b"]).0);
}
