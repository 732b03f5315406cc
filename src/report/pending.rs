//! Releases waiting for stewards. Anyone on the staff asks for a release; it waits, in RAM only,
//! until k stewards have each opened their own share of the unseal key with their passphrase. The
//! k-th share starts the run. A waiting run holds shares, never passphrases; it expires (30 minutes
//! unless configured), and its shares are wiped when it runs, expires or is cancelled. A restart
//! forgets every waiting run. Every step is in the audit trail.

use std::{collections::HashMap, sync::Arc, sync::Mutex};

use secrecy::SecretString;

use super::{ReportError, Snapshot, SnapshotSpec, check_request, run_and_audit_by};
use crate::{
    clock::Clock,
    keyring::{Keyring, KeyringError, PassphraseTries, StewardShare, TooManyTries, Unlock},
    seal::{SealError, random_id},
    staff::Accounts,
    store::{DbConn, StoreError},
    survey::Surveys,
};

/// The most runs that may wait at once: each holds up to k shares in RAM.
pub const MAX_PENDING: usize = 20;

/// The actor the audit trail names when a run expires on its own.
pub const EXPIRY_ACTOR: &str = "expiry";

pub struct PendingRuns {
    clock: Arc<Clock>,
    ttl_seconds: i64,
    runs: Mutex<HashMap<String, PendingRun>>,
}

struct PendingRun {
    spec: SnapshotSpec,
    requested_by: String,
    expires_at: i64,
    threshold: usize,
    /// Who contributed each share and when, in the order of `shares`.
    contributors: Vec<Contributor>,
    shares: Vec<StewardShare>,
}

/// One contribution as anyone on the staff may see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contributor {
    pub account: String,
    pub steward: String,
    pub at: i64,
}

/// A waiting run as the staff page shows it: no secrets.
#[derive(Clone, Debug)]
pub struct PendingView {
    pub id: String,
    pub spec: SnapshotSpec,
    pub requested_by: String,
    pub expires_at: i64,
    pub threshold: usize,
    pub contributors: Vec<Contributor>,
}

/// Where a run stands after a contribution.
pub enum Progress {
    Waiting { id: String, have: usize, need: usize },
    Released(Box<Snapshot>),
}

