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
