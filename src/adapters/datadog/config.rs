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
    /// `logs_config.container_collect_all`: every container's logs are collected.
    pub container_collect_all: bool,
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
            container_collect_all: false,
        }
    }
}

fn yaml_error(path: &Path, e: serde_yaml_ng::Error) -> StoreError {
    StoreError::Config {
        path: path.to_path_buf(),
        what: e.to_string(),
    }
}

/// The `DD_*` variables of the running agent's environment. The agent's config loader lets
/// each of them override its key in `datadog.yaml`: `DD_` and the key upper-cased, `.` as
/// `_` (`logs_config.run_path` -> `DD_LOGS_CONFIG_RUN_PATH`); an empty value is unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    /// The pairs of `vars` that override one of the [`KEYS`] drainguard reads; every other
    /// variable (`DD_API_KEY` among them) is dropped at once, never kept or shown.
    pub fn new(vars: Vec<(String, String)>) -> Env {
        let names: Vec<String> = KEYS.iter().map(|k| Env::name(k)).collect();
        Env {
            vars: vars
                .into_iter()
                .filter(|(k, _)| names.contains(k))
                .collect(),
        }
    }

    /// The variable that overrides `key`.
    pub fn name(key: &str) -> String {
        format!("DD_{}", key.to_ascii_uppercase().replace('.', "_"))
    }

    /// The override of `key`: `None` when unset or empty (the last of a name wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        let name = Env::name(key);
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The settings drainguard reads from `datadog.yaml` (or its environment override).
pub const KEYS: [&str; 11] = [
    "logs_enabled",
    "log_enabled",
    "run_path",
    "logs_config.run_path",
    "confd_path",
    "log_file",
    "logs_config.atomic_registry_write",
    "logs_config.close_timeout",
    "logs_config.disk_retry.max_size_bytes",
    "logs_config.disk_retry.path",
    "logs_config.container_collect_all",
];

/// Parses `datadog.yaml` (read from `path`, a local path).
pub fn parse_main(path: &Path, text: &str) -> Result<Config, StoreError> {
    parse_main_env(path, text, &Env::default())
}

/// [`parse_main`], with the agent's environment overriding the file.
pub fn parse_main_env(path: &Path, text: &str, env: &Env) -> Result<Config, StoreError> {
    crate::safe_read::check_nesting(path, text.as_bytes())?;
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(path, e))?;
    Ok(from_value(Some(path.to_path_buf()), &v, env))
}

/// The config of `datadog.yaml`'s value `v` (`Null` without one), each key overridden by
/// `env`.
fn from_value(source: Option<PathBuf>, v: &serde_yaml_ng::Value, env: &Env) -> Config {
    // An override is a string: the same words the agent takes as booleans and numbers.
    let get = |k: &str| -> Option<serde_yaml_ng::Value> {
        match env.get(k) {
            Some(e) => Some(serde_yaml_ng::Value::String(e.to_string())),
            None => common::lookup(v, k).cloned(),
        }
    };
    let s = |k: &str| get(k).and_then(|x| x.as_str().map(PathBuf::from));
    let b = |k: &str| get(k).and_then(|x| common::go_yaml_bool(&x));
    let n = |k: &str| get(k).and_then(|x| x.as_u64().or_else(|| x.as_str()?.trim().parse().ok()));
    let mut c = Config {
        source,
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
    // `log_enabled` is the deprecated name the agent still honours.
    c.logs_enabled = b("logs_enabled").unwrap_or(false) || b("log_enabled").unwrap_or(false);
    c.atomic_write = b("logs_config.atomic_registry_write").unwrap_or(true);
    c.container_collect_all = b("logs_config.container_collect_all").unwrap_or(false);
    if let Some(t) = n("logs_config.close_timeout") {
        c.close_timeout = t;
    }
    // A number, or a string of one (the agent's config loader takes both).
    if n("logs_config.disk_retry.max_size_bytes").unwrap_or(0) > 0 {
        c.disk_retry =
            Some(s("logs_config.disk_retry.path").unwrap_or_else(|| c.run_path.join("logs-retry")));
    }
    c
}

/// The agent's main config: `config` (a file, or the directory `-c`/`--cfgpath` names),
/// else `/etc/datadog-agent/datadog.yaml`; the defaults when there is none. `env` (the
/// running agent's) overrides either.
pub fn load(root: &Root, config: Option<&Path>, env: &Env) -> Result<Config, StoreError> {
    let file = match config {
        Some(c) => {
            let local = root.host_to_local(c);
            let file = if local.is_dir() {
                local.join(MAIN)
            } else {
                local
            };
            let text = common::read_config_file(&file)?;
            return parse_main_env(&file, &text, env);
        }
        None => root.host_to_local(&Path::new(CONFIG_DIR).join(MAIN)),
    };
    match crate::safe_read::read_text_if_exists(&file, crate::safe_read::Limit::CONFIG)? {
        Some(text) => parse_main_env(&file, &text, env),
        None => Ok(from_value(None, &serde_yaml_ng::Value::Null, env)),
    }
}

/// The environment of the running agent: the `DD_*` variables of the first agent process
/// (in `procfs`) whose `/proc/<pid>/environ` can be read (bounded, read-only), and a note
/// when one runs but none can be read (its overrides are then unknown). No agent running:
/// no overrides.
pub fn agent_env(procfs: &crate::process::ProcFs, root: &Root) -> (Env, Option<String>) {
    let pids = procfs.find(root, crate::cursor::ShipperKind::DatadogAgent, None);
    let mut errors = Vec::new();
    for &pid in &pids {
        match procfs.environ(pid) {
            Ok(vars) => return (Env::new(vars), None),
            Err(e) => errors.push(format!("pid {pid}: {e}")),
        }
    }
    let note = (!errors.is_empty()).then(|| {
        format!(
            "the running agent's environment cannot be read ({}): DD_* overrides of \
             datadog.yaml (DD_LOGS_ENABLED, DD_LOGS_CONFIG_RUN_PATH ...) are not applied; run \
             drainguard as root",
            errors.join("; ")
        )
    });
    (Env::default(), note)
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
