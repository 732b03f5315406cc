//! k-of-n custody: the steward rows in `store` joined to the sharing in `seal`. The report private
//! keys are wrapped under a random unseal key, split k-of-n; k stewards' passphrases open k shares,
//! which combine into the unseal key for one run. Installations made before custody (report keys
//! sealed directly under one passphrase, no steward rows) keep working, and `reshare` converts them.

use secrecy::{ExposeSecret, SecretString};

use super::{Keyring, KeyringError, one_derivation_at_a_time, open_row, public_of};
use crate::{
    month::Month,
    seal::{self, KdfParams, ReportKeypair, ReportPrivateKey, SealError, Share, StewardKeypair, UnsealKey, random_id},
    store::{DbConn, StoreError, keys},
};

/// What `report_keys.kdf` says of a key wrapped under the unseal key rather than a passphrase.
pub const UNSEAL_KEY_MARKER: &str = "unseal-key";

/// A steward being given a share: a name (or label) and their own passphrase.
pub struct NewSteward {
    pub name: String,
    pub passphrase: SecretString,
}

/// The current sharing, as anyone may see it: no secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Custody {
    pub threshold: usize,
    pub stewards: Vec<String>,
    /// Report keys sealed directly under one passphrase (made before custody): `reshare` converts them.
    pub legacy: bool,
}

/// What a change of the sharing asks for.
#[derive(Default)]
pub struct Reshare {
    pub threshold: Option<usize>,
    pub add: Vec<NewSteward>,
    pub remove: Vec<String>,
}

/// One steward's share of the current sharing, opened for a pending report run. A pending run holds
/// this (zeroized on drop), never the passphrase that opened it; on its own it opens nothing unless
/// the threshold is 1.
pub struct StewardShare {
    pub steward: String,
    generation: String,
    share: Share,
}

impl std::fmt::Debug for StewardShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StewardShare({}, [redacted])", self.steward)
    }
}

