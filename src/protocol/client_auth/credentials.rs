//! How a client presented its credentials (RFC 6749 §2.3.1, RFC 7523 §2.2): HTTP Basic,
//! the body, a public client's bare id, or an assertion, told apart and never two at once.

use crate::protocol::client_auth::assertion;
use crate::vocab::oauth_error::OAuthError;
use crate::vocab::request::{form_decode, Params};
use base64::Engine;

/// How a client presented its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// `client_secret_basic`: the Authorization header.
    Basic {
        /// The client id.
        id: String,
        /// The secret, as sent.
        secret: String,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post {
        /// The client id.
        id: String,
        /// The secret, as sent.
        secret: String,
    },
    /// `none`: a public client names itself by `client_id` alone (RFC 6749 §2.1; only for
    /// the authorization code flow, where PKCE stands in for a secret).
    Public {
        /// The client id.
        id: String,
    },
    /// `private_key_jwt`: a signed JWT naming the client in `sub` (RFC 7523 §2.2).
    Assertion {
        /// The client id the assertion names (not yet verified).
        id: String,
        /// The JWT.
        assertion: String,
    },
}

impl ClientCredentials {
    /// The client id presented.
    pub fn id(&self) -> &str {
        match self {
            ClientCredentials::Basic { id, .. }
            | ClientCredentials::Post { id, .. }
            | ClientCredentials::Public { id }
            | ClientCredentials::Assertion { id, .. } => id,
        }
    }

    /// The secret presented (none with an assertion).
    pub fn secret(&self) -> &str {
        match self {
            ClientCredentials::Basic { secret, .. } | ClientCredentials::Post { secret, .. } => {
                secret
            }
            ClientCredentials::Assertion { .. } | ClientCredentials::Public { .. } => "",
        }
    }
}

/// A failure to read credentials, and whether Basic was tried (which decides the
/// `WWW-Authenticate` header, RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsError {
    /// What went wrong.
    pub error: OAuthError,
    /// Whether the client tried HTTP Basic.
    pub basic: bool,
}

/// Reads client credentials from the Authorization header and the body parameters.
///
/// RFC 6749 §2.3 forbids more than one authentication method in a request, so a Basic
/// header together with a `client_secret` parameter is refused; a `client_id` parameter
/// beside Basic is allowed only when it names the same client.
pub fn client_credentials(
    authorization: Option<&str>,
    params: &Params,
) -> Result<ClientCredentials, CredentialsError> {
    if params.get("client_assertion_type").is_some() || params.get("client_assertion").is_some() {
        return assertion_credentials(authorization, params);
    }
    if let Some(header) = authorization {
        let (id, secret) =
            parse_basic(header).map_err(|error| CredentialsError { error, basic: true })?;
        if params.get("client_secret").is_some() {
            return Err(CredentialsError {
                error: OAuthError::invalid_request(
                    "use one client authentication method: Basic or client_secret, not both",
                ),
                basic: true,
            });
        }
        if params.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(CredentialsError {
                error: OAuthError::invalid_request(
                    "client_id in the body differs from the Basic credentials",
                ),
                basic: true,
            });
        }
        return Ok(ClientCredentials::Basic { id, secret });
    }
    match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Ok(ClientCredentials::Post {
            id: id.to_string(),
            secret: secret.to_string(),
        }),
        (Some(id), None) => Ok(ClientCredentials::Public { id: id.to_string() }),
        _ => Err(CredentialsError {
            error: OAuthError::invalid_client(
                "client authentication required: HTTP Basic or client_id and client_secret",
            ),
            basic: false,
        }),
    }
}

