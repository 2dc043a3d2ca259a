//! Adapters: one per shipper, each reading that shipper's own progress store strictly
//! read-only (never writing, never locking) into a [`StoreSnapshot`].

pub mod filebeat;

use std::path::PathBuf;

pub mod abandoned;
pub mod agent_log;
pub mod cloudwatch;
mod common;
pub mod datadog;
pub mod fluentbit;
pub mod fluentd;
pub mod http;
pub mod known;
pub mod logstash;
pub mod promtail;
pub mod rsyslog;
pub mod sniff;
pub mod unreadable;
pub mod vector;
pub mod vector_buffer;

use crate::cursor::{ShipperKind, StoreSnapshot};
use crate::error::StoreError;

/// A shipper's store, opened for repeated reads.
///
/// `wait` calls [`StoreReader::read`] on every change event; implementations may keep state
/// between reads to read incrementally (an append-only log continues where it stopped).
pub trait StoreReader: Send {
    /// Which shipper this store belongs to.
    fn shipper(&self) -> ShipperKind;
    /// Files and directories whose changes mean the store may have changed (for inotify).
    fn watch_paths(&self) -> Vec<PathBuf>;
    /// Reads the store's current state.
    fn read(&mut self) -> Result<StoreSnapshot, StoreError>;
}

/// Where to look for one shipper's store: explicit overrides from flags or settings, all
/// optional (adapters fall back to the shipper's config and its usual locations).
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// Every absolute path is taken below this root.
    pub root: crate::root::Root,
    /// The shipper's own configuration file (filebeat.yml, fluent-bit.conf, vector.toml ...).
    pub config: Option<PathBuf>,
    /// The shipper's data directory (Filebeat `path.data`, Vector `data_dir` ...).
    pub data_path: Option<PathBuf>,
    /// The progress store itself (Filebeat registry, SQLite DB, positions file ...).
    pub store: Option<PathBuf>,
    /// The shipper's settings directory (Logstash `--path.settings`: its `logstash.yml`).
    pub settings_dir: Option<PathBuf>,
}

/// The stores of one shipper: one reader per progress store (a shipper with several inputs,
/// sources or pos files has several), each assessed on its own.
pub type Readers = Vec<Box<dyn StoreReader>>;

/// Opens `kind`'s stores. Empty when the shipper is not present on this host (no config,
/// no store in its usual locations) and nothing was asked for explicitly; an explicitly named
/// store or config that cannot be read is an error.
pub fn open(kind: ShipperKind, opts: &SourceOptions) -> Result<Readers, StoreError> {
    match kind {
        ShipperKind::Filebeat => filebeat::open(opts),
        ShipperKind::FluentBit => fluentbit::open(opts),
        ShipperKind::Vector => vector::open(opts),
        ShipperKind::Promtail => promtail::open_promtail(opts),
        ShipperKind::Alloy => promtail::open_alloy(opts),
        ShipperKind::Fluentd => fluentd::open(opts),
        ShipperKind::Rsyslog => rsyslog::open(opts),
        ShipperKind::Logstash => logstash::open(opts),
        ShipperKind::CloudwatchAgent => cloudwatch::open(opts),
        ShipperKind::DatadogAgent => datadog::open(opts),
        // Recognised running only (see `known`): no store drainguard can read.
        ShipperKind::SyslogNg
        | ShipperKind::Otelcol
        | ShipperKind::Awslogs
        | ShipperKind::ElasticAgent
        | ShipperKind::Nxlog
        | ShipperKind::Splunk => Ok(Vec::new()),
    }
}
