use std::sync::OnceLock;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher, PasswordVerifier},
};
use secrecy::{ExposeSecret, SecretString};

use super::StaffError;
use crate::config::PasswordCost;

pub const MIN_PASSWORD_CHARS: usize = 12;

/// Argon2id PHC strings. The cost lives in each string, so raising it later keeps old hashes valid.
pub struct Passwords {
    cost: PasswordCost,
    dummy: OnceLock<String>,
}

impl Passwords {
    pub fn new(cost: PasswordCost) -> Self {
        Self { cost, dummy: OnceLock::new() }
    }

    fn hasher(&self) -> Result<Argon2<'static>, StaffError> {
        let params = Params::new(self.cost.memory_kib, self.cost.iterations, 1, None).map_err(|_| StaffError::Hash)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    pub fn hash(&self, password: &SecretString) -> Result<String, StaffError> {
        if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
            return Err(StaffError::WeakPassword);
        }
        let hash = self.hasher()?.hash_password(password.expose_secret().as_bytes()).map_err(|_| StaffError::Hash)?;
        Ok(hash.to_string())
    }

    pub fn verify(&self, phc: &str, password: &SecretString) -> bool {
        Argon2::default().verify_password(password.expose_secret().as_bytes(), phc).is_ok()
    }

    /// Verify against a hash of the same cost that matches nothing, for unknown names.
    pub fn verify_dummy(&self, password: &SecretString) {
        let dummy = self.dummy.get_or_init(|| {
            self.hash(&SecretString::from("dummy password that matches no account".to_owned())).unwrap_or_default()
        });
        let _ = self.verify(dummy, password);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_at_the_configured_cost() {
        let p = Passwords::new(PasswordCost::FLOOR);
        let h = p.hash(&SecretString::from("a long enough password".to_owned())).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(p.verify(&h, &SecretString::from("a long enough password".to_owned())));
        assert!(!p.verify(&h, &SecretString::from("a long enough passwore".to_owned())));
        assert!(matches!(p.hash(&SecretString::from("short".to_owned())), Err(StaffError::WeakPassword)));
        // A hash made at a lower cost still verifies: the cost travels in the string.
        let old = Passwords::new(PasswordCost { memory_kib: 8 * 1024, iterations: 1 })
            .hasher()
            .unwrap()
            .hash_password(b"legacy password!")
            .unwrap()
            .to_string();
        assert!(p.verify(&old, &SecretString::from("legacy password!".to_owned())));
    }
}
