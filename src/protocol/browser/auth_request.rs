//! The authorization request (RFC 6749 §4.1.1, RFC 7636, RFC 8252 §7.3, RFC 9207, RFC 9700
//! §2.1): what is taken, and where a refusal goes. A request whose client or redirect URI
//! cannot be trusted is never redirected (§4.1.2.1): the person sees an error page. Every
//! other refusal goes back to the client's redirect URI with `error`, `state` and `iss`.

use crate::protocol::{Directory, LookupError};
use crate::vocab::record::{ClientRecord, GrantType};
use crate::vocab::request::Params;
use crate::vocab::scope::Scope;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Longest `state` and `nonce` taken: they come back in URLs and tokens.
pub const MAX_ECHO: usize = 512;
/// Longest redirect URI registered or taken.
pub const MAX_REDIRECT_URI: usize = 512;

/// What `prompt` asks (OpenID Connect Core §3.1.2.1); none of them: sign in and consent only
/// when needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prompt {
    /// Show nothing: answer at once, or fail with `login_required`/`consent_required`.
    pub none: bool,
    /// Sign in again, even with a session.
    pub login: bool,
    /// Ask for consent again, even when it was given before.
    pub consent: bool,
}

/// How the answer reaches the app (OAuth 2.0 Multiple Response Type Encoding Practices §2.1,
/// OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseMode {
    /// In the redirect URI's query: the default for `response_type=code`.
    #[default]
    Query,
    /// In the redirect URI's fragment.
    Fragment,
    /// In a form the browser posts to the redirect URI.
    FormPost,
}

impl ResponseMode {
    /// Every mode served, as metadata lists them.
    pub const ALL: [ResponseMode; 3] = [
        ResponseMode::Query,
        ResponseMode::Fragment,
        ResponseMode::FormPost,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }

    /// Reads a wire name; `None` for a mode piauth does not serve (`query.jwt`, ...).
    pub fn parse(name: &str) -> Option<ResponseMode> {
        ResponseMode::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// An answer to the app: where, how, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The redirect URI.
    pub uri: String,
    /// How it is carried.
    pub mode: ResponseMode,
    /// The parameters, in order.
    pub params: Vec<(String, String)>,
}

impl Response {
    /// The URL to send the browser to, for the query and fragment modes.
    pub fn location(&self) -> String {
        let params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match self.mode {
            // A registered URI has no fragment to replace (check_redirect_uri).
            ResponseMode::Fragment => format!("{}#{}", self.uri, encode_params(&params)),
            _ => redirect_with(&self.uri, &params),
        }
    }
}

/// Which PKCE rule applies to a client (RFC 9700 §2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceRule {
    /// Every authorization request carries a challenge: a public client, or one registered
    /// with `--require-pkce`.
    Always,
    /// A confidential client: a challenge, unless the request is an OpenID Connect one with
    /// a `nonce`, OpenID Connect's own defence against code injection.
    UnlessOidcNonce,
    /// A confidential client registered `--pkce-optional`: a challenge sent is enforced, none
    /// is needed.
    Optional,
}

impl PkceRule {
    /// What `client show` says.
    pub fn describe(self) -> &'static str {
        match self {
            PkceRule::Always => "required",
            PkceRule::UnlessOidcNonce => "required, unless an OpenID Connect request with a nonce",
            PkceRule::Optional => "optional (--pkce-optional): enforced when sent",
        }
    }
}

/// The PKCE rule of `client`.
pub fn pkce_rule(client: &ClientRecord) -> PkceRule {
    if client.public || client.require_pkce {
        PkceRule::Always
    } else if client.pkce_optional {
        PkceRule::Optional
    } else {
        PkceRule::UnlessOidcNonce
    }
}

/// Why a request of `client` without a challenge is refused, if it is: `openid_nonce` says
/// whether it asks for `openid` with a `nonce`.
pub fn pkce_missing_refusal(client: &ClientRecord, openid_nonce: bool) -> Option<&'static str> {
    match pkce_rule(client) {
        PkceRule::Always => {
            Some("PKCE is required: send code_challenge and code_challenge_method=S256")
        }
        PkceRule::UnlessOidcNonce if !openid_nonce => Some(
            "PKCE is required (or, for OpenID Connect, a nonce): send code_challenge and code_challenge_method=S256",
        ),
        PkceRule::UnlessOidcNonce | PkceRule::Optional => None,
    }
}

/// An authorization request that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The client.
    pub client: ClientRecord,
    /// Where the answer goes.
    pub redirect_uri: String,
    /// Whether the request named it.
    pub redirect_uri_sent: bool,
    /// Echoed back.
    pub state: Option<String>,
    /// What is asked for, within what the client may have.
    pub scope: Scope,
    /// PKCE S256 challenge; none only where [`pkce_missing_refusal`] allows it.
    pub challenge: Option<String>,
    /// How the answer goes back.
    pub response_mode: ResponseMode,
    /// OpenID Connect `nonce`.
    pub nonce: Option<String>,
    /// OpenID Connect `prompt`.
    pub prompt: Prompt,
    /// OpenID Connect `max_age`, seconds.
    pub max_age: Option<u64>,
    /// OpenID Connect `acr_values`: the app asked what the sign-in proves ("mfa": a second
    /// factor), so the ID token says (`acr`).
    pub acr_values: Option<String>,
}

