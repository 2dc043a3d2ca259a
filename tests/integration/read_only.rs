//! The read-only promise, proven with strace for every adapter: `status` and `wait` never
//! write, create, truncate, rename, remove or lock anything under the shipper's store
//! directories or its log directories, while a live writer (where the shipper has one: the
//! Fluent Bit WAL, memlog appends, rewritten checkpoints) keeps changing the store.
//! (rsyslog: tests/integration/rsyslog_real.rs, against a real rsyslogd; syslog-ng below,
//! against a real private syslog-ng.)

use crate::support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use drainguard::testkit::{self, filebeat as tk};
use support::drainguard;
use support::strace::{assert_read_only, assert_read_only_given, available};

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
        self.check_given(args, |_, _| true)
    }
    /// [`Host::check`] where `must_read(path, output)` says whether the run had to read the
    /// protected `path` (every path is still checked for changes).
    fn check_given(&self, args: &[&str], must_read: impl Fn(&Path, &Output) -> bool) {
        let protected = [self.store(), self.logs()];
        let protected: Vec<&Path> = protected.iter().map(PathBuf::as_path).collect();
        let mut status = drainguard();
        status.arg("status").args(args);
        let out = assert_read_only_given(&status, &protected, &must_read);
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
        let out = assert_read_only_given(&wait, &protected, &must_read);
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

/// `status` and `wait` for the live shipper `pid` (found through its command line), each
/// under strace: nothing under `protected` changes, and both run to a verdict.
fn check_live(pid: u32, protected: &[&Path]) {
    let pid = pid.to_string();
    let mut status = drainguard();
    status.args(["status", "--shipper-pid", &pid]);
    let o = assert_read_only(&status, protected);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
    let mut wait = drainguard();
    wait.args(["wait", "--shipper-pid", &pid]).args([
        "--interval",
        "100ms",
        "--deadline",
        "2s",
        "--quiet",
        "--no-log-file",
    ]);
    let o = assert_read_only(&wait, protected);
    assert!(matches!(o.status.code(), Some(0 | 3)), "{o:?}");
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

/// With filebeat.yml: its inputs (untracked files are looked for in the log directory) and
/// `queue.disk`, whose segments are listed, never touched.
#[test]
fn filebeat_memlog_with_inputs_and_a_disk_queue() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let dir = h.store().join("registry/filebeat");
    let mut w = tk::MemlogWriter::create(&dir).unwrap();
    std::fs::create_dir_all(h.store().join("diskqueue")).unwrap();
    std::fs::write(h.store().join("diskqueue/1.seg"), b"frames").unwrap();
    std::fs::write(h.logs().join("new.log"), b"untracked\n").unwrap();
    let cfg = h.d.path().join("filebeat.yml");
    std::fs::write(
        &cfg,
        format!(
            "path.data: {}\nqueue.disk:\n  max_size: 1GB\nfilebeat.inputs:\n  - type: log\n    paths: [\"{}/*.log\"]\n",
            h.store().display(),
            h.logs().display()
        ),
    )
    .unwrap();
    let (ino, dev) = h.ino_dev();
    let log = h.log();
    h.live(move |n| {
        let v = tk::log_value(s(&log), n % 14, ino, dev);
        w.set(&tk::log_key(ino, dev), v).unwrap();
    });
    h.check(&["--config", s(&cfg)]);
}

#[test]
fn filebeat_data_json_rewritten_by_rename() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let dir = h.store().join("registry/filebeat");
    let (ino, dev) = h.ino_dev();
    let log = h.log();
    tk::write_data_json(&dir, &[tk::legacy_state(s(&log), 4, ino, dev)]).unwrap();
    // Filebeat writes meta.json once, then replaces data.json by rename.
    let data_json = dir.join("data.json");
    h.live(move |n| {
        tk::write_legacy(&data_json, &[tk::legacy_state(s(&log), n % 14, ino, dev)]).unwrap();
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
            "[SERVICE]\n    storage.path {}\n[INPUT]\n    Name tail\n    Path {}/*.log\n    DB {}\n    storage.type filesystem\n",
            h.store().join("chunks").display(),
            h.logs().display(),
            db.display()
        ),
    )
    .unwrap();
    // A chunk Fluent Bit buffers on disk (listed, never opened for writing).
    std::fs::create_dir_all(h.store().join("chunks/tail.0")).unwrap();
    std::fs::write(h.store().join("chunks/tail.0/1-1764031111.flb"), b"chunk").unwrap();
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
fn vector_checkpoints_rewritten_by_rename_and_a_disk_buffer() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let (ino, dev) = h.ino_dev();
    let conf = h.d.path().join("vector.yaml");
    std::fs::write(
        &conf,
        format!(
            "data_dir: {}\nsources:\n  app:\n    type: file\n    include: [\"{}/*.log\"]\n    fingerprint:\n      strategy: device_and_inode\nsinks:\n  out:\n    type: http\n    inputs: [app]\n    acknowledgements:\n      enabled: true\n    buffer:\n      type: disk\n      max_size: 268435488\n",
            h.store().display(),
            h.logs().display()
        ),
    )
    .unwrap();
    // The sink's disk buffer: its ledger (and the lock file Vector holds) are read, never
    // locked.
    testkit::vector::write_ledger(&h.store().join("buffer/v2/out"), 4, 0, 0, 1).unwrap();
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

/// syslog-ng maps its persist file `MAP_SHARED` and updates it in place (and renames a new
/// one over it at every start): `status` and `wait`, asking its control socket meanwhile,
/// never write, create, rename, remove or lock anything in its directory or the log's. (A
/// writable shared mapping needs an `O_RDWR` open, which the trace catches.)
#[test]
fn syslog_ng_persist_file_mapped_and_updated_by_a_live_syslog_ng() {
    let Some(install) = support::syslog_ng::installed() else {
        return;
    };
    if !available() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("app.log");
    support::app_log(&log, 200_000);
    let sink = support::tcp_sink::TcpSink::start();
    sink.resume_slowly();
    let source = format!(
        "file(\"{}\" follow-freq(1) flags(no-parse));",
        log.display()
    );
    let sng = support::syslog_ng::SyslogNg::start(
        &install,
        state.path(),
        &support::syslog_ng::tcp_config(&source, &sink.addr, true),
    );
    check_live(sng.pid(), &[state.path(), logs.path()]);
}

/// The awslogs agent's state file, committed in rollback-journal mode (a `-journal` comes and
/// goes with every save) by a live writer in the agent's exact format.
#[test]
fn awslogs_state_file_committed_by_a_live_writer() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let db = h.store().join("agent-state");
    let conf = h.d.path().join("awslogs.conf");
    std::fs::write(
        &conf,
        format!(
            "[general]\nstate_file = {}\n[app]\nfile = {}/*.log\nlog_group_name = g\n\
             log_stream_name = s\n",
            db.display(),
            h.logs().display()
        ),
    )
    .unwrap();
    let c = testkit::awslogs::create(&db).unwrap();
    let id = testkit::awslogs::source_id("app", b"one\n");
    testkit::awslogs::stream(&c, "app", &id, 0).unwrap();
    h.live(move |n| {
        testkit::awslogs::push(&c, &id, n % 4, 4 + n % 10).unwrap();
    });
    h.check(&["--shipper", "awslogs", "--config", s(&conf)]);
}

