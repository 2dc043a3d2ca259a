//! The parts of `filebeat.yml` drainguard needs: where the registry is, which files the
//! inputs tail, the disk queue, and the fingerprint window.
//!
//! Filebeat's config library treats `a.b: x` and `a: {b: x}` alike; `common::lookup` does too.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::Value;

use crate::adapters::common::{http_base, lookup};
use crate::error::{Position, StoreError};
use crate::root::Root;

/// A file-tailing input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// `id` (filestream), else `.global` for filestream and the type for others.
    pub id: Option<String>,
    pub kind: String,
    pub paths: Vec<String>,
    pub exclude_files: Vec<String>,
    pub ignore_older: Option<Duration>,
    /// `prospector.scanner.fingerprint.{offset,length}` (defaults 0 and 1024).
    pub fingerprint: (u64, u64),
    /// The maximum line length: `max_bytes` (log input) or `message_max_bytes` (filestream),
    /// when set.
    pub max_bytes: Option<u64>,
}

/// What filebeat.yml says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub path_home: Option<PathBuf>,
    pub path_data: Option<PathBuf>,
    pub registry_path: Option<PathBuf>,
    pub inputs: Vec<Input>,
    /// `queue.disk` is set; its `path` when given.
    pub disk_queue: Option<Option<PathBuf>>,
    /// The base URL of the `http` monitoring endpoint (`http.enabled: true`), for `/stats`.
    pub stats_url: Option<String>,
    /// Things the operator should know (unsupported settings).
    pub notes: Vec<String>,
}

const FILE_INPUTS: [&str; 4] = ["log", "filestream", "container", "docker"];

/// Parses a filebeat.yml (`local` is where it was read, for errors and relative includes).
pub fn parse(text: &str, local: &Path, root: &Root) -> Result<Config, StoreError> {
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(local, &e))?;
    let mut cfg = Config {
        path_home: lookup(&doc, "path.home").and_then(as_path),
        path_data: lookup(&doc, "path.data").and_then(as_path),
        registry_path: lookup(&doc, "filebeat.registry.path")
            .or_else(|| lookup(&doc, "filebeat.registry_file"))
            .and_then(as_path),
        ..Config::default()
    };
    if let Some(disk) = lookup(&doc, "queue.disk") {
        cfg.disk_queue = Some(lookup(disk, "path").and_then(as_path));
    }
    if lookup(&doc, "http.enabled").and_then(Value::as_bool) == Some(true) {
        let host = lookup(&doc, "http.host")
            .and_then(as_str)
            .unwrap_or("localhost");
        let port = lookup(&doc, "http.port")
            .and_then(Value::as_u64)
            .unwrap_or(5066);
        match http_base(host, port) {
            Some(url) => cfg.stats_url = Some(url),
            None => cfg.notes.push(format!(
                "http.host {host:?}: drainguard reads Filebeat's /stats over TCP only; \
                 the registry alone proves delivery"
            )),
        }
    }
    for list in ["filebeat.inputs", "filebeat.prospectors"] {
        if let Some(Value::Sequence(items)) = lookup(&doc, list) {
            for item in items {
                parse_input(item, local, &mut cfg)?;
            }
        }
    }
    if let Some(pattern) = lookup(&doc, "filebeat.config.inputs.path").and_then(as_str) {
        external_inputs(pattern, local, root, &mut cfg)?;
    }
    // Inputs drainguard cannot enumerate: their files' registry entries are still checked,
    // but files they would pick up and have not yet are not seen as untracked.
    for (key, what) in [
        ("filebeat.autodiscover", "autodiscover providers"),
        ("filebeat.modules", "modules"),
        ("filebeat.config.modules", "module configs"),
    ] {
        if lookup(&doc, key).is_some() {
            cfg.notes.push(format!(
                "{key}: inputs from {what} are not enumerated; their registry entries are checked, \
                 but files they have not picked up yet are not reported as untracked"
            ));
        }
    }
    Ok(cfg)
}

