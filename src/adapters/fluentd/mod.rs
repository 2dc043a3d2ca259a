//! Fluentd `in_tail` pos_file: lines `path\t<pos %016x>\t<inode %016x>`.
//!
//! The file is rewritten in place (no rename), so a reader can see a torn last line or a
//! half-compacted file: the last unterminated line is ignored and noted. `ffffffffffffffff`
//! marks an unwatched entry (rotated away), which is skipped and counted. Identity is path +
//! inode; offsets mean "accepted into Fluentd's buffer".

pub mod api;

use std::path::{Path, PathBuf};

use crate::cursor::{
    Cursor, Identity, InputSpec, OffsetMeaning, ShipperKind, SkippedEntries, StoreSnapshot,
};
use crate::error::{Position, StoreError};

use super::common::{self, Store};
use super::shipper::{getopt, Access, Api, ProcessMatch, ShipperInfo, Target};
use super::{Readers, SourceOptions, StoreReader};

/// Fluentd (and td-agent).
pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Fluentd,
    name: "fluentd",
    aliases: &["td-agent"],
    processes: &[ProcessMatch {
        names: &["fluentd", "ruby*", "td-agent"],
        words: &["fluentd"],
    }],
    flags: &[getopt(&["-c", "--config"], Target::Config)],
    services: &["fluentd", "td-agent"],
    config_paths: &["/etc/fluent/fluentd.conf"],
    data_paths: &[],
    // in_tail `max_line_size` nil: buffers until the newline.
    max_line_bytes: None,
    glob_depth: 32,
    // Fluentd directives.
    config_syntax: Some(r"(?m)^\s*<(source|match\s+[^>]*|system)>\s*$"),
    api: Some(Api {
        endpoints: &[api::PLUGINS],
        enable: api::ENABLE,
    }),
    access: Access::Reads { open, idle: None },
};

const UNWATCHED: u64 = u64::MAX;

/// Opens every `<source> @type tail` of the Fluentd config (one store each, with that
/// source's globs), or the pos_file named by `--store`. A pos_file not written yet reads as
/// "nothing recorded"; a source without one cannot be assessed and says so.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let config = opts
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/fluent/fluentd.conf"));
    let local_conf = opts.root.host_to_local(&config);
    let mut monitor = None;
    let mut sources = Vec::new();
    if local_conf.exists() {
        let text = common::read_config_file(&local_conf)?;
        sources = tail_sources(&text);
        monitor = monitor_agent_url(&text);
    }
    let reader = |store: Store, source: Option<TailSource>| {
        Box::new(FluentdReader {
            store,
            source,
            monitor: monitor.clone(),
            http: opts.http.clone(),
            root: opts.root.clone(),
        }) as Box<dyn StoreReader>
    };
    if opts.store.is_some() {
        let found = common::locate(opts, "fluentd", &[])?;
        return Ok(found
            .map(|path| {
                let source = sources
                    .iter()
                    .find(|s| {
                        s.pos_file
                            .as_ref()
                            .is_some_and(|p| opts.root.host_to_local(p) == path)
                    })
                    .cloned();
                reader(Store::File(path), source)
            })
            .into_iter()
            .collect());
    }
    if sources.is_empty() {
        // No tail source: an explicit --config is an error naming where we looked.
        common::locate(opts, "fluentd", &[])?;
    }
    Ok(sources
        .into_iter()
        .map(|s| {
            let globs = s.paths.join(",");
            let store = match &s.pos_file {
                Some(p) => Store::configured(&opts.root, p, &local_conf, |p| {
                    format!(
                        "tail source {globs}: pos_file {p} holds a variable only Fluentd expands \
                         (one file per worker?); give the pos_file with --store"
                    )
                }),
                None => Store::unknown(
                    &local_conf,
                    format!(
                        "tail source {globs} has no pos_file: Fluentd records its progress \
                         nowhere, so what it still owes cannot be known; set `pos_file`"
                    ),
                ),
            };
            reader(store, Some(s))
        })
        .collect())
}

