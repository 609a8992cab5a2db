//! What the operator sees: the operator's page, `/metrics` and `/health`.

pub mod health;
pub mod metrics;
pub mod pages;
pub mod view;
