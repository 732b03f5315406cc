//! The command line as an operator uses it, on a fresh SQLite folder: first-run init, staff accounts,
//! survey import / close / open / export, and that export never carries answers.

use crate::helpers::cli;

tests! {
    once: [
        init_then_user_commands,
        survey_import_close_open_export,
        report_budget_and_show_from_the_console,
    ],
}

struct Folder(tempfile::TempDir);

impl Folder {
    fn new() -> Self {
        let f = Self(tempfile::tempdir().unwrap());
        std::fs::write(f.0.path().join("pw"), "a long admin password\n").unwrap();
        std::fs::write(f.0.path().join("pp"), "gravy quarrel unclaimed bunkbed tamper ferocious spotless\n").unwrap();
        f
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = cli::chorus(self.0.path())
            .args(args)
            .env("CHORUS_KDF_MEMORY_MIB", "64")
            .env("CHORUS_KDF_ITERATIONS", "3")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn init_then_user_commands() {
    let f = Folder::new();
    let (ok, out, err) = f.run(&["init", "--admin", "ada", "--password-file", "pw", "--passphrase-file", "pp"]);
    assert!(ok, "{err}");
    assert!(out.contains("Admin ada"));
    let (ok, _, err) = f.run(&["init", "--admin", "bob", "--password-file", "pw", "--passphrase-file", "pp"]);
    assert!(!ok && err.contains("already set up"), "init refuses to run twice: {err}");
    let (ok, _, err) = f.run(&["user", "add", "rita", "--role", "researcher", "--password-file", "pw"]);
    assert!(ok, "{err}");
    std::fs::write(f.0.path().join("short"), "short\n").unwrap();
    let (ok, _, err) = f.run(&["user", "add", "sam", "--role", "researcher", "--password-file", "short"]);
    assert!(!ok && err.contains("12 characters"), "{err}");
    let (ok, _, _) = f.run(&["user", "disable", "rita"]);
    assert!(ok);
    let (ok, _, _) = f.run(&["user", "reset-password", "ada", "--password-file", "pw"]);
    assert!(ok);
    let (_, list, _) = f.run(&["user", "list"]);
    assert!(list.contains("ada\tadmin\tactive") && list.contains("rita\tresearcher\tdisabled"), "{list}");
    // The report key exists and answers can be sealed: `survey list` shows the bundled survey open.
    let (_, surveys, _) = f.run(&["survey", "list"]);
    assert!(surveys.contains("harms\t2\topen\t0"), "{surveys}");
}

fn survey_import_close_open_export() {
    let f = Folder::new();
    let (ok, _, err) = f.run(&["keys", "init", "--passphrase-file", "pp"]);
    assert!(ok, "{err}");
    // A broken definition is refused with the question and field named.
    let broken = chorus::survey::DEFAULT_SURVEY.replacen("type = \"scale\"", "type = \"slider\"", 1);
    std::fs::write(f.0.path().join("broken.toml"), broken).unwrap();
    let (ok, _, err) = f.run(&["survey", "import", "broken.toml"]);
    assert!(!ok && err.contains("type") && err.contains("slider"), "{err}");
    // A changed definition is shown first and becomes version 2 only with --yes, whatever its file says.
    let first = chorus::survey::Survey::parse(chorus::survey::DEFAULT_SURVEY).unwrap();
    let old_label = first.own_text("en", &format!("q.{}", first.questions[0].id)).unwrap().to_owned();
    let changed =
        chorus::survey::DEFAULT_SURVEY.replacen(&format!("label = \"{old_label}\""), "label = \"Reworded\"", 1);
    std::fs::write(f.0.path().join("v2.toml"), &changed).unwrap();
    let (ok, out, err) = f.run(&["survey", "import", "v2.toml"]);
    assert!(!ok && out.contains("relabelled") && err.contains("--yes"), "{out}{err}");
    let (ok, out, err) = f.run(&["survey", "import", "v2.toml", "--yes"]);
    assert!(ok && out.contains("NewVersion"), "{out}{err}");
    let (ok, _, _) = f.run(&["survey", "close", "harms"]);
    assert!(ok);
    let (_, list, _) = f.run(&["survey", "list"]);
    assert!(list.contains("harms\t3\tclosed\t0"), "{list}");
    let (ok, _, _) = f.run(&["survey", "open", "harms"]);
    assert!(ok);
    let (ok, exported, _) = f.run(&["survey", "export", "harms"]);
    assert!(ok);
    let exported = chorus::survey::Survey::parse(&exported).unwrap();
    assert_eq!(exported.version, 3);
    assert_eq!(exported.own_text("en", &format!("q.{}", first.questions[0].id)), Some("Reworded"));
    // XLSForm out and back in: the same definition, nothing to confirm.
    let (ok, _, err) = f.run(&["survey", "export", "harms", "--format", "xlsform", "--out", "harms.xlsx"]);
    assert!(ok, "{err}");
    let (ok, out, err) = f.run(&["survey", "import", "harms.xlsx"]);
    assert!(ok && out.contains("Unchanged"), "{out}{err}");
    // A new survey from the example XLSForm starts as a draft.
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/example.xlsx"), f.0.path().join("ex.xlsx")).unwrap();
    let (ok, out, err) = f.run(&["survey", "import", "ex.xlsx"]);
    assert!(ok && out.contains("draft"), "{out}{err}");
    // Seeding a draft works; opening it purges the synthetic answers; purge-test does the same by hand.
    assert!(f.run(&["dev", "seed", "night-shift", "--count", "5"]).0);
    let (_, list, _) = f.run(&["survey", "list"]);
    assert!(list.contains("night-shift\t1\tdraft\t5"), "{list}");
    let (ok, out, _) = f.run(&["survey", "purge-test", "night-shift"]);
    assert!(ok && out.contains("Removed 5"), "{out}");
    assert!(f.run(&["dev", "seed", "night-shift", "--count", "3"]).0);
    assert!(f.run(&["survey", "open", "night-shift"]).0);
    let (_, list, _) = f.run(&["survey", "list"]);
    assert!(list.contains("night-shift\t1\topen\t0"), "{list}");
    let (ok, _, err) = f.run(&["survey", "close", "nope"]);
    assert!(!ok && err.contains("no survey"));
}

fn report_budget_and_show_from_the_console() {
    let f = Folder::new();
    assert!(f.run(&["keys", "init", "--passphrase-file", "pp"]).0);
    // An open survey takes no synthetic answers until it is marked for testing.
    let (ok, _, err) = f.run(&["dev", "seed", "harms", "--count", "120"]);
    assert!(!ok && err.contains("not marked for testing"), "{err}");
    assert!(f.run(&["survey", "testing", "harms"]).0);
    assert!(f.run(&["dev", "seed", "harms", "--count", "120"]).0);
    let (ok, out, _) = f.run(&["budget", "harms"]);
    assert!(ok && out.contains("total rho 1.000, spent 0.000, remaining 1.000"), "{out}");
    let month = chorus::month::Month::now().to_string();
    let args = ["report", "harms", "--through", &month, "--rho", "0.4", "--tables", "age", "--passphrase-file", "pp"];
    let (ok, json, err) = f.run(&args);
    assert!(ok, "{err}");
    assert!(err.contains("remaining 1.000; this release asks for 0.400"), "the budget is shown first: {err}");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let id = doc["snapshot"]["id"].as_str().unwrap().to_owned();
    // Printed again: the same numbers, nothing more spent.
    let (ok, again, err) = f.run(&["report", "show", &id, "--format", "json"]);
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&again).unwrap(), doc);
    let (_, csv, _) = f.run(&["report", "show", &id, "--format", "csv"]);
    assert!(csv.contains("\ntable,title,row,row_label,column,column_label,count,fewer_than,noise_sd"), "{csv}");
    let (_, out, _) = f.run(&["budget", "harms"]);
    assert!(out.contains("spent 0.400"), "{out}");
    // Over budget: refused, naming the numbers.
    let args = ["report", "harms", "--through", &month, "--rho", "0.7", "--tables", "age", "--passphrase-file", "pp"];
    let (ok, _, err) = f.run(&args);
    assert!(!ok && err.contains("cannot carry") && err.contains("remaining 0.600"), "{err}");
    // An admin's console sets a larger total; never below what is spent.
    assert!(f.run(&["budget", "harms", "--set", "2"]).1.contains("total rho 2.000"));
    let (ok, _, err) = f.run(&["budget", "harms", "--set", "0.1"]);
    assert!(!ok && err.contains("already spent"), "{err}");
}
