//! `drainguard wait` against a real shipper process (the simulator writing Filebeat's exact
//! registry formats) delivering to a real TCP sink. Durations are scaled down.

use crate::support;

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use support::{app_log, drainguard, eventually, shipsim, Sink};

fn wait(data: &std::path::Path, pid: u32, extra: &[&str]) -> std::process::Command {
    let mut c = drainguard();
    c.arg("wait")
        .arg("--data-path")
        .arg(data)
        .args(["--shipper-pid", &pid.to_string(), "--interval", "100ms"])
        .arg("--log-file")
        .arg(data.join("../drainguard.log"))
        .args(extra);
    c
}

/// A tempdir with an app log, a running sink and the shipper's data directory (not created).
struct Host {
    d: tempfile::TempDir,
    log: std::path::PathBuf,
    sink: Sink,
    data: std::path::PathBuf,
}

/// A [`Host`] whose app log has `lines` lines.
fn host(lines: usize) -> Host {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, lines);
    let sink = Sink::start(d.path());
    let data = d.path().join("data");
    Host { d, log, sink, data }
}

/// Starts shipsim (see [`shipsim`]) and waits until its store exists.
fn shipping(
    data: &std::path::Path,
    files: &[&std::path::Path],
    sink: Option<&Sink>,
    extra: &[&str],
) -> support::Proc {
    let sim = shipsim(data, files, sink, extra);
    // The store is complete once its metadata is written (memlog: meta.json after the
    // directory; legacy: the registry file itself), not when the directory appears.
    assert!(eventually(Duration::from_secs(5), || {
        let reg = data.join("registry");
        reg.is_file() || reg.join("filebeat/meta.json").is_file()
    }));
    sim
}

/// Starts a `wait` command with its output captured.
fn spawn(mut c: std::process::Command) -> std::process::Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn releases_after_the_last_byte_is_acknowledged() {
    for format in ["memlog", "legacy"] {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("app.log");
        app_log(&log, 20_000);
        let sink = Sink::start(d.path());
        let data = d.path().join("data");
        let sim = shipsim(
            &data,
            &[&log],
            Some(&sink),
            &["--rate", "100000", "--format", format],
        );
        assert!(eventually(Duration::from_secs(5), || data
            .join("registry")
            .exists()));
        let out = wait(&data, sim.pid(), &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}: {}", text(&out));
        // Released only once the sink had every line the app wrote.
        assert_eq!(sink.received(), std::fs::read(&log).unwrap(), "{format}");
        let record = std::fs::read_to_string(d.path().join("drainguard.log")).unwrap();
        assert!(
            record.contains("result=drained") && record.contains("bytes_left=0"),
            "{record}"
        );
    }
}

#[test]
fn a_stalled_output_never_releases_and_the_deadline_reports_every_file() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a.log"), d.path().join("b.log"));
    app_log(&a, 5_000);
    app_log(&b, 5_000);
    let sink = Sink::start(d.path());
    let data = d.path().join("data");
    // The output stops accepting after 10 KB: offsets stop moving, bytes stay behind.
    let sim = shipping(&data, &[&a, &b], Some(&sink), &["--stall-after", "10000"]);
    let t0 = Instant::now();
    let out = wait(
        &data,
        sim.pid(),
        &["--deadline", "3s", "--stall-after", "1s"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        t0.elapsed() >= Duration::from_secs(3),
        "held until the deadline"
    );
    let s = text(&out);
    assert!(s.contains("no progress"), "stall warned: {s}");
    assert!(
        s.contains("deadline passed") && s.contains("a.log") && s.contains("b.log"),
        "{s}"
    );
    assert!(sink.received().len() < std::fs::read(&a).unwrap().len() * 2);
}

