//! The collector's YAML config: its `filelog` receivers (`include`, `exclude`, `storage`),
//! the `file_storage` extensions they name (`directory`), the logs pipelines, and where its
//! internal telemetry serves metrics (`service.telemetry.metrics`).
//!
//! The store of receiver `filelog/<name>` is `<directory>/receiver_filelog_<name>`
//! (`extension/storage/filestorage/extension.go`, `GetClient`: `<kind>_<type>_<name>`, every
//! character but `A-Za-z0-9._-` written as `~` and its 4 hex digits).

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::adapters::common;
use crate::error::StoreError;

/// `file_storage`'s default `directory` on Linux (`default_others.go`).
pub const DEFAULT_DIRECTORY: &str = "/var/lib/otelcol/file_storage";
/// Where the packages put the config (`otelcol`, `otelcol-contrib`, the k8s images).
pub const CONFIG_PATHS: &[&str] = &[
    "/etc/otelcol-contrib/config.yaml",
    "/etc/otelcol/config.yaml",
    "/etc/otelcol-contrib/otelcol-contrib.yaml",
];
/// The internal telemetry's default Prometheus endpoint.
pub const DEFAULT_METRICS: &str = "http://127.0.0.1:8888/metrics";

/// Where a receiver's offsets are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// The bbolt file (host path).
    File(PathBuf),
    /// Nowhere drainguard can read, saying why and what to do.
    Unknown(String),
}

/// One `filelog` receiver in a logs pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    /// Its id (`filelog`, `filelog/app`).
    pub id: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub storage: Storage,
}

/// One `service.pipelines` entry of the logs signal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pipeline {
    pub id: String,
    pub receivers: Vec<String>,
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
}

/// What drainguard takes from the collector's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file read (local path); `None`: no config found.
    pub source: Option<PathBuf>,
    pub receivers: Vec<Receiver>,
    pub pipelines: Vec<Pipeline>,
    /// Connector ids (they appear as receivers and exporters of pipelines).
    pub connectors: Vec<String>,
    /// The Prometheus endpoint of its internal telemetry, or why there is none.
    pub metrics: Result<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            receivers: Vec::new(),
            pipelines: Vec::new(),
            connectors: Vec::new(),
            metrics: Ok(DEFAULT_METRICS.into()),
        }
    }
}

/// `file:` (the default config provider's scheme) stripped from a `--config` value.
pub fn config_path(arg: &Path) -> PathBuf {
    let s = arg.to_string_lossy();
    match s.strip_prefix("file:") {
        Some(rest) => PathBuf::from(rest),
        None => arg.to_path_buf(),
    }
}

/// Reads the config: `config` (must be readable), else the first of [`CONFIG_PATHS`].
pub fn load(opts: &crate::adapters::SourceOptions) -> Result<Config, StoreError> {
    let mut o = opts.clone();
    o.config = opts.config.as_deref().map(config_path);
    let Some((path, text)) = common::read_config(&o, CONFIG_PATHS)? else {
        return Ok(Config::default());
    };
    let mut c = parse(&path, &text)?;
    c.source = Some(path);
    Ok(c)
}

fn strs(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

/// The type of a component id (`filelog/app` -> `filelog`).
pub fn kind(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// file_storage's `sanitize`.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
            out.push(c);
        } else {
            out.push_str(&format!("~{:04X}", c as u32));
        }
    }
    out
}

/// The client file name of receiver `id` (`receiver_filelog_<name>`).
pub fn client_file(id: &str) -> String {
    let (ty, name) = id.split_once('/').unwrap_or((id, ""));
    sanitize(&format!("receiver_{ty}_{name}"))
}

/// Parses the collector config `text` (read from `path`).
pub fn parse(path: &Path, text: &str) -> Result<Config, StoreError> {
    crate::safe_read::check_nesting(path, text.as_bytes())?;
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| StoreError::Config {
        path: path.to_path_buf(),
        what: e.to_string(),
    })?;
    let pipelines = pipelines(&doc);
    let connectors = get(&doc, "connectors")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let in_pipeline: Vec<&str> = pipelines
        .iter()
        .flat_map(|p| p.receivers.iter().map(String::as_str))
        .collect();
    let has_service = get(&doc, "service").is_some();
    let mut receivers = Vec::new();
    if let Some(Value::Mapping(m)) = get(&doc, "receivers") {
        for (k, v) in m {
            let Some(id) = k.as_str() else { continue };
            if kind(id) != "filelog" || (has_service && !in_pipeline.contains(&id)) {
                continue;
            }
            receivers.push(Receiver {
                id: id.to_string(),
                include: strs(get(v, "include")),
                exclude: strs(get(v, "exclude")),
                storage: storage(&doc, id, get(v, "storage").and_then(Value::as_str)),
            });
        }
    }
    Ok(Config {
        source: None,
        receivers,
        pipelines,
        connectors,
        metrics: metrics(&doc),
    })
}

