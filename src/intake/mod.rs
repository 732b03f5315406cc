//! The submit path: survey lookup → answer validation → form token → seal → one transaction that spends
//! the token and stores the sealed row → receipt. An outreach code is spent later, apart from its
//! answer (`writer`). Nothing here logs or keeps where a request came from.

pub mod codes;
pub(crate) mod dashboard;
pub(crate) mod flood;
pub(crate) mod limits;
pub(crate) mod receipt;
pub(crate) mod token;
pub mod writer;

use std::sync::Arc;

use crate::{
    keyring::{Keyring, KeyringError},
    metrics::{Metrics, Refusal},
    seal::Padded,
    store::form_tokens::FormKeyRow,
    store::{DbConn, Store, StoreError, defences, responses, scrub, surveys},
    survey::{AnswerError, CodesMode, RawAnswers, Survey, Surveys, ValidAnswers},
};
use flood::{FloodStats, Outcome};
use limits::Limits;
pub use limits::{Client, Door};
pub use receipt::Receipt;
use token::{FormTokens, KeyLookup, TokenProblem};
use writer::Writer;

/// Add the monthly intake totals gathered in RAM to the database: those of months that have ended,
/// or every month's when `all` (at shutdown). Never more often: a finer write would date answers.
pub fn flush_monthly(intake: &Intake, conn: &mut DbConn, all: bool) -> Result<(), StoreError> {
    for (slug, month, counts) in intake.flood.take_monthly(all) {
        defences::add_monthly(conn, &slug, &month.to_string(), &counts)?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("no such survey")]
    UnknownSurvey,
    #[error("this survey is closed")]
    Closed,
    #[error("invalid answers")]
    Invalid(Vec<AnswerError>),
    /// The screening question was answered with an option that ends the survey: nothing is stored.
    #[error("the answer to \"{0}\" ends the survey: nothing was stored")]
    ScreenedOut(String),
    #[error("form token: {0:?}")]
    Token(TokenProblem),
    #[error("these answers were already received")]
    AlreadyReceived,
    #[error("the survey cannot take answers yet: no report key")]
    NotReady,
    #[error("too many submissions; try again later")]
    RateLimited,
    #[error("refused")]
    Honeypot,
    #[error("outreach code: {0}")]
    BadCode(CodeProblem),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("an answer set could not be encoded")]
    Encode(#[source] crate::seal::SealError),
    #[error("sealing failed")]
    Seal(#[source] KeyringError),
}

impl SubmitError {
    /// The reason `/metrics` counts this refusal under: a closed list, nothing of the request.
    pub fn refusal(&self) -> Refusal {
        match self {
            Self::UnknownSurvey => Refusal::unknown_survey,
            Self::Closed => Refusal::closed,
            Self::Invalid(_) => Refusal::invalid_answers,
            Self::Token(TokenProblem::TooFast) => Refusal::too_fast,
            Self::Token(TokenProblem::Expired) => Refusal::expired_token,
            Self::Token(TokenProblem::Invalid) => Refusal::bad_token,
            Self::AlreadyReceived => Refusal::already_received,
            Self::NotReady => Refusal::not_ready,
            Self::RateLimited => Refusal::rate_limited,
            Self::Honeypot => Refusal::honeypot,
            Self::BadCode(_) => Refusal::bad_code,
            Self::ScreenedOut(_) => Refusal::screened_out,
            Self::Store(_) | Self::Encode(_) | Self::Seal(_) => Refusal::internal,
        }
    }
}

/// Why an outreach code did not mark an answer as verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeProblem {
    /// Not a code of this survey, or already used.
    NotValid,
    /// The survey accepts only answers that carry a code.
    Required,
}

impl std::fmt::Display for CodeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotValid => "this code is not valid or was already used",
            Self::Required => "this survey needs an outreach code",
        })
    }
}

impl From<KeyringError> for SubmitError {
    fn from(e: KeyringError) -> Self {
        match e {
            KeyringError::NoKey => Self::NotReady,
            KeyringError::Store(s) => Self::Store(s),
            other => Self::Seal(other),
        }
    }
}

impl From<diesel::result::Error> for SubmitError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

/// How a submission arrived: the HTML form carries a single-use token and a honeypot field (which a
/// person never sees, so only a bot fills it in); the API has neither.
#[derive(Clone)]
pub enum Via {
    Form { token: String, honeypot_filled: bool },
    Api,
}

