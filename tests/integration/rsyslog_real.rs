//! A real, private rsyslogd (`rsyslogd -n -f <conf> -i <pidfile>`, its own work directory,
//! never the system service): imfile reads an app log, omfwd ships it over TCP to the test
//! sink on 127.0.0.1, impstats writes queue sizes to a file. drainguard reads rsyslog's
//! state files and impstats exactly as it would on a host.
//!
//! Needs `rsyslogd` (Debian package `rsyslog`; .ci/run installs it). With CI set, a missing
//! rsyslogd fails the tests; elsewhere they are skipped with a message.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use std::io::Write;

use support::syslog_real::{
    app_log, assert_no_line_missing, assert_released_with_nothing_owed, rotate, LINE_LEN,
};
use support::tcp_sink::{sorted_lines, TcpSink as Sink};
use support::{drainguard, eventually, json, text};

fn rsyslogd() -> Option<PathBuf> {
    for p in ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"] {
        if Path::new(p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("rsyslogd is missing: install the Debian package `rsyslog` (.ci/run does)");
    }
    eprintln!("skipping: rsyslogd not installed (apt-get install rsyslog)");
    None
}

/// A private rsyslogd; killed on drop.
struct Rsyslog {
    child: Child,
    conf: PathBuf,
}

impl Rsyslog {
    fn start(bin: &Path, dir: &Path, glob: &str, sink: &Sink) -> Rsyslog {
        Self::start_with(bin, dir, glob, sink, r#"persistStateAfterSubmission="on""#)
    }

    /// rsyslogd with `input_params` on its imfile input.
    fn start_with(bin: &Path, dir: &Path, glob: &str, sink: &Sink, input_params: &str) -> Rsyslog {
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let (host, port) = sink.addr.rsplit_once(':').unwrap();
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{work}")
module(load="imfile")
module(load="impstats" interval="1" format="json" log.file="{stats}" log.syslog="off")
template(name="raw" type="string" string="%msg%\n")
input(type="imfile" File="{glob}" Tag="app" {input_params} ruleset="fwd")
ruleset(name="fwd") {{
  action(type="omfwd" target="{host}" port="{port}" protocol="tcp" template="raw"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}}
"#,
                work = work.display(),
                stats = dir.join("stats.log").display(),
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .spawn()
            .expect("rsyslogd starts");
        Rsyslog { child, conf }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_cmd(rs: &Rsyslog, dir: &Path, deadline: &str) -> Command {
    let mut c = drainguard();
    c.args(["wait", "--shipper", "rsyslog", "--config"])
        .arg(&rs.conf)
        .args(["--shipper-pid", &rs.pid().to_string()])
        .args(["--interval", "100ms", "--deadline", deadline, "--quiet"])
        .arg("--log-file")
        .arg(dir.join("drainguard.log"));
    c
}

/// `drainguard status --json` for the private rsyslogd.
fn status(rs: &Rsyslog) -> Output {
    drainguard()
        .args(["status", "--json", "--shipper", "rsyslog", "--config"])
        .arg(&rs.conf)
        .args(["--shipper-pid", &rs.pid().to_string()])
        .output()
        .unwrap()
}

fn state_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("work"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("imfile-state:"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn status_sees_a_real_rsyslog_drain_completely() {
    let Some(bin) = rsyslogd() else { return };
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 1000);
    let sink = Sink::start();
    let rs = Rsyslog::start(&bin, d.path(), &log.to_string_lossy(), &sink);
    let want = sorted_lines(&std::fs::read(&log).unwrap());
    assert!(eventually(Duration::from_secs(20), || sink.lines() == want));
    // impstats writes every second: the next record after the state file proves the queue.
    let ok = eventually(Duration::from_secs(10), || {
        status(&rs).status.code() == Some(0)
    });
    let o = status(&rs);
    assert!(ok, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("impstats"),
        "the verdict names its signal: {out}"
    );
}

#[test]
fn wait_holds_while_the_sink_is_paused_and_releases_once_it_has_every_line() {
    let Some(bin) = rsyslogd() else { return };
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 100_000);
    let want = sorted_lines(&std::fs::read(&log).unwrap());
    let sink = Sink::start();
    sink.pause();
    let rs = Rsyslog::start(&bin, d.path(), &log.to_string_lossy(), &sink);
    assert!(eventually(Duration::from_secs(20), || state_files(
        d.path()
    ) > 0));
    // Paused: the deadline passes, wait never releases (exit 3).
    let held = wait_cmd(&rs, d.path(), "4s").output().unwrap();
    assert_eq!(held.status.code(), Some(3), "{}", text(&held));
    let held_bytes = sink.bytes();
    assert!(
        (held_bytes as u64) < 100_000 * LINE_LEN,
        "sink got everything while paused"
    );
    // Resumed, but slower than rsyslog writes: its queues empty into the socket buffers
    // (several MB on loopback) seconds before the sink has read them. Released only once the
    // sink's host has acknowledged every byte rsyslog wrote to its socket.
    sink.resume_slowly();
    let out = wait_cmd(&rs, d.path(), "120s").output().unwrap();
    assert_released_with_nothing_owed(&sink, &want, &out, held_bytes, "rsyslog");
}

#[test]
fn wait_exits_4_when_rsyslog_is_killed_mid_way() {
    let Some(bin) = rsyslogd() else { return };
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 100_000);
    let sink = Sink::start();
    sink.pause();
    let mut rs = Rsyslog::start(&bin, d.path(), &log.to_string_lossy(), &sink);
    assert!(eventually(Duration::from_secs(20), || state_files(
        d.path()
    ) > 0
        && d.path().join("stats.log").exists()));
    std::thread::sleep(Duration::from_millis(1500));
    let conf = rs.conf.clone();
    let pid = rs.pid();
    rs.kill();
    let out = drainguard()
        .args(["wait", "--shipper", "rsyslog", "--config"])
        .arg(&conf)
        .args(["--shipper-pid", &pid.to_string()])
        .args(["--interval", "100ms", "--deadline", "30s", "--quiet"])
        .arg("--log-file")
        .arg(d.path().join("drainguard.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}

#[test]
fn rotation_while_shipping_loses_nothing() {
    let Some(bin) = rsyslogd() else { return };
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 50_000);
    let sink = Sink::start();
    let rs = Rsyslog::start(&bin, d.path(), &format!("{}*", log.display()), &sink);
    assert!(eventually(Duration::from_secs(20), || sink.bytes() > 0));
    // Rotate mid-way: the old file moves to app.log.1, a new app.log gets more lines.
    let (_, want) = rotate(&log);
    let out = wait_cmd(&rs, d.path(), "120s").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // No line may be missing. rsyslog 8.2302 re-reads the renamed file from its start when a
    // wildcard matches the new name, so duplicates are expected (at-least-once), not loss.
    assert_no_line_missing(&sink, &want, "rsyslog");
}

/// Without persistStateAfterSubmission rsyslog writes an imfile state only when it closes the
/// file: lines shipped after the first state write never show in the offsets. drainguard must
/// then say "behind" (never guess "drained") and explain the missing option.
#[test]
fn lagging_state_without_persist_after_submission_is_explained() {
    let Some(bin) = rsyslogd() else { return };
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 1000);
    let sink = Sink::start();
    let rs = Rsyslog::start_with(&bin, d.path(), &log.to_string_lossy(), &sink, "");
    assert!(eventually(Duration::from_secs(20), || sink.lines().len()
        == 1000
        && state_files(d.path()) > 0));
    let more: String = (0..1000).map(|i| format!("late line {i:08}\n")).collect();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(more.as_bytes())
        .unwrap();
    assert!(eventually(Duration::from_secs(20), || sink.lines().len() == 2000));
    std::thread::sleep(Duration::from_millis(1500)); // an impstats interval
    let o = status(&rs);
    let doc = json(&o);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // The sink has every line, yet at least the appended bytes never reach the offsets.
    let behind = doc["bytes_behind"].as_u64().unwrap();
    assert!(behind >= more.len() as u64, "{behind} bytes behind");
    let notes = doc["shippers"][0]["notes"].to_string();
    assert!(
        notes.contains("persistStateAfterSubmission"),
        "the report names the missing option: {notes}"
    );
}

/// rsyslogd started with `-f` outside /etc: with neither `--shipper` nor `--config`,
/// drainguard takes the config from the process's command line and reads its work directory.
#[test]
fn an_rsyslogd_started_with_f_outside_etc_is_read_through_its_command_line() {
    let Some(bin) = rsyslogd() else { return };
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 1000);
    let sink = Sink::start();
    let rs = Rsyslog::start(&bin, d.path(), &log.to_string_lossy(), &sink);
    assert!(!rs.conf.starts_with("/etc"));
    let want = sorted_lines(&std::fs::read(&log).unwrap());
    assert!(eventually(Duration::from_secs(20), || sink.lines() == want));
    let by_pid = || {
        drainguard()
            .args(["status", "--json", "--shipper-pid", &rs.pid().to_string()])
            .output()
            .unwrap()
    };
    // impstats writes every second: the next record after the state file proves the queue.
    let drained = eventually(Duration::from_secs(10), || {
        by_pid().status.code() == Some(0)
    });
    let o = by_pid();
    assert!(drained, "{}", text(&o));
    let doc = json(&o);
    assert_eq!(doc["shippers"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["shippers"][0]["shipper"], "rsyslog");
    let work = d.path().join("work");
    assert_eq!(doc["shippers"][0]["store"], work.to_string_lossy().as_ref());
    assert_eq!(
        doc["shippers"][0]["files"][0]["path"],
        log.to_string_lossy().as_ref()
    );
    // Named, but without --config: the same process's command line.
    let o = drainguard()
        .args(["status", "--json", "--shipper", "rsyslog"])
        .args(["--shipper-pid", &rs.pid().to_string()])
        .output()
        .unwrap();
    let doc = json(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(doc["shippers"][0]["store"], work.to_string_lossy().as_ref());
}

/// With the receiver paused, what rsyslog owes is in its queues and its TCP send queue,
/// every file being read: each output says so in numbers, naming the receiver.
#[test]
fn queued_and_unacknowledged_figures_are_in_every_output_while_the_sink_is_paused() {
    let Some(bin) = rsyslogd() else { return };
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 100_000);
    let sink = Sink::start();
    sink.pause();
    let rs = Rsyslog::start(&bin, d.path(), &log.to_string_lossy(), &sink);
    // Both figures appear once rsyslog has queued messages and filled the socket.
    let owed = eventually(Duration::from_secs(30), || {
        let j = json(&status(&rs));
        j["queued_events"].as_u64() > Some(0) && j["unacked_bytes"].as_u64() > Some(0)
    });
    let o = status(&rs);
    let j = json(&o);
    assert!(owed, "{j}");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(j["schema"], "drainguard.report/v2");
    assert_eq!(j["verdict"], "behind");
    assert_eq!(j["receivers"], serde_json::json!([sink.addr]));
    let totals = &j["shippers"][0]["totals"];
    assert!(totals["queued_events"].as_u64() > Some(0), "{totals}");
    assert!(totals["unacked_bytes"].as_u64() > Some(0), "{totals}");
    eprintln!(
        "paused sink: {} B behind in files, {} queued messages, {} B unacknowledged",
        j["bytes_behind"], j["queued_events"], j["unacked_bytes"]
    );

    // The verdict line of the table.
    let o = drainguard()
        .args(["status", "--shipper", "rsyslog", "--config"])
        .arg(&rs.conf)
        .args(["--shipper-pid", &rs.pid().to_string()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let verdict = out
        .lines()
        .find(|l| l.starts_with("verdict: BEHIND"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        verdict.contains("queued events/messages")
            && verdict.contains(&format!("unacknowledged by {}", sink.addr)),
        "{verdict}"
    );

    // The deadline report, the stall warning, the progress lines and the run record.
    let mut c = drainguard();
    c.args(["wait", "--shipper", "rsyslog", "--config"])
        .arg(&rs.conf)
        .args(["--shipper-pid", &rs.pid().to_string()])
        .args(["--interval", "100ms", "--deadline", "3s"])
        .args(["--stall-after", "1s", "--report-every", "1s"])
        .arg("--log-file")
        .arg(d.path().join("drainguard.log"));
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    let deadline = out
        .lines()
        .find(|l| l.contains("deadline passed after"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        deadline.contains(&format!("unacknowledged by {}", sink.addr)),
        "{deadline}"
    );
    let stall = err
        .lines()
        .find(|l| l.contains("no progress"))
        .unwrap_or_else(|| panic!("no stall warning: {err}"));
    assert!(
        stall.contains(&format!("receiver {}", sink.addr)) && !stall.contains("Kafka"),
        "{stall}"
    );
    assert!(!stall.contains("unacked_bytes=0"), "{stall}");
    let progress = err
        .lines()
        .find(|l| l.contains("waiting for the shippers to deliver"))
        .unwrap_or_else(|| panic!("no progress line: {err}"));
    assert!(
        progress.contains("queued_events=") && !progress.contains("unacked_bytes=0"),
        "{progress}"
    );
    let record = std::fs::read_to_string(d.path().join("drainguard.log")).unwrap();
    let unacked: u64 = record
        .split_whitespace()
        .find_map(|f| f.strip_prefix("unacked_bytes="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{record}"));
    assert!(unacked > 0, "{record}");
}

/// The read-only promise against the live rsyslogd (it rewrites its state files and appends
/// impstats records meanwhile): `status` and `wait` under strace never write, create, rename,
/// remove or lock anything in its work directory or the log's directory.
#[test]
fn status_and_wait_never_write_or_lock_rsyslogs_files() {
    let Some(bin) = rsyslogd() else { return };
    if !support::strace::available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 20_000);
    let sink = Sink::start();
    sink.pause();
    let rs = Rsyslog::start(&bin, d.path(), &log.to_string_lossy(), &sink);
    assert!(eventually(Duration::from_secs(20), || state_files(
        d.path()
    ) > 0));
    sink.resume_slowly();
    let work = d.path().join("work");
    let protected = [work.as_path(), d.path()];
    let mut status = drainguard();
    status
        .args(["status", "--shipper", "rsyslog", "--config"])
        .arg(&rs.conf)
        .args(["--shipper-pid", &rs.pid().to_string()]);
    support::strace::assert_read_only(&status, &protected);
    let mut wait = drainguard();
    wait.args(["wait", "--shipper", "rsyslog", "--config"])
        .arg(&rs.conf)
        .args(["--shipper-pid", &rs.pid().to_string()])
        .args([
            "--interval",
            "100ms",
            "--deadline",
            "2s",
            "--quiet",
            "--no-log-file",
        ]);
    let o = support::strace::assert_read_only(&wait, &protected);
    assert!(matches!(o.status.code(), Some(0 | 3)), "{}", text(&o));
}
