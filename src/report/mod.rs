//! Reports: one streaming pass over opened answers builds the table catalogue, disclosure control
//! releases what is safe, and only released tables are stored, in an immutable snapshot.

pub mod catalogue;
pub(crate) mod disclosure;
pub(crate) mod mechanism;
pub mod page;
mod publication;
pub mod render;
pub(crate) mod stats;

pub use publication::{PublicationError, SnapshotStatus, change_status};

use std::{collections::HashMap, sync::Arc};

use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{
    keyring::{Keyring, KeyringError, OpenedAnswer},
    month::Month,
    seal::random_id,
    staff::Accounts,
    store::{DbConn, StoreError, snapshots},
    survey::{RawAnswers, Survey, Surveys, ValidAnswers},
};
use catalogue::{Catalogue, Tally};
use disclosure::{K_FLOOR, ReleasedTable, Rules};

/// What a snapshot is made of. The same spec over the same data always gives the same numbers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotSpec {
    pub survey: String,
    pub through: String,
    pub k: u64,
    pub rounding: bool,
    pub verified_only: bool,
    /// Months quarantined after a confirmed flood when the snapshot ran; filled in by the run.
    #[serde(default)]
    pub excluded_months: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no survey `{0}`")]
    NoSurvey(String),
    #[error("`{0}` is not a month like 2026-11")]
    BadMonth(String),
    #[error("k must be at least {K_FLOOR} and at least the survey's own k ({0})")]
    KTooLow(u64),
    #[error(
        "refused: only {changed} responses differ from the previous snapshot of this survey; at least {k} must, \
         so that no one's answers can be found by comparing the two"
    )]
    TooFewChanges { changed: u64, k: u64 },
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("an answer could not be decoded: {0}")]
    Decode(String),
    #[error("refused: {0} stored answers failed to open (moved, re-flagged or damaged rows); no snapshot was made")]
    Unopened(u64),
}

/// A released table as stored: category ids, released numbers, never a true count.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredTable {
    pub id: String,
    pub question: String,
    pub option: Option<String>,
    pub by: Option<String>,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    pub non_answer_rows: Vec<usize>,
    pub withheld: bool,
    pub cells: Vec<Option<u64>>,
    pub row_totals: Vec<Option<u64>>,
    pub col_totals: Vec<Option<u64>>,
    pub total: Option<u64>,
}

impl StoredTable {
    fn from_released(spec: &catalogue::TableSpec, cat: &Catalogue, t: ReleasedTable) -> Self {
        let row = &cat.dimensions[spec.row];
        let col = spec.col.map(|c| &cat.dimensions[c]);
        Self {
            id: spec.id.clone(),
            question: row.question.clone(),
            option: row.option.clone(),
            by: col.map(|c| c.question.clone()),
            rows: row.categories.clone(),
            cols: col.map(|c| c.categories.clone()).unwrap_or_default(),
            non_answer_rows: row.non_answers.clone(),
            withheld: t.withheld,
            cells: t.cells,
            row_totals: t.row_totals,
            col_totals: t.col_totals,
            total: t.total,
        }
    }
}

/// Sorted 8-byte keyed hashes of the included responses.
fn membership_hash(key: &[u8; 32], response_id: &str) -> u64 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(response_id.as_bytes());
    u64::from_be_bytes(mac.finalize().into_bytes()[..8].try_into().expect("8 bytes"))
}

fn decode_members(blob: &[u8]) -> Vec<u64> {
    blob.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))).collect()
}

/// How many members are in one sorted list and not the other.
fn symmetric_difference(a: &[u64], b: &[u64]) -> u64 {
    let (mut i, mut j, mut diff) = (0, 0, 0u64);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                diff += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                diff += 1;
                j += 1;
            }
        }
    }
    diff + (a.len() - i) as u64 + (b.len() - j) as u64
}

/// Answers given under an older version, re-read by question and option id against the current one.
fn to_current(old: &Survey, answers: &ValidAnswers, current: &Survey) -> ValidAnswers {
    let mut raw = RawAnswers::default();
    for (i, q) in old.questions.iter().enumerate() {
        let values: Vec<String> = match answers.get(i) {
            Some(crate::survey::Answer::One(o)) => vec![q.options[usize::from(*o)].id.clone()],
            Some(crate::survey::Answer::Many(os)) => os.iter().map(|o| q.options[usize::from(*o)].id.clone()).collect(),
            Some(crate::survey::Answer::Text(t)) => vec![t.to_string()],
            None => continue,
        };
        raw.0.insert(q.id.clone(), values);
    }
    loop {
        match current.validate(&raw) {
            Ok(v) => return v,
            // Questions or options the current version no longer has count as not answered.
            Err(errors) => {
                for e in errors {
                    raw.0.remove(&e.question);
                }
            }
        }
    }
}

