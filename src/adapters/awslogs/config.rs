//! The agent's config: Python `configparser.RawConfigParser` INI (`aws logs push
//! --config-file`), the stream sections of `--additional-configs-dir`'s files merged in as
//! `LogsPushCommand._get_config` does (a section the main file or an earlier file has is
//! skipped, `[general]` only from the main file), and the agent's defaults
//! (`StreamConfig.DEFAULT_DICT`). Also the Python logging config (`logging_config_file`),
//! for where the agent's own log goes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The Amazon Linux `awslogs` RPM's config, and its additional-configs directory.
pub const RPM_CONFIG: &str = "/etc/awslogs/awslogs.conf";
pub const RPM_CONFIG_DIR: &str = "/etc/awslogs/config";
/// `awslogs-agent-setup.py`'s config, and its additional-configs directory.
pub const SETUP_CONFIG: &str = "/var/awslogs/etc/awslogs.conf";
pub const SETUP_CONFIG_DIR: &str = "/var/awslogs/etc/config";
/// The state files both installers configure (`[general] state_file`).
pub const RPM_STATE: &str = "/var/lib/awslogs/agent-state";
pub const SETUP_STATE: &str = "/var/awslogs/state/agent-state";
/// Where both installers send the agent's log (the launcher's `>> /var/log/awslogs.log 2>&1`).
pub const AGENT_LOG: &str = "/var/log/awslogs.log";

/// The code default of `state_file`: relative to the agent's working directory.
pub const DEFAULT_STATE_FILE: &str = "watchstate";
/// `buffer_duration`'s default and minimum (ms).
pub const MIN_BUFFER_MS: u64 = 5000;

/// One `[section]` of the config: one stream (one `file` glob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section name: the stream key, hashed into every source id.
    pub name: String,
    /// `file`: a Python `glob.glob` pattern (no `**` recursion).
    pub file: String,
    /// `file_fingerprint_lines`: the first and last line (1-based, inclusive).
    pub fingerprint_lines: (u64, u64),
    /// `initial_position = end_of_file`.
    pub from_end: bool,
    /// `buffer_duration` in ms (at least 5000).
    pub buffer_ms: u64,
    pub log_group: String,
    pub log_stream: String,
    /// The file it came from (the main config or one of the additional directory's).
    pub source: PathBuf,
}

/// What drainguard takes from the agent's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The main config (local path).
    pub source: Option<PathBuf>,
    /// `[general] state_file` as written (host path, maybe relative).
    pub state_file: Option<PathBuf>,
    /// `[general] logging_config_file`.
    pub logging_config: Option<PathBuf>,
    pub sections: Vec<Section>,
    /// What the agent would warn about or refuse, for the report's notes.
    pub notes: Vec<String>,
}

/// A parsed INI file: sections in order, each option (lower-cased) to its value, plus the
/// `[DEFAULT]` section's.
#[derive(Debug, Default)]
pub struct Ini {
    pub defaults: BTreeMap<String, String>,
    pub sections: Vec<(String, BTreeMap<String, String>)>,
}

impl Ini {
    /// `option` of `section`, else of `[DEFAULT]`.
    pub fn get<'a>(&'a self, section: &str, option: &str) -> Option<&'a str> {
        self.sections
            .iter()
            .find(|(n, _)| n == section)
            .and_then(|(_, o)| o.get(option))
            .or_else(|| self.defaults.get(option))
            .map(String::as_str)
    }
}

