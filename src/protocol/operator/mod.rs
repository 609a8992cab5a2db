//! What the operator sees and does: the operator's pages (the state of the server, and
//! the management of clients, people, groups, keys and sessions), `/metrics`, `/health`
//! and `/certificate`.

pub mod access;
pub mod app_config;
pub mod forms;
pub mod health;
pub mod metrics;
pub mod pages;
pub mod section_view;
pub mod sections;
pub mod view;

#[cfg(test)]
mod tests;
