//! The shipper-independent progress model.
//!
//! Every adapter reads a shipper's own progress store (strictly read-only) and turns it into a
//! [`StoreSnapshot`]: a list of [`Cursor`]s (one per tracked file entry) plus what the offsets
//! prove ([`OffsetMeaning`]), which inputs the shipper tails ([`InputSpec`], to find untracked
//! files) and the delivery-side signals that must also be empty ([`QueueSignal`]).
//! The backlog module compares these cursors with the files on disk.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::fingerprint::FingerprintSpec;

/// The shippers drainguard knows: the ones it reads, then the ones it only recognises
/// running, so that a running one it cannot read is reported as unconfirmed, never as
/// "nothing to drain". Only an identity: everything about a shipper (its name, whether it is
/// read, how) is its descriptor, [`crate::adapters::info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ShipperKind {
    Filebeat,
    FluentBit,
    Vector,
    Promtail,
    Alloy,
    Fluentd,
    Rsyslog,
    Logstash,
    SyslogNg,
    Otelcol,
    CloudwatchAgent,
    Awslogs,
    DatadogAgent,
    ElasticAgent,
    Nxlog,
    Splunk,
}

impl ShipperKind {
    /// Its descriptor.
    pub fn info(self) -> &'static crate::adapters::ShipperInfo {
        crate::adapters::info(self)
    }

    /// The name used in reports, flags, configuration and JSON (`fluent-bit`, `filebeat`, ...).
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// True when drainguard reads this shipper's progress (it can be named with `--shipper`).
    pub fn supported(self) -> bool {
        self.info().supported()
    }

    /// The shippers drainguard reads, in report order.
    pub fn all_supported() -> Vec<ShipperKind> {
        crate::adapters::supported().map(|i| i.kind).collect()
    }

    /// A supported shipper by name (`--shipper`, the settings file), case-insensitively.
    /// The error lists the supported names, and says so when the name is a shipper that
    /// drainguard recognises but cannot read yet.
    pub fn parse_supported(s: &str) -> Result<ShipperKind, String> {
        if let Some(i) = crate::adapters::supported().find(|i| i.name.eq_ignore_ascii_case(s)) {
            return Ok(i.kind);
        }
        let names: Vec<&str> = crate::adapters::supported().map(|i| i.name).collect();
        let known = crate::adapters::by_name(s).filter(|i| !i.supported());
        Err(match known {
            Some(i) => format!(
                "{s:?} is {}, which drainguard recognises but cannot read yet (a running one makes \
                 the verdict unconfirmed); supported shippers: {}",
                i.name,
                names.join(", ")
            ),
            None => format!(
                "unknown shipper {s:?}; supported shippers: {}",
                names.join(", ")
            ),
        })
    }

    /// The shipper's default maximum line length in bytes, `None` when it has none
    /// ([`crate::adapters::ShipperInfo::max_line_bytes`]).
    pub fn default_max_line_bytes(self) -> Option<u64> {
        self.info().max_line_bytes
    }
}

/// `--shipper` values where clap lists them (`install`): the supported shippers' names.
impl clap::ValueEnum for ShipperKind {
    fn value_variants<'a>() -> &'a [Self] {
        static SUPPORTED: std::sync::OnceLock<Vec<ShipperKind>> = std::sync::OnceLock::new();
        SUPPORTED.get_or_init(ShipperKind::all_supported)
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        self.supported()
            .then(|| clap::builder::PossibleValue::new(self.name()))
    }
}

impl Serialize for ShipperKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for ShipperKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a store entry names the file it tracks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Identity {
    /// Device and inode, as `st_dev`/`st_ino` (Filebeat native, Logstash, Vector dev_inode).
    DevInode { dev: u64, ino: u64 },
    /// Inode only, no device (Fluent Bit, Fluentd with follow_inodes).
    Inode { ino: u64 },
    /// A content fingerprint: the file is the one whose bytes hash to `value` under `spec`
    /// (the spec boxed: it is rare, and inline it would double every cursor's size).
    Fingerprint {
        spec: Box<FingerprintSpec>,
        value: Box<str>,
    },
    /// The path alone (Promtail, Alloy, Fluentd default): rotation makes a new file inherit it.
    Path,
}

/// What a stored offset proves about the bytes before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetMeaning {
    /// Acknowledged by the shipper's output (Filebeat memory queue, Vector with e2e acks).
    Delivered,
    /// Persisted in the shipper's own disk queue; delivery also needs that queue empty.
    InDiskQueue,
    /// Accepted into the shipper's in-memory or persistent buffer (Fluentd, Logstash).
    Buffered,
    /// Accepted by the destination, or given up by the shipper (a permanent rejection, retries
    /// exhausted, a stop mid-retry: CloudWatch agent, Datadog Agent): delivery also needs the
    /// signal that nothing was given up (the shipper's log of dropped batches).
    SentOrGivenUp,
    /// Read (and maybe enqueued) only: delivery needs the shipper's queue signal.
    Read,
}

