//! Test support: writers that produce shipper progress stores in their exact on-disk formats.
//!
//! Used by the integration tests, the shipper simulator (`examples/shipsim.rs`) and the scale
//! generator (`examples/gen_registry.rs`). Nothing in the product calls these: drainguard
//! itself never writes a shipper's store.

pub mod filebeat;
pub mod fluentbit;
pub mod fluentd;
pub mod logstash;
pub mod promtail;
pub mod rsyslog;
pub mod vector;

/// What `--store` gives an adapter: options naming only `store`.
pub fn store_opts(store: &std::path::Path) -> crate::adapters::SourceOptions {
    crate::adapters::SourceOptions {
        store: Some(store.to_path_buf()),
        ..Default::default()
    }
}

/// The line, byte and reason of a corrupt-store error; panics on any other error.
pub fn corrupt_pos(e: crate::error::StoreError) -> (Option<u64>, Option<u64>, String) {
    match e {
        crate::error::StoreError::Corrupt { pos, what, .. } => (pos.line, pos.byte, what),
        other => panic!("expected a Corrupt error, got {other}"),
    }
}