pub struct Snapshot {
    pub row: snapshots::SnapshotRow,
    pub spec: SnapshotSpec,
    pub tables: Vec<StoredTable>,
}

impl Snapshot {
    pub fn from_row(row: snapshots::SnapshotRow) -> Result<Self, StoreError> {
        let spec = serde_json::from_str(&row.spec).map_err(|e| StoreError::corrupt("snapshot spec", e))?;
        let tables = serde_json::from_str(&row.tables).map_err(|e| StoreError::corrupt("snapshot tables", e))?;
        Ok(Self { row, spec, tables })
    }
}

/// Disclosure control over the whole catalogue: one-way tables first, then two-way tables whose
/// margins are exactly those one-way tables, so no table can undo another's suppression.
fn release(catalogue: &Catalogue, tally: &Tally, rules: &Rules) -> Vec<StoredTable> {
    let mut one_way: HashMap<usize, ReleasedTable> = HashMap::new();
    for (t, table) in catalogue.tables.iter().enumerate().filter(|(_, t)| t.col.is_none()) {
        let (rows, cols) = tally.shapes[t];
        one_way.insert(table.row, disclosure::control(&tally.counts[t], rows, cols, rules, &table.id));
    }
    catalogue
        .tables
        .iter()
        .enumerate()
        .map(|(t, table)| {
            let released = match table.col {
                None => one_way[&table.row].clone(),
                Some(col) => {
                    let (rows, cols) = tally.shapes[t];
                    disclosure::control_linked(
                        &tally.counts[t],
                        rows,
                        cols,
                        rules,
                        &table.id,
                        &one_way[&table.row],
                        &one_way[&col],
                    )
                }
            };
            StoredTable::from_released(table, catalogue, released)
        })
        .collect()
}

/// Run a snapshot and record in the audit trail that it ran, or why it was refused: the one entry
/// point for the staff pages and `chorus report`.
pub fn run_and_audit(
    conn: &mut DbConn,
    surveys: &Surveys,
    accounts: &Accounts,
    passphrase: &SecretString,
    spec: &SnapshotSpec,
    actor: &str,
) -> Result<Snapshot, ReportError> {
    let result = run_snapshot(conn, surveys, passphrase, spec, actor, accounts.clock.now());
    let target = match &result {
        Ok(s) => format!("{} through {} ({})", spec.survey, spec.through, s.row.id),
        Err(e) => format!("{} through {}: refused ({e})", spec.survey, spec.through),
    };
    accounts.audit(conn, actor, "snapshot_run", &target)?;
    result
}

