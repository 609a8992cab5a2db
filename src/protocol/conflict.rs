//! What to answer when the store refused a change because its precondition no longer held
//! (another request got there first).

use crate::protocol::token::errors::{BAD_REFRESH, REFRESH_REUSED};
use crate::protocol::{Change, Conflict, Event, Reply, Step};
use crate::vocab::oauth_error::{ErrorCode, OAuthError};

/// What to answer and change when the store refused a change because its precondition no
/// longer held.
pub fn resolve(conflict: &Conflict, client_id: &str) -> Step {
    match conflict {
        // Another exchange replaced the token first: the one presented is now an older
        // token of the family, presented again (RFC 9700 §4.14.2).
        Conflict::FamilyReplaced(id) => Step {
            reply: Reply::oauth_error(&REFRESH_REUSED),
            changes: vec![Change::RevokeFamily(*id)],
            event: Some(Event::RefreshReused {
                client_id: client_id.to_string(),
            }),
        },
        Conflict::FamilyGone(_) => Step::from(BAD_REFRESH),
        Conflict::CodeSpent(_) => crate::protocol::browser::reply::error_page(
            409,
            "That code was just used. Wait for the next one and sign in again.",
        ),
        // Only the browser's pages change a person's record; a page read before another
        // change to it would undo that change, so it is asked again.
        Conflict::UserChanged(_) => crate::protocol::browser::reply::error_page(
            409,
            "Your account changed while this page was open. Go back, reload it and try again.",
        ),
        Conflict::ClientChanged(_) => crate::protocol::browser::reply::error_page(
            409,
            "The app changed while this page was open. Go back, reload it and try again.",
        ),
        Conflict::ClientExists(_) | Conflict::UserExists(_) => Step::from(OAuthError::new(
            ErrorCode::ServerError,
            "the directory changed during the request",
        )),
    }
}
