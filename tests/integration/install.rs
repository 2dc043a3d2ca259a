//! install / doctor / uninstall on `--root` fixture trees modelling real distributions:
//! Amazon Linux 1 (chkconfig, tomcat K20, the stock Filebeat RPM script with K02 and no lock
//! file), CentOS 7 and Debian with systemd, Debian with sysvinit. Golden files for every
//! generated unit and script; systemd-analyze verify on the generated units.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fixture root.
use crate::support::tree::Tree;

/// An empty image with the programs its units run (drainguard as `EXEC` names it).
fn image() -> Tree {
    let t = Tree::new();
    t.write("/usr/local/bin/drainguard", "#!/bin/sh\n", 0o755);
    t.write("/bin/true", "#!/bin/sh\n", 0o755);
    t
}

use crate::support::text;

/// Compares with tests/golden/NAME (UPDATE_GOLDEN=1 rewrites it).
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, actual).unwrap();
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with UPDATE_GOLDEN=1",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "generated {name} differs from its golden file"
    );
}

const FILEBEAT_UNIT: &str = "[Unit]\nDescription=Filebeat\nAfter=network-online.target\n\n[Service]\nExecStart=/usr/share/filebeat/bin/filebeat\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n";

fn centos7() -> Tree {
    let t = image();
    t.dir("/run/systemd/system");
    t.dir("/etc/systemd/system");
    t.write(
        "/usr/lib/systemd/system/filebeat.service",
        FILEBEAT_UNIT,
        0o644,
    );
    t.write(
        "/usr/lib/systemd/system/tomcat.service",
        "[Service]\nExecStart=/usr/bin/tomcat\n",
        0o644,
    );
    t
}

fn debian_systemd() -> Tree {
    let t = image();
    t.dir("/run/systemd/system");
    t.dir("/etc/systemd/system");
    t.write("/lib/systemd/system/filebeat.service", FILEBEAT_UNIT, 0o644);
    t
}

/// The stock Filebeat 6.x RPM init script: K02, and no lock file.
const STOCK_FILEBEAT_RPM: &str = "#!/bin/bash\n#\n# filebeat          filebeat shipper\n#\n# chkconfig: 2345 98 02\n# description: Starts and stops a single filebeat instance on this system\n#\nstart() { daemon $filebeat; }\nstop() { killproc $filebeat; }\n";

fn amazon_linux_1() -> Tree {
    let t = image();
    t.write("/etc/rc.d/init.d/filebeat", STOCK_FILEBEAT_RPM, 0o755);
    t.write(
        "/etc/rc.d/init.d/tomcat",
        "#!/bin/sh\n# chkconfig: 2345 80 20\nLOCK=/var/lock/subsys/tomcat\n",
        0o755,
    );
    for l in [0, 1, 6] {
        t.link(&format!("/etc/rc.d/rc{l}.d/K20tomcat"), "../init.d/tomcat");
        t.link(
            &format!("/etc/rc.d/rc{l}.d/K02filebeat"),
            "../init.d/filebeat",
        );
    }
    for l in 2..=5 {
        t.link(&format!("/etc/rc.d/rc{l}.d/S80tomcat"), "../init.d/tomcat");
        t.link(
            &format!("/etc/rc.d/rc{l}.d/S98filebeat"),
            "../init.d/filebeat",
        );
    }
    t.dir("/var/lock/subsys");
    t
}

fn debian_sysvinit() -> Tree {
    let t = image();
    t.write(
        "/etc/init.d/filebeat",
        "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: filebeat\n# Required-Stop: $network\n### END INIT INFO\n",
        0o755,
    );
    t.write(
        "/etc/init.d/apache2",
        "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: apache2\n### END INIT INFO\n",
        0o755,
    );
    for l in [0, 1, 6] {
        t.link(&format!("/etc/rc{l}.d/K01apache2"), "../init.d/apache2");
        t.link(&format!("/etc/rc{l}.d/K04filebeat"), "../init.d/filebeat");
    }
    for l in 2..=5 {
        t.link(&format!("/etc/rc{l}.d/S02filebeat"), "../init.d/filebeat");
        t.link(&format!("/etc/rc{l}.d/S03apache2"), "../init.d/apache2");
    }
    t
}

