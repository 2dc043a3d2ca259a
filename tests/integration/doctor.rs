//! `doctor` and the boot `check` on `--root` fixture trees: stores that can never prove
//! delivery (each kind, in its shipper's exact format), shutdown hooks found without
//! `--unit` (the original ops note's systemd unit and chkconfig script, hand-made units, an old
//! hook beside drainguard's), unit binaries that are missing, stop timeouts systemd ignores.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use drainguard::testkit;

use crate::support::text;
use crate::support::tree::Tree;

impl Tree {
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
fn otelcol_without_storage_or_metrics_is_never_provable() {
    // A filelog receiver without `storage:` keeps its offsets in memory only.
    let t = Tree::new();
    t.write(
        "/etc/otelcol-contrib/config.yaml",
        "receivers:\n  filelog:\n    include: [/var/log/*.log]\nexporters:\n  otlp: {}\n\
         service:\n  pipelines:\n    logs:\n      receivers: [filelog]\n      exporters: [otlp]\n",
        0o644,
    );
    assert_never_provable(&t, "cannot be checked", "add `storage: file_storage`");
    // With storage, but the internal telemetry turned off.
    let t = Tree::new();
    t.write(
        "/etc/otelcol-contrib/config.yaml",
        "receivers:\n  filelog:\n    include: [/var/log/*.log]\n    storage: file_storage\n\
         extensions:\n  file_storage: {}\nexporters:\n  otlp: {}\n\
         service:\n  extensions: [file_storage]\n  telemetry:\n    metrics:\n      level: none\n  \
         pipelines:\n    logs:\n      receivers: [filelog]\n      exporters: [otlp]\n",
        0o644,
    );
    t.dir("/var/lib/otelcol/file_storage");
    assert_never_provable(
        &t,
        "otelcol internal metrics cannot be checked",
        "set it to basic or normal",
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

/// `(id, problem)` of every finding, sorted by id.
fn ids(doc: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = findings(doc).into_iter().map(|f| f.0).collect();
    v.sort();
    v
}

/// The ops note's chkconfig script: start touches the lock file, stop runs the Python poller.
const NOTE_SCRIPT: &str = "#!/bin/bash\n# chkconfig: 2345 90 30\n# description: shutdown file for filebeat\n\nstart() {\n  touch /var/lock/subsys/shutdown-filebeat\n  if [ ! -d \"/var/log/shutdown-filebeat\" ]; then\n    mkdir /var/log/shutdown-filebeat\n  fi\n}\n\nstop() {\n  python3 /home/ec2-user/script/shutdown-filebeat.py\n  rm -f /var/lock/subsys/shutdown-filebeat\n}\n\nrestart() {\n  stop\n  start\n}\n\ncase \"$1\" in\n    start)\n        start\n    ;;\n    stop)\n        stop\n    ;;\n    restart)\n        restart\n    ;;\n    *)\n        echo $\"Usage: $0 {start|stop|restart}\"\n        exit 1\nesac\n";

/// The ops note's poller: offsets of the old Filebeat registry, unchanged for 10 s = done.
const NOTE_POLLER: &str = "import json\nimport time\nwhile True:\n    with open('/var/lib/filebeat/registry') as data_file:\n        data = json.load(data_file)\n    time.sleep(5)\n";

/// The ops note's systemd unit, as written there.
const NOTE_UNIT: &str = "[Unit]\nDescription=Run Scripts at Shutdown\n\n[Service]\nType=oneshot\nRemainAfterExit=true\nExecStart=/bin/true\nExecStop=/etc/rc.d/init.d/shutdown-filebeat stop\n\n[Install]\nWantedBy=multi-user.target\n";

/// Amazon Linux 1 as the ops note left it: tomcat K20, the wait script K30, filebeat
/// re-prioritised to K40 (chkconfig: 2345 98 40), S links in 2-5, K links in 0, 1, 6.
fn note_chkconfig() -> Tree {
    let t = Tree::new();
    t.write("/etc/rc.d/init.d/shutdown-filebeat", NOTE_SCRIPT, 0o755);
    t.write(
        "/home/ec2-user/script/shutdown-filebeat.py",
        NOTE_POLLER,
        0o644,
    );
    t.write(
        "/etc/rc.d/init.d/filebeat",
        "#!/bin/bash\n#\n# filebeat          filebeat shipper\n#\n# chkconfig: 2345 98 40\n# description: Starts and stops a single filebeat instance on this system\n#\nstart() { daemon $filebeat; }\nstop() { killproc $filebeat; }\n",
        0o755,
    );
    t.write(
        "/etc/rc.d/init.d/tomcat",
        "#!/bin/sh\n# chkconfig: 2345 80 20\nLOCK=/var/lock/subsys/tomcat\n",
        0o755,
    );
    for (name, s, k) in [
        ("tomcat", 80, 20),
        ("shutdown-filebeat", 90, 30),
        ("filebeat", 98, 40),
    ] {
        for l in [0, 1, 6] {
            t.link(
                &format!("/etc/rc.d/rc{l}.d/K{k}{name}"),
                format!("../init.d/{name}"),
            );
        }
        for l in 2..=5 {
            t.link(
                &format!("/etc/rc.d/rc{l}.d/S{s}{name}"),
                format!("../init.d/{name}"),
            );
        }
    }
    t.dir("/var/lock/subsys");
    t
}

/// A systemd image (CentOS 7 / Amazon Linux 2 like) with Filebeat's unit and tomcat.
fn systemd_image() -> Tree {
    let t = Tree::new();
    t.dir("/run/systemd/system");
    t.write(
        "/usr/lib/systemd/system/filebeat.service",
        "[Unit]\nDescription=Filebeat\nAfter=network-online.target\n\n[Service]\nExecStart=/usr/share/filebeat/bin/filebeat\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n",
        0o644,
    );
    t.write(
        "/usr/lib/systemd/system/tomcat.service",
        "[Service]\nExecStart=/usr/bin/tomcat\n",
        0o644,
    );
    t.write("/bin/true", "#!/bin/sh\n", 0o755);
    t
}

/// The ops note's unit on a systemd image: enabled, ExecStop running the note's script.
fn note_systemd() -> Tree {
    let t = systemd_image();
    t.write(
        "/etc/systemd/system/shutdown-filebeat.service",
        NOTE_UNIT,
        0o644,
    );
    t.link(
        "/etc/systemd/system/multi-user.target.wants/shutdown-filebeat.service",
        "/etc/systemd/system/shutdown-filebeat.service",
    );
    t.write("/etc/rc.d/init.d/shutdown-filebeat", NOTE_SCRIPT, 0o755);
    t.write(
        "/home/ec2-user/script/shutdown-filebeat.py",
        NOTE_POLLER,
        0o644,
    );
    t
}

#[test]
fn the_ops_notes_chkconfig_script_is_reported_as_not_running_the_wait() {
    let t = note_chkconfig();
    let (code, doc) = t.doctor(&["--unit", "shutdown-filebeat", "--before", "tomcat"]);
    assert_eq!(code, Some(1), "{doc}");
    // The K order is right (tomcat K20 < K30 < filebeat K40); what is wrong is what it runs.
    assert_eq!(ids(&doc), vec!["DG106", "DG110"], "{doc}");
    let f = findings(&doc);
    assert!(f.iter().any(|(id, p, _)| id == "DG110"
        && p.contains("/etc/rc.d/init.d/shutdown-filebeat does not run `drainguard wait`")));
    // The live lock-file check is listed, not passed.
    let skipped: Vec<&str> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, vec!["DG105"], "{doc}");
    // rc runs only executable scripts.
    fs::set_permissions(
        t.p("/etc/rc.d/init.d/shutdown-filebeat"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (_, doc) = t.doctor(&["--unit", "shutdown-filebeat", "--before", "tomcat"]);
    assert_eq!(ids(&doc), vec!["DG106", "DG110", "DG111"], "{doc}");
}

#[test]
fn the_ops_notes_systemd_unit_named_with_unit() {
    let t = note_systemd();
    let (code, doc) = t.doctor(&["--unit", "shutdown-filebeat", "--before", "tomcat"]);
    assert_eq!(code, Some(1), "{doc}");
    // Runs the poller, not the wait; not after filebeat, not before tomcat, not after the
    // network; systemd's default 90 s stop timeout.
    assert_eq!(
        ids(&doc),
        vec!["DG005", "DG006", "DG007", "DG008", "DG009"],
        "{doc}"
    );
    let skipped: Vec<&str> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        skipped,
        vec!["DG002", "DG011"],
        "never started is live state: {doc}"
    );
    let out = t.run(&[
        "doctor",
        "--unit",
        "shutdown-filebeat",
        "--before",
        "tomcat",
    ]);
    assert!(
        text(&out)
            .contains("skipped DG002: whether shutdown-filebeat.service was started since boot"),
        "{}",
        text(&out)
    );
}

/// A hand-made unit running `drainguard wait` (through a wrapper script, too), well ordered
/// and with a long stop timeout.
const HAND_UNIT: &str = "[Unit]\nAfter=network-online.target filebeat.service\nWants=network-online.target\nBefore=tomcat.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\nExecStop=/usr/local/bin/drainguard wait\nTimeoutStopSec=30min\n[Install]\nWantedBy=multi-user.target\n";

fn with_hand_unit(t: &Tree, exec_stop: &str) {
    t.write(
        "/etc/systemd/system/logwait.service",
        &HAND_UNIT.replace("/usr/local/bin/drainguard wait", exec_stop),
        0o644,
    );
    t.link(
        "/etc/systemd/system/multi-user.target.wants/logwait.service",
        "/etc/systemd/system/logwait.service",
    );
}

#[test]
fn a_unit_whose_program_is_missing_or_not_executable_is_an_error() {
    let t = systemd_image();
    with_hand_unit(&t, "/opt/build/target/debug/drainguard wait");
    let (code, doc) = t.doctor(&["--unit", "logwait", "--before", "tomcat"]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(ids(&doc), vec!["DG015"], "{doc}");
    assert!(findings(&doc)[0]
        .1
        .contains("the ExecStop program /opt/build/target/debug/drainguard does not exist"));
    t.write("/opt/build/target/debug/drainguard", "#!/bin/sh\n", 0o644);
    let (_, doc) = t.doctor(&["--unit", "logwait", "--before", "tomcat"]);
    assert!(
        findings(&doc)[0].1.contains("is not executable (mode 644)"),
        "{doc}"
    );
    fs::set_permissions(
        t.p("/opt/build/target/debug/drainguard"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let (code, doc) = t.doctor(&["--unit", "logwait", "--before", "tomcat"]);
    assert_eq!((code, ids(&doc)), (Some(0), vec![]), "{doc}");
    // ExecStart too: a unit that cannot start never runs its ExecStop.
    fs::remove_file(t.p("/bin/true")).unwrap();
    let (_, doc) = t.doctor(&["--unit", "logwait", "--before", "tomcat"]);
    assert!(
        findings(&doc)[0]
            .1
            .contains("the ExecStart program /bin/true does not exist"),
        "{doc}"
    );
}

#[test]
fn a_wrapper_script_that_runs_the_wait_counts_as_running_it() {
    let t = systemd_image();
    t.write("/usr/local/bin/drainguard", "#!/bin/sh\n", 0o755);
    t.write(
        "/usr/local/sbin/drain-logs",
        "#!/bin/sh\nexec /usr/local/bin/drainguard wait --deadline 20m\n",
        0o755,
    );
    with_hand_unit(&t, "/usr/local/sbin/drain-logs");
    let (_, doc) = t.doctor(&["--unit", "logwait", "--before", "tomcat"]);
    assert_eq!(ids(&doc), Vec::<String>::new(), "{doc}");
    t.write(
        "/usr/local/sbin/drain-logs",
        "#!/bin/sh\nexec /usr/local/bin/drainguard status\n",
        0o755,
    );
    let (_, doc) = t.doctor(&["--unit", "logwait", "--before", "tomcat"]);
    assert_eq!(ids(&doc), vec!["DG005"], "{doc}");
}

#[test]
fn a_stop_timeout_systemd_refuses_is_flagged_and_its_default_applies() {
    let t = systemd_image();
    t.write("/usr/local/bin/drainguard", "#!/bin/sh\n", 0o755);
    with_hand_unit(&t, "/usr/local/bin/drainguard wait");
    let dropin = "/etc/systemd/system/logwait.service.d/50-timeout.conf";
    for v in ["18446744073709551615s", "500000000000years"] {
        t.write(dropin, &format!("[Service]\nTimeoutStopSec={v}\n"), 0o644);
        let (code, doc) = t.doctor(&["--unit", "logwait", "--before", "tomcat"]);
        assert_eq!(code, Some(1), "{doc}");
        // The refused line is ignored: the unit's own 30min is what systemd uses, and it is
        // longer than the 25m deadline, so only the refused value is reported.
        assert_eq!(ids(&doc), vec!["DG016"], "{v}: {doc}");
        assert!(
            findings(&doc)[0].1.contains(&format!("TimeoutStopSec={v}")),
            "{doc}"
        );
    }
    // Refused and nothing else set: systemd's 90 s default cuts the drain off.
    t.write(
        "/etc/systemd/system/logwait.service",
        &HAND_UNIT.replace(
            "TimeoutStopSec=30min",
            "TimeoutStopSec=18446744073709551615",
        ),
        0o644,
    );
    fs::remove_file(t.p(dropin)).unwrap();
    let (_, doc) = t.doctor(&["--unit", "logwait", "--before", "tomcat"]);
    assert_eq!(ids(&doc), vec!["DG009", "DG016"], "{doc}");
}

/// `(name, why, runs_wait)` of every hook doctor checked.
fn hooks(doc: &serde_json::Value) -> Vec<(String, String, bool)> {
    doc["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_string(),
                h["why"].as_str().unwrap().to_string(),
                h["runs_wait"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn skipped(doc: &serde_json::Value) -> Vec<String> {
    doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_ops_notes_systemd_unit_is_found_without_being_named() {
    let t = note_systemd();
    let (code, doc) = t.doctor(&[]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(
        hooks(&doc),
        vec![(
            "shutdown-filebeat.service".to_string(),
            "its ExecStop mentions filebeat".to_string(),
            false
        )]
    );
    // Runs the poller, not the wait; not after filebeat, not after the network; 90 s.
    assert_eq!(ids(&doc), vec!["DG005", "DG006", "DG008", "DG009"], "{doc}");
    for (id, p, _) in findings(&doc) {
        assert!(
            p.contains("shutdown-filebeat.service") || id == "DG009",
            "{id}: {p}"
        );
    }
    // Never started: live state, listed as skipped under --root.
    assert_eq!(skipped(&doc), vec!["DG002", "DG011"], "{doc}");
    let out = t.run(&["doctor"]);
    let shown = text(&out);
    assert!(
        shown.contains("hook shutdown-filebeat.service: its ExecStop mentions filebeat")
            && shown.contains("skipped DG002")
            && !shown.contains("DG001"),
        "{shown}"
    );
}

#[test]
fn a_unit_ordered_against_the_shipper_is_a_hook_even_if_it_names_nothing() {
    let t = systemd_image();
    t.write("/usr/local/sbin/flush", "#!/bin/sh\nsleep 60\n", 0o755);
    t.write(
        "/etc/systemd/system/flush.service",
        "[Unit]\nAfter=filebeat.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\nExecStop=/usr/local/sbin/flush\n",
        0o644,
    );
    // Ordered against the shipper but without an ExecStop: not a shutdown hook.
    t.write(
        "/etc/systemd/system/metrics.service",
        "[Unit]\nAfter=filebeat.service\n[Service]\nExecStart=/bin/true\n",
        0o644,
    );
    let (_, doc) = t.doctor(&[]);
    assert_eq!(
        hooks(&doc),
        vec![(
            "flush.service".to_string(),
            "ordered After=filebeat.service with an ExecStop".to_string(),
            false
        )]
    );
    assert!(ids(&doc).contains(&"DG005".to_string()), "{doc}");
    // Masked (`systemctl mask flush`): systemd never runs it, so it is no hook.
    t.link("/etc/systemd/system/flush.service.tmp", "/dev/null");
    fs::rename(
        t.p("/etc/systemd/system/flush.service.tmp"),
        t.p("/etc/systemd/system/flush.service"),
    )
    .unwrap();
    t.write(
        "/usr/lib/systemd/system/flush.service",
        "[Unit]\nAfter=filebeat.service\n[Service]\nExecStop=/usr/local/sbin/flush\n",
        0o644,
    );
    let (_, doc) = t.doctor(&[]);
    assert!(hooks(&doc).is_empty(), "{doc}");
}

#[test]
fn the_ops_notes_chkconfig_script_is_found_without_being_named() {
    let t = note_chkconfig();
    let (code, doc) = t.doctor(&[]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(
        hooks(&doc),
        vec![(
            "shutdown-filebeat".to_string(),
            "it mentions filebeat".to_string(),
            false
        )]
    );
    assert_eq!(ids(&doc), vec!["DG106", "DG110"], "{doc}");
    assert_eq!(skipped(&doc), vec!["DG105"], "{doc}");
}

#[test]
fn a_script_whose_k_links_sit_between_the_apps_and_the_shipper_is_a_hook() {
    let t = note_chkconfig();
    fs::remove_file(t.p("/etc/rc.d/init.d/shutdown-filebeat")).unwrap();
    for l in 0..=6 {
        for n in ["K30shutdown-filebeat", "S90shutdown-filebeat"] {
            let _ = fs::remove_file(t.p(&format!("/etc/rc.d/rc{l}.d/{n}")));
        }
    }
    t.write("/etc/rc.d/init.d/logflush", "#!/bin/sh\n# chkconfig: 2345 91 35\ncase \"$1\" in stop) /usr/local/bin/wait-for-logs ;; esac\n", 0o755);
    for l in [0, 1, 6] {
        t.link(
            &format!("/etc/rc.d/rc{l}.d/K35logflush"),
            "../init.d/logflush",
        );
    }
    for l in 2..=5 {
        t.link(
            &format!("/etc/rc.d/rc{l}.d/S91logflush"),
            "../init.d/logflush",
        );
    }
    // Without the apps "between" means nothing: no hook, so drainguard's own is missing.
    let (_, doc) = t.doctor(&[]);
    assert!(hooks(&doc).is_empty(), "{doc}");
    assert_eq!(ids(&doc), vec!["DG101"], "{doc}");
    let (code, doc) = t.doctor(&["--before", "tomcat"]);
    assert_eq!(code, Some(1), "{doc}");
    let h = hooks(&doc);
    assert_eq!(h.len(), 1, "{doc}");
    assert_eq!(h[0].0, "logflush");
    assert!(
        h[0].1
            == "its K link (K35) in /etc/rc.d/rc0.d sits between tomcat (K20) and filebeat (K40)",
        "{doc}"
    );
    assert!(ids(&doc).contains(&"DG110".to_string()), "{doc}");
}

#[test]
fn a_hand_made_unit_running_drainguard_wait_is_found_and_healthy() {
    let t = systemd_image();
    t.write("/usr/local/bin/drainguard", "#!/bin/sh\n", 0o755);
    with_hand_unit(&t, "/usr/local/bin/drainguard wait");
    let (code, doc) = t.doctor(&["--before", "tomcat"]);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(
        hooks(&doc),
        vec![(
            "logwait.service".to_string(),
            "its ExecStop mentions drainguard".to_string(),
            true
        )]
    );
    assert!(
        ids(&doc).is_empty(),
        "no DG001 for a hand-made drain unit: {doc}"
    );
    assert_eq!(skipped(&doc), vec!["DG002", "DG011"]);
}

#[test]
fn nothing_at_all_is_dg001() {
    let t = systemd_image();
    let (code, doc) = t.doctor(&[]);
    assert_eq!(code, Some(1));
    assert!(hooks(&doc).is_empty());
    assert_eq!(ids(&doc), vec!["DG001"], "{doc}");
}

#[test]
fn drainguard_installed_beside_the_old_hook_is_a_warning() {
    let t = note_systemd();
    t.write("/usr/local/bin/drainguard", "#!/bin/sh\n", 0o755);
    let out = t.run(&[
        "install",
        "--before",
        "tomcat",
        "--exec=/usr/local/bin/drainguard",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (code, doc) = t.doctor(&[]);
    assert_eq!(code, Some(0), "warnings only: {doc}");
    let h = hooks(&doc);
    assert_eq!(
        h.iter().map(|h| (h.0.as_str(), h.2)).collect::<Vec<_>>(),
        vec![
            ("drainguard.service", true),
            ("shutdown-filebeat.service", false)
        ]
    );
    let f = findings(&doc);
    let dg013 = f
        .iter()
        .find(|f| f.0 == "DG013")
        .unwrap_or_else(|| panic!("{doc}"));
    assert!(
        dg013.1.contains("2 shutdown hooks")
            && dg013
                .2
                .contains("systemctl disable --now shutdown-filebeat.service"),
        "{dg013:?}"
    );
    // The old hook's own faults are listed, as warnings, and nothing about drainguard's.
    for (id, p, _) in &f {
        if id != "DG013" {
            assert!(
                p.starts_with("old hook: ") && p.contains("shutdown-filebeat"),
                "{id}: {p}"
            );
        }
    }
    assert!(f.iter().any(|x| x.0 == "DG005"), "{doc}");
    for s in doc["findings"].as_array().unwrap() {
        assert_eq!(s["severity"], "warning", "{s}");
    }
    // Without the old unit its init script is still there, and systemd would run it.
    fs::remove_file(t.p("/etc/systemd/system/shutdown-filebeat.service")).unwrap();
    let (_, doc) = t.doctor(&[]);
    assert_eq!(hooks(&doc)[1].0, "shutdown-filebeat.service", "{doc}");
    assert_eq!(doc["hooks"][1]["kind"], "generated-unit", "{doc}");
    // Without the old hook at all: healthy.
    fs::remove_file(t.p("/etc/rc.d/init.d/shutdown-filebeat")).unwrap();
    let (code, doc) = t.doctor(&[]);
    assert_eq!((code, ids(&doc)), (Some(0), vec![]), "{doc}");
}

#[test]
fn drainguard_installed_beside_the_old_chkconfig_script_is_a_warning() {
    let t = note_chkconfig();
    t.write("/usr/local/bin/drainguard", "#!/bin/sh\n", 0o755);
    let out = t.run(&[
        "install",
        "--before",
        "tomcat",
        "--exec=/usr/local/bin/drainguard",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (code, doc) = t.doctor(&[]);
    assert_eq!(code, Some(0), "{doc}");
    let h = hooks(&doc);
    assert_eq!(
        h.iter().map(|h| (h.0.as_str(), h.2)).collect::<Vec<_>>(),
        vec![("drainguard", true), ("shutdown-filebeat", false)]
    );
    let ids = ids(&doc);
    assert!(
        ids.contains(&"DG013".to_string()) && ids.contains(&"DG110".to_string()),
        "{doc}"
    );
    // The drainguard the script runs (DRAINGUARD='...') is gone: rc would run nothing.
    fs::remove_file(t.p("/usr/local/bin/drainguard")).unwrap();
    let (code, doc) = t.doctor(&[]);
    assert_eq!(code, Some(1), "{doc}");
    assert!(
        findings(&doc).iter().any(|(id, p, _)| id == "DG015"
            && p == "/etc/rc.d/init.d/drainguard: the drainguard program /usr/local/bin/drainguard does not exist"),
        "{doc}"
    );
}

#[test]
fn logstash_with_its_monitoring_api_off_is_never_provable() {
    let t = Tree::new();
    t.write("/etc/logstash/logstash.yml", "api.enabled: false\n", 0o644);
    t.write(
        "/etc/logstash/conf.d/app.conf",
        "input {\n  file {\n    path => \"/var/log/app.log\"\n    sincedb_path => \"/var/lib/logstash/app.sincedb\"\n  }\n}\noutput { stdout {} }\n",
        0o644,
    );
    t.write("/var/log/app.log", "one\n", 0o644);
    t.dir("/var/lib/logstash");
    testkit::logstash::write(&t.p("/var/lib/logstash/app.sincedb"), &[]).unwrap();
    assert_never_provable(&t, "logstash pipeline cannot be checked", "api.enabled");
}

#[test]
fn on_systemd_a_chkconfig_script_is_checked_as_the_unit_systemd_makes_of_it() {
    let t = systemd_image();
    t.write("/etc/rc.d/init.d/shutdown-filebeat", NOTE_SCRIPT, 0o755);
    t.write(
        "/home/ec2-user/script/shutdown-filebeat.py",
        NOTE_POLLER,
        0o644,
    );
    for l in 2..=5 {
        t.link(
            &format!("/etc/rc.d/rc{l}.d/S90shutdown-filebeat"),
            "../init.d/shutdown-filebeat",
        );
    }
    let (code, doc) = t.doctor(&[]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(
        hooks(&doc),
        vec![(
            "shutdown-filebeat.service".to_string(),
            "its init script mentions filebeat; systemd runs it as shutdown-filebeat.service \
             (systemd-sysv-generator)"
                .to_string(),
            false
        )]
    );
    assert_eq!(doc["hooks"][0]["kind"], "generated-unit");
    // The poller, and systemd-sysv-generator's 5 min stop timeout against the 25m deadline.
    assert_eq!(ids(&doc), vec!["DG009", "DG110"], "{doc}");
    assert_eq!(skipped(&doc), vec!["DG002"], "{doc}");
    // A drop-in can give the generated unit a longer stop timeout.
    t.write(
        "/etc/systemd/system/shutdown-filebeat.service.d/timeout.conf",
        "[Service]\nTimeoutStopSec=30min\n",
        0o644,
    );
    let (_, doc) = t.doctor(&[]);
    assert_eq!(ids(&doc), vec!["DG110"], "{doc}");
    fs::remove_dir_all(t.p("/etc/systemd/system/shutdown-filebeat.service.d")).unwrap();
    // Not enabled: no S link, so systemd never starts it and never runs its stop.
    for l in 2..=5 {
        fs::remove_file(t.p(&format!("/etc/rc.d/rc{l}.d/S90shutdown-filebeat"))).unwrap();
    }
    let (_, doc) = t.doctor(&[]);
    assert_eq!(ids(&doc), vec!["DG003", "DG009", "DG110"], "{doc}");
    // A native unit of that name wins over the script: that unit is the hook.
    t.write(
        "/etc/systemd/system/shutdown-filebeat.service",
        NOTE_UNIT,
        0o644,
    );
    let (_, doc) = t.doctor(&[]);
    assert_eq!(doc["hooks"][0]["kind"], "unit", "{doc}");
    assert_eq!(hooks(&doc).len(), 1, "{doc}");
}

#[test]
fn drainguards_aws_watcher_is_not_a_shutdown_hook() {
    let t = systemd_image();
    t.write("/usr/local/bin/drainguard", "#!/bin/sh\n", 0o755);
    let out = t.run(&[
        "install",
        "--before",
        "tomcat",
        "--aws",
        "--exec=/usr/local/bin/drainguard",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Even with a stop command that mentions drainguard, it is the watcher, not a drain.
    t.write(
        "/etc/systemd/system/drainguard-aws.service.d/stop.conf",
        "[Service]\nExecStop=/usr/local/bin/drainguard status\n",
        0o644,
    );
    let (code, doc) = t.doctor(&[]);
    assert_eq!(code, Some(0), "{doc}");
    let names: Vec<String> = hooks(&doc).into_iter().map(|h| h.0).collect();
    assert_eq!(names, vec!["drainguard.service"], "{doc}");
}

/// The awslogs agent's service (the Amazon Linux RPM's `awslogsd`) is a shipper service: a
/// drain unit not ordered after it is DG006, saying what a stop does to its last lines.
#[test]
fn a_drain_unit_not_ordered_after_awslogsd_is_dg006() {
    let t = Tree::new();
    t.dir("/run/systemd/system");
    t.write(
        "/usr/lib/systemd/system/awslogsd.service",
        "[Unit]\nAfter=network-online.target\n[Service]\nExecStart=/usr/sbin/awslogsd\n[Install]\nWantedBy=multi-user.target\n",
        0o644,
    );
    t.write("/bin/true", "#!/bin/sh\n", 0o755);
    t.write("/usr/local/bin/drainguard", "#!/bin/sh\n", 0o755);
    with_hand_unit(&t, "/usr/local/bin/drainguard wait");
    let (code, doc) = t.doctor(&[]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(ids(&doc), vec!["DG006"], "{doc}");
    let f = &doc["findings"][0];
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("After=awslogsd.service")
            && f["explanation"]
                .as_str()
                .unwrap()
                .contains("not yet batched"),
        "{f}"
    );
}

/// The CloudWatch agent's service is a shipper service: a drain unit not ordered after it is
/// DG006, whose explanation says what a stop mid-retry does to its state files.
#[test]
fn a_drain_unit_not_ordered_after_the_cloudwatch_agent_is_dg006() {
    let t = Tree::new();
    t.dir("/run/systemd/system");
    t.write(
        "/etc/systemd/system/amazon-cloudwatch-agent.service",
        "[Unit]\nAfter=network-online.target\n[Service]\nExecStart=/opt/aws/amazon-cloudwatch-agent/bin/start-amazon-cloudwatch-agent\n[Install]\nWantedBy=multi-user.target\n",
        0o644,
    );
    t.write(
        "/usr/lib/systemd/system/tomcat.service",
        "[Service]\nExecStart=/usr/bin/tomcat\n",
        0o644,
    );
    t.write("/bin/true", "#!/bin/sh\n", 0o755);
    t.write("/usr/local/bin/drainguard", "#!/bin/sh\n", 0o755);
    with_hand_unit(&t, "/usr/local/bin/drainguard wait");
    let (code, doc) = t.doctor(&["--before", "tomcat"]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(ids(&doc), vec!["DG006"], "{doc}");
    let f = &doc["findings"][0];
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("After=amazon-cloudwatch-agent.service")
            && f["explanation"]
                .as_str()
                .unwrap()
                .contains("marks the batch it was still retrying as sent"),
        "{f}"
    );
    t.write(
        "/etc/systemd/system/logwait.service",
        &HAND_UNIT.replace("filebeat.service", "amazon-cloudwatch-agent.service"),
        0o644,
    );
    let (code, doc) = t.doctor(&["--before", "tomcat"]);
    assert_eq!((code, ids(&doc)), (Some(0), vec![]), "{doc}");
}

#[test]
fn the_shipper_service_given_to_install_is_the_one_doctor_orders_against() {
    // A Debian host: rsyslog's unit is installed (the distribution's default, disabled here),
    // the shipper drainguard reads runs under a name of its own.
    let t = Tree::new();
    t.dir("/run/systemd/system");
    t.write(
        "/lib/systemd/system/rsyslog.service",
        "[Service]\nExecStart=/usr/sbin/rsyslogd -n\n",
        0o644,
    );
    t.write(
        "/etc/systemd/system/shipper.service",
        "[Service]\nExecStart=/opt/shipper\n",
        0o644,
    );
    t.write(
        "/etc/systemd/system/app.service",
        "[Service]\nExecStart=/opt/app\n",
        0o644,
    );
    t.write("/usr/local/bin/drainguard", "#!/bin/sh\n", 0o755);
    let out = t.run(&[
        "install",
        "--before",
        "app",
        "--shipper-service",
        "shipper",
        "--data-path",
        "/var/lib/filebeat",
        "--exec=/usr/local/bin/drainguard",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let unit = fs::read_to_string(t.p("/etc/systemd/system/drainguard.service")).unwrap();
    assert!(
        unit.lines()
            .any(|l| l.starts_with("After=") && l.split([' ', '=']).any(|w| w == "shipper.service")),
        "{unit}"
    );
    let settings = fs::read_to_string(t.p("/etc/drainguard/drainguard.toml")).unwrap();
    assert!(settings.contains("service = \"shipper\""), "{settings}");
    let (_, doc) = t.doctor(&[]);
    let f = findings(&doc);
    assert!(
        !f.iter().any(|f| f.0 == "DG006" || f.1.contains("rsyslog")),
        "ordered against the recorded shipper, not rsyslog: {doc}"
    );
    // Named on the command line, another service still wins (and is checked).
    let (code, doc) = t.doctor(&["--shipper-service", "rsyslog"]);
    assert_eq!(code, Some(1), "{doc}");
    assert!(
        findings(&doc)
            .iter()
            .any(|f| f.0 == "DG006" && f.1.contains("After=rsyslog.service")),
        "{doc}"
    );
}
