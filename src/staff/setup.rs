//! First run: the first admin and, when none exists yet, the report key, as one step. `/setup` and
//! `chorus init` both come here.

use diesel::Connection;
use secrecy::{ExposeSecret, SecretString};

use super::{Accounts, Role, StaffError, password::MIN_PASSWORD_CHARS};
use crate::{
    keyring::{Keyring, KeyringError},
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
    // Check everything cheap before the slow key derivation, so a typo costs no key.
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(StaffError::WeakPassword.into());
    }
    if let Some(p) = passphrase {
        seal::check_passphrase_strength(p).map_err(SetupError::WeakPassphrase)?;
    }
    conn.transaction(|conn| {
        if staff_store::any_admin(conn)? {
            return Err(SetupError::AdminExists);
        }
        let user = accounts.add_user(conn, name, Role::Admin, password)?;
        if let Some(p) = passphrase {
            match keyring.init(conn, p) {
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
