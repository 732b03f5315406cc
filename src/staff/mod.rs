//! Staff accounts: Argon2id passwords, sessions, CSRF tokens, per-account backoff and the audit trail.
//! Staff never touch respondent data here; their accounts guard the keys and publications.

pub(crate) mod password;
mod setup;
mod throttle;

use std::{net::IpAddr, sync::Arc};

use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

pub use password::Passwords;
pub use setup::{SetupError, create_first_admin, create_first_admin_with_stewards};

pub use crate::store::staff::Role;
use crate::{
    clock::Clock,
    seal::random_id,
    store::{
        DbConn, StoreError,
        staff::{self, AuditRow, SessionRow, UserRow},
    },
};

pub const IDLE_TIMEOUT: i64 = 30 * 60;
pub const ABSOLUTE_TIMEOUT: i64 = 12 * 3600;
const FREE_FAILURES: i32 = 5;
const MAX_BACKOFF: i64 = 3600;

/// A signed-in staff member.
#[derive(Clone, Debug)]
pub struct Staff {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The anti-forgery token every state-changing form of this session must carry.
    pub csrf: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("a name is 1-40 letters, digits, dots, dashes or underscores")]
    BadName,
    #[error("a password needs at least 12 characters")]
    WeakPassword,
    #[error("the role must be admin or researcher")]
    BadRole,
    #[error("a user with that name already exists")]
    Exists,
    #[error("no such user")]
    NoSuchUser,
    #[error("password hashing failed")]
    Hash,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The only answer a failed login gets: it never says whether the name or the password was wrong,
/// nor whether the account is disabled or waiting out a backoff.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the name or password is not right, or the account cannot sign in now")]
    Refused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Accounts {
    pub passwords: Passwords,
    pub clock: Arc<Clock>,
    /// Failed sign-ins per client address, in RAM only.
    throttle: throttle::Throttle,
}

/// How a sign-in attempt went, for the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Too many failures from the client's address: refused before any account was touched.
    Throttled,
    /// Refused after counting: unknown name, wrong password, locked or disabled (not told apart).
    Refused,
    SignedIn,
}

impl Attempt {
    pub fn action(self) -> &'static str {
        match self {
            Self::Throttled => "login_throttled",
            Self::Refused => "login_failed",
            Self::SignedIn => "login",
        }
    }
}

/// What the audit trail keeps of a name typed at sign-in: at most 40 characters (the longest a valid
/// name can be), so a typed name cannot make a huge row; control characters become `?`.
pub fn typed_name(name: &str) -> String {
    name.chars().take(40).map(|c| if c.is_control() { '?' } else { c }).collect()
}

fn valid_name(name: &str) -> bool {
    (1..=40).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The CSRF token of a session: an HMAC of a fixed label under the session token, so nothing extra is stored.
pub fn csrf_for(session_token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"chorus/csrf/v1");
    hex::encode(mac.finalize().into_bytes())
}

impl Accounts {
    pub fn new(passwords: Passwords, clock: Arc<Clock>) -> Self {
        let throttle = throttle::Throttle::new(clock.clone());
        Self { passwords, clock, throttle }
    }

    /// Record a staff action. Targets name staff, surveys, keys or snapshots — never a respondent.
    pub fn audit(&self, conn: &mut DbConn, actor: &str, action: &str, target: &str) -> Result<(), StoreError> {
        staff::audit(
            conn,
            &AuditRow {
                id: random_id(),
                at: self.clock.now(),
                actor: actor.to_owned(),
                action: action.to_owned(),
                target: target.to_owned(),
            },
        )
    }

    /// Create an account. Slow (Argon2id): call it off the async threads.
    pub fn add_user(
        &self,
        conn: &mut DbConn,
        name: &str,
        role: Role,
        password: &SecretString,
    ) -> Result<UserRow, StaffError> {
        if !valid_name(name) {
            return Err(StaffError::BadName);
        }
        let hash = self.passwords.hash(password)?;
        let row = UserRow {
            id: random_id(),
            name: name.to_owned(),
            role,
            password_hash: hash,
            disabled: false,
            failed_logins: 0,
            locked_until: None,
        };
        if !staff::insert_user(conn, &row)? {
            return Err(StaffError::Exists);
        }
        Ok(row)
    }

