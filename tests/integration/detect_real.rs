//! Every running shipper counts, read or not: a harmless binary copied under an unsupported
//! shipper's name makes `status` exit 1 and `wait` exit 2 naming it, never "nothing to
//! drain"; a private syslog-ng (Debian `syslog-ng-core`, unpacked privately, never the
//! system service) is read through its command line. And bad names and paths on the
//! command line are errors that say what is wrong.
//!
//! syslog-ng: `$DG_SYSLOG_NG_DIR` (default /opt/dg-syslog-ng) holds `syslog-ng-core`
//! unpacked with `dpkg-deb -x` (the package conflicts with rsyslog, which other tests need;
//! .ci/run unpacks it). With CI set, a missing one fails the test; elsewhere it is skipped.

use crate::support;

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::syslog_ng::SyslogNg;
use support::{drainguard, eventually, Proc};

use crate::support::text;

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// The unpacked syslog-ng-core, if present.
fn syslog_ng() -> Option<PathBuf> {
    support::syslog_ng::installed()
}

/// A TCP receiver that reads everything, so that nothing stays unacknowledged in the
/// sender's socket, and counts the lines it received.
fn reading_receiver() -> (TcpListener, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let accept = l.try_clone().unwrap();
    let lines = Arc::new(AtomicUsize::new(0));
    let counter = lines.clone();
    std::thread::spawn(move || {
        for s in accept.incoming() {
            let Ok(mut s) = s else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let nl = buf[..n].iter().filter(|b| **b == b'\n').count();
                    counter.fetch_add(nl, Ordering::SeqCst);
                }
            });
        }
    });
    (l, lines)
}

/// A private syslog-ng tailing `app.log` to `receiver` over TCP.
fn start_syslog_ng(sng: &Path, dir: &Path, receiver: &TcpListener) -> (SyslogNg, PathBuf) {
    let port = receiver.local_addr().unwrap().port();
    let log = dir.join("app.log");
    support::app_log(&log, 10_000);
    let s = SyslogNg::start(
        sng,
        dir,
        &format!(
            "options {{ stats_freq(0); }};\n\
             source s_app {{ file(\"{log}\" follow-freq(1) flags(no-parse)); }};\n\
             destination d_net {{ network(\"127.0.0.1\" port({port}) transport(\"tcp\")); }};\n\
             log {{ source(s_app); destination(d_net); flags(flow-control); }};\n",
            log = log.display()
        ),
    );
    let conf = s.conf.clone();
    (s, conf)
}

/// `sleep` copied to `dir/name` and run: a process named like `name`.
fn renamed_sleep(dir: &Path, name: &str) -> Proc {
    let bin = dir.join(name);
    std::fs::copy("/bin/sleep", &bin).unwrap();
    let child = Command::new(&bin).arg("600").spawn().unwrap();
    let proc = Proc(child);
    assert!(eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{}/comm", proc.pid()))
            .is_ok_and(|c| c.trim() == &name[..name.len().min(15)])
    }));
    proc
}

/// `status` and `wait` on the process `pid` alone (`--shipper-pid`) and, for `status`, on
/// the whole host: unconfirmed, naming `name` and the pid.
fn assert_unconfirmed(pid: u32, name: &str, store: Option<&Path>) {
    let pid_s = pid.to_string();
    // A shipper still sending its first lines owes them in its TCP send queue (behind);
    // once the receiver has them, nothing drainguard can read is owed: unconfirmed.
    let settled = eventually(Duration::from_secs(20), || {
        let o = drainguard()
            .args(["status", "--json", "--shipper-pid", &pid_s])
            .output()
            .unwrap();
        json(&o)["verdict"] == "unconfirmed"
    });
    assert!(settled, "{name} never settled to unconfirmed");
    let o = drainguard()
        .args(["status", "--shipper-pid", &pid_s])
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(!out.contains("nothing to drain"), "{out}");
    assert!(
        out.contains(&format!(
            "verdict: UNCONFIRMED: nothing proves what {name} delivered"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("{name} runs as pid {pid}")), "{out}");

    let o = drainguard()
        .args(["status", "--json", "--shipper-pid", &pid_s])
        .output()
        .unwrap();
    let j = json(&o);
    assert_eq!(j["verdict"], "unconfirmed", "{j}");
    assert_eq!(j["shippers"][0]["shipper"], name, "{j}");
    if let Some(store) = store {
        assert_eq!(j["shippers"][0]["store"], store.to_string_lossy().as_ref());
    }

    // The whole host: whatever else runs here, this one is named and the verdict is not
    // "drained".
    let o = drainguard().arg("status").output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("{name} runs as pid {pid}")), "{out}");

    let o = drainguard()
        .args(["wait", "--shipper-pid", &pid_s])
        .args(["--deadline", "30s", "--interval", "100ms", "--no-log-file"])
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!("cannot prove delivery for {name}")),
        "{out}"
    );
    assert!(out.contains(&format!("pid {pid}")), "{out}");
}

