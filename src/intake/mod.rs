//! The submit path: survey lookup → answer validation → form token → seal → one transaction that spends
//! the token and stores the sealed row → receipt. Nothing here logs or keeps where a request came from.

pub mod codes;
pub mod flood;
pub mod limits;
pub mod receipt;
pub mod token;
pub mod writer;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use diesel::Connection;

use crate::{
    keyring::{Keyring, KeyringError},
    store::{DbConn, Store, StoreError, defences, responses, surveys},
    survey::{AnswerError, CodesMode, RawAnswers, Survey, ValidAnswers},
};
use flood::{FloodStats, Outcome};
use limits::Limits;
pub use receipt::Receipt;
use token::{FormTokens, TokenProblem};
use writer::Writer;

/// Write the per-day intake totals gathered in RAM since the last flush.
pub fn flush_daily(intake: &Intake, conn: &mut DbConn) -> Result<(), StoreError> {
    for (slug, day, counts) in intake.flood.take_daily() {
        let (y, m, d) = crate::month::civil_from_days(day);
        defences::add_daily(conn, &slug, &format!("{y:04}-{m:02}-{d:02}"), counts)?;
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
    #[error("{0}")]
    BadCode(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing failed: {0}")]
    Seal(String),
}

impl From<KeyringError> for SubmitError {
    fn from(e: KeyringError) -> Self {
        match e {
            KeyringError::NoKey => Self::NotReady,
            KeyringError::Store(s) => Self::Store(s),
            other => Self::Seal(other.to_string()),
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
pub enum Via {
    Form { token: String, honeypot_filled: bool },
    Api,
}

/// Parsed survey definitions by (slug, version); the current version and status are read per request,
/// so a `chorus survey` command takes effect on a running server at once.
#[derive(Default)]
pub struct Surveys {
    parsed: Mutex<HashMap<(String, i32), Arc<Survey>>>,
    /// slug → (current version, open, when read): re-read at most once a second.
    current: Mutex<HashMap<String, (i32, bool, std::time::Instant)>>,
}

/// How long a survey's current version and status may be served from memory.
const STATUS_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl Surveys {
    pub fn version(&self, conn: &mut DbConn, slug: &str, version: i32) -> Result<Option<Arc<Survey>>, StoreError> {
        let key = (slug.to_owned(), version);
        if let Some(s) = self.parsed.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Some(s.clone()));
        }
        let Some(text) = surveys::definition(conn, slug, version)? else { return Ok(None) };
        // Stored definitions were validated on import; a failure here means the row was altered.
        let survey = Arc::new(Survey::parse(&text).map_err(|e| StoreError::Pool(format!("stored definition: {e}")))?);
        self.parsed.lock().unwrap_or_else(|p| p.into_inner()).insert(key, survey.clone());
        Ok(Some(survey))
    }

    /// The current version of a survey and whether it is open. A `chorus survey` command on another
    /// process takes effect within a second.
    pub fn current(&self, conn: &mut DbConn, slug: &str) -> Result<Option<(Arc<Survey>, bool)>, StoreError> {
        let cached = self.current.lock().unwrap_or_else(|p| p.into_inner()).get(slug).copied();
        let (version, open) = match cached {
            Some((version, open, at)) if at.elapsed() < STATUS_TTL => (version, open),
            _ => {
                let Some(row) = surveys::get(conn, slug)? else { return Ok(None) };
                let open = row.status == "open";
                self.current
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(slug.to_owned(), (row.current_version, open, std::time::Instant::now()));
                (row.current_version, open)
            }
        };
        Ok(self.version(conn, slug, version)?.map(|s| (s, open)))
    }

    /// Forget cached statuses (after this process changes one).
    pub fn forget(&self) {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn open_surveys(&self, conn: &mut DbConn) -> Result<Vec<Arc<Survey>>, StoreError> {
        let mut out = Vec::new();
        for row in surveys::list(conn)?.into_iter().filter(|r| r.status == "open") {
            if let Some(s) = self.version(conn, &row.slug, row.current_version)? {
                out.push(s);
            }
        }
        Ok(out)
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
}

/// An answer set checked and sealed, waiting for the group-commit writer.
pub struct Prepared {
    pub row: responses::ResponseRow,
    pub token: Option<(Vec<u8>, String)>,
    pub code: Option<Vec<u8>>,
    pub receipt: Receipt,
    pub survey: Arc<Survey>,
}

impl Intake {
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        tokens: FormTokens,
        limits: Limits,
        flood: FloodStats,
        writer: Writer,
    ) -> Self {
        Self { store, keyring, tokens, surveys: Surveys::default(), limits, flood, writer }
    }

    /// Everything before storing: survey, honeypot, code, rate limit, answers, form token, sealing.
    /// `addr` is the client's address, used only by the in-memory rate limiter.
    pub fn prepare(
        &self,
        conn: &mut DbConn,
        slug: &str,
        raw: &RawAnswers,
        via: &Via,
        code: Option<&str>,
        addr: Option<IpAddr>,
    ) -> Result<Prepared, SubmitError> {
        let (survey, open) = self.surveys.current(conn, slug)?.ok_or(SubmitError::UnknownSurvey)?;
        if !open {
            return Err(SubmitError::Closed);
        }
        let refuse = |outcome, error| {
            self.flood.record(slug, outcome);
            Err(error)
        };
        if let Via::Form { honeypot_filled: true, .. } = via {
            return refuse(Outcome::Honeypot, SubmitError::Honeypot);
        }
        let code = code.map(str::trim).filter(|c| !c.is_empty() && survey.codes != CodesMode::Off);
        let code_hash = match code {
            Some(c) => match codes::normalise(c).map(|n| codes::hash(slug, &n)) {
                Some(h) if defences::code_usable(conn, slug, &h)? => Some(h),
                _ => {
                    return refuse(
                        Outcome::BadCode,
                        SubmitError::BadCode("this code is not valid or was already used"),
                    );
                }
            },
            None if survey.codes == CodesMode::Required => {
                return refuse(Outcome::BadCode, SubmitError::BadCode("this survey needs an outreach code"));
            }
            None => None,
        };
        if self.limits.check(addr, code_hash.is_some()).is_err() {
            return refuse(Outcome::RateLimited, SubmitError::RateLimited);
        }
        let answers = survey.validate(raw).map_err(SubmitError::Invalid)?;
        let token = match via {
            Via::Form { token, .. } => match self.tokens.check(conn, slug, token)? {
                Ok(t) => Some(t),
                Err(TokenProblem::TooFast) => {
                    return refuse(Outcome::TooFast, SubmitError::Token(TokenProblem::TooFast));
                }
                Err(p) => return Err(SubmitError::Token(p)),
            },
            Via::Api => None,
        };
        let receipt = Receipt::generate();
        let row = self.seal_row(conn, &survey, &answers, Some(receipt.hash()), false, code_hash.is_some())?;
        Ok(Prepared { row, token: token.map(|t| (t.hash, t.key_id)), code: code_hash, receipt, survey })
    }

    /// Encode, pad and seal one answer set into the row that stores it.
    fn seal_row(
        &self,
        conn: &mut DbConn,
        survey: &Survey,
        answers: &ValidAnswers,
        receipt_hash: Option<Vec<u8>>,
        synthetic: bool,
        verified: bool,
    ) -> Result<responses::ResponseRow, SubmitError> {
        let plaintext = survey.encode(answers).map_err(|e| SubmitError::Seal(e.to_string()))?;
        let sealed = self.keyring.seal(conn, &survey.slug, survey.version, &plaintext)?;
        Ok(responses::ResponseRow {
            id: sealed.response_id,
            survey_slug: survey.slug.clone(),
            survey_version: survey.version,
            month: sealed.month,
            epoch_id: sealed.epoch_id,
            sealed: sealed.sealed.into_bytes(),
            receipt_hash,
            synthetic,
            verified,
        })
    }

    /// Seal and store a batch of synthetic answer sets in one transaction (no receipts: nobody can
    /// withdraw them, and `synthetic` marks every row so no snapshot of them can be published).
    pub fn store_synthetic(
        &self,
        conn: &mut DbConn,
        survey: &Survey,
        batch: &[ValidAnswers],
    ) -> Result<(), SubmitError> {
        let rows = batch
            .iter()
            .map(|answers| self.seal_row(conn, survey, answers, None, true, false))
            .collect::<Result<Vec<_>, _>>()?;
        conn.transaction(|conn| rows.iter().try_for_each(|row| responses::insert(conn, row)))?;
        Ok(())
    }

    /// Delete the response a receipt belongs to. The caller answers the same whether or not it matched.
    pub fn withdraw(&self, conn: &mut DbConn, receipt: &str) -> Result<(), StoreError> {
        if let Some(r) = Receipt::parse(receipt) {
            responses::delete_by_receipt(conn, &r.hash())?;
        }
        Ok(())
    }
}

/// Import the bundled default survey when the database has no survey of that slug yet.
pub fn ensure_default_survey(conn: &mut DbConn) -> Result<(), anyhow::Error> {
    let survey = Survey::parse(crate::survey::DEFAULT_SURVEY)?;
    if surveys::get(conn, &survey.slug)?.is_none() {
        surveys::import(conn, &survey.slug, survey.version, &survey.source)?;
    }
    Ok(())
}
