//! The token endpoint's refusals that more than one grant gives, each worded once.

use crate::vocab::oauth_error::OAuthError;

/// The error a reused refresh token is answered with.
pub const REFRESH_REUSED: OAuthError =
    OAuthError::invalid_grant("refresh token already used; its family is revoked");

/// The error an unknown, expired, revoked or foreign refresh token is answered with.
pub const BAD_REFRESH: OAuthError =
    OAuthError::invalid_grant("refresh token is invalid, expired or revoked");

/// The error an unknown, expired, used or foreign code is answered with.
pub const BAD_CODE: OAuthError =
    OAuthError::invalid_grant("the authorization code is invalid, expired or used");

/// The error a person outside every group a client allows is answered with.
pub const NOT_ADMITTED: OAuthError =
    OAuthError::invalid_grant("this person is not in a group this client allows");

/// The error the password grant gives a person whose sign-in needs a second factor: a
/// password alone must not get around it.
pub const NEEDS_SECOND_FACTOR: OAuthError = OAuthError::invalid_grant(
    "this account signs in with a second factor: use the authorization code or device flow",
);

/// The error a wrong password or unknown user is answered with (the same for both).
pub const BAD_PASSWORD: OAuthError = OAuthError::invalid_grant("wrong username or password");