/// A private syslog-ng started with `-f`, `-R` and `-c` outside their defaults is read
/// through its command line: its persist file, its config's file source and its control
/// socket's counters prove delivery once the receiver has every line.
#[test]
fn a_private_syslog_ng_is_read_through_its_command_line() {
    let Some(sng) = syslog_ng() else { return };
    let d = tempfile::tempdir().unwrap();
    let (receiver, lines) = reading_receiver();
    let (proc, conf) = start_syslog_ng(&sng, d.path(), &receiver);
    assert!(
        eventually(Duration::from_secs(30), || lines.load(Ordering::SeqCst)
            >= 10_000),
        "the receiver got {} of 10000 lines",
        lines.load(Ordering::SeqCst)
    );
    let status = || {
        drainguard()
            .args(["status", "--json", "--shipper-pid", &proc.pid().to_string()])
            .output()
            .unwrap()
    };
    let drained = eventually(Duration::from_secs(20), || {
        status().status.code() == Some(0)
    });
    let o = status();
    assert!(drained, "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["verdict"], "drained", "{j}");
    assert_eq!(j["shippers"][0]["shipper"], "syslog-ng", "{j}");
    let persist = d.path().join("syslog-ng.persist");
    assert_eq!(
        j["shippers"][0]["store"],
        persist.to_string_lossy().as_ref(),
        "{j}"
    );
    assert_eq!(j["shippers"][0]["files"][0]["state"], "shipped", "{j}");
    // Its config given as a Filebeat config: named as syslog-ng's, not a YAML error.
    let o = drainguard()
        .args(["status", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        err.contains("looks like a syslog-ng config") && err.contains("--shipper syslog-ng"),
        "{err}"
    );
    assert!(!err.contains("YAML"), "{err}");
}

#[test]
fn a_process_named_like_an_unsupported_shipper_is_unconfirmed() {
    let d = tempfile::tempdir().unwrap();
    let fake = renamed_sleep(d.path(), "nxlog");
    assert_unconfirmed(fake.pid(), "nxlog", None);
    // `--shipper nxlog` says what it is, and what can be named instead.
    let o = drainguard()
        .args(["status", "--shipper", "nxlog"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        err.contains("recognises but cannot read yet") && err.contains("filebeat, fluent-bit"),
        "{err}"
    );
}

#[test]
fn a_running_collector_whose_store_is_not_found_is_unconfirmed() {
    // Supported now, but nothing here says where its offsets are (no config, no
    // file_storage directory): running and unread is unconfirmed, never "nothing to drain".
    let d = tempfile::tempdir().unwrap();
    let fake = renamed_sleep(d.path(), "otelcol-contrib");
    assert_unconfirmed(fake.pid(), "otelcol", None);
}

/// Copies `/bin/sleep` and the libraries it needs into `tree` as `/usr/bin/<name>`.
fn sleep_in_tree(tree: &Path, name: &str) -> PathBuf {
    let ldd = Command::new("ldd").arg("/bin/sleep").output().unwrap();
    let libs: Vec<PathBuf> = String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    assert!(!libs.is_empty(), "ldd found no libraries");
    for lib in libs {
        let to = tree.join(lib.strip_prefix("/").unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&lib, &to).unwrap();
    }
    std::fs::create_dir_all(tree.join("usr/bin")).unwrap();
    std::fs::copy("/bin/sleep", tree.join("usr/bin").join(name)).unwrap();
    PathBuf::from("/usr/bin").join(name)
}

/// Under `--root`, a shipper process rooted in that tree counts: `wait` holds while the
/// other store (Filebeat's, behind) drains, then exits 2 naming the unreadable one. A tree
/// it is not rooted in has nothing to drain.
#[test]
fn wait_holds_for_the_others_then_exits_2_naming_the_unreadable_shipper() {
    use drainguard::testkit::filebeat as tk;
    use std::os::unix::fs::MetadataExt;
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "chroot needs root (.ci/run runs as root)"
        );
        eprintln!("skipping: chroot needs root");
        return;
    }
    let tree = tempfile::tempdir().unwrap();
    let t = tree.path();
    let exe = sleep_in_tree(t, "nxlog");
    let root = t.to_path_buf();
    let mut cmd = Command::new(&exe);
    cmd.arg("600");
    unsafe {
        cmd.pre_exec(move || {
            let c = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).unwrap();
            if libc::chroot(c.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let fake = Proc(cmd.spawn().expect("the chrooted copy starts"));
    // Filebeat's store in the tree: 3 of 8 bytes acknowledged.
    std::fs::create_dir_all(t.join("var/log")).unwrap();
    std::fs::write(t.join("var/log/beat.log"), "one\ntwo\n").unwrap();
    let m = std::fs::metadata(t.join("var/log/beat.log")).unwrap();
    let mut w = tk::MemlogWriter::create(&t.join("var/lib/filebeat/registry/filebeat")).unwrap();
    let key = tk::log_key(m.ino(), m.dev());
    w.set(
        &key,
        tk::log_value("/var/log/beat.log", 3, m.ino(), m.dev()),
    )
    .unwrap();

    let o = drainguard()
        .arg("--root")
        .arg(t)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let j = json(&o);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let kinds: Vec<&str> = j["shippers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shipper"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["filebeat", "nxlog"], "{j}");

    let mut wait = drainguard()
        .arg("--root")
        .arg(t)
        // No Filebeat process runs here: without --wait-for-restart that is "shipper dead".
        .args([
            "wait",
            "--deadline",
            "60s",
            "--interval",
            "100ms",
            "--quiet",
        ])
        .arg("--wait-for-restart")
        .arg("--no-log-file")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Filebeat is behind: the wait holds (it has not decided anything yet).
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        wait.try_wait().unwrap().is_none(),
        "wait ended while filebeat was behind"
    );
    w.set(
        &key,
        tk::log_value("/var/log/beat.log", 8, m.ino(), m.dev()),
    )
    .unwrap();
    let o = wait.wait_with_output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("cannot prove delivery for nxlog"), "{out}");
    assert!(out.contains(&format!("pid {}", fake.pid())), "{out}");

    // Another tree: the chrooted process is not rooted there.
    let empty = tempfile::tempdir().unwrap();
    let o = drainguard()
        .arg("--root")
        .arg(empty.path())
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("nothing to drain"), "{}", text(&o));
}

#[test]
fn a_misspelt_settings_file_is_exit_2_and_only_the_default_may_be_absent() {
    let empty = tempfile::tempdir().unwrap();
    for cmd in ["status", "wait"] {
        let o = Command::new(env!("CARGO_BIN_EXE_drainguard"))
            .arg("--root")
            .arg(empty.path())
            .args(["--settings", "/etc/drainguard/drainguad.toml", cmd])
            .output()
            .unwrap();
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{out}");
        assert!(
            out.contains("drainguad.toml") && out.contains("does not exist"),
            "{out}"
        );
        assert!(!out.contains("nothing to drain"), "{out}");
    }
    // The default path, absent: the defaults apply.
    let o = Command::new(env!("CARGO_BIN_EXE_drainguard"))
        .arg("--root")
        .arg(empty.path())
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn unknown_shippers_and_configs_of_another_format_are_named() {
    let o = drainguard()
        .args(["status", "--shipper", "filebaet"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("unknown shipper \"filebaet\"")
            && err.contains(
                "filebeat, fluent-bit, vector, promtail, alloy, fluentd, rsyslog, logstash, amazon-cloudwatch-agent, datadog-agent, syslog-ng, awslogs"
            ),
        "{err}"
    );
    let d = tempfile::tempdir().unwrap();
    for (file, text_, looks) in [
        ("rsyslog.conf", "module(load=\"imfile\")\n", "rsyslog"),
        ("fluent-bit.conf", "[INPUT]\n    Name tail\n", "fluent-bit"),
        (
            "pipeline.conf",
            "input {\n  file { path => \"/x\" }\n}\n",
            "logstash",
        ),
        ("td.conf", "<source>\n  @type tail\n</source>\n", "fluentd"),
    ] {
        let p = d.path().join(file);
        std::fs::write(&p, text_).unwrap();
        let o = drainguard()
            .args(["status", "--config"])
            .arg(&p)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{file}: {}", text(&o));
        assert!(
            err.contains(&format!("looks like a {looks} config"))
                && err.contains(&format!("--shipper {looks}")),
            "{file}: {err}"
        );
    }
}

/// A syslog-ng whose receiver stopped reading owes what sits in its TCP send queue: `status`
/// says so in numbers, naming the receiver, even though drainguard cannot read its files.
#[test]
fn a_syslog_ng_whose_receiver_stopped_owes_its_unacknowledged_bytes() {
    let Some(sng) = syslog_ng() else { return };
    let d = tempfile::tempdir().unwrap();
    let receiver = TcpListener::bind("127.0.0.1:0").unwrap(); // accepts, never reads
    let addr = receiver.local_addr().unwrap().to_string();
    let (proc, _conf) = start_syslog_ng(&sng, d.path(), &receiver);
    let status = || {
        drainguard()
            .args(["status", "--json", "--shipper-pid", &proc.pid().to_string()])
            .output()
            .unwrap()
    };
    let owed = eventually(Duration::from_secs(20), || {
        json(&status())["unacked_bytes"].as_u64() > Some(0)
    });
    let o = status();
    let j = json(&o);
    assert!(owed, "{j}");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(j["verdict"], "behind");
    assert_eq!(j["receivers"], serde_json::json!([addr]));
}

/// A process running Logstash (here a script standing in for it: the name and command line
/// are what count) is read through its command line: `-f` names the pipeline, whose file
/// input has no `sincedb_path`, and `--path.settings` the directory of the logstash.yml
/// whose `path.data` holds the default sincedb.
#[test]
fn a_logstash_process_is_read_through_its_path_settings_and_pipeline() {
    use drainguard::testkit::logstash as tk;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    std::fs::create_dir_all(p("settings")).unwrap();
    std::fs::create_dir_all(p("bin")).unwrap();
    let log = p("app.log");
    std::fs::write(&log, "hello\n").unwrap();
    std::fs::write(
        p("settings/logstash.yml"),
        format!("path.data: {}\napi.enabled: false\n", p("data").display()),
    )
    .unwrap();
    let pipeline = format!("input {{\n  file {{ path => \"{}\" }}\n}}\n", log.display());
    std::fs::write(p("pipeline.conf"), &pipeline).unwrap();
    let input = &drainguard::adapters::logstash::file_inputs(&pipeline)[0];
    let sincedb = p("data/plugins/inputs/file").join(input.default_sincedb_name());
    std::fs::create_dir_all(sincedb.parent().unwrap()).unwrap();
    let m = std::fs::metadata(&log).unwrap();
    let (major, minor) = tk::major_minor(m.dev());
    tk::write(
        &sincedb,
        &[tk::record(
            m.ino(),
            major,
            minor,
            6,
            Some(&log.to_string_lossy()),
        )],
    )
    .unwrap();
    let script = p("bin/logstash");
    std::fs::write(&script, "#!/bin/sh\nsleep 600\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let child = Command::new(&script)
        .arg("--path.settings")
        .arg(p("settings"))
        .arg("-f")
        .arg(p("pipeline.conf"))
        .spawn()
        .unwrap();
    let proc = Proc(child);
    assert!(eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{}/comm", proc.pid()))
            .is_ok_and(|c| c.trim() == "logstash")
    }));
    let o = drainguard()
        .args(["status", "--json", "--shipper-pid", &proc.pid().to_string()])
        .output()
        .unwrap();
    let j = json(&o);
    assert_eq!(j["shippers"][0]["shipper"], "logstash", "{j}");
    assert_eq!(
        j["shippers"][0]["store"],
        sincedb.to_string_lossy().as_ref(),
        "{j}"
    );
    assert_eq!(j["shippers"][0]["files"][0]["state"], "shipped", "{j}");
    // api.enabled: false in that logstash.yml: no API is asked, the verdict says why.
    assert_eq!(j["verdict"], "unconfirmed", "{j}");
}
