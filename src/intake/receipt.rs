//! Receipts: 128 bits shown as grouped Crockford base32 with a check symbol. The receipt itself
//! is never stored: its response's id is derived from a SHA-256 of it (rows stored before that change
//! keep a SHA-256 of the receipt beside a random id), so a receipt can find (and withdraw) its response
//! but can never read it.
//!
//! The last 96 bits are random and give the id. The first 32 carry the placement the writer gave the
//! answer's group commit (`responses::Placement`), masked with a hash of the random part, so a
//! withdrawal finds a row not yet scrubbed by its key, and two receipts of one commit share nothing
//! visible. Receipts given before placements existed are 128 random bits whose id came from all of
//! them; `key` looks for that id too, so the work is the same for every receipt.
//!
//! The check symbol (Luhn mod 32 over the 26 data symbols) lets the withdrawal page say "this code is
//! mistyped" from the typed text alone, before and without any lookup, so it reveals nothing about
//! whether any answer matched. It catches every single wrong symbol and every swap of two neighbours but 0 and Z.
//! Receipts shown before the check symbol existed (26 symbols) are still read, without the check.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::store::responses::{Placement, ReceiptKey};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Bytes of the receipt that carry the masked placement; the rest are random.
const PLACED: usize = 4;

pub struct Receipt(Zeroizing<[u8; 16]>);

impl Receipt {
    /// A fresh receipt, not yet placed: `place` fills in its commit's placement.
    pub fn generate() -> Self {
        Self(Zeroizing::new(crate::seal::random()))
    }

    /// Write the placement of the answer's group commit into the receipt, masked.
    pub fn place(&mut self, placement: Placement) {
        let masked = placement.0 ^ self.mask();
        self.0[..PLACED].copy_from_slice(&masked.to_be_bytes());
    }

    fn placement(&self) -> Placement {
        let stored = u32::from_be_bytes(self.0[..PLACED].try_into().expect("four bytes"));
        Placement(stored ^ self.mask())
    }

    fn mask(&self) -> u32 {
        let mut h = Sha256::new();
        h.update(b"chorus receipt placement mask v1\0");
        h.update(&self.0[PLACED..]);
        u32::from_be_bytes(h.finalize()[..4].try_into().expect("four bytes"))
    }

    /// What rows stored before ids were derived from receipts keep in `receipt_hash`.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(&self.0[..]).to_vec()
    }

    /// What a withdrawal deletes by: every key the answer may be stored under (placed, scrubbed, or
    /// under an id derived from all 128 bits, as receipts given before placements were), and the hash
    /// a row stored before derived ids would carry. Always all four, whatever the receipt.
    pub fn key(&self) -> ReceiptKey {
        let id = self.response_id();
        ReceiptKey {
            keys: [self.placement().key(&id), id, derive_id(b"chorus response id v1\0", &self.0[..])],
            legacy_hash: self.hash(),
        }
    }

    /// The id of the response this receipt was given for: 16 bytes of a SHA-256 of the receipt's
    /// random part, in the same 32 hex digits as a random id. Keying the row by it lets a withdrawal
    /// find the row by primary key, so no second index has to take every answer at a random place
    /// (docs/benchmarks.md). Without the receipt the id is as random as any other; a different hash
    /// input than `hash` keeps the two from ever matching.
    pub fn response_id(&self) -> String {
        derive_id(b"chorus response id v2\0", &self.0[PLACED..])
    }

    /// 26 data symbols and a check symbol in groups of four: `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXX`.
    pub fn display(&self) -> String {
        self.groups().join("-")
    }

    /// The displayed groups (for a page that keeps each group on one line).
    pub fn groups(&self) -> Vec<String> {
        let mut bits: u128 = u128::from_be_bytes(*self.0);
        let mut values = [0u8; 26];
        for v in values.iter_mut().rev() {
            *v = (bits & 31) as u8;
            bits >>= 5;
        }
        let mut symbols: Vec<u8> = values.iter().map(|v| ALPHABET[usize::from(*v)]).collect();
        symbols.push(ALPHABET[usize::from(check_value(&values))]);
        symbols.chunks(4).map(|c| std::str::from_utf8(c).expect("ASCII").to_owned()).collect()
    }

    /// Read what a person typed: case, spaces and dashes do not matter; I and L read as 1, O as 0.
    pub fn parse(input: &str) -> Option<Self> {
        Self::read(input).ok()
    }

    /// Like [`Receipt::parse`], saying why a text is not a receipt.
    pub fn read(input: &str) -> Result<Self, ReceiptProblem> {
        let mut values = Vec::with_capacity(27);
        for c in input.chars().filter(|c| !c.is_whitespace() && *c != '-') {
            let c = match c.to_ascii_uppercase() {
                'I' | 'L' => '1',
                'O' => '0',
                c => c,
            };
            let v = ALPHABET.iter().position(|a| *a as char == c).ok_or(ReceiptProblem::Mistyped)? as u8;
            values.push(v);
            if values.len() > 27 {
                return Err(ReceiptProblem::Mistyped);
            }
        }
        match values.len() {
            0 => return Err(ReceiptProblem::Empty),
            27 => {
                let check = values.pop().expect("27 symbols");
                if check_value(&values) != check {
                    return Err(ReceiptProblem::Mistyped);
                }
            }
            26 => {} // a receipt from before the check symbol
            _ => return Err(ReceiptProblem::Mistyped),
        }
        if values[0] > 7 {
            return Err(ReceiptProblem::Mistyped); // 26 symbols carry 130 bits, the first holds only the top three of 128
        }
        let value = values.iter().fold(0u128, |acc, v| (acc << 5) | u128::from(*v));
        Ok(Self(Zeroizing::new(value.to_be_bytes())))
    }
}

