//! Vector's disk buffers (`buffer.type = "disk"` on a sink): `<data_dir>/buffer/v2/<sink id>/`.
//!
//! The ledger `buffer.db` is Vector's `LedgerState` archived with rkyv 0.7 (features `strict`,
//! so `repr(C)`; little-endian on the platforms Vector ships for), 24 bytes, the archived root
//! at the end of the file:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | `writer_next_record` (u64) |
//! | 8..10 | `writer_current_data_file` (u16) |
//! | 10..12 | `reader_current_data_file` (u16) |
//! | 12..16 | padding |
//! | 16..24 | `reader_last_record` (u64) |
//!
//! Record IDs count events; `reader_last_record` advances when the sink *acknowledges* them,
//! so `writer_next_record - reader_last_record - 1` events are still owed (Vector's own
//! `get_total_records`). Vector memory-maps the ledger, so a plain read sees its current values.
//! The file is read, never mapped or locked (Vector holds `buffer.lock`; drainguard does not
//! touch it).

use std::path::Path;

use crate::cursor::{QueueSignal, QueueState};
use crate::error::{Position, StoreError};

/// The size of the archived ledger state.
pub const LEDGER_STATE_LEN: usize = 24;

/// The ledger's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ledger {
    pub writer_next_record: u64,
    pub writer_current_data_file: u16,
    pub reader_current_data_file: u16,
    pub reader_last_record: u64,
}

impl Ledger {
    /// Events written to the buffer and not yet acknowledged by the sink.
    pub fn unacknowledged(&self) -> u64 {
        self.writer_next_record - self.reader_last_record - 1
    }

    /// Decodes `buffer.db`'s bytes (`path` names it in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Ledger, StoreError> {
        let Some(root) = bytes.len().checked_sub(LEDGER_STATE_LEN) else {
            return Err(StoreError::corrupt(
                path,
                Position {
                    line: None,
                    byte: Some(bytes.len() as u64),
                },
                format!(
                    "the ledger is {} bytes, a Vector disk buffer ledger has {LEDGER_STATE_LEN} \
                     (truncated, or not a disk_v2 buffer)",
                    bytes.len()
                ),
            ));
        };
        let b = &bytes[root..];
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u16_at = |i: usize| u16::from_le_bytes(b[i..i + 2].try_into().expect("2 bytes"));
        let ledger = Ledger {
            writer_next_record: u64_at(0),
            writer_current_data_file: u16_at(8),
            reader_current_data_file: u16_at(10),
            reader_last_record: u64_at(16),
        };
        // Vector keeps the writer at least one ID ahead of the reader.
        if ledger.writer_next_record <= ledger.reader_last_record {
            return Err(StoreError::corrupt(
                path,
                Position {
                    line: None,
                    byte: Some(root as u64),
                },
                format!(
                    "writer_next_record {} is not above reader_last_record {}: not a ledger this \
                     version of drainguard understands; check the buffer with Vector's own metrics",
                    ledger.writer_next_record, ledger.reader_last_record
                ),
            ));
        }
        Ok(ledger)
    }
}

/// The delivery signal of one sink's disk buffer directory (`dir` local, `host_dir` for the
/// report). No directory yet: nothing was ever buffered.
pub fn signal(dir: &Path, host_dir: &Path) -> QueueSignal {
    let source = format!("vector disk buffer {}", host_dir.display());
    let ledger_path = dir.join("buffer.db");
    let state = match crate::adapters::common::read_bytes(&ledger_path) {
        Err(e) if e.is_not_found() => QueueState::Empty,
        Err(e) => QueueState::Unknown {
            hint: e.to_string(),
        },
        Ok(bytes) => match Ledger::parse(&ledger_path, &bytes) {
            Err(e) => QueueState::Unknown {
                hint: e.to_string(),
            },
            Ok(l) if l.unacknowledged() == 0 => QueueState::Empty,
            Ok(l) => QueueState::owed(
                format!(
                    "{} event(s) not yet acknowledged by the sink (data files {}..={})",
                    l.unacknowledged(),
                    l.reader_current_data_file,
                    l.writer_current_data_file
                ),
                crate::cursor::Owed {
                    queued_events: Some(l.unacknowledged()),
                    ..Default::default()
                },
            ),
        },
    };
    QueueSignal { source, state }
}