/// What opens the report keys for one run: k stewards' passphrases (the console), or k shares
/// already opened one by one (a pending run on the web).
#[derive(Clone, Copy)]
pub enum Unlock<'a> {
    Passphrases(&'a [SecretString]),
    Shares(&'a [StewardShare]),
}

struct Recovered {
    unseal: UnsealKey,
    generation: String,
    threshold: usize,
    rows: Vec<keys::StewardRow>,
}

fn bad(msg: impl Into<String>) -> KeyringError {
    KeyringError::Custody(msg.into())
}

impl Keyring {
    /// The current sharing (thresholds and names), or `None` before any key exists.
    pub fn custody(conn: &mut DbConn) -> Result<Option<Custody>, KeyringError> {
        let rows = keys::stewards(conn)?;
        if let Some(first) = rows.first() {
            let threshold = first.threshold as usize;
            return Ok(Some(Custody {
                threshold,
                stewards: rows.into_iter().map(|r| r.name).collect(),
                legacy: false,
            }));
        }
        Ok(if keys::all_report_keys(conn)?.is_empty() {
            None
        } else {
            Some(Custody { threshold: 1, stewards: vec![], legacy: true })
        })
    }

    /// Create the first report key under a new k-of-n sharing: one passphrase per steward, each
    /// checked against the entropy rule before any work. Slow (n Argon2id derivations).
    pub fn init_custody(
        &self,
        conn: &mut DbConn,
        stewards: &[NewSteward],
        threshold: usize,
    ) -> Result<String, KeyringError> {
        check_new_stewards(stewards, &[])?;
        if threshold == 0 || threshold > stewards.len() {
            return Err(bad(format!(
                "the threshold must be between 1 and {} (the number of stewards)",
                stewards.len()
            )));
        }
        if !keys::all_report_keys(conn)?.is_empty() {
            return Err(KeyringError::AlreadyInitialised);
        }
        let id = random_id();
        let kp = ReportKeypair::generate();
        let unseal = UnsealKey::generate();
        let generation = random_id();
        let wrapped = unseal.wrap_report_key(&generation, &id, &kp.public, &kp.private);
        let mut kept = Vec::new();
        for s in stewards {
            kept.push(self.new_steward_row(s)?);
        }
        let rows = share_out(&unseal, &generation, threshold, kept)?;
        let row = keys::ReportKeyRow {
            id: id.clone(),
            ordinal: 1,
            public_key: kp.public.to_vec(),
            sealed_private_key: wrapped,
            kdf: UNSEAL_KEY_MARKER.to_owned(),
            created_month: Month::now().to_string(),
            active: true,
        };
        conn.write_transaction(|conn| {
            keys::insert_report_key(conn, &row)?;
            keys::activate_only(conn, &id)?;
            keys::replace_sharing(conn, &rows, &[], UNSEAL_KEY_MARKER)?;
            Ok::<_, StoreError>(())
        })?;
        self.end_epoch();
        Ok(id)
    }

    fn new_steward_row(&self, s: &NewSteward) -> Result<keys::StewardRow, KeyringError> {
        let id = random_id();
        let kp = StewardKeypair::generate();
        let sealed = one_derivation_at_a_time(|| kp.seal(&id, &s.passphrase, &KdfParams::new(self.kdf)))?;
        Ok(keys::StewardRow {
            id,
            name: s.name.clone(),
            share_index: 0,
            threshold: 0,
            generation: String::new(),
            public_key: kp.public().to_vec(),
            sealed_private_key: sealed.blob,
            kdf: sealed.kdf,
            wrapped_share: Vec::new(),
            created_at: now(),
        })
    }

    /// Every report private key, opened with k stewards' passphrases (custody) or the one passphrase
    /// (an installation from before custody). A passphrase that opens no steward is an error, so the
    /// caller can count it as a wrong try.
    pub(super) fn open_all_keys(
        conn: &mut DbConn,
        passphrases: &[SecretString],
    ) -> Result<Vec<(keys::ReportKeyRow, ReportPrivateKey)>, KeyringError> {
        let rows = keys::all_report_keys(conn)?;
        if rows.is_empty() {
            return Err(KeyringError::NoKey);
        }
        if keys::stewards(conn)?.is_empty() {
            let pass = passphrases.first().ok_or(SealError::WrongPassphrase)?;
            return rows
                .into_iter()
                .map(|row| {
                    let private = open_row(&row, pass)?;
                    Ok((row, private))
                })
                .collect();
        }
        open_with(rows, &recover(conn, passphrases)?)
    }

    /// [`Self::open_all_keys`] with passphrases or with shares opened earlier.
    pub(super) fn open_all_keys_by(
        conn: &mut DbConn,
        unlock: Unlock<'_>,
    ) -> Result<Vec<(keys::ReportKeyRow, ReportPrivateKey)>, KeyringError> {
        let shares = match unlock {
            Unlock::Passphrases(passphrases) => return Self::open_all_keys(conn, passphrases),
            Unlock::Shares(shares) => shares,
        };
        let rows = keys::all_report_keys(conn)?;
        if rows.is_empty() {
            return Err(KeyringError::NoKey);
        }
        open_with(rows, &recover_from_shares(conn, shares)?)
    }

    /// Open one steward's share with their passphrase: the steward named, or else the first of
    /// those not in `skip` that the passphrase opens. Slow (one Argon2id derivation per steward
    /// tried, under the process-wide lock): call it off the async threads.
    pub fn open_share(
        conn: &mut DbConn,
        name: Option<&str>,
        skip: &[String],
        passphrase: &SecretString,
    ) -> Result<StewardShare, KeyringError> {
        let rows = keys::stewards(conn)?;
        if rows.is_empty() {
            return Err(bad("this installation predates custody: convert it with `chorus keys reshare`"));
        }
        if let Some(n) = name.filter(|n| !rows.iter().any(|r| r.name.as_str() == *n)) {
            return Err(bad(format!("there is no steward named {n:?}")));
        }
        for row in rows.iter().filter(|r| name.is_none_or(|n| n == r.name) && !skip.contains(&r.name)) {
            let Ok(kp) = open_steward(row, passphrase) else { continue };
            let index = u8::try_from(row.share_index).map_err(|_| SealError::Format("share index"))?;
            let share = kp.open_share(&row.generation, &row.id, index, &row.wrapped_share)?;
            return Ok(StewardShare { steward: row.name.clone(), generation: row.generation.clone(), share });
        }
        Err(SealError::WrongPassphrase.into())
    }

    /// Only for tests that prove the unseal key never reaches the database.
    #[doc(hidden)]
    pub fn unseal_key_for_leak_tests(
        conn: &mut DbConn,
        passphrases: &[SecretString],
    ) -> Result<[u8; 32], KeyringError> {
        Ok(recover(conn, passphrases)?.unseal.bytes_for_leak_tests())
    }

    /// A new report key for new answers, wrapped under the current unseal key (k stewards).
    pub fn rotate_with(&self, conn: &mut DbConn, passphrases: &[SecretString]) -> Result<String, KeyringError> {
        if keys::stewards(conn)?.is_empty() {
            let pass = passphrases.first().ok_or(SealError::WrongPassphrase)?;
            return self.rotate(conn, pass);
        }
        let r = recover(conn, passphrases)?;
        let current = keys::active_report_key(conn)?.ok_or(KeyringError::NoKey)?;
        // The combined key must open the current key before anything new is wrapped under it.
        r.unseal.open_report_key(&r.generation, &current.id, &public_of(&current)?, &current.sealed_private_key)?;
        let id = random_id();
        let kp = ReportKeypair::generate();
        let ordinal = keys::all_report_keys(conn)?.iter().map(|k| k.ordinal).max().unwrap_or(0) + 1;
        let row = keys::ReportKeyRow {
            id: id.clone(),
            ordinal,
            public_key: kp.public.to_vec(),
            sealed_private_key: r.unseal.wrap_report_key(&r.generation, &id, &kp.public, &kp.private),
            kdf: UNSEAL_KEY_MARKER.to_owned(),
            created_month: Month::now().to_string(),
            active: true,
        };
        conn.write_transaction(|conn| {
            keys::insert_report_key(conn, &row)?;
            keys::activate_only(conn, &id)
        })?;
        self.end_epoch();
        Ok(id)
    }

    /// One steward re-seals their own key under a new passphrase (their share and everyone else's
    /// are untouched). `name` picks the steward; without it, the one the old passphrase opens.
    pub fn change_steward_passphrase(
        &self,
        conn: &mut DbConn,
        name: Option<&str>,
        old: &SecretString,
        new: &SecretString,
    ) -> Result<String, KeyringError> {
        seal::check_passphrase_strength(new)?;
        let rows = keys::stewards(conn)?;
        for row in rows.iter().filter(|r| name.is_none_or(|n| n == r.name)) {
            let Ok(kp) = open_steward(row, old) else { continue };
            let sealed = one_derivation_at_a_time(|| kp.seal(&row.id, new, &KdfParams::new(self.kdf)))?;
            keys::update_steward_key(conn, &row.id, &sealed.blob, &sealed.kdf)?;
            return Ok(row.name.clone());
        }
        if name.is_some_and(|n| !rows.iter().any(|r| r.name == n)) {
            return Err(bad(format!("there is no steward named {:?}", name.unwrap_or_default())));
        }
        Err(SealError::WrongPassphrase.into())
    }

    /// A new sharing: a fresh unseal key, split for the remaining and added stewards under the new
    /// threshold; every report key is re-wrapped. Needs k current stewards' passphrases (a removed
    /// steward's may be among them). Old shares, wherever copies of them are, open nothing in the
    /// database from then on. On an installation from before custody, the one passphrase opens the
    /// keys and its holder becomes the steward "steward-1".
    pub fn reshare(
        &self,
        conn: &mut DbConn,
        passphrases: &[SecretString],
        change: &Reshare,
    ) -> Result<Custody, KeyringError> {
        let current = keys::stewards(conn)?;
        let (opened, mut kept, old_threshold) = if current.is_empty() {
            let pass = passphrases.first().ok_or(SealError::WrongPassphrase)?;
            let opened = Self::open_all_keys(conn, std::slice::from_ref(pass))?;
            let first = NewSteward { name: "steward-1".to_owned(), passphrase: pass.clone() };
            (opened, vec![self.new_steward_row(&first)?], 1)
        } else {
            let r = recover(conn, passphrases)?;
            let mut opened = Vec::new();
            for row in keys::all_report_keys(conn)? {
                let private =
                    r.unseal.open_report_key(&r.generation, &row.id, &public_of(&row)?, &row.sealed_private_key)?;
                opened.push((row, private));
            }
            (opened, r.rows, r.threshold)
        };
        for name in &change.remove {
            if !kept.iter().any(|r| &r.name == name) {
                return Err(bad(format!("there is no steward named {name:?}")));
            }
        }
        kept.retain(|r| !change.remove.contains(&r.name));
        let names: Vec<String> = kept.iter().map(|r| r.name.clone()).collect();
        check_new_stewards(&change.add, &names)?;
        for s in &change.add {
            kept.push(self.new_steward_row(s)?);
        }
        let threshold = change.threshold.unwrap_or(old_threshold);
        if kept.is_empty() || threshold == 0 || threshold > kept.len() {
            return Err(bad(format!(
                "the threshold ({threshold}) must be between 1 and the number of stewards ({})",
                kept.len()
            )));
        }
        let unseal = UnsealKey::generate();
        let generation = random_id();
        let rewrapped: Vec<(String, Vec<u8>)> = opened
            .iter()
            .map(|(row, private)| {
                Ok((row.id.clone(), unseal.wrap_report_key(&generation, &row.id, &public_of(row)?, private)))
            })
            .collect::<Result<_, KeyringError>>()?;
        let rows = share_out(&unseal, &generation, threshold, kept)?;
        conn.write_transaction(|conn| keys::replace_sharing(conn, &rows, &rewrapped, UNSEAL_KEY_MARKER))?;
        Ok(Custody { threshold, stewards: rows.into_iter().map(|r| r.name).collect(), legacy: false })
    }
}

/// Split `unseal` for `stewards` (in order) and wrap each share to its steward.
fn share_out(
    unseal: &UnsealKey,
    generation: &str,
    threshold: usize,
    mut stewards: Vec<keys::StewardRow>,
) -> Result<Vec<keys::StewardRow>, KeyringError> {
    let shares = unseal.split(threshold, stewards.len())?;
    for (row, share) in stewards.iter_mut().zip(&shares) {
        let public: [u8; 32] =
            row.public_key.as_slice().try_into().map_err(|_| SealError::Format("steward public key length"))?;
        row.wrapped_share = seal::wrap_share(&public, generation, &row.id, share)?;
        row.share_index = i32::from(share.index);
        row.threshold = threshold as i32;
        row.generation = generation.to_owned();
    }
    Ok(stewards)
}

/// Names must be non-empty, short and distinct; passphrases strong and distinct.
fn check_new_stewards(new: &[NewSteward], existing: &[String]) -> Result<(), KeyringError> {
    let mut names: Vec<&str> = existing.iter().map(String::as_str).collect();
    for (i, s) in new.iter().enumerate() {
        let name = s.name.trim();
        if name.is_empty() || name.chars().count() > 60 || name != s.name {
            return Err(bad("a steward's name must be 1 to 60 characters, without surrounding spaces"));
        }
        if names.contains(&name) {
            return Err(bad(format!("two stewards are named {name:?}")));
        }
        names.push(name);
        seal::check_passphrase_strength(&s.passphrase)?;
        if new[..i].iter().any(|o| o.passphrase.expose_secret() == s.passphrase.expose_secret()) {
            return Err(bad("two stewards were given the same passphrase: each needs their own"));
        }
    }
    if names.len() > seal::MAX_STEWARDS {
        return Err(bad("at most 255 stewards"));
    }
    Ok(())
}

fn open_steward(row: &keys::StewardRow, passphrase: &SecretString) -> Result<StewardKeypair, KeyringError> {
    let public: [u8; 32] =
        row.public_key.as_slice().try_into().map_err(|_| SealError::Format("steward public key length"))?;
    let sealed = seal::SealedStewardKey { kdf: row.kdf.clone(), blob: row.sealed_private_key.clone() };
    Ok(one_derivation_at_a_time(|| StewardKeypair::open(&row.id, &public, &sealed, passphrase))?)
}

/// Every report key of `rows`, opened with the unseal key the stewards recovered.
fn open_with(
    rows: Vec<keys::ReportKeyRow>,
    r: &Recovered,
) -> Result<Vec<(keys::ReportKeyRow, ReportPrivateKey)>, KeyringError> {
    rows.into_iter()
        .map(|row| {
            let private =
                r.unseal.open_report_key(&r.generation, &row.id, &public_of(&row)?, &row.sealed_private_key)?;
            Ok((row, private))
        })
        .collect()
}

/// Open k shares with the given passphrases (each tried against the stewards not yet matched) and
/// combine them. Every passphrase must open some steward.
fn recover(conn: &mut DbConn, passphrases: &[SecretString]) -> Result<Recovered, KeyringError> {
    let rows = keys::stewards(conn)?;
    let first = rows.first().ok_or(KeyringError::NoKey)?;
    let (threshold, generation) = (first.threshold as usize, first.generation.clone());
    if rows.iter().any(|r| r.generation != generation || r.threshold as usize != threshold) {
        return Err(SealError::Tampered.into());
    }
    if passphrases.len() < threshold {
        return Err(KeyringError::NeedStewards { threshold, given: passphrases.len() });
    }
    let mut shares: Vec<Share> = Vec::with_capacity(threshold);
    let mut used = vec![false; rows.len()];
    for pass in passphrases.iter().take(threshold.max(1)) {
        let mut found = false;
        for (i, row) in rows.iter().enumerate() {
            if used[i] {
                continue;
            }
            if let Ok(kp) = open_steward(row, pass) {
                let index = u8::try_from(row.share_index).map_err(|_| SealError::Format("share index"))?;
                shares.push(kp.open_share(&generation, &row.id, index, &row.wrapped_share)?);
                used[i] = true;
                found = true;
                break;
            }
        }
        if !found {
            return Err(SealError::WrongPassphrase.into());
        }
    }
    let unseal = UnsealKey::combine(&shares)?;
    Ok(Recovered { unseal, generation, threshold, rows })
}

/// Combine shares opened earlier. They must belong to the current sharing (a reshare in between
/// makes them useless) and come from distinct stewards.
fn recover_from_shares(conn: &mut DbConn, shares: &[StewardShare]) -> Result<Recovered, KeyringError> {
    let rows = keys::stewards(conn)?;
    let first = rows.first().ok_or(KeyringError::NoKey)?;
    let (threshold, generation) = (first.threshold as usize, first.generation.clone());
    if rows.iter().any(|r| r.generation != generation || r.threshold as usize != threshold) {
        return Err(SealError::Tampered.into());
    }
    if shares.iter().any(|s| s.generation != generation) {
        return Err(bad("the stewards were changed while this run waited: its shares open nothing now"));
    }
    let mut distinct: Vec<&StewardShare> = Vec::with_capacity(threshold);
    for s in shares {
        if !distinct.iter().any(|d| d.steward == s.steward) {
            distinct.push(s);
        }
    }
    if distinct.len() < threshold {
        return Err(KeyringError::NeedStewards { threshold, given: distinct.len() });
    }
    let picked: Vec<&Share> = distinct.iter().take(threshold).map(|s| &s.share).collect();
    let unseal = UnsealKey::combine_refs(&picked)?;
    Ok(Recovered { unseal, generation, threshold, rows })
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
