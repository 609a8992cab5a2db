//! The operator's commands as plain values: what the admin CLI sends over its socket and
//! what the operator's pages post, the rules each must meet, and the changes each makes.
//!
//! One function, [`decide::decide`], reads the directory and says what to change; the admin
//! socket, a stopped server's command and the operator's pages each only apply its changes
//! (in one transaction) and show its answer, so neither gets a rule the other lacks.

pub mod checks;
pub mod command;
pub mod decide;
pub mod keys;
pub mod show;
pub mod spec;

pub use command::{AdminError, AdminReply, AdminRequest};
pub use decide::{decide, Decision, Env};

#[cfg(test)]
mod tests;
