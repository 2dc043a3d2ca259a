//! Hostile hosts for install / uninstall: names that would inject unit directives or shell
//! lines, deadlines systemd cannot hold, symlinked directories at every level of every path
//! written (pointing outside `--root`), and tampered manifests. The tree outside the root (a
//! sibling directory the links point at) is hashed before and after: it must not change.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::tree::{snapshot, Tree};

/// A fixture root and, beside it, the "host outside the root" that planted links point at.
struct Host {
    _dir: tempfile::TempDir,
    tree: Tree,
    outside: PathBuf,
}

/// The root's side of the host: write, link, run (see [`Tree`]).
impl std::ops::Deref for Host {
    type Target = Tree;
    fn deref(&self) -> &Tree {
        &self.tree
    }
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
            tree: Tree::at(root),
            outside,
        }
    }
    fn outside_hash(&self) -> BTreeMap<PathBuf, String> {
        snapshot(&self.outside)
    }
    fn root_hash(&self) -> BTreeMap<PathBuf, String> {
        self.tree.snapshot()
    }
}

use crate::support::text;

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
    // TOML escapes reach bytes no command line can carry (NUL).
    for (init, host) in [
        ("sysv-debian", debian_sysv_host as fn() -> Host),
        ("systemd", systemd_host),
    ] {
        for app in [r"apache2\nreboot", r"a\u0000b", r"a\u001bb", "x$(reboot)"] {
            let h = host();
            h.write(
                "/etc/drainguard/drainguard.toml",
                &format!("apps = [\"{app}\"]\n"),
                0o644,
            );
            let before = h.root_hash();
            let out = h.run(&["install", "--init", init, EXEC]);
            assert_eq!(out.status.code(), Some(2), "{init} {app}: {}", text(&out));
            assert!(
                text(&out).contains("`apps` in the settings"),
                "{init} {app}: {}",
                text(&out)
            );
            assert_eq!(h.root_hash(), before);
        }
    }
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

/// The directories each init flavour's install writes into (host paths), outermost first.
fn touched_dirs(init: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "/etc",
        "/etc/drainguard",
        "/var",
        "/var/lib",
        "/var/lib/drainguard",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match init {
        "systemd" => {
            v.extend(["/etc/systemd", "/etc/systemd/system"].map(String::from));
            v.push("/etc/systemd/system/multi-user.target.wants".into());
        }
        "sysv-debian" => {
            v.push("/etc/init.d".into());
            v.extend((0..=6).map(|l| format!("/etc/rc{l}.d")));
        }
        _ => {
            v.extend(["/etc/rc.d", "/etc/rc.d/init.d"].map(String::from));
            v.extend((0..=6).map(|l| format!("/etc/rc.d/rc{l}.d")));
        }
    }
    v
}

fn host_for(init: &str) -> Host {
    match init {
        "systemd" => systemd_host(),
        "sysv-debian" => debian_sysv_host(),
        _ => chkconfig_host(),
    }
}

/// Replaces the directory `host` below the root (if any) by a link to `target`.
fn plant(h: &Host, host: &str, target: &Path) {
    let p = h.p(host);
    if p.is_dir() {
        fs::remove_dir_all(&p).unwrap();
    }
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, &p).unwrap();
}

