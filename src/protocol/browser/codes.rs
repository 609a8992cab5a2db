//! Authorization codes (RFC 6749 §4.1.2): each lives [`CODE_TTL`] seconds, is used once, and
//! is bound to its client, redirect URI and PKCE challenge. A code used a second time
//! revokes what its first use issued (§4.1.2, RFC 9700 §4.2.4). In memory and bounded: a
//! restart costs at most a minute's codes, which the person simply asks for again.

use crate::jose::refresh::FamilyId;
use crate::vocab::scope::Scope;
use std::collections::HashMap;
use std::sync::Mutex;

/// Seconds a code may be redeemed in.
pub const CODE_TTL: u64 = 60;
/// Seconds a used code is remembered, so that a second use can revoke what the first
/// issued: past that the code is unknown anyway.
const USED_KEPT: u64 = CODE_TTL * 2;
/// Most codes one person holds (live or recently used): past it their oldest goes, so that
/// one signed-in user cannot fill the store for the others.
pub const PER_USER: usize = 16;

/// What a code grants, fixed at the authorization endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the request, and whether the request named it (then the token
    /// request must name the same, §4.1.3).
    pub redirect_uri: String,
    /// Whether the authorization request carried `redirect_uri`.
    pub redirect_uri_sent: bool,
    /// The PKCE S256 challenge, if the request carried one: then the token request must
    /// carry its verifier, and otherwise it must carry none.
    pub challenge: Option<String>,
    /// The scope consented to.
    pub scope: Scope,
    /// The person who signed in.
    pub username: String,
    /// Their generation then.
    pub user_generation: String,
    /// OpenID Connect `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// When they signed in (OpenID Connect `auth_time`).
    pub auth_time: u64,
    /// What the sign-in proved (`amr`).
    pub methods: crate::protocol::account::policy::Methods,
    /// The app sent `acr_values`: the ID token carries `acr`.
    pub acr_asked: bool,
    /// When it stops being redeemable.
    pub expires_at: u64,
}

/// What the first use of a code issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The refresh-token family, if one was started.
    pub family: Option<FamilyId>,
    /// The access token's `jti`, and when it expires.
    pub access: (String, u64),
}

/// A code, looked up for redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeem {
    /// First use: the grant (the code is now used).
    Fresh(CodeGrant),
    /// Used before: what that use issued, if it got as far as issuing.
    Used(Option<Issued>),
    /// Never issued, expired, or forgotten.
    Unknown,
}

enum Slot {
    Fresh(CodeGrant),
    Used {
        until: u64,
        issued: Option<Issued>,
        username: String,
    },
}

impl Slot {
    fn live(&self, now: u64) -> bool {
        self.until() > now
    }
    fn until(&self) -> u64 {
        match self {
            Slot::Fresh(g) => g.expires_at,
            Slot::Used { until, .. } => *until,
        }
    }
    fn username(&self) -> &str {
        match self {
            Slot::Fresh(g) => &g.username,
            Slot::Used { username, .. } => username,
        }
    }
}

/// The codes issued and not yet forgotten, by SHA-256 of their value.
pub struct Codes {
    slots: Mutex<HashMap<[u8; 32], Slot>>,
    capacity: usize,
}