fn parse_input(item: &Value, local: &Path, cfg: &mut Config) -> Result<(), StoreError> {
    let kind = lookup(item, "type")
        .or_else(|| lookup(item, "input_type"))
        .and_then(as_str)
        .unwrap_or("log")
        .to_string();
    if !FILE_INPUTS.contains(&kind.as_str()) {
        return Ok(());
    }
    if lookup(item, "enabled").and_then(Value::as_bool) == Some(false) {
        return Ok(());
    }
    let ignore_older = match lookup(item, "ignore_older") {
        None => None,
        Some(v) => {
            let (text, d) = match v {
                // go-ucfg reads a bare number as seconds.
                Value::Number(n) => (
                    n.to_string(),
                    n.as_f64()
                        .and_then(|secs| Duration::try_from_secs_f64(secs).ok()),
                ),
                other => {
                    let text = as_str(other).unwrap_or_default().to_string();
                    let d = parse_go_duration(&text);
                    (text, d)
                }
            };
            let d = d.ok_or_else(|| StoreError::Config {
                path: local.to_path_buf(),
                what: format!("ignore_older: {text:?} is not a duration like 24h or 72h0m0s"),
            })?;
            (!d.is_zero()).then_some(d)
        }
    };
    let fp = |k: &str, default: u64| {
        lookup(item, &format!("prospector.scanner.fingerprint.{k}"))
            .and_then(Value::as_u64)
            .unwrap_or(default)
    };
    cfg.inputs.push(Input {
        id: lookup(item, "id").and_then(as_str).map(str::to_string),
        paths: strings(lookup(item, "paths")),
        exclude_files: strings(lookup(item, "exclude_files")),
        ignore_older,
        fingerprint: (fp("offset", 0), fp("length", 1024)),
        max_bytes: lookup(item, "max_bytes")
            .or_else(|| lookup(item, "message_max_bytes"))
            .and_then(Value::as_u64),
        kind,
    });
    Ok(())
}

/// `filebeat.config.inputs.path`: files holding lists of inputs.
fn external_inputs(
    pattern: &str,
    local: &Path,
    root: &Root,
    cfg: &mut Config,
) -> Result<(), StoreError> {
    let config_dir = root.local_to_host(local.parent().unwrap_or(Path::new("/")));
    let pattern = pattern.replace("${path.config}", &config_dir.to_string_lossy());
    if pattern.contains("${") {
        cfg.notes.push(format!(
            "filebeat.config.inputs.path {pattern:?} uses variables drainguard does not expand; those inputs' untracked files are not checked"
        ));
        return Ok(());
    }
    let pattern = if Path::new(&pattern).is_relative() {
        config_dir.join(pattern).to_string_lossy().into_owned()
    } else {
        pattern
    };
    let local_pattern = root.host_to_local(Path::new(&pattern));
    let Ok(paths) = glob::glob(&local_pattern.to_string_lossy()) else {
        return Ok(());
    };
    for file in paths.flatten() {
        let text = std::fs::read_to_string(&file).map_err(|e| StoreError::io(&file, e))?;
        let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| yaml_error(&file, &e))?;
        if let Value::Sequence(items) = doc {
            for item in &items {
                parse_input(item, &file, cfg)?;
            }
        }
    }
    Ok(())
}

fn yaml_error(path: &Path, e: &serde_yaml_ng::Error) -> StoreError {
    let pos = e.location().map_or(Position::default(), |l| Position {
        line: Some(l.line() as u64),
        byte: Some(l.index() as u64),
    });
    StoreError::corrupt(path, pos, format!("invalid YAML: {e}"))
}

fn as_str(v: &Value) -> Option<&str> {
    v.as_str()
}

