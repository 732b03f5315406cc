//! The keyring ties the pure key hierarchy in `seal` to the rows in `store`: it creates and rotates
//! report keys, keeps the current epoch key in RAM while answers arrive, and, given the steward's
//! passphrase, opens a survey's answers for one report run.

mod custody;
mod epochs;
mod stream;

use std::{collections::HashMap, sync::Mutex};

use secrecy::SecretString;

use crate::{
    month::Month,
    seal::{
        self, AnswerAad, EpochKey, KdfCost, KdfParams, Padded, ReportKeypair, ReportPrivateKey, SealError,
        SealedPrivateKey, random_id,
    },
    store::{DbConn, StoreError, keys},
};

pub use custody::{Custody, NewSteward, Reshare, StewardShare, UNSEAL_KEY_MARKER, Unlock};
pub use epochs::NextEpochDue;
use epochs::{CurrentEpoch, Epochs};
pub use stream::RowHead;

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no report key exists yet: run `chorus init` or `chorus keys init` first")]
    NoKey,
    #[error("a report key already exists; use `chorus keys rotate` to make a new one")]
    AlreadyInitialised,
    #[error("this needs {threshold} stewards' passphrases; {given} given")]
    NeedStewards { threshold: usize, given: usize },
    #[error("custody: {0}")]
    Custody(String),
}

impl From<diesel::result::Error> for KeyringError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

/// One Argon2id derivation at a time in the whole process: each takes the configured memory (256 MiB
/// by default), so parallel report runs, passphrase changes or guesses cannot multiply it.
static DERIVATION: Mutex<()> = Mutex::new(());

/// Run `f` (a key derivation) while holding the process-wide derivation lock.
fn one_derivation_at_a_time<T>(f: impl FnOnce() -> T) -> T {
    let _held = DERIVATION.lock().unwrap_or_else(|p| p.into_inner());
    f()
}

/// Failed passphrase tries, in RAM: per staff account and from everyone together, each in a fixed
/// window. Past either limit a report run is refused before any key derivation, so an online guesser
/// gets a handful of tries an hour, not one per Argon2id second.
pub struct PassphraseTries {
    clock: std::sync::Arc<crate::clock::Clock>,
    inner: Mutex<Tries>,
}

#[derive(Default)]
struct Tries {
    window: i64,
    global: u32,
    per_account: HashMap<String, u32>,
}

/// Why a passphrase try was refused before it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TooManyTries {
    #[error("too many wrong passphrases from this account; try again within the hour")]
    Account,
    #[error("too many wrong passphrases on this server; try again within the hour")]
    Global,
}

impl PassphraseTries {
    pub const WINDOW_SECONDS: i64 = 3600;
    pub const PER_ACCOUNT: u32 = 5;
    pub const GLOBAL: u32 = 20;

    pub fn new(clock: std::sync::Arc<crate::clock::Clock>) -> Self {
        Self { clock, inner: Mutex::default() }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Tries> {
        let window = self.clock.now().div_euclid(Self::WINDOW_SECONDS);
        let mut tries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if tries.window != window {
            *tries = Tries { window, ..Tries::default() };
        }
        tries
    }

    /// Whether `account` may try a passphrase now.
    pub fn check(&self, account: &str) -> Result<(), TooManyTries> {
        let tries = self.current();
        if tries.per_account.get(account).copied().unwrap_or(0) >= Self::PER_ACCOUNT {
            return Err(TooManyTries::Account);
        }
        if tries.global >= Self::GLOBAL {
            return Err(TooManyTries::Global);
        }
        Ok(())
    }

    /// Count one wrong passphrase from `account`.
    pub fn failed(&self, account: &str) {
        let mut tries = self.current();
        tries.global = tries.global.saturating_add(1);
        let n = tries.per_account.entry(account.to_owned()).or_default();
        *n = n.saturating_add(1);
    }
}

pub struct Keyring {
    kdf: KdfCost,
    max_per_epoch: u64,
    epochs: Mutex<Epochs>,
    /// A report key has been seen. Report keys are never deleted and a rotation makes another one
    /// active, so once seen this stays true.
    set_up: std::sync::atomic::AtomicBool,
}

/// The row flags an answer is sealed with; bound as associated data, so changing them in the database
/// makes the row fail to open.
#[derive(Clone, Copy, Debug, Default)]
pub struct RowFlags {
    pub verified: bool,
    pub synthetic: bool,
}

/// What `Unsealed::for_each_answer` (or `open_in_parallel`) went through. A row that does not open is counted, never skipped
/// in silence: it was altered (moved, re-flagged) or damaged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Streamed {
    pub opened: u64,
    /// Rows that did not open under their associated data.
    pub failed: u64,
    /// Rows that opened only under the version 1 associated data (sealed before month and flags were
    /// bound): counted in `opened`, but their month and flags are not protected.
    pub legacy: u64,
}

