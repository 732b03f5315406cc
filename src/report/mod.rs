//! Releases: one streaming pass over opened answers tallies the chosen tables of the catalogue,
//! `release` adds differentially private noise and makes the tables agree, the survey's privacy
//! budget pays for it in the same transaction that stores it, and only released numbers are kept.

#[cfg(test)]
mod attacks;
pub mod catalogue;
pub(crate) mod mechanism;
pub mod page;
pub mod pending;
mod publication;
pub mod release;
pub mod render;
pub mod signing;

use std::{
    collections::HashMap,
    sync::{Arc, atomic::AtomicU64},
};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use pending::{PendingError, PendingRuns, PendingView, Progress};
pub use publication::{Notes, PublicationError, SnapshotStatus, change_status};
pub use release::StoredTable;

use crate::{
    keyring::{Keyring, KeyringError, OpenedAnswer, RowHead, Unlock},
    month::Month,
    seal::random_id,
    staff::Accounts,
    store::{DbConn, StoreError, budgets, snapshots},
    survey::{Survey, Surveys, ValidAnswers},
};
use catalogue::{Catalogue, Tally, UnknownTable};
use mechanism::budget::{BudgetError, Rho};

/// A survey wave's privacy budget unless an admin sets another: rho = 1 (zCDP). See docs/privacy.md
/// for the reasoning and what it means for a reader.
pub const DEFAULT_BUDGET: f64 = 1.0;
/// What one release spends unless asked otherwise: half the default budget, so a wave can have an
/// interim and a final release.
pub const DEFAULT_RELEASE_RHO: f64 = 0.5;
/// A release whose released total is under this is refused and not stored: at the noise a release
/// carries, so few respondents give no figure worth citing.
pub const MIN_RELEASE_N: u64 = 50;
/// The ledger counts in millionths of rho.
const MICRO: f64 = 1_000_000.0;

/// What a release is asked for. The same request over the same answers always gives the same
/// stored release back.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SnapshotSpec {
    pub survey: String,
    pub through: String,
    pub verified_only: bool,
    /// The share of the survey's budget this release may spend (rho, zCDP).
    pub rho: f64,
    /// The catalogue tables asked for. With `by` empty too: every one-way table. The tables their
    /// margins come from are added.
    #[serde(default)]
    pub tables: Vec<String>,
    /// Breakdowns (`month` or a breakdown question): every table crossed with them, and every
    /// one-way table, are asked for.
    #[serde(default)]
    pub by: Vec<String>,
    /// Filled in by the run: months quarantined after a confirmed flood.
    #[serde(default)]
    pub excluded_months: Vec<String>,
    /// Filled in by the run: the catalogue tables this release left out.
    #[serde(default)]
    pub left_out: Vec<String>,
    /// Filled in by the run: the survey's budget (millionths of rho) and what was spent after this release.
    #[serde(default)]
    pub budget_total_micro: i64,
    #[serde(default)]
    pub budget_spent_micro: i64,
}

impl SnapshotSpec {
    pub fn new(survey: impl Into<String>, through: impl Into<String>) -> Self {
        Self {
            survey: survey.into(),
            through: through.into(),
            verified_only: false,
            rho: DEFAULT_RELEASE_RHO,
            tables: vec![],
            by: vec![],
            excluded_months: vec![],
            left_out: vec![],
            budget_total_micro: 0,
            budget_spent_micro: 0,
        }
    }
}

/// A survey's privacy budget, for pages and the console.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    pub total: f64,
    pub spent: f64,
}

impl Budget {
    pub fn remaining(&self) -> f64 {
        (self.total - self.spent).max(0.0)
    }
    fn from_micro((total, spent): (i64, i64)) -> Self {
        Self { total: total as f64 / MICRO, spent: spent as f64 / MICRO }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no survey `{0}`")]
    NoSurvey(String),
    #[error("`{0}` is not a month like 2026-11")]
    BadMonth(String),
    #[error("a release spends a rho between 0.001 and the survey's remaining budget, not {0}")]
    BadRho(f64),
    #[error(transparent)]
    UnknownTable(#[from] UnknownTable),
    #[error(
        "refused: the privacy budget of `{survey}` cannot carry this release (asks rho {requested:.3}; \
         total {total:.3}, spent {spent:.3}, remaining {remaining:.3})"
    )]
    OverBudget { survey: String, requested: f64, total: f64, spent: f64, remaining: f64 },
    #[error(
        "refused: this release would cover fewer than {MIN_RELEASE_N} respondents (after noise), too few for \
         any figure worth citing; nothing was stored (the check spent rho {spent:.4} of the budget)"
    )]
    TooFew { spent: f64 },
    #[error("a budget total must be a positive rho no smaller than what is already spent ({0:.3})")]
    BadBudget(f64),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("an answer could not be decoded: {0}")]
    Decode(String),
    #[error("the release could not be computed: {0}")]
    Release(#[from] release::ReleaseError),
    #[error("refused: {0} stored answers failed to open (moved, re-flagged or damaged rows); no snapshot was made")]
    Unopened(u64),
}

