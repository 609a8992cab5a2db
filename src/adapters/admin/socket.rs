//! The admin socket: `DATA_DIR/admin.sock`, mode 0600, one JSON request per connection,
//! bounded in size and time; and the client side that commands use to reach a running server.

use super::{execute, AdminContext, AdminError, AdminReply, AdminRequest};
use crate::adapters::service::{unix_now, Service};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The socket's file name inside the data directory.
pub const SOCKET_NAME: &str = "admin.sock";

/// Largest request line accepted on the socket.
pub(crate) const MAX_LINE: u64 = 64 * 1024;

/// The path of the admin socket for a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// Runs the admin socket for a running server until the process ends.
pub fn serve(path: &Path, service: Arc<Service>) -> std::io::Result<()> {
    if path.exists() {
        // The store lock is held, so no other server is using this socket: it is stale.
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(stream) => handle(stream, &service),
                    Err(e) => log::warn!("admin socket accept failed: {e}"),
                }
            }
        })?;
    Ok(())
}

pub(crate) fn handle(stream: UnixStream, service: &Service) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let reply = match read_request(&stream) {
        Ok(AdminRequest::Audit) => AdminReply::Ok(json!(service.audit.recent())),
        Ok(req) => {
            log::info!("admin: {req:?}");
            let ctx = AdminContext {
                store: &service.store,
                pepper: &service.pepper,
                policy: &service.policy,
                algorithm: service.algorithm,
            };
            let (op, audited) = (req.op(), req.changes_something());
            let result = execute(req, &ctx);
            if audited {
                let outcome = if result.is_ok() { "ok" } else { "failed" };
                service
                    .audit
                    .record(crate::observe::audit::AuditRecord::new(
                        unix_now(),
                        format!("admin:{op}"),
                        outcome,
                    ));
            }
            match result {
                Ok((value, keys_changed)) => {
                    if keys_changed {
                        if let Err(e) = service.reload_keys() {
                            log::error!("reloading keys after rotation failed: {e}");
                        }
                    }
                    AdminReply::Ok(value)
                }
                Err(e) => AdminReply::Err(e),
            }
        }
        Err(e) => AdminReply::Err(e),
    };
    let mut out = &stream;
    let line = serde_json::to_string(&reply).unwrap_or_else(|_| "{}".into());
    let _ = out
        .write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"));
}

pub(crate) fn read_request(stream: &UnixStream) -> Result<AdminRequest, AdminError> {
    let mut line = String::new();
    BufReader::new(stream.take(MAX_LINE))
        .read_line(&mut line)
        .map_err(|e| AdminError::Channel(format!("reading the request: {e}")))?;
    serde_json::from_str(&line).map_err(|_| AdminError::Channel("malformed admin request".into()))
}

/// Sends a request to the running server; `None` when no server answers on the socket.
pub fn call_socket(path: &Path, req: &AdminRequest) -> Option<Result<Value, AdminError>> {
    let stream = UnixStream::connect(path).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let result = (|| {
        let mut w = &stream;
        let line = serde_json::to_string(req).map_err(|e| AdminError::Channel(e.to_string()))?;
        w.write_all(line.as_bytes())
            .and_then(|()| w.write_all(b"\n"))
            .map_err(|e| AdminError::Channel(format!("sending to the server: {e}")))?;
        let mut reply = String::new();
        BufReader::new(&stream)
            .read_line(&mut reply)
            .map_err(|e| AdminError::Channel(format!("reading the server's reply: {e}")))?;
        match serde_json::from_str::<AdminReply>(&reply) {
            Ok(AdminReply::Ok(v)) => Ok(v),
            Ok(AdminReply::Err(e)) => Err(e),
            Err(_) => Err(AdminError::Channel(
                "the server's reply is malformed".into(),
            )),
        }
    })();
    Some(result)
}
