//! The `tessera` command's library: configuration, CSV import, synthetic data runs, the web server's set-up.
//!
//! `main.rs` only parses arguments and calls into here, so tests and benchmarks drive the same
//! code the command runs.

#![forbid(unsafe_code)]

pub mod audit_cli;
pub mod catalogue_cli;
pub mod config;
pub mod gs1_cli;
pub mod import;
pub mod report_run;
pub mod server;
pub mod shipped;
pub mod survival_cli;
pub mod synth_run;

/// Today's date (UTC), for "not in the future" rules.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
