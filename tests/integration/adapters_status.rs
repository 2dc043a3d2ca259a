//! `drainguard status` end to end over a non-Filebeat adapter: a Fluent Bit tail DB (written
//! in its exact schema) and its config, a real log file, and Fluent Bit's storage API faked on
//! 127.0.0.1. The offsets alone prove only "read": the verdict follows the API.

use crate::support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use drainguard::testkit;
use support::drainguard;

fn status(dir: &Path, port: u16) -> (Option<i32>, String) {
    let log = dir.join("logs/app.log");
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {port}\n\n[INPUT]\n    Name tail\n    Path {}/*.log\n    DB {}\n",
            log.parent().unwrap().display(),
            dir.join("tail.db").display()
        ),
    )
    .unwrap();
    let o = drainguard()
        .args(["status", "--shipper", "fluent-bit", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// `drainguard status --json --shipper <shipper> --config <conf>`: exit code and report.
fn json_status(shipper: &str, conf: &Path) -> (Option<i32>, serde_json::Value) {
    let o = drainguard()
        .args(["status", "--json", "--shipper", shipper, "--config"])
        .arg(conf)
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code(), doc)
}

/// `(store, verdict)` of every shipper element of a JSON report, in report order.
fn store_verdicts(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["shippers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["store"].as_str().unwrap().to_string(),
                s["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn fluentbit_status_follows_offsets_and_the_storage_api() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("logs")).unwrap();
    let log = d.path().join("logs/app.log");
    std::fs::write(&log, "one\ntwo\n").unwrap();
    let ino = std::fs::metadata(&log).unwrap().ino();
    let w = testkit::fluentbit::create(&d.path().join("tail.db"), true).unwrap();
    let id = testkit::fluentbit::insert(&w, log.to_str().unwrap(), 4, ino).unwrap();
    let idle = support::fake_http(r#"{"input_chunks":{"tail.0":{"chunks":{"total":0}}}}"#);
    let busy = support::fake_http(r#"{"input_chunks":{"tail.0":{"chunks":{"total":3}}}}"#);

    // Offset behind the file: behind whatever the API says.
    let (code, out) = status(d.path(), idle);
    assert_eq!(code, Some(1), "{out}");
    // Everything read (offset only in the WAL) but chunks still queued: behind.
    testkit::fluentbit::update_offset(&w, id, 8).unwrap();
    let (code, out) = status(d.path(), busy);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("3 chunks"), "{out}");
    // Everything read and the engine's queue empty: drained.
    let (code, out) = status(d.path(), idle);
    assert_eq!(code, Some(0), "{out}");
}

/// Two tail inputs, each with its own DB: both are read, each on its own. Only the second is
/// behind, and the report names its DB; without an HTTP API, the inputs' filesystem chunks
/// (storage.path) are the delivery signal.
#[test]
fn every_fluentbit_tail_input_is_assessed_with_its_own_chunks() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    for dir in ["a", "b", "chunks/tail.0", "chunks/tail.1"] {
        std::fs::create_dir_all(p(dir)).unwrap();
    }
    let (la, lb) = (p("a/app.log"), p("b/app.log"));
    std::fs::write(&la, "one\ntwo\n").unwrap();
    std::fs::write(&lb, "three\nfour\n").unwrap();
    let wa = testkit::fluentbit::create(&p("a.db"), true).unwrap();
    testkit::fluentbit::insert(
        &wa,
        la.to_str().unwrap(),
        8,
        std::fs::metadata(&la).unwrap().ino(),
    )
    .unwrap();
    let wb = testkit::fluentbit::create(&p("b.db"), true).unwrap();
    let id = testkit::fluentbit::insert(
        &wb,
        lb.to_str().unwrap(),
        6,
        std::fs::metadata(&lb).unwrap().ino(),
    )
    .unwrap();
    let conf = p("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    storage.path {chunks}\n[INPUT]\n    Name tail\n    Path {a}/*.log\n    DB {adb}\n    storage.type filesystem\n[INPUT]\n    Name tail\n    Path {b}/*.log\n    DB {bdb}\n    storage.type filesystem\n",
            chunks = p("chunks").display(),
            a = p("a").display(),
            b = p("b").display(),
            adb = p("a.db").display(),
            bdb = p("b.db").display(),
        ),
    )
    .unwrap();
    let status = || json_status("fluent-bit", &conf);
    let (code, doc) = status();
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(
        store_verdicts(&doc),
        vec![
            (p("a.db").display().to_string(), "drained".to_string()),
            (p("b.db").display().to_string(), "behind".to_string()),
        ]
    );
    assert_eq!(doc["bytes_behind"].as_u64(), Some(5));

    // The second input read everything, but a chunk of it is still on disk.
    testkit::fluentbit::update_offset(&wb, id, 11).unwrap();
    std::fs::write(p("chunks/tail.1/1-1700000000.1.flb"), [0xC1, 0, 0, 0]).unwrap();
    let (code, doc) = status();
    assert_eq!(code, Some(1), "{doc}");
    assert!(doc.to_string().contains("1 chunk file(s)"), "{doc}");
    // Flushed: both inputs drained.
    std::fs::remove_file(p("chunks/tail.1/1-1700000000.1.flb")).unwrap();
    let (code, doc) = status();
    assert_eq!(code, Some(0), "{doc}");
}

/// Vector with end-to-end acknowledgements and a disk-buffered sink: every file read and
/// acknowledged into the buffer is not yet delivered while the buffer holds events.
#[test]
fn vector_status_waits_for_the_sinks_disk_buffer() {
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("app.log");
    std::fs::write(&log, "one\ntwo\n").unwrap();
    let m = std::fs::metadata(&log).unwrap();
    let data = d.path().join("data");
    testkit::vector::write(
        &data.join("app"),
        &testkit::vector::document(&[(testkit::vector::Fp::DevInode(m.dev(), m.ino()), 8)]),
    )
    .unwrap();
    let cfg = d.path().join("vector.yaml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir: {}\nsources:\n  app:\n    type: file\n    include: [\"{}/*.log\"]\n    fingerprint:\n      strategy: device_and_inode\nsinks:\n  out:\n    type: http\n    inputs: [app]\n    acknowledgements:\n      enabled: true\n    buffer:\n      type: disk\n      max_size: 268435488\n",
            data.display(),
            logs.display()
        ),
    )
    .unwrap();
    let status = || {
        let o = drainguard()
            .args(["status", "--shipper", "vector", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string(),
        )
    };
    testkit::vector::write_ledger(&data.join("buffer/v2/out"), 4, 0, 0, 1).unwrap();
    let (code, out) = status();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("2 event(s) not yet acknowledged"), "{out}");
    testkit::vector::write_ledger(&data.join("buffer/v2/out"), 4, 0, 0, 3).unwrap();
    let (code, out) = status();
    assert_eq!(code, Some(0), "{out}");
}

/// Three tail inputs: one with a DB that shows everything read (its chunks flushed), one
/// without a DB (its progress is recorded nowhere: unconfirmed, never skipped), one whose DB
/// Fluent Bit has not created yet (its file is untracked: behind).
#[test]
fn fluentbit_inputs_without_a_db_are_unconfirmed_and_a_missing_db_is_behind() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    for dir in ["a", "b", "c", "chunks/tail.0"] {
        std::fs::create_dir_all(p(dir)).unwrap();
    }
    for l in ["a/app.log", "b/app.log", "c/app.log"] {
        std::fs::write(p(l), "one\ntwo\n").unwrap();
    }
    let wa = testkit::fluentbit::create(&p("a.db"), true).unwrap();
    testkit::fluentbit::insert(
        &wa,
        p("a/app.log").to_str().unwrap(),
        8,
        std::fs::metadata(p("a/app.log")).unwrap().ino(),
    )
    .unwrap();
    let input = |dir: &str, db: Option<&str>| {
        format!(
            "[INPUT]\n    Name tail\n    Path {}/*.log\n{}    storage.type filesystem\n",
            p(dir).display(),
            db.map(|db| format!("    DB {}\n", p(db).display()))
                .unwrap_or_default()
        )
    };
    let conf = p("fluent-bit.conf");
    let status = |inputs: &[String]| {
        std::fs::write(
            &conf,
            format!(
                "[SERVICE]\n    storage.path {}\n{}",
                p("chunks").display(),
                inputs.concat()
            ),
        )
        .unwrap();
        json_status("fluent-bit", &conf)
    };
    let (code, doc) = status(&[
        input("a", Some("a.db")),
        input("b", None),
        input("c", Some("c.db")),
    ]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(
        store_verdicts(&doc),
        vec![
            (p("a.db").display().to_string(), "drained".to_string()),
            (conf.display().to_string(), "unconfirmed".to_string()),
            (p("c.db").display().to_string(), "behind".to_string()),
        ]
    );
    let text = doc.to_string();
    assert!(text.contains("tail input tail.1"), "{text}");
    assert!(text.contains("has no DB"), "{text}");
    let delivery = doc["shippers"][1]["delivery"].as_str().unwrap();
    assert!(
        delivery.starts_with("no file is tracked, but delivery is unconfirmed"),
        "{delivery}"
    );
    assert!(text.contains("does not exist yet"), "{text}");
    assert_eq!(doc["bytes_behind"].as_u64(), Some(8), "{doc}");

    // Only the input without a DB: nothing can be proven, never "drained".
    let (code, doc) = status(&[input("b", None)]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["verdict"], "unconfirmed", "{doc}");
}

/// Logstash: each `file {}` input is a store. Its default sincedb (named after its paths) not
/// written yet: its files are untracked (behind). Once written, it is read. An input with
/// `sincedb_path => "/dev/null"` records nothing (unconfirmed) and its files are not
/// counted against it, whatever the other inputs have. A stale sincedb of an old config
/// in the same directory is not read.
#[test]
fn logstash_every_file_input_is_a_store() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    for dir in ["conf.d", "data/plugins/inputs/file", "logs", "tmp"] {
        std::fs::create_dir_all(p(dir)).unwrap();
    }
    std::fs::write(p("logs/app.log"), "one\ntwo\n").unwrap();
    std::fs::write(p("tmp/scratch.log"), "scratch\n").unwrap();
    let app = format!(
        "    file {{\n      path => \"{}/*.log\"\n    }}\n",
        p("logs").display()
    );
    let status = |inputs: &str| {
        std::fs::write(p("conf.d/app.conf"), format!("input {{\n{inputs}}}\n")).unwrap();
        let o = drainguard()
            .args(["status", "--json", "--shipper", "logstash", "--config"])
            .arg(p("conf.d"))
            .arg("--data-path")
            .arg(p("data"))
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        (o.status.code(), doc)
    };
    let m = std::fs::metadata(p("logs/app.log")).unwrap();
    let (maj, min) = testkit::logstash::major_minor(m.dev());
    let record = |pos| {
        testkit::logstash::record(
            m.ino(),
            maj,
            min,
            pos,
            Some(p("logs/app.log").to_str().unwrap()),
        )
    };
    // A stale sincedb of another config says the file is read to the end: not this input's.
    testkit::logstash::write(
        &p("data/plugins/inputs/file/.sincedb_0123abcd"),
        &[record(8)],
    )
    .unwrap();

    let (code, doc) = status(&app);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["verdict"], "behind", "{doc}");
    assert_eq!(doc["bytes_behind"].as_u64(), Some(8), "{doc}");
    assert!(
        doc.to_string()
            .contains("does not exist yet (Logstash writes the sincedb"),
        "{doc}"
    );

    // Logstash wrote the input's own sincedb (name from its paths, found via --data-path).
    let name = drainguard::adapters::logstash::file_inputs(&format!("input {{\n{app}}}\n"))[0]
        .default_sincedb_name();
    testkit::logstash::write(&p("data/plugins/inputs/file").join(name), &[record(4)]).unwrap();
    let (code, doc) = status(&app);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["bytes_behind"].as_u64(), Some(4), "{doc}");
    assert!(
        !doc.to_string()
            .contains("does not exist yet (Logstash writes the sincedb"),
        "{doc}"
    );

    // A second input with /dev/null: unconfirmed on its own, its file never untracked.
    let devnull = format!(
        "    file {{\n      path => \"{}/*.log\"\n      sincedb_path => \"/dev/null\"\n    }}\n",
        p("tmp").display()
    );
    let (code, doc) = status(&format!("{app}{devnull}"));
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["bytes_behind"].as_u64(), Some(4), "{doc}");
    assert_eq!(doc["shippers"][1]["verdict"], "unconfirmed", "{doc}");
    assert!(
        doc["shippers"][1].to_string().contains("/dev/null"),
        "{doc}"
    );
    assert!(!doc.to_string().contains("scratch.log"), "{doc}");
}

/// Promtail: the config's `__path__` globs find a file Promtail has no position for yet
/// (untracked: behind), next to one it has read to the end.
#[test]
fn promtail_files_without_a_position_are_untracked() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    std::fs::create_dir(p("logs")).unwrap();
    std::fs::write(p("logs/a.log"), "one\n").unwrap();
    std::fs::write(p("logs/b.log"), "two\nthree\n").unwrap();
    std::fs::write(
        p("positions.yaml"),
        format!("positions:\n  {}: \"4\"\n", p("logs/a.log").display()),
    )
    .unwrap();
    let conf = p("promtail.yml");
    std::fs::write(
        &conf,
        format!(
            "positions:\n  filename: {}\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - labels:\n          __path__: {}/*.log\n",
            p("positions.yaml").display(),
            p("logs").display()
        ),
    )
    .unwrap();
    let (code, doc) = json_status("promtail", &conf);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["verdict"], "behind", "{doc}");
    assert_eq!(doc["bytes_behind"].as_u64(), Some(10), "{doc}");
    let files = doc["shippers"][0]["files"].as_array().unwrap();
    let b = files
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("b.log"))
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(b["state"], "untracked", "{doc}");
}

/// Three tail inputs behind one HTTP API: one `status` asks the API once for the storage
/// metrics and once for the output metrics, not once per input.
#[test]
fn one_monitoring_api_is_asked_once_per_read_whatever_the_number_of_stores() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    let (port, served) = support::fake_http_counted(
        r#"{"input_chunks":{"tail.0":{"chunks":{"total":0}},"tail.1":{"chunks":{"total":0}},"tail.2":{"chunks":{"total":0}}},"output":{}}"#,
    );
    let mut conf =
        format!("[SERVICE]\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {port}\n");
    for n in 0..3 {
        let db = p(&format!("{n}.db"));
        testkit::fluentbit::create(&db, false).unwrap();
        conf.push_str(&format!(
            "[INPUT]\n    Name tail\n    Path {}/*.log\n    DB {}\n",
            p(&format!("logs{n}")).display(),
            db.display()
        ));
    }
    std::fs::write(p("fluent-bit.conf"), conf).unwrap();
    let (code, doc) = json_status("fluent-bit", &p("fluent-bit.conf"));
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["shippers"].as_array().unwrap().len(), 3, "{doc}");
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "/api/v1/storage and /api/v1/metrics, once each"
    );
}

/// `status --json` is a summary: the totals and the top files per store (`--top`), the
/// rest counted in `files_omitted`; `--all` (alias `--all-files`) lists every file.
#[test]
fn status_json_summarises_the_files_unless_all_are_asked_for() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    std::fs::create_dir(p("logs")).unwrap();
    for (n, body) in [("a.log", "1\n"), ("b.log", "22\n"), ("c.log", "333\n")] {
        std::fs::write(p("logs").join(n), body).unwrap();
    }
    std::fs::write(p("positions.yaml"), "positions: {}\n").unwrap();
    let conf = p("promtail.yml");
    std::fs::write(
        &conf,
        format!(
            "positions:\n  filename: {}\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - labels:\n          __path__: {}/*.log\n",
            p("positions.yaml").display(),
            p("logs").display()
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| -> serde_json::Value {
        let o = drainguard()
            .args(["status", "--json", "--shipper", "promtail", "--config"])
            .arg(&conf)
            .args(extra)
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let top = run(&["--top", "1"]);
    let s = &top["shippers"][0];
    assert_eq!(s["files"].as_array().unwrap().len(), 1, "{top}");
    // The file kept is the one most behind; the totals count all three.
    assert!(
        s["files"][0]["path"].as_str().unwrap().ends_with("c.log"),
        "{top}"
    );
    assert_eq!(s["files_omitted"], 2, "{top}");
    assert_eq!(s["totals"]["files"], 3, "{top}");
    assert_eq!(top["bytes_behind"], 9, "{top}");
    for all in ["--all", "--all-files"] {
        let full = run(&[all]);
        assert_eq!(full["shippers"][0]["files"].as_array().unwrap().len(), 3);
        assert!(full["shippers"][0].get("files_omitted").is_none(), "{full}");
    }
}