/// The real agent (awscli-cwlogs) shipping to a private moto_server: its state file, its
/// tailed log and its own log are never written, locked or renamed by drainguard.
#[test]
fn awslogs_state_file_of_a_live_real_agent() {
    let Some(venv) = support::awslogs::installed() else {
        return;
    };
    if !available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app.log");
    support::app_log(&app, 5000);
    let moto = support::awslogs::Moto::start(&venv, d.path());
    let agent = support::awslogs::Agent::start(&venv, d.path(), &moto, &app.to_string_lossy());
    assert!(support::eventually(
        std::time::Duration::from_secs(60),
        || agent.published() > 0
    ));
    check_live(agent.pid(), &[d.path()]);
}

/// The CloudWatch agent rewrites each state file in place (truncate + write, no rename) every
/// 100 ms; the writer here also leaves it cut now and then.
#[test]
fn cloudwatch_state_files_rewritten_in_place() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let state = h.store().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let log = s(&h.log()).to_string();
    let log_path = log.clone();
    let conf = h.d.path().join("amazon-cloudwatch-agent.toml");
    let agent_log = h.d.path().join("agent.log");
    std::fs::write(&agent_log, "I! started\n").unwrap();
    let glob = format!("{}/*.log", s(&h.logs()));
    std::fs::write(
        &conf,
        testkit::cloudwatch::toml(&state, &agent_log, &[(glob.as_str(), false)]),
    )
    .unwrap();
    testkit::cloudwatch::write(&state, &log, &testkit::cloudwatch::single(4, &log)).unwrap();
    let st = state.clone();
    h.live(move |n| {
        let full = testkit::cloudwatch::single(n % 15, &log);
        let cut = if n % 3 == 0 {
            full.len() / 2
        } else {
            full.len()
        };
        testkit::cloudwatch::write_torn(&st, &log, &full, cut).unwrap();
    });
    h.check(&["--shipper", "amazon-cloudwatch-agent", "--config", s(&conf)]);
    // Given only the state folder, the log directory is known only from a state file: when
    // every read of it was torn (the report has no row for the log and says so), no cursor
    // names the log and the run has nothing to read there. It must read it whenever the
    // report has the log's row; changes are checked under both directories either way.
    let row = format!(" {log_path}");
    let logs = h.logs();
    h.check_given(
        &[
            "--shipper",
            "amazon-cloudwatch-agent",
            "--registry",
            s(&state),
        ],
        move |p: &Path, out: &Output| {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let has_row = stdout.lines().any(|l| l.ends_with(row.as_str()));
            if p != logs.as_path() || has_row {
                return true;
            }
            assert!(
                stdout.contains("reads (the agent rewrites it in place"),
                "no row for the log and no torn state file: {stdout}"
            );
            false
        },
    );
}

