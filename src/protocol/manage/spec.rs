//! The flag sets an admin request carries over the socket: parsed by the command line
//! (`cli` flattens them into its commands), checked in `checks.rs` and applied in
//! `execute.rs`.

use clap::Args;
use std::path::PathBuf;

/// A client to register, as the command line gives it and the admin channel carries it.
#[derive(Debug, Clone, PartialEq, Eq, Args, serde::Serialize, serde::Deserialize)]
pub struct ClientSpec {
    /// Client id: letters, digits and - _ . @ ~, up to 128.
    pub id: String,
    /// Allowed grant (repeatable), as sent to the token endpoint: authorization_code,
    /// client_credentials, password, refresh_token, urn:ietf:params:oauth:grant-type:jwt-bearer.
    #[arg(long = "grant", value_name = "GRANT")]
    pub grants: Vec<String>,
    /// Allowed scope (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Extra audience for its tokens (repeatable).
    #[arg(long = "audience", value_name = "AUD")]
    pub audiences: Vec<String>,
    /// Access-token lifetime for this client, seconds.
    #[arg(long, value_name = "SECS")]
    pub access_ttl: Option<u64>,
    /// Refresh-token lifetime for this client, seconds.
    #[arg(long, value_name = "SECS")]
    pub refresh_ttl: Option<u64>,
    /// A service that may introspect any access token (others only see their own and those
    /// naming them in `aud`).
    #[arg(long)]
    #[serde(default)]
    pub resource_server: bool,
    /// Authenticate with `private_key_jwt`, by this public key, instead of a secret: a JWK
    /// file (EC P-256, Ed25519 or RSA; repeatable).
    #[arg(long = "jwk", value_name = "FILE")]
    #[serde(skip)]
    pub jwk_files: Vec<PathBuf>,
    /// As `--jwk`, from a PEM `PUBLIC KEY` file (an RSA key signs RS256; use a JWK with
    /// `"alg": "PS256"` for PSS).
    #[arg(long = "pem", value_name = "FILE")]
    #[serde(skip)]
    pub pem_files: Vec<PathBuf>,
    /// The public JWKs read from those files (the command line reads them; the admin
    /// channel carries them).
    #[arg(skip)]
    #[serde(default)]
    pub keys: Vec<serde_json::Value>,
    /// Where the authorization code flow may send the browser back (repeatable): an exact
    /// URI, or a loopback one (`http://127.0.0.1/cb`) with any port.
    #[arg(long = "redirect-uri", value_name = "URI")]
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// A public client (an app on a phone or in a browser): no secret, only the authorization
    /// code flow (and refresh_token), always with PKCE.
    #[arg(long)]
    #[serde(default)]
    pub public: bool,
    /// Require PKCE on every authorization request, even an OpenID Connect one with a nonce
    /// (public clients always need it).
    #[arg(long)]
    #[serde(default)]
    pub require_pkce: bool,
    /// Let this confidential client leave out PKCE even without a nonce (for an app that
    /// sends neither and can't be told to, such as django-allauth at its defaults): the
    /// app's own state check is then its only defence against an injected code.
    #[arg(long, conflicts_with_all = ["require_pkce", "public"])]
    #[serde(default)]
    pub pkce_optional: bool,
    /// Only members of this group may sign in to it or get its tokens for a person
    /// (repeatable: a member of any of them).
    #[arg(long = "allowed-group", value_name = "GROUP")]
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// Every person signing in to it uses a second factor (one-time codes); one without is
    /// led to set it up.
    #[arg(long)]
    #[serde(default)]
    pub require_second_factor: bool,
    /// What its ID tokens are signed with: RS256 (the default of OpenID Connect), PS256,
    /// ES256 or EdDSA.
    #[arg(long, value_name = "ALG")]
    #[serde(default)]
    pub id_token_alg: Option<String>,
    /// Where the keys are published instead.
    #[command(flatten)]
    #[serde(skip)]
    pub jwks_args: JwksArgs,
    /// That location, with the certificate file read (as `keys`).
    #[arg(skip)]
    #[serde(default)]
    pub jwks: Option<crate::vocab::record::JwksLocation>,
}

/// `--jwks-uri URL [--jwks-ca FILE]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct JwksArgs {
    /// Instead of `--jwk`/`--pem`: the https:// URL where the keys are published as a JWKS
    /// (fetched when first needed, kept 5 minutes, fetched again for an unknown kid at most
    /// once a minute).
    #[arg(long = "jwks-uri", value_name = "URL")]
    pub uri: Option<String>,
    /// The certificate (PEM) to trust for `--jwks-uri` instead of the system's roots: the
    /// device's own self-signed certificate, or the LAN's CA.
    #[arg(long = "jwks-ca", value_name = "FILE", requires = "uri")]
    pub ca: Option<PathBuf>,
}

/// What a person is, as `user add` and `user edit` set it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, serde::Serialize, serde::Deserialize)]
pub struct PersonArgs {
    /// The name apps show (OpenID Connect `name`, with the `profile` scope).
    #[arg(long = "name", value_name = "TEXT")]
    #[serde(default)]
    pub display_name: Option<String>,
    /// Email address (OpenID Connect `email`, with the `email` scope); verified unless
    /// `--email-unverified`.
    #[arg(long, value_name = "ADDRESS")]
    #[serde(default)]
    pub email: Option<String>,
    /// The address is not known to be theirs: `email_verified` is false (apps such as
    /// oauth2-proxy then refuse it).
    #[arg(long)]
    #[serde(default)]
    pub email_unverified: bool,
    /// A group the person is in (repeatable; `user edit` replaces the groups with these).
    #[arg(long = "group", value_name = "GROUP")]
    #[serde(default)]
    pub groups: Vec<String>,
}
