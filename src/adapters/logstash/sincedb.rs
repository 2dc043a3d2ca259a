//! The file input's sincedb: lines `inode major minor pos [last_active path...]`.

use std::path::Path;

use crate::adapters::common;
use crate::cursor::{Cursor, Identity, OffsetMeaning, ShipperKind, StoreSnapshot};
use crate::error::{Position, StoreError};

/// `makedev` as glibc computes it (what `st_dev` holds for `major:minor`).
pub fn makedev(major: u64, minor: u64) -> u64 {
    libc::makedev(major as libc::c_uint, minor as libc::c_uint)
}

/// The format name in reports.
pub(super) const FORMAT: &str = "logstash sincedb";

/// Parses one sincedb file (the delivery signal is the reader's: the node stats API).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<StoreSnapshot, StoreError> {
    let mut snap = common::snapshot(ShipperKind::Logstash, path, FORMAT, OffsetMeaning::Buffered);
    let mut byte = 0u64;
    let n_lines = bytes.split(|b| *b == b'\n').count();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let pos = Position {
            line: Some(i as u64 + 1),
            byte: Some(byte),
        };
        byte += line.len() as u64 + 1;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if i + 1 == n_lines {
            snap.notes.push(format!(
                "{}: last line has no newline (non-atomic write in progress?); ignored",
                path.display()
            ));
            break;
        }
        let mut parts = line.splitn(6, |b| *b == b' ');
        let mut num = |what: &str| -> Result<u64, StoreError> {
            parts
                .next()
                .and_then(|f| std::str::from_utf8(f).ok())
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    StoreError::corrupt(
                        path,
                        pos,
                        format!("{what} is missing or not a number (expected `inode major minor pos [last_active path]`)"),
                    )
                })
        };
        let ino = num("inode")?;
        let major = num("device major")?;
        let minor = num("device minor")?;
        let offset = num("position")?;
        let _last_active = parts.next();
        let file = parts.next().filter(|p| !p.is_empty());
        snap.cursors.push(Cursor {
            key: format!("{ino} {major} {minor}").into(),
            identity: Identity::DevInode {
                dev: makedev(major, minor),
                ino,
            },
            path: file.map(common::path_from_bytes).map(Into::into),
            offset,
            unit: Default::default(),
        });
    }
    Ok(snap)
}