impl OffsetMeaning {
    /// True when offset == size is by itself proof of delivery.
    pub fn proves_delivery(self) -> bool {
        matches!(self, OffsetMeaning::Delivered)
    }

    /// What an offset proves, in words (`read`, `delivered`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetMeaning::Delivered => "delivered",
            OffsetMeaning::InDiskQueue => "in the disk queue",
            OffsetMeaning::Buffered => "buffered",
            OffsetMeaning::SentOrGivenUp => "sent or given up",
            OffsetMeaning::Read => "read",
        }
    }
}

/// The unit of a stored offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OffsetUnit {
    /// Bytes into the file as stored on disk (the normal case).
    #[default]
    Bytes,
    /// Lines (Promtail on compressed files): cannot be compared with a size.
    Lines,
    /// Bytes of decompressed content: cannot be compared with the on-disk size.
    DecompressedBytes,
}

/// One progress entry of a shipper's store. A store of 10^6 entries has 10^6 of these alive
/// at once: 80 bytes each plus the key's and the path's bytes, shared (reference-counted)
/// with the reader's own state and with the reports built from the cursor, never copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cursor {
    /// The store's own key for the entry (reported, never interpreted further).
    pub key: Arc<str>,
    /// How the entry names its file.
    pub identity: Identity,
    /// The path the shipper last saw the file under, when the store records one.
    #[serde(serialize_with = "crate::display::ser_opt_path")]
    pub path: Option<Arc<Path>>,
    /// The next byte (or line, see `unit`) the shipper will read or deliver.
    pub offset: u64,
    /// The unit of `offset`.
    #[serde(skip_serializing_if = "is_bytes")]
    pub unit: OffsetUnit,
}

fn is_bytes(u: &OffsetUnit) -> bool {
    *u == OffsetUnit::Bytes
}

/// Which files a shipper input tails, so files without a store entry are found (untracked).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InputSpec {
    /// Name or id of the input, for reports.
    pub name: String,
    /// Absolute glob patterns (shipper syntax already reduced to `glob` syntax).
    pub paths: Vec<String>,
    /// Regular expressions or globs of excluded files, as the shipper writes them.
    pub exclude: Vec<ExcludeRule>,
    /// Files not modified for this long are ignored by the shipper (never become backlog).
    pub ignore_older: Option<std::time::Duration>,
    /// Files shorter than this many bytes are never ingested (fingerprint identities).
    pub min_size: Option<u64>,
    /// Set when the shipper records this input's offsets only when it closes the file
    /// (rsyslog imfile without `persistStateAfterSubmission`): while it runs they lag behind
    /// what it read, so they never catch up before the deadline. The value is the fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lagging_state: Option<String>,
}

impl InputSpec {
    /// An input named `name` tailing the globs `paths`, minus the globs `exclude`.
    pub fn globs(name: impl Into<String>, paths: &[String], exclude: &[String]) -> InputSpec {
        InputSpec {
            name: name.into(),
            paths: paths.to_vec(),
            exclude: exclude.iter().cloned().map(ExcludeRule::Glob).collect(),
            ..Default::default()
        }
    }
}

/// An exclusion rule of an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "pattern", rename_all = "snake_case")]
pub enum ExcludeRule {
    /// A regular expression matched against the full path (Filebeat `exclude_files`).
    Regex(String),
    /// A glob matched against the full path (Fluent Bit `Exclude_Path`, Vector `exclude`).
    Glob(String),
}

/// A delivery-side signal: something besides the offsets that must be empty before the data
/// counts as delivered (a disk queue, a buffer, an API metric).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueSignal {
    /// What was checked, e.g. `filebeat disk queue /var/lib/filebeat/diskqueue`.
    pub source: String,
    pub state: QueueState,
}

/// The state of a delivery-side signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum QueueState {
    /// The queue is empty: everything read has left the shipper.
    Empty,
    /// The queue still holds data: `detail` in words, `owed` in numbers (what the signal
    /// counts; JSON fields beside `detail`).
    Pending {
        detail: String,
        #[serde(flatten)]
        owed: Owed,
    },
    /// The signal could not be read; `hint` says how to make it available.
    Unknown { hint: String },
}

impl QueueState {
    /// A pending queue that says what it holds in words only.
    pub fn pending(detail: impl Into<String>) -> QueueState {
        QueueState::Pending {
            detail: detail.into(),
            owed: Owed::default(),
        }
    }

