//! Where random bytes come from: the OS, or a fixed source in tests.
//!
//! The core takes an [`Entropy`] instead of calling the OS, so that a test can give it
//! known bytes and check exactly what it does with them (token ids, refresh secrets).

use rand::RngCore;

/// A source of random bytes.
pub trait Entropy {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// The operating system's generator: what the server uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

/// A counter that never repeats within a run: distinct, predictable bytes for tests.
#[derive(Debug, Default, Clone)]
pub struct CountingEntropy(pub u64);

impl Entropy for CountingEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(1);
            let bytes = self.0.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// `n` random bytes as base64url without padding.
pub fn token(rng: &mut dyn Entropy, n: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; n];
    rng.fill(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