fn as_path(v: &Value) -> Option<PathBuf> {
    v.as_str().map(PathBuf::from)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A Go duration (`24h`, `72h0m0s`, `1h30m`, `500ms`, `0`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    // Go durations are int64 nanoseconds: anything larger (or NaN) is not a duration.
    if total > i64::MAX as f64 / 1e9 {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_and_nested_keys_are_the_same() {
        let doc: Value = serde_yaml_ng::from_str(
            "path.data: /a\nfilebeat:\n  registry.path: reg\nqueue:\n  disk:\n    max_size: 1GB\n",
        )
        .unwrap();
        assert_eq!(lookup(&doc, "path.data").and_then(as_str), Some("/a"));
        assert_eq!(
            lookup(&doc, "filebeat.registry.path").and_then(as_str),
            Some("reg")
        );
        assert!(lookup(&doc, "queue.disk").is_some());
        assert!(lookup(&doc, "queue.mem").is_none());
    }

    #[test]
    fn inputs_paths_excludes_and_durations() {
        let text = r#"
filebeat.inputs:
  - type: filestream
    id: app
    paths: ["/var/log/app/*.log"]
    exclude_files: ['\.gz$']
    ignore_older: 72h0m0s
    prospector.scanner.fingerprint:
      offset: 10
      length: 64
    message_max_bytes: 1048576
  - type: journald
    id: j
  - type: log
    enabled: false
    paths: [/x]
  - type: log
    paths: /var/log/syslog
    max_bytes: 20971520
queue.disk:
  path: /var/lib/filebeat/dq
"#;
        let cfg = parse(
            text,
            Path::new("/etc/filebeat/filebeat.yml"),
            &Root::default(),
        )
        .unwrap();
        assert_eq!(cfg.inputs.len(), 2);
        let app = &cfg.inputs[0];
        assert_eq!(app.id.as_deref(), Some("app"));
        assert_eq!(app.exclude_files, vec![r"\.gz$".to_string()]);
        assert_eq!(app.ignore_older, Some(Duration::from_secs(72 * 3600)));
        assert_eq!(app.fingerprint, (10, 64));
        assert_eq!(cfg.inputs[1].paths, vec!["/var/log/syslog".to_string()]);
        assert_eq!(cfg.inputs[1].fingerprint, (0, 1024));
        assert_eq!(
            app.max_bytes,
            Some(1024 * 1024),
            "filestream message_max_bytes"
        );
        assert_eq!(
            cfg.inputs[1].max_bytes,
            Some(20 * 1024 * 1024),
            "log max_bytes"
        );
        assert_eq!(
            cfg.disk_queue,
            Some(Some(PathBuf::from("/var/lib/filebeat/dq")))
        );
    }

    #[test]
    fn bad_yaml_and_bad_durations_name_the_place() {
        let e = parse("a: [1,\n", Path::new("/f.yml"), &Root::default()).unwrap_err();
        assert!(
            e.to_string().contains("/f.yml") && e.to_string().contains("line"),
            "{e}"
        );
        let e = parse(
            "filebeat.inputs:\n  - type: log\n    ignore_older: soon\n",
            Path::new("/f.yml"),
            &Root::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ignore_older"), "{e}");
    }

    #[test]
    fn inputs_it_cannot_enumerate_are_noted() {
        let cfg = parse(
            "filebeat.autodiscover:\n  providers: []\nfilebeat.modules:\n- module: system\n",
            Path::new("/f.yml"),
            &Root::default(),
        )
        .unwrap();
        assert_eq!(cfg.notes.len(), 2, "{:?}", cfg.notes);
        assert!(cfg.notes[0].starts_with("filebeat.autodiscover"));
        assert!(cfg.notes[1].starts_with("filebeat.modules"));
        let plain = parse(
            "filebeat.inputs: []\n",
            Path::new("/f.yml"),
            &Root::default(),
        );
        assert!(plain.unwrap().notes.is_empty());
    }

    #[test]
    fn huge_durations_are_refused_not_a_panic() {
        assert_eq!(parse_go_duration("99999999999999999999999h"), None);
        assert_eq!(
            parse_go_duration("2562047h"),
            Some(Duration::from_secs(2562047 * 3600))
        );
        let cfg = parse(
            "filebeat.inputs:\n- type: log\n  paths: [/x]\n  ignore_older: 86400\n",
            Path::new("/f.yml"),
            &Root::default(),
        )
        .unwrap();
        assert_eq!(cfg.inputs[0].ignore_older, Some(Duration::from_secs(86400)));
        let e = parse(
            "filebeat.inputs:\n- type: log\n  ignore_older: 1e300\n",
            Path::new("/f.yml"),
            &Root::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ignore_older"), "{e}");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("24h"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("10 days"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
