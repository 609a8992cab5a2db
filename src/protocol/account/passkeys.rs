//! Passkeys (WebAuthn Level 3) as plain values, through `webauthn_rp`: the relying party a
//! server's issuer makes (or why it makes none), the options a browser is sent to create
//! or use one, and the checks of what it sends back (challenge, origin, RP ID, user
//! verification, signature counter), each returning what to store.
//!
//! Ceremonies wait in memory, bounded, keyed by their challenge: a response is good once,
//! within the ceremony's time, and only for the challenge it signed.

use crate::protocol::account::policy::KeyKind;
use crate::vocab::record::{PasskeyFactor, UserRecord};
use crate::vocab::request::Asker;
use base64::Engine;
use std::collections::HashMap;
use std::sync::Mutex;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::AuthenticationVerificationOptions;
use webauthn_rp::request::register::CredProtect;
use webauthn_rp::request::register::{
    Nickname, PublicKeyCredentialUserEntity, RegistrationVerificationOptions, UserHandle64,
    Username,
};
use webauthn_rp::request::{
    AsciiDomain, ExtensionInfo, FixedCapHashSet, InsertResult, PublicKeyCredentialDescriptor, RpId,
};
use webauthn_rp::response::register::{DynamicState, StaticState};
use webauthn_rp::response::Backup;
use webauthn_rp::response::{AuthTransports, CredentialId};
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication64, DiscoverableAuthenticationServerState,
    DiscoverableCredentialRequestOptions, PublicKeyCredentialCreationOptions, Registration,
    RegistrationServerState,
};

/// Passkeys a person may hold.
pub const MAX_PASSKEYS: usize = 10;
/// The longest name of a passkey, in bytes.
pub const MAX_NAME: usize = 40;
/// Sign-in ceremonies one asker (an address, or an IPv6 /64) may hold open at once: a
/// person opens one per sign-in page, and no one device may fill the set for everyone.
pub const OPEN_PER_ASKER: usize = 4;
/// Seconds a ceremony waits for its answer: `webauthn_rp`'s passkey timeout.
pub const CEREMONY_SECONDS: u64 = 300;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// Why this server's pages cannot offer passkeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The issuer names the server by an address: WebAuthn needs a domain name.
    Address,
    /// Plain HTTP to a name other than localhost: browsers allow WebAuthn only in a secure
    /// context.
    NotSecure,
    /// The issuer could not be read as a URL with a host.
    NoHost,
}

impl Unavailable {
    /// Words for the pages.
    pub fn message(&self) -> &'static str {
        match self {
            Unavailable::Address => "Passkeys need this server reached by a name (such as pi.home), not an address: browsers tie a passkey to a domain name. Use one-time codes, or ask the operator to give piauth a name.",
            Unavailable::NotSecure => "Passkeys need a secure connection: browsers allow them only over HTTPS with a certificate they trust. Use one-time codes, or install this server's certificate (from /certificate) on this device.",
            Unavailable::NoHost => "Passkeys are not available on this server.",
        }
    }
}

/// The relying party: the RP ID (the issuer's host) and the one origin responses may come
/// from (the issuer's scheme, host and port).
#[derive(Debug)]
pub struct Rp {
    id: RpId,
    origin: String,
}

impl Rp {
    /// The relying party of a server known to browsers as `issuer`.
    pub fn of(issuer: &str) -> Result<Rp, Unavailable> {
        let uri: http::Uri = issuer.parse().map_err(|_| Unavailable::NoHost)?;
        let host = uri.host().ok_or(Unavailable::NoHost)?.to_ascii_lowercase();
        let scheme = uri.scheme_str().unwrap_or_default();
        if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
            return Err(Unavailable::Address);
        }
        let local = host == "localhost" || host.ends_with(".localhost");
        match scheme {
            "https" => {}
            "http" if local => {}
            _ => return Err(Unavailable::NotSecure),
        }
        // A browser's origin leaves out the scheme's own port.
        let port = match (scheme, uri.port_u16()) {
            ("https", Some(443)) | ("http", Some(80)) | (_, None) => String::new(),
            (_, Some(p)) => format!(":{p}"),
        };
        let id = AsciiDomain::try_from(host.clone()).map_err(|_| Unavailable::NoHost)?;
        Ok(Rp {
            id: RpId::Domain(id),
            origin: format!("{scheme}://{host}{port}"),
        })
    }
}

