//! The store of a running shipper drainguard cannot read: one it does not support yet, or a
//! supported one whose store was not found. It tracks no file and its delivery signal is
//! unknown, saying why and what to do, so the verdict is "unconfirmed": never "drained", never
//! "nothing to drain".

use std::path::PathBuf;

use crate::cursor::{OffsetMeaning, ShipperKind, StoreSnapshot};
use crate::error::StoreError;

use super::StoreReader;

/// The format shown for such a store.
pub const FORMAT: &str = "running, not readable";

/// A running shipper process whose progress cannot be read.
pub struct Unreadable {
    pub kind: ShipperKind,
    pub pid: u32,
    /// How the store is named in the report: the shipper's config when its command line
    /// names one, else `/proc/<pid>`.
    pub shown: PathBuf,
    /// Why it cannot be read and what to do, one sentence each.
    pub why: String,
}

impl Unreadable {
    /// What the report says about it: which process, why, what to do.
    pub fn describe(&self) -> &str {
        &self.why
    }
}

impl StoreReader for Unreadable {
    fn shipper(&self) -> ShipperKind {
        self.kind
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        Vec::new()
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut snap = super::common::snapshot(self.kind, &self.shown, FORMAT, OffsetMeaning::Read);
        snap.queues.push(super::common::unknown_queue(
            &format!("{} (pid {})", self.kind, self.pid),
            &self.why,
        ));
        Ok(snap)
    }
}
