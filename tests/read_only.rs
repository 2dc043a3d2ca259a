//! The read-only promise, proven with strace for every adapter: `status` and `wait` never
//! write, create, truncate, rename, remove or lock anything under the shipper's store
//! directories or its log directories, while a live writer (where the shipper has one: the
//! Fluent Bit WAL, memlog appends, rewritten checkpoints) keeps changing the store.
//! (rsyslog: tests/rsyslog_real.rs, against a real rsyslogd.)

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use drainguard::testkit::{self, filebeat as tk};
use support::drainguard;
use support::strace::{assert_read_only, available};

/// A host: a store directory, a log directory with one log, and the writer thread.
struct Host {
    d: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
}

impl Host {
    fn new() -> Host {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("store")).unwrap();
        std::fs::create_dir_all(d.path().join("logs")).unwrap();
        std::fs::write(d.path().join("logs/app.log"), "one\ntwo\nthree\n").unwrap();
        Host {
            d,
            stop: Arc::new(AtomicBool::new(false)),
            writer: None,
        }
    }
    fn store(&self) -> PathBuf {
        self.d.path().join("store")
    }
    fn logs(&self) -> PathBuf {
        self.d.path().join("logs")
    }
    fn log(&self) -> PathBuf {
        self.logs().join("app.log")
    }
    fn ino_dev(&self) -> (u64, u64) {
        let m = std::fs::metadata(self.log()).unwrap();
        (m.ino(), m.dev())
    }
    /// Runs `step(n)` in a loop (n = 0, 1, ...) until the host is dropped.
    fn live(&mut self, mut step: impl FnMut(u64) + Send + 'static) {
        let stop = self.stop.clone();
        self.writer = Some(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                step(n);
                n += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }));
    }
    /// `status` and `wait` with `args`, each under strace: nothing of the shipper's changes.
    fn check(&self, args: &[&str]) {
        let protected = [self.store(), self.logs()];
        let protected: Vec<&Path> = protected.iter().map(PathBuf::as_path).collect();
        let mut status = drainguard();
        status.arg("status").args(args);
        let out = assert_read_only(&status, &protected);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "status ran: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut wait = drainguard();
        wait.args(["wait", "--no-log-file", "--quiet", "--interval", "50ms"])
            .args(["--deadline", "1500ms"])
            .args(["--shipper-pid", &std::process::id().to_string()])
            .args(args);
        let out = assert_read_only(&wait, &protected);
        assert!(
            matches!(out.status.code(), Some(0 | 2 | 3)),
            "wait ran: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn filebeat_memlog_with_a_live_appender_and_checkpoints() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let dir = h.store().join("registry/filebeat");
    let mut w = tk::MemlogWriter::create(&dir).unwrap();
    // Checkpoint (rename in, old one deleted, log.json truncated) every 2 KB of ops.
    w.checkpoint_size = 2048;
    let (ino, dev) = h.ino_dev();
    let log = h.log();
    h.live(move |n| {
        let v = tk::log_value(s(&log), n % 14, ino, dev);
        w.set(&tk::log_key(ino, dev), v).unwrap();
    });
    let data = h.store();
    h.check(&["--data-path", s(&data)]);
}

#[test]
fn filebeat_legacy_registry_rewritten_by_rename() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let reg = h.store().join("registry");
    let (ino, dev) = h.ino_dev();
    let log = h.log();
    tk::write_legacy(&reg, &[tk::legacy_state(s(&log), 4, ino, dev)]).unwrap();
    h.live(move |n| {
        tk::write_legacy(&reg, &[tk::legacy_state(s(&log), n % 14, ino, dev)]).unwrap();
    });
    let data = h.store();
    h.check(&["--data-path", s(&data)]);
}

