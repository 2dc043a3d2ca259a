//! `drainguard aws watch` end to end: the real binary, the real drain (`wait`'s, over a
//! shipper simulator writing Filebeat's registry and a TCP sink), a local IMDSv2 fake and a
//! local Auto Scaling API fake (the AWS SDK pointed at it with its endpoint override).
#![cfg(feature = "aws")]

use crate::support;
use crate::support::aws as fakes;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use fakes::{env_for, ActionState, Completion, FakeAsg, FakeImds, Fault};
use support::{app_log, drainguard, eventually, shipsim, Proc, Sink};

const ID: &str = "i-0123456789abcdef0";
const GROUP: &str = "web-asg";
const HOOK: &str = "drain-logs";

struct Rig {
    dir: tempfile::TempDir,
    log: PathBuf,
    data: PathBuf,
    sink: Sink,
    sim: Proc,
    imds: FakeImds,
    asg: FakeAsg,
}

impl Rig {
    /// An app log of `lines`, shipped by the simulator to a sink (paused when `backlog`).
    fn new(lines: usize, backlog: bool, heartbeat_timeout: Duration) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        app_log(&log, lines);
        let sink = Sink::start(dir.path());
        if backlog {
            sink.pause();
        }
        let data = dir.path().join("data");
        let sim = shipsim(&data, &[&log], Some(&sink), &["--rate", "200000"]);
        assert!(eventually(Duration::from_secs(5), || data
            .join("registry")
            .exists()));
        if !backlog {
            let want = std::fs::read(&log).unwrap();
            assert!(eventually(Duration::from_secs(10), || sink.received() == want));
        }
        Rig {
            log,
            data,
            sink,
            sim,
            imds: FakeImds::start(ID),
            asg: FakeAsg::start(ID, GROUP, HOOK, heartbeat_timeout),
            dir,
        }
    }

    fn marker(&self) -> PathBuf {
        self.dir.path().join("apps-stopped")
    }

    /// Starts `aws watch --once`; output goes to files read by [`Rig::output`].
    fn watch(&self, extra: &[&str]) -> Child {
        let mut c = drainguard();
        env_for(&mut c, &self.imds, &self.asg);
        c.args([
            "aws",
            "watch",
            "--once",
            "--poll",
            "100ms",
            "--interval",
            "100ms",
        ])
        .arg("--data-path")
        .arg(&self.data)
        .args(["--shipper-pid", &self.sim.pid().to_string()])
        .arg("--log-file")
        .arg(self.dir.path().join("drainguard.log"))
        .arg("--stop-command")
        .arg(format!("touch '{}'", self.marker().display()))
        .args(extra)
        .stdout(Stdio::from(
            File::create(self.dir.path().join("out")).unwrap(),
        ))
        .stderr(Stdio::from(
            File::create(self.dir.path().join("err")).unwrap(),
        ));
        let child = c.spawn().unwrap();
        // Watching: it has read the lifecycle state at least once.
        assert!(
            eventually(Duration::from_secs(20), || {
                self.asg
                    .with(|s| s.calls.iter().any(|c| c == "DescribeLifecycleHooks"))
                    && self.imds.with(|s| s.ok_reads >= 3)
            }),
            "aws watch never started watching: {}",
            self.output()
        );
        child
    }

    fn output(&self) -> String {
        let r = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!("stdout:\n{}\nstderr:\n{}", r("out"), r("err"))
    }

    /// Auto Scaling scales the instance in: Terminating:Wait, and IMDS says Terminated.
    fn scale_in(&self) {
        self.asg.begin_termination(ID);
        self.imds.terminate();
    }

    /// Waits for `aws watch` to exit with `code`, then checks that it completed our action.
    fn ends_with_completion(&self, child: &mut Child, within: Duration, code: i32) {
        assert_eq!(finish(child, within), Some(code), "{}", self.output());
        assert_eq!(self.completions(), continue_for_us(), "{}", self.output());
    }

    fn completions(&self) -> Vec<Completion> {
        self.asg.with(|s| s.completions.clone())
    }
}

fn finish(child: &mut Child, within: Duration) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        if t0.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("aws watch did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn continue_for_us() -> Vec<Completion> {
    vec![Completion {
        instance: ID.into(),
        group: GROUP.into(),
        hook: HOOK.into(),
        result: "CONTINUE".into(),
    }]
}

#[test]
fn termination_while_drained_completes_at_once() {
    let rig = Rig::new(2000, false, Duration::from_secs(300));
    let mut child = rig.watch(&[]);
    assert!(
        rig.completions().is_empty(),
        "nothing completed before the termination"
    );
    let t0 = Instant::now();
    rig.scale_in();
    rig.ends_with_completion(&mut child, Duration::from_secs(30), 0);
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "completed at once, not after a wait"
    );
    assert_eq!(
        rig.asg.action_state(),
        Some(ActionState::Completed("CONTINUE".into()))
    );
    assert!(rig.marker().exists(), "the apps were stopped first");
    assert!(rig.output().contains("drained"), "{}", rig.output());
}

