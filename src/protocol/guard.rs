//! Guessing: failed client authentications and passwords slow down, then stop, the address
//! and the name they come from, in bounded memory.
//!
//! Two kinds of counter: one per source address (any failure from it), and one per name
//! (a client id or a user name) *and* address. Past a few failures a counter blocks for a
//! time that doubles with each further failure; while it blocks, the endpoint answers `429`
//! with `Retry-After` before checking anything (so a guesser also stops costing Argon2
//! time). A name is never blocked everywhere: a device that guesses alice's password
//! blocks itself, not alice's phone on another address. A second factor's code is the
//! exception: whoever types one already has the password, so its failures also count per
//! person from every address ([`Kind::Code`]), and many addresses sharing one stolen
//! password get no more guesses than one. A success clears the counters it matches. Nothing here touches the disk: an attempt costs no SD-card write.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failures from one address, of any name, before it is blocked.
pub const ADDRESS_FREE_FAILURES: u32 = 10;
/// Failures for one name from one address before that pair is blocked.
pub const NAME_FREE_FAILURES: u32 = 5;
/// Wrong second-factor codes for one person, from any address, before they are blocked.
pub const CODE_FREE_FAILURES: u32 = 10;
/// The longest a counter blocks, seconds.
pub const MAX_BLOCK: u64 = 15 * 60;

/// What a counter is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    NameAt(Kind, String, IpAddr),
    Name(Kind, String),
}

/// Whose name: a client id and a user name never share a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A client id.
    Client,
    /// A user name, for a password.
    User,
    /// A user name, for a second factor's code.
    Code,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    blocked_until: u64,
    last: u64,
}

/// The counters, at most `capacity` of them.
pub struct Guard {
    capacity: usize,
    counters: Mutex<HashMap<Key, Counter>>,
}

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the credentials.
    Go,
    /// Refuse unchecked for this many more seconds.
    Wait(u64),
}

impl Guard {
    /// Counters for at most `capacity` addresses and pairs.
    pub fn new(capacity: usize) -> Guard {
        Guard {
            capacity: capacity.max(16),
            counters: Mutex::new(HashMap::new()),
        }
    }