/// Why a ceremony's response was refused. Said to the person in general words; the kind
/// goes to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not WebAuthn's JSON, or too large.
    Unreadable,
    /// No ceremony waits for its challenge (never made, used, or expired).
    NoCeremony,
    /// The ceremony's checks failed (origin, RP ID, signature, user verification, ...).
    Failed,
    /// The passkey is not one of this server's, or not this person's.
    UnknownPasskey,
    /// The person holds as many passkeys as they may.
    TooMany,
    /// The passkey's counter went back: it may have been cloned.
    CounterWentBack,
    /// Too many ceremonies at once.
    Busy,
    /// This asker holds [`OPEN_PER_ASKER`] sign-in ceremonies open already.
    TooManyOpen,
}

/// The ceremonies under way: registrations and sign-ins, each at most `capacity`.
pub struct Ceremonies {
    register: Mutex<FixedCapHashSet<RegistrationServerState<64>>>,
    sign_in: Mutex<FixedCapHashSet<DiscoverableAuthenticationServerState>>,
    open: Mutex<Open>,
    capacity: usize,
}

/// The sign-in ceremonies each asker holds open: when each ends. Sign-in options need no
/// account, so this is what keeps one device from taking every place.
#[derive(Default)]
struct Open(HashMap<Option<Asker>, Vec<u64>>);

impl Open {
    fn count(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }

    /// Counts a ceremony opened by `who` at `now`, if they and the set (`room` ceremonies
    /// in all) have room.
    fn start(&mut self, who: Option<Asker>, now: u64, room: usize) -> Result<(), Refused> {
        if let Some(ends) = self.0.get_mut(&who) {
            ends.retain(|&end| end > now);
            if ends.len() >= OPEN_PER_ASKER {
                return Err(Refused::TooManyOpen);
            }
        }
        if self.count() >= room {
            self.0.retain(|_, ends| {
                ends.retain(|&end| end > now);
                !ends.is_empty()
            });
            if self.count() >= room {
                return Err(Refused::Busy);
            }
        }
        self.0.entry(who).or_default().push(now + CEREMONY_SECONDS);
        Ok(())
    }

