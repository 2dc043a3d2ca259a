//! Is the host going down? `wait --only-at-shutdown` (the unit's ExecStop, the init script's
//! `stop`) asks this first, so that `systemctl restart drainguard`, a package upgrade or an
//! admin's `systemctl stop` return at once instead of holding for a drain nobody needs.
//!
//! systemd: `systemctl is-system-running` says `stopping` whenever shutdown.target is active or
//! has a start job queued, once the boot has finished (systemd's `manager_state()`), and every
//! target that takes the host down (reboot, poweroff, halt, kexec, soft-reboot) pulls in
//! shutdown.target in the same transaction. So `running`, `degraded` and `maintenance` are an
//! answer: no shutdown. Only while the boot is unfinished (`starting`, `initializing`: the state
//! says nothing about shutdown.target then) is a queued start job for one of those targets looked
//! for in `systemctl list-jobs`. SysV init (sysvinit, upstart): the `RUNLEVEL` variable init
//! gives the rc scripts, else `runlevel`'s current level; 0 or 6 is going down.
//!
//! systemctl talks to PID 1 over its private socket (no D-Bus daemon), but under load it can
//! take seconds just to start. So a command that does not answer is asked again, with a longer
//! timeout, within [`PROBE_BUDGET`] in all (well inside the stop margin `install` gives the
//! unit beyond the deadline); a hung command is killed. When systemd never answers, files that
//! need no process are read: `/run/nologin` (systemd-user-sessions writes it when it stops at a
//! shutdown, logind five minutes before a scheduled one) and `/run/systemd/shutdown/scheduled`
//! (a scheduled shutdown): either is taken as a shutdown. Their absence proves nothing (at a
//! shutdown, drainguard's stop may run before systemd-user-sessions'), so only then is the
//! answer [`HostState::Unknown`], and the caller waits as at a shutdown: a slow stop is bounded
//! by the deadline, lost logs are not recoverable.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// The timeouts of the successive tries of one probe command: a command that does not answer
/// within one is killed and asked again with the next, while [`PROBE_BUDGET`] lasts.
pub const PROBE_TIMEOUTS: [Duration; 3] = [
    Duration::from_secs(3),
    Duration::from_secs(5),
    Duration::from_secs(8),
];
/// The most the whole probe may take (every try of every command).
pub const PROBE_BUDGET: Duration = Duration::from_secs(16);
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
/// Files whose presence says a shutdown is under way or imminent, read only when systemd does
/// not answer (reading them cannot block).
pub const SHUTDOWN_FILES: [&str; 2] = ["/run/nologin", "/run/systemd/shutdown/scheduled"];

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
    /// Whether a file exists (a stat: cannot block on a local /run).
    fn exists(&self, path: &str) -> bool;
    /// A command's standard output whatever its exit status (`systemctl is-system-running`
    /// exits non-zero for every state but `running`), or why it could not be had; a command
    /// still running after `timeout` is killed and is an error saying so.
    fn output(&self, argv: &[&str], timeout: Duration) -> Result<String, String>;
    /// The time now (the probe's budget is measured with it).
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The live host: real commands and files.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveHost;