    /// A pending queue with the numbers it holds.
    pub fn owed(detail: impl Into<String>, owed: Owed) -> QueueState {
        QueueState::Pending {
            detail: detail.into(),
            owed,
        }
    }
}

/// What a queue still owes, in numbers: each figure the signal counts (None: not counted
/// by this signal). Summed per shipper and over all shippers into the report's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Owed {
    /// Events or messages queued in the shipper (rsyslog queue sizes, Vector buffer
    /// events, monitoring API counters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_events: Option<u64>,
    /// Bytes held in the shipper's queue files or buffers (disk-queue segments, chunks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_bytes: Option<u64>,
    /// Queue files holding them (disk-queue segments, buffer chunks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_files: Option<u64>,
    /// Bytes written to TCP connections and not yet acknowledged by the receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unacked_bytes: Option<u64>,
    /// The receivers (`address:port`) those connections go to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<String>,
}

/// Everything one adapter read from one shipper's store.
#[derive(Debug, Clone, Serialize)]
pub struct StoreSnapshot {
    pub shipper: ShipperKind,
    /// The store that was read (file or directory), as given (under `--root` when set).
    #[serde(serialize_with = "crate::display::ser_path")]
    pub store: PathBuf,
    /// The store format, e.g. `memlog v1`, `legacy registry`.
    pub format: String,
    pub cursors: Vec<Cursor>,
    /// Entries that do not describe files (journald cursors, S3 objects, ...), by prefix.
    pub skipped: Vec<SkippedEntries>,
    pub inputs: Vec<InputSpec>,
    pub offset_meaning: OffsetMeaning,
    pub queues: Vec<QueueSignal>,
    /// Things the reader noticed and the operator should know (torn last line, ...).
    pub notes: Vec<String>,
    /// The shipper's maximum line length in bytes as configured for this store (`None`: no
    /// limit); [`ShipperKind::default_max_line_bytes`] unless the adapter read another.
    pub max_line_bytes: Option<u64>,
}

/// Why a store cannot prove delivery as the shipper is configured, and what changes that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unprovable {
    /// What keeps delivery unproven, e.g. `fluentd buffers cannot be checked`.
    pub why: String,
    /// The exact change that makes it provable.
    pub fix: String,
}

impl StoreSnapshot {
    /// Whether this store can ever prove delivery, from what the adapter read: empty when it
    /// can; otherwise every reason with its fix. The boot check and doctor report these; while
    /// any is there, `wait` can only end at its deadline (exit 2), or on `--settle-after`.
    pub fn unprovable(&self) -> Vec<Unprovable> {
        let mut out: Vec<Unprovable> = self
            .inputs
            .iter()
            .filter_map(|i| {
                let fix = i.lagging_state.as_ref()?;
                Some(Unprovable {
                    why: format!(
                        "{}: the shipper writes its offsets only when it closes the file, so \
                         they lag behind what it read",
                        i.name
                    ),
                    fix: fix.clone(),
                })
            })
            .collect();
        out.extend(signal_gaps(self.offset_meaning, &self.queues));
        out
    }
}

/// Why offsets that mean `meaning`, with the delivery-side signals `queues`, cannot prove
/// delivery (empty: they can): offsets that mean less than "delivered" need signals, and
/// every signal must be readable.
pub fn signal_gaps(meaning: OffsetMeaning, queues: &[QueueSignal]) -> Vec<Unprovable> {
    if meaning.proves_delivery() {
        return Vec::new();
    }
    if queues.is_empty() {
        return vec![Unprovable {
            why: format!(
                "its offsets mean only \"{}\" and no delivery signal is configured",
                meaning.as_str()
            ),
            fix: "configure the shipper's monitoring API or end-to-end acknowledgements (see \
                  `drainguard status`)"
                .into(),
        }];
    }
    queues
        .iter()
        .filter_map(|q| match &q.state {
            QueueState::Unknown { hint } => Some(Unprovable {
                why: format!("{} cannot be checked", q.source),
                fix: hint.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// A count of skipped non-file entries sharing a key prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedEntries {
    pub prefix: String,
    pub count: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store of 10^6 entries holds 10^6 cursors at once: their size is the memory goal's
    /// largest term (boxed key, path and fingerprint; no spare capacity).
    #[test]
    fn a_cursor_is_at_most_80_bytes() {
        assert!(
            std::mem::size_of::<Cursor>() <= 80,
            "{}",
            std::mem::size_of::<Cursor>()
        );
        assert!(std::mem::size_of::<Identity>() <= 32);
    }
}