impl From<diesel::result::Error> for ReportError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<BudgetError> for ReportError {
    fn from(e: BudgetError) -> Self {
        Self::Release(e.into())
    }
}

/// Answers given under an older version, re-read against the current one through its version mapping
/// (`Survey::carry_from`); None for an answer set whose screening answer ends the survey.
fn to_current(old: &Survey, answers: &ValidAnswers, current: &Survey) -> Option<ValidAnswers> {
    current.carry_from(old, answers)
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

    /// The rho this release spent.
    pub fn rho(&self) -> f64 {
        self.row.rho_micro as f64 / MICRO
    }
}

/// A survey's budget (made with the default the first time it is asked for).
pub fn budget(conn: &mut DbConn, slug: &str) -> Result<Budget, ReportError> {
    if crate::store::surveys::get(conn, slug)?.is_none() {
        return Err(ReportError::NoSurvey(slug.to_owned()));
    }
    Ok(Budget::from_micro(budgets::ensure(conn, slug, micro(DEFAULT_BUDGET))?))
}

/// Set a survey's total budget (admins only, audited by the caller).
pub fn set_budget(conn: &mut DbConn, slug: &str, total: f64) -> Result<Budget, ReportError> {
    let current = budget(conn, slug)?;
    let sensible = total.is_finite() && total > 0.0 && total <= 1_000.0;
    if !sensible || !budgets::set_total(conn, slug, micro(total))? {
        return Err(ReportError::BadBudget(current.spent));
    }
    budget(conn, slug)
}

fn micro(rho: f64) -> i64 {
    (rho * MICRO).ceil() as i64
}

/// Run a release and record in the audit trail that it ran, what it spent, or why it was refused:
/// the one entry point for the staff pages and `chorus report`.
pub fn run_and_audit(
    conn: &mut DbConn,
    surveys: &Surveys,
    accounts: &Accounts,
    passphrase: &SecretString,
    spec: &SnapshotSpec,
    actor: &str,
) -> Result<Snapshot, ReportError> {
    run_and_audit_with(conn, surveys, accounts, std::slice::from_ref(passphrase), spec, actor)
}

/// [`run_and_audit`] with k stewards' passphrases (k-of-n custody).
pub fn run_and_audit_with(
    conn: &mut DbConn,
    surveys: &Surveys,
    accounts: &Accounts,
    passphrases: &[SecretString],
    spec: &SnapshotSpec,
    actor: &str,
) -> Result<Snapshot, ReportError> {
    run_and_audit_by(conn, surveys, accounts, Unlock::Passphrases(passphrases), spec, actor, None)
}

/// [`run_and_audit`] with passphrases or with stewards' shares gathered by a pending run; `opened`,
/// when given, counts the rows gone through.
pub fn run_and_audit_by(
    conn: &mut DbConn,
    surveys: &Surveys,
    accounts: &Accounts,
    unlock: Unlock<'_>,
    spec: &SnapshotSpec,
    actor: &str,
    opened: Option<&AtomicU64>,
) -> Result<Snapshot, ReportError> {
    let result = run_snapshot_by(conn, surveys, unlock, spec, actor, accounts.clock.now(), opened);
    // What a staff member typed is cut short: a long name must not bloat or flood the audit trail.
    let short = |s: &str| s.chars().take(40).collect::<String>();
    let spec = &SnapshotSpec { survey: short(&spec.survey), through: short(&spec.through), ..spec.clone() };
    let target = match &result {
        Ok(s) => format!(
            "{} through {} ({}): spent rho {:.4}, budget {:.3} of {:.3} used",
            spec.survey,
            spec.through,
            s.row.id,
            s.rho(),
            s.spec.budget_spent_micro as f64 / MICRO,
            s.spec.budget_total_micro as f64 / MICRO
        ),
        Err(e) => format!("{} through {}: refused ({e})", spec.survey, spec.through),
    };
    accounts.audit(conn, actor, "release_run", &target)?;
    result
}