impl AuthRequest {
    /// Whether this sign-in needs a second factor for the app's sake.
    pub fn wants_second_factor(&self) -> bool {
        self.client.require_second_factor
            || crate::protocol::account::policy::acr_asks_second_factor(self.acr_values.as_deref())
    }
}

/// A refused authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The client or the redirect URI cannot be trusted: show this, redirect nowhere.
    Page(String),
    /// Tell the app (at its redirect URI, with the error).
    Redirect(Response),
}

impl AuthRequest {
    /// An error for the app, with `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207).
    pub fn error(&self, error: &str, description: &str, issuer: &str) -> Response {
        error_response(
            &self.redirect_uri,
            self.response_mode,
            error,
            description,
            self.state.as_deref(),
            issuer,
        )
    }

    /// The code for the app, with `state` and `iss`.
    pub fn code(&self, code: &str, issuer: &str) -> Response {
        let mut params = vec![("code".to_string(), code.to_string())];
        if let Some(s) = &self.state {
            params.push(("state".into(), s.clone()));
        }
        params.push(("iss".into(), issuer.to_string()));
        Response {
            uri: self.redirect_uri.clone(),
            mode: self.response_mode,
            params,
        }
    }
}

/// The characters left as they are in a query component: RFC 3986 unreserved.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `params` as `name=value&...`, values percent-encoded.
fn encode_params(params: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.extend(utf8_percent_encode(value, QUERY));
    }
    out
}

/// `uri` with `params` added to its query.
pub fn redirect_with(uri: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return uri.to_string();
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{}", encode_params(params))
}

/// The error response of §4.1.2.1, with `iss` (RFC 9207).
pub fn error_response(
    uri: &str,
    mode: ResponseMode,
    error: &str,
    description: &str,
    state: Option<&str>,
    issuer: &str,
) -> Response {
    let mut params = vec![
        ("error".to_string(), error.to_string()),
        ("error_description".to_string(), description.to_string()),
    ];
    if let Some(s) = state {
        params.push(("state".into(), s.to_string()));
    }
    params.push(("iss".into(), issuer.to_string()));
    Response {
        uri: uri.to_string(),
        mode,
        params,
    }
}

/// A redirect URI that may be registered: absolute, no fragment, no user name, and not a
/// scheme that runs code in the page (`javascript:`, `data:`, `file:`, ...). `http` is
/// allowed: LAN apps often have no certificate.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("redirect URI {uri:?}: {why}"));
    if uri.is_empty() || uri.len() > MAX_REDIRECT_URI {
        return bad("empty or too long");
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("holds a space or a control character");
    }
    if uri.contains('#') {
        return bad("must have no fragment (RFC 6749 §3.1.2)");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return bad("is not absolute");
    };
    let scheme = scheme.to_ascii_lowercase();
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return bad("has no valid scheme");
    }
    if matches!(
        scheme.as_str(),
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about"
    ) {
        return bad("that scheme is refused");
    }
    if scheme == "http" || scheme == "https" {
        let Ok(parsed) = uri.parse::<http::Uri>() else {
            return bad("is not a valid URL");
        };
        let Some(authority) = parsed.authority() else {
            return bad("has no host");
        };
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return bad("must name a host, with no user name");
        }
        if parsed.port_u16() == Some(0) {
            return bad("port 0 is no port");
        }
    } else if rest.is_empty() {
        return bad("is not absolute");
    }
    Ok(())
}

/// Whether `given` is `registered` (exactly), or, when `registered` is a loopback IP URI
/// without a port, the same with the port a native app picked when it started (RFC 8252
/// §7.3). A registration that names a port is matched exactly.
pub fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    /// (host, port, path) of `http://127.0.0.1[:port]/path` or `http://[::1][:port]/path`.
    fn loopback(uri: &str) -> Option<(&str, Option<u16>, &str)> {
        let rest = uri.strip_prefix("http://")?;
        let (host_port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, after) = match host_port.strip_prefix('[') {
            Some(v6) => v6.split_once(']')?,
            None => host_port
                .split_once(':')
                .map_or((host_port, ""), |(h, _)| (h, &host_port[h.len()..])),
        };
        let port = match after {
            "" => None,
            p => {
                let digits = p.strip_prefix(':')?;
                let plain =
                    (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
                Some(digits.parse::<u16>().ok().filter(|p| plain && *p != 0)?)
            }
        };
        matches!(host, "127.0.0.1" | "::1").then_some((host, port, path))
    }
    match (loopback(registered), loopback(given)) {
        (Some((host, None, path)), Some((h, _, p))) => host == h && path == p,
        _ => false,
    }
}

