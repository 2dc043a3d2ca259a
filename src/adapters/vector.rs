//! Vector `file` source checkpoints: `<data_dir>/<source id>/checkpoints.json`.
//!
//! No path is stored: entries are fingerprints (`first_lines_checksum`, recomputed by the
//! backlog with [`FingerprintSpec::VectorFirstLines`]) or `dev_inode`. The snapshot carries
//! the source's include/exclude globs so the backlog can find the files. A leftover
//! `checkpoints.new.json` that parses is preferred, as Vector does.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cursor::{
    Cursor, ExcludeRule, Identity, InputSpec, OffsetMeaning, ShipperKind, StoreSnapshot,
};
use crate::error::StoreError;
use crate::fingerprint::FingerprintSpec;

use super::common;
use super::{Readers, SourceOptions, StoreReader};

/// One `file` source of a Vector config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    pub id: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub data_dir: Option<PathBuf>,
    pub fingerprint: FingerprintSpec,
    pub device_inode: bool,
    pub acknowledgements: bool,
}

impl FileSource {
    /// A source with Vector's defaults (checksum of 1 line, no acknowledgements, no globs).
    pub fn with_defaults(id: &str) -> Self {
        FileSource {
            id: id.to_string(),
            include: vec![],
            exclude: vec![],
            data_dir: None,
            fingerprint: FingerprintSpec::VectorFirstLines {
                lines: 1,
                ignored_header_bytes: 0,
                max_line_bytes: 102_400,
            },
            device_inode: false,
            acknowledgements: false,
        }
    }
}

/// The parts of a Vector config drainguard needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VectorConf {
    pub data_dir: Option<PathBuf>,
    pub sources: Vec<FileSource>,
}

#[derive(Deserialize)]
struct RawConf {
    data_dir: Option<PathBuf>,
    #[serde(default)]
    sources: std::collections::BTreeMap<String, RawSource>,
    #[serde(default)]
    sinks: std::collections::BTreeMap<String, RawSink>,
    #[serde(default)]
    acknowledgements: Option<Ack>,
}

#[derive(Deserialize)]
struct RawSource {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    data_dir: Option<PathBuf>,
    #[serde(default)]
    fingerprint: Option<RawFingerprint>,
    #[serde(default)]
    acknowledgements: Option<Ack>,
}

#[derive(Deserialize)]
struct RawSink {
    #[serde(default)]
    acknowledgements: Option<Ack>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Ack {
    Bool(bool),
    Table { enabled: Option<bool> },
}

impl Ack {
    fn on(a: &Option<Ack>) -> bool {
        matches!(
            a,
            Some(Ack::Bool(true))
                | Some(Ack::Table {
                    enabled: Some(true)
                })
        )
    }
}

#[derive(Deserialize)]
struct RawFingerprint {
    strategy: Option<String>,
    lines: Option<u64>,
    ignored_header_bytes: Option<u64>,
}

/// Parses a vector.toml / vector.yaml (by extension; `.yml`/`.yaml` are YAML).
pub fn parse_conf(path: &Path, text: &str) -> Result<VectorConf, StoreError> {
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let raw: RawConf = if yaml {
        serde_yaml_ng::from_str(text).map_err(|e| StoreError::Config {
            path: path.into(),
            what: e.to_string(),
        })?
    } else {
        toml::from_str(text).map_err(|e| StoreError::Config {
            path: path.into(),
            what: e.to_string(),
        })?
    };
    let any_sink_ack =
        raw.sinks.values().any(|s| Ack::on(&s.acknowledgements)) || Ack::on(&raw.acknowledgements);
    let sources = raw
        .sources
        .into_iter()
        .filter(|(_, s)| s.kind == "file")
        .map(|(id, s)| {
            let fp = s.fingerprint.as_ref();
            FileSource {
                id,
                include: s.include,
                exclude: s.exclude,
                data_dir: s.data_dir,
                device_inode: fp.and_then(|f| f.strategy.as_deref()) == Some("device_and_inode"),
                fingerprint: FingerprintSpec::VectorFirstLines {
                    lines: fp.and_then(|f| f.lines).unwrap_or(1),
                    ignored_header_bytes: fp.and_then(|f| f.ignored_header_bytes).unwrap_or(0),
                    max_line_bytes: 102_400,
                },
                acknowledgements: any_sink_ack || Ack::on(&s.acknowledgements),
            }
        })
        .collect();
    Ok(VectorConf {
        data_dir: raw.data_dir,
        sources,
    })
}

/// Opens the checkpoints of the first `file` source of the config (`--config`, else
/// `/etc/vector/vector.{yaml,toml}`), or `--store` (then with default fingerprint settings
/// and no inputs).
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let mut source: Option<FileSource> = None;
    let mut candidates = Vec::new();
    if let Some((local, text)) = common::read_config(
        opts,
        &["/etc/vector/vector.yaml", "/etc/vector/vector.toml"],
    )? {
        let conf = parse_conf(&local, &text)?;
        if let Some(s) = conf.sources.into_iter().next() {
            let data = s
                .data_dir
                .clone()
                .or(opts.data_path.clone())
                .or(conf.data_dir)
                .unwrap_or_else(|| PathBuf::from("/var/lib/vector"));
            candidates.push(data.join(&s.id).join("checkpoints.json"));
            source = Some(s);
        }
    }
    let Some(path) = common::locate(opts, "vector", &candidates)? else {
        return Ok(Vec::new());
    };
    let source = source.unwrap_or_else(|| FileSource::with_defaults("file"));
    Ok(vec![Box::new(VectorReader { path, source })])
}

