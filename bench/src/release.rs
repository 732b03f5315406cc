//! `--report`: a release of the whole catalogue (key derivation at the floor setting and the privacy
//! mechanism included, as `chorus report` runs it) over 10,000 and N synthetic responses, on SQLite
//! and, when a server answers, PostgreSQL: wall time and the command's own peak resident memory.

use super::{PASSPHRASE, PgDb, timed, timed_phases};

/// Every breakdown of the default survey (month included): crossed with every question, they ask for
/// the whole catalogue.
fn every_breakdown(month: &str) -> String {
    let survey = chorus::survey::Survey::parse(chorus::survey::DEFAULT_SURVEY).expect("the default survey");
    let catalogue = chorus::report::catalogue::Catalogue::new(&survey, &[month.to_owned()]);
    catalogue.dimensions.iter().filter(|d| d.breakdown).map(|d| d.id.clone()).collect::<Vec<_>>().join(",")
}

pub fn run(rows: u64, postgres: Option<&str>) {
    let month = chorus::month::Month::now().to_string();
    let by = every_breakdown(&month);
    let tables = {
        let survey = chorus::survey::Survey::parse(chorus::survey::DEFAULT_SURVEY).expect("the default survey");
        chorus::report::catalogue::Catalogue::new(&survey, std::slice::from_ref(&month)).tables.len()
    };
    println!("Whole catalogue: {tables} tables (--by {by}).");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("Release of every table, {cores} cores (load average at start: {})\n", load());
    println!("| backend | responses | decrypt-only s | release s (KDF included) | release peak MiB | phases (wall) |");
    println!("|---|---:|---:|---:|---:|---|");
    for backend in ["SQLite", "PostgreSQL"] {
        let mut peaks = Vec::new();
        for n in [10_000u64, rows] {
            let dir = tempfile::tempdir().expect("temp dir");
            let db = match backend {
                "PostgreSQL" => match postgres.and_then(PgDb::create) {
                    Some(db) => Some(db),
                    None => {
                        println!("| PostgreSQL | skipped (no server at the configured URL) |");
                        break;
                    }
                },
                _ => None,
            };
            let url = db
                .as_ref()
                .map(|d| d.url.clone())
                .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("data/chorus.db").display()));
            std::fs::write(dir.path().join("pass"), PASSPHRASE).expect("passphrase file");
            timed(dir.path(), &url, &["keys", "init", "--passphrase-file", "pass"]);
            // Synthetic answers go only into drafts or surveys marked for testing.
            timed(dir.path(), &url, &["survey", "testing", "harms"]);
            timed(dir.path(), &url, &["dev", "seed", "harms", "--count", &n.to_string()]);
            let (open_s, _) = timed(dir.path(), &url, &["dev", "open-all", "harms", "--passphrase-file", "pass"]);
            let (release_s, peak, phases) = timed_phases(
                dir.path(),
                &url,
                &["report", "harms", "--through", &month, "--by", &by, "--passphrase-file", "pass", "--out", "r.json"],
            );
            peaks.push(peak);
            println!("| {backend} | {n} | {open_s:.2} | {release_s:.2} | {peak:.1} | {phases} |");
            if backend == "PostgreSQL" {
                // PostgreSQL's heap keeps rows in the order they were written until the scrub
                // rewrites it in id order, the order a release reads them in (through the index):
                // the same release again, as the scheduled scrub leaves the table (a new rho, so a
                // new request, not the stored one).
                timed(dir.path(), &url, &["scrub", "--full"]);
                let (open_s, _) = timed(dir.path(), &url, &["dev", "open-all", "harms", "--passphrase-file", "pass"]);
                let (release_s, peak, phases) = timed_phases(
                    dir.path(),
                    &url,
                    &[
                        "report",
                        "harms",
                        "--through",
                        &month,
                        "--by",
                        &by,
                        "--rho",
                        "0.4",
                        "--passphrase-file",
                        "pass",
                        "--out",
                        "r2.json",
                    ],
                );
                println!(
                    "| {backend}, after `chorus scrub --full` | {n} | {open_s:.2} | {release_s:.2} | {peak:.1} | {phases} |"
                );
            }
            drop(db);
        }
        if let [small, large] = peaks[..] {
            println!("| {backend} | peak memory difference | | | {:+.1} (target: at most +100) | |", large - small);
        }
    }
    println!("\nLoad average at the end: {}", load());
}

/// The 1-, 5- and 15-minute load averages, as `uptime` shows them.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
