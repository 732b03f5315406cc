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
        let key = Self::key_bytes(&row).ok_or_else(|| StoreError::corrupt("form key", "wrong length"))?;
        let mut payload = self.unix_now().to_be_bytes().to_vec();
        payload.extend_from_slice(&seal::random::<16>());
        let sealed = xseal(&key, &payload, &bind("chorus/form-token/v1", &[slug.as_bytes()]));
        let mut token = row.generation.to_be_bytes().to_vec();
        token.extend_from_slice(&sealed);
        Ok(hex::encode(token))
    }

    /// Check a token's seal and age (not whether it was spent: that happens in the storing transaction).
    pub fn check(
        &self,
        conn: &mut DbConn,
        slug: &str,
        token: &str,
    ) -> Result<Result<CheckedToken, TokenProblem>, StoreError> {
        let Some(bytes) = hex::decode(token.trim()).ok().filter(|b| b.len() > 8) else {
            return Ok(Err(TokenProblem::Invalid));
        };
        let generation = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let Some(row) = self.key(conn, generation)? else { return Ok(Err(TokenProblem::Invalid)) };
        let Some(key) = Self::key_bytes(&row) else { return Ok(Err(TokenProblem::Invalid)) };
        let Ok(payload) = xopen(&key, &bytes[8..], &bind("chorus/form-token/v1", &[slug.as_bytes()])) else {
            return Ok(Err(TokenProblem::Invalid));
        };
        let issued = u64::from_be_bytes(
            payload[..8].try_into().map_err(|_| StoreError::corrupt("form token", "short payload"))?,
        );
        let age = Duration::from_secs(self.unix_now().saturating_sub(issued));
        if age > MAX_AGE {
            return Ok(Err(TokenProblem::Expired));
        }
        if age < self.min_fill {
            return Ok(Err(TokenProblem::TooFast));
        }
        Ok(Ok(CheckedToken { hash: Sha256::digest(&bytes).to_vec(), key_id: row.id }))
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
