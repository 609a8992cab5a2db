//! From a parsed command line to an admin request: the CLI side of the admin channel.

use super::{AdminError, AdminRequest};
use crate::cli::{ClientCommand, Command, KeyCommand, UserCommand};
use std::io::Read;

fn read_password_stdin() -> Result<String, AdminError> {
    let mut s = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut s)
        .map_err(|e| {
            AdminError::Invalid(format!("cannot read the password from standard input: {e}"))
        })?;
    let trimmed = s.strip_suffix('\n').unwrap_or(&s);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_string())
}

/// The admin request a command line asks for, and whether it wants JSON output; `None`
/// for the commands that are not admin commands.
pub fn request_for(command: &Command) -> Result<Option<(AdminRequest, bool)>, AdminError> {
    Ok(Some(match command {
        Command::Serve(_) | Command::Board(_) | Command::Tls(_) => return Ok(None),
        Command::Audit { json } => (AdminRequest::Audit, *json),
        Command::Client(c) => match c {
            ClientCommand::Add { spec, json } => (AdminRequest::ClientAdd(spec.clone()), *json),
            ClientCommand::List { json } => (AdminRequest::ClientList, *json),
            ClientCommand::Show { id, json } => {
                (AdminRequest::ClientShow { id: id.clone() }, *json)
            }
            ClientCommand::Remove { id } => (AdminRequest::ClientRemove { id: id.clone() }, false),
            ClientCommand::RotateSecret { id, json } => {
                (AdminRequest::ClientRotateSecret { id: id.clone() }, *json)
            }
            ClientCommand::Disable { id } => (
                AdminRequest::ClientSetDisabled {
                    id: id.clone(),
                    disabled: true,
                },
                false,
            ),
            ClientCommand::Enable { id } => (
                AdminRequest::ClientSetDisabled {
                    id: id.clone(),
                    disabled: false,
                },
                false,
            ),
        },
        Command::User(u) => match u {
            UserCommand::Add { name, scopes, .. } => (
                AdminRequest::UserAdd {
                    name: name.clone(),
                    scopes: scopes.clone(),
                    password: read_password_stdin()?,
                },
                false,
            ),
            UserCommand::List { json } => (AdminRequest::UserList, *json),
            UserCommand::Remove { name } => {
                (AdminRequest::UserRemove { name: name.clone() }, false)
            }
            UserCommand::Passwd {
                name,
                keep_sessions,
                ..
            } => (
                AdminRequest::UserPasswd {
                    name: name.clone(),
                    password: read_password_stdin()?,
                    keep_sessions: *keep_sessions,
                },
                false,
            ),
        },
        Command::Key(k) => match k {
            KeyCommand::List { json } => (AdminRequest::KeyList, *json),
            KeyCommand::Rotate { json, now } => (AdminRequest::KeyRotate { now: *now }, *json),
            KeyCommand::Secret => (AdminRequest::KeySecret, false),
        },
    }))
}
