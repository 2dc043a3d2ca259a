//! The OpenTelemetry Collector adapter over file_storage files written by the real bbolt
//! library (support/otel.rs): what `status` makes of them, and reads that stay consistent
//! while a writer commits transaction after transaction (holding bbolt's exclusive flock, as
//! the collector does).

use crate::support;

use std::path::{Path, PathBuf};

use drainguard::adapters::otel;
use support::{drainguard, json};

fn config(dir: &Path, logs: &Path, store_dir: &Path) -> PathBuf {
    config_with_metrics(dir, logs, store_dir, 1)
}

fn config_with_metrics(dir: &Path, logs: &Path, store_dir: &Path, port: u16) -> PathBuf {
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "receivers:\n  filelog:\n    include: [{}/*.log]\n    storage: file_storage\n\
             extensions:\n  file_storage:\n    directory: {}\n\
             exporters:\n  otlp:\n    endpoint: 127.0.0.1:1\n\
             service:\n  extensions: [file_storage]\n  telemetry:\n    metrics:\n      \
             address: 127.0.0.1:{port}\n  pipelines:\n    logs:\n      receivers: [filelog]\n      \
             exporters: [otlp]\n",
            logs.display(),
            store_dir.display()
        ),
    )
    .unwrap();
    cfg
}

/// A temporary tree with the collector's `logs/` and its `file_storage/` directory.
fn dirs() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    let store_dir = d.path().join("file_storage");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::create_dir_all(&store_dir).unwrap();
    (d, logs, store_dir)
}

#[test]
fn a_store_written_by_bbolt_gives_each_files_unread_bytes() {
    let Some(w) = support::otel::writer() else {
        return;
    };
    let (d, logs, store_dir) = dirs();
    // Two files sharing their first 16 bytes (told apart by the rest of the fingerprint), a
    // short one, and one the store does not know.
    let a = logs.join("a.log");
    let b = logs.join("b.log");
    let short = logs.join("short.log");
    let lines = |c: &str, n: usize| format!("{}\n", c.repeat(99)).repeat(n);
    std::fs::write(&a, format!("same prefix 16b\n{}", lines("a", 20))).unwrap();
    std::fs::write(&b, format!("same prefix 16b\n{}", lines("b", 30))).unwrap();
    std::fs::write(&short, "tiny\n").unwrap();
    std::fs::write(logs.join("new.log"), "0123456789").unwrap();
    let db = store_dir.join("receiver_filelog_");
    support::otel::write(&w, &db, &[(&a, 2016), (&b, 1016), (&short, 5)]);
    let cfg = config(d.path(), &logs, &store_dir);

    let o = drainguard()
        .args(["status", "--json", "--shipper", "otelcol", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let j = json(&o);
    let s = &j["shippers"][0];
    assert_eq!(s["store"], db.display().to_string(), "{j}");
    assert_eq!(s["offset_meaning"], "read", "{j}");
    // b: 1016 of 3016 read; new.log: 10 untracked; a and short: read to the end.
    assert_eq!(j["bytes_behind"].as_u64(), Some(2000 + 10), "{j}");
    let state = |name: &str| {
        s["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .map(|f| f["state"].clone())
    };
    assert_eq!(state("new.log").unwrap(), "untracked", "{j}");
    assert_eq!(state("a.log").unwrap(), "shipped", "{j}");
    assert_eq!(state("b.log").unwrap(), "behind", "{j}");
    // The offset proves "read" and the metrics endpoint is down: never drained.
    assert_ne!(j["verdict"], "drained", "{j}");
    assert_eq!(o.status.code(), Some(1), "{j}");
}

#[test]
fn reads_under_a_live_bbolt_writer_are_each_one_committed_state() {
    let Some(w) = support::otel::writer() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..4)
        .map(|n| {
            let p = d.path().join(format!("f{n}.log"));
            std::fs::write(&p, format!("file {n} ").repeat(300)).unwrap();
            p
        })
        .collect();
    let db = d.path().join("receiver_filelog_");
    let rounds = 3000u64;
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let mut child = support::otel::live(&w, &db, rounds, &refs);
    let (mut reads, mut unstable, mut last) = (0u64, 0u64, 0u64);
    loop {
        let done = child.try_wait().unwrap().is_some();
        if db.exists() {
            match otel::read_known(&db) {
                Ok(Some(known)) => {
                    assert_eq!(known.len(), 4);
                    let r = known[0].offset;
                    // One committed transaction: every file at the same round, never older
                    // than a read before.
                    assert!(known.iter().all(|k| k.offset == r), "{known:?}");
                    assert!(r >= last, "round {r} after {last}");
                    for (k, f) in known.iter().zip(&files) {
                        assert_eq!(k.first_bytes, std::fs::read(f).unwrap()[..1000]);
                    }
                    last = r;
                    if !done {
                        reads += 1;
                    }
                }
                Ok(None) => {}
                Err(otel::ReadError::Unstable(_)) => unstable += 1,
                Err(otel::ReadError::Store(e)) => panic!("read {reads}: {e}"),
            }
        }
        if done {
            break;
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(last, rounds, "the last read sees the last commit");
    assert!(reads > 10, "only {reads} reads while the writer ran");
    eprintln!("{reads} reads during {rounds} commits, {unstable} unstable");
}

/// Every file read to its end: the offsets prove only "read", so the verdict follows the
/// collector's metrics. A queued batch or records accepted and not sent hold it (the test
/// that fails when the signal is ignored); counters that balance release it.
#[test]
fn read_to_the_end_is_drained_only_when_the_metrics_say_everything_was_sent() {
    let Some(w) = support::otel::writer() else {
        return;
    };
    let (d, logs, store_dir) = dirs();
    let a = logs.join("a.log");
    std::fs::write(&a, "one\ntwo\nthree\n").unwrap();
    support::otel::write(&w, &store_dir.join("receiver_filelog_"), &[(&a, 14)]);
    let status = |metrics: &'static str| {
        let port = support::fake_http(metrics);
        let cfg = config_with_metrics(d.path(), &logs, &store_dir, port);
        let o = drainguard()
            .args(["status", "--json", "--shipper", "otelcol", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        json(&o)
    };
    let queued = status(
        "otelcol_exporter_queue_size{data_type=\"logs\",exporter=\"otlp\"} 1\n\
         otelcol_exporter_sent_log_records_total{exporter=\"otlp\"} 3\n\
         otelcol_receiver_accepted_log_records_total{receiver=\"filelog\"} 3\n",
    );
    assert_eq!(queued["bytes_behind"].as_u64(), Some(0), "{queued}");
    assert_ne!(queued["verdict"], "drained", "{queued}");
    let in_flight = status(
        "otelcol_exporter_queue_size{exporter=\"otlp\"} 0\n\
         otelcol_exporter_sent_log_records_total{exporter=\"otlp\"} 1\n\
         otelcol_receiver_accepted_log_records_total{receiver=\"filelog\"} 3\n",
    );
    assert_ne!(in_flight["verdict"], "drained", "{in_flight}");
    assert_eq!(in_flight["queued_events"].as_u64(), Some(2), "{in_flight}");
    let sent = status(
        "otelcol_exporter_queue_size{data_type=\"logs\",exporter=\"otlp\"} 0\n\
         otelcol_exporter_sent_log_records_total{exporter=\"otlp\"} 3\n\
         otelcol_receiver_accepted_log_records_total{receiver=\"filelog\"} 3\n",
    );
    assert_eq!(sent["verdict"], "drained", "{sent}");
}
