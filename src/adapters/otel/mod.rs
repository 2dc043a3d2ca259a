//! OpenTelemetry Collector (`otelcol`, `otelcol-contrib`): the `filelog` receiver's offsets
//! in the `file_storage` extension's bbolt files (`bbolt`, `store`), the receivers, storage
//! and pipelines from its YAML (`config`), its internal telemetry as the delivery signal
//! (`api`).
//!
//! Read from the collector's sources (`pkg/stanza/fileconsumer`, `extension/storage/
//! filestorage`), v0.8x to v0.14x: JSON checkpoints with `FirstBytes` (before v0.94) or
//! `first_bytes`, and the protobuf checkpoints of the `filelog.protobufCheckpointEncoding`
//! gate. The file is read without a lock and without writing (see `bbolt`): the collector
//! holds an exclusive `flock` on it while it runs.
//!
//! A file is identified by its first bytes (the fingerprint), nothing else. The offset
//! proves "read": the receiver advances it once records are emitted into the pipeline, before
//! any exporter sent them. Delivery needs the collector's internal metrics (`api`) and the
//! TCP send-queue check; without them the verdict is unconfirmed, saying how to enable them.

pub mod api;
pub mod bbolt;
pub mod config;
pub mod store;

use std::path::{Path, PathBuf};

use crate::cursor::{OffsetMeaning, QueueSignal, ShipperKind, StoreSnapshot};
use crate::error::{Position, StoreError};

use super::common;
use super::shipper::{m, uri_flag, Access, Api, ShipperInfo, Target};
use super::{Readers, SourceOptions, StoreReader};

pub use store::FORMAT;

pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Otelcol,
    name: "otelcol",
    aliases: &["otelcol-contrib", "opentelemetry-collector"],
    processes: &[m(&["otelcol", "otelcol-contrib", "otelcol-k8s"])],
    flags: &[uri_flag(&["--config"], Target::Config)],
    services: &["otelcol", "otelcol-contrib"],
    config_paths: config::CONFIG_PATHS,
    data_paths: &[config::DEFAULT_DIRECTORY],
    // `max_log_size` (1 MiB): a longer entry is cut and emitted, its newline not awaited.
    max_line_bytes: Some(1 << 20),
    // doublestar globs: `**` at any depth.
    glob_depth: 32,
    config_syntax: Some(r"(?m)^receivers:\s*$"),
    api: Some(Api {
        endpoints: &["/metrics"],
        enable: api::ENABLE,
    }),
    // A collector whose config tails no file (OTLP in, traces, metrics) ships no log file.
    access: Access::Reads {
        open,
        idle: Some(ships_nothing),
    },
};

/// True when the collector's config (found and parsed) has no `filelog` receiver in a
/// pipeline: it tails no file, so a running one is left out rather than reported unreadable.
/// A config that cannot be read is not "nothing".
pub fn ships_nothing(opts: &SourceOptions) -> bool {
    matches!(config::load(opts), Ok(c) if c.source.is_some() && c.receivers.is_empty())
}

/// Opens one reader per `filelog` receiver of the config (`--config`, the running
/// collector's `--config`, else the usual paths): its client file in the file_storage
/// directory (`--data-path` overrides the directory). `--store` names one client file.
/// Without a config, the `receiver_filelog_*` files of the default directory.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let cfg = config::load(opts)?;
    let inputs: Vec<crate::cursor::InputSpec> = cfg
        .receivers
        .iter()
        .map(|r| crate::cursor::InputSpec::globs(&r.id, &r.include, &r.exclude))
        .collect();
    let shown_cfg = cfg
        .source
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::CONFIG_PATHS[0]));
    let mut stores: Vec<(common::Store, Vec<crate::cursor::InputSpec>)> = Vec::new();
    if opts.store.is_some() {
        if let Some(p) = common::locate(opts, "otelcol", &[])? {
            stores.push((common::Store::File(p), inputs.clone()));
        }
    } else if cfg.source.is_some() {
        for (r, input) in cfg.receivers.iter().zip(&inputs) {
            let store = match (&opts.data_path, &r.storage) {
                (Some(dir), _) => common::Store::File(
                    opts.root
                        .host_to_local(&dir.join(config::client_file(&r.id))),
                ),
                (None, config::Storage::File(p)) => common::Store::File(opts.root.host_to_local(p)),
                (None, config::Storage::Unknown(why)) => {
                    common::Store::unknown(&shown_cfg, why.clone())
                }
            };
            stores.push((store, vec![input.clone()]));
        }
    } else {
        let dir = opts
            .data_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_DIRECTORY));
        let local = opts.root.host_to_local(&dir);
        let mut found: Vec<PathBuf> = std::fs::read_dir(&local)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| {
                        e.file_name()
                            .as_encoded_bytes()
                            .starts_with(b"receiver_filelog_")
                    })
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        if found.is_empty() && opts.data_path.is_some() {
            return Err(StoreError::NotFound {
                shipper: "otelcol",
                looked_in: format!("{}/receiver_filelog_*", local.display()),
                flag: "--store",
            });
        }
        stores.extend(
            found
                .into_iter()
                .map(|p| (common::Store::File(p), Vec::new())),
        );
    }
    Ok(stores
        .into_iter()
        .map(|(store, inputs)| {
            Box::new(OtelReader {
                shown: match &store {
                    common::Store::File(p) => opts.root.local_to_host(p),
                    common::Store::Unknown { config, .. } => config.clone(),
                },
                store,
                inputs,
                metrics: cfg.metrics.clone(),
                cfg: cfg.clone(),
                http: opts.http.clone(),
            }) as Box<dyn StoreReader>
        })
        .collect())
}

