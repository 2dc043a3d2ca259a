//! Output read at a glance: `-q` is quiet, and an error says its cause once.

use crate::support;

use std::os::unix::fs::MetadataExt;

use drainguard::testkit::filebeat as tk;
use support::drainguard;

/// A tree with a drained Filebeat store.
fn drained_host() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let p = |h: &str| t.path().join(h);
    std::fs::create_dir_all(p("var/log")).unwrap();
    std::fs::write(p("var/log/beat.log"), "one\ntwo\n").unwrap();
    let m = std::fs::metadata(p("var/log/beat.log")).unwrap();
    let mut w = tk::MemlogWriter::create(&p("var/lib/filebeat/registry/filebeat")).unwrap();
    w.set(
        &tk::log_key(m.ino(), m.dev()),
        tk::log_value("/var/log/beat.log", 8, m.ino(), m.dev()),
    )
    .unwrap();
    t
}

#[test]
fn quiet_wait_prints_the_result_and_no_log_lines() {
    let t = drained_host();
    let run = |quiet: bool| {
        let mut c = drainguard();
        c.arg("--root").arg(t.path());
        if quiet {
            c.arg("-q");
        }
        c.args(["wait", "--no-log-file"]).env_remove("RUST_LOG");
        c.output().unwrap()
    };
    let loud = run(false);
    assert_eq!(loud.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&loud.stderr).contains("INFO"));
    let quiet = run(true);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&quiet.stderr),
        "",
        "-q printed log lines"
    );
    assert!(String::from_utf8_lossy(&quiet.stdout).contains("drained after"));
}

#[test]
fn an_error_says_its_cause_once() {
    let o = drainguard()
        .args([
            "status",
            "--shipper",
            "vector",
            "--config",
            "/nonexistent/vector.yaml",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent/vector.yaml"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}
