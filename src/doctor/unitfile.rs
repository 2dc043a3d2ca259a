//! Reading a unit the way systemd does: the unit search path (the first directory that has
//! the file wins), drop-ins `<unit>.d/*.conf` from every directory (a drop-in name in a
//! higher-precedence directory masks the same name below; applied in file-name order),
//! comments, line continuations, and list settings where an empty assignment resets the list.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::install::probe::UNIT_DIRS;
use crate::root::Root;

/// A loaded unit: every assignment in order, per section and key.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    /// The main file (host path).
    pub path: PathBuf,
    pub dropins: Vec<PathBuf>,
    values: BTreeMap<(String, String), Vec<String>>,
}

impl Unit {
    /// The effective list for `key` (assignments appended, empty ones reset), split into words.
    pub fn list(&self, section: &str, key: &str) -> Vec<String> {
        self.values
            .get(&(section.to_string(), key.to_string()))
            .map(|vs| {
                vs.iter()
                    .flat_map(|v| v.split_whitespace().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The last assignment of `key`, if any.
    pub fn last(&self, section: &str, key: &str) -> Option<&str> {
        self.values
            .get(&(section.to_string(), key.to_string()))
            .and_then(|vs| vs.last())
            .map(String::as_str)
    }

    /// Every assignment of `key` (for command lines: one command each).
    pub fn all(&self, section: &str, key: &str) -> &[String] {
        self.values
            .get(&(section.to_string(), key.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn assign(&mut self, section: &str, key: &str, value: &str) {
        let list = self
            .values
            .entry((section.to_string(), key.to_string()))
            .or_default();
        if value.is_empty() {
            list.clear();
        } else {
            list.push(value.to_string());
        }
    }

    /// Applies one unit file's text.
    pub fn apply_text(&mut self, text: &str) {
        let mut section = String::new();
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim_end();
            if pending.is_empty() {
                let t = line.trim_start();
                if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                    continue;
                }
                if t.starts_with('[') && t.ends_with(']') {
                    section = t[1..t.len() - 1].to_string();
                    continue;
                }
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            let full = std::mem::take(&mut pending);
            if let Some((k, v)) = full.split_once('=') {
                self.assign(&section, k.trim(), v.trim());
            }
        }
    }
}

/// The properties doctor reads from a running systemd (`systemctl show`).
const SHOW: &str =
    "LoadState,ActiveState,NeedDaemonReload,Type,RemainAfterExit,ExecStart,ExecStop,After,Before,\
Wants,Conflicts,DefaultDependencies,TimeoutStopUSec";

/// Asks the running systemd for `name`'s loaded properties; `None` when it is not loaded
/// (not found) or systemctl cannot be run.
pub fn from_systemctl(name: &str) -> Option<Unit> {
    let out = std::process::Command::new("systemctl")
        .args(["show", name, "-p", SHOW])
        .output()
        .ok()?;
    if !out.status.success() {
        tracing::warn!(unit = name, stderr = %String::from_utf8_lossy(&out.stderr).trim(), "systemctl show failed");
        return None;
    }
    from_show(name, &String::from_utf8_lossy(&out.stdout))
}

/// Parses `systemctl show` output (`Key=value` lines) into the same shape as a unit file, so
/// the checks read both alike: dependencies and states under `[Unit]`, the rest under
/// `[Service]`, `TimeoutStopUSec` as `TimeoutStopSec`. `None` when systemd has no such unit.
pub fn from_show(name: &str, text: &str) -> Option<Unit> {
    let mut unit = Unit {
        path: PathBuf::from(format!("systemctl show {name}")),
        ..Unit::default()
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (section, key) = match key {
            "After"
            | "Before"
            | "Wants"
            | "Conflicts"
            | "DefaultDependencies"
            | "LoadState"
            | "ActiveState"
            | "NeedDaemonReload" => ("Unit", key),
            "TimeoutStopUSec" => ("Service", "TimeoutStopSec"),
            _ => ("Service", key),
        };
        unit.assign(section, key, value.trim());
    }
    (unit.last("Unit", "LoadState") != Some("not-found")).then_some(unit)
}

impl Unit {
    /// Applies the drop-ins `<name>.d/*.conf` of every unit directory under `root`: by file
    /// name, the highest-precedence directory's copy of a name wins.
    pub fn apply_dropins(&mut self, root: &Root, name: &str) {
        let mut dropins: BTreeMap<String, PathBuf> = BTreeMap::new();
        for dir in UNIT_DIRS.iter().rev() {
            let d = Path::new(dir).join(format!("{name}.d"));
            let Ok(entries) = std::fs::read_dir(root.host_to_local(&d)) else {
                continue;
            };
            for e in entries.take(10_000).flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if file.ends_with(".conf") {
                    dropins.insert(file.clone(), d.join(&file));
                }
            }
        }
        for (_, p) in dropins {
            self.apply_text(&super::read_host(root, &p).unwrap_or_default());
            self.dropins.push(p);
        }
    }
}

/// Loads `name` from the unit search path under `root`; `None` when no directory has it.
pub fn load(root: &Root, name: &str) -> Option<Unit> {
    // Links are followed inside the root (an absolute target is a host path).
    let (main, local) = UNIT_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .find_map(|p| {
            let local = super::exec::resolve(root, &p).filter(|l| l.is_file())?;
            Some((p, local))
        })?;
    let mut unit = Unit {
        path: main,
        ..Unit::default()
    };
    unit.apply_text(&super::read_text(&local).unwrap_or_default());
    unit.apply_dropins(root, name);
    Some(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_continuations_and_resets() {
        let mut u = Unit::default();
        u.apply_text("[Unit]\nAfter=a.service \\\n  b.service\n# comment\n; other\nBefore=x\n[Service]\nTimeoutStopSec=10\n");
        assert_eq!(u.list("Unit", "After"), vec!["a.service", "b.service"]);
        u.apply_text("[Unit]\nAfter=\nAfter=c.service\n[Service]\nTimeoutStopSec=20\n");
        assert_eq!(u.list("Unit", "After"), vec!["c.service"]);
        assert_eq!(u.list("Unit", "Before"), vec!["x"]);
        assert_eq!(u.last("Service", "TimeoutStopSec"), Some("20"));
    }

    #[test]
    fn systemctl_show_output_reads_like_a_unit() {
        let show = "LoadState=loaded\nActiveState=inactive\nNeedDaemonReload=no\nType=oneshot\n\
RemainAfterExit=yes\nExecStop={ path=/usr/local/bin/drainguard ; argv[]=/usr/local/bin/drainguard wait ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n\
After=filebeat.service network-online.target sysinit.target basic.target\nBefore=shutdown.target tomcat.service\n\
Conflicts=shutdown.target\nDefaultDependencies=yes\nTimeoutStopUSec=26min\n";
        let u = from_show("drainguard.service", show).unwrap();
        assert_eq!(u.last("Unit", "ActiveState"), Some("inactive"));
        assert!(u
            .list("Unit", "After")
            .contains(&"filebeat.service".to_string()));
        assert!(u
            .list("Unit", "Before")
            .contains(&"tomcat.service".to_string()));
        assert_eq!(u.last("Service", "TimeoutStopSec"), Some("26min"));
        assert!(u.all("Service", "ExecStop")[0].contains("drainguard wait"));
        assert!(from_show("x.service", "LoadState=not-found\nActiveState=inactive\n").is_none());
    }

    #[test]
    fn search_path_precedence_and_dropins() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(Some(d.path().to_path_buf()));
        let w = |p: &str, t: &str| {
            let l = d.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(l.parent().unwrap()).unwrap();
            std::fs::write(l, t).unwrap();
        };
        w(
            "/usr/lib/systemd/system/x.service",
            "[Service]\nTimeoutStopSec=5\n",
        );
        w(
            "/etc/systemd/system/x.service",
            "[Service]\nTimeoutStopSec=7\n",
        );
        w(
            "/usr/lib/systemd/system/x.service.d/10-a.conf",
            "[Service]\nTimeoutStopSec=100\n",
        );
        w(
            "/etc/systemd/system/x.service.d/10-a.conf",
            "[Service]\nTimeoutStopSec=200\n",
        );
        w(
            "/run/systemd/system/x.service.d/20-b.conf",
            "[Unit]\nAfter=y.service\n",
        );
        let u = load(&root, "x.service").unwrap();
        assert_eq!(u.path, PathBuf::from("/etc/systemd/system/x.service"));
        // A link with an absolute target is followed inside the root, never to the host's file.
        std::os::unix::fs::symlink(
            "/usr/lib/systemd/system/x.service",
            d.path().join("etc/systemd/system/alias.service"),
        )
        .unwrap();
        let a = load(&root, "alias.service").unwrap();
        assert_eq!(a.last("Service", "TimeoutStopSec"), Some("5"));
        assert_eq!(u.last("Service", "TimeoutStopSec"), Some("200"));
        assert_eq!(u.list("Unit", "After"), vec!["y.service"]);
        assert_eq!(u.dropins.len(), 2);
        assert!(load(&root, "nope.service").is_none());
    }
}
