//! The store against real sled on disk: transactions, preconditions, purging, the family
//! indexes, and migration from older layouts.

use super::*;
use crate::adapters::store::trees::index_key;
use crate::jose::refresh::{FamilyId, TokenDigest};
use crate::protocol::{Change, Conflict, Directory};
use crate::vocab::entropy::{CountingEntropy, Entropy};
use crate::vocab::record::{FamilyRecord, UserRecord};
use crate::vocab::scope::Scope;

fn new_id() -> FamilyId {
    thread_local!(static RNG: std::cell::RefCell<CountingEntropy> = Default::default());
    RNG.with(|r| FamilyId::random(&mut *r.borrow_mut() as &mut dyn Entropy))
}

fn insert(s: &Store, id: &FamilyId, f: FamilyRecord) {
    s.apply(&[Change::InsertFamily { id: *id, record: f }])
        .unwrap()
        .unwrap();
}

fn rotate(
    s: &Store,
    id: &FamilyId,
    presented: &TokenDigest,
    next: FamilyRecord,
) -> Result<(), Conflict> {
    s.apply(&[Change::RotateFamily {
        id: *id,
        presented: *presented,
        next,
    }])
    .unwrap()
}

fn family(expires_at: u64, current: &TokenDigest) -> FamilyRecord {
    FamilyRecord {
        client_id: "c".into(),
        username: None,
        user_generation: None,
        scope: Scope::parse("read").unwrap(),
        current: current.encode(),
        previous: None,
        issued_at: 0,
        expires_at,
        rotations: 0,
        revoked: false,
        last_use: 0,
    }
}

fn digest(i: u8) -> TokenDigest {
    TokenDigest([i; 32])
}

fn open(dir: &tempfile::TempDir) -> Store {
    try_open(dir).unwrap()
}

/// Opens the store in `dir`. A handle on it dropped just before (a `Store`, or a raw
/// `sled::Db` of the test) releases sled's file lock from a background thread a moment
/// later, so an I/O error is tried again for a while.
fn try_open(dir: &tempfile::TempDir) -> Result<Store, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(dir.path(), 1 << 20) {
            Err(StoreError::Io(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn get(s: &Store, id: &FamilyId) -> Option<FamilyRecord> {
    Directory::family(s, id).unwrap()
}

#[test]
fn a_rotation_replaces_the_newest_token_and_a_stale_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let id = new_id();
    insert(&s, &id, family(100, &digest(1)));
    assert_eq!(rotate(&s, &id, &digest(1), family(200, &digest(2))), Ok(()));
    let f = get(&s, &id).unwrap();
    assert!(digest(2).matches(&f.current) && !digest(1).matches(&f.current));
    assert_eq!((f.rotations, f.expires_at, f.revoked), (1, 200, false));
    // The first token again: the store refuses and writes nothing; revoking is the
    // core's answer to that (protocol::resolve).
    let stale = rotate(&s, &id, &digest(1), family(300, &digest(3)));
    assert_eq!(stale, Err(Conflict::FamilyReplaced(id)));
    assert_eq!(get(&s, &id).unwrap(), f);
    s.apply(&[Change::RevokeFamily(id)]).unwrap().unwrap();
    assert!(get(&s, &id).unwrap().revoked);
    let r = rotate(&s, &id, &digest(2), family(300, &digest(3)));
    assert_eq!(r, Err(Conflict::FamilyGone(id)));
    let other = new_id();
    let r = rotate(&s, &other, &digest(2), family(300, &digest(3)));
    assert_eq!(r, Err(Conflict::FamilyGone(other)));
    // One record per family, however often it rotates.
    assert_eq!(
        (
            s.t().families.len(),
            s.t().family_expiry.len(),
            s.t().family_use.len()
        ),
        (1, 1, 1)
    );
}

#[test]
fn a_failed_precondition_applies_nothing_of_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (a, b) = (new_id(), new_id());
    insert(&s, &a, family(100, &digest(1)));
    let r = s
        .apply(&[
            Change::EvictFamily(a),
            Change::InsertFamily {
                id: b,
                record: family(100, &digest(2)),
            },
            Change::RotateFamily {
                id: a,
                presented: digest(1),
                next: family(100, &digest(3)),
            },
        ])
        .unwrap();
    assert_eq!(r, Err(Conflict::FamilyGone(a)));
    assert!(get(&s, &a).is_some() && get(&s, &b).is_none());
    assert_eq!(s.counts().refresh_families, 1);
}

#[test]
fn a_purge_spares_a_family_rotated_since_it_was_found_expired() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let f = new_id();
    insert(&s, &f, family(100, &digest(1)));
    // The purge read the index at 100; the device rotated before its write landed.
    rotate(&s, &f, &digest(1), family(500, &digest(2))).unwrap();
    s.apply(&[Change::PurgeFamily { id: f, now: 100 }])
        .unwrap()
        .unwrap();
    assert_eq!(get(&s, &f).unwrap().expires_at, 500);
    s.apply(&[Change::PurgeFamily { id: f, now: 500 }])
        .unwrap()
        .unwrap();
    assert!(get(&s, &f).is_none());
    assert_eq!(s.counts().refresh_families, 0);
}

