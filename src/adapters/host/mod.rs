//! The machine piauth runs on: what the kernel says about it (`sys`), sd_notify to systemd
//! (`systemd`), and the report of `piauth board`.

pub mod board_report;
pub mod sys;
pub mod systemd;
