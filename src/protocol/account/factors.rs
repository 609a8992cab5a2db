//! A person's second factors as plain values: checking a code, setting up and removing
//! one-time codes, new recovery codes. Each returns the user record as it should become;
//! a code's use is a [`Spend`], which the store applies only while the code is unspent.

use crate::jose::otp;
use crate::vocab::entropy::Entropy;
use crate::vocab::record::{TotpFactor, UserRecord};

/// What a second factor's code spends: applied by the store only if it is still unspent
/// (two sign-ins racing with one code: one wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spend {
    /// The TOTP step the code was for: it and every earlier one are spent.
    TotpStep(u64),
    /// A recovery code, by its digest: removed.
    Recovery(String),
}

impl Spend {
    /// The user after this spend, or `None` if it was spent meanwhile.
    pub fn applied(&self, user: &UserRecord) -> Option<UserRecord> {
        let mut u = user.clone();
        match self {
            Spend::TotpStep(step) => {
                let t = u.factors.totp.as_mut()?;
                if *step <= t.last_step {
                    return None;
                }
                t.last_step = *step;
            }
            Spend::Recovery(digest) => {
                let before = u.factors.recovery.len();
                u.factors.recovery.retain(|d| d != digest);
                if u.factors.recovery.len() == before {
                    return None;
                }
            }
        }
        Some(u)
    }
}

/// What a typed second-factor code spends, if it is good: a current one-time code of the
/// person's key, or one of their recovery codes.
pub fn check_code(user: &UserRecord, typed: &str, now: u64, pepper: &[u8]) -> Option<Spend> {
    if let Some(t) = &user.factors.totp {
        if let Some(key) = otp::parse_secret(&t.secret) {
            if let Some(step) = otp::check(&key, typed, now, t.last_step) {
                return Some(Spend::TotpStep(step));
            }
        }
    }
    let code = otp::normalize_recovery(typed)?;
    let digest = otp::recovery_digest(pepper, &code);
    let found = user.factors.recovery.iter().any(|d| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            d.as_bytes(),
            digest.as_bytes(),
        ))
    });
    found.then_some(Spend::Recovery(digest))
}

/// Why a factor change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The key is not one piauth made.
    BadSecret,
    /// The code does not match the key (the app's clock, or a typo).
    WrongCode,
    /// One-time codes are set up already.
    AlreadySet,
    /// The operator requires a second factor, and this is the person's only one.
    Required,
    /// As many passkeys as a person may hold.
    TooMany,
}

impl Refusal {
    /// What the person is told.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::BadSecret => "The key was changed. Start the set-up again.",
            Refusal::WrongCode => {
                "That code does not match. Check the time on your phone and try the newest code."
            }
            Refusal::AlreadySet => "One-time codes are set up already.",
            Refusal::Required => {
                "Your account must keep a second factor: the operator requires one."
            }
            Refusal::TooMany => {
                "You have as many passkeys as an account may hold; remove one first."
            }
        }
    }
}

/// Sets up one-time codes from the key the page showed and a code the person's app made
/// with it: the user as it becomes, and its new recovery codes (shown once, stored hashed).
pub fn enroll_totp(
    user: &UserRecord,
    secret: &str,
    typed: &str,
    now: u64,
    pepper: &[u8],
    rng: &mut dyn Entropy,
) -> Result<(UserRecord, Vec<String>), Refusal> {
    if user.factors.totp.is_some() {
        return Err(Refusal::AlreadySet);
    }
    let key = otp::parse_secret(secret).ok_or(Refusal::BadSecret)?;
    let step = otp::check(&key, typed, now, 0).ok_or(Refusal::WrongCode)?;
    let mut u = user.clone();
    u.factors.totp = Some(TotpFactor {
        secret: secret.trim().to_ascii_uppercase(),
        added_at: now,
        last_step: step,
    });
    let codes = otp::new_recovery_codes(rng);
    u.factors.recovery = codes
        .iter()
        .map(|c| otp::recovery_digest(pepper, c))
        .collect();
    Ok((u, codes))
}

/// Removes one-time codes and the recovery codes that stand in for them; refused where the
/// operator requires a second factor.
pub fn remove_totp(user: &UserRecord) -> Result<UserRecord, Refusal> {
    let mut u = user.clone();
    u.factors.totp = None;
    // Recovery codes stand in for a lost factor: they go with the last one.
    if u.factors.passkeys.is_empty() {
        u.factors.recovery.clear();
    }
    kept_if_required(u)
}

/// The person without the passkey `id` (unchanged if they have none of that id).
pub fn remove_passkey(user: &UserRecord, id: &str) -> Result<UserRecord, Refusal> {
    let mut u = user.clone();
    u.factors.passkeys.retain(|p| p.id != id);
    if !u.factors.has_second_factor() {
        u.factors.recovery.clear();
    }
    kept_if_required(u)
}

