//! Hostile hosts, read side: a FIFO, a directory, `/dev/zero` or a huge file where drainguard
//! expects a store, a config, its settings or a unit file. Every case runs the real binary
//! under a hard time limit: it must end on its own with a clear error naming the path and what
//! it is, never block (a FIFO's `open()` waits for a writer forever) nor read without bound.
//! The limits are bounds against hangs, not performance figures.

use crate::support;

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use drainguard::testkit;
use support::drainguard;

/// Far above a normal run of the debug binary, far below "forever".
const HARD_LIMIT: Duration = Duration::from_secs(30);

struct Run {
    code: Option<i32>,
    /// stdout then stderr.
    out: String,
    stdout: String,
    /// From the start, or from the SIGTERM when one was sent, to the exit.
    took: Duration,
    /// The child's peak resident set, in KiB (wait4's ru_maxrss).
    max_rss_kib: i64,
}

/// Runs `cmd` to its end, killing it (and failing the test) at `limit`. The child is reaped
/// with `wait4` (for its peak RSS), not `Child::wait`.
fn run_bounded(cmd: Command, limit: Duration) -> Run {
    run_signalled(cmd, limit, None)
}

/// [`run_bounded`], sending SIGTERM `sigterm_after` the start. Returns the run and the time
/// from the signal (else the start) to the exit.
#[allow(clippy::zombie_processes)]
fn run_signalled(mut cmd: Command, limit: Duration, sigterm_after: Option<Duration>) -> Run {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (stdout, stderr) = (child.stdout.unwrap(), child.stderr.unwrap());
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let (o, e) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let t0 = Instant::now();
    let mut signalled: Option<Instant> = None;
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        if signalled.is_none() && sigterm_after.is_some_and(|a| t0.elapsed() >= a) {
            unsafe { libc::kill(pid, libc::SIGTERM) };
            signalled = Some(Instant::now());
        }
        if t0.elapsed() > limit {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            panic!(
                "drainguard did not end within {limit:?}: hung\n{}{}",
                o.join().unwrap(),
                e.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = std::process::ExitStatus::from_raw(status);
    let stdout = o.join().unwrap();
    Run {
        code: st.code(),
        out: format!("{stdout}{}", e.join().unwrap()),
        stdout,
        took: signalled.unwrap_or(t0).elapsed(),
        max_rss_kib: ru.ru_maxrss,
    }
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {p:?}"
    );
}

fn status(args: &[&std::ffi::OsStr]) -> Run {
    let mut c = drainguard();
    c.arg("status").args(args);
    run_bounded(c, HARD_LIMIT)
}

/// The run failed on its own, naming `path` and a FIFO.
fn assert_refused_fifo(r: &Run, path: &Path) {
    assert!(
        r.code.is_some_and(|c| c != 0),
        "exit {:?}: {}",
        r.code,
        r.out
    );
    assert!(r.out.contains("FIFO"), "says what it is: {}", r.out);
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(r.out.contains(&*name), "names {name}: {}", r.out);
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let h = Host {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(h.p("logs")).unwrap();
        std::fs::write(h.p("logs/app.log"), "one\ntwo\n").unwrap();
        h
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.p(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
    fn fifo(&self, rel: &str) -> PathBuf {
        let p = self.p(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        mkfifo(&p);
        p
    }
    fn logs(&self) -> String {
        self.p("logs").display().to_string()
    }
    /// `status --shipper <kind> --config <conf>`.
    fn status(&self, kind: &str, conf: &Path) -> Run {
        status(&[os("--shipper"), os(kind), os("--config"), conf.as_os_str()])
    }
}

#[test]
fn a_fifo_as_any_shippers_config_is_refused() {
    for kind in [
        "filebeat",
        "fluent-bit",
        "vector",
        "promtail",
        "fluentd",
        "rsyslog",
        "logstash",
        "syslog-ng",
        "awslogs",
    ] {
        let h = Host::new();
        let conf = h.fifo(&format!("{kind}.conf"));
        let r = h.status(kind, &conf);
        assert_refused_fifo(&r, &conf);
    }
}

#[test]
fn a_fifo_as_the_filebeat_memlog_checkpoint_or_log_is_refused() {
    for fifo in ["3.json", "log.json"] {
        let h = Host::new();
        let reg = h.p("data/registry/filebeat");
        std::fs::create_dir_all(&reg).unwrap();
        std::fs::write(reg.join("meta.json"), r#"{"version":"1"}"#).unwrap();
        if fifo == "log.json" {
            testkit::filebeat::write_checkpoint(&reg, 3, std::iter::empty()).unwrap();
        }
        let p = reg.join(fifo);
        mkfifo(&p);
        let r = status(&[
            os("--shipper"),
            os("filebeat"),
            os("--data-path"),
            h.p("data").as_os_str(),
        ]);
        assert_refused_fifo(&r, &p);
    }
}

#[test]
fn a_fifo_as_the_fluentbit_db_is_refused() {
    let h = Host::new();
    let db = h.fifo("tail.db");
    let conf = h.write(
        "fluent-bit.conf",
        &format!(
            "[INPUT]\n    Name tail\n    Path {}/*.log\n    DB {}\n",
            h.logs(),
            db.display()
        ),
    );
    assert_refused_fifo(&h.status("fluent-bit", &conf), &db);
}

/// A FIFO as the awslogs state file is refused; one matching a section's glob (in the
/// tailed file's place) is never opened, so the fingerprint never waits on it.
#[test]
fn a_fifo_as_the_awslogs_state_file_is_refused_and_one_as_a_tailed_file_skipped() {
    let h = Host::new();
    let db = h.fifo("agent-state");
    let conf = h.write(
        "awslogs.conf",
        &format!(
            "[general]\nstate_file = {}\n[app]\nfile = {}/*\n",
            db.display(),
            h.logs()
        ),
    );
    h.fifo("logs/zz-fifo");
    assert_refused_fifo(&h.status("awslogs", &conf), &db);
    std::fs::remove_file(&db).unwrap();
    let r = h.status("awslogs", &conf);
    assert!(r.out.contains("app.log"), "{}", r.out);
}

#[test]
fn a_fifo_as_vector_checkpoints_is_refused_and_a_stray_new_one_ignored() {
    let h = Host::new();
    let conf = h.write(
        "vector.yaml",
        &format!(
            "data_dir: {}\nsources:\n  app:\n    type: file\n    include: [\"{}/*.log\"]\n",
            h.p("data").display(),
            h.logs()
        ),
    );
    let cp = h.fifo("data/app/checkpoints.json");
    assert_refused_fifo(&h.status("vector", &conf), &cp);

    // A FIFO as checkpoints.new.json (Vector's interrupted write) is noted, not waited on.
    std::fs::remove_file(&cp).unwrap();
    let m = std::fs::metadata(h.p("logs/app.log")).unwrap();
    testkit::vector::write(
        &h.p("data/app"),
        &testkit::vector::document(&[(testkit::vector::Fp::DevInode(m.dev(), m.ino()), 8)]),
    )
    .unwrap();
    h.fifo("data/app/checkpoints.new.json");
    let r = h.status("vector", &conf);
    assert!(r.code.is_some(), "{}", r.out);
    assert!(
        !r.out.contains("cannot read"),
        "the real checkpoints are read: {}",
        r.out
    );
}

#[test]
fn a_fifo_as_the_promtail_positions_file_is_refused() {
    let h = Host::new();
    let pos = h.fifo("positions.yaml");
    let conf = h.write(
        "promtail.yml",
        &format!(
            "positions:\n  filename: {}\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - labels:\n          __path__: {}/*.log\n",
            pos.display(),
            h.logs()
        ),
    );
    assert_refused_fifo(&h.status("promtail", &conf), &pos);
}

#[test]
fn a_fifo_as_the_fluentd_pos_file_is_refused() {
    let h = Host::new();
    let pos = h.fifo("app.pos");
    let conf = h.write(
        "fluentd.conf",
        &format!(
            "<source>\n  @type tail\n  path {}/*.log\n  pos_file {}\n</source>\n",
            h.logs(),
            pos.display()
        ),
    );
    assert_refused_fifo(&h.status("fluentd", &conf), &pos);
}

#[test]
fn a_fifo_as_the_otelcol_config_or_file_storage_file_is_refused() {
    let h = Host::new();
    let conf = h.fifo("otelcol.yaml");
    assert_refused_fifo(&h.status("otelcol", &conf), &conf);
    let h = Host::new();
    let db = h.fifo("fs/receiver_filelog_");
    let conf = h.write(
        "config.yaml",
        &format!(
            "receivers:\n  filelog:\n    include: [{}/*.log]\n    storage: file_storage\n\
             extensions:\n  file_storage:\n    directory: {}\n",
            h.logs(),
            db.parent().unwrap().display()
        ),
    );
    assert_refused_fifo(&h.status("otelcol", &conf), &db);
}

#[test]
fn a_fifo_as_an_rsyslog_state_file_or_impstats_log_is_refused() {
    let h = Host::new();
    let work = h.p("spool");
    std::fs::create_dir(&work).unwrap();
    let stats = h.p("stats.log");
    let conf = h.write(
        "rsyslog.conf",
        &format!(
            "global(workDirectory=\"{}\")\nmodule(load=\"imfile\")\nmodule(load=\"impstats\" interval=\"1\" format=\"json\" log.file=\"{}\" log.syslog=\"off\")\ninput(type=\"imfile\" File=\"{}/*.log\" Tag=\"app\")\n",
            work.display(),
            stats.display(),
            h.logs()
        ),
    );
    let state = work.join("imfile-state:123:abc");
    mkfifo(&state);
    assert_refused_fifo(&h.status("rsyslog", &conf), &state);

    std::fs::remove_file(&state).unwrap();
    mkfifo(&stats);
    assert_refused_fifo(&h.status("rsyslog", &conf), &stats);
}

#[test]
fn a_fifo_as_the_syslog_ng_persist_file_or_an_include_is_refused() {
    let h = Host::new();
    let inc = h.p("conf.d");
    std::fs::create_dir(&inc).unwrap();
    let conf = h.write(
        "syslog-ng.conf",
        &format!(
            "@version: 3.38\n@include \"{}\"\nsource s {{ file(\"{}/app.log\"); }};\n\
             log {{ source(s); destination(d); }};\n",
            inc.display(),
            h.logs()
        ),
    );
    let persist = h.fifo("syslog-ng.persist");
    let r = status(&[
        os("--shipper"),
        os("syslog-ng"),
        os("--config"),
        conf.as_os_str(),
        os("--registry"),
        persist.as_os_str(),
    ]);
    assert_refused_fifo(&r, &persist);
    std::fs::remove_file(&persist).unwrap();
    let included = inc.join("more.conf");
    mkfifo(&included);
    assert_refused_fifo(&h.status("syslog-ng", &conf), &included);
}

#[test]
fn a_fifo_as_a_logstash_sincedb_or_pipeline_is_refused() {
    let h = Host::new();
    let sdb = h.fifo("sincedb");
    let conf = h.write(
        "pipeline.conf",
        &format!(
            "input {{ file {{ path => \"{}/*.log\" sincedb_path => \"{}\" }} }}\n",
            h.logs(),
            sdb.display()
        ),
    );
    let r = status(&[
        os("--shipper"),
        os("logstash"),
        os("--config"),
        conf.as_os_str(),
        os("--data-path"),
        h.p("ls").as_os_str(),
    ]);
    assert_refused_fifo(&r, &sdb);
}

#[test]
fn a_fifo_as_the_settings_file_is_refused() {
    let h = Host::new();
    let settings = h.fifo("drainguard.toml");
    let mut c = Command::new(env!("CARGO_BIN_EXE_drainguard"));
    c.arg("--settings").arg(&settings).arg("check");
    let r = run_bounded(c, HARD_LIMIT);
    assert_refused_fifo(&r, &settings);
}

#[test]
fn doctor_skips_a_fifo_drop_in_and_system_conf_with_a_warning() {
    let h = Host::new();
    let root = h.p("root");
    let unit = root.join("etc/systemd/system/drainguard.service");
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    std::fs::write(&unit, "[Service]\nExecStop=/usr/bin/drainguard wait\n").unwrap();
    std::fs::create_dir_all(root.join("etc/systemd/system/drainguard.service.d")).unwrap();
    mkfifo(&root.join("etc/systemd/system/drainguard.service.d/override.conf"));
    mkfifo(&root.join("etc/systemd/system.conf"));
    let mut c = drainguard();
    c.arg("--root").arg(&root).arg("doctor");
    let r = run_bounded(c, HARD_LIMIT);
    assert!(r.code.is_some(), "{}", r.out);
    assert!(
        r.out.contains("override.conf"),
        "names the drop-in: {}",
        r.out
    );
    assert!(
        r.out.contains("system.conf"),
        "names system.conf: {}",
        r.out
    );
    assert!(r.out.contains("FIFO"), "{}", r.out);
}

#[test]
fn dev_zero_and_a_huge_store_are_refused_with_bounded_memory() {
    let h = Host::new();
    // /dev/zero as the positions file: a character device, refused before any read.
    let conf = h.write(
        "promtail.yml",
        &format!(
            "positions:\n  filename: /dev/zero\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - labels:\n          __path__: {}/*.log\n",
            h.logs()
        ),
    );
    let r = h.status("promtail", &conf);
    assert!(r.code.is_some_and(|c| c != 0), "{}", r.out);
    assert!(r.out.contains("character device"), "{}", r.out);

    // A 2 GiB (sparse) pos_file: over the store limit, refused before it is read.
    let pos = h.p("app.pos");
    std::fs::File::create(&pos)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let conf = h.write(
        "fluentd.conf",
        &format!(
            "<source>\n  @type tail\n  path {}/*.log\n  pos_file {}\n</source>\n",
            h.logs(),
            pos.display()
        ),
    );
    let r = h.status("fluentd", &conf);
    assert!(r.code.is_some_and(|c| c != 0), "{}", r.out);
    assert!(r.out.contains("larger than 1.0 GiB"), "{}", r.out);
    // Far below the 2 GiB a whole read would take.
    assert!(r.max_rss_kib < 256 * 1024, "peak RSS {} KiB", r.max_rss_kib);
}

#[test]
fn deeply_nested_configs_and_stores_are_refused_before_parsing() {
    let deep = "[".repeat(200_000);
    let h = Host::new();
    for (kind, name) in [
        ("filebeat", "filebeat.yml"),
        ("vector", "vector.yaml"),
        ("promtail", "promtail.yml"),
    ] {
        let conf = h.write(name, &format!("a: {deep}\n"));
        let r = h.status(kind, &conf);
        assert!(r.code.is_some_and(|c| c != 0), "{kind}: {}", r.out);
        assert!(
            r.out.contains("nested deeper than 128"),
            "{kind}: {}",
            r.out
        );
    }
    let pos = h.write("positions.yaml", &format!("positions: {deep}\n"));
    let conf = h.write(
        "promtail.yml",
        &format!(
            "positions:\n  filename: {}\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - labels:\n          __path__: {}/*.log\n",
            pos.display(),
            h.logs()
        ),
    );
    let r = h.status("promtail", &conf);
    assert!(r.out.contains("nested deeper than 128"), "{}", r.out);
}

#[test]
fn a_fingerprint_window_near_u64_max_is_no_panic() {
    let h = Host::new();
    let conf = h.write(
        "filebeat.yml",
        &format!(
            "filebeat.inputs:\n  - type: filestream\n    id: app\n    paths: [\"{}/*.log\"]\n    prospector.scanner.fingerprint: {{offset: 5, length: 18446744073709551611}}\npath.data: {}\n",
            h.logs(),
            h.p("data").display()
        ),
    );
    let r = h.status("filebeat", &conf);
    assert_ne!(r.code, Some(101), "panicked: {}", r.out);
    assert!(!r.out.contains("panicked"), "{}", r.out);
}

#[test]
fn absurd_deadlines_and_a_zero_interval_are_refused() {
    for args in [
        ["wait", "--deadline", "500000000000years"],
        ["wait", "--interval", "0s"],
    ] {
        let mut c = drainguard();
        c.args(args).arg("--no-log-file");
        let r = run_bounded(c, HARD_LIMIT);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.out);
        assert!(!r.out.contains("panicked"), "{}", r.out);
    }
}

/// `logs/` with two self-links and a directory reached through three aliases: the walk ends,
/// and each of the two files (8 + 2 bytes) counts once.
fn looped_logs(h: &Host) {
    use std::os::unix::fs::symlink;
    let logs = h.p("logs");
    std::fs::create_dir(logs.join("sub")).unwrap();
    std::fs::write(logs.join("sub/one.log"), "x\n").unwrap();
    symlink(&logs, logs.join("self1")).unwrap();
    symlink(".", logs.join("self2")).unwrap();
    symlink(logs.join("sub"), logs.join("alias1")).unwrap();
    symlink("sub", logs.join("alias2")).unwrap();
}

fn assert_counted_once(r: &Run) {
    let doc: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.out));
    let s = &doc["shippers"][0];
    assert_eq!(s["totals"]["files"], 2, "{}", r.out);
    assert_eq!(doc["bytes_behind"], 10, "{}", r.out);
}

#[test]
fn self_links_and_aliases_under_a_promtail_input_end_and_count_each_file_once() {
    let h = Host::new();
    looped_logs(&h);
    let pos = h.write("positions.yaml", &testkit::promtail::promtail(&[]));
    let conf = h.write(
        "promtail.yml",
        &format!(
            "positions:\n  filename: {}\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - labels:\n          __path__: {}/**/*.log\n",
            pos.display(),
            h.logs()
        ),
    );
    let r = status(&[
        os("--json"),
        os("--shipper"),
        os("promtail"),
        os("--config"),
        conf.as_os_str(),
    ]);
    assert_counted_once(&r);
}

#[test]
fn self_links_and_aliases_under_a_filebeat_input_end_and_count_each_file_once() {
    let h = Host::new();
    looped_logs(&h);
    let reg = h.p("data/registry/filebeat");
    std::fs::create_dir_all(&reg).unwrap();
    std::fs::write(reg.join("meta.json"), r#"{"version":"1"}"#).unwrap();
    testkit::filebeat::write_checkpoint(&reg, 1, std::iter::empty()).unwrap();
    let conf = h.write(
        "filebeat.yml",
        &format!(
            "filebeat.inputs:\n  - type: log\n    paths: [\"{}/**/*.log\"]\npath.data: {}\n",
            h.logs(),
            h.p("data").display()
        ),
    );
    let r = status(&[
        os("--json"),
        os("--shipper"),
        os("filebeat"),
        os("--config"),
        conf.as_os_str(),
    ]);
    assert_counted_once(&r);
}

/// A wait on a Fluentd pos_file 8 bytes behind whose pos_file becomes a FIFO mid-wait.
fn wait_on_a_store_turned_fifo(h: &Host, deadline: &str) -> Command {
    let pos = h.p("app.pos");
    let log = h.p("logs/app.log");
    let ino = std::fs::metadata(&log).unwrap().ino();
    testkit::fluentd::append(&pos, log.to_str().unwrap(), 0, ino).unwrap();
    let conf = h.write(
        "fluentd.conf",
        &format!(
            "<source>\n  @type tail\n  path {}/*.log\n  pos_file {}\n</source>\n",
            h.logs(),
            pos.display()
        ),
    );
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        std::fs::remove_file(&pos).unwrap();
        mkfifo(&pos);
    });
    let mut c = drainguard();
    c.args([
        "wait",
        "--json",
        "--no-log-file",
        "--interval",
        "50ms",
        "--shipper",
        "fluentd",
    ])
    .arg("--config")
    .arg(conf)
    .args([
        "--shipper-pid",
        &std::process::id().to_string(),
        "--deadline",
        deadline,
    ]);
    c
}

#[test]
fn a_store_turned_fifo_mid_wait_still_ends_at_the_deadline_with_a_report() {
    let h = Host::new();
    let r = run_bounded(wait_on_a_store_turned_fifo(&h, "2s"), HARD_LIMIT);
    assert_eq!(r.code, Some(3), "{}", r.out);
    // Exit within the deadline + 2 s (a bound against a hang).
    assert!(r.took < Duration::from_secs(4), "took {:?}", r.took);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["outcome"], "deadline");
    assert_eq!(doc["bytes_behind"], 8, "{}", r.out);
}

#[test]
fn sigterm_while_a_store_is_a_fifo_exits_5_with_a_report() {
    let h = Host::new();
    let cmd = wait_on_a_store_turned_fifo(&h, "10m");
    let r = run_signalled(cmd, HARD_LIMIT, Some(Duration::from_millis(800)));
    assert_eq!(r.code, Some(5), "{}", r.out);
    // Exit within 2 s of the signal (a bound against a hang).
    assert!(r.took < Duration::from_secs(2), "took {:?}", r.took);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["outcome"], "interrupted");
    assert_eq!(doc["bytes_behind"], 8, "{}", r.out);
}