#[test]
fn purge_reads_only_what_expired_and_keeps_the_indexes_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (fa, fb) = (new_id(), new_id());
    insert(&s, &fa, family(100, &digest(1)));
    insert(&s, &fb, family(300, &digest(2)));
    rotate(&s, &fa, &digest(1), family(200, &digest(3))).unwrap();
    assert_eq!(s.purge(100).unwrap(), 0);
    assert_eq!(s.purge(200).unwrap(), 1);
    assert!(get(&s, &fa).is_none() && get(&s, &fb).is_some());
    assert_eq!(
        (s.counts().refresh_families, s.t().family_expiry.len()),
        (1, 1)
    );
    assert_eq!(s.t().family_use.len(), 1);
    assert_eq!(s.purge(300).unwrap(), 1);
    assert_eq!(
        (s.counts().refresh_families, s.t().family_expiry.len()),
        (0, 0)
    );
    assert!(s.t().families.is_empty() && s.t().family_use.is_empty());
}

#[test]
fn families_are_listed_least_recently_used_first_and_a_rotation_is_a_use() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let ids = [new_id(), new_id(), new_id()];
    // Expiry order is the reverse of use order: the index must follow use.
    for (i, id) in ids.iter().enumerate() {
        insert(&s, id, family(1000 - 100 * i as u64, &digest(i as u8)));
    }
    assert_eq!(s.least_recently_used(2).unwrap(), vec![ids[0], ids[1]]);
    rotate(&s, &ids[0], &digest(0), family(50, &digest(9))).unwrap();
    assert_eq!(
        s.least_recently_used(5).unwrap(),
        vec![ids[1], ids[2], ids[0]]
    );
    s.apply(&[Change::EvictFamily(ids[1])]).unwrap().unwrap();
    assert!(get(&s, &ids[1]).is_none());
    assert_eq!(
        (s.counts().refresh_families, s.t().family_expiry.len()),
        (2, 2)
    );
    // The count and the order survive a reopen.
    drop(s);
    let s = open(&dir);
    assert_eq!(s.counts().refresh_families, 2);
    assert_eq!(s.least_recently_used(5).unwrap(), vec![ids[2], ids[0]]);
}