/// The Datadog Agent rewrites registry.json every second, by rename by default and in place
/// with `atomic_registry_write: false`; the writer alternates.
#[test]
fn datadog_registry_rewritten_by_rename_and_in_place() {
    if !available() {
        return;
    }
    let mut h = Host::new();
    let run = h.store().join("run");
    let confd = h.d.path().join("conf.d");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::create_dir_all(confd.join("app.d")).unwrap();
    let log = s(&h.log()).to_string();
    let cfg = h.d.path().join("datadog.yaml");
    let agent_log = h.d.path().join("agent.log");
    std::fs::write(&agent_log, "").unwrap();
    std::fs::write(
        &cfg,
        testkit::datadog::main_config(&run, &confd, &agent_log, true),
    )
    .unwrap();
    std::fs::write(
        confd.join("app.d/conf.yaml"),
        testkit::datadog::integration(&[&format!("{}/*.log", s(&h.logs()))]),
    )
    .unwrap();
    let content = std::fs::read(h.log()).unwrap();
    let fp = testkit::datadog::byte_fingerprint(&content, 8, 0);
    let json = move |n: u64| {
        let e = testkit::datadog::Entry::new(&log, n % 15).with_fingerprint(fp);
        testkit::datadog::registry(&[e], &[("journald:x", "s=1")])
    };
    testkit::datadog::write(&run, &json(4)).unwrap();
    let r = run.clone();
    h.live(move |n| {
        if n % 2 == 0 {
            testkit::datadog::write(&r, &json(n)).unwrap();
        } else {
            let j = json(n);
            testkit::datadog::write_torn(&r, &j, j.len()).unwrap();
        }
    });
    h.check(&["--shipper", "datadog-agent", "--config", s(&cfg)]);
}

/// The OpenTelemetry Collector's file_storage file, committed to over and over by the real
/// bbolt library (which holds its exclusive flock, as the collector does): drainguard reads
/// it without a lock, a mapping or a write.
#[test]
fn otelcol_file_storage_committed_to_by_a_live_bbolt_writer() {
    let Some(w) = support::otel::writer() else {
        return;
    };
    if !available() {
        return;
    }
    let h = Host::new();
    let dir = h.store().join("file_storage");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("receiver_filelog_");
    support::otel::write(&w, &db, &[(&h.log(), 4)]);
    let cfg = h.d.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "receivers:\n  filelog:\n    include: [{}/*.log]\n    storage: file_storage\n\
             extensions:\n  file_storage:\n    directory: {}\n\
             service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:1\n  pipelines:\n    \
             logs:\n      receivers: [filelog]\n      exporters: [otlp]\n",
            s(&h.logs()),
            s(&dir)
        ),
    )
    .unwrap();
    let mut live = support::otel::live(&w, &db, 1_000_000, &[&h.log()]);
    h.check(&["--shipper", "otelcol", "--config", s(&cfg)]);
    let _ = live.kill();
    let _ = live.wait();
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
        let doc = support::json(&c.output().unwrap());
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

