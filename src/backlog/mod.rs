//! The backlog: cursors + files on disk -> per-file states, totals and a verdict.
//!
//! This module holds the model every shipper shares. [`assess`] is the engine; [`combine`]
//! gives the verdict over all shippers.

mod assess;
mod candidates;
pub mod incremental;
mod order;
mod tail;
mod verdict;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub use assess::assess;
#[cfg(any(test, feature = "testkit"))]
pub(crate) use assess::totals as totals_of;
pub use order::{backlog_order, top};
pub use tail::TailCache;
pub use verdict::{combine, delivery_provable, shipper_verdict, UNREADABLE_INPUT};

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
    pub path: Arc<Path>,
    /// Store keys of the entries for this file (several for container streams).
    pub keys: Vec<Arc<str>>,
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
    /// What the shipper's queues still hold beyond the files' bytes.
    #[serde(flatten)]
    pub queue: QueueTotals,
}

/// What delivery-side queues still owe, summed over the pending signals: the figures the
/// file bytes do not show (a queue can owe everything while every file is read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueTotals {
    /// Events or messages queued in the shippers.
    pub queued_events: u64,
    /// Bytes in the shippers' queue files and buffers (disk-queue segments, chunks).
    pub queued_bytes: u64,
    /// Queue files or chunks holding data (Filebeat disk-queue segments, Fluent Bit chunks).
    pub queue_files: u64,
    /// Bytes written to TCP connections and not yet acknowledged by the receiver.
    pub unacked_bytes: u64,
    /// The receivers (`address:port`) still owed those bytes.
    pub receivers: Vec<String>,
}

impl QueueTotals {
    /// The sum over `queues`' pending signals.
    pub fn of(queues: &[QueueSignal]) -> QueueTotals {
        let mut t = QueueTotals::default();
        for q in queues {
            if let crate::cursor::QueueState::Pending { owed, .. } = &q.state {
                t.queued_events = t
                    .queued_events
                    .saturating_add(owed.queued_events.unwrap_or(0));
                t.queued_bytes = t
                    .queued_bytes
                    .saturating_add(owed.queued_bytes.unwrap_or(0));
                t.queue_files = t.queue_files.saturating_add(owed.queue_files.unwrap_or(0));
                t.unacked_bytes = t
                    .unacked_bytes
                    .saturating_add(owed.unacked_bytes.unwrap_or(0));
                t.receivers.extend(owed.receivers.iter().cloned());
            }
        }
        t.receivers.sort();
        t.receivers.dedup();
        t
    }

    /// True when no queue counts anything owed.
    pub fn is_empty(&self) -> bool {
        self.queued_events == 0
            && self.queued_bytes == 0
            && self.queue_files == 0
            && self.unacked_bytes == 0
    }

    /// The figures in words, each with its unit: `24130 queued messages, 7.8 MiB
    /// unacknowledged by 127.0.0.1:5514`; empty when nothing is counted.
    pub fn phrase(&self) -> String {
        let mut parts = Vec::new();
        if self.queued_events > 0 {
            parts.push(format!("{} queued events/messages", self.queued_events));
        }
        match (self.queued_bytes, self.queue_files) {
            (0, 0) => {}
            (0, n) => parts.push(format!("{n} queue file(s)/chunk(s)")),
            (b, 0) => parts.push(format!("{} queued", crate::display::bytes(b))),
            (b, n) => parts.push(format!(
                "{} queued in {n} file(s)/chunk(s)",
                crate::display::bytes(b)
            )),
        }
        if self.unacked_bytes > 0 {
            let to = if self.receivers.is_empty() {
                String::new()
            } else {
                format!(" by {}", self.receivers.join(", "))
            };
            parts.push(format!(
                "{} unacknowledged{to}",
                crate::display::bytes(self.unacked_bytes)
            ));
        }
        parts.join(", ")
    }
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
    /// report lists them in [`backlog_order`] (all of them, unless a summary kept the top ones).
    #[serde(serialize_with = "order::ser_sorted")]
    pub files: Vec<FileReport>,
    /// Files left out of `files` by a summary (`status --json` without `--all`); the
    /// totals still count them.
    #[serde(skip_serializing_if = "is_zero")]
    pub files_omitted: usize,
    pub totals: Totals,
    /// True when the shipper's inputs are known (untracked files can be found). A store that
    /// tracks no file proves nothing when they are not.
    #[serde(skip)]
    pub inputs_known: bool,
    /// This shipper's verdict, and what proved it.
    pub verdict: Verdict,
    pub delivery: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ShipperBacklog {
    /// A copy with only the first `n` files (the most bytes behind, sorted) and the rest counted
    /// as omitted, copying only those `n`: everything else, totals and verdict included, is
    /// the same.
    pub fn summary(&self, n: usize) -> ShipperBacklog {
        let files: Vec<FileReport> = top(&self.files, n).into_iter().cloned().collect();
        ShipperBacklog {
            shipper: self.shipper,
            store: self.store.clone(),
            format: self.format.clone(),
            offset_meaning: self.offset_meaning,
            queues: self.queues.clone(),
            skipped: self.skipped.clone(),
            notes: self.notes.clone(),
            files_omitted: self.files_omitted + (self.files.len() - files.len()),
            files,
            totals: self.totals.clone(),
            inputs_known: self.inputs_known,
            verdict: self.verdict,
            delivery: self.delivery.clone(),
        }
    }

    /// Keeps the first `n` files (the most bytes behind) and counts the rest as omitted:
    /// the `n` are selected, and only they are sorted.
    pub fn keep_top(&mut self, n: usize) {
        if self.files.len() > n {
            self.files_omitted += self.files.len() - n;
            // Ties broken by position: the first n of a stable sort, as before.
            let files = &self.files;
            let by =
                |a: &usize, b: &usize| order::backlog_order(&files[*a], &files[*b]).then(a.cmp(b));
            let mut idx: Vec<usize> = (0..files.len()).collect();
            if n > 0 {
                idx.select_nth_unstable_by(n - 1, by);
            }
            idx.truncate(n);
            idx.sort_unstable_by(by);
            let mut slots: Vec<Option<FileReport>> = std::mem::take(&mut self.files)
                .into_iter()
                .map(Some)
                .collect();
            self.files = idx.iter().filter_map(|&i| slots[i].take()).collect();
        }
    }
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
    /// Which files get a report of their own.
    pub detail: Detail,
}

/// Which files an assessment reports one by one. The totals and the verdict count every file
/// either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// Every file (`wait`, the exporter, `status --all`).
    #[default]
    Every,
    /// What a report of the top `n` files can show: every file that is not shipped, and of
    /// the shipped ones at their recorded path only those that can still be among the first
    /// `n` in [`backlog_order`] (the first by path, as many as the files that block leave
    /// room for). The others are counted in [`ShipperBacklog::files_omitted`]: 10^6 files at
    /// their end cost a counter, not a report each.
    Top(usize),
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
    /// What the shippers' queues still owe beyond `bytes_behind`.
    #[serde(flatten)]
    pub queue: QueueTotals,
    pub shippers: Vec<ShipperBacklog>,
}

