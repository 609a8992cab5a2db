//! Store layouts, and bringing an older one up to date when it is opened.
//!
//! Layout 1 kept every refresh token ever issued until it expired: `refresh` (digest →
//! token record with a `used` flag), `families` (client, revoked, expiry) and the indexes
//! `refresh_expiry` and `family_tokens`. A device refreshing every five minutes added
//! 8,640 records a month to it. Layout 2 keeps one record per family holding the digest of
//! its newest token (`src/jose/refresh.rs`).
//!
//! Moving to layout 2 keeps every live grant working. Each live family's unused token
//! becomes its newest, and `legacy_refresh` maps that token's digest to the family, because
//! the old value does not name it. Used tokens are not carried over: presenting one is
//! refused as unknown rather than revoking its family. The move is idempotent: one
//! interrupted half way is finished on the next open.
//!
//! Layout 3 adds `family_use` (use counter ‖ family id), so that the family cap evicts the
//! least recently used family instead of the one that expires first. Moving to it orders
//! the existing families by expiry, the best guess of their last use that layout 2 kept.

use super::trees::{dec, enc, index_key};
use super::{StoreError, Trees};
use crate::jose::refresh::{FamilyId, TokenDigest};
use crate::vocab::record::FamilyRecord;
use crate::vocab::scope::Scope;
use serde::Deserialize;

/// The layout this build writes.
const LAYOUT: &[u8] = b"3";
/// The same, for messages.
pub(super) const LAYOUT_NAME: &str = "3";

/// Brings `store` to the current layout; refuses a layout from a newer piauth.
pub(super) fn to_current(store: &Trees) -> Result<(), StoreError> {
    match store.meta.get("layout")? {
        Some(v) if v == LAYOUT => return Ok(()),
        Some(v) if v.as_ref() == b"2" => {}
        Some(v) => {
            return Err(StoreError::NewerLayout {
                found: String::from_utf8_lossy(&v).into(),
                reads: LAYOUT_NAME,
            })
        }
        None => {
            if store
                .db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == b"refresh")
            {
                from_layout_1(store)?;
            }
        }
    }
    from_layout_2(store)?;
    store.meta.insert("layout", LAYOUT)?;
    store.flush()
}

/// Builds the use index from the expiry index (earliest expiry: least recently used).
fn from_layout_2(store: &Trees) -> Result<(), StoreError> {
    store.family_use.clear()?;
    let mut n = 0usize;
    for key in store.family_expiry.iter().keys() {
        let key = key?;
        let id = key.get(8..).unwrap_or_default();
        let Some(bytes) = store.families.get(id)? else {
            continue;
        };
        let mut family: FamilyRecord = dec("family", &bytes)?;
        family.last_use = store.db.generate_id()?;
        store.families.insert(id, enc(&family))?;
        store
            .family_use
            .insert(index_key(family.last_use, id), &[])?;
        n += 1;
    }
    if n > 0 {
        log::info!("store: moved to layout 3: {n} refresh-token families ordered by last use");
    }
    Ok(())
}

/// A layout-1 refresh-token record (the fields the move needs).
#[derive(Deserialize)]
struct V1Refresh {
    family: String,
    client_id: String,
    username: Option<String>,
    scope: Scope,
    issued_at: u64,
    expires_at: u64,
    used: bool,
}

/// A layout-1 family record (the field the move needs). A layout-2 record reads as one
/// too, so a second run over a half-moved store sees the families it already moved.
#[derive(Deserialize)]
struct V1Family {
    revoked: bool,
}

fn from_layout_1(store: &Trees) -> Result<(), StoreError> {
    let refresh = store.db.open_tree("refresh")?;
    store.family_expiry.clear()?;
    let mut moved = 0usize;
    for entry in refresh.iter() {
        let (digest, v) = entry?;
        let r: V1Refresh = dec("refresh", &v)?;
        let (Ok(id), Ok(digest)) = (r.family.parse::<FamilyId>(), <[u8; 32]>::try_from(&*digest))
        else {
            continue;
        };
        let Some(f) = store.families.get(r.family.as_bytes())? else {
            continue;
        };
        let f: V1Family = dec("family", &f)?;
        if r.used || f.revoked {
            continue;
        }
        let key = id.to_string();
        let family = FamilyRecord {
            client_id: r.client_id,
            username: r.username,
            user_generation: None,
            scope: r.scope,
            current: TokenDigest(digest).encode(),
            previous: None,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            rotations: 0,
            revoked: false,
            last_use: 0,
        };
        store.families.insert(key.as_bytes(), enc(&family))?;
        store
            .family_expiry
            .insert(index_key(family.expires_at, key.as_bytes()), &[])?;
        store.legacy_refresh.insert(digest, key.as_bytes())?;
        moved += 1;
    }
    // What was not moved (revoked, or with no unused token) has no token left to honour.
    let mut dropped = 0usize;
    for entry in store.families.iter() {
        let (key, v) = entry?;
        if serde_json::from_slice::<FamilyRecord>(&v).is_err() {
            store.families.remove(key)?;
            dropped += 1;
        }
    }
    store.flush()?;
    for name in ["refresh_expiry", "family_tokens", "refresh"] {
        store.db.drop_tree(name)?;
    }
    log::info!(
        "store: moved to layout 2: {moved} refresh-token families kept, {dropped} revoked or spent ones dropped"
    );
    Ok(())
}