impl HostView for LiveHost {
    fn systemd_booted(&self) -> bool {
        Path::new("/run/systemd/system").is_dir()
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn exists(&self, path: &str) -> bool {
        Path::new(path).symlink_metadata().is_ok()
    }

    fn output(&self, argv: &[&str], timeout: Duration) -> Result<String, String> {
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
            .wait_timeout(timeout)
            .map_err(|e| format!("{prog}: {e}"))?;
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not answer within {}",
                argv.join(" "),
                humantime::format_duration(timeout)
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
    let probe = Probe {
        host,
        until: host.now() + PROBE_BUDGET,
        failures: Vec::new(),
    };
    if host.systemd_booted() {
        probe.systemd()
    } else {
        probe.sysv()
    }
}

/// One probe: the budget's end and what went wrong so far (said when nothing answers).
struct Probe<'a> {
    host: &'a dyn HostView,
    until: Instant,
    failures: Vec<String>,
}

impl Probe<'_> {
    /// `argv`'s output once `accept` takes it (`Err` keeps asking: a failure or an answer that
    /// says nothing), each try with the next of [`PROBE_TIMEOUTS`], within the budget. `None`
    /// when no try was accepted; each failure is kept for the log.
    fn ask<T>(&mut self, argv: &[&str], accept: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        for timeout in PROBE_TIMEOUTS {
            let left = self.until.saturating_duration_since(self.host.now());
            if left.is_zero() {
                self.failures.push(format!(
                    "{}: the probe's {} were used up",
                    argv.join(" "),
                    humantime::format_duration(PROBE_BUDGET)
                ));
                return None;
            }
            match self
                .host
                .output(argv, timeout.min(left))
                .and_then(|out| accept(&out))
            {
                Ok(answer) => return Some(answer),
                Err(why) => self.failures.push(why),
            }
        }
        None
    }

