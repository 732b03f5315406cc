//! Submission rate limits, held only in RAM. The key for a client is a keyed hash of its address
//! (IPv4 /32, IPv6 /56) under a random key that lives in memory only and is replaced every day —
//! the old key zeroized, the old counters dropped. Nothing here is logged or written anywhere.
//! The web layer hands the address over as an `IpAddr` (in a [`Client`]); nothing else of the request
//! reaches here.
//!
//! Order matters (issue 15): the per-client limit is counted first, for every submission, valid or
//! not, so a sender's junk costs only that sender; the global budgets (one for the form, one for the
//! API) are spent only by submissions that passed the per-client limit *and* validated, so no single
//! address can close the survey for everyone.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::Clock as GovernorClock,
    middleware::NoOpMiddleware,
    state::{InMemoryState, NotKeyed, keyed::HashMapStateStore},
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{clock::Clock, config::SubmitLimits};

/// governor's clock, read from Chorus's (adjustable) clock, so tests can move time.
#[derive(Clone)]
pub struct LimiterClock(pub Arc<Clock>);

impl GovernorClock for LimiterClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Duration::from_secs(self.0.now().max(0) as u64)
    }
}

type Keyed = RateLimiter<u64, HashMapStateStore<u64>, LimiterClock, NoOpMiddleware<Duration>>;
type Global = RateLimiter<NotKeyed, InMemoryState, LimiterClock, NoOpMiddleware<Duration>>;

struct Day {
    number: i64,
    key: Zeroizing<[u8; 32]>,
    per_client: Option<Keyed>,
    /// Clients of the PROXY-protocol listener (e.g. Tor circuits) have a bucket set of their own.
    per_proxied: Option<Keyed>,
}

pub struct Limits {
    clock: Arc<Clock>,
    per_hour: Option<NonZeroU32>,
    per_hour_proxied: Option<NonZeroU32>,
    day: Mutex<Day>,
    global_form: Option<Global>,
    global_api: Option<Global>,
}

/// Where a submission came from, as far as the limiter needs to know: an address, and whether it was
/// read from a PROXY-protocol header (then it is counted whole, because Tor puts the circuit id in
/// the low bits of an IPv6 address, and against that listener's own limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    pub addr: IpAddr,
    pub proxied: bool,
}

/// Which door a submission came in by: each has its own global budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    Form,
    Api,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Limited {
    PerClient,
    Global,
}

/// IPv4 whole; IPv6 cut to its /56 (one household or device's usual allocation). A proxied client's
/// address is taken whole: it may be a Tor circuit id, not a network.
fn masked(client: Client) -> Vec<u8> {
    if client.proxied {
        return match client.addr {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
    }
    match client.addr {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..7].to_vec(),
        },
    }
}

impl Limits {
    pub fn new(clock: Arc<Clock>, config: &SubmitLimits) -> Self {
        let per_hour = NonZeroU32::new(config.per_address_per_hour);
        let per_hour_proxied = NonZeroU32::new(config.proxied_per_address_per_hour);
        let global = |n| {
            NonZeroU32::new(n)
                .map(|n| RateLimiter::direct_with_clock(Quota::per_minute(n), LimiterClock(clock.clone())))
        };
        let (global_form, global_api) = (global(config.global_per_minute), global(config.api_global_per_minute));
        let day = Mutex::new(Self::new_day(&clock, per_hour, per_hour_proxied));
        Self { clock, per_hour, per_hour_proxied, day, global_form, global_api }
    }

    fn new_day(clock: &Arc<Clock>, per_hour: Option<NonZeroU32>, per_hour_proxied: Option<NonZeroU32>) -> Day {
        let keyed = |n: Option<NonZeroU32>| {
            n.map(|n| RateLimiter::hashmap_with_clock(Quota::per_hour(n), LimiterClock(clock.clone())))
        };
        Day {
            number: clock.now().div_euclid(86_400),
            key: Zeroizing::new(crate::seal::random()),
            per_client: keyed(per_hour),
            per_proxied: keyed(per_hour_proxied),
        }
    }

