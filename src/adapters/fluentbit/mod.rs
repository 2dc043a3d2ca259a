//! Fluent Bit `in_tail` DB: SQLite table `in_tail_files(id, name, offset, inode, created,
//! rotated[, offset_marker, offset_marker_size])`.
//!
//! Read as an in-memory image of the DB with its `-wal`'s committed transactions applied
//! (rows that live only in the WAL are seen), so nothing is ever written or locked. Identity is the inode (no device); the row with
//! the highest `id` per inode wins, as in Fluent Bit's `SELECT .. ORDER BY id DESC`. Offsets
//! mean "read": delivery needs the HTTP API's storage/output metrics or the input's chunks
//! on disk. One store per `tail` input of the config: `config` finds them, `db` reads a
//! DB, `chunks` lists what is buffered on disk.

pub mod api;
mod chunks;
mod config;
mod db;

use std::path::PathBuf;

use crate::cursor::{InputSpec, OffsetMeaning, ShipperKind, StoreSnapshot};
use crate::error::StoreError;

use super::common::{self, Store};
use super::{Readers, SourceOptions, StoreReader};

use super::shipper::{getopt, m, Access, Api, ShipperInfo, Target};
pub use chunks::chunk_signal;
pub use config::{parse_classic, parse_yaml, FluentBitConf, TailInput};
pub use db::{read_db, read_image};

/// Fluent Bit (and td-agent-bit).
pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::FluentBit,
    name: "fluent-bit",
    aliases: &["fluentbit", "td-agent-bit"],
    processes: &[m(&["fluent-bit", "td-agent-bit", "flb-pipeline"])],
    flags: &[getopt(&["-c", "--config"], Target::Config)],
    services: &["fluent-bit", "td-agent-bit"],
    config_paths: &[
        "/etc/fluent-bit/fluent-bit.yaml",
        "/etc/fluent-bit/fluent-bit.conf",
    ],
    data_paths: &[],
    // Fluent Bit tail `Buffer_Max_Size`: 32k; a longer line stops the file being tailed
    // unless `Skip_Long_Lines On`.
    max_line_bytes: Some(32 * 1024),
    glob_depth: 32,
    // Classic mode sections, or YAML: `pipeline:` with `inputs:` under it.
    config_syntax: Some(
        r"(?mi)^\s*\[(INPUT|OUTPUT|SERVICE|FILTER)\]\s*$|(?s-i:(?m:^pipeline:).*(?m:^\s*inputs:)|(?m:^\s*inputs:).*(?m:^pipeline:))",
    ),
    api: Some(Api {
        endpoints: &[api::STORAGE, api::METRICS],
        enable: api::ENABLE,
    }),
    access: Access::Reads { open, idle: None },
};

/// Opens every `tail` input of the config (`--config`, else
/// `/etc/fluent-bit/fluent-bit.{yaml,conf}`): one reader per input, each with that input's
/// own delivery signals. An input whose DB does not exist yet reads as "nothing recorded";
/// one without a `DB` cannot be assessed and says so. `--store` names exactly one DB.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let (conf_path, conf) = match common::read_config(
        opts,
        &[
            "/etc/fluent-bit/fluent-bit.yaml",
            "/etc/fluent-bit/fluent-bit.conf",
        ],
    )? {
        Some((local, text)) if local.extension().is_some_and(|e| e == "yaml" || e == "yml") => {
            let conf = parse_yaml(&local, &text)?;
            (Some(local), conf)
        }
        Some((local, text)) => (Some(local), parse_classic(&text)),
        None => (None, FluentBitConf::default()),
    };
    let root = &opts.root;
    let notes: Vec<String> = conf
        .includes
        .iter()
        .map(|i| {
            format!(
                "`{i}` is not followed: inputs it defines are not read, and instance numbers \
                 (tail.N) after it may differ from Fluent Bit's, so chunks and storage metrics \
                 of every tail input count; point --config at one file holding every input"
            )
        })
        .collect();
    let mut stores: Vec<(Store, Option<TailInput>)> = Vec::new();
    if opts.store.is_some() {
        if let Some(db) = common::locate(opts, "fluent-bit", &[])? {
            let input = conf
                .inputs
                .iter()
                .find(|i| i.db.as_ref().is_some_and(|d| root.host_to_local(d) == db))
                .cloned();
            stores.push((Store::File(db), input));
        }
    } else if let Some(conf_path) = conf_path.filter(|_| !conf.inputs.is_empty()) {
        for input in &conf.inputs {
            let paths = input.path.join(", ");
            let store = match &input.db {
                Some(db) => Store::configured(root, db, &conf_path, |db| {
                    format!(
                        "tail input {} (Path {paths}): DB {db} holds a variable drainguard cannot \
                         expand; give the DB with --store",
                        input.instance,
                    )
                }),
                None => Store::unknown(
                    &conf_path,
                    format!(
                        "tail input {} (Path {paths}) has no DB: Fluent Bit records its progress \
                         nowhere, so what it still owes cannot be known; set `DB` on the input",
                        input.instance
                    ),
                ),
            };
            stores.push((store, Some(input.clone())));
        }
    } else {
        // No tail input: an explicit --config is an error naming where we looked.
        common::locate(opts, "fluent-bit", &[])?;
    }
    let storage = conf.storage_path.as_ref().map(|p| root.host_to_local(p));
    Ok(stores
        .into_iter()
        .map(|(store, input)| {
            Box::new(FluentBitReader {
                store,
                emitters: conf.emitters.clone(),
                input,
                http: conf.http.clone(),
                client: opts.http.clone(),
                storage: storage.clone(),
                notes: notes.clone(),
                root: root.clone(),
            }) as Box<dyn StoreReader>
        })
        .collect())
}

