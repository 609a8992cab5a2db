//! The `jti`s of assertions already used (RFC 7523 §3, item 7): each is accepted once while
//! it could still be accepted. In memory and bounded, in all and per client or issuer (so
//! that one cannot fill it for the others); when full of live entries a new assertion is
//! refused, never an old one forgotten early.

use std::collections::HashMap;
use std::sync::Mutex;

/// What a first use of a `jti` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Not seen: it is now remembered.
    First,
    /// Seen before, and still live.
    Replayed,
    /// Full of live entries (in all, or of this owner's): refused, nothing forgotten.
    Full,
}

#[derive(Default)]
struct Seen {
    /// (owner, jti) → until.
    jtis: HashMap<(String, String), u64>,
    /// Live entries per owner.
    per_owner: HashMap<String, usize>,
}

impl Seen {
    fn forget_expired(&mut self, now: u64) {
        let per_owner = &mut self.per_owner;
        self.jtis.retain(|(owner, _), until| {
            let live = *until >= now;
            if !live {
                if let Some(n) = per_owner.get_mut(owner) {
                    *n -= 1;
                }
            }
            live
        });
        per_owner.retain(|_, n| *n > 0);
    }
}

/// Used assertion ids, per client (or issuer), until they expire.
pub struct ReplayCache {
    seen: Mutex<Seen>,
    capacity: usize,
    per_owner: usize,
}

impl ReplayCache {
    /// A cache of at most `capacity` live entries, an eighth of them (at least 16) for any
    /// one owner.
    pub fn new(capacity: usize) -> ReplayCache {
        let capacity = capacity.max(1);
        ReplayCache {
            seen: Mutex::new(Seen::default()),
            capacity,
            per_owner: (capacity / 8).max(16).min(capacity),
        }
    }

    /// Records `jti` of `owner` as used until `until`, unless it already is.
    pub fn first_use(&self, owner: &str, jti: &str, until: u64, now: u64) -> Replay {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let key = (owner.to_string(), jti.to_string());
        if seen.jtis.get(&key).is_some_and(|&t| t >= now) {
            return Replay::Replayed;
        }
        let full = |s: &Seen| {
            s.jtis.len() >= self.capacity
                || s.per_owner.get(owner).copied().unwrap_or(0) >= self.per_owner
        };
        if full(&seen) || seen.jtis.contains_key(&key) {
            seen.forget_expired(now);
            if full(&seen) {
                return Replay::Full;
            }
        }
        seen.jtis.insert(key, until);
        *seen.per_owner.entry(owner.to_string()).or_insert(0) += 1;
        Replay::First
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_accepted_once_while_live_and_a_full_cache_forgets_nothing_early() {
        let c = ReplayCache::new(2);
        assert_eq!(c.first_use("dev", "a", 100, 10), Replay::First);
        assert_eq!(c.first_use("dev", "a", 100, 50), Replay::Replayed);
        // Another client's jti of the same value is another assertion.
        assert_eq!(c.first_use("tv", "a", 100, 50), Replay::First);
        assert_eq!(c.first_use("dev", "b", 100, 50), Replay::Full);
        // Once they expire there is room, and an expired jti's assertion is refused anyway
        // (by its exp) before it gets here.
        assert_eq!(c.first_use("dev", "b", 200, 101), Replay::First);
        assert_eq!(c.first_use("dev", "a", 200, 101), Replay::First);
    }

    #[test]
    fn one_owner_cannot_fill_the_cache_for_the_others() {
        let c = ReplayCache::new(256);
        for i in 0..32 {
            assert_eq!(c.first_use("noisy", &i.to_string(), 100, 10), Replay::First);
        }
        assert_eq!(c.first_use("noisy", "32", 100, 10), Replay::Full);
        assert_eq!(c.first_use("quiet", "1", 100, 10), Replay::First);
        // Its own entries expiring give it room again.
        assert_eq!(c.first_use("noisy", "33", 200, 101), Replay::First);
    }
}
