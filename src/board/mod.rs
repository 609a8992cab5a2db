//! The board: which Raspberry Pi this is (revision codes), the tuning that sizes piauth for
//! it, and what its status LED shows. Pure: the host adapter reads the files and drives the
//! LED. Imports only [`crate::vocab`].

pub mod led_pattern;
pub mod revision;
pub mod tuning;
