//! Fixtures of drainguard's own model, for unit tests of what consumes an assessment (the wait
//! loop's memory, the metrics, the report): a store's [`ShipperBacklog`] built from its files
//! and queue signals with the engine's own totals and verdict, file reports, cursors and
//! snapshots. One way to build them; a test states only what it is about.

use std::path::{Path, PathBuf};

use crate::backlog::{Assessment, FileReport, FileState, ShipperBacklog, Totals, Verdict};
use crate::cursor::{
    Cursor, Identity, InputSpec, OffsetMeaning, OffsetUnit, QueueSignal, ShipperKind, StoreSnapshot,
};

/// A store's backlog being built: Filebeat-like defaults (offsets that mean "delivered",
/// inputs known, no queue signal, no file) until told otherwise.
#[derive(Debug, Clone)]
pub struct Backlog(ShipperBacklog);

/// The backlog of `shipper`'s store `store`.
pub fn backlog(shipper: ShipperKind, store: &str) -> Backlog {
    Backlog(ShipperBacklog {
        shipper,
        store: PathBuf::from(store),
        format: "test".into(),
        offset_meaning: OffsetMeaning::Delivered,
        queues: vec![],
        skipped: vec![],
        notes: vec![],
        files: vec![],
        files_omitted: 0,
        totals: Totals::default(),
        inputs_known: true,
        verdict: Verdict::Behind,
        delivery: String::new(),
    })
}

impl Backlog {
    /// Its files (the totals are counted from them, as the engine counts them).
    pub fn files(mut self, files: Vec<FileReport>) -> Self {
        self.0.files = files;
        self
    }
    /// What its offsets prove.
    pub fn meaning(mut self, m: OffsetMeaning) -> Self {
        self.0.offset_meaning = m;
        self
    }
    /// Its delivery-side signals.
    pub fn queues(mut self, q: Vec<QueueSignal>) -> Self {
        self.0.queues = q;
        self
    }
    /// Whether the shipper's inputs are known (untracked files can be looked for).
    pub fn inputs_known(mut self, known: bool) -> Self {
        self.0.inputs_known = known;
        self
    }
    /// The store format shown.
    pub fn format(mut self, f: &str) -> Self {
        self.0.format = f.into();
        self
    }
    /// The backlog, with the engine's totals and verdict.
    pub fn build(self) -> ShipperBacklog {
        let mut b = self.0;
        let queue = crate::backlog::QueueTotals::of(&b.queues);
        b.totals = Totals {
            queue,
            ..crate::backlog::totals_of(&b.files, 0)
        };
        (b.verdict, b.delivery) = crate::backlog::shipper_verdict(&b);
        b
    }
    /// The assessment of this store alone.
    pub fn assessment(self) -> Assessment {
        crate::backlog::combine(vec![self.build()])
    }
}

/// The report of the file `path` (its one store key `key`) at `offset` of `size` bytes.
pub fn file(path: &str, key: &str, offset: u64, size: Option<u64>, state: FileState) -> FileReport {
    FileReport {
        path: Path::new(path).into(),
        keys: vec![key.into()],
        offset: Some(offset),
        size,
        state,
    }
}

/// The report of `path` (also its key), read from 0 with `bytes` behind.
pub fn behind(path: &str, bytes: u64) -> FileReport {
    file(path, path, 0, Some(bytes), FileState::Behind { bytes })
}

/// A byte cursor of the file `path` under `key`.
pub fn cursor(key: &str, identity: Identity, path: Option<&str>, offset: u64) -> Cursor {
    Cursor {
        key: key.into(),
        identity,
        path: path.map(|p| Path::new(p).into()),
        offset,
        unit: OffsetUnit::Bytes,
    }
}

/// A snapshot of `shipper`'s store `store` holding `cursors` (offsets that mean "delivered",
/// no input, no queue signal, no line limit).
pub fn snapshot(shipper: ShipperKind, store: &str, cursors: Vec<Cursor>) -> StoreSnapshot {
    StoreSnapshot {
        shipper,
        store: PathBuf::from(store),
        format: "test".into(),
        cursors,
        skipped: vec![],
        inputs: vec![],
        offset_meaning: OffsetMeaning::Delivered,
        queues: vec![],
        notes: vec![],
        max_line_bytes: None,
    }
}

/// An input of the glob `glob` (named after it).
pub fn input(glob: &str) -> InputSpec {
    InputSpec::globs(glob, &[glob.to_string()], &[])
}

/// The unknown queue signals of a snapshot, each as `source: hint`.
pub fn unknowns(s: &StoreSnapshot) -> Vec<String> {
    s.queues
        .iter()
        .filter_map(|q| match &q.state {
            crate::cursor::QueueState::Unknown { hint } => Some(format!("{}: {hint}", q.source)),
            _ => None,
        })
        .collect()
}
