//! The stored forms of clients, users, refresh tokens and keys.
//!
//! Plain serde values: the store serialises them, the core reads them. None of them holds
//! a secret in the clear: client secrets are keyed hashes, passwords Argon2id PHC strings,
//! refresh tokens SHA-256 digests. Private signing keys are the exception the server
//! cannot avoid; they live only in the data directory, which is mode 0700.

use crate::vocab::scope::Scope;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The grant types a client may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §4.3.
    Password,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 7523 §2.1: a JWT from a trusted issuer, exchanged for a token.
    JwtBearer,
    /// RFC 6749 §4.1 with PKCE (RFC 7636): a person signs in and consents in a browser.
    AuthorizationCode,
    /// RFC 8628: a device with no keyboard shows a code; the person approves on a phone.
    DeviceCode,
}

impl GrantType {
    /// Every grant type, in the order metadata lists them.
    pub const ALL: [GrantType; 6] = [
        GrantType::AuthorizationCode,
        GrantType::DeviceCode,
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::JwtBearer,
    ];

    /// The wire name: what `grant_type` says, and what `--grant` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// Reads a wire name.
    pub fn parse(name: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a client or an issuer publishes its public keys: a JWKS document (RFC 7517 §5)
/// fetched over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JwksLocation {
    /// The `https://` URL.
    pub uri: String,
    /// PEM certificates trusted for it instead of the system's roots (a device's own
    /// self-signed certificate, or the LAN's CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

/// An issuer whose signed assertions the JWT bearer grant accepts (RFC 7523 §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerRecord {
    /// The `iss` its assertions carry.
    pub name: String,
    /// Its public JWKs (none when it publishes them at `jwks`).
    pub keys: Vec<serde_json::Value>,
    /// Where it publishes its keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<JwksLocation>,
    /// The subjects it may assert: exact names, `prefix*`, or `*` for any.
    pub subjects: Vec<String>,
    /// The most a token from one of its assertions may carry.
    pub scope: Scope,
    /// Unix time of registration.
    pub created_at: u64,
}

impl IssuerRecord {
    /// Whether a pattern names `subject` itself, not through `*` or a prefix.
    pub fn names_exactly(&self, subject: &str) -> bool {
        self.subjects.iter().any(|p| p == subject)
    }

    /// Whether it may assert `subject`.
    pub fn allows_subject(&self, subject: &str) -> bool {
        self.subjects.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => subject.starts_with(prefix),
            None => p == subject,
        })
    }
}

/// A person's consent to a client (the authorization code flow), remembered until revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The user.
    pub username: String,
    /// The client.
    pub client_id: String,
    /// What they consented to.
    pub scope: Scope,
    /// The user's generation then: a new password or a re-created user asks again.
    pub generation: String,
    /// Unix time of the consent.
    pub granted_at: u64,
}

impl ConsentRecord {
    /// The store key: user, NUL, client (neither may hold a NUL).
    pub fn key(username: &str, client_id: &str) -> Vec<u8> {
        let mut k = username.as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(client_id.as_bytes());
        k
    }
}

/// A registered confidential client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The client id.
    pub id: String,
    /// HMAC-SHA-256 of the secret under the store's pepper, base64url.
    pub secret_hash: String,
    /// Grants it may use.
    pub grants: Vec<GrantType>,
    /// The most it may be granted.
    pub scope: Scope,
    /// Audiences added to its access tokens.
    pub audiences: Vec<String>,
    /// Access-token lifetime overriding the server's, in seconds.
    pub access_ttl: Option<u64>,
    /// Refresh-token lifetime overriding the server's, in seconds.
    pub refresh_ttl: Option<u64>,
    /// A disabled client fails authentication, and its access tokens introspect inactive.
    pub disabled: bool,
    /// A resource server may introspect any access token; other clients only those issued
    /// to them or naming them in `aud`.
    #[serde(default)]
    pub resource_server: bool,
    /// Unix time of registration.
    pub created_at: u64,
    /// Public JWKs it signs `private_key_jwt` assertions with; a client with keys has no
    /// secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<serde_json::Value>,
    /// Where it publishes the keys it signs `private_key_jwt` assertions with, instead of
    /// `keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<JwksLocation>,
    /// Where the authorization code flow may send the browser back: exact URIs (a loopback
    /// one with any port, RFC 8252 §7.3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// A public client (an app on a phone or in a browser): no secret, the authorization code
    /// flow with PKCE only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
    /// PKCE on every authorization request, even an OpenID Connect one with a `nonce`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pkce: bool,
    /// PKCE optional for this confidential client, even without a `nonce`: for an app that
    /// sends neither and can't be told to. A challenge it sends is still enforced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pkce_optional: bool,
    /// Only members of one of these groups may sign in to it or get its tokens for a person;
    /// empty: everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_groups: Vec<String>,
    /// Every person signing in to this app uses a second factor
    /// (`client add --require-second-factor`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_second_factor: bool,
    /// What its ID tokens are signed with (`None`: RS256, OpenID Connect's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_alg: Option<String>,
}