#[test]
fn a_user_is_replaced_only_if_still_the_generation_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let user = |generation: &str| UserRecord {
        name: "ann".into(),
        password_hash: "h".into(),
        scope: Scope::default(),
        created_at: 0,
        generation: generation.into(),
        display_name: None,
        email: None,
        admin: false,
        email_unverified: false,
        groups: Vec::new(),
        require_second_factor: false,
        factors: Default::default(),
        session_epoch: 0,
        enrollment: None,
        revision: 0,
    };
    s.apply(&[Change::InsertUser(user("g1"))]).unwrap().unwrap();
    assert_eq!(
        s.apply(&[Change::InsertUser(user("g9"))]).unwrap(),
        Err(Conflict::UserExists("ann".into()))
    );
    let replace = |expected: &str| {
        s.apply(&[Change::ReplaceUser {
            user: user("g2"),
            expected: expected.into(),
        }])
        .unwrap()
    };
    assert_eq!(replace("g0"), Err(Conflict::UserChanged("ann".into())));
    assert_eq!(replace("g1"), Ok(()));
    let stored = s.user("ann").unwrap().unwrap();
    assert_eq!((stored.generation.as_str(), stored.revision), ("g2", 1));
    // A second change decided on the same read (revision 0) would undo the first.
    let stale = s.apply(&[Change::ReplaceUser {
        user: user("g2"),
        expected: "g2".into(),
    }]);
    assert_eq!(stale.unwrap(), Err(Conflict::UserChanged("ann".into())));
    // A code spent raises the revision too: a change read before it is refused.
    let mut with_codes = stored.clone();
    with_codes.factors.recovery = vec!["d1".into()];
    s.apply(&[Change::ReplaceUser {
        user: with_codes.clone(),
        expected: "g2".into(),
    }])
    .unwrap()
    .unwrap();
    let read = s.user("ann").unwrap().unwrap();
    s.apply(&[Change::SpendCode {
        user: "ann".into(),
        spend: crate::protocol::account::factors::Spend::Recovery("d1".into()),
    }])
    .unwrap()
    .unwrap();
    let restored = s.apply(&[Change::ReplaceUser {
        user: read,
        expected: "g2".into(),
    }]);
    assert_eq!(restored.unwrap(), Err(Conflict::UserChanged("ann".into())));
    assert!(s.user("ann").unwrap().unwrap().factors.recovery.is_empty());
}

/// Writes a layout-1 store: family `fa` rotated once (token 1 used, token 2 newest),
/// `fb` revoked (token 3), `fc` whose only token (4) is used.
fn layout_1_store(dir: &tempfile::TempDir) -> [FamilyId; 3] {
    let ids = [new_id(), new_id(), new_id()];
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .open()
        .unwrap();
    let (refresh, families) = (
        db.open_tree("refresh").unwrap(),
        db.open_tree("families").unwrap(),
    );
    let (fexp, toks) = (
        db.open_tree("family_expiry").unwrap(),
        db.open_tree("family_tokens").unwrap(),
    );
    for (n, used, fam) in [(1u8, true, 0), (2, false, 0), (3, false, 1), (4, true, 2)] {
        let r = serde_json::json!({"family": ids[fam].to_string(), "client_id": "c",
            "username": "ann", "scope": ["read", "write"], "issued_at": n, "expires_at": 1000, "used": used});
        refresh.insert([n; 32], r.to_string().as_bytes()).unwrap();
        toks.insert(
            [ids[fam].to_string().as_bytes(), &[0], &[n; 32]].concat(),
            &[],
        )
        .unwrap();
    }
    for (fam, revoked) in [(0, false), (1, true), (2, false)] {
        let id = ids[fam].to_string();
        let f = serde_json::json!({"client_id": "c", "revoked": revoked, "expires_at": 1000});
        families
            .insert(id.as_bytes(), f.to_string().as_bytes())
            .unwrap();
        fexp.insert(index_key(1000, id.as_bytes()), &[]).unwrap();
    }
    db.open_tree("refresh_expiry")
        .unwrap()
        .insert(b"x", &[])
        .unwrap();
    db.flush().unwrap();
    ids
}

#[test]
fn a_layout_1_store_keeps_its_live_grants_and_loses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let [fa, fb, fc] = layout_1_store(&dir);
    let s = open(&dir);
    let f = get(&s, &fa).unwrap();
    assert!(digest(2).matches(&f.current));
    assert_eq!(f.username.as_deref(), Some("ann"));
    assert_eq!(f.scope.to_string(), "read write");
    assert!(get(&s, &fb).is_none() && get(&s, &fc).is_none());
    assert_eq!(
        (s.counts().refresh_families, s.t().family_expiry.len()),
        (1, 1)
    );
    // The newest token's old-form value still finds its family; used ones do not.
    assert_eq!(Directory::legacy_family(&s, &digest(2)).unwrap(), Some(fa));
    assert_eq!(Directory::legacy_family(&s, &digest(1)).unwrap(), None);
    let names = s.t().db.tree_names();
    for gone in ["refresh", "refresh_expiry", "family_tokens"] {
        assert!(
            !names.iter().any(|n| n.as_ref() == gone.as_bytes()),
            "{gone}"
        );
    }
    assert_eq!(
        rotate(&s, &fa, &digest(2), family(2000, &digest(5))),
        Ok(())
    );
    drop(s);
    // Opening again changes nothing; purge drops the map entry once its family is gone.
    let s = open(&dir);
    assert!(digest(5).matches(&get(&s, &fa).unwrap().current));
    assert_eq!(s.t().legacy_refresh.len(), 1);
    assert_eq!(s.purge(2000).unwrap(), 2);
    assert!(s.t().legacy_refresh.is_empty() && s.t().families.is_empty());
}