/// The fingerprint of a request over a set of answers: the same request over the same answers is
/// the same release. The answers count as a set (their number and the sum of their ids, which are
/// random or hashes), not in the order they are read: a scrub re-keys rows still carrying their
/// commit's placement (`responses::Placement`), which changes the order but not the set.
struct Fingerprint {
    request: Sha256,
    sum: u128,
    n: u64,
}

impl Fingerprint {
    fn new(spec: &SnapshotSpec, chosen: &[String]) -> Self {
        let mut h = Sha256::new();
        let request =
            serde_json::json!([spec.survey, spec.through, spec.verified_only, spec.rho, chosen, spec.excluded_months]);
        // `by` and `tables` only matter through `chosen`: the same tables asked two ways are one request.
        h.update(request.to_string().as_bytes());
        Self { request: h, sum: 0, n: 0 }
    }
    fn add(&mut self, id: &str) {
        let value = u128::from_str_radix(id, 16)
            .unwrap_or_else(|_| u128::from_be_bytes(Sha256::digest(id.as_bytes())[..16].try_into().expect("16 bytes")));
        self.sum = self.sum.wrapping_add(value);
        self.n += 1;
    }
    fn finalize(mut self) -> Vec<u8> {
        self.request.update(self.n.to_be_bytes());
        self.request.update(self.sum.to_be_bytes());
        self.request.finalize().to_vec()
    }
}

