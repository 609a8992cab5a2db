//! Keys a client or an issuer publishes at a `jwks_uri` instead of registering them: what
//! a published JWKS may hold, and when the cached copy is used, fetched again or refused.
//! The fetching itself is the adapter's (`crate::adapters::jwks_fetch`); the rules are here.

use crate::vocab::record::JwksLocation;
use serde_json::Value;
use std::sync::Arc;

/// Seconds fetched keys are used before the next use fetches them again.
pub const KEEP: u64 = 300;
/// Seconds between fetches made because no cached key verified an assertion (a new `kid`):
/// an attacker sending made-up kids makes one fetch a minute, not one per request. A fetch
/// for any other reason (the first, or keys grown old) does not count, so that a device that
/// rotates its key just after its first token is not kept waiting.
pub const MIN_REFETCH: u64 = 60;
/// Seconds after a failed fetch before the next: a device that is down is not hammered,
/// and its requests are refused at once rather than each waiting for the timeout.
pub const RETRY_AFTER_FAILURE: u64 = 10;
/// Largest JWKS document read, bytes.
pub const MAX_DOCUMENT: usize = 64 * 1024;
/// Most keys taken from one document.
pub const MAX_KEYS: usize = 16;
/// Longest `jwks_uri`.
pub const MAX_URI: usize = 512;

/// The published keys could not be had; the reason is for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

/// The keys published at a location, as the core sees them.
pub trait PublishedKeys: Sync {
    /// The keys at `at` as of `now`: cached, or fetched when [`plan`] says so. `refresh`:
    /// the cached keys did not verify an assertion, which may be signed by a key published
    /// since.
    fn keys(&self, at: &JwksLocation, now: u64, refresh: bool)
        -> Result<Arc<[Value]>, Unavailable>;
}

/// What is known of one location.
#[derive(Debug, Clone, Default)]
pub struct CacheState {
    /// The keys of the last successful fetch, and when it was.
    pub keys: Option<(Arc<[Value]>, u64)>,
    /// When the last fetch was tried, and why it failed if it did.
    pub last_attempt: Option<(u64, Option<String>)>,
    /// When the last fetch for an unknown key was tried.
    pub last_refetch: Option<u64>,
}

/// What to do for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Use the cached keys.
    Use(Arc<[Value]>),
    /// Fetch the document now.
    Fetch,
    /// Refuse without fetching: a fetch failed moments ago.
    Refuse(Unavailable),
}

/// When to use the cache, fetch, or refuse.
pub fn plan(state: &CacheState, now: u64, refresh: bool) -> Plan {
    let since = |t: u64| now.saturating_sub(t);
    match &state.keys {
        Some((keys, at)) if since(*at) < KEEP => {
            if refresh && state.last_refetch.is_none_or(|t| since(t) >= MIN_REFETCH) {
                Plan::Fetch
            } else {
                Plan::Use(keys.clone())
            }
        }
        _ => match &state.last_attempt {
            Some((t, Some(why))) if since(*t) < RETRY_AFTER_FAILURE => Plan::Refuse(Unavailable(
                format!("{why} (retried after {RETRY_AFTER_FAILURE} s)"),
            )),
            _ => Plan::Fetch,
        },
    }
}

/// The state after a fetch at `now` (`refresh`: for an unknown key): its keys, or its
/// failure (keys cached before stay, and are used until they are [`KEEP`] seconds old).
pub fn record_fetch(
    state: &mut CacheState,
    now: u64,
    refresh: bool,
    result: Result<Arc<[Value]>, String>,
) {
    if refresh {
        state.last_refetch = Some(now);
    }
    match result {
        Ok(keys) => {
            state.keys = Some((keys, now));
            state.last_attempt = Some((now, None));
        }
        Err(why) => state.last_attempt = Some((now, Some(why))),
    }
}

/// The signing keys of a JWKS document, each checked as a registered key is
/// ([`crate::jose::client_keys::from_jwk_text`]): encryption keys, private keys and key types piauth
/// does not verify with are passed over; a document with none left is refused.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<Value>, String> {
    if body.len() > MAX_DOCUMENT {
        return Err(format!("the JWKS is over {MAX_DOCUMENT} bytes"));
    }
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    let listed = doc["keys"]
        .as_array()
        .ok_or("the JWKS has no \"keys\" array")?;
    let keys: Vec<Value> = listed
        .iter()
        .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
        .filter_map(|k| crate::jose::client_keys::from_jwk_text(&k.to_string()).ok())
        .take(MAX_KEYS)
        .collect();
    if keys.is_empty() {
        return Err(format!(
            "the JWKS has no usable signing key among its {} (EC P-256, Ed25519 or RSA of 2048 bits or more)",
            listed.len()
        ));
    }
    Ok(keys)
}

