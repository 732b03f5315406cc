//! A forensic examiner's view of a seized database (issue 14). Answers are submitted one at a time and
//! the new row's id is read from the database after each, so the test knows the true arrival order;
//! some carry outreach codes. Then, from copies of the files (SQLite: the main file and its -wal;
//! PostgreSQL: `xmin`, `ctid` and a `pg_dump`), it checks that
//! (a) no order the files expose agrees with arrival order: |Spearman's rho| ≤ `RHO_BOUND`;
//! (b) no used outreach code can be joined to an answer: no SQLite commit holds both a used code's row
//!     and a verified answer, and no PostgreSQL `xmin` is shared by a used code and fewer than all
//!     verified answers (the scrub's single `xmin`, shared by every row, says nothing);
//! (c) no date finer than a month appears in any table holding respondent data.
//!
//! The bound: under no association, rho over n = 80 ranks has a standard deviation of 1/sqrt(79) ≈
//! 0.113, so 0.45 is four of them (a false alarm about once in 16,000 checks); arrival order leaking
//! through any of these channels gives rho near 1 (see docs/privacy.md for the figures before the fix).

use std::collections::{HashMap, HashSet};

use diesel::{QueryDsl, QueryableByName, RunQueryDsl, sql_types::Text};

use chorus::store::responses::answer_id;

use crate::helpers::{Backend, TestApp, run};

tests! {
    both: [
        a_seized_copy_shows_no_arrival_order_no_code_link_and_no_date,
        a_scrub_in_chunks_rewrites_every_survey_once,
        a_placement_left_in_an_older_month_is_taken_off_too,
    ],
}

const ANSWERS: usize = 80;
/// Every fourth answer carries a code: 20 codes, more than one spend batch (16).
const CODE_EVERY: usize = 4;
pub const RHO_BOUND: f64 = 0.45;

/// Spearman's rank correlation (average ranks for ties); 0 when either side has no spread, since a
/// constant (e.g. one `xmin` for every row) orders nothing.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for k in i..=j {
                r[idx[k]] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    if vx == 0.0 || vy == 0.0 { 0.0 } else { cov / (vx * vy).sqrt() }
}

/// The stored keys of every answer.
fn keys(app: &TestApp) -> Vec<String> {
    use chorus::store::schema::responses::dsl::*;
    app.with_conn(|c| responses.select(id).load::<String>(c).unwrap())
}

/// The answers' own ids (their keys without a commit's placement), which stay the same through a scrub.
fn ids(app: &TestApp) -> HashSet<String> {
    keys(app).iter().map(|k| answer_id(k).to_owned()).collect()
}

