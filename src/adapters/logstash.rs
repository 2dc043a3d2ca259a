//! Logstash file input sincedb: lines `inode major minor pos [last_active path...]`.
//!
//! Identity is inode + device; the device is rebuilt as `makedev(major, minor)` so it compares
//! with `st_dev`. Offsets mean "accepted into the pipeline queue".

use std::path::{Path, PathBuf};

use crate::cursor::{Cursor, Identity, OffsetMeaning, QueueState, ShipperKind, StoreSnapshot};
use crate::error::{Position, StoreError};

use super::common;
use super::{Readers, SourceOptions, StoreReader};

/// Default `path.data` of the deb/rpm packages.
pub const DEFAULT_DATA: &str = "/var/lib/logstash";

/// The settings file of the deb/rpm packages.
pub const SETTINGS: &str = "/etc/logstash/logstash.yml";

/// What `logstash.yml` says about where Logstash keeps its data and serves its API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `path.data`.
    pub data: Option<PathBuf>,
    /// The monitoring API's base URL; `None` when `api.enabled: false`.
    pub api: Option<String>,
    /// `api.http.port` is a range: Logstash binds its first free port, the first is tried.
    pub port_range: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data: None,
            api: Some("http://127.0.0.1:9600".into()),
            port_range: Some("9600-9700".into()),
        }
    }
}

/// Parses `logstash.yml` (dotted or nested keys; the pre-7.7 `http.*` names too).
pub fn parse_settings(path: &Path, text: &str) -> Result<Settings, StoreError> {
    use serde_yaml_ng::Value;
    let doc: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| StoreError::Config {
            path: path.into(),
            what: format!("invalid YAML: {e}"),
        })?
    };
    let get =
        |k: &str| common::lookup(&doc, &format!("api.{k}")).or_else(|| common::lookup(&doc, k));
    let text_of = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut s = Settings {
        data: common::lookup(&doc, "path.data")
            .and_then(Value::as_str)
            .map(PathBuf::from),
        ..Settings::default()
    };
    let enabled = get("enabled").and_then(text_of).map(|v| v != "false");
    let host = get("http.host")
        .and_then(text_of)
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = get("http.port")
        .and_then(text_of)
        .unwrap_or_else(|| "9600-9700".into());
    let first = port.split('-').next().unwrap_or("").trim();
    s.port_range = port.contains('-').then(|| port.clone());
    s.api = match (enabled, first.parse::<u64>()) {
        (Some(false), _) => None,
        (_, Ok(p)) => common::http_base(&host, p),
        (_, Err(_)) => {
            return Err(StoreError::Config {
                path: path.into(),
                what: format!("api.http.port {port:?} is not a port or a range of ports"),
            })
        }
    };
    Ok(s)
}

/// What the pipeline configs (`file { path => .. sincedb_path => .. }`) say.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PipelineFiles {
    pub paths: Vec<String>,
    pub sincedb_paths: Vec<PathBuf>,
}

/// Extracts `path` and `sincedb_path` settings of `file` inputs from pipeline config text.
pub fn parse_pipeline(text: &str) -> PipelineFiles {
    let mut out = PipelineFiles::default();
    let text: String = text
        .lines()
        .map(|l| l.split_once('#').map_or(l, |(a, _)| a))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = text.as_str();
    while let Some(i) = rest.find("=>") {
        let key = rest[..i].trim_end();
        let key = key
            .rsplit(|c: char| c.is_whitespace() || c == '{')
            .next()
            .unwrap_or("");
        let val = rest[i + 2..].trim_start();
        let (vals, used) = if let Some(list) = val.strip_prefix('[') {
            let end = list.find(']').unwrap_or(list.len());
            (quoted(&list[..end]), end + 1)
        } else {
            let q = quoted(val.split('\n').next().unwrap_or(""));
            (q.into_iter().take(1).collect(), 0)
        };
        match key {
            "path" => out.paths.extend(vals),
            "sincedb_path" => out
                .sincedb_paths
                .extend(vals.into_iter().map(PathBuf::from)),
            _ => {}
        }
        rest = &rest[i + 2 + used.min(rest.len() - i - 2)..];
    }
    out
}

