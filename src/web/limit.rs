//! Uploads per client: a token bucket per address (an IPv6 client counts by its /64, the block a
//! single subscriber gets), refilled continuously; an empty bucket answers `429` with the wait.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before the full ones are dropped (a flood of addresses stays bounded).
const MAX_CLIENTS: usize = 100_000;

pub struct RateLimiter {
    /// Uploads per minute, also the burst; 0: no limit.
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The client an address counts as.
fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn rate(&self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }

    /// Take one upload for `ip`; else how long until the next one is allowed.
    pub fn take(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let cap = f64::from(self.per_minute);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS {
            self.prune_locked(&mut buckets, now);
        }
        let b = buckets.entry(client(ip)).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate()).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate()))
        }
    }

    /// Forget the clients whose bucket is full again.
    pub fn prune(&self) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        self.prune_locked(&mut buckets, Instant::now());
    }

    fn prune_locked(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        let cap = f64::from(self.per_minute);
        let rate = self.rate();
        buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits() {
        let l = RateLimiter::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.take(a).is_ok());
        assert!(l.take(a).is_ok());
        let wait = l.take(a).unwrap_err();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
        assert!(l.take(b).is_ok(), "another client has its own bucket");
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        let l = RateLimiter::new(1);
        assert!(l.take("2001:db8::1".parse().unwrap()).is_ok());
        assert!(l.take("2001:db8::2".parse().unwrap()).is_err());
        assert!(l.take("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn zero_is_no_limit() {
        let l = RateLimiter::new(0);
        for _ in 0..1000 {
            assert!(l.take("192.0.2.1".parse().unwrap()).is_ok());
        }
    }
}