impl Assessment {
    /// A copy that lists at most `n` files per store ([`ShipperBacklog::summary`]): the
    /// verdicts, totals, queues and notes are the whole assessment's.
    pub fn summary(&self, n: usize) -> Assessment {
        Assessment {
            verdict: self.verdict,
            bytes_behind: self.bytes_behind,
            queue: self.queue.clone(),
            shippers: self.shippers.iter().map(|s| s.summary(n)).collect(),
        }
    }

    /// What is still owed, in words with units: `12.0 MiB in 3 file(s)` and the queues'
    /// figures (the files' part left out when only the queues owe).
    pub fn owed_phrase(&self) -> String {
        let files: usize = self.shippers.iter().map(|s| s.totals.blocking_files).sum();
        if self.bytes_behind == 0 && self.queue.is_empty() {
            let held = self.shippers.iter().any(|s| {
                s.queues
                    .iter()
                    .any(|q| matches!(q.state, crate::cursor::QueueState::Pending { .. }))
            });
            if held {
                return "0 B in files; a queue still holds data (see its line)".into();
            }
        }
        let mut parts = Vec::new();
        if self.bytes_behind > 0 || self.queue.is_empty() {
            parts.push(format!(
                "{} in {files} file(s)",
                crate::display::bytes(self.bytes_behind)
            ));
        }
        let q = self.queue.phrase();
        if !q.is_empty() {
            parts.push(q);
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod queue_totals_tests {
    use super::*;
    use crate::cursor::{Owed, QueueState};

    fn store(queues: Vec<QueueSignal>) -> ShipperBacklog {
        crate::testkit::report::backlog(ShipperKind::Rsyslog, "/s")
            .meaning(OffsetMeaning::Read)
            .queues(queues)
            .build()
    }

    #[test]
    fn queue_figures_add_up_and_a_shared_signal_counts_once() {
        let tcp = QueueSignal {
            source: "TCP send queues of pid 7".into(),
            state: QueueState::owed(
                "x",
                Owed {
                    unacked_bytes: Some(1000),
                    receivers: vec!["127.0.0.1:5514".into()],
                    ..Default::default()
                },
            ),
        };
        let q = |source: &str, events| QueueSignal {
            source: source.into(),
            state: QueueState::owed(
                "y",
                Owed {
                    queued_events: Some(events),
                    ..Default::default()
                },
            ),
        };
        // Two stores of one process: each has its own queue, both the process's sockets.
        let a = combine(vec![
            store(vec![q("impstats a", 3), tcp.clone()]),
            store(vec![q("impstats b", 4), tcp]),
        ]);
        assert_eq!(a.verdict, Verdict::Behind);
        assert_eq!(a.shippers[0].totals.queue.unacked_bytes, 1000);
        assert_eq!(a.queue.queued_events, 7);
        assert_eq!(a.queue.unacked_bytes, 1000, "the shared sockets count once");
        assert_eq!(a.queue.receivers, ["127.0.0.1:5514"]);
        assert_eq!(
            a.owed_phrase(),
            "7 queued events/messages, 1000 B unacknowledged by 127.0.0.1:5514"
        );
    }
}
