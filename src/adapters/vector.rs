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
use super::shipper::{getopt, m, Access, ShipperInfo, Target};
use super::{Readers, SourceOptions, StoreReader};

/// Vector.
pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Vector,
    name: "vector",
    aliases: &[],
    processes: &[m(&["vector"])],
    flags: &[getopt(
        &["-c", "--config", "--config-toml", "--config-yaml"],
        Target::Config,
    )],
    services: &["vector"],
    config_paths: &["/etc/vector/vector.yaml", "/etc/vector/vector.toml"],
    data_paths: &["/var/lib/vector"],
    // Vector file source `max_line_bytes`: 102400; longer lines are discarded.
    max_line_bytes: Some(102_400),
    glob_depth: 32,
    // TOML tables or YAML top-level keys.
    config_syntax: Some(r"(?m)^\[(sources|sinks|transforms)\.[^\]]+\]|^(sources|sinks):\s*$"),
    api: None,
    access: Access::Reads { open, idle: None },
};

/// One `file` source of a Vector config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    pub id: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub data_dir: Option<PathBuf>,
    pub fingerprint: FingerprintSpec,
    pub device_inode: bool,
    /// End-to-end acknowledgements reach this source: a sink downstream of it (through any
    /// transforms) has them on, or the source itself asks for them (deprecated setting).
    pub acknowledgements: bool,
    /// Sinks downstream of this source with a disk buffer.
    pub disk_buffers: Vec<String>,
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
            disk_buffers: vec![],
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
    transforms: std::collections::BTreeMap<String, RawTransform>,
    #[serde(default)]
    sinks: std::collections::BTreeMap<String, RawSink>,
    #[serde(default)]
    acknowledgements: Option<Ack>,
}

#[derive(Deserialize)]
struct RawTransform {
    #[serde(default)]
    inputs: Vec<String>,
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
    inputs: Vec<String>,
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
    /// The setting, `None` when not set.
    fn enabled(a: &Option<Ack>) -> Option<bool> {
        match a {
            Some(Ack::Bool(b)) => Some(*b),
            Some(Ack::Table { enabled }) => *enabled,
            None => None,
        }
    }

    fn on(a: &Option<Ack>) -> bool {
        Ack::enabled(a) == Some(true)
    }
}

impl RawConf {
    /// The sources upstream of `sink`, through any transforms, as Vector's
    /// `propagate_acknowledgements` walks them: an input names a component, or one of its
    /// outputs (`<id>.<output>`), or several components with `*` wildcards.
    fn sources_upstream_of(&self, sink: &RawSink) -> std::collections::BTreeSet<String> {
        let mut found = std::collections::BTreeSet::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut todo: Vec<&str> = sink.inputs.iter().map(String::as_str).collect();
        while let Some(input) = todo.pop() {
            for id in self.components_named(input) {
                if !seen.insert(id.to_string()) {
                    continue;
                }
                if self.sources.contains_key(id) {
                    found.insert(id.to_string());
                } else if let Some(t) = self.transforms.get(id) {
                    todo.extend(t.inputs.iter().map(String::as_str));
                }
            }
        }
        found
    }

