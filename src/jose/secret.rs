//! Secrets: generation, the keyed hash of client secrets, Argon2id for passwords.
//!
//! Client secrets are generated here with 256 bits from the OS RNG, so a fast keyed hash
//! (HMAC-SHA-256 under a per-store pepper) is enough to store them and is checked in
//! constant time. User passwords are chosen by people, so they get Argon2id, whose cost
//! comes from the tuning profile.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::{Condvar, Mutex, OnceLock};
use subtle::ConstantTimeEq;

/// Random bytes from the OS RNG, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A new client secret: 256 bits, URL-safe.
pub fn new_client_secret() -> String {
    random_token(32)
}

/// The keyed hash a client secret is stored as: HMAC-SHA-256 under the store's pepper.
pub fn hash_client_secret(pepper: &[u8], secret: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(pepper).expect("HMAC takes any key length");
    mac.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Checks a presented secret against the stored hash in constant time.
pub fn check_client_secret(pepper: &[u8], presented: &str, stored_hash: &str) -> bool {
    let computed = hash_client_secret(pepper, presented);
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// SHA-256 of an opaque token, the key refresh tokens are stored under.
pub fn token_digest(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Argon2id cost for user passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
}

impl Default for PasswordCost {
    /// OWASP's Argon2id minimum (19 MiB, 2 iterations): a safe default until the board
    /// tuning picks a cost for the hardware.
    fn default() -> Self {
        PasswordCost {
            memory_kib: 19 * 1024,
            iterations: 2,
        }
    }
}

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    /// The cost parameters are out of Argon2's range.
    BadCost,
    /// The stored hash is not a PHC string Argon2 can read.
    CorruptHash,
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordError::BadCost => f.write_str("Argon2 cost parameters out of range"),
            PasswordError::CorruptHash => f.write_str("stored password hash is unreadable"),
        }
    }
}

impl std::error::Error for PasswordError {}

fn argon2(cost: PasswordCost) -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(cost.memory_kib, cost.iterations, 1, None)
        .map_err(|_| PasswordError::BadCost)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with Argon2id and a random salt into a PHC string.
pub fn hash_password(password: &str, cost: PasswordCost) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2(cost)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::BadCost)
}

/// Argon2 working memory for password checks, and how many may hash at once.
///
/// A check waits for a slot, takes an idle block (or makes one), and puts it back. Blocks
/// are reused because allocating one per check let glibc's adaptive mmap threshold move
/// these multi-MiB blocks onto the heap, where fragmentation kept ~200 MiB resident on a
/// load test with an 8 MiB cost. Slots bound memory at `limit` x cost whatever the number of
/// workers: Argon2 is CPU-bound, so checks beyond the core count only queue on the CPU
/// while each holds its block.
pub struct CheckSlots {
    state: Mutex<SlotState>,
    freed: Condvar,
}

struct SlotState {
    limit: usize,
    busy: usize,
    /// Most checks seen hashing at once (for the tests).
    peak: usize,
    idle: Vec<Vec<Block>>,
}

impl CheckSlots {
    /// Slots for `limit` checks at once; 0: as many as the machine has CPUs.
    pub const fn new(limit: usize) -> CheckSlots {
        CheckSlots {
            state: Mutex::new(SlotState {
                limit,
                busy: 0,
                peak: 0,
                idle: Vec::new(),
            }),
            freed: Condvar::new(),
        }
    }

    /// Sets how many checks may hash at once.
    pub fn set_limit(&self, n: usize) {
        let mut state = lock(&self.state);
        state.limit = n.max(1);
        let limit = state.limit;
        state.idle.truncate(limit);
        self.freed.notify_all();
    }

    fn take(&self) -> Slot<'_> {
        let mut state = lock(&self.state);
        if state.limit == 0 {
            state.limit = std::thread::available_parallelism().map_or(1, |n| n.get());
        }
        while state.busy >= state.limit {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.busy += 1;
        state.peak = state.peak.max(state.busy);
        Slot {
            slots: self,
            memory: state.idle.pop().unwrap_or_default(),
        }
    }
}

/// The process's slots: every password check of the server takes one.
static SLOTS: CheckSlots = CheckSlots::new(0);

/// Sets how many password checks may hash at once (the tuning profile's
/// `password_checks_at_once`); until set, the number of CPUs.
pub fn set_password_checks_at_once(n: usize) {
    SLOTS.set_limit(n);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // What this module locks (the slot counters and buffers, the decoy hash) is valid at
    // every step: a panic elsewhere cannot leave it inconsistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` over `blocks` Argon2 blocks once a slot is free.
fn with_argon2_memory<T>(
    slots: &CheckSlots,
    blocks: usize,
    f: impl FnOnce(&mut [Block]) -> T,
) -> T {
    let mut slot = slots.take();
    if slot.memory.len() != blocks {
        slot.memory = vec![Block::default(); blocks];
    }
    f(&mut slot.memory[..])
}

/// A held slot; dropping it (even while unwinding) frees the slot.
struct Slot<'a> {
    slots: &'a CheckSlots,
    memory: Vec<Block>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.slots.state);
        state.busy -= 1;
        // Past glibc's 32 MiB mmap ceiling a block is mapped and unmapped per call anyway,
        // so keeping it would only pin memory (64 MiB per slot on a desktop profile).
        let size = self.memory.len() * std::mem::size_of::<Block>();
        if size <= RETAIN_LIMIT && state.idle.len() < state.limit {
            state.idle.push(std::mem::take(&mut self.memory));
        }
        self.slots.freed.notify_one();
    }
}

