//! Finding the shutdown hooks of a host without being told their names: units (the search
//! path, with drop-ins) and init scripts that concern a log shipper. A unit counts when it has
//! an ExecStop and is ordered against a shipper's unit, or when its ExecStop (or a script the
//! command names) mentions a shipper, a shipper's store or drainguard; an init script when its
//! text mentions one of them, or when its K links sit between the apps' and the shipper's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{exec, unitfile};
use crate::install::probe::{is_shipper_service, shipper_services, Host, Init, UNIT_DIRS};

/// Directory entries looked at per directory: far above any real host.
const MAX_ENTRIES: usize = 20_000;

/// A shutdown hook that concerns a shipper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hook {
    /// The unit (`x.service`) or init script name.
    pub name: String,
    /// Its file (host path).
    #[serde(serialize_with = "crate::display::ser_path")]
    pub path: PathBuf,
    /// What makes it a hook, e.g. `its ExecStop mentions filebeat`.
    pub why: String,
    /// It runs `drainguard wait` (itself or through a script it names).
    pub runs_wait: bool,
    pub kind: HookKind,
}

/// What kind of file a hook is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookKind {
    /// A systemd unit.
    Unit,
    /// A SysV init script run by rc.
    InitScript,
    /// A SysV init script that systemd runs through the unit systemd-sysv-generator makes of
    /// it (no native unit of that name).
    GeneratedUnit,
}

/// systemd-sysv-generator's stop timeout for the units it makes of init scripts.
pub const GENERATED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Where systemd-sysv-generator finds init scripts and their S links (`{}`: the runlevel),
/// RHEL-style and Debian-style.
pub const SYSV_LAYOUTS: [(&str, &str); 2] = [
    ("/etc/rc.d/init.d", "/etc/rc.d/rc{}.d"),
    ("/etc/init.d", "/etc/rc{}.d"),
];

/// The hooks of `host`, in name order. `apps` are the apps that must stop first (never hooks
/// themselves); `stores` the shipper store and config paths the settings name.
pub fn find(host: &Host, apps: &[String], stores: &[String]) -> Vec<Hook> {
    let mut needles: Vec<String> = shipper_services().map(str::to_string).collect();
    needles.push("drainguard".into());
    needles.extend(stores.iter().filter(|s| s.len() > 1).cloned());
    let apps: Vec<&str> = apps
        .iter()
        .map(|a| a.trim_end_matches(".service"))
        .collect();
    match host.init {
        Init::Systemd => {
            let mut v = units(host, &apps, &needles);
            v.extend(generated(host, &apps, &needles));
            v
        }
        Init::SysvChkconfig | Init::SysvDebian => scripts(host, &apps, &needles),
    }
}

/// On systemd: the init scripts that mention a shipper or drainguard and have no native unit
/// of their name, which systemd runs as generated units.
fn generated(host: &Host, apps: &[&str], needles: &[String]) -> Vec<Hook> {
    let mut out: Vec<Hook> = Vec::new();
    for (init_d, _) in SYSV_LAYOUTS {
        for name in names(host, Path::new(init_d)) {
            let unit = format!("{name}.service");
            if is_shipper_service(&name)
                || apps.contains(&name.as_str())
                || host.find_unit(&unit).is_some()
                || out.iter().any(|h| h.name == unit)
            {
                continue;
            }
            let path = Path::new(init_d).join(&name);
            let Some(text) = super::read_host(&host.root, &path) else {
                continue;
            };
            if let Some(n) = mentions(&text, needles) {
                out.push(Hook {
                    why: format!(
                        "its init script mentions {n}; systemd runs it as {unit} \
                         (systemd-sysv-generator)"
                    ),
                    runs_wait: exec::runs_wait(&text),
                    name: unit,
                    path,
                    kind: HookKind::GeneratedUnit,
                });
            }
        }
    }
    out
}

/// The first needle `text` mentions as a word of its own: `shutdown-filebeat.py` and
/// `/etc/rsyslog.conf` mention `filebeat` and `rsyslog`; `rsyslogd` and `filebeater` do not.
fn mentions<'a>(text: &str, needles: &'a [String]) -> Option<&'a str> {
    let lower = text.to_ascii_lowercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    needles.iter().map(String::as_str).find(|n| {
        let n = n.to_ascii_lowercase();
        lower.match_indices(&n).any(|(i, _)| {
            !word(lower[..i].chars().next_back()) && !word(lower[i + n.len()..].chars().next())
        })
    })
}

/// Names in directory `dir` (host path) under the root, sorted, at most [`MAX_ENTRIES`].
fn names(host: &Host, dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(host.root.host_to_local(dir)) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .take(MAX_ENTRIES)
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}

