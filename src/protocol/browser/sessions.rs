//! Browser sessions: who signed in on this browser, since when. In memory and bounded; the
//! cookie holds a random id, the server its SHA-256. A session ends after [`IDLE`] seconds
//! unused or [`ABSOLUTE`] seconds in all, when its user's generation changes (a new
//! password, removal), at logout, or at a restart.

use std::collections::HashMap;
use std::sync::Mutex;

/// Seconds a session may sit unused.
pub const IDLE: u64 = 12 * 3600;
/// Seconds a session lasts at most.
pub const ABSOLUTE: u64 = 7 * 86400;

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user.
    pub username: String,
    /// The user's generation at sign-in.
    pub generation: String,
    /// The user's session epoch at sign-in: raising it ends the session.
    pub epoch: u64,
    /// When they signed in.
    pub auth_time: u64,
    /// When it was last used.
    pub last_seen: u64,
    /// What the sign-in proved.
    pub methods: crate::protocol::account::policy::Methods,
    /// Wrong second-factor codes typed into this session.
    pub failed_codes: u32,
}

impl Session {
    fn live(&self, now: u64) -> bool {
        now < self.last_seen.saturating_add(IDLE) && now < self.auth_time.saturating_add(ABSOLUTE)
    }
}

/// The live sessions, by SHA-256 of their cookie.
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    capacity: usize,
}

impl Sessions {
    /// At most `capacity` sessions; past it the least recently used goes.
    pub fn new(capacity: usize) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live session of that digest, marked used now.
    pub fn get(&self, digest: &[u8; 32], now: u64) -> Option<Session> {
        let mut map = self.map();
        let live = map.get(digest).is_some_and(|s| s.live(now));
        if !live {
            map.remove(digest);
            return None;
        }
        let s = map.get_mut(digest)?;
        s.last_seen = s.last_seen.max(now);
        Some(s.clone())
    }

    /// Starts a session.
    pub fn insert(&self, digest: [u8; 32], session: Session, now: u64) {
        let mut map = self.map();
        if map.len() >= self.capacity {
            map.retain(|_, s| s.live(now));
        }
        if map.len() >= self.capacity {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(digest, session);
    }

    /// Counts a wrong second-factor code against a session; at `limit` the session ends
    /// (the next attempt starts again from the password). Whether it ended.
    pub fn code_failed(&self, digest: &[u8; 32], limit: u32) -> bool {
        let mut map = self.map();
        let Some(s) = map.get_mut(digest) else {
            return true;
        };
        s.failed_codes = s.failed_codes.saturating_add(1);
        if s.failed_codes >= limit {
            map.remove(digest);
            return true;
        }
        false
    }

    /// Ends a session.
    pub fn remove(&self, digest: &[u8; 32]) {
        self.map().remove(digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: u64) -> Session {
        Session {
            username: "alice".into(),
            generation: "g".into(),
            epoch: 0,
            auth_time: t,
            last_seen: t,
            methods: Default::default(),
            failed_codes: 0,
        }
    }

    #[test]
    fn a_session_ends_when_idle_or_too_old_and_the_least_recently_used_makes_room() {
        let s = Sessions::new(2);
        s.insert([1; 32], at(0), 0);
        assert!(s.get(&[1; 32], IDLE - 1).is_some());
        // Used at IDLE - 1: still live nearly two idle periods after the start.
        assert!(s.get(&[1; 32], 2 * IDLE - 2).is_some());
        assert!(s.get(&[1; 32], 3 * IDLE).is_none(), "idle");
        s.insert([2; 32], at(0), 0);
        let mut t = 0;
        while t + IDLE / 2 < ABSOLUTE {
            t += IDLE / 2;
            assert!(s.get(&[2; 32], t).is_some());
        }
        assert!(s.get(&[2; 32], ABSOLUTE).is_none(), "absolute");
        s.insert([3; 32], at(10), 10);
        s.insert([4; 32], at(20), 20);
        s.get(&[3; 32], 30);
        s.insert([5; 32], at(40), 40);
        assert!(s.get(&[4; 32], 41).is_none(), "least recently used went");
        assert!(s.get(&[3; 32], 41).is_some());
        s.remove(&[3; 32]);
        assert!(s.get(&[3; 32], 42).is_none());
    }

    #[test]
    fn a_session_ends_at_its_fifth_wrong_code() {
        let s = Sessions::new(4);
        s.insert([1; 32], at(0), 0);
        for _ in 0..4 {
            assert!(!s.code_failed(&[1; 32], 5));
        }
        assert!(s.get(&[1; 32], 1).is_some());
        assert!(s.code_failed(&[1; 32], 5));
        assert!(s.get(&[1; 32], 1).is_none());
    }
}
