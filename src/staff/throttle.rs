//! A RAM-only throttle on failed sign-ins per client address, so that one address cannot lock every
//! account (each account's own backoff would otherwise be anyone's to trigger). Like the submission
//! limiter it keeps only a keyed hash of the address (IPv4 /32, IPv6 /56) under a random key that
//! lives in memory; nothing here is logged or stored, and it is all gone on restart.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::clock::Clock;

/// Failed sign-ins one address may make per window before every sign-in from it is refused unchecked.
pub const FAILURES_PER_WINDOW: u32 = 10;
pub const WINDOW_SECONDS: i64 = 15 * 60;
/// Past this many addresses, expired windows are swept before a new one is added.
const SWEEP_AT: usize = 10_000;

pub struct Throttle {
    clock: Arc<Clock>,
    key: Zeroizing<[u8; 32]>,
    /// keyed hash → (window start, failures in it)
    failures: Mutex<HashMap<u64, (i64, u32)>>,
}

fn masked(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..7].to_vec(),
        },
    }
}

impl Throttle {
    pub fn new(clock: Arc<Clock>) -> Self {
        Self { clock, key: Zeroizing::new(crate::seal::random()), failures: Mutex::default() }
    }

    fn hash(&self, addr: IpAddr) -> u64 {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..]).expect("any key length");
        mac.update(&masked(addr));
        u64::from_be_bytes(mac.finalize().into_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// Whether an address has used up its failures for the current window.
    pub fn blocked(&self, addr: Option<IpAddr>) -> bool {
        let Some(addr) = addr else { return false };
        let now = self.clock.now();
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures
            .get(&self.hash(addr))
            .is_some_and(|(start, n)| now - start < WINDOW_SECONDS && *n >= FAILURES_PER_WINDOW)
    }

    /// Count one failed sign-in from an address.
    pub fn failed(&self, addr: Option<IpAddr>) {
        let Some(addr) = addr else { return };
        let now = self.clock.now();
        let key = self.hash(addr);
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, (start, _)| now - *start < WINDOW_SECONDS);
        }
        let entry = failures.entry(key).or_insert((now, 0));
        if now - entry.0 >= WINDOW_SECONDS {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_failures_and_others_are_not() {
        let clock = Arc::new(Clock::default());
        let t = Throttle::new(clock.clone());
        let (a, b) = (Some(IpAddr::from([192, 0, 2, 1])), Some(IpAddr::from([192, 0, 2, 2])));
        for _ in 0..FAILURES_PER_WINDOW {
            assert!(!t.blocked(a));
            t.failed(a);
        }
        assert!(t.blocked(a));
        assert!(!t.blocked(b));
        clock.advance(WINDOW_SECONDS);
        assert!(!t.blocked(a), "a new window");
    }
}
