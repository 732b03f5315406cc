use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox, SecretString};

use super::{KEY_LEN, SealError, random};

/// Argon2id cost for sealing the report key under the steward's passphrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfCost {
    /// About one second on a 2-core machine (see docs/crypto.md).
    pub const DEFAULT: Self = Self { memory_kib: 256 * 1024, iterations: 4, parallelism: 1 };
    /// RFC 9106's second recommended setting: the floor outside tests.
    pub const FLOOR: Self = Self { memory_kib: 64 * 1024, iterations: 3, parallelism: 4 };
    /// Only for tests; refused by configuration.
    pub const TESTING: Self = Self { memory_kib: 1024, iterations: 1, parallelism: 1 };

    /// The most a report run will spend on one derivation. A cost read back from the database above
    /// this is refused before any work, so a database writer cannot exhaust the server's memory.
    pub const CEILING: Self = Self { memory_kib: 1024 * 1024, iterations: 16, parallelism: 8 };

    pub fn within_ceiling(&self) -> bool {
        self.memory_kib <= Self::CEILING.memory_kib
            && self.iterations <= Self::CEILING.iterations
            && (1..=Self::CEILING.parallelism).contains(&self.parallelism)
    }

    pub fn meets_floor(&self) -> bool {
        // Memory is what makes guessing expensive; time and lanes may trade against each other.
        self.memory_kib >= Self::FLOOR.memory_kib
            && u64::from(self.memory_kib) * u64::from(self.iterations)
                >= u64::from(Self::FLOOR.memory_kib) * u64::from(Self::FLOOR.iterations)
    }
}

/// Argon2id parameters and salt, stored beside the sealed key and bound into its associated data,
/// so that weakening them in the database makes the key fail to open rather than open cheaply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdfParams {
    pub cost: KdfCost,
    pub salt: [u8; 16],
}

impl KdfParams {
    pub fn new(cost: KdfCost) -> Self {
        Self { cost, salt: random() }
    }

    pub fn encode(&self) -> String {
        format!(
            "argon2id;v=19;m={};t={};p={};salt={}",
            self.cost.memory_kib,
            self.cost.iterations,
            self.cost.parallelism,
            hex::encode(self.salt)
        )
    }

    pub fn decode(s: &str) -> Result<Self, SealError> {
        let mut parts = s.split(';');
        if parts.next() != Some("argon2id") || parts.next() != Some("v=19") {
            return Err(SealError::Format("unknown key-derivation function"));
        }
        let mut field = |name: &str| -> Result<&str, SealError> {
            parts.next().and_then(|p| p.strip_prefix(name)).ok_or(SealError::Format("key-derivation parameters"))
        };
        let num = |v: &str| v.parse::<u32>().map_err(|_| SealError::Format("key-derivation parameter"));
        let memory_kib = num(field("m=")?)?;
        let iterations = num(field("t=")?)?;
        let parallelism = num(field("p=")?)?;
        let salt = hex::decode(field("salt=")?).map_err(|_| SealError::Format("salt"))?;
        let salt: [u8; 16] = salt.try_into().map_err(|_| SealError::Format("salt length"))?;
        let cost = KdfCost { memory_kib, iterations, parallelism };
        if !cost.within_ceiling() {
            return Err(SealError::KdfTooCostly);
        }
        Ok(Self { cost, salt })
    }

    /// Derive the key-encryption key. Deliberately slow: run it off the async threads.
    pub fn derive(&self, passphrase: &SecretString) -> Result<SecretBox<[u8; KEY_LEN]>, SealError> {
        let params = Params::new(self.cost.memory_kib, self.cost.iterations, self.cost.parallelism, Some(KEY_LEN))
            .map_err(SealError::Kdf)?;
        let mut out = SecretBox::new(Box::new([0u8; KEY_LEN]));
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.expose_secret().as_bytes(), &self.salt, out.expose_secret_mut())
            .map_err(SealError::Kdf)?;
        Ok(out)
    }
}

/// At least 20 characters, or at least five words.
pub fn check_passphrase_strength(passphrase: &SecretString) -> Result<(), SealError> {
    let p = passphrase.expose_secret();
    let chars = p.trim().chars().count();
    let words = p.split_whitespace().filter(|w| w.chars().count() >= 2).count();
    if chars >= 20 || words >= 5 {
        Ok(())
    } else {
        Err(SealError::WeakPassphrase("use at least 20 characters or 5 words (try `chorus keys generate-passphrase`)"))
    }
}

/// A diceware passphrase from the EFF long list: 7 words, about 90 bits.
pub fn generate_passphrase(words: usize) -> SecretString {
    use rand::RngExt;
    let list = diceware_wordlists::EFF_LONG_WORDLIST;
    let mut rng = rand::rng();
    let chosen: Vec<&str> = (0..words).map(|_| list[rng.random_range(0..list.len())]).collect();
    SecretString::from(chosen.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip() {
        let p = KdfParams::new(KdfCost::TESTING);
        assert_eq!(KdfParams::decode(&p.encode()).unwrap(), p);
        assert!(KdfParams::decode("scrypt;v=1").is_err());
    }

    #[test]
    fn weak_passphrases_are_refused() {
        assert!(check_passphrase_strength(&"short one".into()).is_err());
        assert!(check_passphrase_strength(&"a b c d e".into()).is_err());
        assert!(check_passphrase_strength(&"correct horse battery staple sky".into()).is_ok());
        assert!(check_passphrase_strength(&"Tr0ub4dor&3-Tr0ub4dor&3".into()).is_ok());
    }

    #[test]
    fn generated_passphrases_are_strong_and_differ() {
        let a = generate_passphrase(7);
        let b = generate_passphrase(7);
        assert!(check_passphrase_strength(&a).is_ok());
        assert_eq!(a.expose_secret().split(' ').count(), 7);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
