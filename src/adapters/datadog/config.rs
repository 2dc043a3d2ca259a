//! The Datadog Agent's configuration: `datadog.yaml` (`run_path`, `logs_config.*`,
//! `confd_path`) and the integration configs `conf.d/<name>.d/*.yaml` (and `conf.d/*.yaml`)
//! whose `logs:` sections name the tailed files.

use std::path::{Path, PathBuf};

use crate::adapters::common;
use crate::cursor::InputSpec;
use crate::error::StoreError;
use crate::root::Root;

/// The Linux packages' config directory, main config and run path.
pub const CONFIG_DIR: &str = "/etc/datadog-agent";
pub const MAIN: &str = "datadog.yaml";
pub const RUN_PATH: &str = "/opt/datadog-agent/run";
/// The agent's own log on Linux (`log_file`).
pub const LOG_FILE: &str = "/var/log/datadog/agent.log";

/// What drainguard takes from the agent's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `datadog.yaml` as read (local path), `None` when there is none.
    pub source: Option<PathBuf>,
    /// `logs_config.run_path`, else `run_path` (host path).
    pub run_path: PathBuf,
    /// `confd_path` (host path).
    pub confd: PathBuf,
    /// `logs_enabled` (false: the agent collects no logs).
    pub logs_enabled: bool,
    /// `logs_config.disk_retry.max_size_bytes > 0`: its spool directory (host path).
    pub disk_retry: Option<PathBuf>,
    /// `logs_config.atomic_registry_write` (default true).
    pub atomic_write: bool,
    /// `logs_config.close_timeout` in seconds (default 60): how long a rotated file is read.
    pub close_timeout: u64,
    /// `log_file`: the agent's own log (host path).
    pub log_file: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            run_path: PathBuf::from(RUN_PATH),
            confd: Path::new(CONFIG_DIR).join("conf.d"),
            logs_enabled: false,
            disk_retry: None,
            atomic_write: true,
            close_timeout: 60,
            log_file: PathBuf::from(LOG_FILE),
        }
    }
}

fn yaml_error(path: &Path, e: serde_yaml_ng::Error) -> StoreError {
    StoreError::Config {
        path: path.to_path_buf(),
        what: e.to_string(),
    }
}

/// Parses `datadog.yaml` (read from `path`, a local path).
pub fn parse_main(path: &Path, text: &str) -> Result<Config, StoreError> {
    crate::safe_read::check_nesting(path, text.as_bytes())?;
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(path, e))?;
    let s = |k: &str| {
        common::lookup(&v, k)
            .and_then(|x| x.as_str())
            .map(PathBuf::from)
    };
    let mut c = Config {
        source: Some(path.to_path_buf()),
        ..Config::default()
    };
    if let Some(r) = s("logs_config.run_path").or_else(|| s("run_path")) {
        c.run_path = r;
    }
    if let Some(d) = s("confd_path") {
        c.confd = d;
    }
    if let Some(l) = s("log_file").filter(|l| !l.as_os_str().is_empty()) {
        c.log_file = l;
    }
    c.logs_enabled = common::lookup(&v, "logs_enabled")
        .and_then(common::go_yaml_bool)
        .unwrap_or(false);
    c.atomic_write = common::lookup(&v, "logs_config.atomic_registry_write")
        .and_then(common::go_yaml_bool)
        .unwrap_or(true);
    if let Some(t) = common::lookup(&v, "logs_config.close_timeout").and_then(|x| x.as_u64()) {
        c.close_timeout = t;
    }
    // A number, or a string of one (the agent's config loader takes both).
    let retry = common::lookup(&v, "logs_config.disk_retry.max_size_bytes")
        .and_then(|x| x.as_u64().or_else(|| x.as_str()?.trim().parse().ok()))
        .unwrap_or(0);
    if retry > 0 {
        c.disk_retry =
            Some(s("logs_config.disk_retry.path").unwrap_or_else(|| c.run_path.join("logs-retry")));
    }
    Ok(c)
}

/// The agent's main config: `config` (a file, or the directory `-c`/`--cfgpath` names),
/// else `/etc/datadog-agent/datadog.yaml`; the defaults when there is none.
pub fn load(root: &Root, config: Option<&Path>) -> Result<Config, StoreError> {
    let file = match config {
        Some(c) => {
            let local = root.host_to_local(c);
            let file = if local.is_dir() {
                local.join(MAIN)
            } else {
                local
            };
            let text = common::read_config_file(&file)?;
            return parse_main(&file, &text);
        }
        None => root.host_to_local(&Path::new(CONFIG_DIR).join(MAIN)),
    };
    match crate::safe_read::read_text_if_exists(&file, crate::safe_read::Limit::CONFIG)? {
        Some(text) => parse_main(&file, &text),
        None => Ok(Config::default()),
    }
}