/// Parses INI text as Python 3's `RawConfigParser` (strict mode) does: `[name]` headers
/// (the name runs to the last `]`), `key = value` / `key: value` (keys lower-cased, both
/// sides stripped), whole-line `#`/`;` comments, indented continuation lines, and a
/// duplicate section or option in one file an error naming its line.
pub fn parse_ini(path: &Path, text: &str) -> Result<Ini, StoreError> {
    let err = |line: usize, what: String| {
        StoreError::corrupt(
            path,
            crate::error::Position {
                line: Some(line as u64 + 1),
                byte: None,
            },
            what,
        )
    };
    let mut ini = Ini::default();
    // Which map the current section is: None before the first header.
    let mut current: Option<usize> = None;
    let mut in_default = false;
    // The option a continuation line extends, and the indent of its line.
    let mut last: Option<(String, usize)> = None;
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.is_empty() {
            last = None;
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let Some((opt, at)) = &last {
            if indent > *at {
                let map = if in_default {
                    &mut ini.defaults
                } else {
                    &mut ini.sections[current.expect("an option has a section")].1
                };
                if let Some(v) = map.get_mut(opt) {
                    v.push('\n');
                    v.push_str(trimmed);
                }
                continue;
            }
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            if let Some(end) = rest.rfind(']').filter(|&e| e > 0) {
                let name = &rest[..end];
                last = None;
                if name == "DEFAULT" {
                    in_default = true;
                    continue;
                }
                in_default = false;
                if ini.sections.iter().any(|(s, _)| s == name) {
                    return Err(err(n, format!("section [{name}] appears twice")));
                }
                ini.sections.push((name.to_string(), BTreeMap::new()));
                current = Some(ini.sections.len() - 1);
                continue;
            }
        }
        let Some(at) = trimmed.find(['=', ':']) else {
            return Err(err(
                n,
                format!("not `key = value` nor a [section]: {trimmed:?}"),
            ));
        };
        let key = trimmed[..at].trim().to_lowercase();
        let value = trimmed[at + 1..].trim().to_string();
        let map = if in_default {
            &mut ini.defaults
        } else {
            match current {
                Some(i) => &mut ini.sections[i].1,
                None => return Err(err(n, "an option before the first [section]".into())),
            }
        };
        if map.insert(key.clone(), value).is_some() {
            return Err(err(n, format!("option {key} appears twice in its section")));
        }
        last = Some((key, indent));
    }
    Ok(ini)
}

/// `file_fingerprint_lines` as the agent takes it: `N` or `N-M` (an invalid one, or `N-`,
/// falls back as the agent's does); `None` for a value the agent would fail on.
fn fingerprint_lines(v: &str) -> Result<(u64, u64), String> {
    let valid = {
        let (a, b) = v.split_once('-').unwrap_or((v, ""));
        !a.is_empty()
            && a.starts_with(|c: char| ('1'..='9').contains(&c))
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    };
    if !valid {
        return Ok((1, 1));
    }
    match v.split_once('-') {
        None => v.parse().map(|n| (n, n)).map_err(|e| format!("{v}: {e}")),
        Some((_, "")) => Err(format!(
            "file_fingerprint_lines {v:?}: the agent fails on `N-` (int(''))"
        )),
        Some((a, b)) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(a), Ok(b)) => Ok((a, b)),
            _ => Err(format!("file_fingerprint_lines {v:?} is out of range")),
        },
    }
}