/// Whether `v` is a PKCE code verifier: 43 to 128 unreserved characters (RFC 7636 §4.1).
pub fn verifier_ok(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of a verifier (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(crate::jose::secret::token_digest(verifier))
}

/// Whether `verifier` answers `challenge`, in constant time.
pub fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    use subtle::ConstantTimeEq;
    verifier_ok(verifier) && bool::from(s256(verifier).as_bytes().ct_eq(challenge.as_bytes()))
}

/// Reads and checks an authorization request's parameters.
pub fn check(
    params: &Params,
    dir: &dyn Directory,
    issuer: &str,
) -> Result<Result<AuthRequest, Refused>, LookupError> {
    let page = |why: &str| Ok(Err(Refused::Page(why.to_string())));
    let Some(client_id) = params.get("client_id") else {
        return page("The request names no client (client_id).");
    };
    let Some(client) = dir.client(client_id)? else {
        return page("The request names a client this server does not know.");
    };
    if client.disabled {
        return page("This client is disabled.");
    }
    let sent = params.get("redirect_uri");
    let redirect_uri = match sent {
        Some(given) if given.len() <= MAX_REDIRECT_URI => client
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, given))
            .then(|| given.to_string()),
        Some(_) => None,
        // RFC 6749 §3.1.2.3: with one registered, it may be left out.
        None if client.redirect_uris.len() == 1 => Some(client.redirect_uris[0].clone()),
        None => None,
    };
    let Some(redirect_uri) = redirect_uri else {
        return page("The redirect URI is not one this client registered.");
    };
    let state = params.get("state").map(str::to_string);
    // An unknown mode is refused in the default one: never a code in a mode not asked for.
    let asked_mode = params.get("response_mode");
    let response_mode = asked_mode.and_then(ResponseMode::parse).unwrap_or_default();
    let fail = |error: &str, description: &str| {
        let state = state.as_deref().filter(|s| s.len() <= MAX_ECHO);
        Ok(Err(Refused::Redirect(error_response(
            &redirect_uri,
            response_mode,
            error,
            description,
            state,
            issuer,
        ))))
    };
    if state.as_ref().is_some_and(|s| s.len() > MAX_ECHO) {
        return fail("invalid_request", "state is too long");
    }
    if asked_mode.is_some_and(|m| ResponseMode::parse(m).is_none()) {
        return fail(
            "invalid_request",
            "response_mode must be query, fragment or form_post",
        );
    }
    if params.get("request").is_some() || params.get("request_uri").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            )
        }
        None => return fail("invalid_request", "response_type is required"),
    }
    if !client.grants.contains(&GrantType::AuthorizationCode) {
        return fail(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        );
    }
    let challenge = params.get("code_challenge");
    if let Some(challenge) = challenge {
        if params.get("code_challenge_method") != Some("S256") {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is refused)",
            );
        }
        // An S256 challenge is 32 bytes in base64url: 43 characters.
        if challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            return fail("invalid_request", "code_challenge is not an S256 challenge");
        }
    }
    let scope = match params.get("scope").map(Scope::parse) {
        None => client.scope.clone(),
        Some(Err(_)) => return fail("invalid_scope", "the scope is not valid"),
        Some(Ok(s)) if s.is_subset(&client.scope) => s,
        Some(Ok(_)) => {
            return fail(
                "invalid_scope",
                "the requested scope exceeds what this client may be granted",
            )
        }
    };
    let nonce = params.get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_ECHO) {
        return fail("invalid_request", "nonce is too long");
    }
    let openid_nonce = scope.contains("openid") && nonce.as_ref().is_some_and(|n| !n.is_empty());
    if let Some(why) = challenge
        .is_none()
        .then(|| pkce_missing_refusal(&client, openid_nonce))
        .flatten()
    {
        return fail("invalid_request", why);
    }
    let words: Vec<&str> = params
        .get("prompt")
        .map(|p| p.split(' ').filter(|w| !w.is_empty()).collect())
        .unwrap_or_default();
    let prompt = Prompt {
        none: words.contains(&"none"),
        login: words.contains(&"login"),
        consent: words.contains(&"consent"),
    };
    if prompt.none && words.len() > 1 {
        return fail(
            "invalid_request",
            "prompt=none cannot be combined with another value",
        );
    }
    let max_age = match params.get("max_age").map(str::parse::<u64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return fail("invalid_request", "max_age must be a number of seconds"),
    };
    // Refused rather than dropped: an app asking for "mfa" among many values must not get
    // a password-only sign-in.
    let acr_values = params.get("acr_values");
    if acr_values.is_some_and(|v| v.len() > 256) {
        return fail("invalid_request", "acr_values is too long");
    }
    Ok(Ok(AuthRequest {
        client,
        redirect_uri,
        redirect_uri_sent: sent.is_some(),
        state,
        scope,
        challenge: challenge.map(str::to_string),
        response_mode,
        nonce,
        prompt,
        max_age,
        acr_values: acr_values.map(str::to_string),
    }))
}

#[cfg(test)]
mod tests;
