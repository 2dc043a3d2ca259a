//! Fluent Bit `in_tail` DB: SQLite table `in_tail_files(id, name, offset, inode, created,
//! rotated[, offset_marker, offset_marker_size])`.
//!
//! Read as an in-memory image of the DB with its `-wal`'s committed transactions applied
//! (rows that live only in the WAL are seen), so nothing is ever written or locked. Identity is the inode (no device); the row with
//! the highest `id` per inode wins, as in Fluent Bit's `SELECT .. ORDER BY id DESC`. Offsets
//! mean "read": delivery needs the HTTP API's storage/output metrics or the input's chunks
//! on disk. One store per `tail` input of the config: `config` finds them, `db` reads a
//! DB, `chunks` lists what is buffered on disk.

mod chunks;
mod config;
mod db;
mod image;

use std::path::PathBuf;

use crate::cursor::{InputSpec, OffsetMeaning, ShipperKind, StoreSnapshot};
use crate::error::StoreError;

use super::common;
use super::{Readers, SourceOptions, StoreReader};

pub use chunks::chunk_signal;
pub use config::{parse_classic, parse_yaml, FluentBitConf, TailInput};
pub use db::{read_db, read_image};

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
            stores.push((Store::Db(db), input));
        }
    } else if let Some(conf_path) = conf_path.filter(|_| !conf.inputs.is_empty()) {
        for input in &conf.inputs {
            let paths = input.path.join(", ");
            let store = match &input.db {
                Some(db) if common::unexpanded(&db.to_string_lossy()) => Store::Unknown {
                    config: conf_path.clone(),
                    why: format!(
                        "tail input {} (Path {paths}): DB {} holds a variable drainguard cannot \
                         expand; give the DB with --store",
                        input.instance,
                        db.display()
                    ),
                },
                Some(db) => Store::Db(root.host_to_local(db)),
                None => Store::Unknown {
                    config: conf_path.clone(),
                    why: format!(
                        "tail input {} (Path {paths}) has no DB: Fluent Bit records its progress \
                         nowhere, so what it still owes cannot be known; set `DB` on the input",
                        input.instance
                    ),
                },
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
                storage: storage.clone(),
                notes: notes.clone(),
                root: root.clone(),
            }) as Box<dyn StoreReader>
        })
        .collect())
}

/// Where a tail input's progress is recorded.
enum Store {
    /// Its `DB` (which Fluent Bit creates when the input starts).
    Db(PathBuf),
    /// Nowhere drainguard can read (no `DB`, or one with a variable in its path); the config
    /// file stands in as the store's name.
    Unknown { config: PathBuf, why: String },
}

struct FluentBitReader {
    store: Store,
    /// The config's `Emitter_Name`s (inputs holding re-emitted records).
    emitters: Vec<String>,
    /// The config's input for this store (unknown for a `--store` the config does not name).
    input: Option<TailInput>,
    http: Option<String>,
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
        let mut v = match &self.store {
            Store::Db(db) => common::parent_dir(db),
            Store::Unknown { .. } => Vec::new(),
        };
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
            Store::Db(db) if !db.exists() && self.input.is_some() => common::not_written_yet(
                ShipperKind::FluentBit,
                (db, &self.root.local_to_host(db)),
                ("fluent-bit in_tail_files", OffsetMeaning::Read),
                "Fluent Bit creates the DB when the input starts",
                &format!("input {name}"),
            ),
            Store::Db(db) => read_db(db)?,
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
            snap.queues.push(super::http::fluentbit_storage(
                base,
                api_name,
                &self.emitters,
            ));
            snap.notes.extend(super::http::fluentbit_dropped(base));
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