    /// One of `who`'s ceremonies is over (answered, or never placed).
    fn end(&mut self, who: Option<Asker>) {
        if let Some(ends) = self.0.get_mut(&who) {
            if !ends.is_empty() {
                ends.remove(0);
            }
            if ends.is_empty() {
                self.0.remove(&who);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each set is valid at every step: a panic elsewhere cannot leave it torn.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn inserted(result: InsertResult) -> Result<(), Refused> {
    match result {
        InsertResult::Success => Ok(()),
        _ => Err(Refused::Busy),
    }
}

/// The person's user handle, made on their first passkey.
pub fn handle_of(user: &UserRecord) -> Option<UserHandle64> {
    let bytes: [u8; 64] = unb64(&user.factors.passkey_handle)?.try_into().ok()?;
    UserHandle64::decode(bytes).ok()
}

impl Ceremonies {
    /// Room for `capacity` ceremonies of each kind.
    pub fn new(capacity: usize) -> Ceremonies {
        Ceremonies {
            register: Mutex::new(FixedCapHashSet::new(capacity.max(4))),
            sign_in: Mutex::new(FixedCapHashSet::new(capacity.max(4))),
            open: Mutex::new(Open::default()),
            capacity: capacity.max(4),
        }
    }

    /// The options (`PublicKeyCredentialCreationOptionsJSON`) for `user` to create a
    /// passkey, and the user as it should be stored if it has no handle yet.
    pub fn registration_options(
        &self,
        rp: &Rp,
        user: &UserRecord,
    ) -> Result<(String, Option<UserRecord>), Refused> {
        if user.factors.passkeys.len() >= MAX_PASSKEYS {
            return Err(Refused::TooMany);
        }
        let (handle, with_handle) = match handle_of(user) {
            Some(h) => (h, None),
            None => {
                let h = UserHandle64::new();
                let mut next = user.clone();
                next.factors.passkey_handle = b64(h.as_ref());
                (h, Some(next))
            }
        };
        let name = Username::try_from(user.name.as_str()).map_err(|_| Refused::Unreadable)?;
        let display_name = user
            .display_name
            .as_deref()
            .and_then(|d| Nickname::try_from(d).ok());
        let entity = PublicKeyCredentialUserEntity {
            name,
            id: &handle,
            display_name,
        };
        // The person's passkeys already here: an authenticator holding one makes no second.
        let exclude = user
            .factors
            .passkeys
            .iter()
            .filter_map(|p| CredentialId::<Vec<u8>>::decode(unb64(&p.id)?).ok())
            .map(|id| PublicKeyCredentialDescriptor {
                id,
                transports: AuthTransports::NONE,
            })
            .collect();
        let mut options = PublicKeyCredentialCreationOptions::passkey(&rp.id, entity, exclude);
        // Asked, not enforced: an authenticator without credProtect (many phones, the
        // browsers' test authenticator) still makes the passkey, and every sign-in asks for
        // the person to be verified anyway.
        options.extensions.cred_protect =
            CredProtect::UserVerificationRequired(ExtensionInfo::AllowDontEnforceValue);
        let (server, client) = options.start_ceremony().map_err(|_| Refused::Failed)?;
        let json = serde_json::to_string(&client).map_err(|_| Refused::Failed)?;
        inserted(lock(&self.register).insert_or_replace_all_expired(server))?;
        Ok((json, with_handle))
    }

    /// Checks a registration response (`RegistrationResponseJSON`) for `user`: the passkey
    /// to store, named `name`.
    pub fn register(
        &self,
        rp: &Rp,
        user: &UserRecord,
        response: &str,
        name: &str,
        now: u64,
    ) -> Result<PasskeyFactor, Refused> {
        let registration = Registration::from_json_relaxed(response.as_bytes())
            .map_err(|_| Refused::Unreadable)?;
        let challenge = registration
            .challenge_relaxed()
            .map_err(|_| Refused::Unreadable)?;
        let state = lock(&self.register)
            .take(&challenge)
            .ok_or(Refused::NoCeremony)?;
        let origins = [rp.origin.as_str()];
        let options = RegistrationVerificationOptions::<&str, &str> {
            allowed_origins: &origins,
            ..Default::default()
        };
        let credential = state.verify(&rp.id, &registration, &options).map_err(|e| {
            log::debug!("passkey registration refused: {e}");
            Refused::Failed
        })?;
        // The ceremony was made for this person's handle, not another's.
        if Some(*credential.user_id()) != handle_of(user) {
            return Err(Refused::UnknownPasskey);
        }
        let id = b64(credential.id().as_ref());
        if user.factors.passkeys.iter().any(|p| p.id == id) {
            return Err(Refused::Failed);
        }
        let static_state = credential
            .static_state()
            .encode()
            .map_err(|_| Refused::Failed)?;
        let dynamic_state = credential
            .dynamic_state()
            .encode()
            .map_err(|_| Refused::Failed)?;
        Ok(PasskeyFactor {
            id,
            name: clean_name(name),
            static_state: b64(&static_state),
            dynamic_state: b64(&dynamic_state),
            added_at: now,
            last_used: 0,
        })
    }

    /// The options (`PublicKeyCredentialRequestOptionsJSON`) to sign in with a passkey the
    /// browser picks (a discoverable credential), for a page asked for by `who` at `now`.
    pub fn sign_in_options(
        &self,
        rp: &Rp,
        who: Option<Asker>,
        now: u64,
    ) -> Result<String, Refused> {
        let (server, client) = DiscoverableCredentialRequestOptions::passkey(&rp.id)
            .start_ceremony()
            .map_err(|_| Refused::Failed)?;
        let json = serde_json::to_string(&client).map_err(|_| Refused::Failed)?;
        let mut open = lock(&self.open);
        open.start(who, now, self.capacity)?;
        if let Err(why) = inserted(lock(&self.sign_in).insert_or_replace_all_expired(server)) {
            open.end(who);
            return Err(why);
        }
        Ok(json)
    }

    /// Checks a sign-in response (`AuthenticationResponseJSON`) against `user`'s passkeys:
    /// the person as they should be stored (the passkey's new counter and last use) and
    /// what kind of key it was. The answer, from `who`, ends one of their open ceremonies.
    pub fn sign_in(
        &self,
        rp: &Rp,
        user: &UserRecord,
        presented: &Presented,
        who: Option<Asker>,
        now: u64,
    ) -> Result<(UserRecord, KeyKind), Refused> {
        let auth = &presented.0;
        let challenge = auth.challenge_relaxed().map_err(|_| Refused::Unreadable)?;
        let state = lock(&self.sign_in)
            .take(&challenge)
            .ok_or(Refused::NoCeremony)?;
        lock(&self.open).end(who);
        let handle = handle_of(user).ok_or(Refused::UnknownPasskey)?;
        if *auth.response().user_handle() != handle {
            return Err(Refused::UnknownPasskey);
        }
        let id = b64(auth.raw_id().as_ref());
        let index = user
            .factors
            .passkeys
            .iter()
            .position(|p| p.id == id)
            .ok_or(Refused::UnknownPasskey)?;
        let stored = &user.factors.passkeys[index];
        let raw_id = unb64(&stored.id).ok_or(Refused::UnknownPasskey)?;
        let cred_id = CredentialId::<&[u8]>::decode(raw_id.as_slice())
            .map_err(|_| Refused::UnknownPasskey)?;
        let static_bytes = unb64(&stored.static_state).ok_or(Refused::UnknownPasskey)?;
        let static_state =
            StaticState::decode(static_bytes.as_slice()).map_err(|_| Refused::UnknownPasskey)?;
        let dynamic_bytes: [u8; 7] = unb64(&stored.dynamic_state)
            .and_then(|b| b.try_into().ok())
            .ok_or(Refused::UnknownPasskey)?;
        let dynamic_state =
            DynamicState::decode(dynamic_bytes).map_err(|_| Refused::UnknownPasskey)?;
        let mut credential =
            AuthenticatedCredential::new(cred_id, &handle, static_state, dynamic_state)
                .map_err(|_| Refused::UnknownPasskey)?;
        let origins = [rp.origin.as_str()];
        let options = AuthenticationVerificationOptions::<&str, &str> {
            allowed_origins: &origins,
            ..Default::default()
        };
        state
            .verify(&rp.id, auth, &mut credential, &options)
            .map_err(|e| {
                log::debug!("passkey sign-in refused: {e}");
                match e {
                    webauthn_rp::response::auth::error::AuthCeremonyErr::SignatureCounter => {
                        Refused::CounterWentBack
                    }
                    _ => Refused::Failed,
                }
            })?;
        let dynamic = credential.dynamic_state();
        let mut next = user.clone();
        let p = &mut next.factors.passkeys[index];
        p.dynamic_state = b64(&dynamic.encode().map_err(|_| Refused::Failed)?);
        p.last_used = now;
        let kind = match dynamic.backup {
            Backup::NotEligible => KeyKind::Hardware,
            Backup::Eligible | Backup::Exists => KeyKind::Synced,
        };
        Ok((next, kind))
    }
}

/// A sign-in response (`AuthenticationResponseJSON`), read once: the handle it names finds
/// the person, then [`Ceremonies::sign_in`] checks it against their passkeys.
pub struct Presented(DiscoverableAuthentication64);

impl Presented {
    /// Reads what the browser sent.
    pub fn read(response: &str) -> Result<Presented, Refused> {
        DiscoverableAuthentication64::from_json_relaxed(response.as_bytes())
            .map(Presented)
            .map_err(|_| Refused::Unreadable)
    }

    /// The user handle it names (base64url, as stored), to look the person up by.
    pub fn handle(&self) -> String {
        b64(self.0.response().user_handle().as_ref())
    }
}

/// A passkey's name as given, trimmed, bounded, printable; "passkey" if nothing is left.
pub fn clean_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_NAME {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        "passkey".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests;
