//! Test support: writers that produce shipper progress stores in their exact on-disk formats.
//!
//! Used by the integration tests, the shipper simulator (`examples/shipsim.rs`) and the scale
//! generator (`examples/gen_registry.rs`). Nothing in the product calls these: drainguard
//! itself never writes a shipper's store.

pub mod cloudwatch;
pub mod datadog;
pub mod filebeat;
pub mod fluentbit;
pub mod fluentd;
pub mod logstash;
pub mod promtail;
pub mod rsyslog;
pub mod vector;
