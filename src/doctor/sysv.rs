//! doctor on SysV init: the script, its K links at halt and reboot, their order between the
//! apps and the shipper, and (RHEL-style rc) the lock files that make rc run K scripts at all.

use std::path::Path;

use super::findings::{finding, Finding, Report, Severity};
use super::hooks::{Hook, GENERATED_TIMEOUT, SYSV_LAYOUTS};
use super::{exec, unitfile, Expect};
use crate::install::probe::{Host, Init};

/// Checks the init script `name`.
pub fn check(host: &Host, e: &Expect, name: &str, report: &mut Report) -> Vec<Finding> {
    use Severity::*;
    let mut out = Vec::new();
    let name = name.to_string();
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
    let text = super::read_host(&host.root, &script).unwrap_or_default();
    if let Some(why) = exec::not_runnable(&host.root, &script.to_string_lossy()) {
        out.push(finding(
            "DG111",
            Error,
            format!("the init script {why}"),
            "rc runs only executable scripts: at halt and reboot this one is skipped.",
            format!("chmod 755 {}", script.display()),
        ));
    }
    if !exec::runs_wait(&text) {
        out.push(finding(
            "DG110",
            Error,
            format!("{} does not run `drainguard wait`", script.display()),
            "Its stop does not hold shutdown until the shipper has delivered (a hand-made poller \
             that watches offsets cannot tell read from delivered, and has no deadline tied to \
             systemd or rc).",
            "run `drainguard install --before <app>` and remove this script's K links \
             (`chkconfig --del` / `update-rc.d -f … remove`)"
                .into(),
        ));
    } else if let Some((prog, why)) = drainguard_program(&text)
        .and_then(|p| exec::not_runnable(&host.root, &p).map(|why| (p, why)))
    {
        out.push(finding(
            "DG015",
            Error,
            format!("{}: the drainguard program {why}", script.display()),
            "The stop command cannot run at halt or reboot: nothing holds shutdown until the \
             shipper has delivered.",
            format!(
                "install drainguard at {prog} (the packages put it at /usr/bin/drainguard), or \
                 re-run `drainguard install` from the installed binary"
            ),
        ));
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
    // rc runs K links in name order: app, then drainguard, then the shipper, at halt and reboot.
    for level in [0u8, 6] {
        let Some(ours) = k(level) else { continue };
        let dir = host.rc_dir(level);
        for app in &e.apps {
            let app = app.trim_end_matches(".service");
            match host.k_number(level, app) {
                Some(ak) if ak >= ours => out.push(finding(
                    "DG103",
                    Error,
                    format!(
                        "in {}: {app} (K{ak:02}) stops after {name} (K{ours:02})",
                        dir.display()
                    ),
                    "The app keeps writing after the drain finished: its last lines are lost.",
                    "re-run `drainguard install`, which picks a K number after the apps'".into(),
                )),
                Some(_) => {}
                None if level == 0 => out.push(finding(
                    "DG107",
                    Warning,
                    format!("the app {app} has no K link in {}", dir.display()),
                    "rc does not stop the app at halt: it is killed by halt's killall after the drain, \
                     so its last lines may not be shipped.",
                    format!("chkconfig {app} on / update-rc.d {app} defaults"),
                )),
                None => {}
            }
        }
        // Debian: sendsigs kills every remaining process (the shipper included) at halt;
        // insserv runs links with the same number in parallel.
        if let Some(sk) = host.k_number(level, "sendsigs") {
            if sk <= ours {
                out.push(finding(
                    "DG109",
                    Error,
                    format!(
                        "in {}: sendsigs (K{sk:02}) runs with or before {name} (K{ours:02})",
                        dir.display()
                    ),
                    "sendsigs kills every process still running, the shipper included, while the \
                     drain waits: the lines it had not delivered are lost.",
                    format!(
                        "add $remote_fs to the Required-Stop line of {} (insserv then orders it \
                         before sendsigs) and run `update-rc.d {name} defaults`, or re-run \
                         drainguard install",
                        script.display()
                    ),
                ));
            }
        }
        if let Some(s) = &host.shipper {
            if let Some(sk) = host.k_number(level, s) {
                if sk <= ours {
                    out.push(finding(
                        "DG104",
                        Error,
                        format!(
                            "in {}: the shipper {s} (K{sk:02}) stops before {name} (K{ours:02})",
                            dir.display()
                        ),
                        &format!(
                            "The shipper is gone before the drain waits for it: nothing more is \
                             delivered.{}",
                            super::findings::stopped_early(s)
                        ),
                        "`drainguard install --reorder-shipper` (moves the shipper's K links after \
                         drainguard's; undone by uninstall)"
                            .into(),
                    ));
                }
            }
        }
    }
    // Started at boot: an S link in every multi-user runlevel (on RHEL-style rc that start
    // creates the lock file; rc.sysinit empties /var/lock/subsys at every boot).
    let missing: Vec<String> = (2u8..=5)
        .filter(|l| host.s_number(*l, &name).is_none())
        .map(|l| l.to_string())
        .collect();
    if !missing.is_empty() {
        out.push(finding(
            "DG108",
            Error,
            format!("no S link for {name} in runlevel(s) {}", missing.join(", ")),
            "Booting into such a runlevel never starts the script: on RHEL-style rc its lock file is \
             then missing and rc skips its K script at halt, so the drain does not run.",
            format!("chkconfig {name} on / update-rc.d {name} defaults, or re-run drainguard install"),
        ));
    }
    if host.init == Init::SysvChkconfig {
        let lock = host
            .root
            .host_to_local(Path::new(&format!("/var/lock/subsys/{name}")));
        // Only on the live machine: an image's lock files are created at its next boot.
        if !host.live {
            report.skip(
                "DG105",
                format!(
                    "whether /var/lock/subsys/{name} exists (the script was started since boot)"
                ),
                "live state: an image's lock files are created at its next boot; check on the \
                 booted machine",
            );
        } else if !lock.exists() {
            out.push(finding(
                "DG105",
                Error,
                format!("/var/lock/subsys/{name} does not exist"),
                "RHEL-style rc runs a K script at halt only when its lock file exists: the script was \
                 not started since boot, so the drain will not run.",
                format!("service {name} start"),
            ));
        }
        if let Some(s) = &host.shipper {
            let text =
                super::read_host(&host.root, &Path::new(host.init_d()).join(s)).unwrap_or_default();
            if !text.is_empty() && !crate::install::sysv::creates_lock(&text) {
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

/// Checks an init script systemd runs as the unit systemd-sysv-generator makes of it: whether
/// it runs the wait, is executable, is enabled (an S link), was started (live), and the
/// generated unit's stop timeout (5 min unless a drop-in sets one).
pub fn check_generated(host: &Host, e: &Expect, h: &Hook, report: &mut Report) -> Vec<Finding> {
    use Severity::*;
    let mut out = Vec::new();
    let name = &h.name;
    let script = h.path.display();
    let base = name.trim_end_matches(".service");
    if let Some(why) = exec::not_runnable(&host.root, &h.path.to_string_lossy()) {
        out.push(finding(
            "DG111",
            Error,
            format!("the init script {why}"),
            "systemd cannot run its stop at shutdown.",
            format!("chmod 755 {script}"),
        ));
    }
    if !h.runs_wait {
        out.push(finding(
            "DG110",
            Error,
            format!("{script} (run by systemd as {name}) does not run `drainguard wait`"),
            "Its stop does not hold shutdown until the shipper has delivered (a hand-made poller \
             that watches offsets cannot tell read from delivered).",
            format!(
                "run `drainguard install --before <app>`, then `systemctl disable {name}` and \
                 remove {script}"
            ),
        ));
    }
    let enabled = SYSV_LAYOUTS.iter().any(|(_, rc)| {
        (2u8..=5).any(|l| {
            crate::install::probe::link_number(
                &host
                    .root
                    .host_to_local(Path::new(&rc.replace("{}", &l.to_string()))),
                'S',
                base,
            )
            .is_some()
        })
    });
    if !enabled {
        out.push(finding(
            "DG003",
            Error,
            format!("{name} is not enabled (no S link to {script} in rc2.d-rc5.d)"),
            "systemd does not start the generated unit at boot, so its stop never runs at shutdown.",
            format!("systemctl enable --now {name}"),
        ));
    }
    if host.systemd_running() {
        if let Some(u) = unitfile::from_systemctl(name) {
            if u.last("Unit", "ActiveState") != Some("active") {
                out.push(finding(
                    "DG002",
                    Error,
                    format!("{name} is not active"),
                    "systemd runs ExecStop only for units that were started.",
                    format!("systemctl start {name}"),
                ));
            }
        }
    } else {
        report.skip(
            "DG002",
            format!("whether {name} was started since boot"),
            "live state: only a running systemd knows (`systemctl is-active`), and there is none \
             here (under --root, or systemd not running)",
        );
    }
    // A drop-in may set the stop timeout of the generated unit.
    let mut dropins = unitfile::Unit::default();
    dropins.apply_dropins(&host.root, name);
    let set = ["TimeoutStopSec", "TimeoutSec"]
        .iter()
        .find_map(|k| dropins.last("Service", k))
        .and_then(|v| super::systemd::timespan(v).ok());
    let timeout = set.unwrap_or(GENERATED_TIMEOUT);
    if timeout < e.deadline {
        out.push(finding(
            "DG009",
            Error,
            format!(
                "{name}: TimeoutStopSec is {} ({}), shorter than the drain deadline {}",
                timeout.as_secs(),
                if set.is_some() { "set in a drop-in" } else { "systemd-sysv-generator's 5 min" },
                humantime::format_duration(e.deadline)
            ),
            "systemd kills a stop job after TimeoutStopSec: the wait is cut off and the rest is lost.",
            "replace the script with drainguard's unit (`drainguard install`)".into(),
        ));
    }
    out
}

/// The drainguard program an init script runs: `DRAINGUARD='/path'` (as install writes it),
/// else the first absolute path ending in `/drainguard` on a line that runs the wait.
fn drainguard_program(text: &str) -> Option<String> {
    let unquote = |v: &str| v.trim().trim_matches(['\'', '"']).to_string();
    if let Some(v) = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("DRAINGUARD="))
    {
        return Some(unquote(v)).filter(|p| p.starts_with('/'));
    }
    text.lines()
        .filter(|l| exec::runs_wait(l))
        .flat_map(|l| l.split_whitespace())
        .map(unquote)
        .find(|w| w.starts_with('/') && w.ends_with("/drainguard"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::Root;
    use std::os::unix::fs::symlink;

    /// The host image below `root` as `init` sees it.
    fn probe(root: &std::path::Path, init: Init) -> Host {
        crate::install::probe(&Root::new(Some(root.to_path_buf())), Some(init), None, &[])
    }

    /// An executable init script running the wait.
    fn script(path: &std::path::Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, "#!/bin/sh\n\"$DRAINGUARD\" wait\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// drainguard installed as `drainguard`, no apps named.
    fn expect() -> Expect {
        Expect {
            unit: None,
            apps: vec![],
            deadline: std::time::Duration::from_secs(60),
            stores: vec![],
        }
    }

    #[test]
    fn a_live_chkconfig_host_without_the_lock_file_is_dg105() {
        let d = tempfile::tempdir().unwrap();
        let p = |h: &str| d.path().join(h.trim_start_matches('/'));
        std::fs::create_dir_all(p("/etc/rc.d/init.d")).unwrap();
        script(&p("/etc/rc.d/init.d/drainguard"));
        for l in 0..=6 {
            std::fs::create_dir_all(p(&format!("/etc/rc.d/rc{l}.d"))).unwrap();
            let link = if matches!(l, 0 | 1 | 6) {
                "K30drainguard"
            } else {
                "S99drainguard"
            };
            symlink(
                "../init.d/drainguard",
                p(&format!("/etc/rc.d/rc{l}.d/{link}")),
            )
            .unwrap();
        }
        let mut host = probe(d.path(), Init::SysvChkconfig);
        let expect = expect();
        let ids = |h: &Host| {
            check(h, &expect, "drainguard", &mut Report::default())
                .iter()
                .map(|f| f.id)
                .collect::<Vec<_>>()
        };
        assert!(ids(&host).is_empty(), "an image: the lock appears at boot");
        host.live = true;
        assert_eq!(ids(&host), vec!["DG105"]);
        std::fs::create_dir_all(p("/var/lock/subsys")).unwrap();
        std::fs::write(p("/var/lock/subsys/drainguard"), "").unwrap();
        assert!(ids(&host).is_empty());
    }

    #[test]
    fn a_debian_drain_that_runs_with_sendsigs_is_dg109() {
        let d = tempfile::tempdir().unwrap();
        let p = |h: &str| d.path().join(h.trim_start_matches('/'));
        std::fs::create_dir_all(p("/etc/init.d")).unwrap();
        script(&p("/etc/init.d/drainguard"));
        let link = |level: u8, name: &str| {
            std::fs::create_dir_all(p(&format!("/etc/rc{level}.d"))).unwrap();
            let script =
                name.trim_start_matches(|c: char| c == 'K' || c == 'S' || c.is_ascii_digit());
            symlink(
                format!("../init.d/{script}"),
                p(&format!("/etc/rc{level}.d/{name}")),
            )
            .unwrap();
        };
        for l in 2..=5 {
            link(l, "S01drainguard");
        }
        for l in [0, 6] {
            link(l, "K03drainguard");
            link(l, "K03sendsigs"); // a hand-made script without $remote_fs
        }
        let host = probe(d.path(), Init::SysvDebian);
        let expect = expect();
        let ids = || {
            check(&host, &expect, "drainguard", &mut Report::default())
                .iter()
                .map(|f| f.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(), vec!["DG109", "DG109"]);
        // Ordered as insserv orders a script with $remote_fs: before sendsigs.
        for l in [0, 6] {
            std::fs::remove_file(p(&format!("/etc/rc{l}.d/K03sendsigs"))).unwrap();
            link(l, "K05sendsigs");
        }
        assert!(ids().is_empty(), "{:?}", ids());
    }
}
