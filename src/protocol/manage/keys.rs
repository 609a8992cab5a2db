//! The signing keys' changes as values: a rotation (staged or at once), the ID-token key
//! an algorithm needs, and the key ring's state for the operator.

use crate::jose::keys::{self, KeyError, KeyRing, SigningAlg};
use crate::protocol::Policy;
use crate::vocab::record::{ClientRecord, KeyPurpose, KeyRecord};
use serde_json::{json, Value};

/// How long a retired key must stay published: the longest access-token lifetime any
/// client has, plus leeway, so that every token it signed expires first.
pub fn max_token_life(clients: &[ClientRecord], policy: &Policy) -> u64 {
    let longest = clients
        .iter()
        .filter_map(|c| c.access_ttl)
        .fold(policy.access_ttl, u64::max);
    longest.saturating_add(policy.leeway)
}

/// The keys to write for a new access-token key of `alg` and a new key for each line of
/// ID-token keys: staged (published now, signing once verifiers' cached JWKS hold them), or
/// at once when `at_once` (the keys in place are compromised). With the access key's id and
/// when it signs from.
pub fn rotation(
    records: &[KeyRecord],
    clients: &[ClientRecord],
    policy: &Policy,
    alg: SigningAlg,
    at_once: bool,
    now: u64,
) -> Result<(Vec<KeyRecord>, String, u64), KeyError> {
    let time = keys::rotation_base(records, now.max(crate::protocol::clock::BUILD_FLOOR));
    let how = match at_once {
        true => keys::Rotation::Now,
        false => keys::Rotation::Staged {
            delay: keys::activation_delay(policy.jwks_max_age),
            max_token_life: max_token_life(clients, policy),
        },
    };
    let fresh = keys::generate(alg, time)?;
    let kid = fresh.kid.clone();
    let access: Vec<KeyRecord> = records
        .iter()
        .filter(|r| r.purpose.is_access())
        .cloned()
        .collect();
    let mut changed = keys::rotate(&access, fresh, time, how);
    let from = changed.last().and_then(|k| k.active_from).unwrap_or(time);
    for (id_alg, line) in keys::id_lines(records) {
        let mut fresh = keys::generate(id_alg, time)?;
        fresh.purpose = KeyPurpose::IdToken;
        changed.extend(keys::rotate(&line, fresh, time, how));
    }
    Ok((changed, kid, from))
}

/// The key that lets ID tokens be signed with `alg`, if none does yet (neither the
/// access-token key nor an ID-token key of it): it signs at once, as no verifier has seen a
/// token of that line.
pub fn id_key_needed(
    records: &[KeyRecord],
    alg: SigningAlg,
    now: u64,
) -> Result<Option<KeyRecord>, KeyError> {
    if alg.is_symmetric() || KeyRing::load(records)?.id_signer(alg, now).is_some() {
        return Ok(None);
    }
    let mut fresh = keys::generate(alg, now.max(crate::protocol::clock::BUILD_FLOOR))?;
    fresh.purpose = KeyPurpose::IdToken;
    fresh.active_from = Some(0);
    Ok(Some(fresh))
}

/// Where a key stands now.
pub fn state(ring: &KeyRing, k: &KeyRecord, now: u64) -> &'static str {
    let from = k.active_from.unwrap_or(k.created_at);
    let signing = ring.current(now).kid == k.kid
        || SigningAlg::ALL
            .into_iter()
            .filter_map(|a| ring.id_signer(a, now))
            .any(|s| s.kid == k.kid);
    if signing {
        "current"
    } else if from > now && k.retired_at.is_none_or(|r| r > now) {
        "next"
    } else {
        "retired"
    }
}

/// The key ring for the operator, access-token keys first, newest first; never a private
/// key.
pub fn listing(records: &[KeyRecord], now: u64) -> Result<Value, KeyError> {
    let mut keys = records.to_vec();
    keys.sort_by_key(|k| {
        (
            !k.purpose.is_access(),
            std::cmp::Reverse(k.active_from.unwrap_or(k.created_at)),
        )
    });
    let ring = KeyRing::load(&keys)?;
    Ok(json!(keys
        .iter()
        .map(|k| json!({
            "kid": k.kid,
            "alg": k.alg,
            "signs": if k.purpose.is_access() { "access_tokens" } else { "id_tokens" },
            "state": state(&ring, k, now),
            "created_at": k.created_at,
            "signs_from": k.active_from.unwrap_or(k.created_at),
            "retired_at": k.retired_at,
            "published_until": k.publish_until,
        }))
        .collect::<Vec<_>>()))
}