struct FluentBitReader {
    /// Its `DB` (which Fluent Bit creates when the input starts), or unknown (no `DB`, or
    /// one with a variable in its path).
    store: Store,
    /// The config's `Emitter_Name`s (inputs holding re-emitted records).
    emitters: Vec<String>,
    /// The config's input for this store (unknown for a `--store` the config does not name).
    input: Option<TailInput>,
    http: Option<String>,
    client: super::http::Http,
    /// `storage.path`, mapped under `--root`.
    storage: Option<PathBuf>,
    notes: Vec<String>,
    root: crate::root::Root,
}

impl StoreReader for FluentBitReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::FluentBit
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        let mut v = self.store.parent_dir();
        v.extend(self.chunks().map(|(dir, instance)| match instance {
            Some(i) => dir.join(i),
            None => dir,
        }));
        v
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let input = self.input.clone().unwrap_or_default();
        let name = if input.instance.is_empty() {
            "tail".to_string()
        } else {
            input.instance.clone()
        };
        let mut snap = match &self.store {
            Store::File(db) if !db.exists() && self.input.is_some() => common::not_written_yet(
                common::snapshot(
                    ShipperKind::FluentBit,
                    db,
                    "fluent-bit in_tail_files",
                    OffsetMeaning::Read,
                ),
                &self.root.local_to_host(db),
                "Fluent Bit creates the DB when the input starts",
                &format!("input {name}"),
            ),
            Store::File(db) => read_db(db)?,
            Store::Unknown { config, why } => {
                let what = format!("fluent-bit {name} progress");
                let mut snap = common::unassessable(ShipperKind::FluentBit, config, &what, why);
                snap.notes.extend(self.notes.iter().cloned());
                return Ok(snap);
            }
        };
        snap.notes.extend(self.notes.iter().cloned());
        snap.inputs
            .push(InputSpec::globs(name, &input.path, &input.exclude));
        if let Some(base) = &self.http {
            let api_name = self.input.as_ref().and_then(TailInput::api_name);
            snap.queues.push(api::fluentbit_storage(
                &self.client,
                base,
                api_name,
                &self.emitters,
            ));
            snap.notes
                .extend(api::fluentbit_dropped(&self.client, base));
        }
        if let Some((dir, instance)) = self.chunks() {
            snap.queues
                .push(chunk_signal(&dir, instance, &self.root.local_to_host(&dir)));
        }
        if let Some(storage) = &self.storage {
            snap.notes
                .extend(chunks::rejected_note(&storage.join("rejected")));
        }
        if snap.queues.is_empty() {
            snap.queues.push(common::unknown_queue(
                "fluent-bit engine",
                "set `HTTP_Server On` (and storage.metrics on) in [SERVICE] so /api/v1/storage can be \
                 checked, or buffer the input on disk (storage.path + storage.type filesystem)",
            ));
        }
        Ok(snap)
    }
}

impl FluentBitReader {
    /// `storage.path` and this input's instance (`None`: not certain, every `tail.*`) for a
    /// filesystem-buffered input.
    fn chunks(&self) -> Option<(PathBuf, Option<&str>)> {
        let input = self.input.as_ref().filter(|i| i.fs_storage)?;
        let instance = input.numbered.then_some(input.instance.as_str());
        Some((self.storage.clone()?, instance))
    }
}

#[cfg(test)]
mod tests;
