//! Login throttling. Two rules, both answered 429 with `Retry-After`:
//! - **per address**, every attempt counts (governor's GCRA: a burst of 60, then 5 a second),
//!   so a flood from one address is refused before it costs a password hash and cannot starve
//!   other users' requests of CPU;
//! - **per username**, failures back off: after [`FREE_FAILURES`] failures in a row the name is
//!   refused for 1 s, then 2 s, 4 s … up to [`MAX_BACKOFF_SECS`], so guessing is slow while the
//!   real user is never locked out for more than a minute; a success clears it, and failures
//!   older than [`FORGET_AFTER`] are forgotten.
//!
//! The back-off is our own (governor counts rates, it has no growing penalty); it is a map with
//! a bounded number of names, kept in memory per node.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Failures in a row before a username is made to wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait a username is given.
pub const MAX_BACKOFF_SECS: u64 = 60;
/// Failures this old no longer count.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Usernames tracked at most; the stalest are dropped beyond it.
const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

pub struct LoginThrottle {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    failures: Mutex<HashMap<String, Failures>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let quota =
            Quota::per_second(NonZeroU32::new(5).expect("5 > 0")).allow_burst(NonZeroU32::new(60).expect("60 > 0"));
        LoginThrottle {
            per_address: DefaultKeyedRateLimiter::keyed(quota),
            failures: Mutex::new(HashMap::new()),
        }
    }
}

fn key(username: &str) -> String {
    username.trim().to_lowercase()
}

/// How long a name with `count` failures in a row waits after its last one.
pub fn backoff(count: u32) -> Duration {
    if count < FREE_FAILURES {
        return Duration::ZERO;
    }
    let exp = (count - FREE_FAILURES).min(6);
    Duration::from_secs((1u64 << exp).min(MAX_BACKOFF_SECS))
}

impl LoginThrottle {
    /// May this attempt go ahead? `Err(seconds to wait)` otherwise. Counts the attempt against
    /// the address.
    pub fn admit(&self, addr: Option<IpAddr>, username: &str, now: Instant) -> Result<(), u64> {
        if let Some(ip) = addr {
            if let Err(not_until) = self.per_address.check_key(&ip) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(wait.as_secs_f64().ceil() as u64);
            }
        }
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = map.get(&key(username)) {
            if now.duration_since(f.last) < FORGET_AFTER {
                let until = f.last + backoff(f.count);
                if until > now {
                    return Err((until - now).as_secs_f64().ceil() as u64);
                }
            }
        }
        Ok(())
    }

    /// A wrong password (or an unknown name) for `username`.
    pub fn failed(&self, username: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
            if map.len() >= MAX_TRACKED {
                if let Some(stalest) = map.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| k.clone()) {
                    map.remove(&stalest);
                }
            }
        }
        let f = map.entry(key(username)).or_insert(Failures { count: 0, last: now });
        if now.duration_since(f.last) >= FORGET_AFTER {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
    }

    pub fn succeeded(&self, username: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_up_to_a_minute_and_success_clears() {
        let t = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.admit(None, "Agent1", t0), Ok(()));
            t.failed("agent1", t0);
        }
        assert_eq!(t.admit(None, "agent1", t0), Err(1));
        assert_eq!(t.admit(None, "agent2", t0), Ok(()), "other names are not held up");
        assert_eq!(t.admit(None, "agent1", t0 + Duration::from_secs(1)), Ok(()));
        let mut at = t0;
        for _ in 0..20 {
            at += Duration::from_secs(61);
            t.failed("agent1", at);
        }
        assert_eq!(t.admit(None, "agent1", at), Err(MAX_BACKOFF_SECS), "capped");
        assert_eq!(t.admit(None, "agent1", at + Duration::from_secs(60)), Ok(()));
        t.succeeded("AGENT1");
        t.failed("agent1", at);
        assert_eq!(t.admit(None, "agent1", at), Ok(()), "a success starts the count again");
        assert_eq!(t.admit(None, "agent1", at + FORGET_AFTER), Ok(()));
    }

    #[test]
    fn a_flood_from_one_address_is_refused() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let now = Instant::now();
        let refused = (0..200)
            .filter(|i| t.admit(Some(ip), &format!("u{i}"), now).is_err())
            .count();
        assert!(refused >= 100, "{refused}");
        assert_eq!(t.admit(Some("127.0.0.10".parse().unwrap()), "u", now), Ok(()));
    }
}