/// Wall time of a run's phases, logged at debug level when the run ends (for the benchmark's
/// per-phase figures; `CHORUS_LOG=chorus::report=debug`). Tenths of a second only.
struct Phases {
    last: std::time::Instant,
    took: Vec<(&'static str, std::time::Duration)>,
}

impl Phases {
    fn start() -> Self {
        Self { last: std::time::Instant::now(), took: Vec::new() }
    }
    fn mark(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        self.took.push((phase, now - self.last));
        self.last = now;
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        self.mark("store");
        let took: Vec<String> = self.took.iter().map(|(p, d)| format!("{p} {:.1} s", d.as_secs_f64())).collect();
        tracing::debug!(phases = %took.join(", "), "release run");
    }
}

/// One opening thread's part of a release run.
struct Share {
    tally: Tally,
    categories: Vec<u16>,
    decode_error: Option<String>,
}

/// Run a release: check the budget, unseal with the passphrase, stream every answer through the
/// month, tally the chosen tables, release them under the privacy mechanism, and store the released
/// tables with the budget's spend in one transaction. Keys are zeroized when this returns.
pub fn run_snapshot(
    conn: &mut DbConn,
    surveys: &Surveys,
    passphrase: &SecretString,
    spec: &SnapshotSpec,
    actor: &str,
    now: i64,
) -> Result<Snapshot, ReportError> {
    run_snapshot_with(conn, surveys, std::slice::from_ref(passphrase), spec, actor, now)
}

/// [`run_snapshot`] with k stewards' passphrases (k-of-n custody).
pub fn run_snapshot_with(
    conn: &mut DbConn,
    surveys: &Surveys,
    passphrases: &[SecretString],
    spec: &SnapshotSpec,
    actor: &str,
    now: i64,
) -> Result<Snapshot, ReportError> {
    run_snapshot_by(conn, surveys, Unlock::Passphrases(passphrases), spec, actor, now, None)
}

/// What a release request must pass before any key is opened: a month, a survey, a rho its budget
/// can carry. A pending run is checked here when it is asked for, and again when it runs.
pub(crate) fn check_request(
    conn: &mut DbConn,
    surveys: &Surveys,
    spec: &SnapshotSpec,
) -> Result<(Month, Arc<Survey>, Rho), ReportError> {
    let through = Month::parse(&spec.through).ok_or_else(|| ReportError::BadMonth(spec.through.clone()))?;
    let (survey, _) = surveys.current(conn, &spec.survey)?.ok_or_else(|| ReportError::NoSurvey(spec.survey.clone()))?;
    let rho = Rho::new(spec.rho).ok().filter(|r| r.get() >= 0.001).ok_or(ReportError::BadRho(spec.rho))?;
    let budget = budget(conn, &spec.survey)?;
    if micro(rho.get()) > micro(budget.total) - micro(budget.spent) {
        return Err(ReportError::OverBudget {
            survey: spec.survey.clone(),
            requested: rho.get(),
            total: budget.total,
            spent: budget.spent,
            remaining: budget.remaining(),
        });
    }
    Ok((through, survey, rho))
}

/// [`run_snapshot`] with passphrases or with stewards' shares gathered by a pending run, counting
/// the rows gone through into `opened` when given (a progress bar).
pub fn run_snapshot_by(
    conn: &mut DbConn,
    surveys: &Surveys,
    unlock: Unlock<'_>,
    spec: &SnapshotSpec,
    actor: &str,
    now: i64,
    opened: Option<&AtomicU64>,
) -> Result<Snapshot, ReportError> {
    let mut phases = Phases::start();
    let (through, survey, rho) = check_request(conn, surveys, spec)?;
    let mut spec = spec.clone();
    spec.excluded_months = crate::store::defences::quarantined(conn, &spec.survey)?;
    crate::store::responses::refresh_statistics(conn)?;
    let mut months = crate::store::responses::months(conn, &spec.survey, &spec.through, &spec.excluded_months)?;
    if months.is_empty() {
        months.push(spec.through.clone());
    }
    let catalogue = Catalogue::new(&survey, &months);
    let mut asked = spec.tables.clone();
    if spec.tables.is_empty() || !spec.by.is_empty() {
        asked.extend(catalogue.tables.iter().filter(|t| t.col.is_none()).map(|t| t.id.clone()));
    }
    for b in &spec.by {
        let crossed: Vec<String> = catalogue
            .tables
            .iter()
            .filter(|t| t.col.is_some_and(|c| catalogue.dimensions[c].id == *b))
            .map(|t| t.id.clone())
            .collect();
        if crossed.is_empty() {
            return Err(UnknownTable(format!("…~{b}")).into());
        }
        asked.extend(crossed);
    }
    let chosen = catalogue.closure(&asked)?;
    let chosen_ids: Vec<String> = chosen.iter().map(|&t| catalogue.tables[t].id.clone()).collect();
    spec.left_out = catalogue.tables.iter().map(|t| t.id.clone()).filter(|id| !chosen_ids.contains(id)).collect();
    let mut fingerprint = Fingerprint::new(&spec, &chosen_ids);

    phases.mark("plan");
    let mut unsealed = Keyring::unseal_by(conn, unlock)?;
    phases.mark("unseal");
    let mut versions: HashMap<i32, Arc<Survey>> = HashMap::from([(survey.version, survey.clone())]);
    for v in 1..survey.version {
        if let Some(s) = surveys.version(conn, &spec.survey, v)? {
            versions.insert(v, s);
        }
    }
    let mut synthetic = false;
    // This thread reads the rows and hashes their ids in order; the others open, decode and tally,
    // each into its own `Share`, merged below.
    let head = |r: RowHead<'_>| {
        if spec.verified_only && !r.verified {
            return;
        }
        fingerprint.add(r.id);
        synthetic |= r.synthetic;
    };
    let make = || Share { tally: Tally::new(&catalogue, &chosen), categories: Vec::new(), decode_error: None };
    let each = |share: &mut Share, a: OpenedAnswer<'_>| {
        if spec.verified_only && !a.verified {
            return;
        }
        let Some(version) = versions.get(&a.survey_version) else {
            share.decode_error = Some(format!("survey version {} is not loaded", a.survey_version));
            return;
        };
        // A sealed answer of the current version was checked when it was sealed, and decoding it
        // proves its shape again: it is not validated a second time.
        let answers = match version.decode(&a.plaintext) {
            Ok(v) => v,
            Err(e) => {
                share.decode_error = Some(e.to_string());
                return;
            }
        };
        let answers =
            if version.version == survey.version { Some(answers) } else { to_current(version, &answers, &survey) };
        // An answer set the screening question ends (a minor's, stored before v2) counts nowhere.
        let Some(answers) = answers else { return };
        catalogue.categorise(&survey, &answers, a.month, a.verified, &mut share.categories);
        share.tally.add(&share.categories);
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (streamed, shares) = unsealed.open_in_parallel(
        conn,
        &spec.survey,
        through,
        &spec.excluded_months,
        threads,
        head,
        make,
        each,
        opened,
    )?;
    phases.mark("open and tally");
    let mut tally = Tally::new(&catalogue, &chosen);
    let mut decode_error = None;
    for share in shares {
        tally.merge(&share.tally);
        decode_error = decode_error.or(share.decode_error);
    }
    let signer = {
        let today = today(now);
        signing::ensure_key(conn, &today)?;
        signing::open_active(conn, &unsealed)?
    };
    drop(unsealed);
    if streamed.failed > 0 {
        return Err(ReportError::Unopened(streamed.failed));
    }
    if let Some(e) = decode_error {
        return Err(ReportError::Decode(e));
    }
    let fingerprint = fingerprint.finalize();
    // The same request over the same answers: serve the stored release, never fresh noise.
    if let Some(row) = snapshots::same_as(conn, &spec.survey, &fingerprint)? {
        return Ok(Snapshot::from_row(row)?);
    }

