//! Adapters: one per shipper, each reading that shipper's own progress store strictly
//! read-only (never writing, never locking) into a [`StoreSnapshot`].

pub mod filebeat;

use std::path::PathBuf;

pub mod abandoned;
pub mod agent_log;
pub mod awslogs;
pub mod cloudwatch;
mod common;
pub mod datadog;
pub mod fluentbit;
pub mod fluentd;
pub mod http;
pub mod logstash;
pub mod otel;
pub mod promtail;
pub mod recognised;
pub mod rsyslog;
pub mod shipper;
pub mod sniff;
pub mod sqlite_image;
pub mod syslogng;
pub mod unreadable;
pub mod vector;
pub mod vector_buffer;

use crate::cursor::{ShipperKind, StoreSnapshot};
use crate::error::StoreError;

pub use shipper::{Access, ShipperInfo};

/// Every shipper drainguard knows, supported ones first (report order): the one list that
/// enumerates shippers. Everything else (process recognition, service names, source
/// selection, `--shipper` names, help and error texts) reads it.
pub static ALL: &[&ShipperInfo] = &[
    &filebeat::INFO,
    &fluentbit::INFO,
    &vector::INFO,
    &promtail::INFO,
    &promtail::ALLOY,
    &fluentd::INFO,
    &rsyslog::INFO,
    &logstash::INFO,
    &cloudwatch::INFO,
    &datadog::INFO,
    &syslogng::INFO,
    &awslogs::INFO,
    &otel::INFO,
    &recognised::ELASTIC_AGENT,
    &recognised::NXLOG,
    &recognised::SPLUNK,
];

/// The shipper assumed when paths are given (`--config`, `--data-path`, `--registry`) and
/// no shipper is named.
pub static DEFAULT_SHIPPER: &ShipperInfo = &filebeat::INFO;

/// The descriptor of `kind`.
pub fn info(kind: ShipperKind) -> &'static ShipperInfo {
    ALL.iter()
        .copied()
        .find(|i| i.kind == kind)
        .expect("every shipper kind has an entry in adapters::ALL")
}

/// The shipper named `name` (its name or an alias, case-insensitively).
pub fn by_name(name: &str) -> Option<&'static ShipperInfo> {
    ALL.iter().copied().find(|i| {
        i.name.eq_ignore_ascii_case(name) || i.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The shippers drainguard reads, in report order.
pub fn supported() -> impl Iterator<Item = &'static ShipperInfo> {
    ALL.iter().copied().filter(|i| i.supported())
}

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
    /// [`StoreReader::read`] for a caller that reads this store once (`status`): a reader
    /// may move what it keeps for the next read into the snapshot instead of copying it
    /// (a later read then starts over).
    fn read_last(&mut self) -> Result<StoreSnapshot, StoreError> {
        self.read()
    }
    /// Gives back a snapshot [`StoreReader::read`] returned, once the caller is done with it
    /// (the caller may have appended cursors, nothing else), so that the next read can update
    /// its cursors in place instead of building or copying every one. Readers without
    /// incremental state ignore it.
    fn recycle(&mut self, snapshot: StoreSnapshot) {
        drop(snapshot);
    }
    /// The positions (in the last snapshot's cursors) of the cursors the last
    /// [`StoreReader::read`] set or appended, when that is all it changed since the read
    /// before it (whose snapshot came back through [`StoreReader::recycle`]); `None` when any
    /// cursor may have changed (a rebuild, a full re-read, a reader that does not know).
    fn changed(&self) -> Option<&[u32]> {
        None
    }
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
    /// The shipper's control socket (syslog-ng `-c`: its `STATS`).
    pub control_socket: Option<PathBuf>,
    /// The client the readers ask monitoring APIs with (one round of reads asks each URL
    /// once: [`http::Http::round`]).
    pub http: http::Http,
}

/// The stores of one shipper: one reader per progress store (a shipper with several inputs,
/// sources or pos files has several), each assessed on its own.
pub type Readers = Vec<Box<dyn StoreReader>>;

/// The first supported shippers' names, for messages that give examples
/// (`filebeat, fluent-bit, vector ...`).
pub fn example_names() -> String {
    let first: Vec<&str> = supported().take(3).map(|i| i.name).collect();
    format!("{} ...", first.join(", "))
}

/// Opens `kind`'s stores. Empty when the shipper is not present on this host (no config,
/// no store in its usual locations) and nothing was asked for explicitly, or when drainguard
/// only recognises it running; an explicitly named store or config that cannot be read is an
/// error.
pub fn open(kind: ShipperKind, opts: &SourceOptions) -> Result<Readers, StoreError> {
    match info(kind).access {
        Access::Reads { open, .. } => open(opts),
        Access::RecognisedOnly { .. } => Ok(Vec::new()),
    }
}
