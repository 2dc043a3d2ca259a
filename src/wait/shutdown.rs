//! Is the host going down? `wait --only-at-shutdown` (the unit's ExecStop, the init script's
//! `stop`) asks this first, so that `systemctl restart drainguard`, a package upgrade or an
//! admin's `systemctl stop` return at once instead of holding for a drain nobody needs.
//!
//! systemd: `systemctl is-system-running` says `stopping` once a shutdown, reboot, poweroff,
//! halt or kexec is under way (shutdown.target is active or queued); a queued start job for one
//! of those targets in `systemctl list-jobs` counts too. SysV init (sysvinit, upstart): the
//! `RUNLEVEL` variable init gives the rc scripts, else `runlevel`'s current level; 0 or 6 is
//! going down.
//!
//! Each command is bounded ([`PROBE_TIMEOUT`]; a hung systemctl is killed). When the probe
//! cannot tell, the answer is [`HostState::Unknown`] and the caller waits as at a shutdown:
//! a slow restart is bounded by the deadline, lost logs are not recoverable.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

/// How long one probe command may take before it is killed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The most of a probe command's output read.
const MAX_OUTPUT: u64 = 64 * 1024;
/// The targets whose queued start means the host is going down.
const SHUTDOWN_TARGETS: [&str; 6] = [
    "shutdown.target",
    "reboot.target",
    "poweroff.target",
    "halt.target",
    "kexec.target",
    "soft-reboot.target",
];

/// What the probe found; each variant says what told it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostState {
    ShuttingDown(String),
    Running(String),
    /// The probe could not tell (why); callers treat it as a shutdown.
    Unknown(String),
}

/// What the probe reads from the host (a fake one in the tests).
pub trait HostView {
    /// True when systemd is the running init (`/run/systemd/system` exists).
    fn systemd_booted(&self) -> bool;
    /// An environment variable of this process.
    fn env(&self, name: &str) -> Option<String>;
    /// A command's standard output whatever its exit status (`systemctl is-system-running`
    /// exits non-zero for every state but `running`), or why it could not be had.
    fn output(&self, argv: &[&str]) -> Result<String, String>;
}

/// The live host: real commands, each killed after `timeout`.
#[derive(Debug, Clone)]
pub struct LiveHost {
    pub timeout: Duration,
}

impl Default for LiveHost {
    fn default() -> Self {
        LiveHost {
            timeout: PROBE_TIMEOUT,
        }
    }
}

impl HostView for LiveHost {
    fn systemd_booted(&self) -> bool {
        Path::new("/run/systemd/system").is_dir()
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn output(&self, argv: &[&str]) -> Result<String, String> {
        let (prog, args) = argv.split_first().ok_or("empty command")?;
        let mut child = Command::new(prog)
            .args(args)
            .env("LC_ALL", "C")
            .env("SYSTEMD_PAGER", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{prog}: {e}"))?;
        let status = child
            .wait_timeout(self.timeout)
            .map_err(|e| format!("{prog}: {e}"))?;
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not answer within {}s",
                argv.join(" "),
                self.timeout.as_secs()
            ));
        }
        let mut out = String::new();
        if let Some(stdout) = child.stdout.take() {
            stdout
                .take(MAX_OUTPUT)
                .read_to_string(&mut out)
                .map_err(|e| format!("{prog}: reading its output: {e}"))?;
        }
        Ok(out)
    }
}

/// Whether the host is shutting down or rebooting.
pub fn host_state(host: &dyn HostView) -> HostState {
    if host.systemd_booted() {
        systemd_state(host)
    } else {
        sysv_state(host)
    }
}

