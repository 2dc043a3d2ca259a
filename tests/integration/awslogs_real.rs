//! The real legacy awslogs agent (`aws logs push`, awscli 1.46.3 + awscli-cwlogs 1.4.6,
//! Python 3.11, unpatched) shipping an app log to a private moto_server on 127.0.0.1 as its
//! CloudWatch Logs endpoint, both started by the test (support/awslogs.rs). drainguard finds
//! the config on the agent's command line and its log on the agent's stderr
//! (`--shipper-pid`), as on a host, and its verdicts are checked against what moto received
//! (GetLogEvents).
//!
//! The endpoint is paused with SIGSTOP: the agent records a batch in `push_state` before
//! its PutLogEvents call, which then hangs, so the state file says every byte was handed on
//! while moto has not got them: the in-flight batch must keep the verdict "behind".

use crate::support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use drainguard::testkit::append;
use support::awslogs::{self, Agent, Moto};
use support::{drainguard, eventually, json, text};

fn lines(from: usize, n: usize, tag: &str) -> String {
    (from..from + n)
        .map(|i| format!("{tag} line {i:06} {}\n", "x".repeat(40)))
        .collect()
}

fn file_lines(paths: &[&Path]) -> Vec<String> {
    let mut v: Vec<String> = paths
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn status(a: &Agent) -> Output {
    drainguard()
        .args(["status", "--json", "--shipper-pid", &a.pid().to_string()])
        .output()
        .unwrap()
}

fn wait_cmd(a: &Agent, dir: &Path, deadline: &str) -> Command {
    let mut c = drainguard();
    c.args(["wait", "--shipper-pid", &a.pid().to_string()])
        .args(["--interval", "200ms", "--deadline", deadline, "--quiet"])
        .arg("--log-file")
        .arg(dir.join("drainguard.log"));
    c
}

/// Starts moto and the agent on `app.log` holding `n` lines; returns once moto has them all
/// and drainguard says drained.
fn shipping(venv: &Path, dir: &Path, n: usize) -> (Moto, Agent, std::path::PathBuf) {
    let app = dir.join("app.log");
    std::fs::write(&app, lines(0, n, "first")).unwrap();
    let moto = Moto::start(venv, dir);
    let agent = Agent::start(venv, dir, &moto, &app.to_string_lossy());
    let want = file_lines(&[&app]);
    assert!(
        eventually(Duration::from_secs(90), || sorted(moto.messages("g", "s"))
            == want),
        "moto never had the first {n} lines: {}",
        std::fs::read_to_string(&agent.log).unwrap_or_default()
    );
    let drained = eventually(Duration::from_secs(30), || {
        status(&agent).status.code() == Some(0)
    });
    let o = status(&agent);
    assert!(drained, "{}", text(&o));
    (moto, agent, app)
}

#[test]
fn status_owes_the_in_flight_batch_while_the_endpoint_is_stopped_and_drains_after_delivery() {
    let Some(venv) = awslogs::installed() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let (moto, agent, app) = shipping(&venv, d.path(), 200);
    let j = json(&status(&agent));
    assert_eq!(j["verdict"], "drained", "{j}");
    let sh = &j["shippers"][0];
    assert_eq!(sh["shipper"], "awslogs");
    assert_eq!(sh["store"], agent.state.to_string_lossy().as_ref());
    assert_eq!(sh["offset_meaning"], "sent_or_given_up");
    assert_eq!(sh["files"][0]["path"], app.to_string_lossy().as_ref());
    assert!(
        sh["queues"]
            .to_string()
            .contains(&agent.log.to_string_lossy().into_owned()),
        "the agent's stderr is its log, found through /proc: {sh}"
    );

    moto.pause();
    let more = lines(200, 100, "second");
    append(&app, &more);
    let size = std::fs::metadata(&app).unwrap().len();
    // The agent records the batch, then its PutLogEvents hangs: every byte is "handed on".
    let recorded = eventually(Duration::from_secs(60), || {
        let j = json(&status(&agent));
        j["shippers"][0]["files"][0]["offset"].as_u64() == Some(size)
    });
    let o = status(&agent);
    let j = json(&o);
    assert!(recorded, "{j}");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(j["verdict"], "behind", "{j}");
    assert_eq!(
        j["bytes_behind"], 0,
        "the offset is at the end of the file: {j}"
    );
    assert_eq!(
        j["queued_bytes"].as_u64(),
        Some(more.len() as u64),
        "the in-flight batch is owed: {j}"
    );
    let held = wait_cmd(&agent, d.path(), "3s").output().unwrap();
    assert_eq!(held.status.code(), Some(3), "{}", text(&held));

    moto.resume();
    let out = wait_cmd(&agent, d.path(), "90s").output().unwrap();
    // Read at once: what moto had when drainguard released.
    let got = sorted(moto.messages("g", "s"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        got,
        file_lines(&[&app]),
        "released before moto had every line"
    );
}

#[test]
fn wait_exits_4_when_the_agent_is_killed_with_a_batch_in_flight() {
    let Some(venv) = awslogs::installed() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let (moto, mut agent, app) = shipping(&venv, d.path(), 50);
    moto.pause();
    append(&app, lines(50, 50, "second"));
    let size = std::fs::metadata(&app).unwrap().len();
    assert!(eventually(Duration::from_secs(60), || {
        json(&status(&agent))["shippers"][0]["files"][0]["offset"].as_u64() == Some(size)
    }));
    let pid = agent.pid();
    agent.kill();
    let out = drainguard()
        .args(["wait", "--shipper", "awslogs", "--config"])
        .arg(&agent.conf)
        .args(["--shipper-pid", &pid.to_string()])
        .args(["--interval", "200ms", "--deadline", "30s", "--quiet"])
        .arg("--log-file")
        .arg(d.path().join("drainguard.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    moto.resume();
}

/// The app log is renamed mid-way and a new one written: the agent reads the old one to its
/// end before starting on the new one, and `wait` releases only once moto has every line of
/// both.
#[test]
fn rotation_loses_nothing() {
    let Some(venv) = awslogs::installed() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let (moto, agent, app) = shipping(&venv, d.path(), 100);
    append(&app, lines(100, 2000, "before-rotation"));
    let rotated = d.path().join("app.log.1");
    std::fs::rename(&app, &rotated).unwrap();
    std::fs::write(&app, lines(0, 1000, "after-rotation")).unwrap();
    let out = wait_cmd(&agent, d.path(), "120s").output().unwrap();
    let got = sorted(moto.messages("g", "s"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        got,
        file_lines(&[&rotated, &app]),
        "a line is missing at release"
    );
    assert!(agent.published() >= 2);
}