impl Via {
    fn door(&self) -> Door {
        match self {
            Self::Form { .. } => Door::Form,
            Self::Api => Door::Api,
        }
    }
}

pub struct Intake {
    pub store: Store,
    pub keyring: Arc<Keyring>,
    pub tokens: FormTokens,
    pub surveys: Surveys,
    pub limits: Limits,
    pub flood: FloodStats,
    pub writer: Writer,
    pub metrics: Arc<Metrics>,
}

/// An answer set checked and sealed, waiting for the group-commit writer.
pub struct Prepared {
    pub row: responses::ResponseRow,
    pub token: Option<(Vec<u8>, String)>,
    pub code: Option<Vec<u8>>,
    pub receipt: Receipt,
    pub survey: Arc<Survey>,
}

/// What the checks need from the database, read before any of them runs: the survey and its status,
/// what became of an outreach code, and the key a form token names. Everything is usually in memory,
/// so the checks run on the async worker; otherwise `Intake::look_up` reads it on the blocking pool.
pub struct Lookup {
    survey: Arc<Survey>,
    open: bool,
    code: CodeLookup,
    token_key: Option<FormKeyRow>,
}

enum CodeLookup {
    /// No code given (or the survey takes none).
    Absent,
    /// The code's hash: a code of this survey, not used yet.
    Usable(Vec<u8>),
    NotValid,
}

/// An answer set that passed every check, encoded, waiting to be sealed.
pub struct Checked {
    survey: Arc<Survey>,
    plaintext: Padded,
    token: Option<(Vec<u8>, String)>,
    code: Option<Vec<u8>>,
}

