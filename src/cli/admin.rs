//! From a parsed command line to an admin request: the CLI side of the admin channel.

use crate::adapters::admin::{AdminError, AdminRequest};
use crate::cli::{
    ClientCommand, Command, GroupCommand, IssuerCommand, KeyCommand, SessionCommand, UserCommand,
};
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
            ClientCommand::Add { spec, json } => {
                let mut spec = (**spec).clone();
                spec.keys = read_keys(&spec.jwk_files, &spec.pem_files)?;
                spec.jwks = read_jwks(&spec.jwks_args)?;
                (AdminRequest::ClientAdd(Box::new(spec)), *json)
            }
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
            ClientCommand::Edit {
                id,
                allowed_groups,
                no_groups,
                redirect_uris,
                require_second_factor,
                json,
            } => (
                AdminRequest::ClientEdit {
                    id: id.clone(),
                    allowed_groups: match (*no_groups, allowed_groups.is_empty()) {
                        (true, _) => Some(Vec::new()),
                        (false, true) => None,
                        (false, false) => Some(allowed_groups.clone()),
                    },
                    redirect_uris: (!redirect_uris.is_empty()).then(|| redirect_uris.clone()),
                    require_second_factor: *require_second_factor,
                },
                *json,
            ),
        },
        Command::Issuer(i) => match i {
            IssuerCommand::Add {
                name,
                jwk_files,
                pem_files,
                jwks,
                subjects,
                scopes,
                json,
            } => (
                AdminRequest::IssuerAdd {
                    name: name.clone(),
                    keys: read_keys(jwk_files, pem_files)?,
                    jwks: read_jwks(jwks)?,
                    subjects: subjects.clone(),
                    scopes: scopes.clone(),
                },
                *json,
            ),
            IssuerCommand::List { json } => (AdminRequest::IssuerList, *json),
            IssuerCommand::Remove { name } => {
                (AdminRequest::IssuerRemove { name: name.clone() }, false)
            }
        },
        Command::User(u) => match u {
            UserCommand::Add {
                name,
                scopes,
                person,
                admin,
                enroll,
                json,
                ..
            } => (
                AdminRequest::UserAdd {
                    name: name.clone(),
                    scopes: scopes.clone(),
                    password: if *enroll {
                        String::new()
                    } else {
                        read_password_stdin()?
                    },
                    person: person.clone(),
                    admin: *admin,
                    enroll: *enroll,
                },
                *json,
            ),
            UserCommand::Enroll { name, json } => {
                (AdminRequest::UserEnroll { name: name.clone() }, *json)
            }
            UserCommand::Edit {
                name,
                person,
                email_verified,
                no_groups,
                admin,
                no_admin,
                require_second_factor,
                no_require_second_factor,
                json,
            } => (
                AdminRequest::UserEdit {
                    name: name.clone(),
                    person: person.clone(),
                    email_verified: *email_verified,
                    no_groups: *no_groups,
                    admin: match (admin, no_admin) {
                        (true, _) => Some(true),
                        (_, true) => Some(false),
                        _ => None,
                    },
                    require_second_factor: match (require_second_factor, no_require_second_factor) {
                        (true, _) => Some(true),
                        (_, true) => Some(false),
                        _ => None,
                    },
                },
                *json,
            ),
            UserCommand::Show { name, json } => {
                (AdminRequest::UserShow { name: name.clone() }, *json)
            }
            UserCommand::List { json } => (AdminRequest::UserList, *json),
            UserCommand::ResetFactors { name, json } => {
                (AdminRequest::UserResetFactors { name: name.clone() }, *json)
            }
            UserCommand::Remove { name } => {
                (AdminRequest::UserRemove { name: name.clone() }, false)
            }
            UserCommand::SignOut { name, json } => {
                (AdminRequest::UserSignOut { name: name.clone() }, *json)
            }
            UserCommand::Revoke { name, client, json } => (
                AdminRequest::UserRevoke {
                    name: name.clone(),
                    client: client.clone(),
                },
                *json,
            ),
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
        Command::Group(GroupCommand::List { json }) => (AdminRequest::GroupList, *json),
        Command::Session(SessionCommand::List { json }) => (AdminRequest::SessionList, *json),
        Command::Session(SessionCommand::Revoke { id }) => {
            (AdminRequest::SessionRevoke { id: id.clone() }, false)
        }
        Command::Key(k) => match k {
            KeyCommand::List { json } => (AdminRequest::KeyList, *json),
            KeyCommand::Rotate { json, now } => (AdminRequest::KeyRotate { now: *now }, *json),
            KeyCommand::Secret => (AdminRequest::KeySecret, false),
        },
    }))
}

/// `--jwks-uri` with the certificate of `--jwks-ca`, checked.
fn read_jwks(
    args: &crate::protocol::manage::spec::JwksArgs,
) -> Result<Option<crate::vocab::record::JwksLocation>, AdminError> {
    let Some(uri) = &args.uri else {
        return Ok(None);
    };
    let ca = match &args.ca {
        Some(path) => {
            let text = read_text(path)?;
            crate::adapters::jwks_fetch::roots_from_pem(&text)
                .map_err(|e| AdminError::Invalid(format!("{}: {e}", path.display())))?;
            Some(text)
        }
        None => None,
    };
    let location = crate::vocab::record::JwksLocation {
        uri: uri.clone(),
        ca,
    };
    crate::protocol::client_auth::published_keys::check_uri(&location.uri)
        .map_err(AdminError::Invalid)?;
    Ok(Some(location))
}

/// A key or certificate file's text, up to 64 KiB.
fn read_text(path: &std::path::Path) -> Result<String, AdminError> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_string(&mut text))
        .map_err(|e| AdminError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(text)
}

/// The public keys of `--jwk` and `--pem` files, as JWKs; read here, by the operator's
/// command, since the server may not be allowed to read where they are.
fn read_keys(
    jwk_files: &[std::path::PathBuf],
    pem_files: &[std::path::PathBuf],
) -> Result<Vec<serde_json::Value>, AdminError> {
    use crate::jose::client_keys::{from_jwk_text, from_pem_text};
    let read = read_text;
    fn named(
        path: &std::path::Path,
    ) -> impl Fn(crate::jose::client_keys::KeyFileError) -> AdminError + '_ {
        move |e| AdminError::Invalid(format!("{}: {e}", path.display()))
    }
    let mut keys = Vec::new();
    for path in jwk_files {
        keys.push(from_jwk_text(&read(path)?).map_err(named(path))?);
    }
    for path in pem_files {
        let alg = jsonwebtoken::Algorithm::RS256;
        keys.push(from_pem_text(&read(path)?, alg).map_err(named(path))?);
    }
    Ok(keys)
}