/// Run a snapshot: unseal with the passphrase, stream every answer through the month, tally, apply
/// disclosure control, store released tables only. Keys are zeroized when this returns.
pub fn run_snapshot(
    conn: &mut DbConn,
    surveys: &Surveys,
    passphrase: &SecretString,
    spec: &SnapshotSpec,
    actor: &str,
    now: i64,
) -> Result<Snapshot, ReportError> {
    let through = Month::parse(&spec.through).ok_or_else(|| ReportError::BadMonth(spec.through.clone()))?;
    let (survey, _) = surveys.current(conn, &spec.survey)?.ok_or_else(|| ReportError::NoSurvey(spec.survey.clone()))?;
    if spec.k < K_FLOOR || spec.k < u64::from(survey.k) {
        return Err(ReportError::KTooLow(u64::from(survey.k).max(K_FLOOR)));
    }
    let mut spec = spec.clone();
    spec.excluded_months = crate::store::defences::quarantined(conn, &spec.survey)?;
    let spec = &spec;
    let mut months = crate::store::responses::months(conn, &spec.survey, &spec.through, &spec.excluded_months)?;
    if months.is_empty() {
        months.push(spec.through.clone());
    }
    let catalogue = Catalogue::new(&survey, &months);
    let mut tally = Tally::new(&catalogue);

    let mut unsealed = Keyring::unseal(conn, passphrase)?;
    let member_key = unsealed.derive("chorus/report/membership/v1");
    let rounding_key = unsealed.derive("chorus/report/rounding/v1");
    let mut versions: HashMap<i32, Arc<Survey>> = HashMap::from([(survey.version, survey.clone())]);
    let mut members = Vec::new();
    let (mut synthetic, mut verified_n) = (false, 0u64);
    let mut categories = Vec::new();
    let mut decode_error = None;
    // The rows are read page by page inside `for_each_answer`; the closure only tallies.
    let mut each = |a: OpenedAnswer, conn_versions: &mut HashMap<i32, Arc<Survey>>| -> Result<(), KeyringError> {
        if spec.verified_only && !a.verified {
            return Ok(());
        }
        let Some(version) = conn_versions.get(&a.survey_version).cloned() else {
            decode_error = Some(format!("survey version {} is not loaded", a.survey_version));
            return Ok(());
        };
        let answers = match version.decode(&a.plaintext) {
            Ok(v) => v,
            Err(e) => {
                decode_error = Some(e.to_string());
                return Ok(());
            }
        };
        let answers = if version.version == survey.version { answers } else { to_current(&version, &answers, &survey) };
        catalogue.categorise(&survey, &answers, &a.month, &mut categories);
        tally.add(&catalogue, &categories);
        synthetic |= a.synthetic;
        verified_n += u64::from(a.verified);
        members.push(membership_hash(&member_key, &a.id));
        Ok(())
    };
    // Load every stored version the survey has answers under before streaming.
    for v in 1..=survey.version {
        if let Some(s) = surveys.version(conn, &spec.survey, v)? {
            versions.insert(v, s);
        }
    }
    let streamed =
        unsealed.for_each_answer(conn, &spec.survey, through, &spec.excluded_months, |a| each(a, &mut versions))?;
    drop(unsealed);
    if streamed.failed > 0 {
        return Err(ReportError::Unopened(streamed.failed));
    }
    if let Some(e) = decode_error {
        return Err(ReportError::Decode(e));
    }
    members.sort_unstable();

    // Against every earlier snapshot, not just the latest: otherwise A, then B, then a C one answer
    // away from A would pass.
    for previous in snapshots::members_of(conn, &spec.survey)? {
        let changed = symmetric_difference(&members, &decode_members(&previous));
        if changed < spec.k {
            return Err(ReportError::TooFewChanges { changed, k: spec.k });
        }
    }

    let id = random_id();
    let rules = Rules {
        k: spec.k,
        min_total: disclosure::MIN_TABLE_TOTAL,
        // The draws depend on the survey, the table and the cell only — not on the snapshot or its
        // options — so neither regenerating nor changing k can re-draw a figure to be averaged.
        rounding_key: spec.rounding.then(|| {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&rounding_key).expect("any key length");
            mac.update(spec.survey.as_bytes());
            mac.finalize().into_bytes().into()
        }),
    };
    let tables = release(&catalogue, &tally, &rules);
    let (y, m, d) = crate::month::civil_from_days(now.div_euclid(86_400));
    let row = snapshots::SnapshotRow {
        id,
        survey_slug: spec.survey.clone(),
        survey_version: survey.version,
        through_month: spec.through.clone(),
        spec: serde_json::to_string(spec).unwrap_or_default(),
        n: tally.n as i64,
        verified_n: verified_n as i64,
        synthetic,
        created: format!("{y:04}-{m:02}-{d:02}"),
        created_at: now,
        created_by: actor.to_owned(),
        tables: serde_json::to_string(&tables).unwrap_or_default(),
        members: members.iter().flat_map(|m| m.to_be_bytes()).collect(),
        status: SnapshotStatus::Private,
        published: None,
        retracted: None,
    };
    snapshots::insert(conn, &row)?;
    Ok(Snapshot { row, spec: spec.clone(), tables })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_difference_counts_both_sides() {
        assert_eq!(symmetric_difference(&[1, 2, 3, 5], &[2, 3, 4]), 3);
        assert_eq!(symmetric_difference(&[], &[1, 2]), 2);
        assert_eq!(symmetric_difference(&[7], &[7]), 0);
    }
}

/// A golden test: a fixed dataset whose released numbers were worked out by hand.
#[cfg(test)]
mod golden {
    use super::*;
    use crate::{i18n::I18n, survey::RawAnswers};

    const SURVEY: &str = r#"
format = 1
slug = "golden"
version = 1
languages = ["en"]
title = "Golden"
[[sections]]
id = "s"
title = "S"
[[sections.questions]]
id = "colour"
type = "single"
label = "Colour"
options = [{ id = "red", label = "Red" }, { id = "blue", label = "Blue" }, { id = "green", label = "Green" }]
[[sections.questions]]
id = "size"
type = "single"
label = "Size"
options = [{ id = "big", label = "Big" }, { id = "small", label = "Small" }]
"#;

