//! Single-use form tokens. A token seals its issue time (and 16 random bytes) under a key kept in the
//! database, so every instance behind a load balancer can check it, while the client can neither read
//! nor forge the time. Spending a token records only its hash and its key; keys are retired after
//! enough spends, taking their spent tokens with them, so nothing kept holds a time at all.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sha2::{Digest, Sha256};

use crate::{
    clock::Clock,
    seal::random_id,
    seal::{self, bind, xopen, xseal},
    store::{DbConn, StoreError, form_tokens, form_tokens::FormKeyRow},
};

/// A token older than this is refused (the form is shown again with the answers kept).
pub const MAX_AGE: Duration = Duration::from_secs(6 * 3600);
/// Spends after which a key is replaced; keys two generations old are deleted.
const ROTATE_AFTER: i64 = 20_000;

#[derive(Debug, PartialEq, Eq)]
pub enum TokenProblem {
    /// Malformed, forged, for another survey, or under a retired key.
    Invalid,
    Expired,
    TooFast,
}

/// The key a token names.
pub enum KeyLookup {
    Found(FormKeyRow),
    /// A malformed token, or a generation no key has (any more).
    Unknown,
    /// Not in memory; ask again with a connection.
    Miss,
}

/// The key generation a token names: its first eight bytes.
fn generation_of(token: &str) -> Option<i64> {
    let bytes = hex::decode(token.trim().get(..16)?).ok()?;
    Some(i64::from_be_bytes(bytes.try_into().ok()?))
}

/// A checked token, ready to be spent inside the transaction that stores its answer.
pub struct CheckedToken {
    pub hash: Vec<u8>,
    pub key_id: String,
}

pub struct FormTokens {
    keys: Mutex<HashMap<i64, FormKeyRow>>,
    newest: Mutex<Option<i64>>,
    spends: std::sync::atomic::AtomicU64,
    min_fill: Duration,
    clock: Arc<Clock>,
}

impl FormTokens {
    pub fn new(min_fill: Duration, clock: Arc<Clock>) -> Self {
        Self { keys: Mutex::new(HashMap::new()), newest: Mutex::new(None), spends: 0.into(), min_fill, clock }
    }

    fn unix_now(&self) -> u64 {
        self.clock.now().max(0) as u64
    }

    fn key_bytes(row: &FormKeyRow) -> Option<[u8; 32]> {
        row.key_bytes.as_slice().try_into().ok()
    }

    fn newest_key(&self, conn: &mut DbConn) -> Result<FormKeyRow, StoreError> {
        let newest = *self.newest.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(row) = newest.and_then(|g| self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(&g).cloned()) {
            return Ok(row);
        }
        let row = match form_tokens::newest(conn)? {
            Some(row) => row,
            None => {
                let row = FormKeyRow { id: random_id(), key_bytes: seal::random::<32>().to_vec(), generation: 1 };
                form_tokens::insert(conn, &row)?;
                form_tokens::newest(conn)?.unwrap_or(row)
            }
        };
        self.remember(&row);
        Ok(row)
    }