/// The `monitor_agent` API of the config (`http://<bind>:<port>`, default port 24220; a
/// wildcard or missing `bind` is reached on 127.0.0.1), when one is configured.
pub fn monitor_agent_url(text: &str) -> Option<String> {
    let params = source_sections(text)
        .into_iter()
        .find(|p| source_type(p) == Some("monitor_agent"))?;
    let get = |k: &str| {
        params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| unquote(v))
    };
    let port = get("port")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(24220);
    common::http_base(get("bind").as_deref().unwrap_or("0.0.0.0"), port.into())
}

/// One `<source> @type tail` of a Fluentd config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailSource {
    /// `path`: comma-separated globs.
    pub paths: Vec<String>,
    /// `exclude_path`: a JSON-style array of globs.
    pub exclude: Vec<String>,
    pub pos_file: Option<PathBuf>,
}

/// Every `<source>` whose `@type` is `tail`, with the parameters that locate its files and
/// its pos_file.
pub fn tail_sources(text: &str) -> Vec<TailSource> {
    source_sections(text)
        .into_iter()
        .filter(|p| source_type(p) == Some("tail"))
        .map(|params| {
            let mut s = TailSource::default();
            for (k, v) in params {
                match k.as_str() {
                    "path" => s.paths = v.split(',').map(|p| unquote(p.trim())).collect(),
                    "exclude_path" => {
                        s.exclude = v
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .split(',')
                            .map(|p| unquote(p.trim()))
                            .filter(|p| !p.is_empty())
                            .collect()
                    }
                    "pos_file" if !v.is_empty() => s.pos_file = Some(PathBuf::from(unquote(&v))),
                    _ => {}
                }
            }
            s
        })
        .collect()
}

fn unquote(v: &str) -> String {
    v.trim_matches('"').trim_matches('\'').to_string()
}

fn source_type(params: &[(String, String)]) -> Option<&str> {
    params
        .iter()
        .find(|(k, _)| k == "@type" || k == "type")
        .map(|(_, v)| unquote(v))
        .and_then(|v| match v.as_str() {
            "tail" => Some("tail"),
            "monitor_agent" => Some("monitor_agent"),
            _ => None,
        })
}

/// The top-level parameters (`key value`, in order) of every `<source>` section; parameters
/// of nested sections such as `<parse>` are not the source's. A `#` that starts a word
/// starts a comment, as in Fluentd's config syntax.
fn source_sections(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    let mut depth = 0usize;
    for l in text.lines().map(strip_comment) {
        if l.starts_with("<source") {
            current = Some(Vec::new());
            depth = 0;
        } else if l.starts_with("</source") {
            out.extend(current.take());
        } else if l.starts_with("</") {
            depth = depth.saturating_sub(1);
        } else if l.starts_with('<') {
            depth += 1;
        } else if let (Some(params), 0, false) = (current.as_mut(), depth, l.is_empty()) {
            let (k, v) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            params.push((k.to_string(), v.trim().to_string()));
        }
    }
    out
}

/// The line without its comment (`#` at the start or after whitespace), trimmed.
fn strip_comment(l: &str) -> &str {
    let cut = l
        .char_indices()
        .find(|&(i, c)| c == '#' && l[..i].chars().next_back().is_none_or(char::is_whitespace))
        .map_or(l.len(), |(i, _)| i);
    l[..cut].trim()
}

struct FluentdReader {
    /// Its `pos_file` (which Fluentd creates when the source starts), or unknown (no
    /// `pos_file`, or one with a variable in its path).
    store: Store,
    /// The config's source for this store (unknown for a `--store` it does not name).
    source: Option<TailSource>,
    monitor: Option<String>,
    http: super::http::Http,
    root: crate::root::Root,
}

