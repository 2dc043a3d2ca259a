//! doctor on systemd: the drain unit's type, ExecStop, ordering against the shipper, the apps
//! and the network, its stop timeout, and whether it is enabled and active.

use std::path::Path;
use std::time::Duration;

use super::findings::{finding, Finding, Report, Severity};
use super::unitfile;
use super::Expect;
use crate::install::probe::Host;

/// systemd's time span (`90`, `90s`, `5min`, `1h 30min`, `infinity`).
fn timespan(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v == "infinity" || v == "0" {
        return Some(Duration::MAX);
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(v).ok()
}

/// systemd's DefaultTimeoutStopSec: system.conf and its drop-ins, else 90 s.
fn default_stop_timeout(host: &Host) -> Duration {
    let mut conf = unitfile::Unit::default();
    let mut files = vec![std::path::PathBuf::from("/etc/systemd/system.conf")];
    if let Ok(entries) = std::fs::read_dir(
        host.root
            .host_to_local(Path::new("/etc/systemd/system.conf.d")),
    ) {
        let mut dropins: Vec<_> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".conf"))
            .collect();
        dropins.sort();
        files.extend(
            dropins
                .iter()
                .map(|n| Path::new("/etc/systemd/system.conf.d").join(n)),
        );
    }
    for f in files {
        if let Ok(text) = std::fs::read_to_string(host.root.host_to_local(&f)) {
            conf.apply_text(&text);
        }
    }
    conf.last("Manager", "DefaultTimeoutStopSec")
        .and_then(timespan)
        .unwrap_or(Duration::from_secs(90))
}

pub fn check(host: &Host, e: &Expect, report: &mut Report) -> Vec<Finding> {
    use Severity::*;
    let mut out = Vec::new();
    let name = if e.unit.contains('.') {
        e.unit.clone()
    } else {
        format!("{}.service", e.unit)
    };
    // On a live host systemd's loaded view is what runs at shutdown; otherwise the files.
    let live = host.systemd_running();
    let loaded = if live {
        unitfile::from_systemctl(&name)
    } else {
        unitfile::load(&host.root, &name)
    };
    let Some(u) = loaded else {
        out.push(finding(
            "DG001",
            Error,
            format!("{name} not found in the unit search path"),
            "Nothing runs `drainguard wait` at shutdown: the shipper is stopped with data still unsent.",
            "run `drainguard install --before <app.service>`".into(),
        ));
        return out;
    };
    if live {
        // Active: only a started unit runs its ExecStop at shutdown.
        if u.last("Unit", "ActiveState") != Some("active") {
            out.push(finding(
                "DG002",
                Error,
                format!(
                    "{name} is not active ({})",
                    u.last("Unit", "ActiveState").unwrap_or("unknown")
                ),
                "systemd runs ExecStop only for units that were started; an enabled unit that never \
                 started (or failed at start) does nothing at shutdown. This is why the original \
                 hand-written unit \"did not run\".",
                format!("systemctl enable --now {name} (if it failed: journalctl -u {name})"),
            ));
        }
        if u.last("Unit", "NeedDaemonReload") == Some("yes") {
            out.push(finding(
                "DG011",
                Warning,
                format!("{name} changed on disk but systemd still uses the old version"),
                "Shutdown runs the loaded version, not the file: the checks below are of what systemd has loaded.",
                "systemctl daemon-reload".into(),
            ));
        }
    } else {
        let why = if host.live {
            "systemd is not running here: only a running systemd knows it (`systemctl is-active`)"
        } else {
            "live state: an image under --root has none; check on the booted machine \
             (`systemctl is-active`)"
        };
        report.skip(
            "DG002",
            format!("whether {name} was started since boot"),
            why,
        );
        report.skip(
            "DG011",
            format!("whether systemd runs the version of {name} on disk"),
            why,
        );
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
    if host.shipper.is_none() {
        out.push(finding(
            "DG012",
            Warning,
            "no shipper service found (filebeat, fluent-bit, vector ...)".into(),
            "Ordering against the shipper cannot be checked: if it stops before drainguard, the wait \
             cannot succeed.",
            "name it: `drainguard doctor --shipper-service NAME`".into(),
        ));
    }
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
            Error,
            format!("{name} is not ordered after the network"),
            "Without After=network-online.target the network may go down while the shipper is still \
             delivering.",
            "add After=network-online.target and Wants=network-online.target".into(),
        ));
    }
    let timeout = u
        .last("Service", "TimeoutStopSec")
        .or(u.last("Service", "TimeoutSec"))
        .and_then(timespan);
    let default = default_stop_timeout(host);
    let effective = timeout.unwrap_or(default);
    if effective < e.deadline {
        out.push(finding(
            "DG009",
            Error,
            format!(
                "TimeoutStopSec is {} ({}), shorter than the drain deadline {}",
                effective.as_secs(),
                if timeout.is_some() {
                    "set in the unit"
                } else {
                    "systemd's DefaultTimeoutStopSec"
                },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_time_spans() {
        assert_eq!(timespan("90"), Some(Duration::from_secs(90)));
        assert_eq!(timespan("1min 30s"), Some(Duration::from_secs(90)));
        assert_eq!(timespan("26min"), Some(Duration::from_secs(1560)));
        assert_eq!(timespan("infinity"), Some(Duration::MAX));
        assert_eq!(timespan("0"), Some(Duration::MAX));
        assert_eq!(timespan("soon"), None);
    }
}