impl Intake {
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        tokens: FormTokens,
        limits: Limits,
        flood: FloodStats,
        writer: Writer,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { store, keyring, tokens, surveys: Surveys::default(), limits, flood, writer, metrics }
    }

    /// Read what `check` needs. Without a connection it reads memory only and answers None when
    /// something is not there; it never counts or spends anything, so the caller can then ask again
    /// with a connection. A code is always looked up in the database (whether it is still usable).
    pub fn look_up(
        &self,
        mut conn: Option<&mut DbConn>,
        slug: &str,
        via: &Via,
        code: Option<&str>,
    ) -> Result<Option<Lookup>, SubmitError> {
        let (survey, open) = match (self.surveys.cached(slug), conn.as_deref_mut()) {
            (Some(found), _) => found,
            (None, None) => return Ok(None),
            (None, Some(c)) => self.surveys.current(c, slug)?.ok_or(SubmitError::UnknownSurvey)?,
        };
        if !open {
            return Ok(Some(Lookup { survey, open, code: CodeLookup::Absent, token_key: None }));
        }
        let code = code.map(str::trim).filter(|c| !c.is_empty() && survey.codes != CodesMode::Off);
        let code = match code.map(|c| codes::normalise(c).map(|n| codes::hash(slug, &n))) {
            None => CodeLookup::Absent,
            // A code whose spend still waits in the writer's queue is as used as one marked in the database.
            Some(Some(h)) if !self.writer.pending.contains(slug, &h) => {
                let Some(c) = conn.as_deref_mut() else { return Ok(None) };
                if defences::code_usable(c, slug, &h)? { CodeLookup::Usable(h) } else { CodeLookup::NotValid }
            }
            Some(_) => CodeLookup::NotValid,
        };
        let token_key = match via {
            Via::Form { token, .. } => match self.tokens.key_of(conn, token)? {
                KeyLookup::Found(row) => Some(row),
                KeyLookup::Unknown => None,
                KeyLookup::Miss => return Ok(None),
            },
            Via::Api => None,
        };
        Ok(Some(Lookup { survey, open, code, token_key }))
    }

    /// Every check, with what `look_up` read: status, honeypot, code, the sender's limit, answers,
    /// form token, the door's global budget; then the encoding. No database. `client` is where it
    /// came from, used only by the in-memory rate limiter. The global budget comes last, so only
    /// valid submissions within their sender's limit can spend it.
    pub fn check(
        &self,
        found: Lookup,
        raw: &RawAnswers,
        via: &Via,
        client: Option<Client>,
    ) -> Result<Checked, SubmitError> {
        let Lookup { survey, open, code, token_key } = found;
        if !open {
            return Err(SubmitError::Closed);
        }
        let slug = survey.slug.as_str();
        let refuse = |outcome, error| {
            self.flood.record(slug, outcome);
            Err(error)
        };
        if let Via::Form { honeypot_filled: true, .. } = via {
            return refuse(Outcome::Honeypot, SubmitError::Honeypot);
        }
        let code_hash = match code {
            CodeLookup::Usable(h) => Some(h),
            CodeLookup::NotValid => return refuse(Outcome::BadCode, SubmitError::BadCode(CodeProblem::NotValid)),
            CodeLookup::Absent if survey.codes == CodesMode::Required => {
                return refuse(Outcome::BadCode, SubmitError::BadCode(CodeProblem::Required));
            }
            CodeLookup::Absent => None,
        };
        if self.limits.check_client(client, code_hash.is_some()).is_err() {
            return refuse(Outcome::RateLimited, SubmitError::RateLimited);
        }
        if survey.ends_survey(raw) {
            let screen = survey.screen.map(|i| survey.questions[i].id.clone()).unwrap_or_default();
            return Err(SubmitError::ScreenedOut(screen));
        }
        let answers = survey.validate_submission(raw).map_err(SubmitError::Invalid)?;
        let token = match via {
            Via::Form { token, .. } => match self.tokens.check(token_key.as_ref(), slug, token) {
                Ok(t) => Some((t.hash, t.key_id)),
                Err(TokenProblem::TooFast) => {
                    return refuse(Outcome::TooFast, SubmitError::Token(TokenProblem::TooFast));
                }
                Err(p) => return Err(SubmitError::Token(p)),
            },
            Via::Api => None,
        };
        if self.limits.check_global(via.door()).is_err() {
            return refuse(Outcome::RateLimited, SubmitError::RateLimited);
        }
        let plaintext = survey.encode(&answers).map_err(SubmitError::Encode)?;
        Ok(Checked { survey, plaintext, token, code: code_hash })
    }

    /// Seal a checked answer set with a fresh receipt. Without a connection it answers None when a
    /// new epoch must be stored first (once a month, or after `epoch_max_answers`); then the caller
    /// seals again with one.
    pub fn seal(&self, conn: Option<&mut DbConn>, checked: &Checked) -> Result<Option<Prepared>, SubmitError> {
        let Checked { survey, plaintext, token, code } = checked;
        let flags = crate::keyring::RowFlags { verified: code.is_some(), synthetic: false };
        let receipt = Receipt::generate();
        let (id, at) = (receipt.response_id(), (survey.slug.as_str(), survey.version));
        let sealed = match conn {
            Some(c) => Some(self.keyring.seal(c, id, at, flags, plaintext)?),
            None => self.keyring.seal_in_memory(id, at, flags, plaintext)?,
        };
        let Some(sealed) = sealed else { return Ok(None) };
        let row = row_of(survey, sealed, flags);
        Ok(Some(Prepared { row, token: token.clone(), code: code.clone(), receipt, survey: survey.clone() }))
    }

    /// When the current epoch nears its cap, store the next one on a blocking thread, so that no
    /// submission waits for that row (`keyring::epochs`). Must be called inside the async runtime.
    pub fn prepare_epoch_if_due(&self) {
        let Some(due) = self.keyring.next_epoch_due() else { return };
        let (store, keyring) = (self.store.clone(), self.keyring.clone());
        tokio::task::spawn_blocking(move || {
            let prepared = store.conn().map_err(Into::into).and_then(|mut c| keyring.prepare_next_epoch(&mut c, due));
            if let Err(e) = prepared {
                tracing::warn!(error = %e, "could not prepare the next epoch; a submission will start it");
            }
        });
    }

    /// A body that could not even be read (bad JSON, a broken form encoding) costs its sender one
    /// submission, and nobody else anything. True when the sender is now over the limit.
    pub fn charge_unreadable(&self, client: Option<Client>) -> bool {
        self.metrics.refused(Refusal::unreadable);
        self.limits.check_client(client, false).is_err()
    }

    /// Erase arrival order from what the submit path wrote, through the writer (answers arriving
    /// meanwhile wait, never fail). A partial scrub rewrites the answers of this month and the last,
    /// the only ones that can have arrived since the previous scrub; `full` rewrites everything.
    pub async fn scrub(&self, full: bool) -> Result<scrub::ScrubReport, StoreError> {
        self.writer.scrub(scrub_scope(full), writer::SCRUB_CHUNK_ROWS).await
    }

    /// Delete the response a receipt belongs to, as one job of the writer, and answer no sooner than
    /// `WITHDRAW_MIN` after the call: matched, unmatched and malformed receipts do the same work (an
    /// unparseable one looks up a fresh random receipt) and take the same time, so neither the reply nor its
    /// timing says whether a receipt was real.
    pub async fn withdraw(&self, receipt: &str) -> Result<(), StoreError> {
        let started = tokio::time::Instant::now();
        let key = Receipt::parse(receipt).unwrap_or_else(Receipt::generate).key();
        let done = self.writer.withdraw(key).await;
        tokio::time::sleep_until(started + writer::WITHDRAW_MIN).await;
        done
    }
}