    fn tables(rows: &[(&str, &str, usize)]) -> (Survey, Vec<StoredTable>) {
        let survey = Survey::parse(SURVEY).unwrap();
        let months = vec!["2026-11".to_owned()];
        let catalogue = Catalogue::new(&survey, &months);
        let mut tally = Tally::new(&catalogue);
        let mut cats = Vec::new();
        for (colour, size, n) in rows {
            let mut raw = RawAnswers::default();
            for (q, v) in [("colour", colour), ("size", size)] {
                if !v.is_empty() {
                    raw.0.insert(q.into(), vec![(*v).to_owned()]);
                }
            }
            let answers = survey.validate(&raw).unwrap();
            for _ in 0..*n {
                catalogue.categorise(&survey, &answers, "2026-11", &mut cats);
                tally.add(&catalogue, &cats);
            }
        }
        let rules = Rules { k: 10, min_total: 30, rounding_key: None };
        let tables = catalogue
            .tables
            .iter()
            .enumerate()
            .map(|(t, spec)| {
                let (r, c) = tally.shapes[t];
                StoredTable::from_released(
                    spec,
                    &catalogue,
                    disclosure::control(&tally.counts[t], r, c, &rules, &spec.id),
                )
            })
            .collect();
        (survey, tables)
    }

    fn csv_of(survey: &Survey, tables: Vec<StoredTable>, id: &str) -> String {
        let snapshot = Snapshot {
            row: snapshots::SnapshotRow {
                id: "g".into(),
                survey_slug: "golden".into(),
                survey_version: 1,
                through_month: "2026-11".into(),
                spec: String::new(),
                n: 0,
                verified_n: 0,
                synthetic: false,
                created: String::new(),
                created_at: 0,
                created_by: String::new(),
                tables: String::new(),
                members: vec![],
                status: SnapshotStatus::Private,
                published: None,
                retracted: None,
            },
            spec: SnapshotSpec {
                survey: "golden".into(),
                through: "2026-11".into(),
                k: 10,
                rounding: false,
                verified_only: false,
                excluded_months: vec![],
            },
            tables: tables.into_iter().filter(|t| t.id == id).collect(),
        };
        render::csv(&snapshot, survey, &I18n::load(), "en")
    }

    #[test]
    fn small_cells_and_their_complement_are_hidden() {
        // 20 red, 12 blue, 3 green, 2 prefer-not-to-say, 3 not answered: 40 in all.
        let (survey, tables) =
            tables(&[("red", "big", 20), ("blue", "big", 12), ("green", "big", 3), ("pns", "big", 2), ("", "big", 3)]);
        // green (3), pns (2) and not answered (3) are under k; together only 8, so the smallest other
        // count, blue (12), is hidden too. No percentage can be computed without the hidden non-answers.
        let expected = "\
table,title,row,column,count,suppressed,percent,ci_low,ci_high,flags
colour,Colour,red,,20,false,,,,
colour,Colour,blue,,,true,,,,
colour,Colour,green,,,true,,,,
colour,Colour,pns,,,true,,,,
colour,Colour,not_answered,,,true,,,,
colour,Colour,total,,40,false,,,,
";
        assert_eq!(csv_of(&survey, tables, "colour"), expected);
    }

    #[test]
    fn percentages_and_intervals_of_those_who_answered() {
        let (survey, tables) = tables(&[("red", "big", 50), ("blue", "small", 30), ("green", "big", 12)]);
        // 92 answered; zeros are shown because the line total (92) is at least k.
        // Wilson 95%: 50/92 → 44.2–64.1; 30/92 → 23.9–42.7; 12/92 → 7.6–21.4 (E: wider than 20 points is not reached).
        let expected = "\
table,title,row,column,count,suppressed,percent,ci_low,ci_high,flags
colour,Colour,red,,50,false,54.3,44.2,64.1,
colour,Colour,blue,,30,false,32.6,23.9,42.7,
colour,Colour,green,,12,false,13,7.6,21.4,
colour,Colour,pns,,0,false,,,,
colour,Colour,not_answered,,0,false,,,,
colour,Colour,total,,92,false,,,,
";
        assert_eq!(csv_of(&survey, tables, "colour"), expected);
    }

    #[test]
    fn two_way_tables_cross_only_breakdowns() {
        let (survey, all) =
            tables(&[("red", "big", 50), ("blue", "small", 30), ("green", "big", 12), ("green", "small", 4)]);
        assert!(all.iter().all(|t| t.id != "size~colour"), "only breakdown questions are crossed");
        let csv = csv_of(&survey, all, "colour~month");
        // By month (one month): the month column equals the one-way table, green (16) is shown.
        assert!(csv.contains("colour~month,Colour (by Month received),green,2026-11,16,false"), "{csv}");
    }
}
