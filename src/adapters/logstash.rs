//! Logstash file input sincedb: lines `inode major minor pos [last_active path...]`.
//!
//! Identity is inode + device; the device is rebuilt as `makedev(major, minor)` so it compares
//! with `st_dev`. Offsets mean "accepted into the pipeline queue".

use std::path::{Path, PathBuf};

use crate::cursor::{Cursor, Identity, OffsetMeaning, ShipperKind, StoreSnapshot};
use crate::error::{Position, StoreError};

use super::common;
use super::{SourceOptions, StoreReader};

/// Default `path.data` of the deb/rpm packages.
pub const DEFAULT_DATA: &str = "/var/lib/logstash";

/// Opens the sincedb files: `--store` (one file), else every `.sincedb_*` under
/// `<path.data>/plugins/inputs/file/`.
pub fn open(opts: &SourceOptions) -> Result<Option<Box<dyn StoreReader>>, StoreError> {
    let data = opts
        .data_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    let dir = opts.root.host_to_local(&data.join("plugins/inputs/file"));
    let files = if let Some(found) = common::locate(opts, "logstash", &[])? {
        vec![found]
    } else {
        let mut v: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(".sincedb_"))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    };
    if files.is_empty() {
        if opts.data_path.is_some() || opts.config.is_some() {
            return Err(StoreError::NotFound {
                shipper: "logstash",
                looked_in: dir.display().to_string(),
                flag: "--store",
            });
        }
        return Ok(None);
    }
    Ok(Some(Box::new(LogstashReader { files, dir })))
}

struct LogstashReader {
    files: Vec<PathBuf>,
    dir: PathBuf,
}

impl StoreReader for LogstashReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Logstash
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        let mut v = self.files.clone();
        v.push(self.dir.clone());
        v
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut all: Option<StoreSnapshot> = None;
        for f in &self.files {
            let s = parse(f, &common::read_bytes(f)?)?;
            match &mut all {
                None => all = Some(s),
                Some(a) => a.cursors.extend(s.cursors),
            }
        }
        all.ok_or_else(|| StoreError::NotFound {
            shipper: "logstash",
            looked_in: self.dir.display().to_string(),
            flag: "--store",
        })
    }
}

/// `makedev` as glibc computes it (what `st_dev` holds for `major:minor`).
pub fn makedev(major: u64, minor: u64) -> u64 {
    libc::makedev(major as libc::c_uint, minor as libc::c_uint)
}

/// Parses one sincedb file.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<StoreSnapshot, StoreError> {
    let mut snap = common::snapshot(
        ShipperKind::Logstash,
        path,
        "logstash sincedb",
        OffsetMeaning::Buffered,
    );
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
            key: format!("{ino} {major} {minor}"),
            identity: Identity::DevInode {
                dev: makedev(major, minor),
                ino,
            },
            path: file.map(common::path_from_bytes),
            offset,
            unit: Default::default(),
        });
    }
    snap.queues.push(common::unknown_queue(
        "logstash pipeline",
        "enable the monitoring API (api.enabled: true, api.http.port 9600) so _node/stats/pipelines can be checked",
    ));
    Ok(snap)
}
