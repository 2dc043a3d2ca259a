//! `scripts/test-all.sh` checks its prerequisites before anything else: with the tools out
//! of reach it stops at once, naming each missing one and that .ci/run installs it.

use std::os::unix::fs::symlink;
use std::process::Command;

#[test]
fn test_all_names_missing_prerequisites_before_running_anything() {
    let bin = tempfile::tempdir().unwrap();
    // Only what the script itself needs to start.
    for tool in ["bash", "dirname", "date"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| std::path::Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} not found"));
        symlink(found, bin.path().join(tool)).unwrap();
    }
    let out = Command::new(bin.path().join("bash"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-all.sh"))
        .env_clear()
        .env("PATH", bin.path())
        .env("DG_SYSLOG_NG_DIR", bin.path().join("no-syslog-ng"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    // Nothing ran: not even formatting.
    assert!(!stdout.contains("== cargo"), "{stdout}");
    assert!(stderr.contains(".ci/run installs"), "{stderr}");
    for want in [
        "cargo (rustup",
        "systemd-analyze (package systemd)",
        "qemu-system-x86_64 (package qemu-system-x86)",
        "syslog-ng in",
    ] {
        assert!(stderr.contains(want), "{want} not named: {stderr}");
    }
}
