//! `install` refuses a unit that would run a binary from a build directory, /tmp, or one root
//! cannot run (or others could replace), and writes nothing; `--force` installs with a warning.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn systemd_root() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for d in [
        "run/systemd/system",
        "etc/systemd/system",
        "lib/systemd/system",
    ] {
        fs::create_dir_all(t.path().join(d)).unwrap();
    }
    fs::write(
        t.path().join("lib/systemd/system/filebeat.service"),
        "[Service]\nExecStart=/usr/share/filebeat/bin/filebeat\n",
    )
    .unwrap();
    t
}

fn binary(root: &Path, host: &str, mode: u32) {
    let p = root.join(host.trim_start_matches('/'));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

fn install(root: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drainguard"))
        .arg("--root")
        .arg(root)
        .arg("install")
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const UNIT: &str = "etc/systemd/system/drainguard.service";

#[test]
fn unfit_binaries_are_refused_and_nothing_is_written() {
    let cases: [(&str, u32, &str); 4] = [
        (
            "/usr/local/bin/drainguard",
            0o644,
            "is not executable (mode 644)",
        ),
        (
            "/usr/local/bin/drainguard",
            0o777,
            "writable by group or others",
        ),
        ("/tmp/dg/drainguard", 0o755, "is under /tmp"),
        (
            "/home/me/drainguard/target/release/drainguard",
            0o755,
            "is in a cargo build directory",
        ),
    ];
    for (exec, mode, why) in cases {
        let t = systemd_root();
        binary(t.path(), exec, mode);
        let out = install(t.path(), &[&format!("--exec={exec}")]);
        assert_eq!(out.status.code(), Some(2), "{exec}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("refusing") && err.contains(why),
            "{exec}: {err}"
        );
        assert!(err.contains("--force"), "{err}");
        assert!(!t.path().join(UNIT).exists(), "{exec}: a unit was written");
        assert!(
            !t.path().join("var/lib/drainguard").exists(),
            "{exec}: a manifest was written"
        );
    }
}

#[test]
fn force_installs_an_unfit_binary_with_a_warning() {
    let t = systemd_root();
    binary(t.path(), "/usr/local/bin/drainguard", 0o644);
    let out = install(t.path(), &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--force: the unit runs /usr/local/bin/drainguard, which is not executable"),
        "{err}"
    );
    let unit = fs::read_to_string(t.path().join(UNIT)).unwrap();
    assert!(
        unit.contains("ExecStop=/usr/local/bin/drainguard wait --only-at-shutdown"),
        "{unit}"
    );
}

#[test]
fn a_fit_binary_installs_without_a_warning() {
    let t = systemd_root();
    binary(t.path(), "/usr/bin/drainguard", 0o755);
    let out = install(t.path(), &["--exec=/usr/bin/drainguard"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{}",
        text(&out)
    );
    assert!(t.path().join(UNIT).exists());
}
