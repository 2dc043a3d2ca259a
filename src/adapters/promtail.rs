//! Promtail `positions.yaml` and Grafana Alloy `positions.yml`.
//!
//! Promtail: `positions: {<path>: "<decimal>"}`; `journal-*`/`cursor-*` keys are not files.
//! Alloy: complex keys `{path, labels}` — several entries per path, the minimum offset counts.
//! Identity is the path only. Offsets of compressed files are line counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cursor::{
    Cursor, Identity, OffsetMeaning, OffsetUnit, ShipperKind, SkippedEntries, StoreSnapshot,
};
use crate::error::{Position, StoreError};

use super::common;
use super::shipper::{flag, m, Access, ShipperInfo, Target};
use super::{Readers, SourceOptions, StoreReader};

/// Promtail.
pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Promtail,
    name: "promtail",
    aliases: &[],
    processes: &[m(&["promtail"])],
    flags: &[flag(&["-config.file", "--config.file"], Target::Config)],
    services: &["promtail"],
    config_paths: &["/etc/promtail/config.yml"],
    data_paths: &[
        "/var/log/positions.yaml",
        "/run/promtail/positions.yaml",
        "/tmp/positions.yaml",
    ],
    // `limits_config.max_line_size` 0 (off): buffers until the newline.
    max_line_bytes: None,
    glob_depth: 32,
    // Promtail / Grafana Agent static mode.
    config_syntax: Some(r"(?m)^scrape_configs:"),
    api: None,
    access: Access::Reads {
        open: open_promtail,
        idle: None,
    },
};

/// Grafana Alloy (and Grafana Agent): Promtail's positions file under its storage path.
pub static ALLOY: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Alloy,
    name: "alloy",
    aliases: &["grafana-agent"],
    processes: &[m(&["alloy", "grafana-agent"])],
    flags: &[flag(&["--storage.path", "-storage.path"], Target::DataPath)],
    services: &["alloy"],
    config_paths: &[],
    data_paths: &["/var/lib/alloy/data"],
    // `limits_config.max_line_size` 0 (off): buffers until the newline.
    max_line_bytes: None,
    glob_depth: 32,
    config_syntax: None,
    api: None,
    access: Access::Reads {
        open: open_alloy,
        idle: None,
    },
};

/// Opens Promtail's positions file: `--store`, else `positions.filename` from the config,
/// else the usual locations.
pub fn open_promtail(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let mut candidates = Vec::new();
    let mut configured = None;
    let mut inputs = Vec::new();
    let conf = opts
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/promtail/config.yml"));
    let local = opts.root.host_to_local(&conf);
    if local.exists() {
        let text = common::read_config_file(&local)?;
        crate::safe_read::check_nesting(&local, text.as_bytes())?;
        #[derive(Deserialize)]
        struct Conf {
            positions: Option<Pos>,
            #[serde(default)]
            scrape_configs: Vec<serde_yaml_ng::Value>,
        }
        #[derive(Deserialize)]
        struct Pos {
            filename: Option<PathBuf>,
        }
        let c: Conf = serde_yaml_ng::from_str(&text).map_err(|e| StoreError::Config {
            path: local.clone(),
            what: e.to_string(),
        })?;
        if let Some(f) = c.positions.and_then(|p| p.filename) {
            configured = Some(opts.root.host_to_local(&f));
            candidates.push(f);
        }
        inputs = c.scrape_configs.iter().flat_map(scrape_inputs).collect();
    }
    let reader = |path: PathBuf, may_be_missing: bool| {
        Box::new(PositionsReader {
            shown: opts.root.local_to_host(&path),
            path,
            kind: ShipperKind::Promtail,
            may_be_missing,
            inputs: inputs.clone(),
        }) as Box<dyn StoreReader>
    };
    // The config names a positions file Promtail has not written yet: still Promtail's
    // store (reported as nothing recorded), not a reason to skip it.
    if let Some(path) = configured.filter(|p| opts.store.is_none() && !p.exists()) {
        return Ok(vec![reader(path, true)]);
    }
    candidates.extend(
        [
            "/var/log/positions.yaml",
            "/run/promtail/positions.yaml",
            "/tmp/positions.yaml",
        ]
        .map(PathBuf::from),
    );
    Ok(common::locate(opts, "promtail", &candidates)?
        .map(|path| reader(path, false))
        .into_iter()
        .collect())
}

/// The files one `scrape_configs` entry tails: the `__path__` (and `__path_exclude__`)
/// labels of its `static_configs`, one input each, named after the job.
fn scrape_inputs(scrape: &serde_yaml_ng::Value) -> Vec<crate::cursor::InputSpec> {
    let job = scrape
        .get("job_name")
        .and_then(|j| j.as_str())
        .unwrap_or("promtail");
    let statics = scrape.get("static_configs").and_then(|s| s.as_sequence());
    statics
        .into_iter()
        .flatten()
        .filter_map(|st| {
            let labels = st.get("labels")?;
            let label = |k: &str| labels.get(k).and_then(|v| v.as_str()).map(String::from);
            let path = label("__path__")?;
            let exclude: Vec<String> = label("__path_exclude__").into_iter().collect();
            Some(crate::cursor::InputSpec::globs(job, &[path], &exclude))
        })
        .collect()
}