/// The config from the main file `path` (its text `text`) and the files of `extra_dir`
/// (local path; missing is fine).
pub fn parse(path: &Path, text: &str, extra_dir: Option<&Path>) -> Result<Config, StoreError> {
    crate::safe_read::check_nesting(path, text.as_bytes())?;
    let main = parse_ini(path, text)?;
    let mut c = Config {
        source: Some(path.to_path_buf()),
        ..Config::default()
    };
    c.state_file = Some(PathBuf::from(
        main.get("general", "state_file")
            .unwrap_or(DEFAULT_STATE_FILE),
    ));
    c.logging_config = main
        .get("general", "logging_config_file")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let mut files: Vec<(PathBuf, Ini)> = vec![(path.to_path_buf(), main)];
    if let Some(dir) = extra_dir {
        let mut names: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.is_file()))
                .map(|e| e.path())
                .collect(),
            Err(_) => Vec::new(),
        };
        // The agent takes os.listdir's order; sorted here, so which of two files defining
        // one section wins may differ: noted below.
        names.sort();
        names.truncate(4096);
        for f in names {
            let parsed =
                crate::adapters::common::read_config_file(&f).and_then(|t| parse_ini(&f, &t));
            match parsed {
                Ok(ini) => files.push((f, ini)),
                Err(e) => c.notes.push(format!(
                    "{e}: the agent skips this additional config file as well"
                )),
            }
        }
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, (file, ini)) in files.iter().enumerate() {
        for (name, _) in &ini.sections {
            if name == "general" {
                continue;
            }
            if seen.contains(name) {
                if i > 0 {
                    c.notes.push(format!(
                        "[{name}] of {} is ignored: an earlier config file defines it (the \
                         agent takes the first in its directory listing order)",
                        crate::display::path(file)
                    ));
                }
                continue;
            }
            seen.push(name.clone());
            let get = |k: &str| ini.get(name, k);
            let Some(glob) = get("file").filter(|f| !f.is_empty()) else {
                c.notes.push(format!(
                    "[{name}] in {} has no `file`: the agent cannot start this stream",
                    crate::display::path(file)
                ));
                continue;
            };
            let lines = match fingerprint_lines(get("file_fingerprint_lines").unwrap_or("1")) {
                Ok(l) => l,
                Err(why) => {
                    c.notes
                        .push(format!("[{name}]: {why}: the stream does not start"));
                    continue;
                }
            };
            let buffer_ms = get("buffer_duration")
                .and_then(|b| b.parse::<u64>().ok())
                .unwrap_or(MIN_BUFFER_MS)
                .max(MIN_BUFFER_MS);
            c.sections.push(Section {
                name: name.clone(),
                file: glob.to_string(),
                fingerprint_lines: lines,
                from_end: get("initial_position") == Some("end_of_file"),
                buffer_ms,
                log_group: get("log_group_name").unwrap_or_default().to_string(),
                log_stream: get("log_stream_name").unwrap_or_default().to_string(),
                source: file.clone(),
            });
        }
    }
    Ok(c)
}

/// The files a Python logging config (`logging.config.fileConfig`) writes to: the first
/// quoted string of `args` (or `filename`/`kwargs`' `filename`) of each `[handler_*]` whose
/// class is a file handler, in order. Empty when it logs nowhere drainguard can read.
pub fn logging_files(path: &Path, text: &str) -> Result<Vec<PathBuf>, StoreError> {
    let ini = parse_ini(path, text)?;
    let mut out = Vec::new();
    for (name, opts) in &ini.sections {
        if !name.starts_with("handler_") {
            continue;
        }
        if !opts.get("class").is_some_and(|c| c.contains("FileHandler")) {
            continue;
        }
        let quoted = opts
            .get("args")
            .or_else(|| opts.get("kwargs"))
            .and_then(|a| first_quoted(a))
            .or_else(|| opts.get("filename").cloned());
        if let Some(p) = quoted.filter(|p| !p.is_empty()) {
            out.push(PathBuf::from(p));
        }
    }
    Ok(out)
}

