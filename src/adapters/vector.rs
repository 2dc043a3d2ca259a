//! Vector `file` source checkpoints: `<data_dir>/<source id>/checkpoints.json`.
//!
//! No path is stored: entries are fingerprints (`first_lines_checksum`, recomputed by the
//! backlog with [`FingerprintSpec::VectorFirstLines`]) or `dev_inode`. The snapshot carries
//! the source's include/exclude globs so the backlog can find the files. A leftover
//! `checkpoints.new.json` that parses is preferred, as Vector does.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cursor::{Cursor, Identity, InputSpec, OffsetMeaning, ShipperKind, StoreSnapshot};
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
    /// Sinks with a disk buffer (`buffer.type = "disk"`, alone or as a stage).
    pub disk_buffers: Vec<String>,
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
    #[serde(default)]
    buffer: Option<RawBuffer>,
}

/// `buffer = { type = "disk", ... }` or a list of stages.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawBuffer {
    One(RawStage),
    Stages(Vec<RawStage>),
}

#[derive(Deserialize)]
struct RawStage {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

impl RawBuffer {
    fn on_disk(&self) -> bool {
        let disk = |s: &RawStage| s.kind.as_deref() == Some("disk");
        match self {
            RawBuffer::One(s) => disk(s),
            RawBuffer::Stages(v) => v.iter().any(disk),
        }
    }
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
    let disk_buffers = raw
        .sinks
        .iter()
        .filter(|(_, s)| s.buffer.as_ref().is_some_and(RawBuffer::on_disk))
        .map(|(id, _)| id.clone())
        .collect();
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
        disk_buffers,
    })
}

/// Opens the checkpoints of every `file` source of the config (`--config`, else
/// `/etc/vector/vector.{yaml,toml}`), one reader each, or `--store` (then with that source's
/// settings when the config names it, else Vector's defaults and no inputs).
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let mut sources: Vec<(PathBuf, FileSource)> = Vec::new();
    let mut buffers: Vec<PathBuf> = Vec::new();
    if let Some((local, text)) = common::read_config(
        opts,
        &["/etc/vector/vector.yaml", "/etc/vector/vector.toml"],
    )? {
        let conf = parse_conf(&local, &text)?;
        let global = opts
            .data_path
            .clone()
            .or(conf.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        buffers = conf
            .disk_buffers
            .iter()
            .map(|sink| global.join("buffer/v2").join(sink))
            .collect();
        for s in conf.sources {
            let data = s.data_dir.clone().unwrap_or_else(|| global.clone());
            sources.push((data.join(&s.id).join("checkpoints.json"), s));
        }
    }
    let reader = |path: PathBuf, source: FileSource| {
        Box::new(VectorReader {
            path,
            source,
            buffers: buffers.clone(),
            root: opts.root.clone(),
            may_be_missing: false,
        }) as Box<dyn StoreReader>
    };
    if opts.store.is_some() {
        let Some(path) = common::locate(opts, "vector", &[])? else {
            return Ok(Vec::new());
        };
        let source = sources
            .iter()
            .find(|(p, _)| opts.root.host_to_local(p) == path)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| FileSource::with_defaults("file"));
        return Ok(vec![reader(path, source)]);
    }
    // A source whose checkpoints do not exist yet has read nothing: it is still a store (its
    // files then all count as untracked), once Vector has written for any source.
    if !sources
        .iter()
        .any(|(p, _)| opts.root.host_to_local(p).exists())
    {
        let candidates: Vec<PathBuf> = sources.iter().map(|(p, _)| p.clone()).collect();
        common::locate(opts, "vector", &candidates)?;
        return Ok(Vec::new());
    }
    Ok(sources
        .into_iter()
        .map(|(p, s)| {
            let local = opts.root.host_to_local(&p);
            Box::new(VectorReader {
                may_be_missing: !local.exists(),
                path: local,
                source: s,
                buffers: buffers.clone(),
                root: opts.root.clone(),
            }) as Box<dyn StoreReader>
        })
        .collect())
}

/// Vector's default `data_dir`.
const DEFAULT_DATA_DIR: &str = "/var/lib/vector";

struct VectorReader {
    path: PathBuf,
    source: FileSource,
    /// Disk buffer directories of the sinks (host paths).
    buffers: Vec<PathBuf>,
    root: crate::root::Root,
    /// The source's checkpoints did not exist when opened (other sources' did): until Vector
    /// writes them, it has read nothing from this source and every matching file is owed.
    may_be_missing: bool,
}

impl StoreReader for VectorReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Vector
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        let mut v = common::parent_dir(&self.path);
        v.extend(self.buffers.iter().map(|b| self.root.host_to_local(b)));
        v
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let newer = self.path.with_file_name("checkpoints.new.json");
        let mut notes = Vec::new();
        let mut snap = match std::fs::read(&newer).map(|b| parse(&newer, &b, &self.source)) {
            Ok(Ok(mut s)) => {
                s.notes.push(
                    "checkpoints.new.json present and valid: preferred, as Vector does".into(),
                );
                s
            }
            other => {
                if let Ok(Err(e)) = other {
                    notes.push(format!("ignored interrupted {}: {e}", newer.display()));
                }
                let bytes = match std::fs::read(&self.path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.may_be_missing => {
                        notes.push(format!(
                            "{} does not exist yet: source {} has checkpointed nothing",
                            self.path.display(),
                            self.source.id
                        ));
                        br#"{"version":"1","checkpoints":[]}"#.to_vec()
                    }
                    other => other.map_err(|e| StoreError::io(&self.path, e))?,
                };
                let mut s = parse(&self.path, &bytes, &self.source)?;
                s.notes.extend(notes);
                s
            }
        };
        self.add_buffers(&mut snap);
        Ok(snap)
    }
}

impl VectorReader {
    /// With disk buffers, an acknowledgement means "persisted in the sink's buffer": each
    /// buffer must also be empty. Without acknowledgements they are checked too, but cannot
    /// make the offsets (only "read") prove delivery.
    fn add_buffers(&self, snap: &mut StoreSnapshot) {
        if self.buffers.is_empty() {
            return;
        }
        if self.source.acknowledgements {
            snap.offset_meaning = OffsetMeaning::InDiskQueue;
        }
        for host in &self.buffers {
            let local = self.root.host_to_local(host);
            snap.queues.push(super::vector_buffer::signal(&local, host));
        }
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
    snap.inputs.push(InputSpec::globs(
        source.id.clone(),
        &source.include,
        &source.exclude,
    ));
    if !source.acknowledgements {
        snap.queues.push(common::unknown_queue(
            &format!("vector source {}", source.id),
            "enable end-to-end acknowledgements (acknowledgements.enabled = true on the sinks) so checkpoints mean delivered",
        ));
    }
    Ok(snap)
}
