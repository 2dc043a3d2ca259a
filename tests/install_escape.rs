//! Hostile hosts for install / uninstall: names that would inject unit directives or shell
//! lines, deadlines systemd cannot hold, symlinked directories at every level of every path
//! written (pointing outside `--root`), and tampered manifests. The tree outside the root (a
//! sibling directory the links point at) is hashed before and after: it must not change.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fixture root and, beside it, the "host outside the root" that planted links point at.
struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        // What an escape would hit: the same layout as a real host, with files to clobber.
        for d in [
            "etc/systemd/system/multi-user.target.wants",
            "etc/init.d",
            "etc/rc.d/init.d",
            "etc/drainguard",
            "var/lib/drainguard/backup",
            "tmp",
        ] {
            fs::create_dir_all(outside.join(d)).unwrap();
        }
        for l in 0..=6 {
            fs::create_dir_all(outside.join(format!("etc/rc{l}.d"))).unwrap();
            fs::create_dir_all(outside.join(format!("etc/rc.d/rc{l}.d"))).unwrap();
        }
        fs::write(outside.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::write(outside.join("etc/drainguard/drainguard.toml"), "# theirs\n").unwrap();
        Host {
            _dir: dir,
            root,
            outside,
        }
    }
    fn p(&self, host: &str) -> PathBuf {
        self.root.join(host.trim_start_matches('/'))
    }
    fn write(&self, host: &str, text: &str, mode: u32) {
        let p = self.p(host);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
    fn link(&self, host: &str, target: &Path) {
        let p = self.p(host);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
    }
    fn dir(&self, host: &str) {
        fs::create_dir_all(self.p(host)).unwrap();
    }
    fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_drainguard"))
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .output()
            .unwrap()
    }
    fn outside_hash(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        walk(&self.outside, &self.outside, &mut out);
        out
    }
    fn root_hash(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        walk(&self.root, &self.root, &mut out);
        out
    }
}

/// Every path with owner, type, mode, content or link target.
fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let rel = p.strip_prefix(base).unwrap().to_path_buf();
        let m = fs::symlink_metadata(&p).unwrap();
        let desc = if m.file_type().is_symlink() {
            format!("link -> {}", fs::read_link(&p).unwrap().display())
        } else if m.is_dir() {
            walk(base, &p, out);
            format!("dir {:o}", m.permissions().mode())
        } else {
            format!(
                "file {:o} {:?}",
                m.permissions().mode(),
                fs::read(&p).unwrap()
            )
        };
        out.insert(rel, format!("{}:{} {desc}", m.uid(), m.gid()));
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const EXEC: &str = "--exec=/usr/local/bin/drainguard";

fn systemd_host() -> Host {
    let h = Host::new();
    h.dir("/run/systemd/system");
    h.dir("/etc/systemd/system");
    h.write(
        "/lib/systemd/system/filebeat.service",
        "[Service]\nExecStart=/usr/bin/filebeat\n",
        0o644,
    );
    h
}

fn debian_sysv_host() -> Host {
    let h = Host::new();
    h.write("/etc/init.d/filebeat", "#!/bin/sh\n", 0o755);
    h.write("/etc/init.d/apache2", "#!/bin/sh\n", 0o755);
    for l in [0, 1, 6] {
        h.link(
            &format!("/etc/rc{l}.d/K01apache2"),
            Path::new("../init.d/apache2"),
        );
        h.link(
            &format!("/etc/rc{l}.d/K04filebeat"),
            Path::new("../init.d/filebeat"),
        );
    }
    for l in 2..=5 {
        h.dir(&format!("/etc/rc{l}.d"));
    }
    h
}

fn chkconfig_host() -> Host {
    let h = Host::new();
    h.write("/etc/rc.d/init.d/filebeat", "#!/bin/sh\n", 0o755);
    h.write("/etc/rc.d/init.d/tomcat", "#!/bin/sh\n", 0o755);
    for l in [0, 1, 6] {
        h.link(
            &format!("/etc/rc.d/rc{l}.d/K20tomcat"),
            Path::new("../init.d/tomcat"),
        );
        h.link(
            &format!("/etc/rc.d/rc{l}.d/K40filebeat"),
            Path::new("../init.d/filebeat"),
        );
    }
    for l in 2..=5 {
        h.dir(&format!("/etc/rc.d/rc{l}.d"));
    }
    h
}

/// Names with every character systemd's unit parser or sh treats specially, path
/// separators, control bytes and a non-UTF-8 byte. (`-` and `\` are unit name characters:
/// `-.mount` is the root mount; they are refused for init scripts by the unit tests.)
fn hostile_names() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "apache2\ntouch /tmp/p",
        "apache2\r\nExecStartPre=/bin/touch /tmp/p",
        "apache2;touch /tmp/p",
        "$(touch /tmp/p)",
        "`touch /tmp/p`",
        "a'b",
        "a\"b",
        "a b",
        "a\tb",
        "%n",
        "a%h",
        "$HOME",
        "${x}",
        "../../../tmp/p",
        "a/b",
        "a|b",
        "a&b",
        "a>b",
        "a<b",
        "a*",
        "a?",
        "[a]",
        "a#b",
        "~a",
        "a!",
        "a\u{1}b",
        "a\u{7f}b",
        "a\u{85}b",
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    v.push(b"a\xffb".to_vec());
    v
}