#[test]
fn a_dead_shipper_ends_the_wait_at_once_unless_told_to_wait_for_a_restart() {
    // No sink: read bytes count as delivered.
    let Host {
        d: _d, log, data, ..
    } = host(20_000);
    let mut sim = shipsim(
        &data,
        &[&log],
        None,
        &["--rate", "50000", "--crash-after", "20000"],
    );
    let pid = sim.pid();
    let _ = sim.0.wait();
    let t0 = Instant::now();
    let out = wait(&data, pid, &["--deadline", "20s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "did not burn the deadline"
    );
    assert!(text(&out).contains("shipper dead"), "{}", text(&out));
    let out = wait(&data, pid, &["--deadline", "1s", "--wait-for-restart"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn sigterm_prints_the_report_and_exits_5() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 5_000);
    let sink = Sink::start(d.path());
    sink.pause();
    let data = d.path().join("data");
    let sim = shipping(&data, &[&log], Some(&sink), &[]);
    let child = spawn(wait(&data, sim.pid(), &["--json"]));
    std::thread::sleep(Duration::from_millis(700));
    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["outcome"], "interrupted");
    assert_eq!(doc["verdict"], "behind");
    assert!(doc["bytes_behind"].as_u64().unwrap() > 0);
}

fn sigterm(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn memlog_checkpoints_during_the_wait_are_followed() {
    let Host {
        d: _d,
        log,
        sink,
        data,
    } = host(30_000);
    let sim = shipping(
        &data,
        &[&log],
        Some(&sink),
        &[
            "--rate",
            "200000",
            "--checkpoint-every",
            "3",
            "--flush-interval",
            "20ms",
        ],
    );
    let out = wait(&data, sim.pid(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sink.received(), std::fs::read(&log).unwrap());
    let checkpoints = std::fs::read_dir(data.join("registry/filebeat"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter(|e| e.file_name() != "log.json" && e.file_name() != "meta.json")
        .count();
    assert_eq!(
        checkpoints, 1,
        "checkpoints happened and older ones were removed"
    );
}

#[test]
fn files_growing_while_waiting_are_shipped_before_release() {
    let Host {
        d: _d,
        log,
        sink,
        data,
    } = host(1_000);
    let sim = shipping(&data, &[&log], Some(&sink), &["--rate", "60000"]);
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
            for i in 0..40 {
                writeln!(f, "late line {i:04} {}", "x".repeat(2000)).unwrap();
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    let out = wait(&data, sim.pid(), &[]).output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Every line written before the release is at the sink, incl. the burst while waiting.
    assert_eq!(sink.received(), std::fs::read(&log).unwrap());
}

#[test]
fn nothing_to_drain_on_a_host_without_shippers() {
    let empty = tempfile::tempdir().unwrap();
    let out = drainguard()
        .arg("--root")
        .arg(empty.path())
        .arg("wait")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("nothing to drain"));
}

/// Lines of `bytes`, sorted (several harvesters interleave at the sink).
fn sorted_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_stall_holds_the_wait_with_warnings_and_resumed_delivery_releases_it() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 5_000);
    let sink = Sink::start(d.path());
    // The output is unreachable from the start: nothing is acknowledged.
    sink.pause();
    let data = d.path().join("data");
    let sim = shipping(&data, &[&log], Some(&sink), &[]);
    let mut child = spawn(wait(
        &data,
        sim.pid(),
        &["--stall-after", "500ms", "--report-every", "200ms"],
    ));
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "released during a stall with bytes left"
    );
    assert!(sink.received().is_empty());
    sink.resume();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sink.received(), std::fs::read(&log).unwrap());
    let s = text(&out);
    assert!(
        s.contains("no progress") && s.contains("app.log"),
        "stall warning names the stuck file: {s}"
    );
    assert!(
        s.matches("waiting for the shippers to deliver").count() >= 2,
        "one progress line every --report-every off a terminal: {s}"
    );
}

#[test]
fn a_rotation_while_waiting_holds_until_the_renamed_file_is_shipped_too() {
    let Host { d, log, sink, data } = host(10_000);
    let sim = shipping(&data, &[&log], Some(&sink), &["--rate", "100000"]);
    let child = spawn(wait(&data, sim.pid(), &[]));
    std::thread::sleep(Duration::from_millis(300));
    // logrotate's create mode: rename, then a fresh file under the old name.
    let rotated = d.path().join("app.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    std::fs::write(&log, "after rotation 1\nafter rotation 2\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut both = std::fs::read(&rotated).unwrap();
    both.extend(std::fs::read(&log).unwrap());
    assert_eq!(sorted_lines(&sink.received()), sorted_lines(&both));
}

#[test]
fn waiting_for_a_restart_releases_once_the_restarted_shipper_catches_up() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 20_000);
    let total = std::fs::metadata(&log).unwrap().len();
    let sink = Sink::start(d.path());
    let data = d.path().join("data");
    let mut sim = shipsim(
        &data,
        &[&log],
        Some(&sink),
        &["--rate", "50000", "--crash-after", "20000"],
    );
    let pid = sim.pid();
    let _ = sim.0.wait();
    let mut child = spawn(wait(
        &data,
        pid,
        &["--deadline", "30s", "--wait-for-restart"],
    ));
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        child.try_wait().unwrap().is_none(),
        "kept waiting for the restart"
    );
    let _restarted = shipsim(&data, &[&log], Some(&sink), &["--rate", "500000"]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Every line arrived; the restart resumed from the recorded offset (at-least-once: only
    // what was delivered after the last flush before the crash is sent twice).
    let got = sink.received();
    let mut unique = sorted_lines(&got);
    unique.dedup();
    assert_eq!(unique, sorted_lines(&std::fs::read(&log).unwrap()));
    assert!(
        (got.len() as u64) < total + 10_000,
        "resent from 0 instead of resuming: {} bytes for a {total}-byte file",
        got.len()
    );
}

#[test]
fn the_simulator_exits_0_promptly_on_sigterm_with_its_state_written() {
    // No sink: read bytes count as delivered.
    let Host {
        d: _d, log, data, ..
    } = host(2_000);
    let mut sim = shipsim(
        &data,
        &[&log],
        None,
        &["--format", "legacy", "--flush-interval", "10s"],
    );
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    sigterm(sim.pid());
    let status = sim.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "did not sleep out its 10 s flush interval"
    );
    // The final write recorded everything it shipped: nothing is behind.
    let out = drainguard()
        .arg("status")
        .arg("--data-path")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