/// The install arguments for a fixture of `init` (a reorder is allowed where needed).
fn install_args(init: &'static str) -> Vec<&'static str> {
    let app = if init == "sysv-chkconfig" {
        "tomcat"
    } else {
        "apache2"
    };
    vec![
        "install",
        "--init",
        init,
        "--before",
        app,
        EXEC,
        "--shipper",
        "filebeat",
    ]
}

#[test]
fn install_never_writes_through_a_linked_directory_at_any_level() {
    for init in ["systemd", "sysv-debian", "sysv-chkconfig"] {
        for dir in touched_dirs(init) {
            // An absolute link out, and a relative one climbing out of the root.
            for absolute in [true, false] {
                let h = host_for(init);
                let target = if absolute {
                    h.outside.join(dir.trim_start_matches('/'))
                } else {
                    let depth = dir.matches('/').count();
                    let mut t = PathBuf::from("../".repeat(depth));
                    t.push("outside");
                    t.push(dir.trim_start_matches('/'));
                    t
                };
                plant(&h, &dir, &target);
                let outside = h.outside_hash();
                let before = h.root_hash();
                let dry = h.run(&[&install_args(init)[..], &["--dry-run"]].concat());
                let out = h.run(&install_args(init));
                let case = format!("{init}, {dir} -> {}", target.display());
                assert_eq!(h.outside_hash(), outside, "{case}: the outside changed");
                assert_eq!(out.status.code(), Some(2), "{case}: {}", text(&out));
                let want = format!("{}: a symbolic link", h.p(&dir).display());
                assert!(text(&out).contains(&want), "{case}: {}", text(&out));
                assert_eq!(dry.status.code(), Some(2), "{case}: dry run {}", text(&dry));
                assert!(text(&dry).contains(&want), "{case}: {}", text(&dry));
                // Every path is checked before the first write: a refused install writes
                // nothing.
                assert_eq!(h.root_hash(), before, "{case}: the root changed");
            }
        }
    }
}

#[test]
fn uninstall_never_removes_through_a_directory_linked_after_install() {
    for init in ["systemd", "sysv-debian", "sysv-chkconfig"] {
        for dir in touched_dirs(init) {
            let h = host_for(init);
            let out = h.run(&install_args(init));
            assert_eq!(out.status.code(), Some(0), "{init}: {}", text(&out));
            // The outside holds what uninstall would remove or restore: copies of our files.
            let src = h.p(&dir);
            let dst = h.outside.join(dir.trim_start_matches('/'));
            copy_tree(&src, &dst);
            fs::remove_dir_all(&src).unwrap();
            symlink(&dst, &src).unwrap();
            let outside = h.outside_hash();
            let inside = h.root_hash();
            let dry = h.run(&["uninstall", "--dry-run"]);
            let out = h.run(&["uninstall"]);
            let case = format!("{init}, {dir} linked out");
            assert_eq!(h.outside_hash(), outside, "{case}: the outside changed");
            assert_eq!(out.status.code(), Some(2), "{case}: {}", text(&out));
            assert!(
                text(&out).contains("a symbolic link"),
                "{case}: {}",
                text(&out)
            );
            assert_eq!(dry.status.code(), Some(2), "{case}: {}", text(&dry));
            assert_eq!(
                h.root_hash(),
                inside,
                "{case}: a refused uninstall changes nothing"
            );
        }
    }
}

/// Copies a directory tree (files, links, dirs) from `src` to `dst`, merging.
fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap().flatten() {
        let (s, d) = (e.path(), dst.join(e.file_name()));
        let m = fs::symlink_metadata(&s).unwrap();
        if m.file_type().is_symlink() {
            let _ = fs::remove_file(&d);
            symlink(fs::read_link(&s).unwrap(), &d).unwrap();
        } else if m.is_dir() {
            copy_tree(&s, &d);
        } else {
            fs::copy(&s, &d).unwrap();
        }
    }
}

