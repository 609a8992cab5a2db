//! The device authorization grant's pending requests (RFC 8628): user codes, what each
//! device asked, the person's decision, and the polling rules. In memory, bounded per
//! address and in all.

use crate::vocab::entropy::Entropy;
use crate::vocab::request::asker;
use crate::vocab::scope::Scope;
use std::collections::HashMap;
use std::sync::Mutex;

/// `grant_type` of the device's polling (RFC 8628 §3.4).
pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Seconds a request waits for the person.
pub const LIFETIME: u64 = 600;
/// Seconds between polls a device starts with (RFC 8628 §3.2); `slow_down` adds 5.
pub const INTERVAL: u64 = 5;
/// Most requests waiting from one address (an IPv6 /64 counts as one): a device starts one
/// at a time, and one address must not fill the store for the others (a public client's id
/// is no secret).
pub const PER_ADDRESS: usize = 8;
/// Seconds a request may go unpolled before it counts as abandoned (a device polls every
/// few seconds), and may be dropped to make room.
pub const ABANDONED: u64 = 60;

/// The letters of a user code: no vowels (no words), no 0/O or 1/I to confuse
/// (RFC 8628 §6.1's suggestion): 20 consonants, 8 of them, about 34 bits.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A new user code, `XXXX-XXXX`.
pub fn new_user_code(rng: &mut dyn Entropy) -> String {
    let mut bytes = [0u8; 8];
    let mut code = String::with_capacity(9);
    for i in 0..8 {
        // Rejection sampling: 240 is the largest multiple of 20 below 256.
        let b = loop {
            rng.fill(&mut bytes[i..=i]);
            if bytes[i] < 240 {
                break bytes[i];
            }
        };
        if i == 4 {
            code.push('-');
        }
        code.push(ALPHABET[usize::from(b % 20)] as char);
    }
    code
}

/// A typed code in its canonical form: case and separators do not matter; `None` if it
/// cannot be one.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if letters.len() != 8 || !letters.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!("{}-{}", &letters[..4], &letters[4..]))
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Waiting for the person.
    Pending,
    /// Approved by this user, for this scope.
    Approved {
        /// The user.
        username: String,
        /// Their generation then.
        generation: String,
        /// What they approved.
        scope: Scope,
    },
    /// Denied.
    Denied,
}

/// A device's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The client (the device's app).
    pub client_id: String,
    /// What it asks for.
    pub scope: Scope,
    /// The code shown to the person.
    pub user_code: String,
    /// When it expires.
    pub expires_at: u64,
    /// Seconds the device must wait between polls.
    pub interval: u64,
    /// When it last polled.
    pub last_poll: Option<u64>,
    /// What the person decided.
    pub decision: Decision,
    /// The address that asked.
    pub peer: Option<std::net::IpAddr>,
}

/// A poll's answer (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Issue tokens for this approval (the request is gone).
    Approved(Pending),
    /// `authorization_pending`.
    Pending,
    /// `slow_down`: the interval grew.
    SlowDown,
    /// `access_denied` (the request is gone).
    Denied,
    /// `expired_token`.
    Expired,
    /// Unknown, or another client's: `invalid_grant`.
    Unknown,
}

#[derive(Default)]
struct Map {
    by_device: HashMap<[u8; 32], Pending>,
    /// user code → device code digest.
    by_user: HashMap<String, [u8; 32]>,
}

/// Pending device requests, by SHA-256 of their device code.
pub struct DeviceRequests {
    map: Mutex<Map>,
    capacity: usize,
}