    phases.mark("merge and sign");
    let released = release::release(&catalogue, tally, rho)?;
    phases.mark("noise and fit");
    let tables_n = released.tables.len().max(1) as f64;
    let cost = micro(released.spent);
    if released.n < MIN_RELEASE_N {
        // Only the released total decided this, and it is one table of the release: that share is
        // charged (it was measured and its effect is told), the rest of the noise is thrown away
        // unseen. If even that share no longer fits, nothing is said beyond the refusal.
        let share = micro(released.spent / tables_n);
        budgets::spend(conn, &spec.survey, share)?;
        return Err(ReportError::TooFew { spent: share as f64 / MICRO });
    }
    conn.write_transaction(|conn| {
        if !budgets::spend(conn, &spec.survey, cost)? {
            let now = budget_now(conn, &spec.survey)?;
            return Err(ReportError::OverBudget {
                survey: spec.survey.clone(),
                requested: released.spent,
                total: now.total,
                spent: now.spent,
                remaining: now.remaining(),
            });
        }
        let after = budget_now(conn, &spec.survey)?;
        spec.budget_total_micro = micro(after.total);
        spec.budget_spent_micro = micro(after.spent);
        let mut row = snapshots::SnapshotRow {
            id: random_id(),
            survey_slug: spec.survey.clone(),
            survey_version: survey.version,
            through_month: spec.through.clone(),
            spec: serde_json::to_string(&spec).unwrap_or_default(),
            n: released.n as i64,
            verified_n: released.verified as i64,
            synthetic,
            created: today(now),
            created_at: now,
            created_by: actor.to_owned(),
            tables: serde_json::to_string(&released.tables).unwrap_or_default(),
            status: SnapshotStatus::Private,
            published: None,
            retracted: None,
            rho_micro: cost,
            fingerprint: fingerprint.clone(),
            doc_json: String::new(),
            doc_csv: String::new(),
            json_sha256: String::new(),
            csv_sha256: String::new(),
            sig_json: String::new(),
            sig_csv: String::new(),
            signing_key_id: String::new(),
            retract_reason: None,
            replaced_by: None,
            headlines: "[]".into(),
        };
        let mut snapshot = Snapshot { row: row.clone(), spec: spec.clone(), tables: released.tables.clone() };
        seal_documents(&mut snapshot, &survey, signer.as_ref())?;
        row = snapshot.row.clone();
        snapshots::insert(conn, &row)?;
        Ok(snapshot)
    })
}

fn today(now: i64) -> String {
    crate::month::date(now)
}

/// Render the release's English JSON and CSV once, hash and sign them: these bytes are what is
/// served, cited and verified, whatever later versions of the renderer would make of the tables.
fn seal_documents(
    s: &mut Snapshot,
    survey: &Survey,
    signer: Option<&(String, crate::seal::SigningKey)>,
) -> Result<(), ReportError> {
    let i18n = crate::i18n::I18n::load();
    let json = render::json(s, survey, &i18n, "en").to_string();
    let csv = render::csv(s, survey, &i18n, "en");
    s.row.json_sha256 = hex::encode(Sha256::digest(json.as_bytes()));
    s.row.csv_sha256 = hex::encode(Sha256::digest(csv.as_bytes()));
    if let Some((id, key)) = signer {
        s.row.sig_json = key.sign(json.as_bytes()).map_err(KeyringError::from)?;
        s.row.sig_csv = key.sign(csv.as_bytes()).map_err(KeyringError::from)?;
        s.row.signing_key_id = id.clone();
    }
    s.row.doc_json = json;
    s.row.doc_csv = csv;
    Ok(())
}

fn budget_now(conn: &mut DbConn, slug: &str) -> Result<Budget, StoreError> {
    Ok(Budget::from_micro(budgets::get(conn, slug)?.unwrap_or((0, 0))))
}