#[test]
fn planted_links_at_the_files_themselves_are_replaced_and_restored() {
    let h = systemd_host();
    let victim = h.outside.join("etc/passwd");
    for f in [
        "/etc/systemd/system/drainguard.service",
        "/etc/systemd/system/.drainguard.service.drainguard-tmp",
        "/etc/systemd/system/multi-user.target.wants/drainguard.service",
    ] {
        h.link(f, &victim);
    }
    // The settings are read through a link (reading is not writing); a TOML file, then.
    let theirs = h.outside.join("etc/drainguard/drainguard.toml");
    h.link("/etc/drainguard/drainguard.toml", &theirs);
    let before = h.root_hash();
    let outside = h.outside_hash();
    let out = h.run(&install_args("systemd"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        h.outside_hash(),
        outside,
        "nothing written through the links"
    );
    let unit = fs::symlink_metadata(h.p("/etc/systemd/system/drainguard.service")).unwrap();
    assert!(unit.is_file(), "the link was replaced by our unit");
    let out = h.run(&["uninstall"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut after = h.root_hash();
    // The stale temporary link is ours to remove (it never held anything).
    after.insert(
        "etc/systemd/system/.drainguard.service.drainguard-tmp".into(),
        before[Path::new("etc/systemd/system/.drainguard.service.drainguard-tmp")].clone(),
    );
    assert_eq!(
        after, before,
        "the planted links are back, nothing else changed"
    );
    assert_eq!(h.outside_hash(), outside);
}

/// Writes `text` as the manifest, with a matching checksum when `sum`.
fn plant_manifest(h: &Host, text: &str, sum: bool) {
    h.write("/var/lib/drainguard/install-manifest.json", text, 0o644);
    if sum {
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        h.write(
            "/var/lib/drainguard/install-manifest.json.sha256",
            &format!("{hex}\n"),
            0o644,
        );
    }
}

#[test]
fn tampered_manifests_are_refused_before_anything_is_done() {
    let outside_rel = "../../../../outside/etc/passwd";
    let cases: Vec<(String, &str)> = vec![
        (
            format!(r#"{{"kind":"created","path":"/etc/init.d/{outside_rel}"}}"#),
            "not a plain absolute path",
        ),
        (
            r#"{"kind":"created","path":"/etc/passwd"}"#.into(),
            "not a file install writes",
        ),
        (
            r#"{"kind":"removed","path":"/etc/rc0.d/K01apache2","backup":"/tmp/x"}"#.into(),
            "the backup of /etc/rc0.d/K01apache2 is recorded at /tmp/x",
        ),
        (
            r#"{"kind":"replaced","path":"/etc/init.d/drainguard","backup":"/var/lib/drainguard/backup/../../../../etc/passwd"}"#.into(),
            "is recorded at",
        ),
        (
            r#"{"kind":"renamed","from":"/etc/rc0.d/K04filebeat","to":"/etc/passwd"}"#.into(),
            "is not renumbering one rc link",
        ),
        (
            r#"{"kind":"dir","path":"/etc/rc0.d/../.."}"#.into(),
            "not a directory install creates",
        ),
        (
            r#"{"kind":"ran","argv":["systemctl","daemon-reload"],"undo":[["sh","-c","touch /tmp/p"]]}"#.into(),
            "is not one uninstall runs",
        ),
        (
            r#"{"kind":"ran","argv":["systemctl","daemon-reload"],"undo":[["systemctl","stop","sshd.service"]]}"#.into(),
            "is not one uninstall runs",
        ),
        (
            r#"{"kind":"exec","argv":["touch","/tmp/p"]}"#.into(),
            "unknown variant",
        ),
        (
            r#"{"kind":"created","path":"/etc/init.d/drainguard","sha256":"$(reboot)"}"#.into(),
            "is not a SHA-256",
        ),
    ];
    for (record, want) in cases {
        for sum in [true, false] {
            let h = debian_sysv_host();
            h.write("/etc/init.d/drainguard", "#!/bin/sh\n", 0o755);
            let doc = format!(r#"{{"version":2,"records":[{record}]}}"#);
            plant_manifest(&h, &doc, sum);
            let before = h.root_hash();
            let outside = h.outside_hash();
            for args in [
                &["uninstall", "--dry-run"][..],
                &["uninstall"],
                &install_args("sysv-debian"),
            ] {
                let out = h.run(args);
                assert_eq!(
                    out.status.code(),
                    Some(2),
                    "{record} {args:?}: {}",
                    text(&out)
                );
                assert!(
                    text(&out).contains(want),
                    "{record} {args:?}: {}",
                    text(&out)
                );
            }
            assert_eq!(h.root_hash(), before, "{record}: nothing done");
            assert_eq!(h.outside_hash(), outside, "{record}: nothing outside");
        }
    }
}

#[test]
fn a_manifest_edited_after_install_fails_its_checksum() {
    let h = debian_sysv_host();
    let out = h.run(&install_args("sysv-debian"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let m = h.p("/var/lib/drainguard/install-manifest.json");
    let text0 = fs::read_to_string(&m).unwrap();
    // A valid record, added by hand: refused by the checksum alone.
    let edited = text0.replacen(
        "\"records\": [",
        "\"records\": [\n    {\"kind\": \"created\", \"path\": \"/etc/drainguard/drainguard.toml\"},",
        1,
    );
    assert_ne!(edited, text0);
    fs::write(&m, &edited).unwrap();
    let before = h.root_hash();
    let out = h.run(&["uninstall"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("does not match its checksum")
            && text(&out).contains("install-manifest.json.sha256"),
        "{}",
        text(&out)
    );
    assert_eq!(h.root_hash(), before);
    // Accepted once its checksum is removed (records are still checked).
    fs::write(&m, &text0).unwrap();
    fs::remove_file(h.p("/var/lib/drainguard/install-manifest.json.sha256")).unwrap();
    let out = h.run(&["uninstall"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!h.p("/etc/init.d/drainguard").exists());
}

#[test]
fn a_manifest_that_is_a_link_or_a_fifo_is_refused() {
    let h = debian_sysv_host();
    let victim = h.outside.join("etc/drainguard/drainguard.toml");
    h.link("/var/lib/drainguard/install-manifest.json", &victim);
    let outside = h.outside_hash();
    for args in [&["uninstall"][..], &install_args("sysv-debian")] {
        let out = h.run(args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains("not a regular file (a symbolic link)"),
            "{}",
            text(&out)
        );
    }
    assert_eq!(h.outside_hash(), outside);
    fs::remove_file(h.p("/var/lib/drainguard/install-manifest.json")).unwrap();
    let fifo = std::ffi::CString::new(
        h.p("/var/lib/drainguard/install-manifest.json")
            .as_os_str()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let out = h.run(&["uninstall"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not a regular file (a FIFO)"),
        "{}",
        text(&out)
    );
}

#[test]
fn files_changed_since_install_are_reported_and_left() {
    let h = systemd_host();
    let out = h.run(&install_args("systemd"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let unit = h.p("/etc/systemd/system/drainguard.service");
    fs::write(&unit, "[Unit]\n# edited by the operator\n").unwrap();
    let out = h.run(&["uninstall"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("left: /etc/systemd/system/drainguard.service: changed since install"),
        "{}",
        text(&out)
    );
    assert_eq!(
        fs::read_to_string(&unit).unwrap(),
        "[Unit]\n# edited by the operator\n"
    );
    assert!(
        !h.p("/etc/drainguard/drainguard.toml").exists(),
        "the rest is removed"
    );
}

/// Paths below the root whose entry differs between two snapshots.
fn changed(a: &BTreeMap<PathBuf, String>, b: &BTreeMap<PathBuf, String>) -> Vec<PathBuf> {
    let mut keys: Vec<&PathBuf> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// The host paths a dry run announces it would write (create, change, move or remove).
fn announced(dry: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for l in dry.lines() {
        let w: Vec<&str> = l.split(' ').collect();
        let path = |s: &str| PathBuf::from(s.trim_start_matches('/'));
        match w.as_slice() {
            ["create", "directory", p, ..]
            | ["write", p, ..]
            | ["link", p, ..]
            | ["relink", p, ..]
            | ["remove", p, ..] => v.push(path(p)),
            ["save", p, "to", b, ..] => {
                v.push(path(p));
                v.push(path(b));
            }
            ["move", a, "->", b] => {
                v.push(path(a));
                v.push(path(b));
            }
            ["record", a, "and", b] => {
                v.push(path(a));
                v.push(path(b));
            }
            _ => {}
        }
    }
    v.sort();
    v.dedup();
    v
}

#[test]
fn a_dry_run_announces_exactly_the_paths_install_writes() {
    for init in ["systemd", "sysv-debian", "sysv-chkconfig"] {
        let h = host_for(init);
        // An existing settings file: saved to the backup, then replaced.
        h.write(
            "/etc/drainguard/drainguard.toml",
            "deadline = \"5m\"\n",
            0o600,
        );
        let args = install_args(init);
        let before = h.root_hash();
        let dry = h.run(&[&args[..], &["--dry-run"]].concat());
        assert_eq!(dry.status.code(), Some(0), "{init}: {}", text(&dry));
        assert_eq!(h.root_hash(), before, "{init}: a dry run writes nothing");
        let out = h.run(&args);
        assert_eq!(out.status.code(), Some(0), "{init}: {}", text(&out));
        let after = h.root_hash();
        // Entries created, changed or removed (a directory's entry holds its mode and owner,
        // not its listing).
        let written = changed(&before, &after);
        assert_eq!(
            announced(&String::from_utf8_lossy(&dry.stdout)),
            written,
            "{init}: {}",
            String::from_utf8_lossy(&dry.stdout)
        );
        // A second dry run on the installed tree announces only the manifest.
        let again = h.run(&[&args[..], &["--dry-run"]].concat());
        let a = announced(&String::from_utf8_lossy(&again.stdout));
        assert_eq!(
            a,
            vec![
                PathBuf::from("var/lib/drainguard/install-manifest.json"),
                PathBuf::from("var/lib/drainguard/install-manifest.json.sha256")
            ],
            "{init}: {}",
            String::from_utf8_lossy(&again.stdout)
        );
    }
}

/// A root whose Filebeat store says its one log file is fully shipped: `wait` is drained at
/// once, then appends its run record.
fn drained_root() -> Host {
    use drainguard::testkit::filebeat as tk;
    let h = Host::new();
    h.write("/var/log/app.log", "one line\n", 0o644);
    let m = fs::metadata(h.p("/var/log/app.log")).unwrap();
    let reg = h.p("/var/lib/filebeat/registry/filebeat");
    fs::create_dir_all(&reg).unwrap();
    fs::write(reg.join("meta.json"), br#"{"version":"1"}"#).unwrap();
    fs::write(reg.join("log.json"), b"").unwrap();
    let key = tk::log_key(m.ino(), m.dev());
    let value = tk::log_value("/var/log/app.log", m.len(), m.ino(), m.dev());
    tk::write_checkpoint(&reg, 1, [(key.as_str(), &value)]).unwrap();
    h
}

/// Runs `wait` on [`drained_root`] with `--log-file`, killed if it outlives 60 s (a hang).
fn wait_drained(h: &Host, log_file: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_drainguard"))
        .arg("--root")
        .arg(h.root())
        .args([
            "wait",
            "--data-path",
            "/var/lib/filebeat",
            "--deadline",
            "10s",
        ])
        .args(["--shipper-pid", &std::process::id().to_string()])
        .args(["--log-file", log_file])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("wait hung writing its run record to {log_file}");
}

#[test]
fn the_run_record_is_written_below_the_root_and_never_through_a_link() {
    let h = drained_root();
    let out = wait_drained(&h, "/var/log/drainguard/drainguard.log");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rec = fs::read_to_string(h.p("/var/log/drainguard/drainguard.log")).unwrap();
    assert!(rec.contains("result=drained"), "{rec}");
    // The record's directory linked out of the root, then the record file itself.
    fs::remove_dir_all(h.p("/var/log/drainguard")).unwrap();
    fs::create_dir_all(h.outside.join("var/log/drainguard")).unwrap();
    h.link("/var/log/drainguard", h.outside.join("var/log/drainguard"));
    let outside = h.outside_hash();
    let out = wait_drained(&h, "/var/log/drainguard/drainguard.log");
    assert_eq!(
        out.status.code(),
        Some(0),
        "the drain's outcome stands: {}",
        text(&out)
    );
    assert!(text(&out).contains("a symbolic link"), "{}", text(&out));
    fs::remove_file(h.p("/var/log/drainguard")).unwrap();
    h.link("/var/log/drainguard.log", h.outside.join("etc/passwd"));
    let out = wait_drained(&h, "/var/log/drainguard.log");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("not a regular file (a symbolic link)"),
        "{}",
        text(&out)
    );
    // `..` cannot climb out either: it stops at the root.
    let out = wait_drained(&h, "/../../outside/etc/passwd");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        h.outside_hash(),
        outside,
        "nothing written outside the root"
    );
    assert!(
        h.p("/outside/etc/passwd").is_file(),
        "written below the root instead"
    );
}

#[test]
fn a_fifo_as_the_run_record_does_not_hang_wait() {
    let h = drained_root();
    let fifo = h.p("/var/log/drainguard.log");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let out = wait_drained(&h, "/var/log/drainguard.log");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("a FIFO"), "{}", text(&out));
}

#[test]
fn a_fifo_as_the_shippers_init_script_does_not_hang_install() {
    let h = chkconfig_host();
    let script = h.p("/etc/rc.d/init.d/filebeat");
    fs::remove_file(&script).unwrap();
    let c = std::ffi::CString::new(script.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_drainguard"))
        .arg("--root")
        .arg(h.root())
        .args([
            "install",
            "--init",
            "sysv-chkconfig",
            "--shipper-service",
            "filebeat",
        ])
        .args(["--before", "tomcat", EXEC])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("install hung opening the shipper's init script");
}