/// One receiver's client file.
pub struct OtelReader {
    store: common::Store,
    shown: PathBuf,
    inputs: Vec<crate::cursor::InputSpec>,
    cfg: config::Config,
    metrics: Result<String, String>,
    http: super::http::Http,
}

/// Reads `file_input.knownFiles` from the bbolt file at `path` (consistently, see
/// [`bbolt::read_value`]). `Ok(None)`: the bucket or key is not there yet.
pub fn read_known(path: &Path) -> Result<Option<Vec<store::Known>>, ReadError> {
    let (file, meta) = crate::safe_read::open_expecting(
        path,
        "a regular file: the collector's file_storage client file (a bbolt database)",
    )
    .map_err(ReadError::Store)?;
    // bbolt creates the file, then writes its first pages: an empty file is a store not
    // written yet (nothing recorded: the files stay untracked, so owed), not a corrupt one.
    if meta.len() == 0 {
        return Ok(None);
    }
    let read = bbolt::read_value(&file, &[store::BUCKET], store::KEY, |n| {
        std::thread::sleep(std::time::Duration::from_millis(5 * n as u64))
    })
    .map_err(|e| match e {
        bbolt::Error::Io(e) => ReadError::Store(StoreError::io(path, e)),
        bbolt::Error::Corrupt { at, what } => ReadError::Store(StoreError::corrupt(
            path,
            Position {
                line: None,
                byte: Some(at),
            },
            format!("bbolt: {what}"),
        )),
        e @ bbolt::Error::Unstable { .. } => ReadError::Unstable(e.to_string()),
    })?;
    match read.value {
        None => Ok(None),
        Some(v) => store::parse(path, &v).map(Some).map_err(ReadError::Store),
    }
}

/// Why [`read_known`] has no entries.
#[derive(Debug)]
pub enum ReadError {
    Store(StoreError),
    /// Every read was overtaken by a commit: unknown, never "nothing read".
    Unstable(String),
}

impl OtelReader {
    fn signal(&self) -> (QueueSignal, Vec<String>) {
        let url = match &self.metrics {
            Ok(u) => u,
            Err(why) => {
                return (
                    common::unknown_queue(
                        "otelcol internal metrics",
                        &format!("{why}; {}", api::ENABLE),
                    ),
                    Vec::new(),
                )
            }
        };
        let source = format!("otelcol internal metrics {url}");
        match self.http.get_text(url) {
            Ok(text) => {
                let (state, notes) = api::state(&self.cfg, &api::parse(&text));
                (super::http::signal(source, state, api::ENABLE), notes)
            }
            Err(e) => (super::http::signal(source, Err(e), api::ENABLE), Vec::new()),
        }
    }
}

impl StoreReader for OtelReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Otelcol
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        self.store.parent_dir()
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let path = match &self.store {
            common::Store::File(p) => p.clone(),
            common::Store::Unknown { config, why } => {
                let mut s = common::unassessable(ShipperKind::Otelcol, config, FORMAT, why);
                s.inputs.extend(self.inputs.iter().cloned());
                return Ok(s);
            }
        };
        let mut snap = common::snapshot(ShipperKind::Otelcol, &path, FORMAT, OffsetMeaning::Read);
        if !path.exists() {
            snap = common::not_written_yet(
                snap,
                &self.shown,
                "the collector creates it when the receiver starts with storage: file_storage",
                "the receiver's files",
            );
        } else {
            match read_known(&path) {
                Ok(Some(known)) => {
                    (snap.cursors, snap.skipped) = store::cursors(&known);
                }
                Ok(None) => snap.notes.push(format!(
                    "{} has no file_input.knownFiles in bucket default yet (the receiver saves \
                     it after its first poll): nothing is recorded as read",
                    self.shown.display()
                )),
                Err(ReadError::Store(e)) => return Err(e),
                Err(ReadError::Unstable(why)) => {
                    let mut s = common::unassessable(ShipperKind::Otelcol, &path, FORMAT, &why);
                    s.inputs.extend(self.inputs.iter().cloned());
                    return Ok(s);
                }
            }
        }
        snap.inputs.extend(self.inputs.iter().cloned());
        let (signal, notes) = self.signal();
        snap.queues.push(signal);
        snap.notes.extend(notes);
        Ok(snap)
    }
}

#[cfg(test)]
mod tests;
