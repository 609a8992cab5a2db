//! The `jti`s of client assertions already used (RFC 7523 §3, item 7): each is accepted once
//! while it could still be accepted. In memory and bounded; when full of live entries a new
//! assertion is refused, never an old one forgotten early.

use std::collections::HashMap;
use std::sync::Mutex;

/// What a first use of a `jti` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Not seen: it is now remembered.
    First,
    /// Seen before, and still live.
    Replayed,
    /// Full of live entries: refused, nothing forgotten.
    Full,
}

/// Used assertion ids, per client, until they expire.
pub struct ReplayCache {
    seen: Mutex<HashMap<(String, String), u64>>,
    capacity: usize,
}

impl ReplayCache {
    /// A cache of at most `capacity` live entries.
    pub fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            seen: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Records `jti` of `client` as used until `until`, unless it already is.
    pub fn first_use(&self, client: &str, jti: &str, until: u64, now: u64) -> Replay {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let key = (client.to_string(), jti.to_string());
        if seen.get(&key).is_some_and(|&t| t >= now) {
            return Replay::Replayed;
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, t| *t >= now);
            if seen.len() >= self.capacity {
                return Replay::Full;
            }
        }
        seen.insert(key, until);
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
}