#[test]
fn a_layout_2_store_gets_its_use_index_in_expiry_order() {
    let dir = tempfile::tempdir().unwrap();
    let ids = [new_id(), new_id(), new_id()];
    {
        let db = sled::Config::new()
            .path(dir.path().join("db"))
            .open()
            .unwrap();
        db.open_tree("meta").unwrap().insert("layout", "2").unwrap();
        let (families, fexp) = (
            db.open_tree("families").unwrap(),
            db.open_tree("family_expiry").unwrap(),
        );
        for (i, expiry) in [(0, 300u64), (1, 100), (2, 200)] {
            // A layout-2 record: no last_use, no user_generation.
            let f = serde_json::json!({"client_id": "c", "username": "ann",
                "scope": ["read"], "current": digest(i as u8).encode(), "issued_at": 0,
                "expires_at": expiry, "rotations": 0, "revoked": false});
            let id = ids[i].to_string();
            families
                .insert(id.as_bytes(), f.to_string().as_bytes())
                .unwrap();
            fexp.insert(index_key(expiry, id.as_bytes()), &[]).unwrap();
        }
        db.flush().unwrap();
    }
    let s = open(&dir);
    assert_eq!(s.t().meta.get("layout").unwrap().unwrap().as_ref(), b"3");
    assert_eq!(
        s.least_recently_used(3).unwrap(),
        vec![ids[1], ids[2], ids[0]]
    );
    let f = get(&s, &ids[0]).unwrap();
    assert_eq!(
        (f.user_generation, f.username.as_deref()),
        (None, Some("ann"))
    );
    assert!(digest(0).matches(&f.current));
    // A rotation moves it to the end, as for any family.
    rotate(&s, &ids[1], &digest(1), family(400, &digest(7))).unwrap();
    assert_eq!(s.least_recently_used(1).unwrap(), vec![ids[2]]);
    drop(s);
    // Opening again changes nothing.
    assert_eq!(
        open(&dir).least_recently_used(3).unwrap(),
        vec![ids[2], ids[0], ids[1]]
    );
}

#[test]
fn a_store_from_a_newer_piauth_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    open(&dir).t().meta.insert("layout", "4").unwrap();
    let e = try_open(&dir).err().unwrap();
    assert!(
        matches!(&e, StoreError::NewerLayout { found, .. } if found == "4"),
        "{e}"
    );
    assert!(e.to_string().contains("newer piauth"));
}

#[test]
fn a_client_is_replaced_only_if_unchanged_since_it_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let read = crate::protocol::testing::client(
        &[crate::vocab::record::GrantType::ClientCredentials],
        "read",
    );
    s.apply(&[Change::InsertClient(read.clone())])
        .unwrap()
        .unwrap();
    // A new secret, written first.
    let mut rotated = read.clone();
    rotated.secret_hash = "new".into();
    s.apply(&[Change::ReplaceClient {
        client: rotated.clone(),
        expected: Box::new(read.clone()),
    }])
    .unwrap()
    .unwrap();
    // An edit read before it would bring the old secret back: refused.
    let mut edited = read.clone();
    edited.allowed_groups = vec!["family".into()];
    let stale = s.apply(&[Change::ReplaceClient {
        client: edited,
        expected: Box::new(read),
    }]);
    assert_eq!(
        stale.unwrap(),
        Err(Conflict::ClientChanged(rotated.id.clone()))
    );
    assert_eq!(s.client(&rotated.id).unwrap().unwrap().secret_hash, "new");
}
