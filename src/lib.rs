//! drainguard: make sure no log line is lost when a machine shuts down or is terminated.
//!
//! ```text
//! shipper stores --(adapters, read-only)--> cursors {identity, path, offset, meaning}
//! cursors + files on disk --(backlog)--> per-file states and a verdict
//! backlog --(wait loop)--> verdict + report
//! host probe --(installer)--> plan --> apply / doctor
//! ```

pub mod adapters;
#[cfg(feature = "aws")]
pub mod aws;
pub mod backlog;
pub mod cli;
pub mod cmd;
pub mod cursor;
pub mod display;
pub mod doctor;
pub mod error;
pub mod exit;
pub mod fingerprint;
pub mod glob_walk;
pub mod huge_pages;
pub mod install;
pub mod metrics;
pub mod parsers;
pub mod process;
pub mod report;
pub mod root;
pub mod safe_read;
pub mod settings;
pub mod sources;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod wait;