/// Full of live requests, in all or from the asking address: a new one is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl DeviceRequests {
    /// At most `capacity` requests waiting.
    pub fn new(capacity: usize) -> DeviceRequests {
        DeviceRequests {
            map: Mutex::new(Map::default()),
            capacity: capacity.max(1),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, Map> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a new request; a user code already in use is refused (the caller picks
    /// another).
    pub fn insert(&self, digest: [u8; 32], p: Pending, now: u64) -> Result<bool, Full> {
        let mut m = self.map();
        let who = asker(p.peer);
        let from_peer = |m: &Map| {
            who.is_some()
                && m.by_device
                    .values()
                    .filter(|q| asker(q.peer) == who)
                    .count()
                    >= PER_ADDRESS
        };
        if m.by_device.len() >= self.capacity || from_peer(&m) {
            let Map { by_device, by_user } = &mut *m;
            // Expired, or never polled for a minute (abandoned): gone.
            by_device.retain(|_, p| {
                let seen = p.last_poll.unwrap_or(p.expires_at.saturating_sub(LIFETIME));
                p.expires_at > now && now < seen.saturating_add(ABANDONED)
            });
            by_user.retain(|_, d| by_device.contains_key(d));
            if by_device.len() >= self.capacity || from_peer(&m) {
                return Err(Full);
            }
        }
        if m.by_user.contains_key(&p.user_code) {
            return Ok(false);
        }
        m.by_user.insert(p.user_code.clone(), digest);
        m.by_device.insert(digest, p);
        Ok(true)
    }

    /// The live request a person's code names.
    pub fn by_user_code(&self, user_code: &str, now: u64) -> Option<Pending> {
        let m = self.map();
        let digest = m.by_user.get(user_code)?;
        m.by_device
            .get(digest)
            .filter(|p| p.expires_at > now && p.decision == Decision::Pending)
            .cloned()
    }

    /// Records the person's decision on a pending request; false if it is no longer there.
    pub fn decide(&self, user_code: &str, decision: Decision, now: u64) -> bool {
        let mut m = self.map();
        let Some(digest) = m.by_user.get(user_code).copied() else {
            return false;
        };
        match m.by_device.get_mut(&digest) {
            Some(p) if p.expires_at > now && p.decision == Decision::Pending => {
                p.decision = decision;
                true
            }
            _ => false,
        }
    }

    /// A poll by `client_id` for its device code.
    pub fn poll(&self, digest: &[u8; 32], client_id: &str, now: u64) -> Poll {
        let mut m = self.map();
        let Some(p) = m.by_device.get_mut(digest) else {
            return Poll::Unknown;
        };
        if p.client_id != client_id {
            return Poll::Unknown;
        }
        if p.expires_at <= now {
            let code = p.user_code.clone();
            m.by_device.remove(digest);
            m.by_user.remove(&code);
            return Poll::Expired;
        }
        let too_soon = p
            .last_poll
            .is_some_and(|t| now < t.saturating_add(p.interval));
        p.last_poll = Some(now);
        match p.decision {
            Decision::Pending if too_soon => {
                p.interval += INTERVAL;
                Poll::SlowDown
            }
            Decision::Pending => Poll::Pending,
            _ => {
                let done = m.by_device.remove(digest).expect("looked up above");
                m.by_user.remove(&done.user_code);
                match done.decision {
                    Decision::Denied => Poll::Denied,
                    _ => Poll::Approved(done),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::entropy::CountingEntropy;

    fn pending(code: &str) -> Pending {
        Pending {
            client_id: "tv".into(),
            scope: Scope::default(),
            user_code: code.into(),
            expires_at: 1600,
            interval: INTERVAL,
            last_poll: None,
            decision: Decision::Pending,
            peer: None,
        }
    }

    #[test]
    fn user_codes_are_eight_unambiguous_letters_and_typing_is_forgiving() {
        let code = new_user_code(&mut CountingEntropy(0));
        assert_eq!(code.len(), 9);
        assert_eq!(normalize_user_code(&code), Some(code.clone()));
        assert_eq!(normalize_user_code("bcdf ghjk"), Some("BCDF-GHJK".into()));
        assert_eq!(normalize_user_code("BCDF-GHJ0"), None, "no digits");
        assert_eq!(normalize_user_code("BCDFGHJ"), None);
        assert_eq!(normalize_user_code("ABCD-EFGH"), None, "no vowels");
    }

    #[test]
    fn polling_follows_rfc_8628_section_3_5() {
        let r = DeviceRequests::new(4);
        assert_eq!(r.insert([1; 32], pending("BCDF-GHJK"), 1000), Ok(true));
        assert_eq!(
            r.insert([2; 32], pending("BCDF-GHJK"), 1000),
            Ok(false),
            "code taken"
        );
        assert_eq!(r.poll(&[1; 32], "other", 1000), Poll::Unknown);
        assert_eq!(r.poll(&[1; 32], "tv", 1000), Poll::Pending);
        assert_eq!(r.poll(&[1; 32], "tv", 1004), Poll::SlowDown);
        // The interval is now 10 s from the last poll.
        assert_eq!(r.poll(&[1; 32], "tv", 1013), Poll::SlowDown);
        assert_eq!(r.poll(&[1; 32], "tv", 1028), Poll::Pending);
        let approved = Decision::Approved {
            username: "alice".into(),
            generation: "g".into(),
            scope: Scope::default(),
        };
        assert!(r.decide("BCDF-GHJK", approved, 1030));
        assert!(
            !r.decide("BCDF-GHJK", Decision::Denied, 1031),
            "decided once"
        );
        assert!(matches!(r.poll(&[1; 32], "tv", 1050), Poll::Approved(_)));
        assert_eq!(r.poll(&[1; 32], "tv", 1070), Poll::Unknown, "used once");

        r.insert([3; 32], pending("CDFG-HJKL"), 1000).unwrap();
        r.decide("CDFG-HJKL", Decision::Denied, 1001);
        assert_eq!(r.poll(&[3; 32], "tv", 1002), Poll::Denied);
        r.insert([4; 32], pending("DFGH-JKLM"), 1000).unwrap();
        assert_eq!(
            r.by_user_code("DFGH-JKLM", 1599).map(|p| p.client_id),
            Some("tv".into())
        );
        assert_eq!(r.by_user_code("DFGH-JKLM", 1600), None);
        assert_eq!(r.poll(&[4; 32], "tv", 1600), Poll::Expired);
    }

    #[test]
    fn one_address_holds_at_most_its_share() {
        let r = DeviceRequests::new(100);
        let from = |i: u8, code: String| Pending {
            peer: Some(std::net::IpAddr::from([192, 168, 1, i])),
            user_code: code,
            ..pending("")
        };
        let letters = b"BCDFGHJKLMNPQRSTVWXZ";
        for i in 0..PER_ADDRESS as u8 {
            let code = format!("BCDF-GHJ{}", letters[usize::from(i)] as char);
            assert_eq!(r.insert([i; 32], from(1, code), 1000), Ok(true));
        }
        let code = "CCCC-CCCC".to_string();
        assert_eq!(r.insert([200; 32], from(1, code.clone()), 1000), Err(Full));
        assert_eq!(
            r.insert([200; 32], from(2, code), 1000),
            Ok(true),
            "another address"
        );
        // A minute later, the ones never polled are abandoned and make room.
        let code = "DDDD-DDDD".to_string();
        assert_eq!(
            r.insert([201; 32], from(1, code), 1000 + ABANDONED),
            Ok(true)
        );
    }

    #[test]
    fn a_full_store_refuses_new_requests_until_old_ones_expire() {
        let r = DeviceRequests::new(1);
        r.insert([1; 32], pending("BCDF-GHJK"), 1000).unwrap();
        assert_eq!(r.insert([2; 32], pending("CDFG-HJKL"), 1000), Err(Full));
        assert_eq!(r.insert([2; 32], pending("CDFG-HJKL"), 1600), Ok(true));
    }
}
