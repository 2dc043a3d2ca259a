//! `doctor` and the boot `check` on `--root` fixture trees: stores that can never prove
//! delivery (each kind, in its shipper's exact format), shutdown hooks found without
//! `--unit` (the original ops note's systemd unit and chkconfig script, hand-made units, an old
//! hook beside drainguard's), unit binaries that are missing, stop timeouts systemd ignores.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use drainguard::testkit;

/// A fixture root.
struct Tree(tempfile::TempDir);

impl Tree {
    fn new() -> Tree {
        Tree(tempfile::tempdir().unwrap())
    }
    fn p(&self, host: &str) -> PathBuf {
        self.0.path().join(host.trim_start_matches('/'))
    }
    fn write(&self, host: &str, text: &str, mode: u32) {
        let p = self.p(host);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
    fn dir(&self, host: &str) {
        fs::create_dir_all(self.p(host)).unwrap();
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_drainguard"))
            .arg("--root")
            .arg(self.0.path())
            .args(args)
            .output()
            .unwrap()
    }
    /// `doctor --json` with `extra`: the whole document.
    fn doctor(&self, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
        let mut args = vec!["doctor", "--json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let v =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        (out.status.code(), v)
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

/// `(id, problem, fix)` of every finding of a doctor document.
fn findings(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    doc["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings array: {doc}"))
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            assert!(!s("fix").is_empty() && !s("explanation").is_empty(), "{f}");
            (s("id"), s("problem"), s("fix"))
        })
        .collect()
}

const CONSEQUENCE: &str = "every shutdown will hold until the deadline, then exit 2";

/// The boot check warns (exit 0) about the store with `fix`, and so does doctor (DG014).
fn assert_never_provable(t: &Tree, why: &str, fix: &str) {
    let out = t.run(&["check"]);
    let shown = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings do not fail the boot check: {shown}"
    );
    assert!(shown.contains("warning DG014"), "{shown}");
    assert!(shown.contains(why) && shown.contains(fix), "{shown}");
    assert!(shown.contains(CONSEQUENCE), "{shown}");
    assert!(!shown.contains("ok: "), "{shown}");
    let (_, doc) = t.doctor(&[]);
    let f = findings(&doc);
    assert!(
        f.iter()
            .any(|(id, p, x)| id == "DG014" && p.contains(why) && x.contains(fix)),
        "{f:?}"
    );
}

