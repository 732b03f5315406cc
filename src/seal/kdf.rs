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

/// The least estimated strength of a steward passphrase, in bits.
pub const MIN_PASSPHRASE_BITS: f64 = 80.0;

/// The passphrase rule in words, for the setup page and error messages.
pub const PASSPHRASE_RULE: &str = "at least about 80 bits of strength as the zxcvbn estimator measures it: seven \
     random words (as `chorus keys generate-passphrase` makes) pass; a sentence, repeated words, keyboard \
     runs or a short string do not";

/// The estimated strength of a passphrase in bits, from the zxcvbn estimator.
///
/// zxcvbn models a passphrase as a sequence of l matches (dictionary words by frequency rank,
/// repeats, sequences, keyboard runs, dates, brute force) and estimates guesses as
/// l! × Π guesses(match); bits are log2 of that. Its total is a u64, which stops at 2^64, so:
/// - below 2^64, the bits are log2 of zxcvbn's own total for the whole passphrase (repeats,
///   patterns across words and all);
/// - at 2^64, the passphrase is cut into pieces (words split at whitespace, pieces of at most 16
///   characters, repeated pieces counted once), each scored by zxcvbn without saturation, and the bits
///   are log2(n!) + Σ log2(guesses of each piece) for n pieces: zxcvbn's formula over the pieces.
///
/// zxcvbn examines only the first 100 characters, and so does the second way; a longer passphrase is
/// under-estimated, never over-estimated.
pub fn passphrase_bits(passphrase: &str) -> f64 {
    let passphrase: String = passphrase.trim().chars().take(100).collect();
    if passphrase.is_empty() {
        return 0.0;
    }
    let whole = zxcvbn::zxcvbn(&passphrase, &[]);
    if whole.guesses() < u64::MAX {
        return whole.guesses_log10() * std::f64::consts::LOG2_10;
    }
    let mut pieces: Vec<String> = Vec::new();
    for word in passphrase.split_whitespace() {
        let chars: Vec<char> = word.chars().collect();
        for chunk in chars.chunks(16) {
            let piece: String = chunk.iter().collect::<String>().to_lowercase();
            if !pieces.contains(&piece) {
                pieces.push(piece);
            }
        }
    }
    let ordering: f64 = (2..=pieces.len()).map(|k| (k as f64).log2()).sum();
    let product: f64 = pieces.iter().map(|p| zxcvbn::zxcvbn(p, &[]).guesses_log10() * std::f64::consts::LOG2_10).sum();
    ordering + product
}

/// At least [`MIN_PASSPHRASE_BITS`] by [`passphrase_bits`].
pub fn check_passphrase_strength(passphrase: &SecretString) -> Result<(), SealError> {
    if passphrase_bits(passphrase.expose_secret()) >= MIN_PASSPHRASE_BITS {
        Ok(())
    } else {
        Err(SealError::WeakPassphrase(
            "the passphrase is too easy to guess: it needs about 80 bits of strength (try `chorus keys generate-passphrase`, seven random words)",
        ))
    }
}

/// A diceware passphrase from the EFF long list: 7 words, about 90 bits.
pub fn generate_passphrase(words: usize) -> SecretString {
    use rand::RngExt;
    let list = diceware_wordlists::EFF_LONG_WORDLIST;
    let mut rng = rand::rng();
    loop {
        let chosen: Vec<&str> = (0..words).map(|_| list[rng.random_range(0..list.len())]).collect();
        let candidate = SecretString::from(chosen.join(" "));
        // Seven EFF words carry about 90 bits, but the estimate sometimes rates a draw of common
        // words lower: draw again rather than hand out a passphrase the rule would refuse. (Rejecting
        // a rare few draws costs far less than a bit of entropy.)
        if words < 7 || passphrase_bits(candidate.expose_secret()) >= MIN_PASSPHRASE_BITS {
            return candidate;
        }
    }
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
        for weak in [
            "short one",
            "a b c d e",
            "aa aa aa aa aa",
            "aaaaaaaaaaaaaaaaaaaa",
            "correct horse battery staple in the rain",
            "Tr0ub4dor&3-Tr0ub4dor&3",
            "qwertyuiopasdfghjklzxcvbnm1234567890",
        ] {
            let bits = passphrase_bits(weak);
            assert!(check_passphrase_strength(&weak.into()).is_err(), "{weak:?} passed with {bits:.0} bits");
        }
        let strong = "gravy quarrel unclaimed bunkbed tamper ferocious spotless";
        assert!(check_passphrase_strength(&strong.into()).is_ok(), "{:.0} bits", passphrase_bits(strong));
    }

    #[test]
    #[ignore = "prints the spread of generated passphrases' strength"]
    fn generated_passphrase_spread() {
        let mut bits: Vec<f64> = (0..2000).map(|_| passphrase_bits(generate_passphrase(7).expose_secret())).collect();
        bits.sort_by(f64::total_cmp);
        eprintln!("min {:.1} p1 {:.1} p50 {:.1} max {:.1}", bits[0], bits[20], bits[1000], bits[1999]);
    }

    #[test]
    fn generated_passphrases_are_strong_and_differ() {
        for _ in 0..500 {
            let p = generate_passphrase(7);
            let bits = passphrase_bits(p.expose_secret());
            assert!(bits >= MIN_PASSPHRASE_BITS, "{} scored {bits:.0} bits", p.expose_secret());
        }
        let a = generate_passphrase(7);
        let b = generate_passphrase(7);
        assert!(check_passphrase_strength(&a).is_ok());
        assert_eq!(a.expose_secret().split(' ').count(), 7);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
