//! ES256 signatures with RustCrypto's `p256`, on the targets where ring's P-256 is slow
//! (32-bit ARM, crypto.rs), with the costly half of each signature made ahead of time.
//!
//! An ECDSA signature (SEC 1 v2 §4.1.3) is r = x(k·G) mod n and s = k⁻¹(z + r·d) mod n,
//! for a fresh secret nonce k. Almost all of its cost is k·G and k⁻¹, and neither depends on
//! the key d or the message digest z: FIPS 186-4 (§4.5) notes that k and k⁻¹ may be computed
//! before the message is known. [`Nonce`] is that half; [`SigningKey::sign_with`] finishes a
//! signature with two multiplications and an addition. [`NoncePool`] keeps a bounded number
//! of nonces made while the server has nothing else to do, so that a burst of devices after
//! a power cut is answered at the speed of the cheap half.
//!
//! The split is `ecdsa::hazmat::sign_prehashed`'s own computation, in the same order, cut
//! where the message first enters. What must stay true, and the tests that hold it:
//! - k is uniform in [1, n-1], drawn from the OS generator by rejection (a repeat would need
//!   getrandom to repeat 256 bits), and a nonce is moved out of the pool by value, its slot
//!   overwritten: it signs once and is gone;
//! - every operation on k, k⁻¹ and d is `p256`'s constant-time code (`mul_by_generator`
//!   through its precomputed table, `invert`, field multiplication), with no branch on them;
//! - nonces live in memory only (zeroed when dropped, k as soon as it is inverted), so a
//!   restart starts with an empty pool;
//! - signatures are low-S, like every ES256 signature piauth has issued.

use p256::elliptic_curve::group::Group as _;
use p256::elliptic_curve::ops::{Invert as _, Reduce};
use p256::elliptic_curve::point::AffineCoordinates as _;
use p256::elliptic_curve::Field as _;
use p256::{FieldBytes, NonZeroScalar, ProjectivePoint, Scalar};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The message-independent half of one ECDSA signature: k⁻¹ and r = x(k·G) mod n.
pub struct Nonce {
    k_inv: Scalar,
    r: Scalar,
}

impl Nonce {
    /// A new nonce from the OS random generator. Costs one base-point multiplication and
    /// one inversion: the part of a signature worth doing ahead of time.
    pub fn fresh() -> Nonce {
        loop {
            let mut k = random_nonzero_scalar();
            let nonce = Nonce::from_k(&k);
            p256::elliptic_curve::zeroize::Zeroize::zeroize(&mut k);
            // r = 0 has probability about 2^-256; SEC 1 says to start again with a new k.
            if let Some(nonce) = nonce {
                return nonce;
            }
        }
    }

    /// The nonce of secret `k`; None when r = x(k·G) mod n is 0.
    fn from_k(k: &NonZeroScalar) -> Option<Nonce> {
        let r = x_mod_n(&ProjectivePoint::mul_by_generator(k));
        let k_inv = *k.invert();
        (!bool::from(r.is_zero())).then_some(Nonce { k_inv, r })
    }
}

impl Drop for Nonce {
    fn drop(&mut self) {
        // Scalar is `DefaultIsZeroes`: a volatile write the compiler cannot drop.
        use p256::elliptic_curve::zeroize::Zeroize as _;
        self.k_inv.zeroize();
        self.r.zeroize();
    }
}

/// A new P-256 private key from the OS random generator.
pub fn generate_secret() -> p256::SecretKey {
    p256::SecretKey::from(random_nonzero_scalar())
}

/// A uniform scalar in [1, n-1]: 32 random bytes, rejected and drawn again while they are
/// zero or not below n (probability about 2^-32 per draw for P-256).
fn random_nonzero_scalar() -> NonZeroScalar {
    use rand::RngCore as _;
    loop {
        let mut bytes = FieldBytes::default();
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let k = NonZeroScalar::from_repr(bytes);
        p256::elliptic_curve::zeroize::Zeroize::zeroize(bytes.as_mut_slice());
        if let Some(k) = k.into_option() {
            return k;
        }
    }
}

/// x(P) mod n, for P ≠ ∞.
fn x_mod_n(point: &ProjectivePoint) -> Scalar {
    <Scalar as Reduce<FieldBytes>>::reduce(&point.to_affine().x())
}

/// A P-256 private key.
pub struct SigningKey {
    d: NonZeroScalar,
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        p256::elliptic_curve::zeroize::Zeroize::zeroize(&mut self.d);
    }
}

impl SigningKey {
    /// Parses a PKCS#8 DER P-256 key (RFC 5915 inside RFC 5208).
    pub fn from_pkcs8(der: &[u8]) -> Option<SigningKey> {
        use p256::pkcs8::DecodePrivateKey as _;
        let secret = p256::SecretKey::from_pkcs8_der(der).ok()?;
        Some(SigningKey {
            d: secret.to_nonzero_scalar(),
        })
    }

    /// The JWS signature of `message` (r||s, 64 bytes, RFC 7518 §3.4): a nonce from `pool`
    /// when one is ready, else one made now.
    pub fn sign(&self, message: &[u8], pool: Option<&NoncePool>) -> [u8; 64] {
        loop {
            let nonce = pool.and_then(NoncePool::take).unwrap_or_else(Nonce::fresh);
            if let Some(sig) = self.sign_with(message, nonce) {
                return sig;
            }
        }
    }

