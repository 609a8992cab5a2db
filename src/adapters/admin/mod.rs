//! The admin channel: client, user and key management.
//!
//! While the server runs it owns the store (sled locks it), so admin commands reach it
//! through a Unix socket in the data directory, mode 0600: only someone with local access
//! to the data directory can administer the server, and the network port never can. While
//! it is stopped the command opens the store itself. Either way [`execute::execute`] does the work,
//! so both paths behave the same.

mod checks;
pub mod execute;
pub mod format;
pub mod locate;
pub mod protocol;
mod show;
pub mod socket;
pub mod spec;

pub use execute::{execute, AdminContext};
pub use protocol::{AdminError, AdminReply, AdminRequest};
pub use socket::{call_socket, serve, socket_path, SOCKET_NAME};
