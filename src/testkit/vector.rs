//! Vector `checkpoints.json` as `Checkpointer::write_checkpoints` writes it (compact serde
//! JSON via `checkpoints.new.json` + fsync + rename).

use std::io;
use std::path::Path;

use serde_json::json;

/// A checkpoint fingerprint.
pub enum Fp {
    FirstLines(u64),
    DevInode(u64, u64),
    /// The legacy `checksum` variant (dropped by Vector 0.51).
    Checksum(u64),
}

/// The checkpoints document.
pub fn document(entries: &[(Fp, u64)]) -> String {
    let cps: Vec<_> = entries
        .iter()
        .map(|(fp, pos)| {
            let fp = match fp {
                Fp::FirstLines(v) => json!({ "first_lines_checksum": v }),
                Fp::DevInode(d, i) => json!({ "dev_inode": [d, i] }),
                Fp::Checksum(v) => json!({ "checksum": v }),
            };
            json!({ "fingerprint": fp, "position": pos, "modified": "2026-11-25T01:02:03.456789Z" })
        })
        .collect();
    json!({ "version": "1", "checkpoints": cps }).to_string()
}

/// Writes `<dir>/checkpoints.json` the way Vector does.
pub fn write(dir: &Path, doc: &str) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("checkpoints.new.json");
    std::fs::write(&tmp, doc)?;
    std::fs::rename(tmp, dir.join("checkpoints.json"))
}

/// Writes a disk buffer ledger `<dir>/buffer.db` as Vector's rkyv-archived `LedgerState`
/// (24 bytes, little-endian, `repr(C)`: u64, u16, u16, 4 padding bytes, u64), plus an empty
/// `buffer.lock` as Vector leaves it.
pub fn write_ledger(
    dir: &Path,
    writer_next_record: u64,
    writer_current_data_file: u16,
    reader_current_data_file: u16,
    reader_last_record: u64,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut b = Vec::with_capacity(24);
    b.extend_from_slice(&writer_next_record.to_le_bytes());
    b.extend_from_slice(&writer_current_data_file.to_le_bytes());
    b.extend_from_slice(&reader_current_data_file.to_le_bytes());
    b.extend_from_slice(&[0u8; 4]);
    b.extend_from_slice(&reader_last_record.to_le_bytes());
    std::fs::write(dir.join("buffer.db"), b)?;
    std::fs::write(dir.join("buffer.lock"), b"")
}