#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    #[error("no such waiting release: it ran, expired or was cancelled")]
    Gone,
    #[error("you have already given a share to this release: another steward must sign in and give theirs")]
    AlreadyContributed,
    #[error("steward {0} has already given their share to this release")]
    StewardIn(String),
    #[error("{MAX_PENDING} releases are already waiting for stewards: let one run, expire or be cancelled first")]
    TooMany,
    #[error("only the staff member who asked for a release, or an admin, may cancel it")]
    NotYours,
    #[error(transparent)]
    Throttled(#[from] TooManyTries),
    #[error(transparent)]
    Report(#[from] ReportError),
}

impl From<KeyringError> for PendingError {
    fn from(e: KeyringError) -> Self {
        Self::Report(e.into())
    }
}

impl From<StoreError> for PendingError {
    fn from(e: StoreError) -> Self {
        Self::Report(e.into())
    }
}

impl PendingError {
    /// An internal failure (the database), as opposed to a refusal to show the person.
    pub fn into_store(self) -> Result<String, StoreError> {
        match self {
            Self::Report(ReportError::Store(e)) | Self::Report(ReportError::Keyring(KeyringError::Store(e))) => Err(e),
            other => Ok(other.to_string()),
        }
    }
}

/// The doors' view of the rooms a contribution touches.
pub struct Ctx<'a> {
    pub surveys: &'a Surveys,
    pub accounts: &'a Accounts,
    pub tries: &'a PassphraseTries,
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

fn describe(spec: &SnapshotSpec) -> String {
    let cut = |s: &str| s.chars().take(40).collect::<String>();
    format!("{} through {}, rho {:.3}", cut(&spec.survey), cut(&spec.through), spec.rho)
}

impl PendingRuns {
    pub fn new(clock: Arc<Clock>, ttl: std::time::Duration) -> Self {
        Self { clock, ttl_seconds: ttl.as_secs() as i64, runs: Mutex::default() }
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingRun>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forget every run past its expiry (its shares are zeroized as they drop) and audit each.
    pub fn expire(&self, conn: &mut DbConn, accounts: &Accounts) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let gone: Vec<(String, PendingRun)> = {
            let mut runs = self.runs();
            let ids: Vec<String> = runs.iter().filter(|(_, r)| r.expires_at <= now).map(|(id, _)| id.clone()).collect();
            ids.into_iter().filter_map(|id| runs.remove_entry(&id)).collect()
        };
        for (id, run) in &gone {
            let target = format!(
                "run {} ({}), asked by {}: {} of {} shares, wiped",
                short(id),
                describe(&run.spec),
                run.requested_by,
                run.shares.len(),
                run.threshold
            );
            accounts.audit(conn, EXPIRY_ACTOR, "release_expired", &target)?;
        }
        Ok(gone.len())
    }

    /// Whether any run is past its expiry (cheap: RAM only).
    pub fn any_expired(&self) -> bool {
        let now = self.clock.now();
        self.runs().values().any(|r| r.expires_at <= now)
    }

    /// The runs waiting now, oldest expiry first.
    pub fn list(&self, conn: &mut DbConn, accounts: &Accounts) -> Result<Vec<PendingView>, StoreError> {
        self.expire(conn, accounts)?;
        let mut out: Vec<PendingView> = self
            .runs()
            .iter()
            .map(|(id, r)| PendingView {
                id: id.clone(),
                spec: r.spec.clone(),
                requested_by: r.requested_by.clone(),
                expires_at: r.expires_at,
                threshold: r.threshold,
                contributors: r.contributors.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Shares held in RAM by every waiting run (for tests that prove an expired run leaves none).
    #[doc(hidden)]
    pub fn shares_held(&self) -> usize {
        self.runs().values().map(|r| r.shares.len()).sum()
    }

    /// Ask for a release: checked now (month, survey, budget), run once k stewards have given their
    /// shares. With a passphrase, the one asking gives their own share at once; with a threshold of
    /// 1 that runs it straight away. A wrong passphrase leaves nothing waiting.
    pub fn request(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx<'_>,
        spec: SnapshotSpec,
        actor: &str,
        share: Option<(Option<&str>, &SecretString)>,
    ) -> Result<Progress, PendingError> {
        self.expire(conn, ctx.accounts)?;
        check_request(conn, ctx.surveys, &spec)?;
        let custody = Keyring::custody(conn)?.ok_or(KeyringError::NoKey)?;
        if self.runs().len() >= MAX_PENDING {
            return Err(PendingError::TooMany);
        }
        if custody.legacy {
            // A key sealed directly under one passphrase (before custody): there is no share to
            // hold, so the run happens now or not at all.
            let Some((_, pass)) = share else {
                return Err(KeyringError::Custody(
                    "this installation predates custody: convert it with `chorus keys reshare` before asking for releases without a passphrase".into(),
                ).into());
            };
            ctx.tries.check(actor)?;
            let result = run_and_audit_by(
                conn,
                ctx.surveys,
                ctx.accounts,
                Unlock::Passphrases(std::slice::from_ref(pass)),
                &spec,
                actor,
            );
            if is_wrong_passphrase(&result) {
                self.wrong_passphrase(conn, ctx, actor, &spec)?;
            }
            return Ok(Progress::Released(Box::new(result?)));
        }
        let opened = match share {
            Some((steward, pass)) => Some(self.open_share(conn, ctx, actor, steward, &[], pass, &spec)?),
            None => None,
        };
        let id = random_id();
        let run = PendingRun {
            spec,
            requested_by: actor.to_owned(),
            expires_at: self.clock.now() + self.ttl_seconds,
            threshold: custody.threshold,
            contributors: vec![],
            shares: vec![],
        };
        ctx.accounts.audit(
            conn,
            actor,
            "release_requested",
            &format!(
                "run {} ({}): needs {} of {} stewards",
                short(&id),
                describe(&run.spec),
                custody.threshold,
                custody.stewards.len()
            ),
        )?;
        self.runs().insert(id.clone(), run);
        match opened {
            Some(share) => self.add_share(conn, ctx, &id, actor, share),
            None => Ok(Progress::Waiting { id, have: 0, need: custody.threshold }),
        }
    }

    /// A steward gives their share to a waiting run: their passphrase opens it here (slow: call this
    /// off the async threads), the passphrase is dropped, and the share waits with the run. One
    /// share per staff account and per steward. The k-th share runs the release.
    pub fn contribute(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx<'_>,
        id: &str,
        actor: &str,
        steward: Option<&str>,
        passphrase: &SecretString,
    ) -> Result<Progress, PendingError> {
        self.expire(conn, ctx.accounts)?;
        let (skip, spec) = {
            let runs = self.runs();
            let run = runs.get(id).ok_or(PendingError::Gone)?;
            if run.contributors.iter().any(|c| c.account == actor) {
                return Err(PendingError::AlreadyContributed);
            }
            if let Some(name) = steward.filter(|n| run.contributors.iter().any(|c| c.steward == *n)) {
                return Err(PendingError::StewardIn(name.to_owned()));
            }
            (run.contributors.iter().map(|c| c.steward.clone()).collect::<Vec<_>>(), run.spec.clone())
        };
        let share = self.open_share(conn, ctx, actor, steward, &skip, passphrase, &spec)?;
        self.add_share(conn, ctx, id, actor, share)
    }

    /// Cancel a waiting run (the one who asked, or an admin); its shares are wiped.
    pub fn cancel(
        &self,
        conn: &mut DbConn,
        accounts: &Accounts,
        id: &str,
        actor: &str,
        admin: bool,
    ) -> Result<(), PendingError> {
        let run = {
            let mut runs = self.runs();
            let run = runs.get(id).ok_or(PendingError::Gone)?;
            if !admin && run.requested_by != actor {
                return Err(PendingError::NotYours);
            }
            runs.remove(id).ok_or(PendingError::Gone)?
        };
        let target = format!(
            "run {} ({}): {} of {} shares, wiped",
            short(id),
            describe(&run.spec),
            run.shares.len(),
            run.threshold
        );
        drop(run);
        accounts.audit(conn, actor, "release_cancelled", &target)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn open_share(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx<'_>,
        actor: &str,
        steward: Option<&str>,
        skip: &[String],
        passphrase: &SecretString,
        spec: &SnapshotSpec,
    ) -> Result<StewardShare, PendingError> {
        // Online guessing: past the per-account or global limit, refuse before any derivation.
        if let Err(too_many) = ctx.tries.check(actor) {
            ctx.accounts.audit(conn, actor, "passphrase_throttled", &describe(spec))?;
            return Err(too_many.into());
        }
        match Keyring::open_share(conn, steward, skip, passphrase) {
            Ok(share) => Ok(share),
            Err(KeyringError::Seal(SealError::WrongPassphrase)) => {
                self.wrong_passphrase(conn, ctx, actor, spec)?;
                Err(KeyringError::Seal(SealError::WrongPassphrase).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn wrong_passphrase(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx<'_>,
        actor: &str,
        spec: &SnapshotSpec,
    ) -> Result<(), StoreError> {
        ctx.tries.failed(actor);
        ctx.accounts.audit(conn, actor, "passphrase_failed", &describe(spec))
    }

    fn add_share(
        &self,
        conn: &mut DbConn,
        ctx: &Ctx<'_>,
        id: &str,
        actor: &str,
        share: StewardShare,
    ) -> Result<Progress, PendingError> {
        let steward = share.steward.clone();
        let (have, need, ready) = {
            let mut runs = self.runs();
            // The run may have expired or been cancelled while the passphrase was derived: the
            // share is dropped (and wiped) with this error.
            let run = runs.get_mut(id).ok_or(PendingError::Gone)?;
            if run.contributors.iter().any(|c| c.account == actor) {
                return Err(PendingError::AlreadyContributed);
            }
            if run.contributors.iter().any(|c| c.steward == steward) {
                return Err(PendingError::StewardIn(steward));
            }
            run.contributors.push(Contributor {
                account: actor.to_owned(),
                steward: steward.clone(),
                at: self.clock.now(),
            });
            run.shares.push(share);
            let (have, need) = (run.shares.len(), run.threshold);
            let ready = if have >= need { runs.remove(id) } else { None };
            (have, need, ready)
        };
        let target = format!("run {}: steward {steward} ({have} of {need})", short(id));
        ctx.accounts.audit(conn, actor, "share_contributed", &target)?;
        let Some(run) = ready else {
            return Ok(Progress::Waiting { id: id.to_owned(), have, need });
        };
        let who: Vec<&str> = run.contributors.iter().map(|c| c.steward.as_str()).collect();
        let target = format!("run {} ({}): stewards {}", short(id), describe(&run.spec), who.join(", "));
        ctx.accounts.audit(conn, actor, "release_started", &target)?;
        let result = run_and_audit_by(
            conn,
            ctx.surveys,
            ctx.accounts,
            Unlock::Shares(&run.shares),
            &run.spec,
            &run.requested_by,
        );
        // The shares and everything opened with them are wiped here, whatever the outcome.
        drop(run);
        Ok(Progress::Released(Box::new(result?)))
    }
}

fn is_wrong_passphrase<T>(result: &Result<T, ReportError>) -> bool {
    matches!(result, Err(ReportError::Keyring(KeyringError::Seal(SealError::WrongPassphrase))))
}