fn units(host: &Host, apps: &[&str], needles: &[String]) -> Vec<Hook> {
    let mut seen = BTreeSet::new();
    for dir in UNIT_DIRS {
        for n in names(host, Path::new(dir)) {
            if n.ends_with(".service") && !n.contains('@') {
                seen.insert(n);
            }
        }
    }
    let shipper_units: Vec<String> = shipper_services().map(|s| format!("{s}.service")).collect();
    let mut out = Vec::new();
    for name in seen {
        let base = name.trim_end_matches(".service");
        // drainguard's AWS watcher drains on termination notices, not at shutdown.
        let aws_watcher = Path::new(crate::install::manifest::AWS_UNIT).file_name();
        if is_shipper_service(base)
            || apps.contains(&base)
            || aws_watcher.is_some_and(|w| w == name.as_str())
            || masked(host, &name)
        {
            continue;
        }
        let Some(u) = unitfile::load(&host.root, &name) else {
            continue;
        };
        let stops = u.all("Service", "ExecStop");
        let runs_wait = stops.iter().any(|c| exec::command_runs_wait(&host.root, c));
        let ordered = ["After", "Before"].iter().find_map(|k| {
            let l = u.list("Unit", k);
            shipper_units
                .iter()
                .find(|s| l.contains(s))
                .map(|s| format!("ordered {k}={s} with an ExecStop"))
        });
        let mentioned = stops.iter().find_map(|c| {
            mentions(c, needles)
                .or_else(|| exec::named_texts(&host.root, c).find_map(|t| mentions(&t, needles)))
                .map(|n| format!("its ExecStop mentions {n}"))
        });
        let why = if base == "drainguard" {
            Some("drainguard's own unit".to_string())
        } else if stops.is_empty() {
            None
        } else {
            mentioned.or(ordered)
        };
        if let Some(why) = why {
            out.push(Hook {
                name,
                path: u.path.clone(),
                why,
                runs_wait,
                kind: HookKind::Unit,
            });
        }
    }
    out
}

/// True when the highest-precedence file of unit `name` is a link to /dev/null (`systemctl
/// mask`): systemd neither starts nor stops it.
fn masked(host: &Host, name: &str) -> bool {
    UNIT_DIRS
        .iter()
        .map(|d| host.root.host_to_local(&Path::new(d).join(name)))
        .find(|p| std::fs::symlink_metadata(p).is_ok())
        .and_then(|p| std::fs::read_link(p).ok())
        .is_some_and(|t| t == Path::new("/dev/null"))
}

fn scripts(host: &Host, apps: &[&str], needles: &[String]) -> Vec<Hook> {
    let init_d = Path::new(host.init_d());
    let shipper = host.shipper.as_deref();
    let mut out = Vec::new();
    for name in names(host, init_d) {
        if is_shipper_service(&name) || apps.contains(&name.as_str()) {
            continue;
        }
        let path = init_d.join(&name);
        let Some(text) = super::read_host(&host.root, &path) else {
            continue;
        };
        // K links between the apps' and the shipper's, at halt or reboot.
        let between = [0u8, 6].iter().find_map(|&l| {
            let ours = host.k_number(l, &name)?;
            let sk = host.k_number(l, shipper?)?;
            let app = apps
                .iter()
                .filter_map(|a| host.k_number(l, a).map(|k| (a, k)))
                .filter(|(_, k)| *k < ours)
                .max_by_key(|(_, k)| *k)?;
            (ours < sk).then(|| {
                format!(
                    "its K link (K{ours:02}) in {} sits between {} (K{:02}) and {} (K{sk:02})",
                    host.rc_dir(l).display(),
                    app.0,
                    app.1,
                    shipper.unwrap_or_default()
                )
            })
        });
        let why = if name == "drainguard" {
            Some("drainguard's own script".to_string())
        } else {
            mentions(&text, needles)
                .map(|n| format!("it mentions {n}"))
                .or(between)
        };
        if let Some(why) = why {
            out.push(Hook {
                runs_wait: exec::runs_wait(&text),
                name,
                path,
                why,
                kind: HookKind::InitScript,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_whole_words() {
        let n: Vec<String> = ["filebeat", "fluent-bit", "rsyslog"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            mentions("python3 /home/ec2-user/script/shutdown-filebeat.py", &n),
            Some("filebeat")
        );
        assert_eq!(mentions("/usr/bin/Fluent-Bit -c x", &n), Some("fluent-bit"));
        assert_eq!(mentions("/usr/sbin/rsyslogd -n", &n), None);
        assert_eq!(mentions("cat /etc/rsyslog.conf", &n), Some("rsyslog"));
        assert_eq!(mentions("/usr/bin/filebeater", &n), None);
    }
}
