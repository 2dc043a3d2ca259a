//! Adapters: one per shipper, each reading that shipper's own progress store strictly
//! read-only (never writing, never locking) into a [`StoreSnapshot`].

use std::path::PathBuf;

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
