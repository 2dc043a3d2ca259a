//! Fluentd `in_tail` pos_file: lines `path\t<pos %016x>\t<inode %016x>`.
//!
//! The file is rewritten in place (no rename), so a reader can see a torn last line or a
//! half-compacted file: the last unterminated line is ignored and noted. `ffffffffffffffff`
//! marks an unwatched entry (rotated away), which is skipped and counted. Identity is path +
//! inode; offsets mean "accepted into Fluentd's buffer".

use std::path::{Path, PathBuf};

use crate::cursor::{Cursor, Identity, OffsetMeaning, ShipperKind, SkippedEntries, StoreSnapshot};
use crate::error::{Position, StoreError};

use super::common;
use super::{Readers, SourceOptions, StoreReader};

const UNWATCHED: u64 = u64::MAX;

/// Opens the pos_file named by `--store` or by `pos_file` in the Fluentd config.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let mut candidates = Vec::new();
    let config = opts
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/fluent/fluentd.conf"));
    let local_conf = opts.root.host_to_local(&config);
    let mut monitor = None;
    if local_conf.exists() {
        let text =
            std::fs::read_to_string(&local_conf).map_err(|e| StoreError::io(&local_conf, e))?;
        candidates.extend(pos_files_in_config(&text));
        monitor = monitor_agent_port(&text).map(|p| format!("http://127.0.0.1:{p}"));
    }
    Ok(common::locate(opts, "fluentd", &candidates)?
        .map(|path| Box::new(FluentdReader { path, monitor }) as Box<dyn StoreReader>)
        .into_iter()
        .collect())
}

/// The port of a `<source> @type monitor_agent` (default 24220), when one is configured.
pub fn monitor_agent_port(text: &str) -> Option<u16> {
    let mut in_monitor = false;
    let mut port = None;
    for l in text.lines().map(str::trim) {
        if l.starts_with("<source") {
            in_monitor = false;
            port = None;
        } else if l == "@type monitor_agent" || l == "type monitor_agent" {
            in_monitor = true;
        } else if let Some(p) = l.strip_prefix("port") {
            port = p.trim().parse().ok();
        } else if l.starts_with("</source") && in_monitor {
            return Some(port.unwrap_or(24220));
        }
    }
    None
}

/// The `pos_file` values of a Fluentd config (one per `<source @type tail>`).
pub fn pos_files_in_config(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("pos_file")?;
            if !rest.starts_with(char::is_whitespace) {
                return None;
            }
            let v = rest.trim().trim_matches('"');
            (!v.is_empty()).then(|| PathBuf::from(v))
        })
        .collect()
}

struct FluentdReader {
    path: PathBuf,
    monitor: Option<String>,
}

impl StoreReader for FluentdReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Fluentd
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut snap = parse(&self.path, &common::read_bytes(&self.path)?)?;
        if let Some(base) = &self.monitor {
            snap.queues = vec![super::http::fluentd_monitor(base)];
        }
        Ok(snap)
    }
}

/// Parses a pos_file's bytes. Later lines for the same path win, as in Fluentd.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<StoreSnapshot, StoreError> {
    let mut snap = common::snapshot(
        ShipperKind::Fluentd,
        path,
        "fluentd pos_file",
        OffsetMeaning::Buffered,
    );
    let mut unwatched = 0usize;
    let mut index: std::collections::HashMap<&[u8], usize> = Default::default();
    let mut byte = 0u64;
    let mut lines = bytes.split(|b| *b == b'\n').peekable();
    let mut line_no = 0u64;
    while let Some(line) = lines.next() {
        line_no += 1;
        let start = byte;
        byte += line.len() as u64 + 1;
        let last = lines.peek().is_none();
        if last {
            if !line.is_empty() {
                snap.notes.push(format!(
                    "{}: last line {line_no} has no newline (torn in-place write); ignored, re-read later",
                    path.display()
                ));
            }
            break;
        }
        if line.is_empty() {
            continue;
        }
        let pos = Position {
            line: Some(line_no),
            byte: Some(start),
        };
        let mut fields = line.rsplitn(3, |b| *b == b'\t');
        let (ino, off, name) = match (fields.next(), fields.next(), fields.next()) {
            (Some(i), Some(o), Some(n)) if !n.is_empty() => (i, o, n),
            _ => {
                return Err(StoreError::corrupt(
                    path,
                    pos,
                    "expected `path<TAB>hex position<TAB>hex inode`; the pos_file may be mid-compaction, retry",
                ))
            }
        };
        let offset = hex_field(path, pos, off, "position")?;
        let ino = hex_field(path, pos, ino, "inode")?;
        if offset == UNWATCHED {
            unwatched += 1;
            continue;
        }
        let cursor = Cursor {
            key: String::from_utf8_lossy(name).into_owned(),
            identity: Identity::Inode { ino },
            path: Some(common::path_from_bytes(name)),
            offset,
            unit: Default::default(),
        };
        match index.get(name) {
            Some(&i) => snap.cursors[i] = cursor,
            None => {
                index.insert(name, snap.cursors.len());
                snap.cursors.push(cursor);
            }
        }
    }
    if unwatched > 0 {
        snap.skipped.push(SkippedEntries {
            prefix: "unwatched (ffffffffffffffff)".into(),
            count: unwatched,
        });
    }
    snap.queues.push(common::unknown_queue(
        "fluentd output buffers",
        "add `<source> @type monitor_agent port 24220 </source>` so buffer_total_queued_size can be checked",
    ));
    Ok(snap)
}

fn hex_field(path: &Path, pos: Position, field: &[u8], what: &str) -> Result<u64, StoreError> {
    std::str::from_utf8(field)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 16)
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| {
            StoreError::corrupt(
                path,
                pos,
                format!(
                    "{what} `{}` is not a hex number",
                    String::from_utf8_lossy(field)
                ),
            )
        })
}
