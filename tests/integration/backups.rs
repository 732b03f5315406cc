//! Encrypted backups (issue 18, item 5): made while the server runs, encrypted with age to X25519
//! recipients, restored into an empty folder or database elsewhere, where the answers open with the
//! stewards and with no fewer; expired backups are pruned. Both backends, and the console.

use chorus::{
    backup,
    config::{DatabaseUrl, SqliteSync},
    keyring::Keyring,
    month::Month,
    store::Store,
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    custody::{ALICE, BORIS, CHIDI, init_two_of_three},
    helpers::{Backend, PgDatabase, TestApp, cli, files_under, run},
};

tests! {
    both: [a_backup_restored_elsewhere_opens_with_the_stewards],
    once: [backups_from_the_console_and_pruning],
}

fn a_backup_restored_elsewhere_opens_with_the_stewards(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        init_two_of_three(&app);
        let canary = format!("canary-{}", chorus::seal::random_id());
        app.open_notes_survey();
        for _ in 0..3 {
            let body = format!(r#"{{"answers":{{"age":"25_34","notes":"{canary}"}}}}"#);
            assert_eq!(app.post_json("/api/v1/surveys/1e05d277/responses", &body).await.0, 201);
        }
        let id = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let out = app.dir.path().join("backup.age");
        let header = backup::create(
            app.store(),
            &mut app.conn(),
            &app.config,
            &[other.to_public(), id.to_public()],
            "2026-11-30T000000Z",
            "2099-01-01",
            &out,
        )
        .unwrap();
        assert_eq!(header.expires, "2099-01-01");
        let file = std::fs::read(&out).unwrap();
        assert!(file.starts_with(b"age-encryption.org/v1\n"), "the age file format");
        assert!(
            !contains(&file, canary.as_bytes()) && !contains(&file, b"SQLite format 3") && !contains(&file, b"PGDMP")
        );
        // No plaintext copy is left in the data folder.
        assert!(
            !std::fs::read_dir(&app.config.data_dir)
                .unwrap()
                .any(|e| { e.unwrap().file_name().to_string_lossy().starts_with(".backup-") })
        );

        // Elsewhere: a fresh folder or database.
        let elsewhere = tempfile::tempdir().unwrap();
        let pg = (backend == Backend::Postgres).then(PgDatabase::create);
        let target = match &pg {
            Some(pg) => DatabaseUrl::new(pg.url.clone()),
            None => DatabaseUrl::new(format!("sqlite://{}", elsewhere.path().join("chorus.db").display())),
        };
        let id_file = elsewhere.path().join("identity.txt");
        std::fs::write(&id_file, format!("{}\n", id.to_string().expose_secret())).unwrap();
        let wrong_file = elsewhere.path().join("wrong.txt");
        std::fs::write(&wrong_file, format!("{}\n", age::x25519::Identity::generate().to_string().expose_secret()))
            .unwrap();
        assert!(backup::open(&out, &wrong_file).is_err(), "only a recipient opens it");
        let (h, body) = backup::open(&out, &id_file).unwrap();
        assert_eq!(h, header);
        backup::restore(&target, &h, &body).unwrap();
        assert!(backup::restore(&target, &h, &body).is_err(), "never over a database that is not empty");

        let store = Store::open(&target, SqliteSync::Full).unwrap();
        store.migrate().unwrap();
        let mut conn = store.conn().unwrap();
        let count = |passes: &[&str], conn: &mut chorus::store::DbConn| -> Result<u64, chorus::keyring::KeyringError> {
            let passes: Vec<SecretString> = passes.iter().map(|p| SecretString::from(*p)).collect();
            let mut unsealed = Keyring::unseal_with(conn, &passes)?;
            let mut with_canary = 0;
            unsealed.for_each_answer(conn, "notes", Month::now(), &[], |a| {
                with_canary += u64::from(contains(a.plaintext.payload(), canary.as_bytes()));
                Ok(())
            })?;
            Ok(with_canary)
        };
        assert_eq!(count(&[CHIDI, ALICE], &mut conn).unwrap(), 3, "the restored answers open with two stewards");
        assert!(count(&[BORIS], &mut conn).is_err(), "and not with one");
        if backend == Backend::Sqlite {
            assert!(!contains(&files_under(elsewhere.path()), canary.as_bytes()), "still sealed at rest");
        }
    });
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn backups_from_the_console_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let chorus = |cwd: &std::path::Path, args: &[&str]| {
        let out = cli::chorus(cwd)
            .args(args)
            .env("CHORUS_KDF_MEMORY_MIB", "64")
            .env("CHORUS_KDF_ITERATIONS", "3")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &err)
    };
    std::fs::write(d.join("a"), format!("{ALICE}\n")).unwrap();
    std::fs::write(d.join("b"), format!("{BORIS}\n")).unwrap();
    let pf = "--passphrase-file";
    let (ok, out) = chorus(d, &["keys", "init", "--stewards", "2", "--threshold", "2", pf, "a", pf, "b"]);
    assert!(ok, "{out}");
    assert!(chorus(d, &["survey", "testing", "harms"]).0);
    assert!(chorus(d, &["dev", "seed", "harms", "--count", "30"]).0);
    let id = age::x25519::Identity::generate();
    std::fs::write(d.join("id.txt"), format!("{}\n", id.to_string().expose_secret())).unwrap();
    let recipient = id.to_public().to_string();
    let backups = d.join("backups");
    std::fs::create_dir(&backups).unwrap();
    let (ok, out) = chorus(d, &["backup", "--out", "backups"]);
    assert!(!ok && out.contains("recipient"), "{out}");
    let (ok, out) = chorus(d, &["backup", "--out", "backups", "--recipient", &recipient, "--keep-days", "30"]);
    assert!(ok && out.contains("Keep it off this server"), "{out}");
    let (ok, out) = chorus(d, &["backup", "--out", "backups", "--recipient", &recipient, "--expires", "2020-01-01"]);
    assert!(ok, "{out}");
    std::fs::write(backups.join("undated.age"), b"x").unwrap();
    let names = || {
        let mut v: Vec<String> = std::fs::read_dir(&backups)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names().len(), 3, "{:?}", names());
    let (ok, out) = chorus(d, &["backup", "prune", "backups"]);
    assert!(ok && out.contains("1 expired backups deleted") && out.contains("skipped"), "{out}");
    let left = names();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|n| !n.contains("expires-2020-01-01")));
    // Restored in another folder: the answers open with both stewards.
    let kept = left.iter().find(|n| n.starts_with("chorus-backup-")).unwrap();
    let other = tempfile::tempdir().unwrap();
    let file = backups.join(kept);
    let (ok, out) =
        chorus(other.path(), &["restore", file.to_str().unwrap(), "--identity", d.join("id.txt").to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) =
        chorus(other.path(), &["restore", file.to_str().unwrap(), "--identity", d.join("id.txt").to_str().unwrap()]);
    assert!(!ok && out.contains("not empty"), "{out}");
    let (a, b) = (d.join("a"), d.join("b"));
    let (ok, out) =
        chorus(other.path(), &["dev", "open-all", "harms", pf, a.to_str().unwrap(), pf, b.to_str().unwrap()]);
    assert!(ok && out.contains("opened 30 answers"), "{out}");
}