fn storage(doc: &Value, receiver: &str, ext: Option<&str>) -> Storage {
    let Some(ext) = ext else {
        return Storage::Unknown(format!(
            "receiver {receiver} has no `storage:`: the collector keeps its offsets in memory \
             only, so nothing records what it read; add `storage: file_storage` to it and a \
             file_storage extension"
        ));
    };
    if kind(ext) != "file_storage" {
        return Storage::Unknown(format!(
            "receiver {receiver} stores its offsets in extension {ext}, not a file_storage \
             extension: drainguard reads only file_storage's files"
        ));
    }
    let exts = get(doc, "extensions");
    let Some(cfg) = exts.and_then(|e| get(e, ext)) else {
        return Storage::Unknown(format!(
            "receiver {receiver} names storage {ext}, which `extensions:` does not define"
        ));
    };
    let dir = get(cfg, "directory")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_DIRECTORY);
    if common::unexpanded(dir) {
        return Storage::Unknown(format!(
            "extension {ext}'s directory is {dir}, with a variable only the collector expands; \
             point drainguard at the file with --store <dir>/{}",
            client_file(receiver)
        ));
    }
    Storage::File(Path::new(dir).join(client_file(receiver)))
}

fn pipelines(doc: &Value) -> Vec<Pipeline> {
    let Some(Value::Mapping(m)) = get(doc, "service").and_then(|s| get(s, "pipelines")) else {
        return Vec::new();
    };
    m.iter()
        .filter_map(|(k, v)| {
            let id = k.as_str()?;
            (kind(id) == "logs").then(|| Pipeline {
                id: id.to_string(),
                receivers: strs(get(v, "receivers")),
                processors: strs(get(v, "processors")),
                exporters: strs(get(v, "exporters")),
            })
        })
        .collect()
}

/// `service.telemetry.metrics`: `level: none` serves nothing; `address: host:port` (before
/// v0.123); `readers: [{pull: {exporter: {prometheus: {host, port}}}}]`; else the default
/// `localhost:8888`.
fn metrics(doc: &Value) -> Result<String, String> {
    let m = get(doc, "service")
        .and_then(|s| get(s, "telemetry"))
        .and_then(|t| get(t, "metrics"));
    let Some(m) = m else {
        return Ok(DEFAULT_METRICS.into());
    };
    if get(m, "level").and_then(Value::as_str) == Some("none") {
        return Err(
            "service.telemetry.metrics.level is none: the collector serves no \
                    metrics; set it to basic or normal"
                .into(),
        );
    }
    if let Some(addr) = get(m, "address").and_then(Value::as_str) {
        return url(addr).ok_or_else(|| format!("service.telemetry.metrics.address {addr}"));
    }
    if let Some(Value::Sequence(readers)) = get(m, "readers") {
        for r in readers {
            let p = get(r, "pull")
                .and_then(|p| get(p, "exporter"))
                .and_then(|e| get(e, "prometheus"));
            if let Some(p) = p {
                let host = get(p, "host")
                    .and_then(Value::as_str)
                    .unwrap_or("localhost");
                let port = get(p, "port").and_then(Value::as_u64).unwrap_or(8888);
                return common::http_base(host, port)
                    .map(|b| format!("{b}/metrics"))
                    .ok_or_else(|| format!("prometheus reader host {host}"));
            }
        }
        return Err(
            "service.telemetry.metrics.readers has no pull prometheus reader: the \
                    collector pushes its metrics only; add one (pull: exporter: prometheus: \
                    host: localhost, port: 8888)"
                .into(),
        );
    }
    Ok(DEFAULT_METRICS.into())
}

/// `http://<addr>/metrics` for `host:port`.
fn url(addr: &str) -> Option<String> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    common::http_base(host, port.parse().ok()?).map(|b| format!("{b}/metrics"))
}
