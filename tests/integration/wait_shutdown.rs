//! `wait --only-at-shutdown` (what the generated unit's ExecStop and init script's stop run)
//! with bytes behind: outside a shutdown it returns at once and says so; at run level 0 or 6
//! it waits like a plain `wait`. The probe's SysV side is used: these tests run where systemd
//! is not the running init (CI's container); the systemd side is covered by the unit tests in
//! src/wait/shutdown.rs with its commands' real output, and by the VM boot tests.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A Filebeat store with 3 of 10 files 32 bytes behind.
fn backlog() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let out = Command::new(support::example("gen_registry"))
        .args(["--entries", "10", "--files-behind", "3", "--out"])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    d
}

fn wait(d: &Path, runlevel: Option<&str>, extra: &[&str]) -> Output {
    let mut c = support::drainguard();
    c.arg("wait")
        .arg("--data-path")
        .arg(d.join("data"))
        .args(["--deadline", "1s", "--interval", "100ms", "--no-log-file"])
        .args(["--wait-for-restart"])
        .args(extra)
        .env_remove("RUNLEVEL");
    if let Some(l) = runlevel {
        c.env("RUNLEVEL", l);
    }
    c.output().unwrap()
}

fn systemd_is_init() -> bool {
    let yes = Path::new("/run/systemd/system").is_dir();
    if yes {
        eprintln!("systemd is the running init here: the SysV cases do not apply; skipped");
    }
    yes
}

#[test]
fn outside_a_shutdown_it_returns_at_once_with_bytes_behind_and_says_why() {
    if systemd_is_init() {
        return;
    }
    let d = backlog();
    for level in ["1", "2", "3", "5"] {
        let out = wait(d.path(), Some(level), &["--only-at-shutdown"]);
        assert_eq!(out.status.code(), Some(0), "{level}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("no shutdown in progress (RUNLEVEL: {level})")),
            "{err}"
        );
        // Nothing was assessed: no report, no verdict.
        assert!(out.stdout.is_empty(), "{}", text(&out));
    }
}

#[test]
fn at_run_level_0_or_6_it_waits_until_the_deadline() {
    if systemd_is_init() {
        return;
    }
    let d = backlog();
    for level in ["0", "6"] {
        let out = wait(d.path(), Some(level), &["--only-at-shutdown"]);
        assert_eq!(out.status.code(), Some(3), "{level}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("shutdown in progress (RUNLEVEL:"), "{err}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("96 B"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn a_plain_wait_waits_whatever_the_run_level() {
    let d = backlog();
    let out = wait(d.path(), Some("3"), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("shutdown in progress"),
        "{}",
        text(&out)
    );
}
