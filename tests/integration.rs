//! Integration tests: the real binary, a real socket, a real sled store on disk.

mod util;

mod account;
mod admin;
mod apps;
mod assertions;
mod authorize;
mod board;
mod device;
mod durability;
mod errors;
mod hostile;
mod jwks_uri;
mod lifecycle;
mod operator;
mod tls;
mod token;
mod writes;
