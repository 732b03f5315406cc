//! One integration test binary. Every test starts the real application on port 0 with a fresh
//! database: a new SQLite file always, and a new PostgreSQL database when CHORUS_TEST_POSTGRES_URL is
//! set. It uses libtest-mimic so that the PostgreSQL runs can be marked skipped at run time.

/// A module's list of tests, each named once: `tests! { both: [a, b], once: [c], postgres_only: [d] }`
/// becomes `pub const TESTS: &[Test]`, every entry named by `stringify!` of its function. The groups
/// may come in any order, be repeated or left out; the order written is the order listed.
macro_rules! tests {
    ($($kind:ident: [$($test:ident),* $(,)?]),* $(,)?) => {
        pub const TESTS: &[crate::Test] = &[$($(tests!(@one $kind $test),)*)*];
    };
    (@one both $test:ident) => {
        crate::Test::Both(stringify!($test), $test)
    };
    (@one once $test:ident) => {
        crate::Test::Once(stringify!($test), $test)
    };
    (@one postgres_only $test:ident) => {
        crate::Test::PostgresOnly(stringify!($test), $test)
    };
    (@one $kind:ident $test:ident) => {
        compile_error!(concat!("unknown kind of test `", stringify!($kind), "`: use both, once or postgres_only"))
    };
}

mod helpers;

mod attacks;
mod backups;
mod cli;
mod custody;
mod defences;
mod doors;
mod durability;
mod forensics;
mod foundation;
mod metrics;
mod outreach;
mod privacy;
mod reports;
mod respondent;
mod retention;
mod schema;
mod sealing;
mod staff;
mod stewards;
mod surveys;
mod verification;
mod withdrawal;

use helpers::Backend;
use libtest_mimic::{Arguments, Trial};

/// A test body, run once per backend (or once only, for checks that do not touch a database). Each
/// module lists its own with `tests!`, which names every entry after its function.
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
        .chain(custody::TESTS)
        .chain(backups::TESTS)
        .chain(retention::TESTS)
        .chain(respondent::TESTS)
        .chain(outreach::TESTS)
        .chain(staff::TESTS)
        .chain(reports::TESTS)
        .chain(defences::TESTS)
        .chain(doors::TESTS)
        .chain(durability::TESTS)
        .chain(metrics::TESTS)
        .chain(privacy::TESTS)
        .chain(cli::TESTS)
        .chain(surveys::TESTS)
        .chain(schema::TESTS)
        .chain(attacks::TESTS)
        .chain(verification::TESTS)
        .chain(forensics::TESTS)
        .chain(withdrawal::TESTS)
        .chain(stewards::TESTS);
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