/// `private_key_jwt` credentials: the assertion, and the client its `sub` names (checked
/// against the registered keys later).
fn assertion_credentials(
    authorization: Option<&str>,
    params: &Params,
) -> Result<ClientCredentials, CredentialsError> {
    let fail = |error| CredentialsError {
        error,
        basic: false,
    };
    if authorization.is_some() || params.get("client_secret").is_some() {
        return Err(fail(OAuthError::invalid_request(
            "use one client authentication method: a client assertion, Basic or client_secret",
        )));
    }
    if params.get("client_assertion_type") != Some(assertion::ASSERTION_TYPE) {
        return Err(fail(OAuthError::invalid_request(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )));
    }
    const BAD: OAuthError =
        OAuthError::invalid_client("the client assertion is not a JWT naming a client in sub");
    let assertion = params
        .get("client_assertion")
        .ok_or_else(|| fail(OAuthError::invalid_request("client_assertion is missing")))?;
    let id = assertion::unverified_claim(assertion, "sub").ok_or_else(|| fail(BAD))?;
    if params.get("client_id").is_some_and(|given| given != id) {
        return Err(fail(OAuthError::invalid_client(
            "client_id differs from the client assertion's sub",
        )));
    }
    Ok(ClientCredentials::Assertion {
        id,
        assertion: assertion.to_string(),
    })
}

/// Parses `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
pub fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    const BAD: OAuthError =
        OAuthError::invalid_client("the Authorization header is not valid HTTP Basic credentials");
    let (scheme, rest) = header.trim().split_once(' ').ok_or(BAD)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "only the Basic authentication scheme is accepted here",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| BAD)?;
    let colon = decoded.iter().position(|&b| b == b':').ok_or(BAD)?;
    let id = form_decode(&decoded[..colon]).map_err(|_| BAD)?;
    let secret = form_decode(&decoded[colon + 1..]).map_err(|_| BAD)?;
    if id.is_empty() {
        return Err(BAD);
    }
    Ok((id, secret))
}

/// Why client authentication failed, for the log; the client only sees `invalid_client`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No such client.
    UnknownClient,
    /// The secret does not match.
    WrongSecret,
    /// The client is disabled.
    Disabled,
    /// A secret for a client that has keys, or an assertion for one that has none.
    WrongMethod,
    /// The client assertion was refused.
    BadAssertion(crate::protocol::client_auth::assertion::AssertionFailure),
    /// The client assertion's `jti` was used before.
    Replayed,
}

impl AuthFailure {
    /// A word for the audit log.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthFailure::UnknownClient => "unknown_client",
            AuthFailure::WrongSecret => "wrong_secret",
            AuthFailure::Disabled => "disabled",
            AuthFailure::WrongMethod => "wrong_method",
            AuthFailure::BadAssertion(f) => f.as_str(),
            AuthFailure::Replayed => "replayed_assertion",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::oauth_error::ErrorCode;

    fn form(body: &str) -> Result<Params, OAuthError> {
        crate::vocab::request::parse_body(crate::vocab::request::BodyKind::Form, body.as_bytes())
    }

    #[test]
    fn parses_basic_with_urlencoded_parts() {
        // "my%20id:s%3Acret" -> id "my id", secret "s:cret"
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("my%20id:s%3Acret")
        );
        assert_eq!(
            parse_basic(&header).unwrap(),
            ("my id".to_string(), "s:cret".to_string())
        );
    }

    #[test]
    fn rejects_malformed_basic() {
        for h in ["Basic", "Basic !!!", "Bearer abc", "Basic Zm9v"] {
            assert_eq!(
                parse_basic(h).unwrap_err().code,
                ErrorCode::InvalidClient,
                "{h}"
            );
        }
    }

    #[test]
    fn refuses_two_authentication_methods() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("dev:secret")
        );
        let p = form("client_secret=x").unwrap();
        let e = client_credentials(Some(&header), &p).unwrap_err();
        assert_eq!(e.error.code, ErrorCode::InvalidRequest);
        assert!(e.basic);
        let p = form("client_id=dev").unwrap();
        assert!(matches!(
            client_credentials(Some(&header), &p),
            Ok(ClientCredentials::Basic { .. })
        ));
    }

    #[test]
    fn missing_credentials_are_invalid_client() {
        let e = client_credentials(None, &form("client_secret=x").unwrap()).unwrap_err();
        assert_eq!(e.error.code, ErrorCode::InvalidClient);
        assert!(!e.basic);
        // An id alone is a public client's way (RFC 6749 §2.1); the record decides.
        assert_eq!(
            client_credentials(None, &form("client_id=dev").unwrap()),
            Ok(ClientCredentials::Public { id: "dev".into() })
        );
    }
}