fn systemd_state(host: &dyn HostView) -> HostState {
    let state = match host.output(&["systemctl", "is-system-running"]) {
        Ok(out) => out.lines().next().unwrap_or("").trim().to_string(),
        Err(why) => return HostState::Unknown(why),
    };
    match state.as_str() {
        "stopping" => {
            return HostState::ShuttingDown("systemctl is-system-running: stopping".into())
        }
        "running" | "degraded" | "maintenance" | "starting" | "initializing" => {}
        other => return HostState::Unknown(format!("systemctl is-system-running said {other:?}")),
    }
    match host.output(&[
        "systemctl",
        "list-jobs",
        "--no-legend",
        "--no-pager",
        "--plain",
    ]) {
        Ok(jobs) => match shutdown_job(&jobs) {
            Some(target) => HostState::ShuttingDown(format!("a {target} job is queued")),
            None => HostState::Running(format!(
                "systemctl is-system-running: {state}, no shutdown job queued"
            )),
        },
        Err(why) => HostState::Unknown(why),
    }
}

/// The shutdown target with a queued start job in `systemctl list-jobs --no-legend` output
/// (`JOB UNIT TYPE STATE` per line).
fn shutdown_job(jobs: &str) -> Option<&str> {
    jobs.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let (_id, unit, kind) = (words.next()?, words.next()?, words.next()?);
        (kind == "start" && SHUTDOWN_TARGETS.contains(&unit)).then_some(unit)
    })
}

fn sysv_state(host: &dyn HostView) -> HostState {
    if let Some(level) = host.env("RUNLEVEL").filter(|l| !l.trim().is_empty()) {
        return level_state(level.trim(), "RUNLEVEL");
    }
    match host.output(&["runlevel"]) {
        // `N 3` (previous, current); `unknown` when utmp has no run level record.
        Ok(out) => match out.split_whitespace().collect::<Vec<_>>().as_slice() {
            [_prev, now] => level_state(now, "runlevel"),
            _ => HostState::Unknown(format!("runlevel said {:?}", out.trim())),
        },
        Err(why) => HostState::Unknown(why),
    }
}

