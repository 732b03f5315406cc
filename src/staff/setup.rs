//! First run: the first admin and, when none exists yet, the report key, as one step. `/setup` and
//! `chorus init` both come here.

use secrecy::{ExposeSecret, SecretString};

use super::{Accounts, Role, StaffError, password::MIN_PASSWORD_CHARS};
use crate::{
    keyring::{Keyring, KeyringError, NewSteward},
    seal::{self, SealError},
    store::{DbConn, StoreError, staff as staff_store},
};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("An admin already exists.")]
    AdminExists,
    #[error(transparent)]
    Staff(#[from] StaffError),
    #[error(transparent)]
    WeakPassphrase(SealError),
    #[error("{0}")]
    BadCustody(String),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for SetupError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

impl SetupError {
    /// Whether the person at the form can fix it (as opposed to a server fault).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Self::AdminExists
                | Self::WeakPassphrase(_)
                | Self::BadCustody(_)
                | Self::Keyring(KeyringError::Custody(_))
                | Self::Staff(
                    StaffError::BadName | StaffError::WeakPassword | StaffError::BadRole | StaffError::Exists
                )
        )
    }
}

/// Create the first admin and, with a passphrase, the report key, in one transaction: a failure
/// leaves neither, so setup can simply be tried again.
pub fn create_first_admin(
    accounts: &Accounts,
    keyring: &Keyring,
    conn: &mut DbConn,
    name: &str,
    password: &SecretString,
    passphrase: Option<&SecretString>,
) -> Result<(), SetupError> {
    let steward = passphrase.map(|p| NewSteward { name: "steward-1".to_owned(), passphrase: p.clone() });
    let custody = steward.as_ref().map(|s| (std::slice::from_ref(s), 1));
    create_first_admin_with_stewards(accounts, keyring, conn, name, password, custody)
}

/// [`create_first_admin`] with k-of-n custody: one passphrase per steward, and the threshold.
pub fn create_first_admin_with_stewards(
    accounts: &Accounts,
    keyring: &Keyring,
    conn: &mut DbConn,
    name: &str,
    password: &SecretString,
    custody: Option<(&[NewSteward], usize)>,
) -> Result<(), SetupError> {
    // Check everything cheap before the slow key derivation, so a typo costs no key.
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(StaffError::WeakPassword.into());
    }
    if let Some((stewards, threshold)) = custody {
        for s in stewards {
            seal::check_passphrase_strength(&s.passphrase).map_err(SetupError::WeakPassphrase)?;
        }
        if threshold == 0 || threshold > stewards.len() {
            return Err(SetupError::BadCustody(format!(
                "the number of stewards needed must be between 1 and {}",
                stewards.len()
            )));
        }
    }
    conn.write_transaction(|conn| {
        if staff_store::any_admin(conn)? {
            return Err(SetupError::AdminExists);
        }
        let user = accounts.add_user(conn, name, Role::Admin, password)?;
        if let Some((stewards, threshold)) = custody {
            match keyring.init_custody(conn, stewards, threshold) {
                Ok(id) => accounts.audit(conn, &user.name, "keys_init", &id)?,
                // A key made earlier (e.g. `chorus keys init`) is kept as it is.
                Err(KeyringError::AlreadyInitialised) => {}
                Err(e) => return Err(e.into()),
            }
        }
        accounts.audit(conn, &user.name, "setup", &user.name)?;
        Ok(())
    })
}
