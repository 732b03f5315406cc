//! One integration test binary. Every test starts the real application on port 0 with a fresh
//! database: a new SQLite file always, and a new PostgreSQL database when CHORUS_TEST_POSTGRES_URL is
//! set. It uses libtest-mimic so that the PostgreSQL runs can be marked skipped at run time.

mod helpers;

mod cli;
mod defences;
mod durability;
mod foundation;
mod privacy;
mod reports;
mod respondent;
mod sealing;
mod staff;

use helpers::Backend;
use libtest_mimic::{Arguments, Trial};

/// A test body, run once per backend (or once only, for checks that do not touch a database).
pub enum Test {
    Both(&'static str, fn(Backend)),
    Once(&'static str, fn()),
    /// Only meaningful on PostgreSQL (e.g. a database server that goes away).
    PostgresOnly(&'static str, fn()),
}

fn main() {
    let args = Arguments::from_args();
    helpers::capture_logs();
    let postgres = std::env::var("CHORUS_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    if postgres.is_none() {
        println!(
            "NOTE: CHORUS_TEST_POSTGRES_URL is not set, so every postgres:: test is SKIPPED (listed as ignored).\n\
             Set it, e.g. CHORUS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres, to run them."
        );
    }
    let tests = foundation::TESTS
        .iter()
        .chain(sealing::TESTS)
        .chain(respondent::TESTS)
        .chain(staff::TESTS)
        .chain(reports::TESTS)
        .chain(defences::TESTS)
        .chain(durability::TESTS)
        .chain(privacy::TESTS)
        .chain(cli::TESTS);
    let mut trials = Vec::new();
    for test in tests {
        match test {
            Test::Both(name, f) => {
                let f = *f;
                trials.push(Trial::test(format!("sqlite::{name}"), move || {
                    f(Backend::Sqlite);
                    Ok(())
                }));
                trials.push(
                    Trial::test(format!("postgres::{name}"), move || {
                        f(Backend::Postgres);
                        Ok(())
                    })
                    .with_ignored_flag(postgres.is_none()),
                );
            }
            Test::PostgresOnly(name, f) => {
                let f = *f;
                trials.push(
                    Trial::test(format!("postgres::{name}"), move || {
                        f();
                        Ok(())
                    })
                    .with_ignored_flag(postgres.is_none()),
                );
            }
            Test::Once(name, f) => {
                let f = *f;
                trials.push(Trial::test(format!("once::{name}"), move || {
                    f();
                    Ok(())
                }));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