    fn keys(addr: Option<IpAddr>, kind: Kind, name: &str) -> Vec<(Key, u32)> {
        match (addr, kind) {
            (Some(a), Kind::Code) => vec![
                (Key::Address(a), ADDRESS_FREE_FAILURES),
                (Key::Name(kind, name.to_string()), CODE_FREE_FAILURES),
            ],
            (Some(a), _) => vec![
                (Key::Address(a), ADDRESS_FREE_FAILURES),
                (Key::NameAt(kind, name.to_string(), a), NAME_FREE_FAILURES),
            ],
            // No address (not from the network): nothing to hold against.
            (None, _) => Vec::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Counter>> {
        // The map is valid at every step: a panic elsewhere cannot leave it torn.
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// May an attempt for `name` from `addr` be checked at `now` (seconds)?
    pub fn check(&self, addr: Option<IpAddr>, kind: Kind, name: &str, now: u64) -> Verdict {
        let counters = self.lock();
        let wait = Self::keys(addr, kind, name)
            .iter()
            .filter_map(|(k, _)| counters.get(k))
            .map(|c| c.blocked_until.saturating_sub(now))
            .max()
            .unwrap_or(0);
        if wait > 0 {
            Verdict::Wait(wait)
        } else {
            Verdict::Go
        }
    }

    /// Counts a failure for `name` from `addr` at `now`.
    pub fn failed(&self, addr: Option<IpAddr>, kind: Kind, name: &str, now: u64) {
        let mut counters = self.lock();
        for (key, free) in Self::keys(addr, kind, name) {
            if !counters.contains_key(&key) && counters.len() >= self.capacity {
                evict(&mut counters, now);
            }
            let c = counters.entry(key).or_insert(Counter {
                failures: 0,
                blocked_until: 0,
                last: now,
            });
            c.failures = c.failures.saturating_add(1);
            c.last = now;
            if c.failures >= free {
                // 1 s at the threshold, then doubling: 2, 4, … up to MAX_BLOCK.
                let doublings = (c.failures - free).min(20);
                c.blocked_until = now.saturating_add((1u64 << doublings).min(MAX_BLOCK));
            }
        }
    }

    /// Clears the counter of `name` (at `addr`) after a success. The address's own counter
    /// stays: a guesser who also holds one good credential must not wipe it with every
    /// request.
    pub fn succeeded(&self, addr: Option<IpAddr>, kind: Kind, name: &str) {
        let mut counters = self.lock();
        for (key, _) in Self::keys(addr, kind, name) {
            if !matches!(key, Key::Address(_)) {
                counters.remove(&key);
            }
        }
    }

    /// How many counters are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes room: a counter that no longer blocks goes first, the one idle longest; if every
/// counter blocks, the one whose block ends first.
fn evict(counters: &mut HashMap<Key, Counter>, now: u64) {
    let victim = counters
        .iter()
        .min_by_key(|(_, c)| (c.blocked_until > now, c.blocked_until, c.last))
        .map(|(k, _)| k.clone());
    if let Some(k) = victim {
        counters.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_guesser_is_slowed_then_stopped_with_growing_waits() {
        let g = Guard::new(100);
        let (a, now) = (ip("192.168.1.66"), 1000);
        for _ in 0..NAME_FREE_FAILURES - 1 {
            assert_eq!(g.check(a, Kind::User, "alice", now), Verdict::Go);
            g.failed(a, Kind::User, "alice", now);
        }
        assert_eq!(g.check(a, Kind::User, "alice", now), Verdict::Go);
        g.failed(a, Kind::User, "alice", now);
        assert_eq!(g.check(a, Kind::User, "alice", now), Verdict::Wait(1));
        assert_eq!(g.check(a, Kind::User, "alice", now + 1), Verdict::Go);
        g.failed(a, Kind::User, "alice", now + 1);
        assert_eq!(g.check(a, Kind::User, "alice", now + 1), Verdict::Wait(2));
        g.failed(a, Kind::User, "alice", now + 3);
        assert_eq!(g.check(a, Kind::User, "alice", now + 3), Verdict::Wait(4));
        // The waits are capped.
        for t in 0..40 {
            g.failed(a, Kind::User, "alice", now + 10 + t);
        }
        assert_eq!(
            g.check(a, Kind::User, "alice", now + 49),
            Verdict::Wait(MAX_BLOCK)
        );
    }

    #[test]
    fn the_name_is_not_locked_out_elsewhere_and_a_success_clears_the_pair() {
        let g = Guard::new(100);
        let (thief, phone) = (ip("192.168.1.66"), ip("192.168.1.20"));
        for _ in 0..NAME_FREE_FAILURES {
            g.failed(thief, Kind::User, "alice", 1000);
        }
        assert!(matches!(
            g.check(thief, Kind::User, "alice", 1000),
            Verdict::Wait(_)
        ));
        assert_eq!(g.check(phone, Kind::User, "alice", 1000), Verdict::Go);
        g.failed(phone, Kind::User, "alice", 1000);
        g.succeeded(phone, Kind::User, "alice");
        assert_eq!(g.check(phone, Kind::User, "alice", 1000), Verdict::Go);
        // A good credential from the guesser's address clears neither the address counter
        // nor another name's.
        let g2 = Guard::new(100);
        for i in 0..ADDRESS_FREE_FAILURES {
            g2.failed(thief, Kind::User, &format!("user{i}"), 1000);
            g2.succeeded(thief, Kind::Client, "app");
        }
        assert!(matches!(
            g2.check(thief, Kind::User, "new", 1000),
            Verdict::Wait(_)
        ));
        // Trying other names from the same address is stopped by the address counter.
        let g = Guard::new(100);
        for i in 0..ADDRESS_FREE_FAILURES {
            g.failed(thief, Kind::User, &format!("user{i}"), 1000);
        }
        assert!(matches!(
            g.check(thief, Kind::User, "anyone", 1000),
            Verdict::Wait(_)
        ));
        assert_eq!(g.check(phone, Kind::User, "anyone", 1000), Verdict::Go);
        // Requests without an address (not from the network) are never held.
        g.failed(None, Kind::User, "x", 1000);
        assert_eq!(g.check(None, Kind::User, "x", 1000), Verdict::Go);
    }

    #[test]
    fn codes_count_per_person_from_every_address() {
        let g = Guard::new(100);
        // One guess from each of many addresses: the person's counter still fills.
        for i in 0..CODE_FREE_FAILURES {
            let a = Some(IpAddr::from([10, 0, 0, i as u8]));
            assert_eq!(g.check(a, Kind::Code, "alice", 1000), Verdict::Go);
            g.failed(a, Kind::Code, "alice", 1000);
        }
        let fresh = ip("10.9.9.9");
        assert!(matches!(
            g.check(fresh, Kind::Code, "alice", 1000),
            Verdict::Wait(_)
        ));
        // Her password and another person's codes are not held by it.
        assert_eq!(g.check(fresh, Kind::User, "alice", 1000), Verdict::Go);
        assert_eq!(g.check(fresh, Kind::Code, "bob", 1000), Verdict::Go);
        g.succeeded(fresh, Kind::Code, "alice");
        assert_eq!(g.check(fresh, Kind::Code, "alice", 1000), Verdict::Go);
    }

    #[test]
    fn memory_is_bounded_and_blocking_counters_are_evicted_last() {
        let g = Guard::new(16);
        let thief = ip("10.0.0.1");
        for _ in 0..NAME_FREE_FAILURES {
            g.failed(thief, Kind::User, "alice", 1000);
        }
        // Many other addresses each fail once: the map stays at its bound, and the
        // blocking counters survive.
        for i in 0..500u32 {
            let a = IpAddr::from([10, 1, (i / 250) as u8, (i % 250) as u8]);
            g.failed(Some(a), Kind::User, "x", 1000);
        }
        assert!(g.len() <= 16, "{}", g.len());
        assert!(matches!(
            g.check(thief, Kind::User, "alice", 1000),
            Verdict::Wait(_)
        ));
    }
}