/// 16 bytes of a labelled SHA-256, as 32 hex digits.
fn derive_id(label: &[u8], bits: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(label);
    h.update(bits);
    hex::encode(&h.finalize()[..16])
}

/// Why a typed text is not a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptProblem {
    Empty,
    /// Wrong length, a character outside the alphabet, or a check symbol that does not match.
    Mistyped,
}

/// Luhn mod 32: from the right, every second value doubled (its two base-32 digits added).
fn check_value(values: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, v) in values.iter().rev().enumerate() {
        let mut x = u32::from(*v);
        if i % 2 == 0 {
            x *= 2;
            x = x / 32 + x % 32;
        }
        sum += x;
    }
    ((32 - sum % 32) % 32) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_receipt_round_trips() {
        for _ in 0..2_000 {
            let r = Receipt::generate();
            assert_eq!(Receipt::parse(&r.display()).map(|p| p.hash()), Some(r.hash()));
        }
        let max = Receipt(Zeroizing::new([0xff; 16]));
        assert_eq!(Receipt::parse(&max.display()).map(|p| p.hash()), Some(max.hash()));
    }

    #[test]
    fn a_placed_receipt_finds_its_row_before_and_after_the_scrub() {
        for _ in 0..200 {
            let mut r = Receipt::generate();
            let id = r.response_id();
            let placement = Placement::random();
            r.place(placement);
            assert_eq!(r.response_id(), id, "placing a receipt keeps the id its answer was sealed under");
            let typed = Receipt::parse(&r.display()).unwrap();
            let keys = typed.key().keys;
            assert!(keys.contains(&placement.key(&id)), "the key the writer stored it under");
            assert!(keys.contains(&id), "the key the scrub leaves");
        }
        // Two receipts of one commit share no visible bits that would say so (the mask differs).
        let (mut a, mut b) = (Receipt::generate(), Receipt::generate());
        let p = Placement::random();
        a.place(p);
        b.place(p);
        assert_ne!(a.0[..PLACED], b.0[..PLACED]);
    }

    #[test]
    fn round_trip_and_forgiving_input() {
        let r = Receipt::generate();
        let shown = r.display();
        assert_eq!(shown.len(), 27 + 6);
        let typed = shown.to_lowercase().replace('-', " ").replace('1', "l").replace('0', "o");
        assert_eq!(Receipt::parse(&typed).unwrap().hash(), r.hash());
        assert!(Receipt::parse("not a receipt").is_none());
        assert!(Receipt::parse(&shown[..20]).is_none());
    }

    #[test]
    fn a_mistyped_symbol_or_swap_is_recognised() {
        for _ in 0..200 {
            let r = Receipt::generate();
            let symbols: Vec<char> = r.display().chars().filter(|c| *c != '-').collect();
            for i in 0..symbols.len() {
                for c in ALPHABET.iter().map(|a| *a as char) {
                    if c == symbols[i] {
                        continue;
                    }
                    let mut typo = symbols.clone();
                    typo[i] = c;
                    let typed: String = typo.iter().collect();
                    assert_eq!(Receipt::read(&typed).err(), Some(ReceiptProblem::Mistyped), "{typed}");
                }
                // Luhn mod 32 misses one swap only: "0Z" for "Z0".
                let pair = [symbols[i], *symbols.get(i + 1).unwrap_or(&'0')];
                if i + 1 < symbols.len() && pair[0] != pair[1] && pair != ['0', 'Z'] && pair != ['Z', '0'] {
                    let mut swap = symbols.clone();
                    swap.swap(i, i + 1);
                    let typed: String = swap.iter().collect();
                    assert!(Receipt::read(&typed).is_err(), "swap at {i}: {typed}");
                }
            }
            // One symbol left out: too short for a new code. (26 symbols still read as an old code.)
            let short: String = symbols[..25].iter().collect();
            assert_eq!(Receipt::read(&short).err(), Some(ReceiptProblem::Mistyped));
        }
        assert_eq!(Receipt::read("  ").err(), Some(ReceiptProblem::Empty));
    }

    #[test]
    fn old_receipts_without_the_check_symbol_still_read() {
        let r = Receipt::generate();
        let old: String = r.display().chars().filter(|c| *c != '-').take(26).collect();
        assert_eq!(Receipt::parse(&old).map(|p| p.hash()), Some(r.hash()));
    }
}
