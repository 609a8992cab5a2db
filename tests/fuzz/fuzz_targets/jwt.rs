//! The JWT verification path: any string as a token, and tokens with any header and claims
//! that carry a good signature of the server's key (so every check past the signature runs).
//! It must never panic.
//!
//! Input: the header JSON, a newline, the claims JSON; the whole input is also tried as a
//! token as it is.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use piauth::protocol::testing::{MapDirectory, World};
use piauth::jose::token;
use std::sync::OnceLock;

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| World::new(MapDirectory::default()))
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let issuer = &w.policy.issuer;
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = token::verify(text, &w.keys, issuer, w.now, 30);
    }
    let mut parts = data.splitn(2, |b| *b == b'\n');
    let header = parts.next().unwrap_or_default();
    let claims = parts.next().unwrap_or_default();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = w.keys.current(w.now);
    let signature = key.signer.sign(input.as_bytes()).expect("the key signs");
    let signed = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    let _ = token::verify(&signed, &w.keys, issuer, w.now, 30);
});