/// A `jwks_uri` piauth will fetch: `https://` (keys fetched in the clear could be swapped by
/// anyone on the network), a host, no user name or password, no fragment.
pub fn check_uri(uri: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("jwks_uri {uri:?}: {why}"));
    if uri.len() > MAX_URI {
        return bad("too long");
    }
    let Ok(parsed) = uri.parse::<http::Uri>() else {
        return bad("not a URL");
    };
    if parsed.scheme_str() != Some("https") {
        return bad("must be https:// (keys fetched in the clear could be swapped on the way)");
    }
    let Some(authority) = parsed.authority() else {
        return bad("has no host");
    };
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return bad("must name a host, with no user name or password");
    }
    if uri.contains('#') {
        return bad("must have no fragment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(n: &str) -> Arc<[Value]> {
        Arc::from(vec![json!({ "kid": n })])
    }

    #[test]
    fn cached_keys_serve_until_they_are_old_and_a_new_kid_refetches_once_a_minute() {
        let mut s = CacheState::default();
        assert_eq!(plan(&s, 1000, false), Plan::Fetch, "nothing cached");
        record_fetch(&mut s, 1000, false, Ok(keys("a")));
        assert_eq!(plan(&s, 1100, false), Plan::Use(keys("a")));
        // The first unknown kid fetches, even just after the first fetch; the next within
        // the minute uses what is cached (and fails on it).
        assert_eq!(plan(&s, 1001, true), Plan::Fetch);
        record_fetch(&mut s, 1001, true, Ok(keys("a")));
        assert_eq!(plan(&s, 1060, true), Plan::Use(keys("a")));
        assert_eq!(plan(&s, 1061, true), Plan::Fetch);
        assert_eq!(plan(&s, 1001 + KEEP, false), Plan::Fetch, "too old");
        // A clock that went back does not make keys older or younger than a fetch.
        assert_eq!(plan(&s, 900, false), Plan::Use(keys("a")));
    }

    #[test]
    fn a_failed_fetch_is_not_retried_for_ten_seconds_and_keeps_fresh_keys() {
        let mut s = CacheState::default();
        record_fetch(&mut s, 1000, false, Err("refused".into()));
        assert!(
            matches!(plan(&s, 1009, false), Plan::Refuse(Unavailable(w)) if w.contains("refused"))
        );
        assert_eq!(plan(&s, 1010, false), Plan::Fetch);
        record_fetch(&mut s, 1010, false, Ok(keys("a")));
        // A refetch for a new kid fails: the keys fetched before still serve.
        record_fetch(&mut s, 1080, true, Err("timed out".into()));
        assert_eq!(plan(&s, 1081, false), Plan::Use(keys("a")));
        assert_eq!(plan(&s, 1081, true), Plan::Use(keys("a")));
        // Once they are too old, the failure refuses until the retry.
        record_fetch(&mut s, 1010 + KEEP, false, Err("timed out".into()));
        assert!(matches!(plan(&s, 1011 + KEEP, false), Plan::Refuse(_)));
    }

    #[test]
    fn a_jwks_gives_its_usable_signing_keys_only() {
        let ec = json!({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"});
        let mut enc = ec.clone();
        enc["use"] = json!("enc");
        enc["kid"] = json!("e");
        let mut private = ec.clone();
        private["d"] = json!("AAAA");
        private["kid"] = json!("p");
        let doc = json!({"keys": [enc, private, {"kty":"oct","k":"c2VjcmV0"}, ec]});
        let got = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["kid"], "k1");
        assert_eq!(got[0]["alg"], "ES256");
        assert!(parse_jwks(br#"{"keys":[]}"#).is_err());
        assert!(parse_jwks(b"[]").is_err());
        assert!(parse_jwks(b"<html>").is_err());
        let big = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(MAX_DOCUMENT));
        assert!(parse_jwks(big.as_bytes()).unwrap_err().contains("over"));
        let many = json!({"keys": vec![doc["keys"][3].clone(); 40]});
        assert_eq!(
            parse_jwks(many.to_string().as_bytes()).unwrap().len(),
            MAX_KEYS
        );
    }

    #[test]
    fn only_plain_https_urls_are_fetched() {
        assert!(check_uri("https://sensor.local:8443/jwks.json").is_ok());
        assert!(check_uri("https://192.168.1.20/.well-known/jwks.json").is_ok());
        for bad in [
            "http://sensor.local/jwks.json",
            "https://user:pw@sensor.local/jwks",
            "https:///jwks",
            "https://sensor.local/jwks#x",
            "file:///etc/passwd",
            "sensor.local/jwks",
            "",
        ] {
            assert!(check_uri(bad).is_err(), "{bad}");
        }
        assert!(check_uri(&format!("https://a/{}", "x".repeat(MAX_URI))).is_err());
    }
}
