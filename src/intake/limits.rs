//! Submission rate limits, held only in RAM. The key for a client is a keyed hash of its address
//! (IPv4 /32, IPv6 /56) under a random key that lives in memory only and is replaced every day —
//! the old key zeroized, the old counters dropped. Nothing here is logged or written anywhere.
//! The web layer hands the address over as an `IpAddr`; nothing else of the request reaches here.

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
}

pub struct Limits {
    clock: Arc<Clock>,
    per_hour: Option<NonZeroU32>,
    day: Mutex<Day>,
    global: Option<Global>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Limited {
    PerClient,
    Global,
}

/// IPv4 whole; IPv6 cut to its /56 (one household or device's usual allocation).
fn masked(addr: IpAddr) -> Vec<u8> {
    match addr {
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
        let global = NonZeroU32::new(config.global_per_minute)
            .map(|n| RateLimiter::direct_with_clock(Quota::per_minute(n), LimiterClock(clock.clone())));
        let day = Mutex::new(Self::new_day(&clock, per_hour));
        Self { clock, per_hour, day, global }
    }

    fn new_day(clock: &Arc<Clock>, per_hour: Option<NonZeroU32>) -> Day {
        Day {
            number: clock.now().div_euclid(86_400),
            key: Zeroizing::new(crate::seal::random()),
            per_client: per_hour
                .map(|n| RateLimiter::hashmap_with_clock(Quota::per_hour(n), LimiterClock(clock.clone()))),
        }
    }

    /// The keyed hash of a client under today's key, replacing the key when the day has changed.
    fn key_for(&self, day: &mut Day, addr: IpAddr) -> u64 {
        let today = self.clock.now().div_euclid(86_400);
        if day.number != today {
            *day = Self::new_day(&self.clock, self.per_hour); // the old key is zeroized as it drops
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&day.key[..]).expect("any key length");
        mac.update(&masked(addr));
        u64::from_be_bytes(mac.finalize().into_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// Count one submission. `exempt` (a valid outreach code) skips the per-client limit, never the global one.
    pub fn check(&self, addr: Option<IpAddr>, exempt: bool) -> Result<(), Limited> {
        if let Some(global) = &self.global {
            global.check().map_err(|_| Limited::Global)?;
        }
        if exempt {
            return Ok(());
        }
        let Some(addr) = addr else { return Ok(()) };
        let mut day = self.day.lock().unwrap_or_else(|p| p.into_inner());
        let key = self.key_for(&mut day, addr);
        match &day.per_client {
            Some(limiter) => limiter.check_key(&key).map_err(|_| Limited::PerClient),
            None => Ok(()),
        }
    }

    /// Today's key, for tests that prove it changes daily and is never written anywhere.
    #[doc(hidden)]
    pub fn key_for_tests(&self) -> [u8; 32] {
        let mut day = self.day.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.key_for(&mut day, IpAddr::from([127, 0, 0, 1]));
        *day.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(clock: Arc<Clock>, per_address_per_hour: u32, global_per_minute: u32) -> Limits {
        let config = SubmitLimits {
            per_address_per_hour,
            global_per_minute,
            min_fill_seconds: 0,
            trusted_proxy_header: None,
            flood_alert_factor: 5,
        };
        Limits::new(clock, &config)
    }

    #[test]
    fn per_client_limit_and_daily_rotation() {
        let clock = Arc::new(Clock::default());
        let limits = limits(clock.clone(), 20, 0);
        let a = Some(IpAddr::from([192, 0, 2, 1]));
        let b = Some(IpAddr::from([192, 0, 2, 2]));
        for _ in 0..20 {
            assert!(limits.check(a, false).is_ok());
        }
        assert_eq!(limits.check(a, false), Err(Limited::PerClient));
        assert!(limits.check(a, true).is_ok(), "a valid code is exempt");
        assert!(limits.check(b, false).is_ok(), "another address is not affected");
        let key = limits.key_for_tests();
        clock.advance(86_400);
        assert_ne!(limits.key_for_tests(), key, "a new day brings a new key");
        assert!(limits.check(a, false).is_ok(), "and fresh counters");
    }

    #[test]
    fn ipv6_shares_a_limit_across_its_56() {
        let clock = Arc::new(Clock::default());
        let limits = limits(clock, 1, 0);
        let one: IpAddr = "2001:db8:aa:bb01::1".parse().unwrap();
        let same_56: IpAddr = "2001:db8:aa:bbff::9".parse().unwrap();
        let other_56: IpAddr = "2001:db8:aa:cc00::1".parse().unwrap();
        assert!(limits.check(Some(one), false).is_ok());
        assert!(limits.check(Some(same_56), false).is_err());
        assert!(limits.check(Some(other_56), false).is_ok());
    }

    #[test]
    fn global_ceiling_applies_to_everyone() {
        let clock = Arc::new(Clock::default());
        let limits = limits(clock.clone(), 0, 3);
        for i in 0..3u8 {
            assert!(limits.check(Some(IpAddr::from([10, 0, 0, i])), true).is_ok());
        }
        assert_eq!(limits.check(Some(IpAddr::from([10, 0, 0, 9])), true), Err(Limited::Global));
        clock.advance(60);
        assert!(limits.check(None, false).is_ok());
    }
}
