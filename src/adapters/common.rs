//! Helpers shared by the adapters: locating a store and building snapshots.

use std::path::{Path, PathBuf};

use crate::cursor::{OffsetMeaning, QueueSignal, QueueState, ShipperKind, StoreSnapshot};
use crate::error::StoreError;
use crate::root::Root;
use crate::safe_read::{self, Limit};

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

/// Reads a whole store file through [`crate::safe_read`] (regular files only, at most
/// [`Limit::STORE`]), naming it in the error.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, StoreError> {
    safe_read::read(path, Limit::STORE)
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

/// Where one store's progress is recorded, as an adapter finds it. Every adapter opens its
/// stores through the same cascade:
///
/// 1. named by the user (`--store`, the settings file): it must exist, else an error
///    ([`locate`]);
/// 2. from the shipper's config: [`Store::configured`], unknown (the verdict "unconfirmed",
///    saying why) when the path holds a variable only the shipper can expand;
/// 3. a default location: the first that exists ([`locate`]); none is fine (the shipper is
///    not on this host);
/// 4. a store the shipper has not written yet reads as nothing recorded, so every file of its
///    inputs is behind ([`not_written_yet`]).
#[derive(Debug, Clone)]
pub enum Store {
    /// A file (or directory) the shipper writes, local path.
    File(PathBuf),
    /// Nowhere drainguard can read; the config file stands in as the store's name.
    Unknown { config: PathBuf, why: String },
}

impl Store {
    /// The store a shipper's `config` names at `path` (a host path, mapped under `root`):
    /// unknown, saying `why(path)`, when it holds a variable only the shipper can expand.
    pub fn configured(
        root: &Root,
        path: &Path,
        config: &Path,
        why: impl FnOnce(&str) -> String,
    ) -> Store {
        let text = path.to_string_lossy();
        if unexpanded(&text) {
            Store::unknown(config, why(&text))
        } else {
            Store::File(root.host_to_local(path))
        }
    }

    /// A store drainguard cannot read, named by `config`, saying why.
    pub fn unknown(config: &Path, why: String) -> Store {
        Store::Unknown {
            config: config.to_path_buf(),
            why,
        }
    }

    /// The directory whose changes mean the store changed (none for an unknown store).
    pub fn parent_dir(&self) -> Vec<PathBuf> {
        match self {
            Store::File(p) => parent_dir(p),
            Store::Unknown { .. } => Vec::new(),
        }
    }
}

/// The snapshot of a store the shipper has not written yet: `empty` (what the store reads as
/// when it records nothing: no cursor, so every file of its inputs is untracked), with a
/// note naming it as the host does (`shown`), who creates it and when (`writer`), and for what
/// (`what`). The one way every adapter says "not written yet".
pub fn not_written_yet(
    mut empty: StoreSnapshot,
    shown: &Path,
    writer: &str,
    what: &str,
) -> StoreSnapshot {
    empty.notes.push(format!(
        "{} does not exist yet ({writer}): nothing of {what} is recorded as read",
        shown.display()
    ));
    empty
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
        let text = read_config_file(&local)?;
        return Ok(Some((local, text)));
    }
    for d in defaults {
        let local = opts.root.host_to_local(Path::new(d));
        if let Some(text) = safe_read::read_text_if_exists(&local, Limit::CONFIG)? {
            return Ok(Some((local, text)));
        }
    }
    Ok(None)
}

/// Reads a config file through [`crate::safe_read`]: regular files only, at most
/// [`Limit::CONFIG`], UTF-8. (The YAML/TOML parsers check the nesting depth first:
/// [`safe_read::check_nesting`].)
pub fn read_config_file(path: &Path) -> Result<String, StoreError> {
    safe_read::read_text(path, Limit::CONFIG)
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

/// A boolean as a Go shipper reads it from YAML: yaml.v2's YAML 1.1 words (`yes`, `on`,
/// `y` ...) and, as its config loader casts them, the strings `"true"`, `"1"` ...; `None`
/// for anything else.
pub fn go_yaml_bool(v: &serde_yaml_ng::Value) -> Option<bool> {
    if let Some(b) = v.as_bool() {
        return Some(b);
    }
    match v.as_str()?.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" | "1" | "t" => Some(true),
        "false" | "no" | "n" | "off" | "0" | "f" => Some(false),
        _ => None,
    }
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