impl StoreReader for FluentdReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Fluentd
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        match &self.store {
            // Fluentd updates the pos_file in place; until it exists, its directory.
            Store::File(p) if p.exists() => vec![p.clone()],
            store => store.parent_dir(),
        }
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let globs = self
            .source
            .as_ref()
            .map(|s| s.paths.join(","))
            .unwrap_or_default();
        let mut snap = match &self.store {
            Store::File(p) if !p.exists() && self.source.is_some() => common::not_written_yet(
                common::snapshot(
                    ShipperKind::Fluentd,
                    p,
                    "fluentd pos_file",
                    OffsetMeaning::Buffered,
                ),
                &self.root.local_to_host(p),
                "Fluentd creates the pos_file when the source starts",
                &globs,
            ),
            Store::File(p) => parse(p, &common::read_bytes(p)?)?,
            Store::Unknown { config, why } => {
                let what = format!("fluentd tail {globs} progress");
                return Ok(common::unassessable(
                    ShipperKind::Fluentd,
                    config,
                    &what,
                    why,
                ));
            }
        };
        if let Some(s) = &self.source {
            snap.inputs
                .push(InputSpec::globs("tail", &s.paths, &s.exclude));
        }
        snap.queues = vec![match &self.monitor {
            Some(base) => api::fluentd_monitor(&self.http, base),
            None => common::unknown_queue(
                "fluentd buffers",
                "add `<source> @type monitor_agent bind 127.0.0.1 port 24220 </source>` so \
                 buffer_total_queued_size can be checked",
            ),
        }];
        Ok(snap)
    }
}

/// Parses a pos_file's bytes. Later lines for the same path win, as in Fluentd.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<StoreSnapshot, StoreError> {
    let mut snap = common::snapshot(
        ShipperKind::Fluentd,
        path,
        "fluentd pos_file",
        OffsetMeaning::Buffered,
    );
    let mut unwatched = 0usize;
    let mut index: std::collections::HashMap<&[u8], usize> = Default::default();
    let mut byte = 0u64;
    let mut lines = bytes.split(|b| *b == b'\n').peekable();
    let mut line_no = 0u64;
    while let Some(line) = lines.next() {
        line_no += 1;
        let start = byte;
        byte += line.len() as u64 + 1;
        let last = lines.peek().is_none();
        if last {
            if !line.is_empty() {
                snap.notes.push(format!(
                    "{}: last line {line_no} has no newline (torn in-place write); ignored, re-read later",
                    path.display()
                ));
            }
            break;
        }
        if line.is_empty() {
            continue;
        }
        let pos = Position {
            line: Some(line_no),
            byte: Some(start),
        };
        let mut fields = line.rsplitn(3, |b| *b == b'\t');
        let (ino, off, name) = match (fields.next(), fields.next(), fields.next()) {
            (Some(i), Some(o), Some(n)) if !n.is_empty() => (i, o, n),
            _ => {
                return Err(StoreError::corrupt(
                    path,
                    pos,
                    "expected `path<TAB>hex position<TAB>hex inode`; the pos_file may be mid-compaction, retry",
                ))
            }
        };
        let offset = hex_field(path, pos, off, "position")?;
        let ino = hex_field(path, pos, ino, "inode")?;
        if offset == UNWATCHED {
            unwatched += 1;
            continue;
        }
        let cursor = Cursor {
            key: String::from_utf8_lossy(name).into_owned().into(),
            identity: Identity::Inode { ino },
            path: Some(common::path_from_bytes(name).into()),
            offset,
            unit: Default::default(),
        };
        match index.get(name) {
            Some(&i) => snap.cursors[i] = cursor,
            None => {
                index.insert(name, snap.cursors.len());
                snap.cursors.push(cursor);
            }
        }
    }
    if unwatched > 0 {
        snap.skipped.push(SkippedEntries {
            prefix: "unwatched (ffffffffffffffff)".into(),
            count: unwatched,
        });
    }
    snap.queues.push(common::unknown_queue(
        "fluentd output buffers",
        "add `<source> @type monitor_agent port 24220 </source>` so buffer_total_queued_size can be checked",
    ));
    Ok(snap)
}

fn hex_field(path: &Path, pos: Position, field: &[u8], what: &str) -> Result<u64, StoreError> {
    std::str::from_utf8(field)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 16)
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| {
            StoreError::corrupt(
                path,
                pos,
                format!(
                    "{what} `{}` is not a hex number",
                    String::from_utf8_lossy(field)
                ),
            )
        })
}

#[cfg(test)]
mod tests;
