//! What the operator sees: the operator's page, `/metrics`, `/health` and `/certificate`.

pub mod health;
pub mod metrics;
pub mod pages;
pub mod view;
