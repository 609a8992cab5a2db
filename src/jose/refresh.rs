//! Refresh-token values and the family they continue.
//!
//! A value is base64url(family id ‖ secret): 16 random bytes that name the grant the token
//! continues and 32 more that prove the holder has that family's newest token. Only the
//! SHA-256 of the newest value is stored, in the family's record. Any other value that
//! names a live family is one of its older tokens presented again (RFC 9700 §4.14.2: reuse,
//! so the family is revoked). The store therefore holds one record per grant however
//! often it rotates, and a rotation rewrites that record instead of adding one. On a Pi
//! that bounds the store's disk, its SD-card writes and sled's memory, which grows with
//! every page written.

use crate::jose::secret::token_digest;
use crate::vocab::entropy::Entropy;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::fmt;
use std::str::FromStr;
use subtle::ConstantTimeEq;

const ID_BYTES: usize = 16;
const SECRET_BYTES: usize = 32;

/// A refresh-token family's id: random, and shown only inside its tokens.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FamilyId([u8; ID_BYTES]);

impl FamilyId {
    /// A new random id.
    pub fn random(rng: &mut dyn Entropy) -> FamilyId {
        let mut id = [0u8; ID_BYTES];
        rng.fill(&mut id);
        FamilyId(id)
    }
}

impl fmt::Display for FamilyId {
    /// base64url, 22 characters: the form used as the store key and in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FamilyId({self})")
    }
}

impl FromStr for FamilyId {
    type Err = ();
    fn from_str(s: &str) -> Result<FamilyId, ()> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| ())?;
        Ok(FamilyId(bytes.try_into().map_err(|_| ())?))
    }
}

/// A new token of `family`: its value, for the client, and its digest, for the store.
pub fn mint(family: &FamilyId, rng: &mut dyn Entropy) -> (String, TokenDigest) {
    let mut raw = [0u8; ID_BYTES + SECRET_BYTES];
    raw[..ID_BYTES].copy_from_slice(&family.0);
    rng.fill(&mut raw[ID_BYTES..]);
    let value = URL_SAFE_NO_PAD.encode(raw);
    let digest = TokenDigest(token_digest(&value));
    (value, digest)
}

/// The token that replaces `presented` in its family: the same family id and, for its
/// secret, an HMAC of the presented value under `key` (the store's pepper). Derived, not
/// drawn, so that a device that lost the answer and asks again with the same token within
/// the grace period gets the very same successor, without the store keeping any token.
/// Nobody without the presented token and the key can compute it.
pub fn successor(family: &FamilyId, presented: &str, key: &[u8]) -> (String, TokenDigest) {
    use hmac::{Hmac, Mac};
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(b"piauth refresh successor\0");
    mac.update(presented.as_bytes());
    let mut raw = [0u8; ID_BYTES + SECRET_BYTES];
    raw[..ID_BYTES].copy_from_slice(&family.0);
    raw[ID_BYTES..].copy_from_slice(&mac.finalize().into_bytes());
    let value = URL_SAFE_NO_PAD.encode(raw);
    let digest = TokenDigest(token_digest(&value));
    (value, digest)
}

/// The SHA-256 of a token value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    /// base64url, as kept in a family record.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Whether `stored` (a family record's `current`) is this digest; constant time.
    pub fn matches(&self, stored: &str) -> bool {
        let mut buf = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(stored, &mut buf) {
            Ok(32) => buf.ct_eq(&self.0).into(),
            _ => false,
        }
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(..)")
    }
}

/// A presented refresh-token value, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The family it names; `None` for a value in the form before families were named
    /// (found through the store's legacy map) or for garbage.
    pub family: Option<FamilyId>,
    /// Its SHA-256.
    pub digest: TokenDigest,
}

/// Takes a presented value apart. Never fails: what is not a current-form token is looked
/// up by digest alone, and unknown digests are refused there.
pub fn parse(value: &str) -> Presented {
    let mut raw = [0u8; ID_BYTES + SECRET_BYTES + 3];
    let family = match URL_SAFE_NO_PAD.decode_slice(value, &mut raw) {
        Ok(n) if n == ID_BYTES + SECRET_BYTES => {
            let mut id = [0u8; ID_BYTES];
            id.copy_from_slice(&raw[..ID_BYTES]);
            Some(FamilyId(id))
        }
        _ => None,
    };
    Presented {
        family,
        digest: TokenDigest(token_digest(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::entropy::OsEntropy;

    #[test]
    fn a_successor_is_the_same_for_the_same_token_and_key_only() {
        let id = FamilyId::random(&mut OsEntropy);
        let (token, _) = mint(&id, &mut OsEntropy);
        let (a, da) = successor(&id, &token, b"pepper");
        let (b, _) = successor(&id, &token, b"pepper");
        assert_eq!(a, b);
        assert_eq!(parse(&a).family, Some(id));
        assert_eq!(parse(&a).digest, da);
        assert_ne!(successor(&id, &token, b"other").0, a);
        assert_ne!(successor(&id, &a, b"pepper").0, a);
    }

    #[test]
    fn a_minted_value_names_its_family_and_matches_its_digest() {
        let id = FamilyId::random(&mut OsEntropy);
        let (value, digest) = mint(&id, &mut OsEntropy);
        assert_eq!(value.len(), 64);
        assert!(value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        let p = parse(&value);
        assert_eq!(p.family, Some(id));
        assert_eq!(p.digest, digest);
        assert!(digest.matches(&digest.encode()));
        // A second token of the same family differs and does not match the first.
        let (value2, digest2) = mint(&id, &mut OsEntropy);
        assert_ne!(value, value2);
        assert_eq!(parse(&value2).family, Some(id));
        assert!(!digest2.matches(&digest.encode()));
    }

    #[test]
    fn other_values_name_no_family() {
        for v in [
            "",
            "nope",
            "opaque-refresh-token",
            // The earlier form: 32 random bytes.
            "q7x9bYk0Zr2mJm5hRkQ2c3VwZXJzZWNyZXQtdmFsdWUx",
            "a.b.c",
            &"A".repeat(65),
            &"A".repeat(200),
        ] {
            assert_eq!(parse(v).family, None, "{v}");
        }
        let id = FamilyId::random(&mut OsEntropy);
        assert_eq!(id.to_string().parse::<FamilyId>(), Ok(id));
        assert!("short".parse::<FamilyId>().is_err());
        assert!(!parse("x").digest.matches("not base64!"));
        assert!(!parse("x").digest.matches("AAAA"));
    }
}