/// Opens Alloy's `<storage.path>/<component>/positions.yml` of every `loki.source.file.*`.
pub fn open_alloy(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let data = opts
        .data_path
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/lib/alloy/data"));
    let mut candidates = Vec::new();
    if let Ok(rd) = std::fs::read_dir(opts.root.host_to_local(&data)) {
        let mut dirs: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .filter(|n| n.starts_with("loki.source.file."))
            .collect();
        dirs.sort();
        candidates.extend(dirs.iter().map(|d| data.join(d).join("positions.yml")));
    }
    let reader = |path: PathBuf| {
        Box::new(PositionsReader {
            shown: opts.root.local_to_host(&path),
            path,
            kind: ShipperKind::Alloy,
            may_be_missing: false,
            // Alloy's config language is not read: its files' globs are unknown.
            inputs: Vec::new(),
        }) as Box<dyn StoreReader>
    };
    // Every loki.source.file component keeps its own positions file: each is a store.
    let found: Vec<PathBuf> = candidates
        .iter()
        .map(|c| opts.root.host_to_local(c))
        .filter(|p| p.exists())
        .collect();
    if opts.store.is_some() || found.is_empty() {
        return Ok(common::locate(opts, "alloy", &candidates)?
            .map(reader)
            .into_iter()
            .collect());
    }
    Ok(found.into_iter().map(reader).collect())
}

struct PositionsReader {
    path: PathBuf,
    /// `path` as the host names it (outside `--root`), for notes.
    shown: PathBuf,
    kind: ShipperKind,
    /// Named by the config but perhaps not written yet.
    may_be_missing: bool,
    /// The files the config says are tailed (Promtail `__path__` labels).
    inputs: Vec<crate::cursor::InputSpec>,
}

impl StoreReader for PositionsReader {
    fn shipper(&self) -> ShipperKind {
        self.kind
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        common::parent_dir(&self.path)
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut snap = if self.may_be_missing && !self.path.exists() {
            common::not_written_yet(
                parse(self.kind, &self.path, b"positions: {}\n")?,
                &self.shown,
                &format!("{} writes it at its first sync of positions", self.kind),
                "the files it tails",
            )
        } else {
            parse(self.kind, &self.path, &common::read_bytes(&self.path)?)?
        };
        snap.inputs.extend(self.inputs.iter().cloned());
        Ok(snap)
    }
}

#[derive(Deserialize, Hash, PartialEq, Eq, PartialOrd, Ord)]
#[serde(untagged)]
enum Key {
    Path(String),
    Entry {
        path: String,
        labels: Option<String>,
    },
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    positions: Option<BTreeMap<Key, String>>,
}

const COMPRESSED: [&str; 4] = [".gz", ".bz2", ".z", ".Z"];

/// Parses a positions file (both layouts).
pub fn parse(kind: ShipperKind, path: &Path, bytes: &[u8]) -> Result<StoreSnapshot, StoreError> {
    let format = match kind {
        ShipperKind::Alloy => "alloy positions.yml",
        _ => "promtail positions.yaml",
    };
    let mut snap = common::snapshot(kind, path, format, OffsetMeaning::Read);
    crate::safe_read::check_nesting(path, bytes)?;
    let file: File = serde_yaml_ng::from_slice(bytes).map_err(|e| {
        let pos = e.location().map_or(Position::default(), |l| Position {
            line: Some(l.line() as u64),
            byte: Some(l.index() as u64),
        });
        StoreError::corrupt(path, pos, format!("not a positions file: {e}"))
    })?;
    let mut min: BTreeMap<String, u64> = BTreeMap::new();
    let (mut journal, mut cursor) = (0usize, 0usize);
    for (key, value) in file.positions.unwrap_or_default() {
        let p = match key {
            Key::Path(p) | Key::Entry { path: p, .. } => p,
        };
        if p.starts_with("journal-") {
            journal += 1;
            continue;
        }
        if p.starts_with("cursor-") {
            cursor += 1;
            continue;
        }
        let off: u64 = value.trim().parse().map_err(|_| {
            StoreError::corrupt(
                path,
                Position::default(),
                format!("position of `{p}` is `{value}`, not a decimal number"),
            )
        })?;
        let e = min.entry(p).or_insert(off);
        *e = (*e).min(off);
    }
    for (prefix, count) in [("journal-", journal), ("cursor-", cursor)] {
        if count > 0 {
            snap.skipped.push(SkippedEntries {
                prefix: prefix.into(),
                count,
            });
        }
    }
    for (p, offset) in min {
        let unit = if COMPRESSED.iter().any(|s| p.ends_with(s)) {
            OffsetUnit::Lines
        } else {
            OffsetUnit::Bytes
        };
        snap.cursors.push(Cursor {
            key: p.clone().into(),
            identity: Identity::Path,
            path: Some(PathBuf::from(p).into()),
            offset,
            unit,
        });
    }
    snap.queues.push(common::unknown_queue(
        &format!("{kind} client"),
        "Promtail/Alloy do not persist delivery; use --settle-after, or check read_bytes_total vs sent metrics on :9080/:12345",
    ));
    Ok(snap)
}