const EXEC: &str = "--exec=/usr/local/bin/drainguard";

/// The exporter unit needs systemd 235 (DynamicUser= with StateDirectory=): on CentOS 7's
/// 219 `install --exporter` refuses, naming what it found and what to do, and writes nothing;
/// a newer systemd installs it.
#[test]
fn install_exporter_refuses_a_systemd_older_than_235() {
    let t = centos7();
    // CentOS 7's systemd: the binary, and no libsystemd-shared-<N>.so (231 and later).
    t.write("/usr/lib/systemd/systemd", "", 0o755);
    let before = t.snapshot();
    for args in [
        &["install", "--exporter", EXEC][..],
        &["install", "--exporter", EXEC, "--dry-run"][..],
    ] {
        let out = t.run(args);
        let said = text(&out);
        assert_ne!(out.status.code(), Some(0), "{said}");
        assert!(
            said.contains("systemd is older than 231")
                && said.contains("/usr/lib/systemd/systemd")
                && said.contains("235 or later")
                && said.contains("status --textfile"),
            "{said}"
        );
        assert_eq!(t.snapshot(), before, "{args:?} wrote something");
    }
    // A systemd that says its version: too old, then new enough.
    t.write("/usr/lib/systemd/libsystemd-shared-234.so", "", 0o644);
    let out = t.run(&["install", "--exporter", EXEC, "--dry-run"]);
    assert!(text(&out).contains("systemd is 234"), "{}", text(&out));
    fs::remove_file(t.p("/usr/lib/systemd/libsystemd-shared-234.so")).unwrap();
    t.write("/usr/lib/systemd/libsystemd-shared-235.so", "", 0o644);
    let out = t.run(&["install", "--exporter", EXEC, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("drainguard-exporter.service"),
        "{}",
        text(&out)
    );
}

#[test]
fn centos7_systemd_install_doctor_uninstall() {
    let t = centos7();
    let before = t.snapshot();
    let dry = t.run(&["install", "--before", "tomcat", EXEC, "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(
        text(&dry).contains("+ExecStop=/usr/local/bin/drainguard wait"),
        "{}",
        text(&dry)
    );
    assert_eq!(t.snapshot(), before, "--dry-run writes nothing");

    let out = t.run(&["install", "--before", "tomcat", EXEC]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let unit = fs::read_to_string(t.p("/etc/systemd/system/drainguard.service")).unwrap();
    golden("centos7-drainguard.service", &unit);
    assert_eq!(
        fs::read_link(t.p("/etc/systemd/system/multi-user.target.wants/drainguard.service"))
            .unwrap(),
        PathBuf::from("/etc/systemd/system/drainguard.service")
    );
    let settings = fs::read_to_string(t.p("/etc/drainguard/drainguard.toml")).unwrap();
    assert!(
        settings.contains("apps = [\"tomcat\"]") && settings.contains("deadline = \"25m\""),
        "{settings}"
    );

    let doc = t.run(&["doctor"]);
    assert_eq!(doc.status.code(), Some(0), "{}", text(&doc));

    // Idempotent: a second install changes nothing.
    let once = t.snapshot();
    assert_eq!(
        t.run(&["install", "--before", "tomcat", EXEC])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(t.snapshot(), once);

    let out = t.run(&["uninstall"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        t.snapshot(),
        before,
        "uninstall leaves the tree byte-identical"
    );
}

#[test]
fn debian_systemd_and_aws_unit() {
    let t = debian_systemd();
    let before = t.snapshot();
    let out = t.run(&[
        "install",
        "--before",
        "app.service",
        EXEC,
        "--aws",
        "--deadline",
        "40m",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    golden(
        "debian-drainguard.service",
        &fs::read_to_string(t.p("/etc/systemd/system/drainguard.service")).unwrap(),
    );
    golden(
        "drainguard-aws.service",
        &fs::read_to_string(t.p("/etc/systemd/system/drainguard-aws.service")).unwrap(),
    );
    let doc = t.run(&["doctor"]);
    assert_eq!(doc.status.code(), Some(0), "{}", text(&doc));
    assert_eq!(t.run(&["uninstall"]).status.code(), Some(0));
    assert_eq!(t.snapshot(), before);
}

#[test]
fn amazon_linux_1_chkconfig_with_the_stock_filebeat_script() {
    let t = amazon_linux_1();
    let before = t.snapshot();
    // Stock filebeat is K02, tomcat K20: no K number fits between them.
    let out = t.run(&["install", "--before", "tomcat", EXEC]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no K number fits") && text(&out).contains("--reorder-shipper"));
    assert_eq!(t.snapshot(), before, "a refused install writes nothing");

    let out = t.run(&["install", "--before", "tomcat", EXEC, "--reorder-shipper"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("never creates /var/lock/subsys/filebeat"),
        "{}",
        text(&out)
    );
    golden(
        "amazon-linux-1-drainguard.init",
        &fs::read_to_string(t.p("/etc/rc.d/init.d/drainguard")).unwrap(),
    );
    for l in [0, 6] {
        let dir = t.p(&format!("/etc/rc.d/rc{l}.d"));
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        // app -> drainguard -> shipper, in rc's order.
        assert_eq!(
            names,
            vec!["K20tomcat", "K25drainguard", "K30filebeat"],
            "rc{l}.d"
        );
    }
    // An image: the lock file appears when the S99 link starts the script at boot, so only
    // the stock Filebeat script's own flaw is reported (a warning: exit 0).
    let doc = t.run(&["doctor"]);
    assert_eq!(doc.status.code(), Some(0), "{}", text(&doc));
    assert!(
        text(&doc).contains("DG106")
            && !text(&doc).contains("ERROR DG105")
            && text(&doc).contains("skipped DG105: whether /var/lock/subsys/drainguard exists"),
        "warns about filebeat's lock file, lists the live lock-file check as skipped: {}",
        text(&doc)
    );

    assert_eq!(t.run(&["uninstall"]).status.code(), Some(0));
    assert_eq!(
        t.snapshot(),
        before,
        "K02filebeat restored, everything else removed"
    );
}

#[test]
fn debian_sysvinit_insserv_style() {
    let t = debian_sysvinit();
    let before = t.snapshot();
    let out = t.run(&["install", "--before", "apache2", EXEC]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let script = fs::read_to_string(t.p("/etc/init.d/drainguard")).unwrap();
    golden("debian-sysvinit-drainguard.init", &script);
    assert!(script.contains("# Required-Stop:     $local_fs $remote_fs $network filebeat"));
    assert!(script.contains("# X-Stop-After:      apache2"));
    assert!(
        t.p("/etc/rc0.d/K02drainguard").is_symlink()
            && t.p("/etc/rc6.d/K02drainguard").is_symlink()
    );
    let doc = t.run(&["doctor"]);
    assert_eq!(doc.status.code(), Some(0), "{}", text(&doc));
    assert_eq!(t.run(&["uninstall"]).status.code(), Some(0));
    assert_eq!(t.snapshot(), before);
}

fn doctor_ids(t: &Tree, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["doctor", "--json"];
    args.extend_from_slice(extra);
    let out = t.run(&args);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(
                !f["fix"].as_str().unwrap().is_empty()
                    && !f["explanation"].as_str().unwrap().is_empty()
            );
            f["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn doctor_finds_each_seeded_systemd_fault() {
    let t = centos7();
    assert_eq!(
        t.run(&["install", "--before", "tomcat", EXEC])
            .status
            .code(),
        Some(0)
    );
    assert!(doctor_ids(&t, &[]).is_empty());
    let dropin = "/etc/systemd/system/drainguard.service.d/50-fault.conf";
    let cases: [(&str, &str); 6] = [
        ("[Unit]\nAfter=\nAfter=network-online.target\n", "DG006"),
        ("[Unit]\nBefore=\n", "DG007"),
        ("[Unit]\nAfter=\nAfter=filebeat.service\n", "DG008"),
        ("[Service]\nTimeoutStopSec=90s\n", "DG009"),
        ("[Unit]\nDefaultDependencies=no\n", "DG010"),
        ("[Service]\nType=simple\n", "DG004"),
    ];
    for (text, id) in cases {
        t.write(dropin, text, 0o644);
        assert_eq!(doctor_ids(&t, &[]), vec![id.to_string()], "seeded {text:?}");
    }
    fs::remove_file(t.p(dropin)).unwrap();
    // The original note's unit: enabled but never started is DG002 on a live host; here the
    // missing wants link (never enabled) is DG003.
    fs::remove_file(t.p("/etc/systemd/system/multi-user.target.wants/drainguard.service")).unwrap();
    assert_eq!(doctor_ids(&t, &[]), vec!["DG003"]);
    // A hand-written unit without TimeoutStopSec: the default 90 s is too short.
    t.write(
        "/etc/systemd/system/logwait.service",
        "[Unit]\nAfter=network-online.target filebeat.service\nBefore=tomcat.service\n[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/true\nExecStop=/usr/local/bin/drainguard wait\n",
        0o644,
    );
    t.link(
        "/etc/systemd/system/multi-user.target.wants/logwait.service",
        "/etc/systemd/system/logwait.service",
    );
    assert_eq!(
        doctor_ids(&t, &["--unit", "logwait.service"]),
        vec!["DG009"]
    );
    assert_eq!(
        doctor_ids(&t, &["--unit", "missing.service"]),
        vec!["DG001"]
    );
}

#[test]
fn doctor_finds_each_seeded_sysv_fault() {
    let t = amazon_linux_1();
    assert_eq!(
        t.run(&["install", "--before", "tomcat", EXEC, "--reorder-shipper"])
            .status
            .code(),
        Some(0)
    );
    let base = doctor_ids(&t, &[]);
    assert_eq!(base, vec!["DG106"]);
    fs::remove_file(t.p("/etc/rc.d/rc6.d/K25drainguard")).unwrap();
    assert_eq!(doctor_ids(&t, &[]), vec!["DG102", "DG106"]);
    t.link("/etc/rc.d/rc6.d/K25drainguard", "../init.d/drainguard");
    fs::rename(
        t.p("/etc/rc.d/rc0.d/K30filebeat"),
        t.p("/etc/rc.d/rc0.d/K10filebeat"),
    )
    .unwrap();
    assert_eq!(doctor_ids(&t, &[]), vec!["DG104", "DG106"]);
    fs::rename(
        t.p("/etc/rc.d/rc0.d/K10filebeat"),
        t.p("/etc/rc.d/rc0.d/K30filebeat"),
    )
    .unwrap();
    fs::rename(
        t.p("/etc/rc.d/rc0.d/K20tomcat"),
        t.p("/etc/rc.d/rc0.d/K40tomcat"),
    )
    .unwrap();
    assert_eq!(doctor_ids(&t, &[]), vec!["DG103", "DG106"]);
    fs::rename(
        t.p("/etc/rc.d/rc0.d/K40tomcat"),
        t.p("/etc/rc.d/rc0.d/K20tomcat"),
    )
    .unwrap();
    // Never started at boot in runlevel 3 (so never its lock file): the drain would not run.
    fs::remove_file(t.p("/etc/rc.d/rc3.d/S99drainguard")).unwrap();
    assert_eq!(doctor_ids(&t, &[]), vec!["DG108", "DG106"]);
    fs::remove_file(t.p("/etc/rc.d/init.d/drainguard")).unwrap();
    assert_eq!(doctor_ids(&t, &[]), vec!["DG101"]);
}

#[test]
fn generated_units_pass_systemd_analyze_verify() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let t = centos7();
    // A real binary for verify to find: the build's own (--force: it is in target/).
    let exec = format!("--exec={}", env!("CARGO_BIN_EXE_drainguard"));
    let out = t.run(&["install", "--before", "tomcat", &exec, "--aws", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    verify_units(&t, &analyze);
}

/// systemd-analyze, or `None` (skip) outside CI; in CI a missing one fails the test.
fn systemd_analyze() -> Option<PathBuf> {
    let found = which("systemd-analyze");
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install systemd-analyze (package systemd)"
        );
        eprintln!("systemd-analyze not installed: skipped outside CI");
    }
    found
}

/// `systemd-analyze verify` on both generated units: success, and no complaint naming them.
fn verify_units(t: &Tree, analyze: &Path) {
    for unit in ["drainguard.service", "drainguard-aws.service"] {
        let path = t.p(&format!("/etc/systemd/system/{unit}"));
        let out = Command::new(analyze)
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{unit}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        let ours: Vec<&str> = err.lines().filter(|l| l.contains(unit)).collect();
        assert!(
            ours.is_empty(),
            "systemd-analyze complains about {unit}: {ours:?}"
        );
    }
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

#[test]
fn paths_systemd_cannot_represent_are_refused() {
    let t = centos7();
    let before = t.snapshot();
    let out = t.run(&["install", "--exec=/opt/bad\npath/drainguard"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("cannot be written on a systemd command line"));
    assert_eq!(t.snapshot(), before);
}

/// Names in `dir` (host path), sorted.
fn names(t: &Tree, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(t.p(dir))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn reinstall_with_other_apps_moves_our_links_and_uninstall_still_restores_all() {
    let t = amazon_linux_1();
    t.write(
        "/etc/rc.d/init.d/jboss",
        "#!/bin/sh\n# chkconfig: 2345 70 26\nLOCK=/var/lock/subsys/jboss\n",
        0o755,
    );
    for l in [0, 1, 6] {
        t.link(&format!("/etc/rc.d/rc{l}.d/K26jboss"), "../init.d/jboss");
    }
    let before = t.snapshot();
    let first = t.run(&["install", "--before", "tomcat", EXEC, "--reorder-shipper"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(
        names(&t, "/etc/rc.d/rc0.d"),
        vec!["K20tomcat", "K25drainguard", "K26jboss", "K30filebeat"]
    );
    // Now jboss must stop first too: drainguard moves between jboss (K26) and filebeat (K30).
    let again = t.run(&["install", "--before", "tomcat", "--before", "jboss", EXEC]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    for l in [0, 6] {
        assert_eq!(
            names(&t, &format!("/etc/rc.d/rc{l}.d")),
            vec!["K20tomcat", "K26jboss", "K28drainguard", "K30filebeat"],
            "rc{l}.d: the old K25 link is gone"
        );
    }
    assert_eq!(
        names(&t, "/etc/rc.d/rc3.d"),
        vec!["S80tomcat", "S98filebeat", "S99drainguard"]
    );
    // Idempotent once more.
    let once = t.snapshot();
    let out = t.run(&["install", "--before", "tomcat", "--before", "jboss", EXEC]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(t.snapshot(), once);
    let dry = t.run(&["uninstall", "--dry-run"]);
    assert!(
        text(&dry)
            .contains("would move /etc/rc.d/rc0.d/K30filebeat back to /etc/rc.d/rc0.d/K02filebeat"),
        "{}",
        text(&dry)
    );
    assert_eq!(t.snapshot(), once, "uninstall --dry-run changes nothing");
    assert_eq!(t.run(&["uninstall"]).status.code(), Some(0));
    assert_eq!(t.snapshot(), before);
}

#[test]
fn an_existing_settings_file_is_saved_and_restored() {
    let t = debian_systemd();
    let mine = "# hand-written\ndeadline = \"5m\"\n";
    t.write("/etc/drainguard/drainguard.toml", mine, 0o600);
    let before = t.snapshot();
    let out = t.run(&["install", "--before", "app", EXEC, "--shipper", "filebeat"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let settings = fs::read_to_string(t.p("/etc/drainguard/drainguard.toml")).unwrap();
    for want in [
        "deadline = \"5m\"",
        "log_file = \"/var/log/drainguard/drainguard.log\"",
        "apps = [\"app\"]",
        "kind = \"filebeat\"",
    ] {
        assert!(settings.contains(want), "{want} in {settings}");
    }
    // The unit's stop timeout follows the deadline kept from the old settings.
    let unit = fs::read_to_string(t.p("/etc/systemd/system/drainguard.service")).unwrap();
    assert!(unit.contains("TimeoutStopSec=360\n"), "{unit}");
    // The original is saved away from /etc (nothing extra beside it).
    assert_eq!(names(&t, "/etc/drainguard"), vec!["drainguard.toml"]);
    assert_eq!(
        fs::read_to_string(t.p("/var/lib/drainguard/backup/etc/drainguard/drainguard.toml"))
            .unwrap(),
        mine
    );
    assert_eq!(t.run(&["uninstall"]).status.code(), Some(0));
    assert_eq!(t.snapshot(), before, "settings file restored with its mode");
}

#[test]
fn debian_sysvinit_without_a_gap_needs_reorder_shipper() {
    let t = image();
    t.write("/etc/init.d/filebeat", "#!/bin/sh\n", 0o755);
    t.write("/etc/init.d/app", "#!/bin/sh\n", 0o755);
    for l in [0, 1, 6] {
        t.link(&format!("/etc/rc{l}.d/K01app"), "../init.d/app");
        t.link(&format!("/etc/rc{l}.d/K02filebeat"), "../init.d/filebeat");
    }
    let before = t.snapshot();
    let out = t.run(&["install", "--before", "app", EXEC]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no K number fits"), "{}", text(&out));
    assert_eq!(t.snapshot(), before);
    let out = t.run(&["install", "--before", "app", EXEC, "--reorder-shipper"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // As insserv would number them: one after the app, the shipper one after drainguard.
    for l in [0, 1, 6] {
        assert_eq!(
            names(&t, &format!("/etc/rc{l}.d")),
            vec!["K01app", "K02drainguard", "K03filebeat"]
        );
    }
    assert_eq!(t.run(&["doctor"]).status.code(), Some(0));
    assert_eq!(t.run(&["uninstall"]).status.code(), Some(0));
    assert_eq!(t.snapshot(), before);
}

#[test]
fn doctor_finds_seeded_faults_on_debian_sysvinit() {
    let t = debian_sysvinit();
    let out = t.run(&["install", "--before", "apache2", EXEC]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(doctor_ids(&t, &[]).is_empty());
    // No lock-file check on Debian: rc there does not look at /var/lock/subsys.
    fs::remove_file(t.p("/etc/rc0.d/K02drainguard")).unwrap();
    assert_eq!(doctor_ids(&t, &[]), vec!["DG102"]);
    t.link("/etc/rc0.d/K02drainguard", "../init.d/drainguard");
    // Wrong order at reboot only.
    fs::rename(t.p("/etc/rc6.d/K01apache2"), t.p("/etc/rc6.d/K05apache2")).unwrap();
    assert_eq!(doctor_ids(&t, &[]), vec!["DG103"]);
    fs::rename(t.p("/etc/rc6.d/K05apache2"), t.p("/etc/rc6.d/K01apache2")).unwrap();
    fs::rename(t.p("/etc/rc6.d/K04filebeat"), t.p("/etc/rc6.d/K02filebeat")).unwrap();
    let out = t.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("DG104")
            && text(&out).contains("fix: `drainguard install --reorder-shipper`"),
        "{}",
        text(&out)
    );
}

#[test]
fn doctor_reads_systemds_default_stop_timeout() {
    let t = centos7();
    let unit = "[Unit]\nAfter=network-online.target filebeat.service\nBefore=tomcat.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStop=/usr/local/bin/drainguard wait\n";
    t.write("/etc/systemd/system/hand.service", unit, 0o644);
    t.link(
        "/etc/systemd/system/multi-user.target.wants/hand.service",
        "/etc/systemd/system/hand.service",
    );
    let args = ["--unit", "hand", "--before", "tomcat"];
    assert_eq!(doctor_ids(&t, &args), vec!["DG009"]);
    t.write(
        "/etc/systemd/system.conf.d/50-long.conf",
        "[Manager]\nDefaultTimeoutStopSec=30min\n",
        0o644,
    );
    assert!(doctor_ids(&t, &args).is_empty());
    // A continuation line and a list reset in a drop-in, as systemd reads them.
    t.write(
        "/etc/systemd/system/hand.service.d/10-order.conf",
        "[Unit]\nAfter=\nAfter=network-online.target \\\n  other.service\n",
        0o644,
    );
    assert_eq!(doctor_ids(&t, &args), vec!["DG006"]);
}

#[test]
fn exec_paths_that_are_not_absolute_utf8_are_refused() {
    use std::os::unix::ffi::OsStrExt;
    let t = centos7();
    let before = t.snapshot();
    let out = t.run(&["install", "--exec=bin/drainguard"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("must be an absolute path"),
        "{}",
        text(&out)
    );
    let mut arg = std::ffi::OsString::from("--exec=/opt/");
    arg.push(std::ffi::OsStr::from_bytes(b"\xffdg"));
    let out = Command::new(env!("CARGO_BIN_EXE_drainguard"))
        .arg("--root")
        .arg(t.root())
        .arg("install")
        .arg(arg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("/opt/\\xffdg: not UTF-8"),
        "{}",
        text(&out)
    );
    assert_eq!(t.snapshot(), before);
}

#[test]
fn boot_check_fails_on_broken_settings_not_on_a_missing_store() {
    let t = centos7();
    t.write(
        "/etc/drainguard/drainguard.toml",
        "[[shipper]]\nkind = \"filebeat\"\ndata_path = \"/var/lib/filebeat\"\n",
        0o644,
    );
    let out = t.run(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "no registry yet is fine at boot: {}",
        text(&out)
    );
    t.write("/etc/drainguard/drainguard.toml", "deadline = 5\n", 0o644);
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("line 1"), "{}", text(&out));
}

#[test]
fn units_with_a_path_that_needs_quoting_pass_systemd_analyze_verify() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    // A real executable at a path with a space and a `%` (a systemd specifier character).
    let bin = tempfile::tempdir().unwrap();
    let odd = bin.path().join("my tools").join("drain%guard");
    fs::create_dir_all(odd.parent().unwrap()).unwrap();
    fs::copy(env!("CARGO_BIN_EXE_drainguard"), &odd).unwrap();
    let t = debian_systemd();
    let exec = format!("--exec={}", odd.display());
    // --force: the temporary directory is under /tmp.
    let out = t.run(&["install", "--before", "app", &exec, "--aws", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let unit = fs::read_to_string(t.p("/etc/systemd/system/drainguard.service")).unwrap();
    assert!(unit.contains("my tools/drain%%guard\" wait"), "{unit}");
    verify_units(&t, &analyze);
}