struct VectorReader {
    path: PathBuf,
    source: FileSource,
}

impl StoreReader for VectorReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Vector
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        common::parent_dir(&self.path)
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let newer = self.path.with_file_name("checkpoints.new.json");
        let mut notes = Vec::new();
        if let Ok(bytes) = std::fs::read(&newer) {
            match parse(&newer, &bytes, &self.source) {
                Ok(mut s) => {
                    s.notes.push(
                        "checkpoints.new.json present and valid: preferred, as Vector does".into(),
                    );
                    return Ok(s);
                }
                Err(e) => notes.push(format!("ignored interrupted {}: {e}", newer.display())),
            }
        }
        let mut s = parse(&self.path, &common::read_bytes(&self.path)?, &self.source)?;
        s.notes.extend(notes);
        Ok(s)
    }
}

#[derive(Deserialize)]
#[serde(tag = "version")]
enum State {
    #[serde(rename = "1")]
    V1 { checkpoints: Vec<Checkpoint> },
}

#[derive(Deserialize)]
struct Checkpoint {
    fingerprint: Fp,
    position: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Fp {
    DevInode(u64, u64),
    #[serde(alias = "first_line_checksum")]
    FirstLinesChecksum(u64),
    Checksum(serde::de::IgnoredAny),
    Unknown(serde::de::IgnoredAny),
}

/// Parses a checkpoints file for `source`.
pub fn parse(path: &Path, bytes: &[u8], source: &FileSource) -> Result<StoreSnapshot, StoreError> {
    let meaning = if source.acknowledgements {
        OffsetMeaning::Delivered
    } else {
        OffsetMeaning::Read
    };
    let mut snap = common::snapshot(ShipperKind::Vector, path, "vector checkpoints v1", meaning);
    let st: State = serde_json::from_slice(bytes)
        .map_err(|e| common::json_error(path, e, "not a Vector checkpoints file"))?;
    let State::V1 { checkpoints } = st;
    let mut legacy = 0;
    for c in checkpoints {
        let (key, identity) = match c.fingerprint {
            Fp::DevInode(dev, ino) => (
                format!("dev_inode {dev} {ino}"),
                Identity::DevInode { dev, ino },
            ),
            Fp::FirstLinesChecksum(v) => (
                format!("first_lines_checksum {v}"),
                Identity::Fingerprint {
                    spec: source.fingerprint,
                    value: v.to_string(),
                },
            ),
            Fp::Checksum(_) | Fp::Unknown(_) => {
                legacy += 1;
                continue;
            }
        };
        snap.cursors.push(Cursor {
            key,
            identity,
            path: None,
            offset: c.position,
            unit: Default::default(),
        });
    }
    if legacy > 0 {
        snap.skipped.push(crate::cursor::SkippedEntries {
            prefix: "legacy checksum/unknown (dropped by Vector >= 0.51)".into(),
            count: legacy,
        });
    }
    snap.inputs.push(InputSpec {
        name: source.id.clone(),
        paths: source.include.clone(),
        exclude: source
            .exclude
            .iter()
            .cloned()
            .map(ExcludeRule::Glob)
            .collect(),
        ..Default::default()
    });
    if !source.acknowledgements {
        snap.queues.push(common::unknown_queue(
            &format!("vector source {}", source.id),
            "enable end-to-end acknowledgements (acknowledgements.enabled = true on the sinks) so checkpoints mean delivered",
        ));
    }
    Ok(snap)
}
