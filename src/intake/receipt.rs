//! Receipts: 128 random bits shown as grouped Crockford base32. Only a SHA-256 of the bits is stored,
//! so a receipt can find (and withdraw) its response but can never read it.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

pub struct Receipt(Zeroizing<[u8; 16]>);

impl Receipt {
    pub fn generate() -> Self {
        Self(Zeroizing::new(crate::seal::random()))
    }

    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(&self.0[..]).to_vec()
    }

    /// 26 symbols in groups of four or so: `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XX`.
    pub fn display(&self) -> String {
        let mut bits: u128 = u128::from_be_bytes(*self.0);
        let mut symbols = [0u8; 26];
        for s in symbols.iter_mut().rev() {
            *s = ALPHABET[(bits & 31) as usize];
            bits >>= 5;
        }
        symbols.chunks(4).map(|c| std::str::from_utf8(c).expect("ASCII")).collect::<Vec<_>>().join("-")
    }

    /// Read what a person typed: case, spaces and dashes do not matter; I and L read as 1, O as 0.
    pub fn parse(input: &str) -> Option<Self> {
        let mut value: u128 = 0;
        let mut count = 0;
        for c in input.chars().filter(|c| !c.is_whitespace() && *c != '-') {
            let c = match c.to_ascii_uppercase() {
                'I' | 'L' => '1',
                'O' => '0',
                c => c,
            };
            let v = ALPHABET.iter().position(|a| *a as char == c)? as u128;
            if count == 0 && v > 7 {
                return None; // 26 symbols carry 130 bits, the first holds only the top three of 128
            }
            value = (value << 5) | v;
            count += 1;
            if count > 26 {
                return None;
            }
        }
        (count == 26).then(|| Self(Zeroizing::new(value.to_be_bytes())))
    }
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
    fn round_trip_and_forgiving_input() {
        let r = Receipt::generate();
        let shown = r.display();
        assert_eq!(shown.len(), 26 + 6);
        let typed = shown.to_lowercase().replace('-', " ").replace('1', "l").replace('0', "o");
        assert_eq!(Receipt::parse(&typed).unwrap().hash(), r.hash());
        assert!(Receipt::parse("not a receipt").is_none());
        assert!(Receipt::parse(&shown[..20]).is_none());
    }
}
