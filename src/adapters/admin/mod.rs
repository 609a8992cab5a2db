//! The admin channel: client, user and key management from the command line.
//!
//! While the server runs it owns the store (sled locks it), so admin commands reach it
//! through a Unix socket in the data directory, mode 0600: only someone with local access
//! to the data directory can administer the server, and the network port never can. While
//! it is stopped the command opens the store itself. Either way [`execute::execute`] applies
//! what [`crate::protocol::manage::decide`] says, as the operator's pages do.

pub mod execute;
pub mod format;
pub mod locate;
pub mod socket;

pub use crate::protocol::manage::{spec, AdminError, AdminReply, AdminRequest};
pub use execute::{execute, AdminContext};
pub use socket::{call_socket, serve, socket_path, SOCKET_NAME};