fn flag(name: &str, value: &[u8]) -> std::ffi::OsString {
    let mut a = std::ffi::OsString::from(format!("--{name}="));
    a.push(OsStr::from_bytes(value));
    a
}

#[test]
fn the_reported_newline_injection_into_the_sysv_script_is_refused() {
    let h = debian_sysv_host();
    let before = h.root_hash();
    let out = h.run(&[
        OsStr::new("install"),
        OsStr::new("--init"),
        OsStr::new("sysv-debian"),
        OsStr::new("--before"),
        OsStr::new("apache2\ntouch /tmp/p"),
        OsStr::new(EXEC),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("\"apache2\\ntouch /tmp/p\" is refused: it contains a newline")
            && t.contains("LSB Core"),
        "{t}"
    );
    assert_eq!(h.root_hash(), before, "a refused install writes nothing");
}

#[test]
fn hostile_names_are_refused_for_every_init_system_and_flag() {
    for (init, host) in [
        ("systemd", systemd_host as fn() -> Host),
        ("sysv-debian", debian_sysv_host),
        ("sysv-chkconfig", chkconfig_host),
    ] {
        let h = host();
        let before = h.root_hash();
        let outside = h.outside_hash();
        for name in hostile_names() {
            for f in ["before", "shipper-service"] {
                let out = h.run(&[
                    OsStr::new("install"),
                    OsStr::new("--init"),
                    OsStr::new(init),
                    &flag(f, &name),
                    OsStr::new(EXEC),
                ]);
                let shown = String::from_utf8_lossy(&name).into_owned();
                assert_eq!(
                    out.status.code(),
                    Some(2),
                    "{init} --{f} {shown:?}: {}",
                    text(&out)
                );
                let t = text(&out);
                let rule = if init == "systemd" && f == "before" {
                    "systemd.unit(5)"
                } else if f == "before" {
                    "LSB Core"
                } else {
                    // Checked before the probe against both grammars; either may be quoted.
                    "is refused"
                };
                assert!(
                    t.contains(rule) || t.contains("not UTF-8") || t.contains("invalid UTF-8"),
                    "{init} --{f} {shown:?}: {t}"
                );
            }
        }
        assert_eq!(h.root_hash(), before, "{init}: nothing written");
        assert_eq!(h.outside_hash(), outside, "{init}: nothing outside touched");
    }
}

#[test]
fn names_in_the_settings_file_are_checked_too() {
    let h = debian_sysv_host();
    h.write(
        "/etc/drainguard/drainguard.toml",
        "apps = [\"apache2\\nreboot\"]\n",
        0o644,
    );
    let before = h.root_hash();
    let out = h.run(&["install", EXEC]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("`apps` in the settings"),
        "{}",
        text(&out)
    );
    assert_eq!(h.root_hash(), before);
}

#[test]
fn instance_and_typed_unit_names_are_written_as_systemd_reads_them() {
    let h = systemd_host();
    let out = h.run(&[
        "install",
        "--before",
        "getty@tty1",
        "--before",
        "remote-fs.target",
        "--before",
        "php7.4-fpm",
        EXEC,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let unit = fs::read_to_string(h.p("/etc/systemd/system/drainguard.service")).unwrap();
    assert!(
        unit.contains("\nBefore=getty@tty1.service remote-fs.target php7.4-fpm.service\n"),
        "{unit}"
    );
}

#[test]
fn deadlines_systemd_cannot_hold_are_refused_without_a_panic() {
    for init in ["systemd", "sysv-debian"] {
        let h = if init == "systemd" {
            systemd_host()
        } else {
            debian_sysv_host()
        };
        let before = h.root_hash();
        for d in ["18446744073709551615s", "500000000000years", "25h"] {
            let out = h.run(&["install", "--init", init, "--deadline", d, EXEC]);
            let t = text(&out);
            assert_eq!(out.status.code(), Some(2), "{init} --deadline {d}: {t}");
            assert!(!t.contains("panicked"), "{t}");
            assert!(
                t.contains("longer than 1day") || t.contains("--deadline"),
                "{init} --deadline {d}: {t}"
            );
        }
        let huge = "deadline = \"18446744073709551615s\"\n";
        h.write("/etc/drainguard/drainguard.toml", huge, 0o644);
        let out = h.run(&["install", "--init", init, EXEC]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains("fix `deadline` in the settings"),
            "{}",
            text(&out)
        );
        fs::remove_file(h.p("/etc/drainguard/drainguard.toml")).unwrap();
        fs::remove_dir(h.p("/etc/drainguard")).unwrap();
        assert_eq!(h.root_hash(), before, "{init}: nothing written");
        // A day is accepted: TimeoutStopSec is the deadline plus the margin.
        let out = h.run(&["install", "--init", init, "--deadline", "24h", EXEC]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        if init == "systemd" {
            let unit = fs::read_to_string(h.p("/etc/systemd/system/drainguard.service")).unwrap();
            assert!(unit.contains("TimeoutStopSec=86460\n"), "{unit}");
        }
    }
}