    /// The source and transform ids an input refers to.
    fn components_named<'a>(&'a self, input: &str) -> Vec<&'a str> {
        let ids = self.sources.keys().chain(self.transforms.keys());
        if input.contains('*') {
            let Ok(pattern) = glob::Pattern::new(input) else {
                return Vec::new();
            };
            return ids
                .filter(|id| pattern.matches(id))
                .map(String::as_str)
                .collect();
        }
        let component = match input.split_once('.') {
            Some((id, _output))
                if !self.sources.contains_key(input) && !self.transforms.contains_key(input) =>
            {
                id
            }
            _ => input,
        };
        ids.filter(|id| *id == component)
            .map(String::as_str)
            .collect()
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
    crate::safe_read::check_nesting(path, text.as_bytes())?;
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
    // Per sink: its own setting, else the global one (Vector's merge_default).
    let global_ack = Ack::on(&raw.acknowledgements);
    let mut acked = std::collections::BTreeSet::new();
    let mut disk: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (sink_id, sink) in &raw.sinks {
        let upstream = raw.sources_upstream_of(sink);
        if Ack::enabled(&sink.acknowledgements).unwrap_or(global_ack) {
            acked.extend(upstream.iter().cloned());
        }
        if sink.buffer.as_ref().is_some_and(RawBuffer::on_disk) {
            for source in upstream {
                disk.entry(source).or_default().push(sink_id.clone());
            }
        }
    }
    let sources = raw
        .sources
        .into_iter()
        .filter(|(_, s)| s.kind == "file")
        .map(|(id, s)| {
            let fp = s.fingerprint.as_ref();
            FileSource {
                include: s.include,
                exclude: s.exclude,
                data_dir: s.data_dir,
                device_inode: fp.and_then(|f| f.strategy.as_deref()) == Some("device_and_inode"),
                fingerprint: FingerprintSpec::VectorFirstLines {
                    lines: fp.and_then(|f| f.lines).unwrap_or(1),
                    ignored_header_bytes: fp.and_then(|f| f.ignored_header_bytes).unwrap_or(0),
                    max_line_bytes: 102_400,
                },
                acknowledgements: acked.contains(&id) || Ack::on(&s.acknowledgements),
                disk_buffers: disk.remove(&id).unwrap_or_default(),
                id,
            }
        })
        .collect();
    Ok(VectorConf {
        data_dir: raw.data_dir,
        sources,
    })
}

/// Opens the checkpoints of every `file` source of the config (`--config`, else
/// `/etc/vector/vector.{yaml,toml}`), one reader each, or `--store` (then with that source's
/// settings when the config names it, else Vector's defaults and no inputs).
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let mut sources: Vec<(PathBuf, FileSource)> = Vec::new();
    // Disk buffers live under the global data_dir: `<data_dir>/buffer/v2/<sink id>/`.
    let mut buffer_root = PathBuf::from(DEFAULT_DATA_DIR).join("buffer/v2");
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
        buffer_root = global.join("buffer/v2");
        for s in conf.sources {
            let data = s.data_dir.clone().unwrap_or_else(|| global.clone());
            sources.push((data.join(&s.id).join("checkpoints.json"), s));
        }
    }
    let buffers = |source: &FileSource| -> Vec<PathBuf> {
        source
            .disk_buffers
            .iter()
            .map(|sink| buffer_root.join(sink))
            .collect()
    };
    let reader = |path: PathBuf, source: FileSource| {
        Box::new(VectorReader {
            path,
            buffers: buffers(&source),
            source,
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
                buffers: buffers(&s),
                source: s,
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
    /// Disk buffer directories of the sinks downstream of the source (host paths).
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
        let mut snap = match common::read_bytes(&newer)
            .and_then(|b| parse(&newer, &b, &self.source))
        {
            Ok(mut s) => {
                s.notes.push(
                    "checkpoints.new.json present and valid: preferred, as Vector does".into(),
                );
                s
            }
            Err(e) => {
                if !e.is_not_found() {
                    notes.push(format!("ignored interrupted {}: {e}", newer.display()));
                }
                let mut s = match common::read_bytes(&self.path) {
                    Err(e) if e.is_not_found() && self.may_be_missing => common::not_written_yet(
                        parse(
                            &self.path,
                            br#"{"version":"1","checkpoints":[]}"#,
                            &self.source,
                        )?,
                        &self.path,
                        "Vector writes it at the source's first checkpoint",
                        &format!("source {}", self.source.id),
                    ),
                    other => parse(&self.path, &other?, &self.source)?,
                };
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
                    spec: source.fingerprint.into(),
                    value: v.to_string().into(),
                },
            ),
            Fp::Checksum(_) | Fp::Unknown(_) => {
                legacy += 1;
                continue;
            }
        };
        snap.cursors.push(Cursor {
            key: key.into(),
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
