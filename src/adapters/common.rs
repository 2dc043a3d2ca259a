//! Helpers shared by the adapters: locating a store and building snapshots.

use std::path::{Path, PathBuf};

use crate::cursor::{OffsetMeaning, QueueSignal, QueueState, ShipperKind, StoreSnapshot};
use crate::error::StoreError;

use super::SourceOptions;

/// Picks the store: the explicit `--store` (must exist), else the first existing candidate
/// (host paths, mapped under `--root`). `Ok(None)` when nothing exists and nothing was asked.
pub fn locate(
    opts: &SourceOptions,
    shipper: &'static str,
    candidates: &[PathBuf],
) -> Result<Option<PathBuf>, StoreError> {
    if let Some(explicit) = &opts.store {
        let local = opts.root.host_to_local(explicit);
        std::fs::metadata(&local).map_err(|e| StoreError::io(&local, e))?;
        return Ok(Some(local));
    }
    let mapped: Vec<PathBuf> = candidates
        .iter()
        .map(|c| opts.root.host_to_local(c))
        .collect();
    if let Some(found) = mapped.iter().find(|p| p.exists()) {
        return Ok(Some(found.clone()));
    }
    if opts.config.is_some() || opts.data_path.is_some() {
        return Err(StoreError::NotFound {
            shipper,
            looked_in: mapped
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            flag: "--store",
        });
    }
    Ok(None)
}

/// Reads a whole file, naming it in the error.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|e| StoreError::io(path, e))
}

/// An empty snapshot for `shipper` read from `store`.
pub fn snapshot(
    shipper: ShipperKind,
    store: &Path,
    format: &str,
    meaning: OffsetMeaning,
) -> StoreSnapshot {
    StoreSnapshot {
        shipper,
        store: store.to_path_buf(),
        format: format.to_string(),
        cursors: Vec::new(),
        skipped: Vec::new(),
        inputs: Vec::new(),
        offset_meaning: meaning,
        queues: Vec::new(),
        notes: Vec::new(),
        max_line_bytes: shipper.default_max_line_bytes(),
    }
}

/// The snapshot of a store drainguard cannot read at all (progress recorded nowhere, or at a
/// path with a variable only the shipper can expand), named by the config that defines it:
/// no cursors and an unknown delivery signal saying why and what to do, so the verdict is
/// "unconfirmed", never "drained".
pub fn unassessable(shipper: ShipperKind, config: &Path, what: &str, why: &str) -> StoreSnapshot {
    let mut snap = snapshot(shipper, config, what, OffsetMeaning::Read);
    snap.queues.push(unknown_queue(what, why));
    snap
}

/// The snapshot of a store the shipper has not written yet (`store`; `shown` is how the host
/// names it): no cursor, so every file of the store's inputs is untracked, and a note saying
/// why (`writer`: who creates it and when) and for what (`what`).
pub fn not_written_yet(
    shipper: ShipperKind,
    (store, shown): (&Path, &Path),
    (format, meaning): (&str, OffsetMeaning),
    writer: &str,
    what: &str,
) -> StoreSnapshot {
    let mut snap = snapshot(shipper, store, format, meaning);
    snap.notes.push(format!(
        "{} does not exist yet ({writer}): nothing of {what} is recorded as read",
        shown.display()
    ));
    snap
}

/// True when a configured path holds a variable only the shipper can expand (`${VAR}`,
/// Ruby's `#{...}` in Fluentd).
pub fn unexpanded(path: &str) -> bool {
    path.contains("${") || path.contains("#{")
}

/// The signal to report when no delivery-side signal is configured.
pub fn unknown_queue(source: &str, hint: &str) -> QueueSignal {
    QueueSignal {
        source: source.to_string(),
        state: QueueState::Unknown {
            hint: hint.to_string(),
        },
    }
}

/// Converts a byte path from a store into a `PathBuf` without loss (non-UTF-8 kept).
pub fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// The directory holding `path` (what to watch for atomic-rename writers), as a list.
pub fn parent_dir(path: &Path) -> Vec<PathBuf> {
    path.parent().map(Path::to_path_buf).into_iter().collect()
}

/// The shipper's config text: `--config` (must be readable), else the first readable default
/// location (host paths, mapped under `--root`). `Ok(None)` when no default exists.
pub fn read_config(
    opts: &SourceOptions,
    defaults: &[&str],
) -> Result<Option<(PathBuf, String)>, StoreError> {
    if let Some(c) = &opts.config {
        let local = opts.root.host_to_local(c);
        let text = std::fs::read_to_string(&local).map_err(|e| StoreError::io(&local, e))?;
        return Ok(Some((local, text)));
    }
    for d in defaults {
        let local = opts.root.host_to_local(Path::new(d));
        match std::fs::read_to_string(&local) {
            Ok(text) => return Ok(Some((local, text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // There but unreadable (permissions, not UTF-8, a directory): skipping it would
            // hide the shipper; say what is wrong with it.
            Err(e) => return Err(StoreError::io(&local, e)),
        }
    }
    Ok(None)
}

/// A JSON parse error of `path` as a corrupt-store error with its line.
pub fn json_error(path: &Path, e: serde_json::Error, what: &str) -> StoreError {
    StoreError::corrupt(
        path,
        crate::error::Position {
            line: Some(e.line() as u64),
            byte: None,
        },
        format!("{what}: {e}"),
    )
}

/// Looks up a dotted key in a YAML document, accepting any mix of dotted and nested keys
/// (`a.b: x` and `a: {b: x}` alike, as Beats' and Logstash's settings do).
pub fn lookup<'a>(v: &'a serde_yaml_ng::Value, key: &str) -> Option<&'a serde_yaml_ng::Value> {
    let serde_yaml_ng::Value::Mapping(map) = v else {
        return None;
    };
    if let Some(hit) = map.get(key) {
        return Some(hit);
    }
    // Try every split point: "a.b.c" as "a" -> "b.c", "a.b" -> "c".
    let mut at = 0;
    while let Some(i) = key[at..].find('.') {
        let (head, rest) = (&key[..at + i], &key[at + i + 1..]);
        if let Some(inner) = map.get(head) {
            if let Some(hit) = lookup(inner, rest) {
                return Some(hit);
            }
        }
        at += i + 1;
    }
    None
}

/// `http://<host>:<port>` for a monitoring API's listen address (a wildcard address means
/// this host); `None` for a unix socket or named pipe.
pub fn http_base(host: &str, port: u64) -> Option<String> {
    if host.contains("://") {
        return None;
    }
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_string(),
    };
    Some(format!("http://{host}:{port}"))
}