/// The code store is full of live codes: the authorization is refused (never an older
/// code forgotten early).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl Codes {
    /// A store of at most `capacity` codes, live or recently used.
    pub fn new(capacity: usize) -> Codes {
        Codes {
            slots: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a new code's grant.
    pub fn insert(&self, digest: [u8; 32], grant: CodeGrant, now: u64) -> Result<(), Full> {
        let mut slots = self.slots();
        let mut mine: Vec<([u8; 32], u64)> = slots
            .iter()
            .filter(|(_, s)| s.username() == grant.username)
            .map(|(d, s)| (*d, s.until()))
            .collect();
        if mine.len() >= PER_USER {
            // Their expired codes first; only then the oldest live one.
            mine.retain(|(d, until)| {
                let live = *until > now;
                if !live {
                    slots.remove(d);
                }
                live
            });
        }
        if mine.len() >= PER_USER {
            if let Some((oldest, _)) = mine.iter().min_by_key(|(_, until)| *until) {
                slots.remove(oldest);
            }
        }
        if slots.len() >= self.capacity {
            slots.retain(|_, s| s.live(now));
            if slots.len() >= self.capacity {
                return Err(Full);
            }
        }
        slots.insert(digest, Slot::Fresh(grant));
        Ok(())
    }

    /// Takes a code for redemption: the first time its grant, after that what it issued.
    pub fn redeem(&self, digest: &[u8; 32], now: u64) -> Redeem {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(digest) else {
            return Redeem::Unknown;
        };
        match slot {
            Slot::Used { until, issued, .. } if *until > now => Redeem::Used(issued.clone()),
            Slot::Fresh(grant) if grant.expires_at > now => {
                let grant = grant.clone();
                *slot = Slot::Used {
                    until: now.saturating_add(USED_KEPT),
                    issued: None,
                    username: grant.username.clone(),
                };
                Redeem::Fresh(grant)
            }
            _ => {
                slots.remove(digest);
                Redeem::Unknown
            }
        }
    }

    /// Records what the code's first use issued.
    pub fn issued(&self, digest: &[u8; 32], what: Issued) {
        if let Some(Slot::Used { issued, .. }) = self.slots().get_mut(digest) {
            *issued = Some(what);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(expires_at: u64) -> CodeGrant {
        CodeGrant {
            client_id: "app".into(),
            redirect_uri: "https://app/cb".into(),
            redirect_uri_sent: true,
            challenge: Some("c".into()),
            scope: Scope::default(),
            username: "alice".into(),
            user_generation: "g".into(),
            nonce: None,
            auth_time: 0,
            methods: Default::default(),
            acr_asked: false,
            expires_at,
        }
    }

    #[test]
    fn a_code_is_redeemed_once_and_its_second_use_finds_what_the_first_issued() {
        let codes = Codes::new(4);
        codes.insert([1; 32], grant(1060), 1000).unwrap();
        assert_eq!(codes.redeem(&[1; 32], 1010), Redeem::Fresh(grant(1060)));
        assert_eq!(codes.redeem(&[1; 32], 1011), Redeem::Used(None));
        let what = Issued {
            family: None,
            access: ("jti".into(), 1900),
        };
        codes.issued(&[1; 32], what.clone());
        assert_eq!(codes.redeem(&[1; 32], 1012), Redeem::Used(Some(what)));
        assert_eq!(codes.redeem(&[2; 32], 1012), Redeem::Unknown);
    }

    #[test]
    fn one_person_holds_at_most_their_share_and_loses_their_own_oldest() {
        let codes = Codes::new(100);
        for i in 0..PER_USER as u8 {
            codes
                .insert([i; 32], grant(1000 + u64::from(i)), 900)
                .unwrap();
        }
        let mut bob = grant(1060);
        bob.username = "bob".into();
        codes.insert([99; 32], bob.clone(), 900).unwrap();
        codes.insert([50; 32], grant(1060), 900).unwrap();
        assert_eq!(
            codes.redeem(&[0; 32], 950),
            Redeem::Unknown,
            "alice's oldest went"
        );
        assert_eq!(codes.redeem(&[1; 32], 950), Redeem::Fresh(grant(1001)));
        assert_eq!(
            codes.redeem(&[99; 32], 950),
            Redeem::Fresh(bob),
            "bob's stays"
        );
    }

    #[test]
    fn an_expired_code_is_unknown_and_a_full_store_refuses_rather_than_forgets() {
        let codes = Codes::new(2);
        codes.insert([1; 32], grant(1060), 1000).unwrap();
        assert_eq!(codes.redeem(&[1; 32], 1060), Redeem::Unknown);
        codes.insert([1; 32], grant(1060), 1000).unwrap();
        codes.insert([2; 32], grant(1060), 1000).unwrap();
        assert_eq!(codes.insert([3; 32], grant(1060), 1000), Err(Full));
        // Once they expire there is room again.
        assert_eq!(codes.insert([3; 32], grant(1200), 1061), Ok(()));
    }
}
