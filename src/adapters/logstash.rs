//! Logstash file input sincedb: lines `inode major minor pos [last_active path...]`.
//!
//! Identity is inode + device; the device is rebuilt as `makedev(major, minor)` so it compares
//! with `st_dev`. Offsets mean "accepted into the pipeline queue".

use std::path::{Path, PathBuf};

use crate::cursor::{Cursor, Identity, OffsetMeaning, ShipperKind, StoreSnapshot};
use crate::error::{Position, StoreError};

use super::common;
use super::{Readers, SourceOptions, StoreReader};

/// Default `path.data` of the deb/rpm packages.
pub const DEFAULT_DATA: &str = "/var/lib/logstash";

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
    let data = opts
        .data_path
        .clone()
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
    let explicit: Vec<PathBuf> = pipeline
        .sincedb_paths
        .iter()
        .filter(|p| p.as_os_str() != "/dev/null")
        .map(|p| opts.root.host_to_local(p))
        .filter(|p| p.exists())
        .collect();
    let files = if let Some(found) = common::locate(opts, "logstash", &[])? {
        vec![found]
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
    if files.is_empty() {
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
        api: "http://127.0.0.1:9600".into(),
    })])
}

struct LogstashReader {
    files: Vec<PathBuf>,
    dir: PathBuf,
    globs: Vec<String>,
    api: String,
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
            snap.inputs.push(crate::cursor::InputSpec {
                name: "file".into(),
                paths: self.globs.clone(),
                ..Default::default()
            });
        }
        // Logstash's API is on by default on 127.0.0.1:9600.
        snap.queues = vec![super::http::logstash_stats(&self.api)];
        Ok(snap)
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