/// The person with a new passkey.
pub fn add_passkey(
    user: &UserRecord,
    passkey: crate::vocab::record::PasskeyFactor,
) -> Result<UserRecord, Refusal> {
    if user.factors.passkeys.len() >= crate::protocol::account::passkeys::MAX_PASSKEYS {
        return Err(Refusal::TooMany);
    }
    let mut u = user.clone();
    u.factors.passkeys.push(passkey);
    Ok(u)
}

/// `u`, unless the operator requires a second factor and it has none left.
fn kept_if_required(u: UserRecord) -> Result<UserRecord, Refusal> {
    if u.require_second_factor && !u.factors.has_second_factor() {
        return Err(Refusal::Required);
    }
    Ok(u)
}

/// New recovery codes in place of the old (all of which stop working).
pub fn new_recovery_codes(
    user: &UserRecord,
    pepper: &[u8],
    rng: &mut dyn Entropy,
) -> (UserRecord, Vec<String>) {
    let codes = otp::new_recovery_codes(rng);
    let mut u = user.clone();
    u.factors.recovery = codes
        .iter()
        .map(|c| otp::recovery_digest(pepper, c))
        .collect();
    (u, codes)
}

/// The user with every factor gone (a lost phone), and every browser session ended.
pub fn reset(user: &UserRecord) -> UserRecord {
    let mut u = user.clone();
    u.factors = Default::default();
    u.session_epoch = u.session_epoch.saturating_add(1);
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::user;
    use crate::vocab::entropy::CountingEntropy as Counter;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn a_code_spends_once_and_recovery_codes_are_single_use() {
        let mut rng = Counter::default();
        let secret = otp::new_secret(&mut rng);
        let key = otp::parse_secret(&secret).unwrap();
        let u = user("ann", "", "g");
        assert_eq!(
            enroll_totp(&u, &secret, "000000", NOW, b"p", &mut rng).err(),
            Some(Refusal::WrongCode).filter(|_| otp::code_at(&key, NOW) != "000000")
        );
        let (u, codes) =
            enroll_totp(&u, &secret, &otp::code_at(&key, NOW), NOW, b"p", &mut rng).unwrap();
        assert_eq!(codes.len(), otp::RECOVERY_CODES);
        assert!(
            !u.factors.recovery.iter().any(|d| codes.contains(d)),
            "hashed"
        );
        // The enrolment's code is spent; the next step's is good once.
        assert_eq!(check_code(&u, &otp::code_at(&key, NOW), NOW, b"p"), None);
        let later = NOW + otp::STEP;
        let spend = check_code(&u, &otp::code_at(&key, later), later, b"p").unwrap();
        let u2 = spend.applied(&u).unwrap();
        assert_eq!(spend.applied(&u2), None, "spent meanwhile");
        assert_eq!(
            check_code(&u2, &otp::code_at(&key, later), later, b"p"),
            None
        );
        // A recovery code, typed in capitals: good once, under this pepper only.
        let typed = codes[3].to_ascii_uppercase();
        assert_eq!(check_code(&u2, &typed, later, b"other"), None);
        let spend = check_code(&u2, &typed, later, b"p").unwrap();
        let u3 = spend.applied(&u2).unwrap();
        assert_eq!(u3.factors.recovery.len(), otp::RECOVERY_CODES - 1);
        assert_eq!(check_code(&u3, &typed, later, b"p"), None);
        assert_eq!(
            enroll_totp(&u3, &secret, "1", NOW, b"p", &mut rng).err(),
            Some(Refusal::AlreadySet)
        );
        // (Another counter: this one's bytes are mostly zero, so its codes could repeat.)
        let (u4, fresh) = new_recovery_codes(&u3, b"p", &mut Counter(0x5a5a_5a5a_5a5a_5a5a));
        assert!(!fresh.contains(&codes[0]));
        assert_eq!(
            check_code(&u4, &codes[0], later, b"p"),
            None,
            "old codes end"
        );
        assert!(check_code(&u4, &fresh[0], later, b"p").is_some());
        let mut required = u4.clone();
        required.require_second_factor = true;
        assert_eq!(remove_totp(&required).err(), Some(Refusal::Required));
        let gone = remove_totp(&u4).unwrap();
        assert!(gone.factors.is_empty());
        let r = reset(&u4);
        assert!(r.factors.is_empty());
        assert_eq!(r.session_epoch, u4.session_epoch + 1);
        assert_eq!(r.generation, u4.generation, "apps' grants stay");
    }
}
