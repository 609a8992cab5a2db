//! The shell: everything that touches a socket, the disk, the kernel or a pin, converting
//! between the outside and the core's plain values and applying what the core decides.

pub mod admin;
pub mod host;
pub mod http;
pub mod jwks_fetch;
pub mod led;
pub mod pages;
pub mod service;
pub mod store;
pub mod tls;