#[test]
fn termination_with_backlog_heartbeats_until_drained_then_completes() {
    // A 2 s hook: without heartbeats it would time out long before the sink comes back.
    let rig = Rig::new(20_000, true, Duration::from_secs(2));
    let mut child = rig.watch(&[]);
    rig.scale_in();
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        rig.completions().is_empty(),
        "not completed while bytes are behind"
    );
    assert_eq!(
        rig.asg.action_state(),
        Some(ActionState::Pending),
        "heartbeats kept the hook alive"
    );
    rig.sink.resume();
    rig.ends_with_completion(&mut child, Duration::from_secs(60), 0);
    assert_eq!(
        rig.sink.received(),
        std::fs::read(&rig.log).unwrap(),
        "every byte delivered"
    );
    let beats = rig.asg.with(|s| s.heartbeats.len());
    assert!(
        beats >= 3,
        "heartbeats every third of the 2 s timeout for 5 s: {beats}"
    );
    assert!(
        rig.output().contains("heartbeat timeout is only 2s"),
        "warned about the short hook: {}",
        rig.output()
    );
    // 100 x 2 s = 200 s of global timeout, below the default 25 min deadline.
    assert!(
        rig.output().contains("reaches the hook's global timeout"),
        "{}",
        rig.output()
    );
}

#[test]
fn deadline_completes_with_the_report() {
    let rig = Rig::new(20_000, true, Duration::from_secs(300));
    let mut child = rig.watch(&["--deadline", "2s"]);
    rig.scale_in();
    rig.ends_with_completion(&mut child, Duration::from_secs(30), 3);
    let out = rig.output();
    assert!(out.contains("deadline passed"), "{out}");
    assert!(
        out.contains("app.log"),
        "the report names the file left behind: {out}"
    );
}

#[test]
fn spot_notice_caps_the_deadline_to_the_notice_minus_the_margin() {
    let rig = Rig::new(20_000, true, Duration::from_secs(300));
    let mut child = rig.watch(&["--deadline", "1h", "--spot-margin", "2s"]);
    let t0 = Instant::now();
    rig.asg.begin_termination(ID);
    rig.imds
        .spot_notice("terminate", SystemTime::now() + Duration::from_secs(6));
    rig.ends_with_completion(&mut child, Duration::from_secs(30), 3);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "capped near 4 s, not 1 h: {took:?}"
    );
    let out = rig.output();
    assert!(out.contains("deadline capped"), "{out}");
}

#[test]
fn imds_down_slow_and_rate_limiting_are_retried_without_a_crash() {
    let rig = Rig::new(2000, false, Duration::from_secs(300));
    let mut child = rig.watch(&[]);
    rig.imds.with(|s| {
        s.faults
            .extend([Fault::Status(429), Fault::Status(429), Fault::Status(503)]);
        s.faults.extend(vec![Fault::Status(503); 12]);
        s.faults
            .push_back(Fault::Delay(Duration::from_millis(2500)));
    });
    rig.scale_in();
    rig.ends_with_completion(&mut child, Duration::from_secs(90), 0);
    assert_eq!(rig.imds.with(|s| s.faults_served), 16);
    assert!(
        rig.output()
            .contains("cannot read the lifecycle state; will retry"),
        "{}",
        rig.output()
    );
}

#[test]
fn api_errors_are_logged_and_retried() {
    let rig = Rig::new(20_000, true, Duration::from_secs(3));
    rig.asg
        .fail("RecordLifecycleActionHeartbeat", &[Fault::Status(500)]);
    rig.asg.fail(
        "CompleteLifecycleAction",
        &[
            Fault::Status(500),
            Fault::ApiError(400, "Throttling"),
            Fault::Status(503),
        ],
    );
    let mut child = rig.watch(&[]);
    rig.scale_in();
    std::thread::sleep(Duration::from_secs(3));
    rig.sink.resume();
    rig.ends_with_completion(&mut child, Duration::from_secs(60), 0);
    let out = rig.output();
    assert!(
        out.contains("lifecycle heartbeat failed; retrying"),
        "{out}"
    );
    assert!(
        out.contains("CompleteLifecycleAction failed; retrying"),
        "{out}"
    );
    assert!(
        out.contains("Throttling"),
        "the API's error code is logged: {out}"
    );
    let calls = rig.asg.with(|s| {
        s.calls
            .iter()
            .filter(|c| *c == "CompleteLifecycleAction")
            .count()
    });
    assert_eq!(calls, 4);
}

#[test]
fn the_lifecycle_action_is_completed_even_when_the_drain_fails() {
    // The drain cannot even read the store: `wait` fails; the instance must still go.
    let rig = Rig::new(2000, true, Duration::from_secs(300));
    let mut child = rig.watch(&["--registry", "/nonexistent/registry"]);
    rig.scale_in();
    rig.ends_with_completion(&mut child, Duration::from_secs(30), 1);
    assert!(rig.output().contains("outcome=error"), "{}", rig.output());
    // The shipper dies with bytes behind: outcome shipper-dead (4), still completed.
    let rig = Rig::new(20_000, true, Duration::from_secs(300));
    let mut child = rig.watch(&[]);
    signal(rig.sim.pid(), "-9");
    rig.scale_in();
    rig.ends_with_completion(&mut child, Duration::from_secs(30), 4);
}

#[test]
fn sigterm_during_the_drain_still_completes_the_action() {
    let rig = Rig::new(20_000, true, Duration::from_secs(300));
    let mut child = rig.watch(&[]);
    rig.scale_in();
    assert!(eventually(Duration::from_secs(10), || rig
        .output()
        .contains("waiting until every shipper has delivered")));
    signal(child.id(), "-TERM");
    rig.ends_with_completion(&mut child, Duration::from_secs(30), 5);
}

#[test]
fn sigterm_before_any_termination_exits_0_and_completes_nothing() {
    let rig = Rig::new(2000, false, Duration::from_secs(300));
    let mut child = rig.watch(&[]);
    signal(child.id(), "-TERM");
    assert_eq!(
        finish(&mut child, Duration::from_secs(10)),
        Some(0),
        "{}",
        rig.output()
    );
    assert!(rig.completions().is_empty());
    assert!(!rig.marker().exists(), "no app was stopped");
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}