/// Submit one at a time, returning (id, verified code hash or None) in true arrival order.
async fn submit_in_order(app: &TestApp) -> Vec<(String, Option<Vec<u8>>)> {
    let codes: Vec<String> = (0..ANSWERS / CODE_EVERY).map(|_| chorus::intake::codes::generate()).collect();
    let hash = |c: &str| chorus::intake::codes::hash("harms", &chorus::intake::codes::normalise(c).unwrap());
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| hash(c)).collect();
    chorus::store::defences::insert_codes(&mut app.conn(), "harms", "night shift, Jarvis St", &hashes).unwrap();
    let mut arrival = Vec::new();
    let mut seen = ids(app);
    for i in 0..ANSWERS {
        let code = (i % CODE_EVERY == CODE_EVERY - 1).then(|| codes[i / CODE_EVERY].clone());
        let body = match &code {
            Some(c) => format!(r#"{{"answers":{{"age":"25_34"}},"code":"{c}"}}"#),
            None => r#"{"answers":{"age":"18_24"}}"#.to_owned(),
        };
        let (status, reply) = app.post_json("/api/v1/surveys/15977e8c/responses", &body).await;
        assert_eq!(status, 201, "{reply}");
        let now = ids(app);
        let new: Vec<String> = now.difference(&seen).cloned().collect();
        assert_eq!(new.len(), 1);
        seen = now;
        if let Some(c) = &code {
            // A code works once, also while its spend waits in the writer's memory (and after).
            let again = format!(r#"{{"answers":{{"age":"25_34"}},"code":"{c}"}}"#);
            assert_eq!(app.post_json("/api/v1/surveys/15977e8c/responses", &again).await.0, 400, "a code used twice");
        }
        arrival.push((new[0].clone(), code.map(|c| hash(&c))));
    }
    arrival
}

/// Positions (byte offsets of the first occurrence) of each id in a file, in arrival order; None
/// for ids the file does not hold.
fn offsets(bytes: &[u8], arrival: &[(String, Option<Vec<u8>>)]) -> Vec<Option<usize>> {
    let finder = |id: &str| bytes.windows(id.len()).position(|w| w == id.as_bytes());
    arrival.iter().map(|(id, _)| finder(id)).collect()
}

fn rho_of_positions(what: &str, positions: &[Option<usize>]) -> f64 {
    let pairs: Vec<(f64, f64)> =
        positions.iter().enumerate().filter_map(|(i, p)| p.map(|p| (i as f64, p as f64))).collect();
    if pairs.len() < 10 {
        return 0.0; // too few rows present to order anything
    }
    let (x, y): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
    let rho = spearman(&x, &y);
    eprintln!("forensics: {what}: rho = {rho:.3} over {} rows", x.len());
    rho
}

/// The commits of a SQLite WAL file, each as the bytes of its frames.
fn wal_commits(wal: &[u8]) -> Vec<Vec<u8>> {
    if wal.len() < 32 {
        return vec![];
    }
    let page = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
    let (mut commits, mut current) = (vec![], vec![]);
    let mut at = 32;
    while at + 24 + page <= wal.len() {
        current.extend_from_slice(&wal[at + 24..at + 24 + page]);
        if u32::from_be_bytes(wal[at + 4..at + 8].try_into().unwrap()) != 0 {
            commits.push(std::mem::take(&mut current));
        }
        at += 24 + page;
    }
    commits
}

fn has(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// (b) on SQLite: no commit in the WAL holds a used code's row beside a verified answer.
fn sqlite_no_commit_joins_a_code(wal: &[u8], arrival: &[(String, Option<Vec<u8>>)], when: &str) {
    for (n, commit) in wal_commits(wal).iter().enumerate() {
        let answers: Vec<&String> =
            arrival.iter().filter(|(id, c)| c.is_some() && has(commit, id.as_bytes())).map(|(id, _)| id).collect();
        let codes = arrival.iter().filter_map(|(_, c)| c.as_ref()).filter(|h| has(commit, h)).count();
        assert!(
            answers.is_empty() || codes == 0,
            "{when}: WAL commit {n} holds {codes} used code row(s) and {} verified answer(s): the code's batch is joined to the answer",
            answers.len()
        );
    }
}

#[derive(QueryableByName)]
struct Physical {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    xmin: String,
    #[diesel(sql_type = Text)]
    ctid: String,
}

fn ctid_rank(ctid: &str) -> f64 {
    let (block, offset) = ctid.trim_matches(['(', ')']).split_once(',').unwrap();
    block.parse::<f64>().unwrap() * 100_000.0 + offset.parse::<f64>().unwrap()
}

/// (b) on PostgreSQL: an `xmin` a used code shares with verified answers must be shared by all of them.
fn postgres_no_xmin_joins_a_code(app: &TestApp, arrival: &[(String, Option<Vec<u8>>)], when: &str) {
    let rows: Vec<Physical> = app.with_conn(|c| {
        diesel::sql_query("SELECT id, xmin::text AS xmin, ctid::text AS ctid FROM responses").load(c).unwrap()
    });
    let xmin_of: HashMap<&str, &str> = rows.iter().map(|r| (answer_id(&r.id), r.xmin.as_str())).collect();
    let verified: Vec<&str> = arrival.iter().filter(|(_, c)| c.is_some()).map(|(id, _)| xmin_of[id.as_str()]).collect();
    #[derive(QueryableByName)]
    struct Code {
        #[diesel(sql_type = Text)]
        xmin: String,
    }
    let codes: Vec<Code> = app
        .with_conn(|c| diesel::sql_query("SELECT xmin::text AS xmin FROM outreach_codes WHERE used").load(c).unwrap());
    for code in codes {
        let sharing = verified.iter().filter(|x| **x == code.xmin).count();
        assert!(
            sharing == 0 || sharing == verified.len(),
            "{when}: a used code's xmin {} is shared by {sharing} of {} verified answers",
            code.xmin,
            verified.len()
        );
    }
}

/// (c): no `YYYY-MM-DD` date and no Unix time in a dump of the tables that hold respondent data.
fn no_date_finer_than_a_month(dump: &str, what: &str) {
    let bytes = dump.as_bytes();
    for i in 0..bytes.len().saturating_sub(10) {
        let w = &bytes[i..i + 10];
        let date = w.iter().enumerate().all(|(k, b)| if k == 4 || k == 7 { *b == b'-' } else { b.is_ascii_digit() });
        assert!(!date, "{what} holds a date: {}", String::from_utf8_lossy(&bytes[i.saturating_sub(40)..i + 10]));
    }
    // Seconds since 1970 between 2001 and 2286 are ten digits starting 1 or 2, standing alone.
    for token in dump.split(|c: char| !c.is_ascii_alphanumeric()) {
        let unix = token.len() == 10
            && token.bytes().all(|b| b.is_ascii_digit())
            && matches!(token.as_bytes()[0], b'1' | b'2');
        assert!(!unix, "{what} holds what looks like a Unix time: {token}");
    }
}

const RESPONDENT_TABLES: &[&str] = &["responses", "outreach_codes", "used_form_tokens", "monthly_intake", "epochs"];

/// The scrub as `chorus serve` runs it on its schedule, but in chunks of about 8 answers (16
/// transactions here), so the incremental path is what the examiner sees.
async fn scrub(app: &TestApp) {
    let report = app.state.intake.writer.scrub(chorus::intake::scrub_scope(false), 8).await.expect("scrub");
    assert_eq!(report.chunks, 16);
    assert!(report.wal_emptied);
}

fn a_seized_copy_shows_no_arrival_order_no_code_link_and_no_date(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        let arrival = submit_in_order(&app).await;
        // Every code worked once, and a second use is refused even while its spend is pending.
        let (status, _) = app
            .post_json("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"},"code":"00000-00000"}"#)
            .await;
        assert_eq!(status, 400);
        let copy = tempfile::tempdir().unwrap();
        let (db, wal) = (app.dir.path().join("chorus.db"), app.dir.path().join("chorus.db-wal"));

        // Before the scrub, (b) already holds: a code is never spent beside its answer.
        match backend {
            Backend::Sqlite => {
                sqlite_no_commit_joins_a_code(&std::fs::read(&wal).unwrap_or_default(), &arrival, "before the scrub")
            }
            Backend::Postgres => postgres_no_xmin_joins_a_code(&app, &arrival, "before the scrub"),
        }

        // Each answer was stored under its commit's placement (one answer a commit here: each its own)...
        let placed = keys(&app);
        assert!(placed.iter().all(|k| k.len() == 40), "keys before the scrub: {placed:?}");

        // Monthly totals as at shutdown, so (c) also reads `monthly_intake`; then the scrub.
        chorus::intake::flush_monthly(&app.state.intake, &mut app.conn(), true).unwrap();
        scrub(&app).await;
        // ... and the scrub keys every answer by its id alone: no key says which were committed together.
        let scrubbed = keys(&app);
        assert!(scrubbed.iter().all(|k| k.len() == 32), "a placement survived the scrub: {scrubbed:?}");

        match backend {
            Backend::Sqlite => {
                std::fs::copy(&db, copy.path().join("chorus.db")).unwrap();
                let wal_copy = std::fs::read(&wal).unwrap_or_default();
                std::fs::write(copy.path().join("chorus.db-wal"), &wal_copy).unwrap();
                let main = std::fs::read(copy.path().join("chorus.db")).unwrap();
                // (a) page position in the main file (first occurrence: the table's leaf, or the index).
                let rho = rho_of_positions("sqlite main file position", &offsets(&main, &arrival));
                assert!(rho.abs() <= RHO_BOUND, "main-file order follows arrival: rho = {rho:.3}");
                let last: Vec<Option<usize>> = {
                    let rev: Vec<u8> = main.iter().rev().copied().collect();
                    let backwards: Vec<(String, Option<Vec<u8>>)> =
                        arrival.iter().map(|(id, c)| (id.chars().rev().collect(), c.clone())).collect();
                    offsets(&rev, &backwards).into_iter().map(|p| p.map(|p| main.len() - p)).collect()
                };
                let rho = rho_of_positions("sqlite main file position (last copy)", &last);
                assert!(rho.abs() <= RHO_BOUND, "main-file order (last copy) follows arrival: rho = {rho:.3}");
                // (a) WAL frame order: the scrub empties the -wal, so no answer is left in it.
                let in_wal = offsets(&wal_copy, &arrival).iter().filter(|p| p.is_some()).count();
                assert_eq!(in_wal, 0, "{in_wal} answers still in the -wal ({} bytes) after the scrub", wal_copy.len());
                sqlite_no_commit_joins_a_code(&wal_copy, &arrival, "after the scrub");
                // (c) from a dump of the copy.
                let out = std::process::Command::new("sqlite3")
                    .arg(copy.path().join("chorus.db"))
                    .arg(format!(".dump {}", RESPONDENT_TABLES.join(" ")))
                    .output()
                    .expect("sqlite3 runs");
                let dump = String::from_utf8_lossy(&out.stdout);
                assert!(dump.contains("INSERT INTO responses"), "the dump holds the answers");
                assert!(dump.contains("INSERT INTO monthly_intake"), "the dump holds the intake totals");
                assert!(!dump.contains("daily_intake"));
                no_date_finer_than_a_month(&dump, "sqlite dump");
            }
            Backend::Postgres => {
                let rows: Vec<Physical> = app.with_conn(|c| {
                    diesel::sql_query("SELECT id, xmin::text AS xmin, ctid::text AS ctid FROM responses")
                        .load(c)
                        .unwrap()
                });
                let by_id: HashMap<&str, &Physical> = rows.iter().map(|r| (answer_id(&r.id), r)).collect();
                let arrival_rank: Vec<f64> = (0..arrival.len()).map(|i| i as f64).collect();
                let xmin: Vec<f64> = arrival.iter().map(|(id, _)| by_id[id.as_str()].xmin.parse().unwrap()).collect();
                let ctid: Vec<f64> = arrival.iter().map(|(id, _)| ctid_rank(&by_id[id.as_str()].ctid)).collect();
                for (what, order) in [("xmin", &xmin), ("ctid", &ctid)] {
                    let rho = spearman(&arrival_rank, order);
                    eprintln!("forensics: postgres {what}: rho = {rho:.3}");
                    assert!(rho.abs() <= RHO_BOUND, "{what} order follows arrival: rho = {rho:.3}");
                }
                postgres_no_xmin_joins_a_code(&app, &arrival, "after the scrub");
                let dump = String::from_utf8(app.database_bytes()).unwrap();
                let rho = rho_of_positions("pg_dump position", &offsets(dump.as_bytes(), &arrival));
                assert!(rho.abs() <= RHO_BOUND, "pg_dump order follows arrival: rho = {rho:.3}");
                let pg = app.pg.as_ref().unwrap();
                let mut cmd = std::process::Command::new("pg_dump");
                cmd.args(["--no-owner", "--data-only"]);
                for t in RESPONDENT_TABLES {
                    cmd.args(["-t", t]);
                }
                let out = cmd.arg(&pg.url).output().expect("pg_dump runs");
                let dump = String::from_utf8_lossy(&out.stdout);
                assert!(dump.contains("COPY public.responses"), "the dump holds the answers");
                assert!(dump.contains("COPY public.monthly_intake"), "the dump holds the intake totals");
                no_date_finer_than_a_month(&dump, "pg_dump of respondent tables");
            }
        }
        assert_eq!(app.count("harms"), ANSWERS as i64, "the scrub keeps every answer");
    });
}