fn quoted(s: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '"' || c == '\'' {
            let val: String = it.by_ref().take_while(|x| *x != c).collect();
            v.push(val);
        }
    }
    v
}

/// Opens the sincedb files: `--store` (one file), else the pipelines' `sincedb_path`s, else
/// every `.sincedb_*` under `<path.data>/plugins/inputs/file/`.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let settings_local = opts.root.host_to_local(Path::new(SETTINGS));
    let settings = match std::fs::read_to_string(&settings_local) {
        Ok(text) => parse_settings(&settings_local, &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
        Err(e) => return Err(StoreError::io(&settings_local, e)),
    };
    let data = opts
        .data_path
        .clone()
        .or_else(|| settings.data.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    let dir = opts.root.host_to_local(&data.join("plugins/inputs/file"));
    let conf_dir = opts
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/logstash/conf.d"));
    let conf_local = opts.root.host_to_local(&conf_dir);
    let mut pipeline = PipelineFiles::default();
    let conf_files: Vec<PathBuf> = if conf_local.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&conf_local)
            .map_err(|e| StoreError::io(&conf_local, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        v.sort();
        v
    } else if conf_local.is_file() {
        vec![conf_local.clone()]
    } else {
        vec![]
    };
    for f in conf_files {
        let t = std::fs::read_to_string(&f).map_err(|e| StoreError::io(&f, e))?;
        let p = parse_pipeline(&t);
        pipeline.paths.extend(p.paths);
        pipeline.sincedb_paths.extend(p.sincedb_paths);
    }
    let notes: Vec<String> = pipeline
        .sincedb_paths
        .iter()
        .filter(|p| p.as_os_str() == "/dev/null")
        .map(|_| {
            "a file input has `sincedb_path => \"/dev/null\"`: Logstash records its progress \
             nowhere, so what it still owes for those files cannot be known"
                .to_string()
        })
        .take(1)
        .collect();
    let explicit: Vec<PathBuf> = pipeline
        .sincedb_paths
        .iter()
        .filter(|p| p.as_os_str() != "/dev/null")
        .map(|p| opts.root.host_to_local(p))
        .filter(|p| p.exists())
        .collect();
    let files = if opts.store.is_some() {
        common::locate(opts, "logstash", &[])?.into_iter().collect()
    } else if !explicit.is_empty() {
        explicit
    } else {
        let mut v: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(".sincedb_"))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    };
    // File inputs configured but no sincedb written yet (or `/dev/null`): still a store, so
    // that the report says what cannot be known instead of skipping Logstash.
    if files.is_empty() && pipeline.paths.is_empty() {
        if opts.data_path.is_some() || opts.config.is_some() {
            return Err(StoreError::NotFound {
                shipper: "logstash",
                looked_in: dir.display().to_string(),
                flag: "--store",
            });
        }
        return Ok(Vec::new());
    }
    Ok(vec![Box::new(LogstashReader {
        files,
        dir,
        globs: pipeline.paths,
        settings,
        notes,
    })])
}

struct LogstashReader {
    files: Vec<PathBuf>,
    dir: PathBuf,
    globs: Vec<String>,
    settings: Settings,
    notes: Vec<String>,
}

