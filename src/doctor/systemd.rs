//! doctor on systemd: the drain unit's type, ExecStop, ordering against the shipper, the apps
//! and the network, its stop timeout, and whether it is enabled and active.

use std::path::Path;
use std::time::Duration;

use super::findings::{finding, Finding, Report, Severity};
use super::Expect;
use super::{exec, unitfile};
use crate::install::probe::Host;

/// Why a time span is not what systemd would use.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BadSpan {
    /// systemd certainly refuses it (and ignores the assignment); otherwise only doctor
    /// cannot read it.
    refused: bool,
    why: String,
}

/// systemd's time span (`90`, `90s`, `5min`, `1h 30min`, `infinity`). systemd keeps spans in
/// microseconds below 2^64 - 1 and ignores an assignment beyond that.
pub(super) fn timespan(v: &str) -> Result<Duration, BadSpan> {
    let v = v.trim();
    if v == "infinity" || v == "0" {
        return Ok(Duration::MAX);
    }
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(v).map_err(|e| BadSpan {
            refused: matches!(e, humantime::DurationError::NumberOverflow),
            why: e.to_string(),
        })?,
    };
    if d.as_micros() >= u128::from(u64::MAX) {
        return Err(BadSpan {
            refused: true,
            why: "beyond the largest span systemd holds (2^64-1 µs, about 584,542 years)".into(),
        });
    }
    Ok(d)
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
        if let Some(text) = super::read_host(&host.root, &f) {
            conf.apply_text(&text);
        }
    }
    conf.all("Manager", "DefaultTimeoutStopSec")
        .iter()
        .rev()
        .find_map(|v| timespan(v).ok())
        .unwrap_or(Duration::from_secs(90))
}

/// Checks the unit `name` (`x.service`).
pub fn check(host: &Host, e: &Expect, name: &str, report: &mut Report) -> Vec<Finding> {
    use Severity::*;
    let mut out = Vec::new();
    let name = name.to_string();
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
        let why = |how: &str| {
            if host.live {
                format!("systemd is not running here: only a running systemd knows ({how})")
            } else {
                format!("live state: an image under --root has none; check on the booted machine ({how})")
            }
        };
        report.skip(
            "DG002",
            format!("whether {name} was started since boot"),
            &why(&format!("`systemctl is-active {name}`")),
        );
        report.skip(
            "DG011",
            format!("whether systemd runs the version of {name} on disk"),
            &why(&format!("`systemctl show -p NeedDaemonReload {name}`")),
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
    for key in ["ExecStart", "ExecStop"] {
        for cmd in u.all("Service", key) {
            let Some(prog) = exec::program(cmd) else {
                continue;
            };
            if let Some(why) = exec::not_runnable(&host.root, &prog) {
                out.push(finding(
                    "DG015",
                    Error,
                    format!("{name}: the {key} program {why}"),
                    if key == "ExecStart" {
                        "systemd cannot start the unit, and runs no ExecStop for a unit that never \
                         started: nothing holds shutdown."
                    } else {
                        "The stop command cannot run at shutdown: nothing holds it until the \
                         shipper has delivered."
                    },
                    format!(
                        "install the program at {prog} (the packages put drainguard at \
                         /usr/bin/drainguard), or point {key}= at it (`systemctl edit --full \
                         {name}`, or re-run `drainguard install`)"
                    ),
                ));
            }
        }
    }
    if !u
        .all("Service", "ExecStop")
        .iter()
        .any(|c| exec::command_runs_wait(&host.root, c))
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
            format!(
                "no shipper service found ({})",
                crate::adapters::example_names()
            ),
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
                &format!(
                    "Stop order is the reverse of start order: without After= the shipper may be \
                     stopped before (or while) drainguard waits for it.{}",
                    super::findings::stopped_early(s)
                ),
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
    // The last assignment systemd accepts wins; one it refuses is ignored (and reported).
    let mut timeout = None;
    for key in ["TimeoutStopSec", "TimeoutSec"] {
        for v in u.all("Service", key).iter().rev() {
            match timespan(v) {
                Ok(d) => {
                    timeout = timeout.or(Some(d));
                    break;
                }
                Err(bad) => out.push(finding(
                    "DG016",
                    if bad.refused { Error } else { Warning },
                    format!("{name} has {key}={v}: {}", bad.why),
                    if bad.refused {
                        "systemd refuses this value and ignores the line: the stop job gets the \
                         previous value or the default (90 s unless DefaultTimeoutStopSec says \
                         otherwise), which cuts the drain off."
                    } else {
                        "doctor cannot read this value; if systemd cannot either, it ignores the \
                         line and the stop job gets the default timeout."
                    },
                    format!(
                        "set {key}={} (deadline plus a margin)",
                        e.deadline.as_secs() + 60
                    ),
                )),
            }
        }
        if timeout.is_some() {
            break;
        }
    }
    let default = default_stop_timeout(host);
    let effective = timeout.unwrap_or(default);
    if effective < e.deadline {
        out.push(finding(
            "DG009",
            Error,
            format!(
                "{name}: TimeoutStopSec is {} ({}), shorter than the drain deadline {}",
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
        assert_eq!(timespan("90"), Ok(Duration::from_secs(90)));
        assert_eq!(timespan("1min 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(timespan("26min"), Ok(Duration::from_secs(1560)));
        assert_eq!(timespan("infinity"), Ok(Duration::MAX));
        assert_eq!(timespan("0"), Ok(Duration::MAX));
        assert!(!timespan("soon").unwrap_err().refused);
        // Beyond systemd's microsecond range: refused, whether seconds or a unit overflow.
        assert!(timespan("18446744073709551615").unwrap_err().refused);
        assert!(timespan("18446744073709551615s").unwrap_err().refused);
        assert!(timespan("500000000000years").unwrap_err().refused);
        assert_eq!(
            timespan("18446744073709s"),
            Ok(Duration::from_secs(18_446_744_073_709))
        );
    }
}