/// What sealing an answer gives the caller to store.
pub struct SealedAnswer {
    pub response_id: String,
    pub month: String,
    pub epoch_id: String,
    pub sealed: seal::Sealed,
}

impl Keyring {
    pub fn new(kdf: KdfCost, max_per_epoch: u64) -> Self {
        Self { kdf, max_per_epoch: max_per_epoch.max(1), epochs: Mutex::default(), set_up: false.into() }
    }

    /// Whether answers can be sealed (a report key exists). The respondent form asks on every
    /// rendering; after the first yes it costs no query (the query was 7% of the form's profile:
    /// SQLite re-prepares a statement with a bound `LIMIT` at each execution, docs/benchmarks.md).
    /// A no is never remembered, so setup shows at once.
    pub fn ready(&self, conn: &mut DbConn) -> Result<bool, StoreError> {
        if self.known_ready() {
            return Ok(true);
        }
        let ready = keys::active_report_key(conn)?.is_some();
        self.set_up.fetch_or(ready, std::sync::atomic::Ordering::Relaxed);
        Ok(ready)
    }

    /// `ready` from memory alone: false means "ask with a connection", not "not set up".
    pub fn known_ready(&self) -> bool {
        self.set_up.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn has_key(conn: &mut DbConn) -> Result<bool, KeyringError> {
        Ok(keys::active_report_key(conn)?.is_some())
    }

    /// Create the first report key with one steward (1-of-1 custody). Slow (Argon2id): call it off
    /// the async threads. See [`Keyring::init_custody`] for k-of-n.
    pub fn init(&self, conn: &mut DbConn, passphrase: &SecretString) -> Result<String, KeyringError> {
        let steward = NewSteward { name: "steward-1".to_owned(), passphrase: passphrase.clone() };
        self.init_custody(conn, std::slice::from_ref(&steward), 1)
    }

    fn create_key(&self, conn: &mut DbConn, passphrase: &SecretString) -> Result<String, KeyringError> {
        let id = random_id();
        let kp = ReportKeypair::generate();
        let sealed = one_derivation_at_a_time(|| kp.seal(&id, passphrase, &KdfParams::new(self.kdf)))?;
        let ordinal = keys::all_report_keys(conn)?.iter().map(|k| k.ordinal).max().unwrap_or(0) + 1;
        let row = keys::ReportKeyRow {
            id: id.clone(),
            ordinal,
            public_key: kp.public.to_vec(),
            sealed_private_key: sealed.blob,
            kdf: sealed.kdf,
            created_month: Month::now().to_string(),
            active: true,
        };
        keys::insert_report_key(conn, &row)?;
        keys::activate_only(conn, &id)?;
        self.end_epoch();
        Ok(id)
    }

    /// Re-wrap every report key under a new passphrase. Answers and epochs are untouched.
    pub fn change_passphrase(
        &self,
        conn: &mut DbConn,
        old: &SecretString,
        new: &SecretString,
    ) -> Result<(), KeyringError> {
        seal::check_passphrase_strength(new)?;
        if !keys::stewards(conn)?.is_empty() {
            self.change_steward_passphrase(conn, None, old, new)?;
            return Ok(());
        }
        let rows = keys::all_report_keys(conn)?;
        if rows.is_empty() {
            return Err(KeyringError::NoKey);
        }
        let mut rewrapped = Vec::with_capacity(rows.len());
        for row in &rows {
            let private = open_row(row, old)?;
            let kp = ReportKeypair { public: public_of(row)?, private };
            let sealed = one_derivation_at_a_time(|| kp.seal(&row.id, new, &KdfParams::new(self.kdf)))?;
            rewrapped.push((row.id.clone(), sealed));
        }
        // All or nothing: a half-changed passphrase would lock the steward out of some answers.
        conn.write_transaction(|conn| {
            for (id, sealed) in &rewrapped {
                keys::update_sealed_private_key(conn, id, &sealed.blob, &sealed.kdf)?;
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(())
    }

    /// A new keypair for new answers, sealed under the same passphrase (checked against the current key).
    pub fn rotate(&self, conn: &mut DbConn, passphrase: &SecretString) -> Result<String, KeyringError> {
        if !keys::stewards(conn)?.is_empty() {
            return self.rotate_with(conn, std::slice::from_ref(passphrase));
        }
        let current = keys::active_report_key(conn)?.ok_or(KeyringError::NoKey)?;
        open_row(&current, passphrase)?;
        self.create_key(conn, passphrase)
    }

    /// Forget the current epoch key and any prepared one (zeroized on drop); the next answer starts a
    /// new epoch.
    pub fn end_epoch(&self) {
        self.lock_epochs().end();
    }

    fn lock_epochs(&self) -> std::sync::MutexGuard<'_, Epochs> {
        self.epochs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the next epoch should be prepared now, off the request path (`keyring::epochs`).
    pub fn next_epoch_due(&self) -> Option<NextEpochDue> {
        self.lock_epochs().due(self.max_per_epoch)
    }

    /// Store the next epoch's row and keep its key ready for when the current one is spent. The
    /// keyring's lock is not held meanwhile: submissions go on sealing with the current epoch.
    pub fn prepare_next_epoch(&self, conn: &mut DbConn, due: NextEpochDue) -> Result<(), KeyringError> {
        match self.new_epoch(conn, Month::now()) {
            Ok(epoch) => {
                self.lock_epochs().prepared(due, Some(epoch));
                Ok(())
            }
            Err(e) => {
                self.lock_epochs().prepared(due, None);
                Err(e)
            }
        }
    }

    /// Seal one answer set as the response `response_id` (bound as associated data) under the current
    /// epoch, starting a new epoch when the month changes, the epoch is full or none exists yet. Needs
    /// no passphrase: only the public key is used.
    pub fn seal(
        &self,
        conn: &mut DbConn,
        response_id: String,
        at: (&str, i32),
        flags: RowFlags,
        plaintext: &Padded,
    ) -> Result<SealedAnswer, KeyringError> {
        let sealed = self.seal_with(Some(conn), response_id, at, flags, plaintext)?;
        Ok(sealed.expect("with a connection a new epoch can always be started"))
    }

    /// As `seal`, without a database: None when a new epoch would have to be stored first (then the
    /// caller seals with a connection, off the async worker). Nothing is counted in that case.
    pub fn seal_in_memory(
        &self,
        response_id: String,
        at: (&str, i32),
        flags: RowFlags,
        plaintext: &Padded,
    ) -> Result<Option<SealedAnswer>, KeyringError> {
        self.seal_with(None, response_id, at, flags, plaintext)
    }

    /// `at`: the survey's slug and version.
    fn seal_with(
        &self,
        conn: Option<&mut DbConn>,
        response_id: String,
        (slug, version): (&str, i32),
        flags: RowFlags,
        plaintext: &Padded,
    ) -> Result<Option<SealedAnswer>, KeyringError> {
        let mut epochs = self.lock_epochs();
        let month = Month::now();
        if epochs.usable(month, self.max_per_epoch).is_none() {
            // None prepared in time (or the first answer, a new month, a new report key): this
            // submission starts the epoch itself, holding the lock so that only one is started.
            let Some(conn) = conn else { return Ok(None) };
            epochs.start(self.new_epoch(conn, month)?);
        }
        let epoch = epochs.usable(month, self.max_per_epoch).expect("an epoch was just ensured");
        epoch.sealed += 1;
        let month = month.to_string();
        let aad = AnswerAad {
            response_id: &response_id,
            survey_slug: slug,
            survey_version: version,
            epoch_id: &epoch.id,
            month: &month,
            verified: flags.verified,
            synthetic: flags.synthetic,
        };
        let sealed = seal::seal_answer(&epoch.key, &aad, plaintext);
        Ok(Some(SealedAnswer { response_id, month, epoch_id: epoch.id.clone(), sealed }))
    }

    fn new_epoch(&self, conn: &mut DbConn, month: Month) -> Result<CurrentEpoch, KeyringError> {
        let key_row = keys::active_report_key(conn)?.ok_or(KeyringError::NoKey)?;
        let id = random_id();
        let key = EpochKey::generate();
        let wrapped_key = key.wrap(&public_of(&key_row)?, &id)?;
        keys::insert_epoch(
            conn,
            &keys::EpochRow { id: id.clone(), report_key_id: key_row.id, wrapped_key, month: month.to_string() },
        )?;
        Ok(CurrentEpoch { id, key, month, sealed: 0 })
    }

    /// Unwrap every report key with the passphrase for one run. Everything is zeroized when the
    /// returned value is dropped.
    pub fn unseal(conn: &mut DbConn, passphrase: &SecretString) -> Result<Unsealed, KeyringError> {
        Self::unseal_with(conn, std::slice::from_ref(passphrase))
    }

    /// Unwrap every report key with k stewards' passphrases (custody), or the one passphrase of an
    /// installation from before custody.
    pub fn unseal_with(conn: &mut DbConn, passphrases: &[SecretString]) -> Result<Unsealed, KeyringError> {
        Self::unseal_by(conn, Unlock::Passphrases(passphrases))
    }

    /// Unwrap every report key with passphrases or with k stewards' shares opened earlier.
    pub fn unseal_by(conn: &mut DbConn, unlock: Unlock<'_>) -> Result<Unsealed, KeyringError> {
        let opened = Self::open_all_keys_by(conn, unlock)?;
        let keys: HashMap<String, ReportPrivateKey> = opened.into_iter().map(|(row, key)| (row.id, key)).collect();
        Ok(Unsealed { keys, epochs: HashMap::new() })
    }
}

fn public_of(row: &keys::ReportKeyRow) -> Result<[u8; 32], KeyringError> {
    Ok(row.public_key.as_slice().try_into().map_err(|_| SealError::Format("public key length"))?)
}

fn open_row(row: &keys::ReportKeyRow, passphrase: &SecretString) -> Result<ReportPrivateKey, KeyringError> {
    let sealed = SealedPrivateKey { kdf: row.kdf.clone(), blob: row.sealed_private_key.clone() };
    let public = public_of(row)?;
    Ok(one_derivation_at_a_time(|| sealed.open(&row.id, &public, passphrase))?)
}

/// One opened answer set, handed to the report pass. Its plaintext is zeroized on drop.
pub struct OpenedAnswer<'a> {
    /// The row's random id: a release uses it only hashed, with all the others it covers, into the
    /// fingerprint that serves the same request the stored release again.
    pub id: &'a str,
    pub survey_version: i32,
    pub month: &'a str,
    pub synthetic: bool,
    pub verified: bool,
    pub plaintext: Padded,
}

/// The unsealed key material of one run.
pub struct Unsealed {
    keys: HashMap<String, ReportPrivateKey>,
    /// Shared with the opening threads of a run; each key is wiped when its last holder drops it.
    epochs: HashMap<String, std::sync::Arc<EpochKey>>,
}

impl Unsealed {
    /// Only for tests that prove no opened key reaches the database: every report private key.
    #[doc(hidden)]
    pub fn secrets_for_leak_tests(&self) -> Vec<[u8; 32]> {
        self.keys.values().map(ReportPrivateKey::bytes_for_leak_tests).collect()
    }

    /// An opened report private key, for unwrapping what is sealed to it (the release-signing key).
    pub(crate) fn report_key(&self, id: &str) -> Option<&ReportPrivateKey> {
        self.keys.get(id)
    }
}