impl StoreReader for LogstashReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Logstash
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        let mut v = self.files.clone();
        v.push(self.dir.clone());
        v
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        if self.files.is_empty() {
            return Ok(self.without_sincedb());
        }
        let mut all: Option<StoreSnapshot> = None;
        for f in &self.files {
            let s = parse(f, &common::read_bytes(f)?)?;
            match &mut all {
                None => all = Some(s),
                Some(a) => a.cursors.extend(s.cursors),
            }
        }
        let mut snap = all.ok_or_else(|| StoreError::NotFound {
            shipper: "logstash",
            looked_in: self.dir.display().to_string(),
            flag: "--store",
        })?;
        if !self.globs.is_empty() {
            snap.inputs
                .push(crate::cursor::InputSpec::globs("file", &self.globs, &[]));
        }
        snap.notes.extend(self.notes.iter().cloned());
        snap.queues = vec![match &self.settings.api {
            Some(api) => {
                let mut q = super::http::logstash_stats(api);
                if let (QueueState::Unknown { hint }, Some(range)) =
                    (&mut q.state, &self.settings.port_range)
                {
                    hint.push_str(&format!(
                        " (api.http.port is the range {range}: Logstash binds its first free \
                         port; set one port in {SETTINGS})"
                    ));
                }
                q
            }
            None => common::unknown_queue(
                "logstash pipeline",
                &format!("the monitoring API is off (api.enabled: false in {SETTINGS}); turn it on so _node/stats/pipelines can be checked"),
            ),
        }];
        Ok(snap)
    }
}

impl LogstashReader {
    /// File inputs without a sincedb: with `/dev/null` nothing is ever recorded
    /// (unconfirmed); otherwise none was written yet, so their files are untracked.
    fn without_sincedb(&self) -> StoreSnapshot {
        let mut snap = common::snapshot(
            ShipperKind::Logstash,
            &self.dir,
            "logstash sincedb",
            OffsetMeaning::Buffered,
        );
        snap.notes.extend(self.notes.iter().cloned());
        if self.notes.is_empty() {
            snap.notes.push(format!(
                "no sincedb in {} yet: Logstash has recorded nothing of its file inputs",
                self.dir.display()
            ));
            snap.inputs
                .push(crate::cursor::InputSpec::globs("file", &self.globs, &[]));
        } else {
            snap.queues.push(common::unknown_queue(
                "logstash file inputs",
                "set sincedb_path to a file (or leave it unset) so Logstash records its progress",
            ));
        }
        snap
    }
}

/// `makedev` as glibc computes it (what `st_dev` holds for `major:minor`).
pub fn makedev(major: u64, minor: u64) -> u64 {
    libc::makedev(major as libc::c_uint, minor as libc::c_uint)
}

/// Parses one sincedb file.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<StoreSnapshot, StoreError> {
    let mut snap = common::snapshot(
        ShipperKind::Logstash,
        path,
        "logstash sincedb",
        OffsetMeaning::Buffered,
    );
    let mut byte = 0u64;
    let n_lines = bytes.split(|b| *b == b'\n').count();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let pos = Position {
            line: Some(i as u64 + 1),
            byte: Some(byte),
        };
        byte += line.len() as u64 + 1;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if i + 1 == n_lines {
            snap.notes.push(format!(
                "{}: last line has no newline (non-atomic write in progress?); ignored",
                path.display()
            ));
            break;
        }
        let mut parts = line.splitn(6, |b| *b == b' ');
        let mut num = |what: &str| -> Result<u64, StoreError> {
            parts
                .next()
                .and_then(|f| std::str::from_utf8(f).ok())
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    StoreError::corrupt(
                        path,
                        pos,
                        format!("{what} is missing or not a number (expected `inode major minor pos [last_active path]`)"),
                    )
                })
        };
        let ino = num("inode")?;
        let major = num("device major")?;
        let minor = num("device minor")?;
        let offset = num("position")?;
        let _last_active = parts.next();
        let file = parts.next().filter(|p| !p.is_empty());
        snap.cursors.push(Cursor {
            key: format!("{ino} {major} {minor}"),
            identity: Identity::DevInode {
                dev: makedev(major, minor),
                ino,
            },
            path: file.map(common::path_from_bytes),
            offset,
            unit: Default::default(),
        });
    }
    snap.queues.push(common::unknown_queue(
        "logstash pipeline",
        "enable the monitoring API (api.enabled: true, api.http.port 9600) so _node/stats/pipelines can be checked",
    ));
    Ok(snap)
}