    /// What went wrong, for the log: repeated failures once, with their count.
    fn failures(&self) -> String {
        let mut said: Vec<(String, usize)> = Vec::new();
        for f in &self.failures {
            match said.iter_mut().find(|(s, _)| s == f) {
                Some((_, n)) => *n += 1,
                None => said.push((f.clone(), 1)),
            }
        }
        said.iter()
            .map(|(s, n)| {
                if *n > 1 {
                    format!("{s} ({n} times)")
                } else {
                    s.clone()
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn systemd(mut self) -> HostState {
        let state = self.ask(&["systemctl", "is-system-running"], |out| {
            let state = out.lines().next().unwrap_or("").trim();
            match state {
                "stopping" | "running" | "degraded" | "maintenance" | "starting"
                | "initializing" => Ok(state.to_string()),
                other => Err(format!("systemctl is-system-running said {other:?}")),
            }
        });
        match state.as_deref() {
            Some("stopping") => {
                HostState::ShuttingDown("systemctl is-system-running: stopping".into())
            }
            // The boot has finished: shutdown.target active or queued would be `stopping`.
            Some(state @ ("running" | "degraded" | "maintenance")) => HostState::Running(format!(
                "systemctl is-system-running: {state}{}",
                self.retried()
            )),
            // Still booting: the state does not cover shutdown.target; the job queue does.
            Some(state) => {
                let state = state.to_string();
                let argv = [
                    "systemctl",
                    "list-jobs",
                    "--no-legend",
                    "--no-pager",
                    "--plain",
                ];
                match self.ask(&argv, |jobs| Ok(shutdown_job(jobs).map(str::to_string))) {
                    Some(Some(target)) => HostState::ShuttingDown(format!(
                        "systemctl is-system-running: {state}, a {target} job is queued"
                    )),
                    Some(None) => HostState::Running(format!(
                        "systemctl is-system-running: {state}, no shutdown job queued{}",
                        self.retried()
                    )),
                    None => self.files(),
                }
            }
            None => self.files(),
        }
    }

    /// When answers came only after failed tries: say so (the stop took longer for it).
    fn retried(&self) -> String {
        if self.failures.is_empty() {
            String::new()
        } else {
            format!(", after {}", self.failures())
        }
    }

    /// systemd did not answer: the files a shutdown leaves, else unknown.
    fn files(self) -> HostState {
        let found: Vec<&str> = SHUTDOWN_FILES
            .into_iter()
            .filter(|f| self.host.exists(f))
            .collect();
        if found.is_empty() {
            HostState::Unknown(format!(
                "{}; and neither {} exists, which proves nothing",
                self.failures(),
                SHUTDOWN_FILES.join(" nor ")
            ))
        } else {
            HostState::ShuttingDown(format!(
                "{} exists ({})",
                found.join(" and "),
                self.failures()
            ))
        }
    }

    fn sysv(mut self) -> HostState {
        if let Some(level) = self.host.env("RUNLEVEL").filter(|l| !l.trim().is_empty()) {
            return level_state(level.trim(), "RUNLEVEL");
        }
        // `N 3` (previous, current); `unknown` when utmp has no run level record.
        let level = self.ask(&["runlevel"], |out| {
            match out.split_whitespace().collect::<Vec<_>>().as_slice() {
                [_prev, now] => Ok(now.to_string()),
                _ => Err(format!("runlevel said {:?}", out.trim())),
            }
        });
        match level {
            Some(level) => level_state(&level, "runlevel"),
            None => HostState::Unknown(self.failures()),
        }
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
    use std::cell::{Cell, RefCell};
    use std::collections::{HashMap, HashSet, VecDeque};

    /// One scripted answer of a fake command.
    #[derive(Clone, Copy)]
    enum Answer {
        Out(&'static str),
        Fails(&'static str),
        /// Runs past its timeout: the fake clock moves on by it, as a killed command would.
        Hangs,
    }
    use Answer::*;

    /// A host with scripted answers, a clock that moves only as commands take time, and a
    /// record of every command run with its timeout. A command is keyed by its first two
    /// words; its answers are used in turn, the last one again and again; a command with no
    /// answer fails as if not installed.
    struct Fake {
        systemd: bool,
        env: HashMap<&'static str, &'static str>,
        files: HashSet<&'static str>,
        answers: RefCell<HashMap<&'static str, VecDeque<Answer>>>,
        start: Instant,
        elapsed: Cell<Duration>,
        runs: RefCell<Vec<(String, Duration)>>,
    }

    impl Fake {
        fn new(systemd: bool) -> Fake {
            Fake {
                systemd,
                env: HashMap::new(),
                files: HashSet::new(),
                answers: RefCell::new(HashMap::new()),
                start: Instant::now(),
                elapsed: Cell::new(Duration::ZERO),
                runs: RefCell::new(Vec::new()),
            }
        }
        fn answers(self, key: &'static str, answers: &[Answer]) -> Fake {
            self.answers
                .borrow_mut()
                .insert(key, answers.iter().copied().collect());
            self
        }
        fn timeouts(&self, key: &str) -> Vec<Duration> {
            self.runs
                .borrow()
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, t)| *t)
                .collect()
        }
    }

    impl HostView for Fake {
        fn systemd_booted(&self) -> bool {
            self.systemd
        }
        fn env(&self, name: &str) -> Option<String> {
            self.env.get(name).map(|s| s.to_string())
        }
        fn exists(&self, path: &str) -> bool {
            self.files.contains(path)
        }
        fn output(&self, argv: &[&str], timeout: Duration) -> Result<String, String> {
            let key = argv[..2.min(argv.len())].join(" ");
            self.runs.borrow_mut().push((key.clone(), timeout));
            let mut answers = self.answers.borrow_mut();
            let answer = match answers.get_mut(key.as_str()) {
                Some(q) if q.len() > 1 => q.pop_front().unwrap(),
                Some(q) => *q.front().unwrap(),
                None => return Err(format!("{}: not found", argv[0])),
            };
            match answer {
                Out(s) => Ok(s.to_string()),
                Fails(e) => Err(e.to_string()),
                Hangs => {
                    self.elapsed.set(self.elapsed.get() + timeout);
                    Err(format!(
                        "{key} did not answer within {}",
                        humantime::format_duration(timeout)
                    ))
                }
            }
        }
        fn now(&self) -> Instant {
            self.start + self.elapsed.get()
        }
    }

    fn systemd(state: &'static str, jobs: &'static str) -> Fake {
        Fake::new(true)
            .answers("systemctl is-system-running", &[Out(state)])
            .answers("systemctl list-jobs", &[Out(jobs)])
    }

    fn is_running(s: &HostState) -> bool {
        matches!(s, HostState::Running(_))
    }
    fn is_down(s: &HostState) -> bool {
        matches!(s, HostState::ShuttingDown(_))
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
    fn systemd_finished_boot_states_answer_alone() {
        // Once booted, systemd says `stopping` whenever shutdown.target is active or queued:
        // the other states are the answer, and the job list is not asked for.
        for state in ["running", "degraded", "maintenance"] {
            let f = systemd(Box::leak(format!("{state}\n").into_boxed_str()), "");
            let s = host_state(&f);
            assert_eq!(
                s,
                HostState::Running(format!("systemctl is-system-running: {state}"))
            );
            assert!(f.timeouts("systemctl list-jobs").is_empty(), "{state}");
            assert_eq!(
                f.timeouts("systemctl is-system-running"),
                [PROBE_TIMEOUTS[0]]
            );
        }
    }

    #[test]
    fn systemd_while_booting_the_job_queue_decides() {
        let jobs = "1234 drainguard.service stop running\n1240 nginx.service restart waiting\n";
        for state in ["starting\n", "initializing\n"] {
            let s = host_state(&systemd(state, jobs));
            assert!(is_running(&s), "{state}: {s:?}");
            assert!(matches!(&s, HostState::Running(w) if w.contains("no shutdown job queued")));
        }
        for target in SHUTDOWN_TARGETS {
            let jobs: &'static str = Box::leak(
                format!("977 drainguard.service stop running\n981 {target} start waiting\n")
                    .into_boxed_str(),
            );
            assert_eq!(
                host_state(&systemd("starting\n", jobs)),
                HostState::ShuttingDown(format!(
                    "systemctl is-system-running: starting, a {target} job is queued"
                ))
            );
        }
    }

    #[test]
    fn systemd_a_stop_job_for_a_shutdown_target_is_not_a_shutdown() {
        // `systemctl isolate` stops these targets at boot; only their start means going down.
        let s = host_state(&systemd("starting\n", "12 reboot.target stop waiting\n"));
        assert!(is_running(&s), "{s:?}");
    }

    #[test]
    fn systemd_slow_answer_is_asked_again_with_longer_timeouts() {
        // Under load systemctl misses the first timeout: the second try answers.
        let f = Fake::new(true).answers("systemctl is-system-running", &[Hangs, Out("running\n")]);
        let s = host_state(&f);
        assert!(is_running(&s), "{s:?}");
        assert!(
            matches!(&s, HostState::Running(w) if w.contains("after systemctl is-system-running did not answer within 3s")),
            "{s:?}"
        );
        assert_eq!(
            f.timeouts("systemctl is-system-running"),
            PROBE_TIMEOUTS[..2]
        );
        // ... and a shutdown told late is still a shutdown.
        let f = Fake::new(true).answers(
            "systemctl is-system-running",
            &[Hangs, Hangs, Out("stopping\n")],
        );
        assert!(is_down(&host_state(&f)));
        assert_eq!(f.timeouts("systemctl is-system-running"), PROBE_TIMEOUTS);
    }

    #[test]
    fn odd_answers_are_asked_again() {
        let f = Fake::new(true).answers(
            "systemctl is-system-running",
            &[Out("offline\n"), Out(""), Out("degraded\n")],
        );
        assert!(is_running(&host_state(&f)));
        assert_eq!(f.timeouts("systemctl is-system-running").len(), 3);
    }

    #[test]
    fn the_probe_stays_within_its_budget() {
        // Every try hangs: the tries' timeouts together stay within the budget, and the job
        // list (needed while booting) gets only what is left.
        assert!(PROBE_TIMEOUTS.iter().sum::<Duration>() <= PROBE_BUDGET);
        let f = Fake::new(true)
            .answers(
                "systemctl is-system-running",
                &[Hangs, Hangs, Out("starting\n")],
            )
            .answers("systemctl list-jobs", &[Hangs]);
        let s = host_state(&f);
        assert!(matches!(s, HostState::Unknown(_)), "{s:?}");
        assert_eq!(f.elapsed.get(), PROBE_BUDGET);
        // 3 s + 5 s went to the state, 8 s are left: 3 s, then the 5 s that remain, then none.
        assert_eq!(
            f.timeouts("systemctl list-jobs"),
            [Duration::from_secs(3), Duration::from_secs(5)]
        );
        assert!(
            matches!(&s, HostState::Unknown(w) if w.contains("used up")),
            "{s:?}"
        );
    }

    #[test]
    fn systemd_silent_shutdown_files_say_shutdown() {
        for file in SHUTDOWN_FILES {
            let mut f = Fake::new(true).answers("systemctl is-system-running", &[Hangs]);
            f.files.insert(file);
            let s = host_state(&f);
            assert!(
                matches!(&s, HostState::ShuttingDown(w) if w.starts_with(&format!("{file} exists (systemctl is-system-running did not answer within 3s"))),
                "{file}: {s:?}"
            );
        }
    }

    #[test]
    fn systemd_silent_without_files_is_unknown_naming_every_failure() {
        let f = Fake::new(true).answers("systemctl is-system-running", &[Hangs]);
        let s = host_state(&f);
        let HostState::Unknown(why) = &s else {
            panic!("{s:?}")
        };
        for t in ["3s", "5s", "8s"] {
            assert!(why.contains(&format!("did not answer within {t}")), "{why}");
        }
        assert!(why.contains("/run/nologin"), "{why}");
        assert_eq!(f.timeouts("systemctl is-system-running"), PROBE_TIMEOUTS);
        // Failing at once (not installed, no PID 1 to talk to) is unknown too, said once.
        let s = host_state(&Fake::new(true));
        assert!(
            matches!(&s, HostState::Unknown(w) if w.starts_with("systemctl: not found (3 times)")),
            "{s:?}"
        );
        // So is a refusal.
        let f = Fake::new(true).answers(
            "systemctl is-system-running",
            &[Fails("systemctl: permission denied")],
        );
        assert!(matches!(host_state(&f), HostState::Unknown(_)));
    }

    #[test]
    fn sysv_runlevel_variable_decides_first() {
        for (level, down) in [("0", true), ("6", true), ("1", false), ("3", false)] {
            let mut f = Fake::new(false).answers("runlevel", &[Out("N 3\n")]);
            f.env.insert("RUNLEVEL", level);
            // runlevel(8) would disagree: the variable init gave the rc script wins.
            let s = host_state(&f);
            assert_eq!(is_down(&s), down, "{level}: {s:?}");
            assert_eq!(is_running(&s), !down, "{level}: {s:?}");
            assert!(f.runs.borrow().is_empty());
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
            let f = Fake::new(false).answers("runlevel", &[Out(out)]);
            let s = host_state(&f);
            assert_eq!(is_down(&s), down, "{out:?}: {s:?}");
            assert_eq!(is_running(&s), !down, "{out:?}: {s:?}");
        }
        let f = Fake::new(false).answers("runlevel", &[Hangs, Out("N 3\n")]);
        assert!(is_running(&host_state(&f)));
    }

    #[test]
    fn sysv_unknown_runlevel_is_unknown() {
        for out in ["unknown\n", "", "N 9\n"] {
            let f = Fake::new(false).answers("runlevel", &[Out(out)]);
            assert!(matches!(host_state(&f), HostState::Unknown(_)), "{out:?}");
        }
        assert!(
            matches!(host_state(&Fake::new(false)), HostState::Unknown(w) if w.contains("not found"))
        );
    }

    #[test]
    fn live_host_kills_a_command_that_hangs() {
        let err = LiveHost
            .output(&["sleep", "30"], Duration::from_millis(200))
            .unwrap_err();
        assert!(err.contains("did not answer within 200ms"), "{err}");
    }

    #[test]
    fn live_host_returns_output_of_a_failing_command() {
        let out = LiveHost
            .output(&["sh", "-c", "echo degraded; exit 1"], PROBE_TIMEOUTS[0])
            .unwrap();
        assert_eq!(out, "degraded\n");
        assert!(LiveHost
            .output(&["/nonexistent/systemctl"], PROBE_TIMEOUTS[0])
            .is_err());
    }

    #[test]
    fn live_host_sees_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("nologin");
        assert!(!LiveHost.exists(f.to_str().unwrap()));
        std::fs::write(&f, "").unwrap();
        assert!(LiveHost.exists(f.to_str().unwrap()));
    }
}