/// Largest Argon2 block kept between checks.
const RETAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Checks a password against a PHC string; the cost comes from the string itself.
pub fn check_password(password: &str, phc: &str) -> Result<bool, PasswordError> {
    check_password_in(&SLOTS, password, phc)
}

/// [`check_password`] taking a slot of `slots`.
pub fn check_password_in(
    slots: &CheckSlots,
    password: &str,
    phc: &str,
) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::CorruptHash)?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        // Not ours: let the library handle any other Argon2 variant it can read.
        return Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok());
    }
    let params = Params::try_from(&parsed).map_err(|_| PasswordError::CorruptHash)?;
    let version = match parsed.version {
        None | Some(0x13) => Version::V0x13,
        Some(0x10) => Version::V0x10,
        Some(_) => return Err(PasswordError::CorruptHash),
    };
    let mut salt_buf = [0u8; 64];
    let salt = parsed
        .salt
        .ok_or(PasswordError::CorruptHash)?
        .decode_b64(&mut salt_buf)
        .map_err(|_| PasswordError::CorruptHash)?;
    let expected = parsed.hash.ok_or(PasswordError::CorruptHash)?;
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let hasher = Argon2::new(Algorithm::Argon2id, version, params);
    with_argon2_memory(slots, blocks, |memory| {
        hasher
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
            .map_err(|_| PasswordError::CorruptHash)
    })?;
    Ok(out.ct_eq(expected).into())
}

/// Spends the time of one password check when the user does not exist, so that the
/// response time does not tell which user names are real.
pub fn burn_password_check(password: &str, cost: PasswordCost) {
    static DECOY: OnceLock<Mutex<Option<(PasswordCost, String)>>> = OnceLock::new();
    let decoy = {
        let mut slot = lock(DECOY.get_or_init(|| Mutex::new(None)));
        match &*slot {
            Some((c, phc)) if *c == cost => phc.clone(),
            _ => {
                let Ok(phc) = hash_password("decoy", cost) else {
                    return;
                };
                *slot = Some((cost, phc.clone()));
                phc
            }
        }
    };
    let _ = check_password(password, &decoy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_secret_hashes_are_hmac_sha256_so_stored_ones_still_match() {
        // RFC 4231 test case 2: the stored form is this MAC, base64url without padding,
        // whichever implementation computes it.
        let mac = hash_client_secret(b"Jefe", "what do ya want for nothing?");
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&mac).unwrap(),
            [
                0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
                0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
                0x64, 0xec, 0x38, 0x43
            ]
        );
        assert!(check_client_secret(
            b"Jefe",
            "what do ya want for nothing?",
            &mac
        ));
        assert!(!check_client_secret(
            b"Jefe",
            "what do ya want for nothing!",
            &mac
        ));
        assert_eq!(
            sha256(b"abc")[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "FIPS 180-2 B.1"
        );
    }

    const CHEAP: PasswordCost = PasswordCost {
        memory_kib: 64,
        iterations: 1,
    };

    #[test]
    fn client_secrets_are_256_bits_url_safe_and_distinct() {
        let a = new_client_secret();
        let b = new_client_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn keyed_hash_checks_the_secret_and_depends_on_the_pepper() {
        let h = hash_client_secret(b"pepper", "s3cret");
        assert!(check_client_secret(b"pepper", "s3cret", &h));
        assert!(!check_client_secret(b"pepper", "s3cret!", &h));
        assert!(!check_client_secret(b"other", "s3cret", &h));
    }

    #[test]
    fn argon2id_round_trip() {
        let phc = hash_password("hunter2", CHEAP).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert_eq!(check_password("hunter2", &phc), Ok(true));
        assert_eq!(check_password("hunter3", &phc), Ok(false));
        assert_eq!(
            check_password("x", "not a hash"),
            Err(PasswordError::CorruptHash)
        );
        // A hash made by the library's own API verifies through the reused buffer.
        let other = PasswordCost {
            memory_kib: 128,
            iterations: 2,
        };
        let phc2 = hash_password("pw", other).unwrap();
        assert_eq!(check_password("pw", &phc2), Ok(true));
        assert_eq!(check_password("pw", &phc), Ok(false));
        burn_password_check("pw", CHEAP);
        // A cost above the retain limit is allocated per call and not kept.
        let big = PasswordCost {
            memory_kib: 17 * 1024,
            iterations: 1,
        };
        let phc3 = hash_password("pw", big).unwrap();
        assert_eq!(check_password("pw", &phc3), Ok(true));
        assert_eq!(check_password("px", &phc3), Ok(false));
    }

    #[test]
    fn password_checks_beyond_the_limit_wait_and_blocks_are_reused() {
        let phc = hash_password("pw", CHEAP).unwrap();
        // Slots of its own: the process-wide ones are other tests' business.
        let slots = CheckSlots::new(1);
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    for _ in 0..5 {
                        assert_eq!(check_password_in(&slots, "pw", &phc), Ok(true));
                    }
                });
            }
        });
        let state = lock(&slots.state);
        assert_eq!(state.peak, 1, "checks overlapped past the limit");
        assert!(state.idle.len() <= 1, "more blocks kept than slots");
    }
}
