//! What a token presented for introspection or revocation turns out to be.

use super::token_endpoint::find_family;
use super::{Context, LookupError};
use crate::jose::token::{self, AccessClaims};
use crate::vocab::record::FamilyRecord;
use crate::vocab::refresh::{self, FamilyId};

/// What a presented token is.
#[derive(Debug)]
pub enum Found {
    /// A live access token of this server.
    Access(AccessClaims),
    /// A family's newest token, live.
    Refresh(FamilyId, FamilyRecord),
    /// Nothing live: unknown, expired, revoked, another server's, or an older token of a
    /// family.
    Nothing,
}

/// Looks a presented token up: a JWT is verified against the key ring, anything else is
/// read as a refresh token.
pub fn find(token: &str, ctx: &Context) -> Result<Found, LookupError> {
    if token.split('.').count() == 3 {
        let p = ctx.policy;
        return match token::verify_cached(
            token,
            ctx.keys,
            &p.issuer,
            ctx.now,
            p.leeway,
            ctx.verified,
        ) {
            Ok(claims) => {
                if ctx.dir.is_jti_revoked(&claims.jti)? {
                    return Ok(Found::Nothing);
                }
                // Access ends when the client's access ends: a removed or disabled client's
                // tokens are inactive at once, not only when they expire.
                Ok(match ctx.dir.client(&claims.client_id)? {
                    Some(c) if !c.disabled => Found::Access(claims),
                    _ => Found::Nothing,
                })
            }
            Err(why) => {
                log::debug!("presented token not accepted: {why}");
                Ok(Found::Nothing)
            }
        };
    }
    let presented = refresh::parse(token);
    Ok(match find_family(ctx.dir, &presented)? {
        Some((id, f))
            if !f.revoked && ctx.now < f.expires_at && presented.digest.matches(&f.current) =>
        {
            Found::Refresh(id, f)
        }
        _ => Found::Nothing,
    })
}