/// The in-memory image is consistent while Fluent Bit writes and checkpoints: every one of
/// many reads succeeds (no torn page, no "malformed" DB), sees whole transactions only, and
/// offsets never go back, since the writer only ever raises them. (This cannot force a
/// checkpoint into the instant between reading the main file and the WAL; the before/after
/// version check in src/adapters/fluentbit/image.rs covers that case.)
#[test]
fn fluentbit_reads_stay_consistent_under_a_live_writer_that_checkpoints() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("tail.db");
    let w = testkit::fluentbit::create(&db, true).unwrap();
    // Many rows, so that pages of the main file change on every checkpoint.
    let ids: Vec<i64> = (0..200)
        .map(|i| testkit::fluentbit::insert(&w, &format!("/l/{i}.log"), 0, 1000 + i).unwrap())
        .collect();
    // A main file of some MB, so that a copy takes long enough for checkpoints to land in it.
    w.execute_batch(
        "CREATE TABLE pad (b BLOB); \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) \
         INSERT INTO pad SELECT randomblob(4000) FROM n;",
    )
    .unwrap();
    testkit::fluentbit::checkpoint(&w).unwrap();
    w.pragma_update(None, "wal_autocheckpoint", 10).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 1u64;
            while !stop.load(Ordering::SeqCst) {
                w.execute_batch("BEGIN").unwrap();
                for id in &ids {
                    testkit::fluentbit::update_offset(&w, *id, n).unwrap();
                }
                w.execute_batch("COMMIT").unwrap();
                n += 1;
                // Fluent Bit commits at most about once per event loop turn.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            n
        })
    };
    let mut last = 0u64;
    for _ in 0..200 {
        let s = drainguard::adapters::fluentbit::read_db(&db).unwrap();
        assert_eq!(s.cursors.len(), 200);
        let offsets: Vec<u64> = s.cursors.iter().map(|c| c.offset).collect();
        // One transaction sets every row: a consistent read sees one value everywhere.
        assert!(offsets.iter().all(|&o| o == offsets[0]), "{offsets:?}");
        assert!(
            offsets[0] >= last,
            "went back from {last} to {}",
            offsets[0]
        );
        last = offsets[0];
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().unwrap();
    assert!(
        last > 1 && written > 2,
        "the writer ran meanwhile: {last} of {written}"
    );
}

/// Reading a Fluent Bit DB writes nothing anywhere, not even a temp file: with no temp dir at
/// all, the rows that only the -wal holds are seen, and the trace of the whole run (every path
/// on the host protected) shows no write, create, rename, unlink or lock.
#[test]
fn fluentbit_wal_rows_are_read_without_writing_anything_anywhere() {
    if !available() {
        return;
    }
    let h = Host::new();
    let db = h.store().join("tail.db");
    let (ino, _) = h.ino_dev();
    let w = testkit::fluentbit::create(&db, false).unwrap();
    let id = testkit::fluentbit::insert(&w, s(&h.log()), 4, ino).unwrap();
    testkit::fluentbit::checkpoint(&w).unwrap();
    // Only in the -wal from here on.
    testkit::fluentbit::update_offset(&w, id, 8).unwrap();
    let mut status = drainguard();
    status
        .env("TMPDIR", h.d.path().join("no-such-dir"))
        .args(["status", "--json", "--shipper", "fluent-bit", "--registry"])
        .arg(&db);
    let out = assert_read_only(&status, &[Path::new("/")]);
    let doc = support::json(&out);
    let store = &doc["shippers"][0];
    assert_eq!(store["files"][0]["offset"].as_u64(), Some(8), "{doc}");
    drop(w);
}