    pub fn reset_password(&self, conn: &mut DbConn, name: &str, password: &SecretString) -> Result<(), StaffError> {
        let user = staff::user_by_name(conn, name)?.ok_or(StaffError::NoSuchUser)?;
        let hash = self.passwords.hash(password)?;
        staff::set_password(conn, &user.id, &hash)?;
        Ok(())
    }

    pub fn set_disabled(&self, conn: &mut DbConn, name: &str, disabled: bool) -> Result<(), StaffError> {
        let user = staff::user_by_name(conn, name)?.ok_or(StaffError::NoSuchUser)?;
        staff::set_disabled(conn, &user.id, disabled)?;
        Ok(())
    }

    /// Check a password and open a session. Returns the member and the session token for the cookie.
    ///
    /// In this order: an address over its failure budget is refused untouched; the account's failure
    /// count goes up by one atomically *before* the password is checked (so parallel guesses cannot
    /// slip between a read and a write); a locked or disabled account is refused without checking the
    /// password; then the password is checked, and the count cleared or the lock set. Every path after
    /// the throttle runs the same two writes (the count, then the settle), an unknown name included.
    pub fn login(
        &self,
        conn: &mut DbConn,
        name: &str,
        password: &SecretString,
        addr: Option<IpAddr>,
    ) -> Result<(Staff, SecretString), (Attempt, LoginError)> {
        let store = |e: StoreError| (Attempt::Refused, LoginError::Store(e));
        if self.throttle.blocked(addr) {
            return Err((Attempt::Throttled, LoginError::Refused));
        }
        let now = self.clock.now();
        let user = staff::count_attempt(conn, name).map_err(store)?;
        let refuse = |conn: &mut DbConn, failures: i32, id: &str| -> Result<(), StoreError> {
            self.throttle.failed(addr);
            let until = if failures >= FREE_FAILURES {
                let exponent = (failures - FREE_FAILURES).min(12) as u32;
                now + (30_i64 << exponent).min(MAX_BACKOFF)
            } else {
                now // not in the future: no lock
            };
            staff::lock_until(conn, id, until)
        };
        let Some(user) = user else {
            // Spend the same time as for a real account so timing does not reveal which names exist.
            self.passwords.verify_dummy(password);
            refuse(conn, 0, "").map_err(store)?;
            return Err((Attempt::Refused, LoginError::Refused));
        };
        if user.disabled || user.locked_until.is_some_and(|t| t > now) {
            refuse(conn, user.failed_logins, &user.id).map_err(store)?;
            return Err((Attempt::Refused, LoginError::Refused));
        }
        if !self.passwords.verify(&user.password_hash, password) {
            refuse(conn, user.failed_logins, &user.id).map_err(store)?;
            return Err((Attempt::Refused, LoginError::Refused));
        }
        staff::clear_failures(conn, &user.id).map_err(store)?;
        let token = hex::encode(crate::seal::random::<32>());
        staff::insert_session(
            conn,
            &SessionRow { token_hash: token_hash(&token), user_id: user.id.clone(), created_at: now, last_seen: now },
        )
        .map_err(store)?;
        let staff = Staff { id: user.id, name: user.name, role: user.role, csrf: csrf_for(&token) };
        Ok((staff, SecretString::from(token)))
    }

    /// The member a session cookie belongs to, if the session is alive; refreshes its idle timer.
    pub fn session(&self, conn: &mut DbConn, token: &str) -> Result<Option<Staff>, StoreError> {
        let now = self.clock.now();
        let hash = token_hash(token);
        let Some(session) = staff::session(conn, &hash)? else { return Ok(None) };
        if now - session.last_seen > IDLE_TIMEOUT || now - session.created_at > ABSOLUTE_TIMEOUT {
            staff::delete_session(conn, &hash)?;
            return Ok(None);
        }
        let Some(user) = staff::user_by_id(conn, &session.user_id)? else { return Ok(None) };
        if user.disabled {
            staff::delete_session(conn, &hash)?;
            return Ok(None);
        }
        let role = user.role;
        staff::touch_session(conn, &hash, now)?;
        staff::delete_expired_sessions(conn, now - IDLE_TIMEOUT, now - ABSOLUTE_TIMEOUT)?;
        Ok(Some(Staff { id: user.id, name: user.name, role, csrf: csrf_for(token) }))
    }

    pub fn logout(&self, conn: &mut DbConn, token: &str) -> Result<(), StoreError> {
        staff::delete_session(conn, &token_hash(token))
    }
}

/// Constant-time comparison for tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
