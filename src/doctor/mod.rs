//! `doctor`: checks the shutdown integration of a host (installed by drainguard or by hand)
//! and explains every problem with a fix. Each finding has a stable id.

pub mod unitfile;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::install::probe::{Host, Init};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub problem: String,
    pub explanation: String,
    pub fix: String,
}

/// What to check against.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The unit (systemd) or init script (SysV) that runs the drain.
    pub unit: String,
    pub apps: Vec<String>,
    pub deadline: Duration,
}

fn finding(
    id: &'static str,
    sev: Severity,
    problem: String,
    explanation: &str,
    fix: String,
) -> Finding {
    Finding {
        id,
        severity: sev,
        problem,
        explanation: explanation.to_string(),
        fix,
    }
}

/// Checks `host`.
pub fn check(host: &Host, expect: &Expect) -> Vec<Finding> {
    match host.init {
        Init::Systemd => check_systemd(host, expect),
        Init::SysvChkconfig | Init::SysvDebian => check_sysv(host, expect),
    }
}

/// systemd's time span (`90`, `90s`, `5min`, `1h 30min`, `infinity`).
fn timespan(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v == "infinity" {
        return Some(Duration::MAX);
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(v).ok()
}

fn check_systemd(host: &Host, e: &Expect) -> Vec<Finding> {
    use Severity::*;
    let mut out = Vec::new();
    let name = if e.unit.contains('.') {
        e.unit.clone()
    } else {
        format!("{}.service", e.unit)
    };
    let Some(u) = unitfile::load(&host.root, &name) else {
        out.push(finding(
            "DG001",
            Error,
            format!("{name} not found in the unit search path"),
            "Nothing runs `drainguard wait` at shutdown: the shipper is stopped with data still unsent.",
            "run `drainguard install --before <app.service>`".into(),
        ));
        return out;
    };
    // Active: only a started unit runs its ExecStop at shutdown.
    if host.systemd_running() {
        let active = std::process::Command::new("systemctl")
            .args(["is-active", "--quiet", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !active {
            out.push(finding(
                "DG002",
                Error,
                format!("{name} is not active"),
                "systemd runs ExecStop only for units that were started; an enabled unit that never \
                 started (or failed at start) does nothing at shutdown. This is why the original \
                 hand-written unit \"did not run\".",
                format!("systemctl enable --now {name}"),
            ));
        }
    } else {
        let wanted = [
            "multi-user.target.wants",
            "graphical.target.wants",
            "default.target.wants",
        ]
        .iter()
        .any(|w| {
            // The link itself (its absolute target is a host path, not under --root).
            std::fs::symlink_metadata(
                host.root
                    .host_to_local(&Path::new("/etc/systemd/system").join(w).join(&name)),
            )
            .is_ok()
        });
        if !wanted {
            out.push(finding(
                "DG003",
                Error,
                format!("{name} is not enabled"),
                "A unit that is not enabled is not started at boot, so its ExecStop never runs at shutdown.",
                format!("systemctl enable --now {name}"),
            ));
        }
    }
    let ty = u.last("Service", "Type").unwrap_or("simple");
    let remain = u
        .last("Service", "RemainAfterExit")
        .is_some_and(|v| matches!(v, "yes" | "true" | "1" | "on"));
    if ty != "oneshot" || !remain {
        out.push(finding(
            "DG004",
            Error,
            format!("{name} has Type={ty}, RemainAfterExit={}", if remain { "yes" } else { "no" }),
            "The drain belongs in ExecStop of a oneshot unit that stays active after start; otherwise \
             the unit is stopped (and ExecStop runs) right after boot, not at shutdown.",
            "set Type=oneshot and RemainAfterExit=yes".into(),
        ));
    }
    if !u
        .all("Service", "ExecStop")
        .iter()
        .any(|c| c.contains("wait"))
    {
        out.push(finding(
            "DG005",
            Error,
            format!("{name} has no ExecStop running `drainguard wait`"),
            "Without it nothing holds shutdown until the shipper has delivered.",
            "ExecStop=/usr/local/bin/drainguard wait".into(),
        ));
    }
    let after = u.list("Unit", "After");
    let before = u.list("Unit", "Before");
    if let Some(s) = &host.shipper {
        let su = format!("{s}.service");
        if !after.contains(&su) {
            out.push(finding(
                "DG006",
                Error,
                format!("{name} is not ordered After={su}"),
                "Stop order is the reverse of start order: without After= the shipper may be stopped \
                 before (or while) drainguard waits for it.",
                format!("add After={su} to [Unit]"),
            ));
        }
    }
    for app in &e.apps {
        let au = if app.contains('.') {
            app.clone()
        } else {
            format!("{app}.service")
        };
        if !before.contains(&au) {
            out.push(finding(
                "DG007",
                Error,
                format!("{name} is not ordered Before={au}"),
                "The app must stop first, or it keeps writing lines after the drain has finished.",
                format!("add Before={au} to [Unit]"),
            ));
        }
    }
    if !after
        .iter()
        .any(|a| a == "network-online.target" || a == "network.target")
    {
        out.push(finding(
            "DG008",
            Warning,
            format!("{name} is not ordered after the network"),
            "Without After=network-online.target the network may go down while the shipper is still \
             delivering.",
            "add After=network-online.target and Wants=network-online.target".into(),
        ));
    }
    let timeout = u.last("Service", "TimeoutStopSec").and_then(timespan);
    let effective = timeout.unwrap_or(Duration::from_secs(90));
    if effective < e.deadline {
        out.push(finding(
            "DG009",
            Error,
            format!(
                "TimeoutStopSec is {} ({}), shorter than the drain deadline {}",
                effective.as_secs(),
                if timeout.is_some() { "set" } else { "systemd's default" },
                humantime::format_duration(e.deadline)
            ),
            "systemd kills a stop job after TimeoutStopSec: the wait is cut off and the rest is lost.",
            format!("set TimeoutStopSec={} (deadline plus a margin)", e.deadline.as_secs() + 60),
        ));
    }
    if u.last("Unit", "DefaultDependencies")
        .is_some_and(|v| matches!(v, "no" | "false" | "0" | "off"))
    {
        let conflicts = u.list("Unit", "Conflicts");
        if !conflicts.iter().any(|c| c == "shutdown.target")
            || !before.iter().any(|b| b == "shutdown.target")
        {
            out.push(finding(
                "DG010",
                Error,
                format!("{name} has DefaultDependencies=no without shutdown ordering"),
                "With default dependencies off the unit is not stopped in order at shutdown.",
                "add Conflicts=shutdown.target and Before=shutdown.target, or drop DefaultDependencies=no".into(),
            ));
        }
    }
    out
}

fn check_sysv(host: &Host, e: &Expect) -> Vec<Finding> {
    use Severity::*;
    let mut out = Vec::new();
    let name = e.unit.trim_end_matches(".service").to_string();
    let script = Path::new(host.init_d()).join(&name);
    if !host.root.host_to_local(&script).is_file() {
        out.push(finding(
            "DG101",
            Error,
            format!("{} not found", script.display()),
            "Nothing runs `drainguard wait` at halt or reboot.",
            "run `drainguard install --before <app>`".into(),
        ));
        return out;
    }
    let k = |level| host.k_number(level, &name);
    for level in [0u8, 6] {
        if k(level).is_none() {
            out.push(finding(
                "DG102",
                Error,
                format!("no K link for {name} in {}", host.rc_dir(level).display()),
                if level == 0 {
                    "rc runs only K links at halt (runlevel 0): without one the drain does not run at poweroff."
                } else {
                    "rc runs only K links at reboot (runlevel 6): without one the drain does not run at reboot."
                },
                format!("chkconfig {name} on / update-rc.d {name} defaults, or re-run drainguard install"),
            ));
        }
    }
    if let Some(ours) = k(0) {
        for app in &e.apps {
            let app = app.trim_end_matches(".service");
            if let Some(ak) = host.k_number(0, app) {
                if ak >= ours {
                    out.push(finding(
                        "DG103",
                        Error,
                        format!("{app} (K{ak:02}) stops after {name} (K{ours:02})"),
                        "The app keeps writing after the drain finished: its last lines are lost.",
                        "re-run drainguard install, which picks a K number after the apps'".into(),
                    ));
                }
            }
        }
        if let Some(s) = &host.shipper {
            if let Some(sk) = host.k_number(0, s) {
                if sk <= ours {
                    out.push(finding(
                        "DG104",
                        Error,
                        format!("the shipper {s} (K{sk:02}) stops before {name} (K{ours:02})"),
                        "The shipper is gone before the drain waits for it: nothing more is delivered.",
                        "drainguard install --reorder-shipper".into(),
                    ));
                }
            }
        }
    }
    if host.init == Init::SysvChkconfig {
        let lock = host
            .root
            .host_to_local(Path::new(&format!("/var/lock/subsys/{name}")));
        if !lock.exists() {
            out.push(finding(
                "DG105",
                Error,
                format!("/var/lock/subsys/{name} does not exist"),
                "RHEL-style rc runs a K script at halt only when its lock file exists: the script was \
                 never started, so the drain will not run.",
                format!("service {name} start"),
            ));
        }
        if let Some(s) = &host.shipper {
            let text =
                std::fs::read_to_string(host.root.host_to_local(&Path::new(host.init_d()).join(s)))
                    .unwrap_or_default();
            if !text.is_empty() && !text.contains("/var/lock/subsys") {
                out.push(finding(
                    "DG106",
                    Warning,
                    format!("{s}'s init script creates no /var/lock/subsys/{s}"),
                    "rc skips its K script, so the shipper is killed by halt's killall after the network \
                     is down (the stock Filebeat RPM script does this). drainguard's wait still runs \
                     before, but the shipper never gets a clean stop.",
                    format!("make {s}'s start touch /var/lock/subsys/{s} and its stop remove it"),
                ));
            }
        }
    }
    out
}
