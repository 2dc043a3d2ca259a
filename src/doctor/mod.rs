//! `doctor`: checks the shutdown integration of a host (installed by drainguard or by hand)
//! and explains every problem with a fix. Each finding has a stable id.

mod exec;
pub mod findings;
pub mod hooks;
pub mod stores;
mod systemd;
mod sysv;
pub mod unitfile;

pub use findings::{Finding, Report, Severity, Skipped};
pub use hooks::{Hook, HookKind};

use std::path::Path;
use std::time::Duration;

use findings::finding;

use crate::install::probe::{Host, Init};

/// What to check against.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The unit (systemd) or init script (SysV) that runs the drain; `None`: find every
    /// shutdown hook that concerns a shipper ([`hooks::find`]).
    pub unit: Option<String>,
    pub apps: Vec<String>,
    pub deadline: Duration,
    /// Shipper store and config paths from the settings: a hook that mentions one concerns
    /// the shipper.
    pub stores: Vec<String>,
}

/// The name `unit` has on this init system: `x.service` on systemd, `x` for a SysV script.
fn unit_name(host: &Host, unit: &str) -> String {
    match host.init {
        Init::Systemd if !unit.contains('.') => format!("{unit}.service"),
        Init::Systemd => unit.to_string(),
        _ => unit.trim_end_matches(".service").to_string(),
    }
}

/// What a hook named by the user (or drainguard's own) is on this init system.
fn native_kind(host: &Host) -> HookKind {
    match host.init {
        Init::Systemd => HookKind::Unit,
        _ => HookKind::InitScript,
    }
}

/// Checks `host`: the named unit, or every shutdown hook found, each with its own findings.
pub fn check(host: &Host, expect: &Expect) -> Report {
    let found = hooks::find(host, &expect.apps, &expect.stores);
    let hooks = match &expect.unit {
        Some(u) => {
            let name = unit_name(host, u);
            vec![found
                .into_iter()
                .find(|h| h.name == name)
                .unwrap_or_else(|| Hook {
                    path: Default::default(),
                    why: "named with --unit".into(),
                    runs_wait: false,
                    kind: native_kind(host),
                    name,
                })]
        }
        // Nothing found: drainguard's own is what should be there (DG001 / DG101 say so).
        None if found.is_empty() => Vec::new(),
        // The ones that run the drain first: host-wide findings are reported with them.
        None => {
            let mut found = found;
            found.sort_by_key(|h| (!h.runs_wait, h.name.clone()));
            found
        }
    };
    let mut report = Report::default();
    let one = |h: &Hook, report: &mut Report| match h.kind {
        HookKind::Unit => systemd::check(host, expect, &h.name, report),
        HookKind::InitScript => sysv::check(host, expect, &h.name, report),
        HookKind::GeneratedUnit => sysv::check_generated(host, expect, h, report),
    };
    if hooks.is_empty() {
        let ours = Hook {
            name: unit_name(host, "drainguard"),
            path: Default::default(),
            why: String::new(),
            runs_wait: false,
            kind: native_kind(host),
        };
        let found = one(&ours, &mut report);
        report.findings.extend(found);
        return report;
    }
    let drained = hooks.iter().any(|h| h.runs_wait);
    for h in &hooks {
        let mut found = one(h, &mut report);
        // Host-wide findings (no shipper unit, the shipper's lock file) once, not per hook.
        found.retain(|f| {
            !report
                .findings
                .iter()
                .any(|g| g.id == f.id && g.problem.trim_start_matches("old hook: ") == f.problem)
        });
        // Another hook runs the drain: this one's faults do not lose data, but it should go.
        if drained && !h.runs_wait && hooks.len() > 1 {
            for f in &mut found {
                f.severity = Severity::Warning;
                f.problem = format!("old hook: {}", f.problem);
            }
        }
        report.findings.extend(found);
    }
    if hooks.len() > 1 {
        let list: Vec<String> = hooks
            .iter()
            .map(|h| format!("{} ({})", h.name, h.why))
            .collect();
        let old: Vec<&Hook> = hooks.iter().filter(|h| !h.runs_wait).collect();
        let names = |hs: &[&Hook]| {
            hs.iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let paths = |hs: &[&Hook]| {
            hs.iter()
                .map(|h| crate::display::path(&h.path))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let fix = if old.is_empty() {
            "keep one of them".to_string()
        } else if host.init == Init::Systemd {
            let scripts: Vec<&Hook> = old
                .iter()
                .copied()
                .filter(|h| h.kind == HookKind::GeneratedUnit)
                .collect();
            format!(
                "remove the old one(s): systemctl disable --now {}, then delete {}{}",
                names(&old),
                paths(&old),
                if scripts.is_empty() {
                    String::new()
                } else {
                    " (and the init scripts' rc?.d links)".to_string()
                }
            )
        } else {
            format!(
                "remove the old one(s): chkconfig --del NAME / update-rc.d -f NAME remove for {}, \
                 then delete {}",
                names(&old),
                paths(&old)
            )
        };
        report.findings.push(finding(
            "DG013",
            Severity::Warning,
            format!("{} shutdown hooks concern the shipper: {}", hooks.len(), list.join("; ")),
            "Each runs at shutdown on its own: an old hook with its own poller and timeout can stop \
             or kill the shipper while drainguard waits, or hold shutdown a second time.",
            fix,
        ));
    }
    report.hooks = hooks;
    report
}

/// The text of host path `host` under `root` (links followed inside the root), read with
/// [`read_text`]: how doctor reads every unit, drop-in, system.conf and script.
pub(crate) fn read_host(root: &crate::root::Root, host: &Path) -> Option<String> {
    read_text(&exec::resolve(root, host)?)
}

/// The largest unit file, drop-in, system.conf or init script doctor reads.
const MAX_TEXT: u64 = 1 << 20;

/// The text of a unit file, drop-in, system.conf or init script (`local`: the path to open),
/// or `None` when it is missing, not a regular file (a FIFO is never opened for reading
/// without O_NONBLOCK), larger than 1 MiB, or not UTF-8. Every file doctor reads goes through
/// here.
pub(crate) fn read_text(local: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // stat first: opening a device can have effects of its own (a tape rewinds).
    if !std::fs::metadata(local).ok()?.is_file() {
        return None;
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(local)
        .ok()?;
    let m = f.metadata().ok()?;
    if !m.is_file() || m.len() > MAX_TEXT {
        tracing::debug!(path = %crate::display::path(local), "not a regular file of at most 1 MiB: not read");
        return None;
    }
    let mut buf = String::new();
    f.take(MAX_TEXT).read_to_string(&mut buf).ok()?;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_text_reads_only_small_regular_files() {
        let d = tempfile::tempdir().unwrap();
        let unit = d.path().join("x.service");
        std::fs::write(&unit, "[Service]\n").unwrap();
        assert_eq!(read_text(&unit).as_deref(), Some("[Service]\n"));
        // A FIFO is never opened: this would block forever in open() otherwise.
        let fifo = d.path().join("fifo.service");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        assert_eq!(read_text(&fifo), None);
        let big = d.path().join("big.service");
        std::fs::write(&big, vec![b'#'; (MAX_TEXT + 1) as usize]).unwrap();
        assert_eq!(read_text(&big), None);
        assert_eq!(read_text(d.path()), None, "a directory");
        assert_eq!(read_text(&d.path().join("missing")), None);
    }
}