/// The first `'...'` or `"..."` string of a Python expression.
fn first_quoted(expr: &str) -> Option<String> {
    let start = expr.find(['\'', '"'])?;
    let q = expr[start..].chars().next()?;
    let rest = &expr[start + 1..];
    let end = rest.find(q)?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_defaults_continuations_and_the_agents_defaults() {
        let t = "[general]\nstate_file = /var/lib/awslogs/agent-state\n\
                 logging_config_file=/etc/awslogs/log.conf\n\
                 [DEFAULT]\nbuffer_duration = 1000\n\
                 # a comment\n\
                 [/var/log/messages]\nFile = /var/log/messages\nlog_group_name = m\n\
                 log_stream_name = {instance_id}\ndatetime_format = %b %d %H:%M:%S\n\
                 multi_line_start_pattern = ^\\d\n  continued\n\
                 [app]\nfile: /var/log/app/*.log\ninitial_position = end_of_file\n\
                 file_fingerprint_lines = 2-4\nbuffer_duration = 9000\n";
        let c = parse(Path::new("/a.conf"), t, None).unwrap();
        assert_eq!(
            c.state_file.as_deref(),
            Some(Path::new("/var/lib/awslogs/agent-state"))
        );
        assert_eq!(
            c.logging_config.as_deref(),
            Some(Path::new("/etc/awslogs/log.conf"))
        );
        assert_eq!(c.sections.len(), 2);
        let m = &c.sections[0];
        assert_eq!(
            (m.name.as_str(), m.file.as_str()),
            ("/var/log/messages", "/var/log/messages")
        );
        assert_eq!(m.fingerprint_lines, (1, 1));
        // [DEFAULT]'s 1000 is below the minimum.
        assert_eq!(m.buffer_ms, 5000);
        assert!(!m.from_end);
        let a = &c.sections[1];
        assert_eq!(a.fingerprint_lines, (2, 4));
        assert!(a.from_end);
        assert_eq!(a.buffer_ms, 9000);
    }

    #[test]
    fn state_file_defaults_to_the_relative_watchstate() {
        let c = parse(Path::new("/a.conf"), "[s]\nfile=/x\n", None).unwrap();
        assert_eq!(c.state_file.as_deref(), Some(Path::new("watchstate")));
    }

    #[test]
    fn duplicates_and_garbage_name_their_line() {
        let e = parse(Path::new("/a.conf"), "[s]\nfile=/x\n[s]\n", None).unwrap_err();
        assert!(
            e.to_string().contains("/a.conf") && e.to_string().contains("line 3"),
            "{e}"
        );
        let e = parse(Path::new("/a.conf"), "[s]\nfile=/x\nfile=/y\n", None).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        let e = parse(Path::new("/a.conf"), "[s]\nwhat\n", None).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse(Path::new("/a.conf"), "file=/x\n", None).unwrap_err();
        assert!(e.to_string().contains("before the first"), "{e}");
    }

    #[test]
    fn fingerprint_lines_as_the_agent_takes_them() {
        assert_eq!(fingerprint_lines("1"), Ok((1, 1)));
        assert_eq!(fingerprint_lines("3-5"), Ok((3, 5)));
        // Invalid: the agent warns and uses the first line.
        assert_eq!(fingerprint_lines("0"), Ok((1, 1)));
        assert_eq!(fingerprint_lines("x"), Ok((1, 1)));
        assert!(fingerprint_lines("2-").is_err());
        assert!(fingerprint_lines("99999999999999999999999").is_err());
    }

    #[test]
    fn additional_configs_add_only_new_stream_sections() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("a.conf"),
            "[general]\nstate_file=/elsewhere\n[one]\nfile=/other\n[two]\nfile=/t\n",
        )
        .unwrap();
        std::fs::write(d.path().join("b.conf"), "[[[broken\n").unwrap();
        let c = parse(
            Path::new("/main.conf"),
            "[general]\nstate_file=/s\n[one]\nfile=/o\n",
            Some(d.path()),
        )
        .unwrap();
        assert_eq!(c.state_file.as_deref(), Some(Path::new("/s")));
        let names: Vec<(&str, &str)> = c
            .sections
            .iter()
            .map(|s| (s.name.as_str(), s.file.as_str()))
            .collect();
        assert_eq!(names, [("one", "/o"), ("two", "/t")]);
        assert!(
            c.notes.iter().any(|n| n.contains("b.conf")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn logging_config_file_handlers() {
        let t = "[loggers]\nkeys=root\n[handlers]\nkeys=file,console\n\
                 [handler_file]\nclass=handlers.RotatingFileHandler\n\
                 args=('/var/log/awslogs.log', 'a', 100*1024*1024, 5)\n\
                 [handler_console]\nclass=StreamHandler\nargs=(sys.stderr,)\n";
        assert_eq!(
            logging_files(Path::new("/l.conf"), t).unwrap(),
            [PathBuf::from("/var/log/awslogs.log")]
        );
    }
}