impl ClientRecord {
    /// Whether `user` may use it: a member of one of its allowed groups, when it names any.
    pub fn admits(&self, user: &UserRecord) -> bool {
        self.allowed_groups.is_empty()
            || self.allowed_groups.iter().any(|g| user.groups.contains(g))
    }

    /// Whether it authenticates with keys (`private_key_jwt`) rather than a secret.
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty() || self.jwks.is_some()
    }
}

impl fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRecord")
            .field("id", &self.id)
            .field("secret_hash", &"<redacted>")
            .field("grants", &self.grants)
            .field("scope", &self.scope)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A person of the household: signs in to apps through piauth's pages (the authorization
/// code and device flows), or through the password grant.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// The most this user may grant.
    pub scope: Scope,
    /// Unix time of creation.
    pub created_at: u64,
    /// Random, new when the user is created and whenever their sessions are ended. A
    /// refresh family carries the generation it was granted under and dies with it, so a
    /// name removed and added again never inherits the old holder's grants, even one
    /// issued while the removal was under way. Empty in records from before it existed.
    #[serde(default)]
    pub generation: String,
    /// The name to show (OpenID Connect `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Email address (OpenID Connect `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// May open the operator's page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    /// The operator said the address is not known to be theirs (`email_verified` false).
    /// By default an address the operator typed is verified: the operator is the authority
    /// of a home network's accounts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub email_unverified: bool,
    /// The groups the person is in (OpenID Connect `groups`), sorted, no duplicates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Every sign-in needs a second factor (`user edit --require-second-factor`); a person
    /// with none is led to set one up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_second_factor: bool,
    /// The second factors the person set up.
    #[serde(default, skip_serializing_if = "Factors::is_empty")]
    pub factors: Factors,
    /// Raised to end every browser session of the person (signing out everywhere, a reset
    /// of their factors) without touching their apps' grants, as a new generation would.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub session_epoch: u64,
    /// A one-time link the operator made for the person to set their own password
    /// (`user add --enroll`, `user enroll`), while unused and unexpired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment: Option<Enrollment>,
    /// Raised by the store at every write of the record: a change decided on an older
    /// read (`Change::ReplaceUser`) is refused rather than undoing a write made meanwhile
    /// (factors reset, a code spent, sessions ended).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u64,
}

/// An enrollment link, as stored: its keyed hash and when it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// `jose::otp::link_digest` of the link's secret.
    pub digest: String,
    /// Unix time it stops working.
    pub expires_at: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A person's second factors. The one secret kept as it is is the TOTP key, which every
/// check needs; recovery codes are kept as digests.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factors {
    /// One-time codes (RFC 6238).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpFactor>,
    /// The recovery codes not used yet, as `jose::otp::recovery_digest`s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery: Vec<String>,
    /// Passkeys (WebAuthn credentials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passkeys: Vec<PasskeyFactor>,
    /// The WebAuthn user handle the person's passkeys carry (base64url of 64 random
    /// bytes): it names the person to piauth when a passkey signs in, and nothing else.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub passkey_handle: String,
}

impl Factors {
    /// No factor at all.
    pub fn is_empty(&self) -> bool {
        self.totp.is_none()
            && self.recovery.is_empty()
            && self.passkeys.is_empty()
            && self.passkey_handle.is_empty()
    }
    /// A factor a sign-in can use as its second (recovery codes only stand in for one).
    pub fn has_second_factor(&self) -> bool {
        self.totp.is_some() || !self.passkeys.is_empty()
    }
}

/// A passkey as stored: what `webauthn_rp` encodes of it (public key, flags, counter), and
/// the name the person gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyFactor {
    /// The credential id, base64url.
    pub id: String,
    /// The person's name for it ("phone", "yellow key").
    pub name: String,
    /// `StaticState` (the public key), base64url of its binary encoding.
    pub static_state: String,
    /// `DynamicState` (flags and signature counter), base64url of its binary encoding.
    pub dynamic_state: String,
    /// Unix time it was added.
    pub added_at: u64,
    /// Unix time it last signed in, 0 for never.
    #[serde(default)]
    pub last_used: u64,
}

/// A TOTP key and the last time step a code of it was accepted for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpFactor {
    /// The key, base32 (RFC 4648, no padding), as the authenticator app was given it.
    pub secret: String,
    /// Unix time it was set up.
    pub added_at: u64,
    /// The step (Unix time / 30) of the last code accepted: no code of it or an earlier
    /// step is taken again, so a code seen over a shoulder is spent.
    #[serde(default)]
    pub last_step: u64,
}

