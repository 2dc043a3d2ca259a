//! Test support: writers that produce shipper stores in their exact on-disk formats.
//!
//! Used by the unit and integration tests, by the shipper simulator behind `drainguard wait`'s
//! tests and by the scale generator (`examples/gen_registry.rs`). Each writer reproduces the
//! byte layout and the write discipline (append without fsync, temp + fsync + rename) of the
//! shipper it imitates, so readers are tested against what the shipper really leaves on disk,
//! including its races.

pub mod filebeat;
