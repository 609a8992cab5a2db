//! The ID token (OpenID Connect Core §2, §3.1.3.6): its claims, `at_hash`, which algorithm
//! signs it for a client, and reading one back as a logout's `id_token_hint`.

use crate::jose::keys::SigningAlg;
use crate::protocol::Context;
use crate::vocab::record::UserRecord;
use crate::vocab::scope::Scope;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};

/// What an ID token needs beyond the access token's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenPlan {
    /// The request's `nonce`.
    pub nonce: Option<String>,
    /// When the person signed in.
    pub auth_time: u64,
    /// How (`amr`, RFC 8176).
    pub amr: Vec<&'static str>,
    /// The `acr` met, where the app asked with `acr_values`.
    pub acr: Option<&'static str>,
    /// What it is signed with ([`id_token_alg`]).
    pub alg: SigningAlg,
    /// What it tells about the person, by scope ([`user_claims`]), read at redemption.
    pub claims: serde_json::Map<String, Value>,
}

/// What a client's ID tokens are signed with: what it registered, else RS256, the algorithm
/// OpenID Connect Core §3.1.3.7 makes the default for a client that registered none.
pub fn id_token_alg(client: &crate::vocab::record::ClientRecord) -> SigningAlg {
    client
        .id_token_alg
        .as_deref()
        .and_then(SigningAlg::parse)
        .filter(|a| !a.is_symmetric())
        .unwrap_or(SigningAlg::Rs256)
}

/// The claims of an ID token (Core §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdClaims {
    /// This server.
    pub iss: String,
    /// The person (their user name: stable, unique on this server).
    pub sub: String,
    /// The client.
    pub aud: String,
    /// Expiry.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// When they signed in.
    pub auth_time: u64,
    /// How they signed in (RFC 8176 values: pwd, otp, mfa).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<&'static str>,
    /// The authentication context met, where the app asked (`acr_values`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<&'static str>,
    /// Echoed from the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The left half of the access token's hash (Core §3.1.3.6).
    pub at_hash: String,
    /// The client it was issued to.
    pub azp: String,
    /// The person's claims by scope (name, email, groups), as UserInfo gives them: most apps
    /// read them from the ID token (Core §5.4 allows both).
    #[serde(flatten)]
    pub person: serde_json::Map<String, Value>,
}

/// `at_hash`: the left half of the hash of the access token's ASCII, with the hash of the
/// signing algorithm (SHA-512 for Ed25519, SHA-256 for the others).
pub fn at_hash(access_token: &str, alg: SigningAlg) -> String {
    use sha2::Digest;
    let digest: Vec<u8> = match alg {
        SigningAlg::EdDsa => sha2::Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => sha2::Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// What UserInfo and the ID token tell about `user` beyond `sub`, by scope (Core §5.4; the
/// `groups` scope for the groups).
pub fn user_claims(user: &UserRecord, scope: &Scope) -> serde_json::Map<String, Value> {
    let mut v = serde_json::Map::new();
    if scope.contains("profile") {
        v.insert("preferred_username".into(), json!(user.name));
        v.insert(
            "name".into(),
            json!(user.display_name.as_deref().unwrap_or(&user.name)),
        );
    }
    if scope.contains("email") {
        if let Some(e) = &user.email {
            v.insert("email".into(), json!(e));
            // The operator typed it: the authority of a home network's accounts vouches for
            // it, unless they said otherwise.
            v.insert("email_verified".into(), json!(!user.email_unverified));
        }
    }
    if scope.contains("groups") {
        v.insert("groups".into(), json!(user.groups));
    }
    v
}

/// The client (`aud`) and the person (`sub`) of an ID token this server signed, if `token` is
/// one: a logout's `id_token_hint`. An expired one still names its app (OpenID Connect
/// RP-Initiated Logout §2); an access token is not a hint.
pub fn verified_hint(token: &str, ctx: &Context) -> Option<(String, String)> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref() != Some("JWT") {
        return None;
    }
    let key = ctx.keys.find(header.kid.as_deref()?, ctx.now)?;
    if key.alg.jwt() != header.alg {
        return None;
    }
    crate::jose::crypto::install();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.validate_exp = false;
    v.validate_aud = false;
    v.set_required_spec_claims(&["iss", "aud"]);
    v.set_issuer(&[&ctx.policy.issuer]);
    let claims = jsonwebtoken::decode::<Value>(token, &key.decoding, &v)
        .ok()?
        .claims;
    Some((
        claims["aud"].as_str()?.to_string(),
        claims["sub"].as_str()?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_tokens_hash() {
        // OpenID Connect Core's example (A.3): at_hash of "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y".
        assert_eq!(
            at_hash(
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
                SigningAlg::Rs256
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash("x", SigningAlg::EdDsa).len(), 43);
    }

    #[test]
    fn userinfo_tells_by_scope() {
        let mut u = crate::protocol::testing::user("alice", "", "g");
        u.display_name = Some("Alice".into());
        u.email = Some("alice@home.arpa".into());
        u.groups = vec!["family".into(), "media".into()];
        let only =
            |u: &UserRecord, s: &str| Value::Object(user_claims(u, &Scope::parse(s).unwrap()));
        assert_eq!(only(&u, "openid"), json!({}));
        assert_eq!(only(&u, "openid profile")["name"], "Alice");
        assert_eq!(only(&u, "openid email")["email"], "alice@home.arpa");
        assert_eq!(only(&u, "openid email")["email_verified"], true);
        assert!(only(&u, "openid profile").get("email").is_none());
        assert!(only(&u, "openid profile").get("groups").is_none());
        assert_eq!(
            only(&u, "openid groups")["groups"],
            json!(["family", "media"])
        );
        u.email_unverified = true;
        assert_eq!(only(&u, "openid email")["email_verified"], false);
    }

    #[test]
    fn id_tokens_are_rs256_unless_the_client_registered_another_asymmetric_alg() {
        let mut c = crate::protocol::testing::client(&[], "openid");
        assert_eq!(id_token_alg(&c), SigningAlg::Rs256);
        c.id_token_alg = Some("ES256".into());
        assert_eq!(id_token_alg(&c), SigningAlg::Es256);
        c.id_token_alg = Some("HS256".into());
        assert_eq!(
            id_token_alg(&c),
            SigningAlg::Rs256,
            "never the server's secret"
        );
    }
}