impl fmt::Debug for Factors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factors")
            .field("totp", &self.totp.as_ref().map(|t| t.added_at))
            .field("recovery_codes", &self.recovery.len())
            .field("passkeys", &self.passkeys.len())
            .finish()
    }
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

/// A refresh-token family: every token rotated from one grant, stored under its id
/// (`jose::refresh::FamilyId`). Only its newest token is kept, as a digest (see
/// `src/jose/refresh.rs`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The person the family acts for (sign-in, device flow or password grant); none for a
    /// client acting for itself.
    pub username: Option<String>,
    /// The user's [`UserRecord::generation`] when this grant was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_generation: Option<String>,
    /// What a refresh may grant: the original grant, narrowed as the client or user lost
    /// scope; a refresh can narrow it, never widen it.
    pub scope: Scope,
    /// SHA-256 of the newest token, base64url. Any other token of the family is used.
    pub current: String,
    /// SHA-256 of the token the last rotation replaced: presented again by the same client
    /// within the grace period, it gets the newest token again instead of counting as reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Unix time the newest token was issued.
    pub issued_at: u64,
    /// Unix time the newest token expires; the record may go after it.
    pub expires_at: u64,
    /// How many times the family has rotated.
    pub rotations: u64,
    /// Revoked by reuse detection, by RFC 7009 revocation, or by removing the client or
    /// the user or ending the user's sessions.
    pub revoked: bool,
    /// The store's use counter when the family was created or last rotated: the family cap
    /// evicts the smallest. Set by the store, whatever the core put here.
    #[serde(default)]
    pub last_use: u64,
}

impl fmt::Debug for FamilyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FamilyRecord")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("scope", &self.scope)
            .field("current", &"<digest>")
            .field("expires_at", &self.expires_at)
            .field("rotations", &self.rotations)
            .field("revoked", &self.revoked)
            .finish()
    }
}

/// What a key signs: access tokens (the configured `algorithm`), or ID tokens in an algorithm
/// an app expects that the access-token key does not sign (RS256 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPurpose {
    /// Access tokens (and ID tokens in the same algorithm).
    #[default]
    Access,
    /// ID tokens only.
    IdToken,
}

impl KeyPurpose {
    /// Keys from before purposes existed are access-token keys.
    pub fn is_access(&self) -> bool {
        *self == KeyPurpose::Access
    }
}

/// A signing key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id (RFC 7638 thumbprint, or random for HMAC keys).
    pub kid: String,
    /// The JWS algorithm name (`ES256`, `EdDSA`, `RS256`, `PS256`, `HS256`).
    pub alg: String,
    /// Private key as DER (PKCS#8 for EC/Ed, PKCS#1 for RSA) or the HMAC secret, base64url.
    pub private: String,
    /// Unix time of creation.
    pub created_at: u64,
    /// When it stopped being the current key.
    pub retired_at: Option<u64>,
    /// After retirement: the key stays in the JWKS until every token it signed has expired.
    pub publish_until: Option<u64>,
    /// When it starts signing: a rotated key is published first and signs only once every
    /// verifier's cached JWKS holds it. `None`: from `created_at` (keys from before staging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_from: Option<u64>,
    /// What it signs.
    #[serde(default, skip_serializing_if = "KeyPurpose::is_access")]
    pub purpose: KeyPurpose,
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private", &"<redacted>")
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// Whether a client id or user name is acceptable: 1 to 128 characters that need no
/// quoting anywhere they appear (URLs, Basic credentials, logs, JSON).
pub fn is_valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_type_names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("implicit"), None);
    }

    #[test]
    fn names_refuse_spaces_colons_and_empties() {
        assert!(is_valid_name("sensor-1.kitchen"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("a:b"));
        assert!(!is_valid_name(&"x".repeat(129)));
    }

    #[test]
    fn debug_never_shows_hashes_or_keys() {
        let k = KeyRecord {
            kid: "k".into(),
            alg: "HS256".into(),
            private: "c2VjcmV0".into(),
            created_at: 0,
            retired_at: None,
            publish_until: None,
            active_from: None,
            purpose: KeyPurpose::Access,
        };
        assert!(!format!("{k:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn a_client_admits_everyone_or_only_members_of_its_groups() {
        let mut c = crate::protocol::testing::client(&[GrantType::AuthorizationCode], "openid");
        let mut alice = crate::protocol::testing::user("alice", "", "g");
        assert!(c.admits(&alice), "no groups named: everyone");
        c.allowed_groups = vec!["media".into(), "admins".into()];
        assert!(!c.admits(&alice));
        alice.groups = vec!["family".into()];
        assert!(!c.admits(&alice));
        alice.groups.push("media".into());
        assert!(c.admits(&alice));
    }
}