/// Fluent Bit keeps its DB open in WAL mode and updates offsets continuously: the rows live
/// in the -wal, and no -shm may be created, no lock taken, nothing written beside it.
#[test]
fn fluentbit_wal_db_with_a_live_writer() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let db = h.store().join("tail.db");
    let (ino, _) = h.ino_dev();
    let log = h.log();
    let conf = h.d.path().join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[INPUT]\n    Name tail\n    Path {}/*.log\n    DB {}\n",
            h.logs().display(),
            db.display()
        ),
    )
    .unwrap();
    let w = testkit::fluentbit::create(&db, true).unwrap();
    let id = testkit::fluentbit::insert(&w, s(&log), 4, ino).unwrap();
    // Fluent Bit's own checkpoints: the main file changes too, now and then.
    w.pragma_update(None, "wal_autocheckpoint", 20).unwrap();
    h.live(move |n| {
        testkit::fluentbit::update_offset(&w, id, n % 14).unwrap();
    });
    assert!(Path::new(&format!("{}-wal", db.display())).exists());
    h.check(&["--shipper", "fluent-bit", "--config", s(&conf)]);
}

#[test]
fn vector_checkpoints_rewritten_by_rename() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let (ino, dev) = h.ino_dev();
    let conf = h.d.path().join("vector.yaml");
    std::fs::write(
        &conf,
        format!(
            "data_dir: {}\nsources:\n  app:\n    type: file\n    include: [\"{}/*.log\"]\n    fingerprint:\n      strategy: device_and_inode\n",
            h.store().display(),
            h.logs().display()
        ),
    )
    .unwrap();
    let dir = h.store().join("app");
    let doc =
        move |pos| testkit::vector::document(&[(testkit::vector::Fp::DevInode(dev, ino), pos)]);
    testkit::vector::write(&dir, &doc(4)).unwrap();
    h.live(move |n| testkit::vector::write(&dir, &doc(n % 14)).unwrap());
    h.check(&["--shipper", "vector", "--config", s(&conf)]);
}

#[test]
fn promtail_and_alloy_positions_rewritten_by_rename() {
    if !available() {
        return;
    }
    for shipper in ["promtail", "alloy"] {
        let mut h = Host::new();
        let pos = h.store().join("positions.yaml");
        let log = h.log();
        let text = move |n: u64| match shipper {
            "promtail" => testkit::promtail::promtail(&[(s(&log), &(n % 14).to_string())]),
            _ => testkit::promtail::alloy(&[(s(&log), "{job=\"app\"}", n % 14)]),
        };
        testkit::promtail::write(&pos, &text(4)).unwrap();
        let p = pos.clone();
        h.live(move |n| testkit::promtail::write(&p, &text(n)).unwrap());
        h.check(&["--shipper", shipper, "--registry", s(&pos)]);
    }
}

/// Fluentd updates its pos_file in place (a 16-digit hex field) and appends new entries.
#[test]
fn fluentd_pos_file_updated_in_place() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let pos = h.store().join("app.pos");
    let (ino, _) = h.ino_dev();
    let log = h.log();
    let conf = h.d.path().join("fluentd.conf");
    std::fs::write(
        &conf,
        format!(
            "<source>\n  @type tail\n  path {}\n  pos_file {}\n  tag app\n</source>\n",
            log.display(),
            pos.display()
        ),
    )
    .unwrap();
    let at = testkit::fluentd::append(&pos, s(&log), 4, ino).unwrap();
    let len = s(&log).len();
    h.live(move |n| testkit::fluentd::update_pos(&pos, at, len, n % 14).unwrap());
    h.check(&["--shipper", "fluentd", "--config", s(&conf)]);
}

#[test]
fn logstash_sincedb_rewritten_by_rename() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let sincedb = h.store().join("sincedb");
    let (ino, dev) = h.ino_dev();
    let (maj, min) = testkit::logstash::major_minor(dev);
    let log = h.log();
    let conf = h.d.path().join("app.conf");
    std::fs::write(
        &conf,
        format!(
            "input {{\n  file {{\n    path => \"{}/*.log\"\n    sincedb_path => \"{}\"\n  }}\n}}\n",
            h.logs().display(),
            sincedb.display()
        ),
    )
    .unwrap();
    let record = move |pos| testkit::logstash::record(ino, maj, min, pos, Some(s(&log)));
    testkit::logstash::write(&sincedb, &[record(4)]).unwrap();
    h.live(move |n| testkit::logstash::write(&sincedb, &[record(n % 14)]).unwrap());
    let data = h.d.path().join("ls-data");
    h.check(&[
        "--shipper",
        "logstash",
        "--config",
        s(&conf),
        "--data-path",
        s(&data),
    ]);
}

/// The checker itself: a command that does write under a protected directory is caught (a
/// check that cannot fail proves nothing).
#[test]
fn the_checker_catches_a_write_a_lock_and_a_rename() {
    if !available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a"), "x").unwrap();
    for script in [
        "echo y >> a",
        "mv a b",
        "rm a",
        "flock a true",
        "touch c",
        "python3 -c 'import fcntl; f=open(\"a\"); fcntl.lockf(f, fcntl.LOCK_SH)'",
    ] {
        std::fs::write(d.path().join("a"), "x").unwrap();
        let mut c = Command::new("sh");
        c.args(["-c", script]).current_dir(d.path());
        let t = support::strace::run(&c, &[d.path()]);
        assert!(!t.violations.is_empty(), "{script}: not caught");
        let _ = std::fs::remove_file(d.path().join("b"));
        let _ = std::fs::remove_file(d.path().join("c"));
    }
    let mut c = Command::new("cat");
    c.arg(d.path().join("a"));
    let t = support::strace::run(&c, &[d.path()]);
    assert!(t.violations.is_empty(), "{:?}", t.violations);
    assert!(!t.touched.is_empty());
}

/// `sh -c` script that makes `dir` a read-only bind mount in a private mount namespace and
/// runs the command after it; None when this host cannot (not root, no unshare).
fn read_only_mount(dir: &Path, cmd: &Command) -> Option<Command> {
    let probe = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind / /mnt 2>/dev/null || mount -t tmpfs t /mnt",
        ])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "unshare -m with mount is needed for the read-only directory test (root, util-linux)"
        );
        eprintln!("SKIPPED: cannot make a private read-only mount here");
        return None;
    }
    let mut c = Command::new("unshare");
    c.args([
        "-m",
        "sh",
        "-c",
        r#"d="$1"; shift; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" && exec "$@""#,
        "sh",
    ])
    .arg(dir)
    .arg(cmd.get_program())
    .args(cmd.get_args());
    Some(c)
}

/// A Fluent Bit DB in a directory drainguard cannot write (a read-only mount, which stops
/// root too): read all the same, the WAL's rows included, both while the writer is live
/// (its -shm exists) and after it crashed (a -wal without -shm, which SQLite itself could
/// only read by creating the -shm).
#[test]
fn fluentbit_db_in_a_read_only_directory_is_read() {
    let h = Host::new();
    let (ino, _) = h.ino_dev();
    let db = h.store().join("tail.db");
    let w = testkit::fluentbit::create(&db, false).unwrap();
    let id = testkit::fluentbit::insert(&w, s(&h.log()), 0, ino).unwrap();
    testkit::fluentbit::update_offset(&w, id, 8).unwrap();
    let crashed = h.d.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    std::fs::copy(&db, crashed.join("tail.db")).unwrap();
    std::fs::copy(format!("{}-wal", db.display()), crashed.join("tail.db-wal")).unwrap();
    for (dir, db) in [
        (h.store(), db.clone()),
        (crashed.clone(), crashed.join("tail.db")),
    ] {
        let mut status = drainguard();
        status
            .args(["status", "--json", "--shipper", "fluent-bit", "--registry"])
            .arg(&db);
        let Some(mut c) = read_only_mount(&dir, &status) else {
            return;
        };
        let o = c.output().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        assert_eq!(
            doc["shippers"][0]["files"][0]["offset"].as_u64(),
            Some(8),
            "{}: {doc}",
            dir.display()
        );
        assert!(
            !Path::new(&format!("{}-shm", db.display())).exists() || dir == h.store(),
            "no -shm created beside the crashed DB"
        );
    }
    drop(w);
}