/// Rows are keyed (survey, id), so the scrub's chunks are id ranges within each survey: with two
/// surveys holding answers, every answer of each must be rewritten (none lost), and all must still
/// open. A row whose placement the scrub takes off can move into a range still to come and be
/// rewritten twice, never more.
fn a_scrub_in_chunks_rewrites_every_survey_once(backend: Backend) {
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        app.open_notes_survey();
        for i in 0..24 {
            let (path, body) = if i % 3 == 0 {
                ("/api/v1/surveys/1e05d277/responses", r#"{"answers":{"age":"25_34","notes":"scrubbed"}}"#)
            } else {
                ("/api/v1/surveys/15977e8c/responses", r#"{"answers":{"age":"18_24"}}"#)
            };
            assert_eq!(app.post_json(path, body).await.0, 201);
        }
        let report = app.state.intake.writer.scrub(chorus::intake::scrub_scope(false), 4).await.expect("scrub");
        // 24 answers in chunks of about 4: split per survey, each survey into the 16 one-digit id
        // prefixes (harms: 16 answers, notes: 8, both over one chunk's worth).
        assert_eq!(report.chunks, 32, "{report:?}");
        assert!((24..=48).contains(&report.answers_rewritten), "{report:?}");
        assert_eq!((app.count("harms"), app.count("notes")), (16, 8));
        assert!(keys(&app).iter().all(|k| k.len() == 32), "every answer keyed by its id alone after the scrub");
        let mut conn = app.conn();
        let mut unsealed =
            chorus::keyring::Keyring::unseal(&mut conn, &secrecy::SecretString::from(crate::helpers::PASSPHRASE))
                .unwrap();
        for (slug, n) in [("harms", 16), ("notes", 8)] {
            let streamed =
                unsealed.for_each_answer(&mut conn, slug, chorus::month::Month::now(), &[], |_| Ok(())).unwrap();
            assert_eq!((streamed.opened, streamed.failed), (n, 0), "{slug}");
        }
    });
}

/// The scheduled scrub rewrites this month and the last, but also any answer still carrying its
/// commit's placement from an older month (committed before an unclean stop that outlasted the
/// month), so no key keeps saying which answers were committed together.
fn a_placement_left_in_an_older_month_is_taken_off_too(backend: Backend) {
    use diesel::ExpressionMethods;
    run(async {
        let app = TestApp::spawn(backend).await;
        app.init_keys();
        app.answer_api(3, r#"{"age":"18_24"}"#).await;
        app.answer_api(1, r#"{"age":"25_34"}"#).await;
        let old = app.with_conn(|c| {
            use chorus::store::schema::responses::dsl::*;
            diesel::update(responses.filter(survey_slug.eq("harms"))).set(month.eq("2020-01")).execute(c).unwrap()
        });
        assert_eq!(old, 4);
        assert!(keys(&app).iter().all(|k| k.len() == 40), "placed before the scrub");
        app.state.intake.writer.scrub(chorus::intake::scrub_scope(false), 4).await.expect("scrub");
        let scrubbed = keys(&app);
        assert_eq!(scrubbed.len(), 4);
        assert!(scrubbed.iter().all(|k| k.len() == 32), "a placement in an older month survived: {scrubbed:?}");
    });
}
