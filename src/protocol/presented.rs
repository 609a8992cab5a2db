//! What a token presented for introspection or revocation turns out to be.

use crate::jose::refresh::{self, FamilyId};
use crate::jose::token::{self, AccessClaims};
use crate::protocol::{Context, Directory, LookupError};
use crate::vocab::record::FamilyRecord;

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

/// The family a presented refresh-token value names (or, for a value of the earlier form,
/// the one the legacy map gives), with its record, if both exist. Whether the value is the
/// family's newest token is the caller's question.
pub fn find_family(
    dir: &dyn Directory,
    presented: &refresh::Presented,
) -> Result<Option<(FamilyId, FamilyRecord)>, LookupError> {
    let id = match presented.family {
        Some(id) => id,
        None => match dir.legacy_family(&presented.digest)? {
            Some(id) => id,
            None => return Ok(None),
        },
    };
    Ok(dir.family(&id)?.map(|f| (id, f)))
}