    /// The keyed hash of a client under today's key, replacing the key when the day has changed.
    fn key_for(&self, day: &mut Day, client: Client) -> u64 {
        let today = self.clock.now().div_euclid(86_400);
        if day.number != today {
            // The old key is zeroized as it drops.
            *day = Self::new_day(&self.clock, self.per_hour, self.per_hour_proxied);
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&day.key[..]).expect("any key length");
        mac.update(&[u8::from(client.proxied)]);
        mac.update(&masked(client));
        u64::from_be_bytes(mac.finalize().into_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// Count one submission against its sender, whatever it holds: the first check on the submit
    /// path, before anything is validated, so a sender's invalid bodies use up that sender's budget
    /// only. `exempt` (a valid outreach code) skips it.
    pub fn check_client(&self, client: Option<Client>, exempt: bool) -> Result<(), Limited> {
        if exempt {
            return Ok(());
        }
        let Some(client) = client else { return Ok(()) };
        let mut day = self.day.lock().unwrap_or_else(|p| p.into_inner());
        let key = self.key_for(&mut day, client);
        let limiter = if client.proxied { &day.per_proxied } else { &day.per_client };
        match limiter {
            Some(limiter) => limiter.check_key(&key).map_err(|_| Limited::PerClient),
            None => Ok(()),
        }
    }

    /// Spend one unit of a door's budget from everyone together: only for a submission that passed
    /// its sender's limit and validated (a valid code does not skip this).
    pub fn check_global(&self, door: Door) -> Result<(), Limited> {
        let global = match door {
            Door::Form => &self.global_form,
            Door::Api => &self.global_api,
        };
        match global {
            Some(global) => global.check().map_err(|_| Limited::Global),
            None => Ok(()),
        }
    }

    /// Today's key, for tests that prove it changes daily and is never written anywhere.
    #[doc(hidden)]
    pub fn key_for_tests(&self) -> [u8; 32] {
        let mut day = self.day.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.key_for(&mut day, Client { addr: IpAddr::from([127, 0, 0, 1]), proxied: false });
        *day.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(clock: Arc<Clock>, per_address_per_hour: u32, global_per_minute: u32) -> Limits {
        let config = SubmitLimits {
            per_address_per_hour,
            proxied_per_address_per_hour: 2,
            global_per_minute,
            api_global_per_minute: global_per_minute,
            min_fill_seconds: 0,
            trusted_proxy_header: None,
            flood_alert_factor: 5,
        };
        Limits::new(clock, &config)
    }

    fn direct(addr: impl Into<IpAddr>) -> Option<Client> {
        Some(Client { addr: addr.into(), proxied: false })
    }

    #[test]
    fn per_client_limit_and_daily_rotation() {
        let clock = Arc::new(Clock::default());
        let limits = limits(clock.clone(), 20, 0);
        let a = direct([192, 0, 2, 1]);
        let b = direct([192, 0, 2, 2]);
        for _ in 0..20 {
            assert!(limits.check_client(a, false).is_ok());
        }
        assert_eq!(limits.check_client(a, false), Err(Limited::PerClient));
        assert!(limits.check_client(a, true).is_ok(), "a valid code is exempt");
        assert!(limits.check_client(b, false).is_ok(), "another address is not affected");
        let key = limits.key_for_tests();
        clock.advance(86_400);
        assert_ne!(limits.key_for_tests(), key, "a new day brings a new key");
        assert!(limits.check_client(a, false).is_ok(), "and fresh counters");
    }

    #[test]
    fn ipv6_shares_a_limit_across_its_56() {
        let clock = Arc::new(Clock::default());
        let limits = limits(clock, 1, 0);
        let one: IpAddr = "2001:db8:aa:bb01::1".parse().unwrap();
        let same_56: IpAddr = "2001:db8:aa:bbff::9".parse().unwrap();
        let other_56: IpAddr = "2001:db8:aa:cc00::1".parse().unwrap();
        assert!(limits.check_client(direct(one), false).is_ok());
        assert!(limits.check_client(direct(same_56), false).is_err());
        assert!(limits.check_client(direct(other_56), false).is_ok());
    }

    #[test]
    fn proxied_clients_count_whole_addresses_against_their_own_limit() {
        // Tor's HiddenServiceExportCircuitID puts the circuit id in the low 32 bits of fc00:dead:beef:4dad::/64.
        let clock = Arc::new(Clock::default());
        let limits = limits(clock, 1, 0);
        let circuit =
            |id: u16| Some(Client { addr: IpAddr::from([0xfc00, 0xdead, 0xbeef, 0x4dad, 0, 0, 0, id]), proxied: true });
        for _ in 0..2 {
            assert!(limits.check_client(circuit(1), false).is_ok(), "the proxied listener's own limit (2)");
        }
        assert!(limits.check_client(circuit(1), false).is_err());
        assert!(limits.check_client(circuit(2), false).is_ok(), "another circuit has its own bucket");
    }

    #[test]
    fn global_ceiling_applies_to_everyone() {
        let clock = Arc::new(Clock::default());
        let limits = limits(clock.clone(), 0, 3);
        for _ in 0..3 {
            assert!(limits.check_global(Door::Form).is_ok());
        }
        assert_eq!(limits.check_global(Door::Form), Err(Limited::Global));
        assert!(limits.check_global(Door::Api).is_ok(), "the API has a budget of its own");
        clock.advance(60);
        assert!(limits.check_global(Door::Form).is_ok());
    }
}
