//! The outcome of a `wait` survives what happens around it (stdout closed, SIGHUP, SIGQUIT),
//! and errors say what is really wrong, once, without echoing megabytes of input.

use crate::support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;

use drainguard::testkit::filebeat as tk;
use support::{drainguard, until};

/// A memlog store tracking one 18-byte log at `offset`, under `d/data`; returns the data dir.
fn store(d: &Path, offset: u64) -> (PathBuf, PathBuf) {
    let log = d.join("app.log");
    fs::write(&log, "line1\nline2\nline3\n").unwrap();
    let data = d.join("data");
    let dir = data.join("registry/filebeat");
    tk::MemlogWriter::create(&dir).unwrap();
    checkpoint(&dir, &log, 3, offset);
    (data, log)
}

fn checkpoint(dir: &Path, log: &Path, txid: u64, offset: u64) {
    let m = fs::metadata(log).unwrap();
    let v = tk::log_value(log.to_str().unwrap(), offset, m.ino(), m.dev());
    let key = tk::log_key(m.ino(), m.dev());
    tk::write_checkpoint(dir, txid, [(key.as_str(), &v)]).unwrap();
}

/// Spawns `wait` on `data` with a run record at `d/run.log`; stderr lines go to the channel.
fn spawn_wait(d: &Path, data: &Path) -> (Child, Receiver<String>) {
    let mut c = drainguard();
    c.arg("wait")
        .arg("--data-path")
        .arg(data)
        .args(["--interval", "100ms", "--deadline", "60s"])
        .args(["--shipper-pid", &std::process::id().to_string()])
        .arg("--log-file")
        .arg(d.join("run.log"));
    support::spawn_streaming(c)
}

const STARTED: &str = "waiting for the shippers to deliver";

/// SIGHUP (the session went away) and SIGQUIT end the wait like SIGTERM: exit 5, the report
/// printed, the run record written. Before, they killed it with neither.
#[test]
fn sighup_and_sigquit_end_the_wait_with_a_report_and_a_record() {
    for sig in [libc::SIGHUP, libc::SIGQUIT] {
        let d = tempfile::tempdir().unwrap();
        let (data, _) = store(d.path(), 6);
        let (child, rx) = spawn_wait(d.path(), &data);
        until(&rx, STARTED);
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(5), "signal {sig}: {stdout}");
        assert!(
            stdout.contains(&format!("interrupted by signal {sig}")) && stdout.contains("12 B"),
            "signal {sig}: {stdout}"
        );
        let record = fs::read_to_string(d.path().join("run.log")).unwrap();
        assert!(record.contains("result=interrupted"), "{record}");
    }
}

/// A drained wait whose stdout was closed by its reader still exits 0 (the outcome), says on
/// stderr that the report could not be written, and records the run. Before, it exited 2.
#[test]
fn a_closed_stdout_does_not_replace_the_outcome() {
    let d = tempfile::tempdir().unwrap();
    let (data, log) = store(d.path(), 6);
    let (mut child, rx) = spawn_wait(d.path(), &data);
    // The reader goes away before anything is written.
    drop(child.stdout.take());
    until(&rx, STARTED);
    checkpoint(&data.join("registry/filebeat"), &log, 4, 18);
    let lines = until(&rx, "cannot write the report");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", lines.join("\n"));
    let record = fs::read_to_string(d.path().join("run.log")).unwrap();
    assert!(record.contains("result=drained"), "{record}");
}

/// `status` with `args`: exit code and stderr.
fn status_err(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let o = drainguard()
        .arg("status")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn a_fifo_or_directory_as_the_registry_says_so() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("registry.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (code, err) = status_err(&[os("--registry"), fifo.as_os_str()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is a FIFO, not a Filebeat registry"), "{err}");
    assert!(!err.contains("has Filebeat run yet"), "{err}");

    let empty = d.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let (code, err) = status_err(&[os("--registry"), empty.as_os_str()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a directory without meta.json"), "{err}");
    assert!(!err.contains("has Filebeat run yet"), "{err}");

    // Fluent Bit: a directory as the DB is named as such, not SQLite's "disk I/O error".
    let o = drainguard()
        .args(["status", "--shipper", "fluent-bit", "--registry"])
        .arg(&empty)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is a directory, not a Fluent Bit tail DB"),
        "{err}"
    );
    assert!(!err.contains("disk I/O error"), "{err}");
}

/// A config that is there but cannot be read says why (not UTF-8, a directory), never
/// "entity not found".
#[test]
fn an_unreadable_config_says_why() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("rsyslog.conf");
    fs::write(&bad, b"module(load=\"imfile\")\n# \xff\xfe\n").unwrap();
    let dir = d.path().join("conf.d");
    fs::create_dir(&dir).unwrap();
    for (conf, why) in [(&bad, "valid UTF-8"), (&dir, "directory")] {
        let (code, err) = status_err(&[
            os("--shipper"),
            os("rsyslog"),
            os("--config"),
            conf.as_os_str(),
        ]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(why), "{why}: {err}");
        assert!(!err.contains("entity not found"), "{err}");
    }
}

/// The cause of an error is printed once (it was repeated after the message).
#[test]
fn the_cause_is_printed_once() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("filebeat.yml");
    let (code, err) = status_err(&[os("--config"), missing.as_os_str()]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

/// An offending 300 KB value is not echoed whole to stderr (the journal): the message is
/// cut and says how much was left out.
#[test]
fn a_huge_offending_value_is_not_echoed_whole() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data/registry/filebeat");
    tk::MemlogWriter::create(&dir).unwrap();
    let huge = "a".repeat(300_000);
    fs::write(
        dir.join("5.json"),
        format!(r#"[{{"_key":"filebeat::logs::native::1-2","source":"/x","offset":"{huge}"}}]"#),
    )
    .unwrap();
    let data = d.path().join("data");
    let (code, err) = status_err(&[os("--data-path"), data.as_os_str()]);
    assert!(matches!(code, Some(1 | 2)), "{code:?}");
    assert!(err.len() < 4096, "{} bytes of stderr", err.len());
    assert!(err.contains("more bytes not shown"), "{err}");
}

/// The same for a note: a memlog op whose value quotes 300 KB stops the replay with a note,
/// and the note in the report is cut too.
#[test]
fn a_huge_offending_op_is_not_echoed_whole_in_a_note() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data/registry/filebeat");
    tk::MemlogWriter::create(&dir).unwrap();
    let huge = "a".repeat(300_000);
    fs::write(
        dir.join("log.json"),
        format!(
            "{{\"op\":\"set\",\"id\":1}}\n{{\"k\":\"filebeat::logs::native::1-2\",\"v\":{{\"source\":\"/x\",\"offset\":\"{huge}\"}}}}\n"
        ),
    )
    .unwrap();
    let o = drainguard()
        .args(["status", "--data-path"])
        .arg(d.path().join("data"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        out.len() + err.len() < 8192,
        "{} bytes of output",
        out.len() + err.len()
    );
    assert!(out.contains("more bytes not shown"), "{out}{err}");
}

/// `status` whose stdout reader is already gone: the exit code is still the verdict (1,
/// behind), not a usage error, and stderr says the report could not be written.
#[test]
fn status_with_a_closed_stdout_still_exits_with_its_verdict() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let d = tempfile::tempdir().unwrap();
    let (data, _) = store(d.path(), 6);
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let o = drainguard()
        .args(["status", "--data-path"])
        .arg(&data)
        .stdout(Stdio::from(write))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write the report"), "{err}");
}