    fn remember(&self, row: &FormKeyRow) {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).insert(row.generation, row.clone());
        let mut newest = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        if newest.is_none_or(|g| g < row.generation) {
            *newest = Some(row.generation);
        }
    }

    fn key(&self, conn: &mut DbConn, generation: i64) -> Result<Option<FormKeyRow>, StoreError> {
        if let Some(row) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(&generation) {
            return Ok(Some(row.clone()));
        }
        let row = form_tokens::by_generation(conn, generation)?;
        if let Some(row) = &row {
            self.remember(row);
        }
        Ok(row)
    }

    /// A new token for a form of `slug`: hex(generation ‖ nonce ‖ sealed(issued ‖ random)).
    pub fn issue(&self, conn: &mut DbConn, slug: &str) -> Result<String, StoreError> {
        let row = self.newest_key(conn)?;
        self.issue_under(&row, slug)
    }

    /// As `issue`, from memory alone: None until the newest key has been read here once (then the
    /// caller issues with a connection, off the async worker).
    pub fn issue_from_memory(&self, slug: &str) -> Option<Result<String, StoreError>> {
        let newest = (*self.newest.lock().unwrap_or_else(|p| p.into_inner()))?;
        let row = self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(&newest).cloned()?;
        Some(self.issue_under(&row, slug))
    }

    fn issue_under(&self, row: &FormKeyRow, slug: &str) -> Result<String, StoreError> {
        let key = Self::key_bytes(row).ok_or_else(|| StoreError::corrupt("form key", "wrong length"))?;
        let mut payload = self.unix_now().to_be_bytes().to_vec();
        payload.extend_from_slice(&seal::random::<16>());
        let sealed = xseal(&key, &payload, &bind("chorus/form-token/v1", &[slug.as_bytes()]));
        let mut token = row.generation.to_be_bytes().to_vec();
        token.extend_from_slice(&sealed);
        Ok(hex::encode(token))
    }

    /// The key a token names, for `check`: from memory, else from the database when `conn` is given.
    pub fn key_of(&self, conn: Option<&mut DbConn>, token: &str) -> Result<KeyLookup, StoreError> {
        let Some(generation) = generation_of(token) else { return Ok(KeyLookup::Unknown) };
        if let Some(row) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(&generation) {
            return Ok(KeyLookup::Found(row.clone()));
        }
        let Some(conn) = conn else { return Ok(KeyLookup::Miss) };
        Ok(self.key(conn, generation)?.map_or(KeyLookup::Unknown, KeyLookup::Found))
    }

    /// Check a token's seal and age under the key it names (`key_of`); whether it was spent is
    /// decided in the storing transaction.
    pub fn check(&self, key: Option<&FormKeyRow>, slug: &str, token: &str) -> Result<CheckedToken, TokenProblem> {
        let Some(bytes) = hex::decode(token.trim()).ok().filter(|b| b.len() > 8) else {
            return Err(TokenProblem::Invalid);
        };
        let Some(row) = key.filter(|row| generation_of(token) == Some(row.generation)) else {
            return Err(TokenProblem::Invalid);
        };
        let Some(key) = Self::key_bytes(row) else { return Err(TokenProblem::Invalid) };
        let Ok(payload) = xopen(&key, &bytes[8..], &bind("chorus/form-token/v1", &[slug.as_bytes()])) else {
            return Err(TokenProblem::Invalid);
        };
        // The seal covers the payload, which this code wrote with its first eight bytes the issue time.
        let Some(issued) = payload.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes) else {
            return Err(TokenProblem::Invalid);
        };
        let age = Duration::from_secs(self.unix_now().saturating_sub(issued));
        if age > MAX_AGE {
            return Err(TokenProblem::Expired);
        }
        if age < self.min_fill {
            return Err(TokenProblem::TooFast);
        }
        Ok(CheckedToken { hash: Sha256::digest(&bytes).to_vec(), key_id: row.id.clone() })
    }

    /// Count a spend; true once every thousand, when `rotate_if_worn` should run.
    pub fn note_spend(&self) -> bool {
        self.spends.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1_000 == 999
    }

    /// Replace a well-used key and retire the generation before the last.
    pub fn rotate_if_worn(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        let newest = self.newest_key(conn)?;
        if form_tokens::spent_under(conn, &newest.id)? < ROTATE_AFTER {
            return Ok(());
        }
        self.rotate(conn, newest.generation)
    }

    fn rotate(&self, conn: &mut DbConn, from: i64) -> Result<(), StoreError> {
        let row = FormKeyRow { id: random_id(), key_bytes: seal::random::<32>().to_vec(), generation: from + 1 };
        form_tokens::insert(conn, &row)?;
        *self.newest.lock().unwrap_or_else(|p| p.into_inner()) = None;
        form_tokens::retire_before(conn, from)?;
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).retain(|g, _| *g >= from);
        Ok(())
    }

    #[doc(hidden)]
    pub fn rotate_now_for_tests(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        let newest = self.newest_key(conn)?;
        self.rotate(conn, newest.generation)
    }
}
