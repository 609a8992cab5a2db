//! The OAuth 2.0 error vocabulary (RFC 6749 §5.2, RFC 7009 §2.2.1) as a closed enum.
//!
//! Descriptions are `&'static str` so that an error can never echo a client's input,
//! and with it a secret, back onto the wire or into a log line.

use std::fmt;

/// The error codes a client can see. Wire strings live only in [`ErrorCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing, repeated or malformed parameter, or a body that cannot be parsed.
    InvalidRequest,
    /// Client authentication failed (unknown client, bad secret, disabled client, no auth).
    InvalidClient,
    /// The grant (password, refresh token) is invalid, expired, revoked or for another client.
    InvalidGrant,
    /// The client is authenticated but may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not one this server supports.
    UnsupportedGrantType,
    /// The requested scope exceeds what the client (or user) may have.
    InvalidScope,
    /// The server failed (its store, its keys); details go to the log only.
    ServerError,
    /// The server cannot answer right now (RFC 6749 §5.2 via §4.1.2.1).
    TemporarilyUnavailable,
    /// RFC 8628 §3.5: the person has not decided yet.
    AuthorizationPending,
    /// RFC 8628 §3.5: poll less often (the interval grew by 5 s).
    SlowDown,
    /// The person refused (RFC 6749 §4.1.2.1, RFC 8628 §3.5).
    AccessDenied,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
}

impl ErrorCode {
    /// The wire string of this code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ExpiredToken => "expired_token",
        }
    }

    /// The HTTP status RFC 6749 §5.2 gives this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An error answered to a client: a code and a fixed human-readable description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthError {
    /// The RFC error code.
    pub code: ErrorCode,
    /// A fixed description (never built from input).
    pub description: &'static str,
}

impl OAuthError {
    /// Builds an error.
    pub const fn new(code: ErrorCode, description: &'static str) -> Self {
        OAuthError { code, description }
    }
    /// `invalid_request`.
    pub const fn invalid_request(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }
    /// `invalid_client`.
    pub const fn invalid_client(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }
    /// `invalid_grant`.
    pub const fn invalid_grant(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }
    /// `invalid_scope`.
    pub const fn invalid_scope(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }
    /// `server_error`.
    pub const fn server_error(description: &'static str) -> Self {
        Self::new(ErrorCode::ServerError, description)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_401_and_server_error_is_500() {
        assert_eq!(ErrorCode::InvalidClient.status(), 401);
        assert_eq!(ErrorCode::ServerError.status(), 500);
        assert_eq!(ErrorCode::InvalidGrant.status(), 400);
        assert_eq!(
            ErrorCode::UnsupportedGrantType.as_str(),
            "unsupported_grant_type"
        );
    }
}
