//! The apps a person let act for them (a consent, refresh tokens from a sign-in, a device
//! they approved), and taking one back: the same changes for the account page and for
//! `piauth user revoke`.

use crate::protocol::{Change, Directory, LookupError, Owner};

/// An app that acts for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The client.
    pub client_id: String,
    /// What they allowed it (the consent's scope, or the refresh tokens').
    pub scope: String,
    /// Live refresh-token families: one per sign-in or device that keeps it signed in.
    pub families: usize,
    /// When one of those last refreshed (or was issued).
    pub last_refresh: Option<u64>,
}

/// The apps acting for `user`, by client id.
pub fn apps_of(dir: &dyn Directory, user: &str, now: u64) -> Result<Vec<App>, LookupError> {
    let mut apps: Vec<App> = dir
        .consents_of(user)?
        .into_iter()
        .map(|c| App {
            client_id: c.client_id,
            scope: c.scope.to_string(),
            families: 0,
            last_refresh: None,
        })
        .collect();
    for (_, f) in dir.families_of(Owner::User(user))? {
        if f.revoked || f.expires_at <= now {
            continue;
        }
        let i = match apps.iter().position(|a| a.client_id == f.client_id) {
            Some(i) => i,
            None => {
                apps.push(App {
                    client_id: f.client_id.clone(),
                    scope: f.scope.to_string(),
                    families: 0,
                    last_refresh: None,
                });
                apps.len() - 1
            }
        };
        apps[i].families += 1;
        apps[i].last_refresh = apps[i].last_refresh.max(Some(f.issued_at));
    }
    apps.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(apps)
}

/// What taking `client` back from `user` changes: its consent goes (the app asks again)
/// and each refresh-token family it got from them is revoked at once. Also the number of
/// families ended.
pub fn take_back(
    dir: &dyn Directory,
    user: &str,
    client: &str,
) -> Result<(Vec<Change>, usize), LookupError> {
    let mut changes: Vec<Change> = dir
        .families_of(Owner::User(user))?
        .into_iter()
        .filter(|(_, f)| f.client_id == client && !f.revoked)
        .map(|(id, _)| Change::RevokeFamily(id))
        .collect();
    let ended = changes.len();
    changes.push(Change::RemoveConsent(user.to_string(), client.to_string()));
    Ok((changes, ended))
}
