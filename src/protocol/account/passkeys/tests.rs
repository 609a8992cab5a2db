//! Both ceremonies against a software authenticator written here from the WebAuthn and
//! CTAP2 formats (CBOR by hand, P-256 by the p256 crate), not by the crate under test:
//! challenge binding, origin and RP ID, user verification, the signature counter, and a
//! passkey of another person or of no one.

use super::*;
use crate::protocol::testing::user;
use p256::ecdsa::signature::Signer;
use sha2::{Digest, Sha256};

const ORIGIN: &str = "https://pi.home:8443";

fn rp() -> Rp {
    Rp::of("https://pi.home:8443").unwrap()
}

// CBOR (RFC 8949), only what a COSE key and an attestation object need.
fn head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        _ => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
    }
}
fn int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        head(0, i as u64, out)
    } else {
        head(1, (-1 - i) as u64, out)
    }
}
fn bytes(b: &[u8], out: &mut Vec<u8>) {
    head(2, b.len() as u64, out);
    out.extend(b);
}
fn text(t: &str, out: &mut Vec<u8>) {
    head(3, t.len() as u64, out);
    out.extend(t.as_bytes());
}

/// A passkey on a software authenticator.
struct Key {
    signing: p256::ecdsa::SigningKey,
    id: Vec<u8>,
    count: u32,
    flags: u8,
}

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const AT: u8 = 0x40;

impl Key {
    fn new(seed: u8) -> Key {
        Key {
            signing: p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap(),
            id: vec![seed; 16],
            count: 0,
            flags: UP | UV,
        }
    }

    fn cose(&self) -> Vec<u8> {
        // SEC1 uncompressed: 0x04, x, y.
        let point = self.signing.verifying_key().to_sec1_bytes();
        let (x, y) = point[1..].split_at(32);
        let mut out = Vec::new();
        head(5, 5, &mut out);
        int(1, &mut out);
        int(2, &mut out); // kty: EC2
        int(3, &mut out);
        int(-7, &mut out); // alg: ES256
        int(-1, &mut out);
        int(1, &mut out); // crv: P-256
        int(-2, &mut out);
        bytes(x, &mut out);
        int(-3, &mut out);
        bytes(y, &mut out);
        out
    }

    fn auth_data(&self, rp_id: &str, attested: bool) -> Vec<u8> {
        let mut d = Sha256::digest(rp_id.as_bytes()).to_vec();
        d.push(self.flags | if attested { AT } else { 0 });
        d.extend(self.count.to_be_bytes());
        if attested {
            d.extend([0u8; 16]); // AAGUID
            d.extend((self.id.len() as u16).to_be_bytes());
            d.extend(&self.id);
            d.extend(self.cose());
        }
        d
    }

    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        format!(r#"{{"type":"{kind}","challenge":"{challenge}","origin":"{origin}","crossOrigin":false}}"#)
            .into_bytes()
    }

