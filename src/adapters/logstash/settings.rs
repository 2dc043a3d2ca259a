//! `logstash.yml`: where Logstash keeps its data and serves its monitoring API.

use std::path::{Path, PathBuf};

use crate::adapters::{common, SourceOptions};
use crate::error::StoreError;

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
    /// Settings that could not be taken as written (`${VAR}` substitutions, which Logstash
    /// expands from its own environment): the default was assumed, and this says so.
    pub notes: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data: None,
            api: Some("http://127.0.0.1:9600".into()),
            port_range: Some("9600-9700".into()),
            notes: Vec::new(),
        }
    }
}

/// Parses `logstash.yml` (dotted or nested keys; the pre-7.7 `http.*` names too).
pub fn parse_settings(path: &Path, text: &str) -> Result<Settings, StoreError> {
    use serde_yaml_ng::Value;
    crate::safe_read::check_nesting(path, text.as_bytes())?;
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
    let mut s = Settings::default();
    // A `${VAR}` value is Logstash's to expand from its environment, not ours to guess.
    let mut literal = |key: &str, v: Option<String>| -> Option<String> {
        let v = v?;
        if v.contains("${") {
            s.notes.push(format!(
                "{}: {key} is {v:?}, a substitution drainguard cannot expand; Logstash's default assumed",
                path.display()
            ));
            return None;
        }
        Some(v)
    };
    let data = literal(
        "path.data",
        common::lookup(&doc, "path.data").and_then(text_of),
    );
    let enabled = literal("api.enabled", get("enabled").and_then(text_of)).map(|v| v != "false");
    let host = literal("api.http.host", get("http.host").and_then(text_of))
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = literal("api.http.port", get("http.port").and_then(text_of))
        .unwrap_or_else(|| "9600-9700".into());
    s.data = data.map(PathBuf::from);
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

/// The settings of this host (`/etc/logstash/logstash.yml` under `--root`), and notes: a
/// settings file that cannot be read or parsed is reported and Logstash's defaults are
/// assumed, never an error that would stop every other shipper's drain.
pub fn load(opts: &SourceOptions) -> (Settings, Vec<String>) {
    let host = match &opts.settings_dir {
        Some(dir) => dir.join("logstash.yml"),
        None => PathBuf::from(SETTINGS),
    };
    let local = opts.root.host_to_local(&host);
    let text = match crate::adapters::common::read_config_file(&local) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return (Settings::default(), vec![]),
        Err(e) => {
            return (
                Settings::default(),
                vec![format!("{e}; Logstash's defaults assumed")],
            )
        }
    };
    match parse_settings(&local, &text) {
        Ok(s) => (s, vec![]),
        Err(e) => (
            Settings::default(),
            vec![format!("{e}; Logstash's defaults assumed")],
        ),
    }
}
