//! The backlog: cursors + files on disk -> per-file states, totals and a verdict.
//!
//! This module holds the model every shipper shares. [`assess`] is the engine; [`combine`]
//! gives the verdict over all shippers.

mod assess;
mod candidates;
mod order;
mod tail;
mod verdict;

use std::path::PathBuf;

use serde::Serialize;

pub use assess::assess;
pub use order::{backlog_order, top};
pub use tail::TailCache;
pub use verdict::{combine, delivery_provable, shipper_verdict};

use crate::cursor::{OffsetMeaning, QueueSignal, ShipperKind, SkippedEntries};
use crate::root::Root;

/// The state of one tracked (or trackable) file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FileState {
    /// offset == size: everything is shipped.
    Shipped,
    /// `bytes` still to ship.
    Behind { bytes: u64 },
    /// Only an unterminated last line of `bytes` is left; the shipper waits for a newline.
    /// Reported, never blocking.
    PartialTail { bytes: u64 },
    /// No newline in the first `limit` bytes after the offset: the line there is longer than
    /// the limit (the shipper's maximum line length, `shipper_limit`, or drainguard's read cap
    /// when the shipper has none or a larger one). It ships nothing of it until a newline
    /// arrives; drainguard read no further. Reported loudly, never blocking.
    LongLine {
        bytes: u64,
        limit: u64,
        shipper_limit: Option<u64>,
    },
    /// offset > size: truncated (copytruncate) and not yet re-read. Pending until the shipper
    /// notices; blocks with `size` bytes (the whole new content) unknown-shipped.
    Truncated { offset: u64, size: u64 },
    /// The entry's file now lives under another name in the same directory.
    Rotated {
        #[serde(serialize_with = "crate::display::ser_path")]
        now_at: PathBuf,
        behind: u64,
    },
    /// Deleted but still held open by the shipper (pid): `behind` bytes left in it.
    OpenDeleted { pid: u32, behind: u64 },
    /// Deleted and not held open: nothing is left to ship.
    Gone,
    /// Matches an input but has no store entry: all of it is backlog.
    Untracked { bytes: u64 },
    /// The shipper will never ingest this file by design (shorter than the fingerprint
    /// window, older than ignore_older ...). Reported, never blocking.
    Ignored { reason: String },
    /// The offset cannot be compared with the file (line counts, decompressed offsets).
    Incomparable { reason: String },
}

impl FileState {
    /// Bytes that keep the host from being drained, 0 when this state does not block.
    pub fn blocking_bytes(&self) -> u64 {
        match self {
            FileState::Behind { bytes } | FileState::Untracked { bytes } => *bytes,
            FileState::Truncated { size, .. } => (*size).max(1),
            FileState::Rotated { behind, .. } | FileState::OpenDeleted { behind, .. } => *behind,
            FileState::Shipped
            | FileState::PartialTail { .. }
            | FileState::LongLine { .. }
            | FileState::Gone
            | FileState::Ignored { .. }
            | FileState::Incomparable { .. } => 0,
        }
    }

    /// True when this file keeps the host from being drained.
    pub fn blocks(&self) -> bool {
        self.blocking_bytes() > 0
    }

    /// A short lowercase name for tables and logs.
    pub fn name(&self) -> &'static str {
        match self {
            FileState::Shipped => "shipped",
            FileState::Behind { .. } => "behind",
            FileState::PartialTail { .. } => "partial-tail",
            FileState::LongLine { .. } => "long-line",
            FileState::Truncated { .. } => "truncated",
            FileState::Rotated { .. } => "rotated",
            FileState::OpenDeleted { .. } => "open-deleted",
            FileState::Gone => "gone",
            FileState::Untracked { .. } => "untracked",
            FileState::Ignored { .. } => "ignored",
            FileState::Incomparable { .. } => "incomparable",
        }
    }
}

/// One file in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// Host path of the file (the entry's recorded path when the file is gone).
    #[serde(serialize_with = "crate::display::ser_path")]
    pub path: PathBuf,
    /// Store keys of the entries for this file (several for container streams).
    pub keys: Vec<String>,
    /// The offset used (the minimum over the live entries), when there is an entry.
    pub offset: Option<u64>,
    /// The size on disk, when the file exists.
    pub size: Option<u64>,
    #[serde(flatten)]
    pub state: FileState,
}

/// Per-shipper totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub files: usize,
    pub blocking_files: usize,
    pub bytes_behind: u64,
    pub partial_tail_bytes: u64,
    /// Count of files per state name.
    pub by_state: std::collections::BTreeMap<&'static str, usize>,
}

/// The backlog of one shipper.
#[derive(Debug, Clone, Serialize)]
pub struct ShipperBacklog {
    pub shipper: ShipperKind,
    #[serde(serialize_with = "crate::display::ser_path")]
    pub store: PathBuf,
    pub format: String,
    pub offset_meaning: OffsetMeaning,
    pub queues: Vec<QueueSignal>,
    pub skipped: Vec<SkippedEntries>,
    pub notes: Vec<String>,
    /// Every file, in no particular order: [`top`] gives the most blocking ones, and the JSON
    /// report lists them in [`backlog_order`].
    #[serde(serialize_with = "order::ser_sorted")]
    pub files: Vec<FileReport>,
    pub totals: Totals,
    /// True when the shipper's inputs are known (untracked files can be found). A store that
    /// tracks no file proves nothing when they are not.
    #[serde(skip)]
    pub inputs_known: bool,
    /// This shipper's verdict, and what proved it.
    pub verdict: Verdict,
    pub delivery: String,
}

/// Where the backlog is read: the root and the shipper's processes (for open-deleted files).
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub root: Root,
    /// Pids of the shipper's processes, whose `/proc/<pid>/fd` holds deleted-but-open files.
    pub shipper_pids: Vec<u32>,
    /// Receivers the shipper has been seen sending to, remembered across assessments.
    pub peers: crate::process::sockets::Peers,
    /// The shipper's TCP send queues, read once for all its stores in one assessment.
    pub send_queues: std::sync::OnceLock<crate::cursor::QueueSignal>,
    /// What the pending bytes of behind files hold, remembered across assessments.
    pub tails: tail::TailCache,
}

/// The verdict over all shippers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No file is behind and every delivery-side signal is empty.
    Drained,
    /// Bytes are behind, or a queue holds data.
    Behind,
    /// Every file is read, but nothing proves the read data was delivered (no queue signal).
    Unconfirmed,
}

/// The backlog of every shipper, with one verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub verdict: Verdict,
    pub bytes_behind: u64,
    pub shippers: Vec<ShipperBacklog>,
}