    /// `navigator.credentials.create`'s answer, as `toJSON()` gives it.
    fn create(&self, options: &str, origin: &str, rp_id: &str) -> String {
        let o: serde_json::Value = serde_json::from_str(options).unwrap();
        let o = o.get("publicKey").unwrap_or(&o);
        let challenge = o["challenge"].as_str().unwrap();
        let mut att = Vec::new();
        head(5, 3, &mut att);
        text("fmt", &mut att);
        text("none", &mut att);
        text("attStmt", &mut att);
        head(5, 0, &mut att);
        text("authData", &mut att);
        bytes(&self.auth_data(rp_id, true), &mut att);
        serde_json::json!({
            "id": b64(&self.id),
            "rawId": b64(&self.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&Key::client_data("webauthn.create", challenge, origin)),
                "attestationObject": b64(&att),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }

    /// `navigator.credentials.get`'s answer for `handle`.
    fn get(&mut self, options: &str, origin: &str, rp_id: &str, handle: &str) -> String {
        let o: serde_json::Value = serde_json::from_str(options).unwrap();
        let o = o.get("publicKey").unwrap_or(&o);
        let challenge = o["challenge"].as_str().unwrap();
        self.count += 1;
        let data = self.auth_data(rp_id, false);
        let client = Key::client_data("webauthn.get", challenge, origin);
        let mut signed = data.clone();
        signed.extend(Sha256::digest(&client));
        let sig: p256::ecdsa::Signature = self.signing.sign(&signed);
        serde_json::json!({
            "id": b64(&self.id),
            "rawId": b64(&self.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client),
                "authenticatorData": b64(&data),
                "signature": b64(sig.to_der().as_bytes()),
                "userHandle": handle,
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }
}

fn read(answer: &str) -> Presented {
    Presented::read(answer).unwrap()
}

/// `ann` with the passkey `key` registered.
fn registered(c: &Ceremonies, key: &Key) -> UserRecord {
    let ann = user("ann", "read", "g");
    let (options, with_handle) = c.registration_options(&rp(), &ann).unwrap();
    let ann = with_handle.expect("a first passkey makes the handle");
    let p = c
        .register(
            &rp(),
            &ann,
            &key.create(&options, ORIGIN, "pi.home"),
            " laptop\n",
            7,
        )
        .unwrap();
    assert_eq!((p.name.as_str(), p.added_at), ("laptop", 7));
    crate::protocol::account::factors::add_passkey(&ann, p).unwrap()
}

#[test]
fn a_passkey_registers_and_signs_in_once_per_challenge() {
    let c = Ceremonies::new(8);
    let mut key = Key::new(3);
    let ann = registered(&c, &key);
    let handle = ann.factors.passkey_handle.clone();
    let options = c.sign_in_options(&rp(), None, 0).unwrap();
    let answer = key.get(&options, ORIGIN, "pi.home", &handle);
    assert_eq!(read(&answer).handle(), handle);
    let (after, kind) = c.sign_in(&rp(), &ann, &read(&answer), None, 99).unwrap();
    assert_eq!(kind, KeyKind::Hardware);
    assert_eq!(after.factors.passkeys[0].last_used, 99);
    assert_ne!(
        after.factors.passkeys[0].dynamic_state, ann.factors.passkeys[0].dynamic_state,
        "the counter is kept"
    );
    // The same answer again: its challenge is spent.
    assert_eq!(
        c.sign_in(&rp(), &after, &read(&answer), None, 100).err(),
        Some(Refused::NoCeremony)
    );
    // A synced passkey (backup eligible) is swk.
    let mut synced = Key::new(4);
    synced.flags |= BE;
    let bea = registered(&c, &synced);
    let options = c.sign_in_options(&rp(), None, 0).unwrap();
    let answer = synced.get(&options, ORIGIN, "pi.home", &bea.factors.passkey_handle);
    assert_eq!(
        c.sign_in(&rp(), &bea, &read(&answer), None, 1).unwrap().1,
        KeyKind::Synced
    );
}

#[test]
fn one_address_holds_a_few_sign_in_ceremonies_open_and_cannot_fill_the_set() {
    let c = Ceremonies::new(8);
    let mut key = Key::new(5);
    let ann = registered(&c, &key);
    let lamp = crate::vocab::request::asker(Some("192.168.1.50".parse().unwrap()));
    let phone = crate::vocab::request::asker(Some("192.168.1.20".parse().unwrap()));
    let mut last = String::new();
    for _ in 0..OPEN_PER_ASKER {
        last = c.sign_in_options(&rp(), lamp, 10).unwrap();
    }
    assert_eq!(
        c.sign_in_options(&rp(), lamp, 10).err(),
        Some(Refused::TooManyOpen)
    );
    // Any address of one IPv6 /64 counts as one.
    let v6 = |a: &str| crate::vocab::request::asker(Some(a.parse().unwrap()));
    for i in 0..OPEN_PER_ASKER {
        c.sign_in_options(&rp(), v6(&format!("fd00::{}", i + 1)), 10)
            .unwrap();
    }
    assert_eq!(
        c.sign_in_options(&rp(), v6("fd00::99"), 10).err(),
        Some(Refused::TooManyOpen)
    );
    // The set is full now (8): another address is refused until some end.
    assert_eq!(
        c.sign_in_options(&rp(), phone, 10).err(),
        Some(Refused::Busy)
    );
    // An answer ends one of the lamp's: the lamp may open one more.
    let answer = key.get(&last, ORIGIN, "pi.home", &ann.factors.passkey_handle);
    c.sign_in(&rp(), &ann, &read(&answer), lamp, 11).unwrap();
    c.sign_in_options(&rp(), lamp, 11).unwrap();
}

#[test]
fn an_address_s_ceremonies_count_until_their_time_is_over() {
    let lamp = crate::vocab::request::asker(Some("192.168.1.50".parse().unwrap()));
    let mut open = Open::default();
    for _ in 0..OPEN_PER_ASKER {
        open.start(lamp, 10, 8).unwrap();
    }
    assert_eq!(open.start(lamp, 10, 8), Err(Refused::TooManyOpen));
    assert_eq!(open.start(lamp, 10 + CEREMONY_SECONDS, 8), Ok(()));
    // Room for one ceremony: another asker waits until the lamp's is over.
    let other = crate::vocab::request::asker(Some([10, 0, 0, 1].into()));
    assert_eq!(open.start(other, 20, 1), Err(Refused::Busy));
    assert_eq!(open.start(other, 20 + 2 * CEREMONY_SECONDS, 1), Ok(()));
}

#[test]
fn the_origin_the_rp_id_and_the_challenge_are_bound() {
    let c = Ceremonies::new(8);
    let ann = user("ann", "read", "g");
    let key = Key::new(5);
    let try_create = |origin: &str, rp_id: &str| {
        let (options, with) = c.registration_options(&rp(), &ann).unwrap();
        let a = with.unwrap();
        c.register(&rp(), &a, &key.create(&options, origin, rp_id), "k", 0)
            .err()
    };
    assert_eq!(
        try_create("https://evil.home:8443", "pi.home"),
        Some(Refused::Failed)
    );
    assert_eq!(
        try_create("https://pi.home", "pi.home"),
        Some(Refused::Failed),
        "port"
    );
    assert_eq!(try_create(ORIGIN, "evil.home"), Some(Refused::Failed));
    // A challenge piauth never sent.
    let made_up = r#"{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA"}}"#;
    let (_, with) = c.registration_options(&rp(), &ann).unwrap();
    assert_eq!(
        c.register(
            &rp(),
            &with.unwrap(),
            &key.create(made_up, ORIGIN, "pi.home"),
            "k",
            0
        )
        .err(),
        Some(Refused::NoCeremony)
    );
    assert_eq!(
        c.register(&rp(), &ann, "{", "k", 0).err(),
        Some(Refused::Unreadable)
    );
    // Signing in: the origin and RP ID too.
    let mut key = Key::new(6);
    let ann = registered(&c, &key);
    for (origin, rp_id) in [("https://evil.home:8443", "pi.home"), (ORIGIN, "evil.home")] {
        let options = c.sign_in_options(&rp(), None, 0).unwrap();
        let answer = key.get(&options, origin, rp_id, &ann.factors.passkey_handle);
        assert_eq!(
            c.sign_in(&rp(), &ann, &read(&answer), None, 1).err(),
            Some(Refused::Failed)
        );
    }
}

#[test]
fn the_person_must_be_verified_and_the_counter_must_not_go_back() {
    let c = Ceremonies::new(8);
    let mut key = Key::new(7);
    let ann = registered(&c, &key);
    let handle = ann.factors.passkey_handle.clone();
    // Presence without verification (no PIN, no fingerprint): refused.
    key.flags = UP;
    let options = c.sign_in_options(&rp(), None, 0).unwrap();
    let answer = key.get(&options, ORIGIN, "pi.home", &handle);
    assert_eq!(
        c.sign_in(&rp(), &ann, &read(&answer), None, 1).err(),
        Some(Refused::Failed)
    );
    key.flags = UP | UV;
    key.count = 9;
    let options = c.sign_in_options(&rp(), None, 0).unwrap();
    let (ann, _) = c
        .sign_in(
            &rp(),
            &ann,
            &read(&key.get(&options, ORIGIN, "pi.home", &handle)),
            None,
            2,
        )
        .unwrap();
    // A copy of the key that signs with an older counter: a clone.
    key.count = 3;
    let options = c.sign_in_options(&rp(), None, 0).unwrap();
    let answer = key.get(&options, ORIGIN, "pi.home", &handle);
    assert_eq!(
        c.sign_in(&rp(), &ann, &read(&answer), None, 3).err(),
        Some(Refused::CounterWentBack)
    );
}

#[test]
fn a_passkey_of_another_person_or_of_no_one_signs_no_one_in() {
    let c = Ceremonies::new(8);
    let mut key = Key::new(8);
    let ann = registered(&c, &key);
    let mut bob = user("bob", "read", "g");
    bob.factors.passkey_handle = b64(&[9; 64]);
    // Ann's passkey presented as bob's.
    let options = c.sign_in_options(&rp(), None, 0).unwrap();
    let answer = key.get(&options, ORIGIN, "pi.home", &ann.factors.passkey_handle);
    assert_eq!(
        c.sign_in(&rp(), &bob, &read(&answer), None, 1).err(),
        Some(Refused::UnknownPasskey)
    );
    // A key ann never registered, under her handle.
    let mut other = Key::new(10);
    let options = c.sign_in_options(&rp(), None, 0).unwrap();
    let answer = other.get(&options, ORIGIN, "pi.home", &ann.factors.passkey_handle);
    assert_eq!(
        c.sign_in(&rp(), &ann, &read(&answer), None, 1).err(),
        Some(Refused::UnknownPasskey)
    );
}

#[test]
fn only_a_named_secure_issuer_makes_a_relying_party() {
    assert_eq!(rp().origin, ORIGIN);
    assert_eq!(
        Rp::of("https://pi.home:443").unwrap().origin,
        "https://pi.home"
    );
    assert_eq!(
        Rp::of("http://localhost:8080").unwrap().origin,
        "http://localhost:8080"
    );
    assert_eq!(
        Rp::of("https://192.168.1.2:8443").err(),
        Some(Unavailable::Address)
    );
    assert_eq!(
        Rp::of("https://[fe80::1]:8443").err(),
        Some(Unavailable::Address)
    );
    assert_eq!(
        Rp::of("http://pi.home:8080").err(),
        Some(Unavailable::NotSecure)
    );
    assert_eq!(Rp::of("not a url").err(), Some(Unavailable::NoHost));
    assert_eq!(clean_name("  "), "passkey");
    assert_eq!(clean_name(&"é".repeat(100)).len(), MAX_NAME);
}
