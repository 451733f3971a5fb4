//! Per-source flood protection in front of the SIP stack, as a core without clock: each source
//! address has a token bucket (`rate` messages per second, bursts of twice that); a source that
//! empties it is banned — everything it sends is dropped unanswered — for `ban` milliseconds.
//! Malformed messages cost more than well-formed ones, so scanners are banned sooner. Trusted
//! networks (the trunk, a proxy) are never limited. The table of sources is bounded.

use std::collections::HashMap;
use std::net::IpAddr;

use super::transaction::Time;

/// An address block, `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn prefix(a: u128, b: u128, bits: u8, width: u8) -> bool {
            if bits == 0 {
                return true;
            }
            let shift = width - bits;
            (a >> shift) == (b >> shift)
        }
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => prefix(u32::from(n) as u128, u32::from(i) as u128, self.bits, 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => prefix(u128::from(n), u128::from(i), self.bits, 128),
            (IpAddr::V4(n), IpAddr::V6(i)) => i
                .to_ipv4_mapped()
                .is_some_and(|i| prefix(u32::from(n) as u128, u32::from(i) as u128, self.bits, 32)),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// Messages per second a source may sustain.
    pub rate: u32,
    pub ban_ms: u64,
    pub trusted: Vec<Cidr>,
    /// Sources remembered at most (the least recently seen are forgotten first).
    pub max_sources: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Dropped: the source is (now) banned.
    Banned,
}

struct Source {
    tokens: f64,
    last: Time,
    banned_until: Option<Time>,
}

pub struct Guard {
    cfg: GuardConfig,
    sources: HashMap<IpAddr, Source>,
    /// Bans started (for metrics).
    pub bans: u64,
}

/// An address fit for logs: an IPv4 address without its last octet (`192.0.2.x`), an IPv6
/// address with its first three groups only (`2001:db8:1::x`).
pub fn masked(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.x")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::x", s[0], s[1], s[2])
        }
    }
}

/// What a message costs: a well-formed one 1, one the stack refused as malformed 5.
pub const MALFORMED_COST: f64 = 5.0;

impl Guard {
    pub fn new(cfg: GuardConfig) -> Guard {
        Guard {
            cfg,
            sources: HashMap::new(),
            bans: 0,
        }
    }

    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.cfg.trusted.iter().any(|c| c.contains(ip))
    }

    /// Charge `cost` to `ip` for a message that arrived `now`.
    pub fn check(&mut self, now: Time, ip: IpAddr, cost: f64) -> Verdict {
        if self.is_trusted(ip) {
            return Verdict::Pass;
        }
        if self.sources.len() >= self.cfg.max_sources && !self.sources.contains_key(&ip) {
            self.forget_oldest();
        }
        let rate = self.cfg.rate.max(1) as f64;
        let burst = 2.0 * rate;
        let s = self.sources.entry(ip).or_insert(Source {
            tokens: burst,
            last: now,
            banned_until: None,
        });
        if let Some(until) = s.banned_until {
            if now < until {
                s.last = now;
                return Verdict::Banned;
            }
            s.banned_until = None;
            s.tokens = burst;
        }
        let elapsed = now.0.saturating_sub(s.last.0) as f64 / 1000.0;
        s.tokens = (s.tokens + elapsed * rate).min(burst);
        s.last = now;
        s.tokens -= cost;
        if s.tokens < 0.0 {
            s.banned_until = Some(now.after(self.cfg.ban_ms));
            self.bans += 1;
            return Verdict::Banned;
        }
        Verdict::Pass
    }

    /// Sources currently banned.
    pub fn banned(&self, now: Time) -> usize {
        self.sources
            .values()
            .filter(|s| s.banned_until.is_some_and(|u| now < u))
            .count()
    }

    fn forget_oldest(&mut self) {
        // Forget the quietest tenth at once, so this runs rarely.
        let mut by_age: Vec<(Time, IpAddr)> = self.sources.iter().map(|(ip, s)| (s.last, *ip)).collect();
        by_age.sort();
        let n = (self.sources.len() / 10).max(1);
        for (_, ip) in by_age.into_iter().take(n) {
            self.sources.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(GuardConfig {
            rate: 10,
            ban_ms: 60_000,
            trusted: vec![Cidr::parse("10.0.0.0/8").unwrap()],
            max_sources: 100,
        })
    }

    #[test]
    fn a_flood_is_banned_for_a_while_and_a_steady_source_is_not() {
        let mut g = guard();
        let flood: IpAddr = "203.0.113.5".parse().unwrap();
        let steady: IpAddr = "198.51.100.1".parse().unwrap();
        let mut passed = 0;
        for i in 0..100 {
            let t = Time(i); // 100 messages in 100 ms
            if g.check(t, flood, 1.0) == Verdict::Pass {
                passed += 1;
            }
        }
        assert_eq!(passed, 20, "the burst, then nothing");
        for i in 0..600 {
            assert_eq!(g.check(Time(i * 100), steady, 1.0), Verdict::Pass, "10/s is allowed");
        }
        assert_eq!(g.check(Time(59_000), flood, 1.0), Verdict::Banned, "still banned");
        assert_eq!(g.check(Time(60_200), flood, 1.0), Verdict::Pass, "the ban ends");
        assert_eq!(g.bans, 1);
    }

    #[test]
    fn malformed_messages_ban_sooner_and_trusted_sources_never() {
        let mut g = guard();
        let scanner: IpAddr = "203.0.113.9".parse().unwrap();
        let passed = (0..10)
            .filter(|_| g.check(Time(0), scanner, MALFORMED_COST) == Verdict::Pass)
            .count();
        assert_eq!(passed, 4);
        let trunk: IpAddr = "10.1.2.3".parse().unwrap();
        assert!((0..10_000).all(|_| g.check(Time(0), trunk, 1.0) == Verdict::Pass));
        assert_eq!(g.banned(Time(1)), 1);
    }

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("192.168.0.0/16").unwrap();
        assert!(c.contains("192.168.44.1".parse().unwrap()));
        assert!(!c.contains("192.169.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:192.168.1.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("example.com").is_err());
    }

    #[test]
    fn the_table_of_sources_stays_bounded() {
        let mut g = guard();
        for i in 0..1000u32 {
            g.check(Time(i as u64), IpAddr::from(i.to_be_bytes()), 1.0);
        }
        assert!(g.sources.len() <= 100);
    }

    #[test]
    fn masked_addresses_keep_the_network_only() {
        assert_eq!(masked("192.0.2.77".parse().unwrap()), "192.0.2.x");
        assert_eq!(masked("::ffff:198.51.100.9".parse().unwrap()), "198.51.100.x");
        assert_eq!(masked("2001:db8:1:2::99".parse().unwrap()), "2001:db8:1::x");
    }
}