/// What a scrub rewrites: every answer (in chunks), or the answers of this month and the previous one.
pub fn scrub_scope(full: bool) -> scrub::Scope {
    if full { scrub::Scope::All } else { scrub::Scope::Since(crate::month::Month::now().previous().to_string()) }
}

/// The row that stores a sealed answer set.
fn row_of(
    survey: &Survey,
    sealed: crate::keyring::SealedAnswer,
    flags: crate::keyring::RowFlags,
) -> responses::ResponseRow {
    responses::ResponseRow {
        id: sealed.response_id,
        survey_slug: survey.slug.clone(),
        survey_version: survey.version,
        month: sealed.month,
        epoch_id: sealed.epoch_id,
        sealed: sealed.sealed.into_bytes(),
        // Only rows stored before ids came from receipts have one (`Receipt::response_id`).
        receipt_hash: None,
        synthetic: flags.synthetic,
        verified: flags.verified,
    }
}

/// Seal and store a batch of synthetic answer sets in one transaction (no receipts: nobody can
/// withdraw them, and `synthetic` marks every row so no snapshot of them can be published).
pub fn store_synthetic(
    keyring: &Keyring,
    conn: &mut DbConn,
    survey: &Survey,
    batch: &[ValidAnswers],
) -> Result<(), SubmitError> {
    let rows =
        batch.iter().map(|answers| synthetic_row(keyring, conn, survey, answers)).collect::<Result<Vec<_>, _>>()?;
    conn.write_transaction(|conn| responses::insert_many(conn, &rows))?;
    Ok(())
}

/// One synthetic answer set sealed into a row, flagged `synthetic`, with no receipt.
pub fn synthetic_row(
    keyring: &Keyring,
    conn: &mut DbConn,
    survey: &Survey,
    answers: &ValidAnswers,
) -> Result<responses::ResponseRow, SubmitError> {
    let flags = crate::keyring::RowFlags { verified: false, synthetic: true };
    let plaintext = survey.encode(answers).map_err(SubmitError::Encode)?;
    let sealed =
        keyring.seal(conn, crate::seal::random_id(), (survey.slug.as_str(), survey.version), flags, &plaintext)?;
    Ok(row_of(survey, sealed, flags))
}

/// Import the bundled default survey when the database has no survey of that slug yet.
pub fn ensure_default_survey(conn: &mut DbConn) -> Result<(), anyhow::Error> {
    let survey = Survey::parse(crate::survey::DEFAULT_SURVEY)?;
    if let Some(problem) = survey.import_problems().first() {
        anyhow::bail!("the bundled survey: {problem}");
    }
    let Some(row) = surveys::get(conn, &survey.slug)? else {
        surveys::import(conn, &survey.slug, survey.version, &survey.source)?;
        return Ok(());
    };
    // A newer bundled version becomes current (answers under the older one still count through its
    // version mapping), unless it would change what stored answers mean; a version an admin stored
    // under the same number or higher is left alone.
    if row.current_version >= survey.version {
        return Ok(());
    }
    let stored = surveys::definition(conn, &row.slug, row.current_version)?
        .ok_or_else(|| StoreError::corrupt("survey version", row.slug.clone()))?;
    let current = Survey::parse(&stored)?;
    let refusals = if responses::count(conn, &row.slug)? > 0 {
        crate::survey::Diff::between(&current, &survey).refusals(&current, &survey)
    } else {
        Vec::new()
    };
    if !refusals.is_empty() {
        tracing::warn!(slug = %row.slug, refusals = %refusals.join("; "), "the bundled survey's new version is not imported");
        return Ok(());
    }
    surveys::import(conn, &survey.slug, survey.version, &survey.source)?;
    Ok(())
}
