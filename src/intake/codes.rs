//! Outreach codes: 10 Crockford base32 symbols (50 random bits), shown as `XXXXX-XXXXX`, stored only
//! as a hash bound to their survey. A code marks a response as verified and works once.

use sha2::{Digest, Sha256};

use crate::store::{DbConn, StoreError, defences, surveys};

/// The most codes one batch may hold, and the longest batch label.
pub const MAX_BATCH: u32 = 100_000;
const MAX_LABEL: usize = 60;

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("no survey `{0}`")]
    NoSurvey(String),
    #[error("the count must be between 1 and {MAX_BATCH}")]
    Count,
    #[error("a batch needs a label of 1 to {MAX_LABEL} characters")]
    Label,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Make `count` fresh codes for a survey and store only their hashes, under a batch label. The codes
/// themselves are returned once, for printing, and exist nowhere else afterwards.
pub fn issue(conn: &mut DbConn, slug: &str, batch: &str, count: u32) -> Result<Vec<String>, IssueError> {
    if surveys::get(conn, slug)?.is_none() {
        return Err(IssueError::NoSurvey(slug.to_owned()));
    }
    if !(1..=MAX_BATCH).contains(&count) {
        return Err(IssueError::Count);
    }
    let batch = batch.trim();
    if batch.is_empty() || batch.chars().count() > MAX_LABEL {
        return Err(IssueError::Label);
    }
    let codes: Vec<String> = (0..count).map(|_| generate()).collect();
    let hashes: Vec<Vec<u8>> =
        codes.iter().map(|c| hash(slug, &normalise(c).expect("generated codes parse"))).collect();
    defences::insert_codes(conn, slug, batch, &hashes)?;
    Ok(codes)
}

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh code for printing.
pub fn generate() -> String {
    let bytes: [u8; 8] = crate::seal::random();
    let mut bits = u64::from_be_bytes(bytes);
    let mut out = String::with_capacity(11);
    for i in 0..10 {
        if i == 5 {
            out.push('-');
        }
        out.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
    }
    out
}

/// What a person typed, normalised: case, spaces and dashes ignored; I and L read as 1, O as 0.
pub fn normalise(input: &str) -> Option<String> {
    let mut out = String::with_capacity(10);
    for c in input.chars().filter(|c| !c.is_whitespace() && *c != '-') {
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        };
        if !ALPHABET.contains(&(c as u8)) || !c.is_ascii() {
            return None;
        }
        out.push(c);
    }
    (out.len() == 10).then_some(out)
}

pub fn hash(slug: &str, normalised: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"chorus/outreach-code/v1\0");
    h.update(slug.as_bytes());
    h.update([0]);
    h.update(normalised.as_bytes());
    h.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_short_unambiguous_and_forgiving() {
        let c = generate();
        assert_eq!(c.len(), 11);
        assert!(!c.contains(['I', 'L', 'O', 'U']));
        let typed = c.to_lowercase().replace('-', " ").replace('1', "l").replace('0', "o");
        assert_eq!(normalise(&typed), normalise(&c));
        assert_ne!(generate(), generate());
        assert!(normalise("short").is_none());
        assert_ne!(hash("a", "0123456789"), hash("b", "0123456789"), "a code belongs to one survey");
    }
}
