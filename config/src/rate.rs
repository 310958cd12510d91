//! `max_sessions_per_minute`: a fixed-memory counter of sessions per
//! (allow rule, source address) and minute, one per worker.
//!
//! The table is sized at construction and never grows: a slot holds one
//! (rule, source) pair's count for the current minute window, found by
//! hashing with a bounded probe. Windows are fixed calendar minutes of the
//! caller's clock (`now_secs / 60`), so up to twice the limit can pass
//! around a minute boundary. Keys are stored whole, so two sources never
//! share a count. When every slot a key may use holds another pair counted
//! in the current minute, the session is refused (fail closed: the rule
//! does not admit it) and [`RateLimiter::overflows`] counts it — size the
//! table above the number of distinct rate-limited sources a worker sees
//! per minute. Each worker counts its own sessions: with flows spread over
//! N workers, a source can get up to N times the limit in total.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;

use crate::cidr::addr_key;

/// How many neighbouring slots a key may occupy.
const PROBE: usize = 8;

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Minute window + 1; 0 = never used.
    window: u64,
    src: u128,
    v6: bool,
    rule: usize,
    count: u32,
}

/// Per-worker session counts for rate-limited allow rules.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    slots: Box<[Entry]>,
    mask: usize,
    hasher: RandomState,
    overflows: u64,
}

impl RateLimiter {
    /// A limiter with room for at least `capacity` (rule, source) pairs per
    /// minute (rounded up to a power of two, at least 8, at most 2^30).
    pub fn new(capacity: usize) -> RateLimiter {
        let size = capacity.clamp(PROBE, 1 << 30).next_power_of_two();
        RateLimiter {
            slots: vec![Entry::default(); size].into_boxed_slice(),
            mask: size - 1,
            hasher: RandomState::new(),
            overflows: 0,
        }
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Counts one session of `src` under allow rule `rule` (its index) and
    /// returns whether it is within `limit` sessions this minute. A refused
    /// session is not counted. Allocation-free.
    pub fn admit(&mut self, rule: usize, src: IpAddr, limit: u32, now_secs: u64) -> bool {
        let window = now_secs / 60 + 1;
        let (key, v6) = (addr_key(src), src.is_ipv6());
        let start = self.hasher.hash_one((rule, v6, key)) as usize;
        let mut free = None;
        for i in 0..PROBE {
            let index = (start.wrapping_add(i)) & self.mask;
            let e = &mut self.slots[index];
            if e.window != 0 && e.rule == rule && e.src == key && e.v6 == v6 {
                if e.window != window {
                    e.window = window;
                    e.count = 0;
                }
                if e.count >= limit {
                    return false;
                }
                e.count += 1;
                return true;
            }
            if free.is_none() && e.window != window {
                free = Some(index);
            }
        }
        match free {
            Some(index) if limit > 0 => {
                self.slots[index] = Entry { window, src: key, v6, rule, count: 1 };
                true
            }
            Some(_) => false,
            None => {
                self.overflows += 1;
                false
            }
        }
    }

    /// Sessions refused because the table had no room (for the worker's counters).
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Forgets every count; call when a new policy is installed, since counts are keyed by rule position.
    pub fn clear(&mut self) {
        self.slots.fill(Entry::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn counts_per_rule_and_source_within_a_minute() {
        let mut r = RateLimiter::new(64);
        let a = ip("198.51.100.1");
        let t = 6_000;
        assert!((0..3).all(|_| r.admit(0, a, 3, t)));
        assert!(!r.admit(0, a, 3, t + 59));
        assert!(r.admit(1, a, 3, t), "another rule has its own count");
        assert!(r.admit(0, ip("198.51.100.2"), 3, t), "another source has its own count");
        assert!(r.admit(0, ip("::ffff:198.51.100.1"), 3, t), "families are distinct");
        assert!(r.admit(0, a, 3, t + 60), "a new minute starts a new count");
        r.clear();
        assert!((0..3).all(|_| r.admit(0, a, 3, t + 60)));
    }

    #[test]
    fn a_full_table_refuses_and_counts_overflows() {
        let mut r = RateLimiter::new(8);
        assert_eq!(r.capacity(), 8);
        let admitted = (0..20u8).filter(|i| r.admit(0, IpAddr::from([10, 0, 0, *i]), 5, 0)).count();
        // With 8 slots every key may probe all of them: exactly 8 pairs fit.
        assert_eq!(admitted, 8);
        assert_eq!(r.overflows(), 12);
        // The next minute reuses the stale slots.
        assert!(r.admit(0, ip("10.0.1.1"), 5, 60));
    }
}