fn level_state(level: &str, source: &str) -> HostState {
    match level {
        "0" | "6" => HostState::ShuttingDown(format!("{source}: {level}")),
        "1" | "2" | "3" | "4" | "5" | "S" | "s" => HostState::Running(format!("{source}: {level}")),
        other => HostState::Unknown(format!("{source} said {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A host with fixed answers; a command with no answer fails as if not installed.
    #[derive(Default)]
    struct Fake {
        systemd: bool,
        env: HashMap<&'static str, &'static str>,
        out: HashMap<&'static str, Result<&'static str, &'static str>>,
    }

    impl HostView for Fake {
        fn systemd_booted(&self) -> bool {
            self.systemd
        }
        fn env(&self, name: &str) -> Option<String> {
            self.env.get(name).map(|s| s.to_string())
        }
        fn output(&self, argv: &[&str]) -> Result<String, String> {
            let key = argv[..2.min(argv.len())].join(" ");
            match self.out.get(key.as_str()) {
                Some(Ok(s)) => Ok(s.to_string()),
                Some(Err(e)) => Err(e.to_string()),
                None => Err(format!("{}: not found", argv[0])),
            }
        }
    }

    fn systemd(state: &'static str, jobs: &'static str) -> Fake {
        let mut f = Fake {
            systemd: true,
            ..Fake::default()
        };
        f.out.insert("systemctl is-system-running", Ok(state));
        f.out.insert("systemctl list-jobs", Ok(jobs));
        f
    }

    fn is_running(s: &HostState) -> bool {
        matches!(s, HostState::Running(_))
    }

    #[test]
    fn systemd_stopping_is_a_shutdown() {
        let s = host_state(&systemd("stopping\n", ""));
        assert_eq!(
            s,
            HostState::ShuttingDown("systemctl is-system-running: stopping".into())
        );
    }

    #[test]
    fn systemd_running_without_shutdown_jobs_is_not() {
        let jobs = "1234 drainguard.service stop running\n1240 nginx.service restart waiting\n";
        for state in ["running\n", "degraded\n"] {
            let s = host_state(&systemd(state, jobs));
            assert!(is_running(&s), "{state}: {s:?}");
        }
    }

    #[test]
    fn systemd_queued_shutdown_target_job_is_a_shutdown_even_while_running() {
        for target in SHUTDOWN_TARGETS {
            let jobs: &'static str = Box::leak(
                format!("977 drainguard.service stop running\n981 {target} start waiting\n")
                    .into_boxed_str(),
            );
            assert_eq!(
                host_state(&systemd("running\n", jobs)),
                HostState::ShuttingDown(format!("a {target} job is queued"))
            );
        }
    }

    #[test]
    fn systemd_a_stop_job_for_a_shutdown_target_is_not_a_shutdown() {
        // `systemctl isolate` stops these targets at boot; only their start means going down.
        let s = host_state(&systemd("running\n", "12 reboot.target stop waiting\n"));
        assert!(is_running(&s), "{s:?}");
    }

    #[test]
    fn systemd_probe_failures_are_unknown() {
        let mut hung = systemd("running\n", "");
        hung.out.insert(
            "systemctl is-system-running",
            Err("systemctl is-system-running did not answer within 3s"),
        );
        assert!(matches!(host_state(&hung), HostState::Unknown(w) if w.contains("did not answer")));
        let mut no_jobs = systemd("running\n", "");
        no_jobs.out.remove("systemctl list-jobs");
        assert!(matches!(host_state(&no_jobs), HostState::Unknown(_)));
        for odd in ["offline\n", "unknown\n", ""] {
            let s = host_state(&systemd(odd, ""));
            assert!(matches!(s, HostState::Unknown(_)), "{odd:?}: {s:?}");
        }
    }

    #[test]
    fn sysv_runlevel_variable_decides_first() {
        for (level, down) in [("0", true), ("6", true), ("1", false), ("3", false)] {
            let mut f = Fake::default();
            f.env.insert("RUNLEVEL", level);
            // runlevel(8) would disagree: the variable init gave the rc script wins.
            f.out.insert("runlevel", Ok("N 3\n"));
            let s = host_state(&f);
            assert_eq!(
                matches!(s, HostState::ShuttingDown(_)),
                down,
                "{level}: {s:?}"
            );
            assert_eq!(is_running(&s), !down, "{level}: {s:?}");
        }
    }

    #[test]
    fn sysv_runlevel_command_current_level() {
        for (out, down) in [
            ("3 0\n", true),
            ("2 6\n", true),
            ("N 3\n", false),
            ("N 2\n", false),
        ] {
            let mut f = Fake::default();
            f.out.insert("runlevel", Ok(out));
            let s = host_state(&f);
            assert_eq!(
                matches!(s, HostState::ShuttingDown(_)),
                down,
                "{out:?}: {s:?}"
            );
            assert_eq!(is_running(&s), !down, "{out:?}: {s:?}");
        }
    }

    #[test]
    fn sysv_unknown_runlevel_is_unknown() {
        for out in ["unknown\n", "", "N 9\n"] {
            let mut f = Fake::default();
            f.out.insert("runlevel", Ok(out));
            assert!(matches!(host_state(&f), HostState::Unknown(_)), "{out:?}");
        }
        assert!(
            matches!(host_state(&Fake::default()), HostState::Unknown(w) if w.contains("not found"))
        );
    }

    #[test]
    fn live_host_kills_a_command_that_hangs() {
        let host = LiveHost {
            timeout: Duration::from_millis(200),
        };
        let err = host.output(&["sleep", "30"]).unwrap_err();
        assert!(err.contains("did not answer"), "{err}");
    }

    #[test]
    fn live_host_returns_output_of_a_failing_command() {
        let host = LiveHost::default();
        let out = host.output(&["sh", "-c", "echo degraded; exit 1"]).unwrap();
        assert_eq!(out, "degraded\n");
        assert!(host.output(&["/nonexistent/systemctl"]).is_err());
    }
}