    /// Finishes a signature with `nonce`, which it consumes. None (probability about
    /// 2^-256) when s comes out zero; the caller signs again with another nonce.
    pub fn sign_with(&self, message: &[u8], nonce: Nonce) -> Option<[u8; 64]> {
        let digest = crate::jose::secret::sha256(message);
        let z = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(digest));
        let s = nonce.k_inv * (z + nonce.r * self.d.as_ref());
        let sig = p256::ecdsa::Signature::from_scalars(nonce.r, s).ok()?;
        // (r, s) and (r, n - s) both verify; only the low one is issued (crypto.rs).
        Some(sig.normalize_s().to_bytes().into())
    }
}

/// Nonces made ahead of time, at most `capacity`, in memory only.
pub struct NoncePool {
    ready: Mutex<Vec<Nonce>>,
    /// How many are ready, readable without the lock (/metrics on every request's context).
    count: AtomicUsize,
    /// Signalled when a nonce is taken: the filler has room again.
    taken: Condvar,
    capacity: usize,
}

impl NoncePool {
    /// An empty pool that holds at most `capacity` nonces.
    pub fn new(capacity: usize) -> NoncePool {
        NoncePool {
            ready: Mutex::new(Vec::with_capacity(capacity)),
            count: AtomicUsize::new(0),
            taken: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Nonce>> {
        // A panic elsewhere while holding the lock leaves a valid Vec: keep serving.
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A ready nonce, moved out so that it can sign only once.
    pub fn take(&self) -> Option<Nonce> {
        let nonce = {
            let mut ready = self.lock();
            let nonce = ready.pop();
            // pop copied the nonce out; overwrite the copy left in the freed slot.
            if let Some(slot) = ready.spare_capacity_mut().first_mut() {
                slot.write(Nonce {
                    k_inv: Scalar::ZERO,
                    r: Scalar::ZERO,
                });
            }
            self.count.store(ready.len(), Ordering::Relaxed);
            nonce
        };
        if nonce.is_some() {
            self.taken.notify_one();
        }
        nonce
    }

    /// Nonces ready now.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether none is ready.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Makes one nonce if there is room, waiting until there is. Returns the number ready
    /// after it. The nonce is made outside the lock, so signers never wait for it.
    pub fn fill_one(&self) -> usize {
        {
            let mut ready = self.lock();
            while ready.len() >= self.capacity {
                ready = self.taken.wait(ready).unwrap_or_else(|e| e.into_inner());
            }
        }
        let nonce = Nonce::fresh();
        let mut ready = self.lock();
        if ready.len() < self.capacity {
            ready.push(nonce);
        }
        self.count.store(ready.len(), Ordering::Relaxed);
        ready.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier as _;

    fn key() -> (SigningKey, Vec<u8>) {
        use p256::pkcs8::EncodePrivateKey as _;
        let secret = generate_secret();
        let der = secret.to_pkcs8_der().unwrap().as_bytes().to_vec();
        (SigningKey::from_pkcs8(&der).unwrap(), der)
    }

    fn verifying_key(der: &[u8]) -> p256::ecdsa::VerifyingKey {
        use p256::pkcs8::DecodePrivateKey as _;
        *p256::ecdsa::SigningKey::from_pkcs8_der(der)
            .unwrap()
            .verifying_key()
    }

    #[test]
    fn a_signature_from_a_pooled_or_fresh_nonce_verifies_and_is_low_s() {
        let (key, der) = key();
        let vk = verifying_key(&der);
        let pool = NoncePool::new(4);
        for _ in 0..4 {
            pool.fill_one();
        }
        for i in 0..8 {
            let msg = format!("header.claims-{i}");
            let sig = key.sign(msg.as_bytes(), Some(&pool));
            let parsed = p256::ecdsa::Signature::from_slice(&sig).unwrap();
            assert!(parsed.normalize_s() == parsed, "high S");
            assert!(vk.verify(msg.as_bytes(), &parsed).is_ok());
            assert!(vk.verify(b"another message", &parsed).is_err());
        }
        assert!(
            pool.is_empty(),
            "the four pooled nonces were used, then fresh ones"
        );
    }

    #[test]
    fn a_nonce_signs_once_and_two_signatures_never_share_r() {
        let (key, _) = key();
        let pool = NoncePool::new(16);
        while pool.fill_one() < 16 {}
        let mut rs = std::collections::HashSet::new();
        for _ in 0..32 {
            let sig = key.sign(b"the same message", Some(&pool));
            assert!(rs.insert(sig[..32].to_vec()), "an r was used twice");
        }
    }

    #[test]
    fn the_pool_holds_at_most_its_capacity() {
        let pool = NoncePool::new(3);
        assert_eq!(pool.fill_one(), 1);
        assert_eq!(pool.fill_one(), 2);
        assert_eq!(pool.fill_one(), 3);
        assert_eq!(pool.len(), pool.capacity());
        assert!(pool.take().is_some());
        assert_eq!(pool.fill_one(), 3);
    }

    #[test]
    fn a_known_nonce_gives_the_signature_the_reference_implementation_gives() {
        // The same k through ecdsa's own sign_prehashed: the split must change nothing.
        use sha2::Digest as _;
        let (key, _) = key();
        for i in 0..16 {
            let msg = format!("message {i}");
            let k = random_nonzero_scalar();
            let ours = key
                .sign_with(msg.as_bytes(), Nonce::from_k(&k).unwrap())
                .unwrap();
            let digest = sha2::Sha256::digest(msg.as_bytes());
            let (theirs, _) = ecdsa::hazmat::sign_prehashed(&key.d, &k, &digest).unwrap();
            assert_eq!(ours, <[u8; 64]>::from(theirs.normalize_s().to_bytes()));
        }
    }
}