/// The boot check finds the store and says it can prove delivery; doctor has no DG014.
fn assert_provable(t: &Tree) {
    let out = t.run(&["check"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("ok: ")
            && shown.contains("delivery can be proven")
            && !shown.contains("DG014"),
        "{shown}"
    );
    let (_, doc) = t.doctor(&[]);
    assert!(!findings(&doc).iter().any(|f| f.0 == "DG014"), "{doc}");
}

const IMFILE: &str =
    "module(load=\"imfile\")\ninput(type=\"imfile\" File=\"/var/log/app.log\" Tag=\"app\")\n";
const IMPSTATS: &str = "module(load=\"impstats\" interval=\"1\" format=\"json\" log.file=\"/var/log/rsyslog-stats.log\" log.syslog=\"off\")\n";

fn rsyslog(conf: &str) -> Tree {
    let t = Tree::new();
    t.write("/etc/rsyslog.conf", conf, 0o644);
    t.dir("/var/spool/rsyslog");
    t.write("/var/log/app.log", "one\n", 0o644);
    t.write(
        "/var/log/rsyslog-stats.log",
        "{ \"name\": \"main Q\", \"origin\": \"core.queue\", \"size\": 0 }\n",
        0o644,
    );
    t
}

#[test]
fn stock_rsyslog_imfile_without_persist_state_is_never_provable() {
    let t = rsyslog(&format!("{IMPSTATS}{IMFILE}"));
    assert_never_provable(
        &t,
        "imfile /var/log/app.log: the shipper writes its offsets only when it closes the file",
        "add persistStateAfterSubmission=\"on\"",
    );
    let persisted = IMFILE.replace(
        "Tag=\"app\"",
        "Tag=\"app\" persistStateAfterSubmission=\"on\"",
    );
    let t = rsyslog(&format!("{IMPSTATS}{persisted}"));
    assert_provable(&t);
}

#[test]
fn rsyslog_without_impstats_is_never_provable() {
    let persisted = IMFILE.replace(
        "Tag=\"app\"",
        "Tag=\"app\" persistStateAfterSubmission=\"on\"",
    );
    let t = rsyslog(&persisted);
    assert_never_provable(
        &t,
        "rsyslog queues cannot be checked",
        "module(load=\"impstats\"",
    );
}

#[test]
fn promtail_and_alloy_are_never_provable() {
    let t = Tree::new();
    t.write(
        "/etc/promtail/config.yml",
        "positions:\n  filename: /var/lib/promtail/positions.yaml\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [localhost]\n        labels:\n          __path__: /var/log/app.log\n",
        0o644,
    );
    t.write(
        "/var/lib/promtail/positions.yaml",
        &testkit::promtail::promtail(&[("/var/log/app.log", "4")]),
        0o644,
    );
    t.write("/var/log/app.log", "one\n", 0o644);
    assert_never_provable(&t, "promtail client cannot be checked", "--settle-after");

    let t = Tree::new();
    t.write(
        "/var/lib/alloy/data/loki.source.file.app/positions.yml",
        &testkit::promtail::alloy(&[("/var/log/app.log", "{job=\"app\"}", 4)]),
        0o644,
    );
    assert_never_provable(&t, "alloy client cannot be checked", "--settle-after");
}

#[test]
fn vector_without_acknowledgements_is_never_provable() {
    let t = Tree::new();
    let conf = |acks: bool| {
        format!(
            "data_dir: /var/lib/vector\nsources:\n  app:\n    type: file\n    include: [\"/var/log/*.log\"]\nsinks:\n  out:\n    type: http\n    inputs: [app]\n    uri: http://127.0.0.1:9/\n{}",
            if acks { "    acknowledgements:\n      enabled: true\n" } else { "" }
        )
    };
    t.write("/etc/vector/vector.yaml", &conf(false), 0o644);
    testkit::vector::write(&t.p("/var/lib/vector/app"), &testkit::vector::document(&[])).unwrap();
    assert_never_provable(
        &t,
        "vector source app cannot be checked",
        "acknowledgements.enabled = true",
    );
    t.write("/etc/vector/vector.yaml", &conf(true), 0o644);
    assert_provable(&t);
}

#[test]
fn fluentd_without_monitor_agent_is_never_provable() {
    let t = Tree::new();
    t.write(
        "/etc/fluent/fluentd.conf",
        "<source>\n  @type tail\n  path /var/log/app.log\n  pos_file /var/log/td-agent/app.pos\n  <parse>\n    @type none\n  </parse>\n</source>\n",
        0o644,
    );
    t.write("/var/log/td-agent/app.pos", "", 0o644);
    assert_never_provable(
        &t,
        "fluentd buffers cannot be checked",
        "@type monitor_agent",
    );
}

#[test]
fn fluent_bit_without_http_server_or_disk_buffer_is_never_provable() {
    let t = Tree::new();
    t.write(
        "/etc/fluent-bit/fluent-bit.conf",
        "[INPUT]\n    Name tail\n    Path /var/log/*.log\n    DB /var/lib/fluent-bit/tail.db\n",
        0o644,
    );
    t.dir("/var/lib/fluent-bit");
    testkit::fluentbit::create(&t.p("/var/lib/fluent-bit/tail.db"), false).unwrap();
    assert_never_provable(&t, "fluent-bit engine cannot be checked", "HTTP_Server On");
}

#[test]
fn a_filebeat_disk_queue_that_cannot_be_read_is_never_provable() {
    let t = Tree::new();
    let conf = "filebeat.inputs:\n  - type: log\n    paths: [/var/log/app.log]\npath.data: /var/lib/filebeat\nqueue.disk:\n  max_size: 1GB\n";
    t.write("/etc/filebeat/filebeat.yml", conf, 0o644);
    t.write("/var/log/app.log", "one\n", 0o644);
    let mut w =
        testkit::filebeat::MemlogWriter::create(&t.p("/var/lib/filebeat/registry/filebeat"))
            .unwrap();
    w.checkpoint().unwrap();
    // Not a directory: Filebeat's disk queue cannot be listed, whoever runs drainguard.
    t.write("/var/lib/filebeat/diskqueue", "", 0o644);
    assert_never_provable(
        &t,
        "filebeat disk queue",
        "run drainguard as root or the filebeat user",
    );
    // Without the disk queue the memory queue's offsets are acknowledgements: provable.
    t.write(
        "/etc/filebeat/filebeat.yml",
        "filebeat.inputs:\n  - type: log\n    paths: [/var/log/app.log]\npath.data: /var/lib/filebeat\n",
        0o644,
    );
    assert_provable(&t);
}