/// The `type: file` entries of one integration config's `logs:` section, one input each
/// (named after the config file's directory, e.g. `nginx.d`).
pub fn parse_logs(path: &Path, text: &str) -> Result<Vec<InputSpec>, StoreError> {
    crate::safe_read::check_nesting(path, text.as_bytes())?;
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(path, e))?;
    let name = path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(logs) = v.get("logs").and_then(|l| l.as_sequence()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for l in logs {
        if l.get("type").and_then(|t| t.as_str()) != Some("file") {
            continue;
        }
        let Some(p) = l.get("path").and_then(|p| p.as_str()) else {
            continue;
        };
        let exclude: Vec<String> = l
            .get("exclude_paths")
            .and_then(|e| e.as_sequence())
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(String::from))
            .collect();
        let source = l.get("source").and_then(|s| s.as_str()).unwrap_or("");
        let label = if source.is_empty() {
            name.clone()
        } else {
            format!("{name} ({source})")
        };
        out.push(InputSpec::globs(label, &[p.to_string()], &exclude));
    }
    Ok(out)
}

/// Every `type: file` log input under `confd` (host path): `*.d/*.yaml` and `*.yaml`; and
/// the directories of conf.d that could not be listed (their inputs are unknown), each said
/// with the error and the fix.
pub fn inputs(root: &Root, confd: &Path) -> Result<(Vec<InputSpec>, Vec<String>), StoreError> {
    let local = root.host_to_local(confd);
    let depth = crate::glob_walk::recursive_depth(crate::cursor::ShipperKind::DatadogAgent);
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    for pattern in ["*.d/*.yaml", "*.yaml"] {
        let p = format!(
            "{}/{pattern}",
            glob::Pattern::escape(&local.to_string_lossy())
        );
        match crate::glob_walk::expand_all(&p, depth) {
            Ok(e) => {
                files.extend(e.paths);
                unreadable.extend(e.unreadable);
            }
            Err(e) => unreadable.push(format!("conf.d {}: {e}", crate::display::path(confd))),
        }
    }
    files.sort();
    files.dedup();
    unreadable.sort();
    unreadable.dedup();
    let mut out = Vec::new();
    for f in files {
        let text = common::read_config_file(&f)?;
        out.extend(parse_logs(&f, &text)?);
    }
    Ok((out, unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_config_run_path_and_disk_retry() {
        let c = parse_main(
            Path::new("/d.yaml"),
            "logs_enabled: true\nrun_path: /var/run/dd\nlogs_config:\n  disk_retry:\n    max_size_bytes: 1000\n  close_timeout: 5\n",
        )
        .unwrap();
        assert_eq!(c.run_path, PathBuf::from("/var/run/dd"));
        assert_eq!(c.disk_retry, Some(PathBuf::from("/var/run/dd/logs-retry")));
        assert_eq!(
            (c.logs_enabled, c.close_timeout, c.atomic_write),
            (true, 5, true)
        );
        let c = parse_main(
            Path::new("/d.yaml"),
            "run_path: /a\nlogs_config:\n  run_path: /b\n  atomic_registry_write: false\n",
        )
        .unwrap();
        assert_eq!(c.run_path, PathBuf::from("/b"));
        assert!(!c.atomic_write && c.disk_retry.is_none());
        let e = parse_main(Path::new("/d.yaml"), "a: [\n").unwrap_err();
        assert!(e.to_string().contains("/d.yaml"), "{e}");
    }

    /// datadog.yaml is read by Go's yaml.v2 (YAML 1.1: `yes`, `on` are true) and a quoted
    /// "true" is cast as well: a logs agent read as metrics-only would be left out.
    #[test]
    fn booleans_are_read_as_the_agent_reads_them() {
        for (text, on) in [
            ("logs_enabled: yes\n", true),
            ("logs_enabled: on\n", true),
            ("logs_enabled: \"true\"\n", true),
            ("logs_enabled: True\n", true),
            ("logs_enabled: no\n", false),
            ("logs_enabled: false\n", false),
            ("logs_enabled: maybe\n", false),
        ] {
            let c = parse_main(Path::new("/d.yaml"), text).unwrap();
            assert_eq!(c.logs_enabled, on, "{text}");
        }
        let c = parse_main(
            Path::new("/d.yaml"),
            "logs_config:\n  atomic_registry_write: off\n",
        )
        .unwrap();
        assert!(!c.atomic_write);
    }

    #[test]
    fn logs_sections_give_file_inputs_only() {
        let t = "init_config:\ninstances: [{}]\nlogs:\n  - type: file\n    path: /var/log/nginx/*.log\n    service: web\n    source: nginx\n    exclude_paths:\n      - /var/log/nginx/debug.log\n  - type: journald\n  - type: tcp\n    port: 10518\n";
        let i = parse_logs(Path::new("/etc/datadog-agent/conf.d/nginx.d/conf.yaml"), t).unwrap();
        assert_eq!(i.len(), 1);
        assert_eq!(i[0].name, "nginx.d (nginx)");
        assert_eq!(i[0].paths, vec!["/var/log/nginx/*.log".to_string()]);
        assert_eq!(i[0].exclude.len(), 1);
    }
}
