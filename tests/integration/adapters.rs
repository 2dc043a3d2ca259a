//! Format tests of the non-Filebeat adapters, from stores written in each shipper's exact
//! on-disk format (src/testkit/<shipper>.rs), including each shipper's known traps.

use crate::support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use drainguard::adapters::{self, SourceOptions};
use drainguard::cursor::{Identity, OffsetMeaning, OffsetUnit, QueueState, ShipperKind};
use drainguard::error::StoreError;
use drainguard::fingerprint::FingerprintSpec;
use drainguard::testkit::{self, corrupt_pos, store_opts};

// ---------------------------------------------------------------- Promtail / Alloy

#[test]
fn promtail_positions_skip_cursors_and_count_lines_for_gz() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("positions.yaml");
    testkit::promtail::write(
        &f,
        &testkit::promtail::promtail(&[
            ("/var/log/app.log", "17623"),
            ("/var/log/old.log.gz", "120"),
            ("journal-my_job", "s=abcdef;i=1a2b"),
            ("cursor-x", "c"),
        ]),
    )
    .unwrap();
    let mut r = adapters::open(ShipperKind::Promtail, &store_opts(&f))
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let s = r.read().unwrap();
    assert_eq!(s.cursors.len(), 2);
    let app = s
        .cursors
        .iter()
        .find(|c| &*c.key == "/var/log/app.log")
        .unwrap();
    assert_eq!(
        (app.offset, app.unit, &app.identity),
        (17623, OffsetUnit::Bytes, &Identity::Path)
    );
    let gz = s.cursors.iter().find(|c| c.key.ends_with(".gz")).unwrap();
    assert_eq!((gz.offset, gz.unit), (120, OffsetUnit::Lines));
    assert_eq!(s.skipped.iter().map(|k| k.count).sum::<usize>(), 2);
    assert_eq!(s.offset_meaning, OffsetMeaning::Read);
}

#[test]
fn alloy_several_label_sets_per_path_take_the_minimum() {
    let text = testkit::promtail::alloy(&[
        (
            "/var/log/app.log",
            "{filename=\"/var/log/app.log\", job=\"a\"}",
            900,
        ),
        (
            "/var/log/app.log",
            "{filename=\"/var/log/app.log\", job=\"b\"}",
            300,
        ),
        ("/var/log/other.log", "{job=\"c\"}", 5),
    ]);
    let s = drainguard::adapters::promtail::parse(
        ShipperKind::Alloy,
        Path::new("/p.yml"),
        text.as_bytes(),
    )
    .unwrap();
    let offs: Vec<(String, u64)> = s
        .cursors
        .iter()
        .map(|c| (c.key.to_string(), c.offset))
        .collect();
    assert_eq!(
        offs,
        vec![
            ("/var/log/app.log".into(), 300),
            ("/var/log/other.log".into(), 5)
        ]
    );
}

/// Each `loki.source.file` component keeps its own positions file; all of them are read.
#[test]
fn alloy_every_component_is_a_store() {
    let d = tempfile::tempdir().unwrap();
    for (component, path, off) in [
        ("loki.source.file.app", "/var/log/app.log", 10),
        ("loki.source.file.web", "/var/log/web.log", 20),
    ] {
        let dir = d.path().join(component);
        std::fs::create_dir_all(&dir).unwrap();
        testkit::promtail::write(
            &dir.join("positions.yml"),
            &testkit::promtail::alloy(&[(path, "{job=\"x\"}", off)]),
        )
        .unwrap();
    }
    std::fs::create_dir_all(d.path().join("prometheus.scrape.x")).unwrap();
    let opts = SourceOptions {
        data_path: Some(d.path().to_path_buf()),
        ..Default::default()
    };
    let got: Vec<(String, u64)> = adapters::open(ShipperKind::Alloy, &opts)
        .unwrap()
        .iter_mut()
        .map(|r| {
            let s = r.read().unwrap();
            (s.cursors[0].key.to_string(), s.cursors[0].offset)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("/var/log/app.log".to_string(), 10),
            ("/var/log/web.log".to_string(), 20)
        ]
    );
}

#[test]
fn promtail_path_identity_survives_rotation_as_path_only() {
    // After a rotation the new file inherits the path's entry: the store cannot tell them
    // apart, so the cursor must say Identity::Path (the backlog treats it as path-only).
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    std::fs::write(&log, "old\n").unwrap();
    std::fs::rename(&log, d.path().join("app.log.1")).unwrap();
    std::fs::write(&log, "new file\n").unwrap();
    let text = testkit::promtail::promtail(&[(log.to_str().unwrap(), "4")]);
    let s = drainguard::adapters::promtail::parse(
        ShipperKind::Promtail,
        Path::new("/p"),
        text.as_bytes(),
    )
    .unwrap();
    assert_eq!(s.cursors[0].identity, Identity::Path);
    assert_eq!(s.cursors[0].path.as_deref(), Some(log.as_path()));
}

#[test]
fn promtail_corrupt_yaml_and_bad_number_are_clear_errors() {
    let e = drainguard::adapters::promtail::parse(
        ShipperKind::Promtail,
        Path::new("/p"),
        b"positions:\n  /a: \"1\"\n   bad: [\n",
    )
    .unwrap_err();
    let (line, _, _) = corrupt_pos(e);
    assert!(line.is_some());
    let e = drainguard::adapters::promtail::parse(
        ShipperKind::Promtail,
        Path::new("/p"),
        b"positions:\n  /a: \"12x\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("12x"), "{e}");
}

// ---------------------------------------------------------------- rsyslog

#[test]
fn rsyslog_file_id_state_name_matches_recomputed_fingerprint_and_catches_inode_reuse() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    let body: String = (0..100).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&log, &body).unwrap();
    let ino = std::fs::metadata(&log).unwrap().ino();
    let work = d.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let state = testkit::rsyslog::write_state(&work, &log, body.len() as u64, None).unwrap();
    let id = FingerprintSpec::RsyslogFileId
        .compute(&log)
        .unwrap()
        .unwrap();
    assert!(
        state.to_str().unwrap().ends_with(&format!(":{ino}:{id}")),
        "{}",
        state.display()
    );
    let s = drainguard::adapters::rsyslog::read_dir(&work).unwrap();
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.cursors[0].identity, Identity::Inode { ino });
    assert_eq!(s.cursors[0].offset, body.len() as u64);
    // Same inode, other content (rewritten in place): the file id no longer matches.
    std::fs::write(&log, body.replace("line", "LINE")).unwrap();
    let s = drainguard::adapters::rsyslog::read_dir(&work).unwrap();
    assert!(s.cursors.is_empty());
    assert!(
        s.notes.iter().any(|n| n.contains("inode reused")),
        "{:?}",
        s.notes
    );
}

#[test]
fn rsyslog_siphash_matches_reference_vector() {
    // SipHash-2-4 reference vectors (Aumasson & Bernstein), key 00..0f, message 00..3e:
    // the 64-byte message's first 15 bytes give vector 15.
    let msg: Vec<u8> = (0u8..15).collect();
    assert_eq!(
        drainguard::fingerprint::rsyslog_file_id(&msg),
        "e545be4961ca29a1"
    );
}

#[test]
fn rsyslog_short_file_has_inode_identity_and_partial_line_is_noted() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("a.log");
    std::fs::write(&log, "one\npart").unwrap();
    let ino = std::fs::metadata(&log).unwrap().ino();
    testkit::rsyslog::write_state(d.path(), &log, 8, Some("part")).unwrap();
    let s = drainguard::adapters::rsyslog::read_dir(d.path()).unwrap();
    assert_eq!(s.cursors[0].identity, Identity::Inode { ino });
    assert_eq!(s.cursors[0].offset, 8, "curr_offs includes the fragment");
    // A legacy path-named state file next to it is counted, not fatal.
    std::fs::write(d.path().join("imfile-state:-var-log-old.log"), "{}").unwrap();
    let s = drainguard::adapters::rsyslog::read_dir(d.path()).unwrap();
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.skipped[0].count, 1);
    assert!(
        s.notes.iter().any(|n| n.contains("partial line")),
        "{:?}",
        s.notes
    );
}

#[test]
fn rsyslog_old_format_unsupported_empty_noted_corrupt_positioned() {
    let p = Path::new("/w/imfile-state:12");
    let mut notes = vec![];
    let e = drainguard::adapters::rsyslog::parse_state(
        p,
        "imfile-state:12",
        b"<Obj:1:strm:1:\n+iCurrOffs:2:2:10:\n>End\n.\n",
        &mut notes,
    )
    .unwrap_err();
    assert!(matches!(e, StoreError::Unsupported { .. }), "{e}");
    assert!(
        drainguard::adapters::rsyslog::parse_state(p, "imfile-state:12", b"", &mut notes)
            .unwrap()
            .is_none()
    );
    assert_eq!(notes.len(), 1);
    let e = drainguard::adapters::rsyslog::parse_state(
        p,
        "imfile-state:12",
        b"{ \"curr_offs\": 1,\n \"strt",
        &mut notes,
    )
    .unwrap_err();
    assert_eq!(corrupt_pos(e).0, Some(2));
}

#[test]
fn rsyslog_conf_gives_work_dir_inputs_and_impstats() {
    let conf = r#"
global(workDirectory="/var/spool/rsyslog")  # comment
module(load="imfile")
module(load="impstats" interval="1" format="json"
       log.file="/var/log/rsyslog-stats.log" log.syslog="off")
input(type="imfile" File="/var/log/app/*.log" Tag="app:")
input(type="imfile" File="/var/log/b.log" Tag="b" PersistStateAfterSubmission="on")
"#;
    let c = drainguard::adapters::rsyslog::parse_conf(conf);
    assert_eq!(c.work_dir, Some(PathBuf::from("/var/spool/rsyslog")));
    assert_eq!(
        c.files,
        vec!["/var/log/app/*.log".to_string(), "/var/log/b.log".into()]
    );
    assert_eq!(c.lagging_state, vec!["/var/log/app/*.log".to_string()]);
    assert_eq!(
        c.impstats_file,
        Some(PathBuf::from("/var/log/rsyslog-stats.log"))
    );
}

#[test]
fn rsyslog_impstats_queue_sizes() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("stats.log");
    std::fs::write(&f, "Nov 25 01:00:00 h rsyslogd-pstats: { \"name\": \"main Q\", \"origin\": \"core.queue\", \"size\": 3 }\n{ \"name\": \"action-1\", \"origin\": \"core.queue\", \"size\": 0 }\n").unwrap();
    let s = drainguard::adapters::rsyslog::impstats_signal(&f).unwrap();
    assert_eq!(
        s.state,
        QueueState::owed(
            "3 message(s) queued: main Q=3",
            drainguard::cursor::Owed {
                queued_events: Some(3),
                ..Default::default()
            }
        )
    );
    std::fs::write(&f, "{ \"name\": \"main Q\", \"origin\": \"core.queue\", \"size\": 3 }\n{ \"name\": \"main Q\", \"origin\": \"core.queue\", \"size\": 0 }\n").unwrap();
    assert_eq!(
        drainguard::adapters::rsyslog::impstats_signal(&f)
            .unwrap()
            .state,
        QueueState::Empty
    );
    // Configured but not written yet: pending, never a guess.
    std::fs::remove_file(&f).unwrap();
    assert!(matches!(
        drainguard::adapters::rsyslog::impstats_signal(&f)
            .unwrap()
            .state,
        QueueState::Pending { .. }
    ));
}

/// impstats appends a full record set every interval for as long as rsyslog runs; only the
/// file's end is read, and the newest record per queue decides — also when the queue records
/// lie further back than the first window (many other counters after them).
#[test]
fn rsyslog_impstats_reads_the_newest_records_of_a_large_file() {
    use drainguard::adapters::rsyslog::impstats_signal;
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("stats.log");
    let q = |size: u64| {
        format!("Wed Nov 25 03:20:14 2026: {{ \"name\": \"main Q\", \"origin\": \"core.queue\", \"size\": {size}, \"enqueued\": 105000 }}\n")
    };
    let other = "Wed Nov 25 03:20:14 2026: { \"name\": \"action-0-builtin:omfwd\", \"origin\": \"core.action\", \"processed\": 100256 }\n";
    let mut text = String::new();
    for i in 0..20_000u64 {
        text.push_str(&q(i % 7 + 1));
        text.push_str(other);
    }
    text.push_str(&q(0));
    std::fs::write(&f, &text).unwrap();
    assert!(text.len() > 1 << 20);
    assert_eq!(impstats_signal(&f).unwrap().state, QueueState::Empty);

    text.push_str(&q(42));
    text.push_str(&other.repeat(5000)); // > 256 KiB after the last queue record
    std::fs::write(&f, &text).unwrap();
    assert_eq!(
        impstats_signal(&f).unwrap().state,
        QueueState::owed(
            "42 message(s) queued: main Q=42",
            drainguard::cursor::Owed {
                queued_events: Some(42),
                ..Default::default()
            }
        )
    );

    // A large configuration: one interval's records span more than the first window, and
    // the busy queue comes first in each interval. Its newest record is still found.
    let named = |name: &str, size: u64| {
        format!("Wed Nov 25 03:20:15 2026: {{ \"name\": \"{name}\", \"origin\": \"core.queue\", \"size\": {size} }}\n")
    };
    let mut text = String::new();
    for _ in 0..3 {
        text.push_str(&named("main Q", 9));
        for a in 0..3000 {
            text.push_str(&named(&format!("action-{a} queue"), 0));
        }
    }
    std::fs::write(&f, &text).unwrap();
    assert!(text.len() / 3 > 256 * 1024);
    assert_eq!(
        impstats_signal(&f).unwrap().state,
        QueueState::owed(
            "9 message(s) queued: main Q=9",
            drainguard::cursor::Owed {
                queued_events: Some(9),
                ..Default::default()
            }
        )
    );
}

// ---------------------------------------------------------------- Vector

#[test]
fn vector_crc64_ecma_check_value() {
    assert_eq!(
        drainguard::fingerprint::vector_crc64(b"123456789"),
        0x6C40_DF5F_0B49_7347
    );
}

fn default_source() -> drainguard::adapters::vector::FileSource {
    drainguard::adapters::vector::FileSource {
        include: vec!["/var/log/*.log".into()],
        ..drainguard::adapters::vector::FileSource::with_defaults("logs")
    }
}

#[test]
fn vector_first_lines_checksum_recomputed_from_plain_and_gzip_files() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("a.log");
    std::fs::write(&log, "first line\nsecond\n").unwrap();
    let gz = d.path().join("a.log.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(b"first line\nsecond\n").unwrap();
    enc.finish().unwrap();
    let want = drainguard::fingerprint::vector_crc64(b"first line\n");
    let dir = d.path().join("data/logs");
    testkit::vector::write(
        &dir,
        &testkit::vector::document(&[(testkit::vector::Fp::FirstLines(want), 11)]),
    )
    .unwrap();
    let s = drainguard::adapters::vector::parse(
        &dir.join("checkpoints.json"),
        &std::fs::read(dir.join("checkpoints.json")).unwrap(),
        &default_source(),
    )
    .unwrap();
    let Identity::Fingerprint { spec, value } = &s.cursors[0].identity else {
        panic!()
    };
    assert_eq!(spec.compute(&log).unwrap().as_deref(), Some(&**value));
    assert_eq!(spec.compute(&gz).unwrap().as_deref(), Some(&**value));
    assert_eq!(s.cursors[0].path, None, "Vector stores no path");
    assert_eq!(s.inputs[0].paths, vec!["/var/log/*.log".to_string()]);
    assert_eq!(s.offset_meaning, OffsetMeaning::Read);
    // A file without a complete first line has no fingerprint (Vector never reads it).
    std::fs::write(&log, "no newline").unwrap();
    assert_eq!(spec.compute(&log).unwrap(), None);
}

#[test]
fn vector_dev_inode_legacy_checksum_and_new_json_preferred() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("vector.toml");
    let data = d.path().join("data");
    std::fs::write(&cfg, format!("data_dir = \"{}\"\n[sources.logs]\ntype = \"file\"\ninclude = [\"/var/log/*.log\"]\n[sinks.out]\ntype = \"console\"\ninputs = [\"logs\"]\nacknowledgements.enabled = true\n", data.display())).unwrap();
    let dir = data.join("logs");
    testkit::vector::write(
        &dir,
        &testkit::vector::document(&[
            (testkit::vector::Fp::DevInode(64768, 42), 10),
            (testkit::vector::Fp::Checksum(1), 5),
        ]),
    )
    .unwrap();
    let opts = SourceOptions {
        config: Some(cfg),
        ..Default::default()
    };
    let mut r = adapters::open(ShipperKind::Vector, &opts)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let s = r.read().unwrap();
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(
        s.cursors[0].identity,
        Identity::DevInode {
            dev: 64768,
            ino: 42
        }
    );
    assert_eq!(s.skipped[0].count, 1);
    assert_eq!(
        s.offset_meaning,
        OffsetMeaning::Delivered,
        "sink acknowledgements on"
    );
    // An interrupted write left checkpoints.new.json: Vector prefers it, so do we.
    std::fs::write(
        dir.join("checkpoints.new.json"),
        testkit::vector::document(&[(testkit::vector::Fp::DevInode(64768, 42), 99)]),
    )
    .unwrap();
    assert_eq!(r.read().unwrap().cursors[0].offset, 99);
    // A torn one is ignored with a note.
    std::fs::write(
        dir.join("checkpoints.new.json"),
        "{\"version\":\"1\",\"checkp",
    )
    .unwrap();
    let s = r.read().unwrap();
    assert_eq!(s.cursors[0].offset, 10);
    assert!(!s.notes.is_empty());
}

/// The disk buffer ledger as Vector archives it: events still owed are
/// `writer_next_record - reader_last_record - 1`; a short or inconsistent ledger is named,
/// never read as "empty".
#[test]
fn vector_disk_buffer_ledger() {
    use drainguard::adapters::vector_buffer::{signal, Ledger};
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("buffer/v2/out");
    // No buffer directory yet: nothing was ever buffered.
    assert_eq!(signal(&dir, &dir).state, QueueState::Empty);
    // A fresh buffer (Vector's default ledger: next 1, last 0).
    testkit::vector::write_ledger(&dir, 1, 0, 0, 0).unwrap();
    assert_eq!(signal(&dir, &dir).state, QueueState::Empty);
    // 10 events written, 3 acknowledged.
    testkit::vector::write_ledger(&dir, 11, 2, 1, 3).unwrap();
    let bytes = std::fs::read(dir.join("buffer.db")).unwrap();
    let l = Ledger::parse(&dir.join("buffer.db"), &bytes).unwrap();
    assert_eq!(
        (
            l.unacknowledged(),
            l.reader_current_data_file,
            l.writer_current_data_file
        ),
        (7, 1, 2)
    );
    assert_eq!(
        signal(&dir, &dir).state,
        QueueState::owed(
            "7 event(s) not yet acknowledged by the sink (data files 1..=2)",
            drainguard::cursor::Owed {
                queued_events: Some(7),
                ..Default::default()
            }
        )
    );
    testkit::vector::write_ledger(&dir, 11, 2, 2, 10).unwrap();
    assert_eq!(signal(&dir, &dir).state, QueueState::Empty);
    // Truncated, or a writer behind its reader: unknown, naming the file and byte.
    std::fs::write(dir.join("buffer.db"), &bytes[..20]).unwrap();
    let QueueState::Unknown { hint } = signal(&dir, &dir).state else {
        panic!("a truncated ledger must not pass")
    };
    assert!(
        hint.contains("buffer.db") && hint.contains("20 bytes"),
        "{hint}"
    );
    testkit::vector::write_ledger(&dir, 5, 0, 0, 9).unwrap();
    assert!(matches!(
        signal(&dir, &dir).state,
        QueueState::Unknown { .. }
    ));
}

/// Every `file` source is a store; with acknowledgements and a disk-buffered sink, offsets
/// mean "in the disk buffer", and the buffer must be empty too.
#[test]
fn vector_every_source_and_the_sinks_disk_buffer() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let cfg = d.path().join("vector.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n[sources.app]\ntype = \"file\"\ninclude = [\"/a/*.log\"]\n[sources.web]\ntype = \"file\"\ninclude = [\"/w/*.log\"]\n[sources.late]\ntype = \"file\"\ninclude = [\"/l/*.log\"]\n[sinks.out]\ntype = \"http\"\ninputs = [\"app\", \"web\", \"late\"]\nacknowledgements.enabled = true\nbuffer.type = \"disk\"\nbuffer.max_size = 268435488\n[sinks.mem]\ntype = \"console\"\ninputs = [\"app\"]\nbuffer = [{{ type = \"memory\" }}]\n",
            data.display()
        ),
    )
    .unwrap();
    for (src, pos) in [("app", 10), ("web", 20)] {
        testkit::vector::write(
            &data.join(src),
            &testkit::vector::document(&[(testkit::vector::Fp::DevInode(1, pos), pos)]),
        )
        .unwrap();
    }
    testkit::vector::write_ledger(&data.join("buffer/v2/out"), 8, 0, 0, 2).unwrap();
    let opts = SourceOptions {
        config: Some(cfg),
        ..Default::default()
    };
    let snaps: Vec<_> = adapters::open(ShipperKind::Vector, &opts)
        .unwrap()
        .iter_mut()
        .map(|r| r.read().unwrap())
        .collect();
    let inputs: Vec<&str> = snaps.iter().map(|s| s.inputs[0].name.as_str()).collect();
    assert_eq!(inputs, vec!["app", "late", "web"]);
    // "late" has checkpointed nothing yet: no cursors, its files are owed, and it says why.
    assert!(snaps[1].cursors.is_empty());
    assert!(snaps[1]
        .notes
        .iter()
        .any(|n| n.contains("does not exist yet")));
    for s in &snaps {
        assert_eq!(s.offset_meaning, OffsetMeaning::InDiskQueue);
        assert_eq!(
            s.queues.len(),
            1,
            "only the disk-buffered sink: {:?}",
            s.queues
        );
        assert!(
            matches!(&s.queues[0].state, QueueState::Pending { detail, owed } if detail.starts_with("5 event(s)") && owed.queued_events == Some(5)),
            "{:?}",
            s.queues
        );
    }
}

#[test]
fn vector_yaml_config_and_corrupt_checkpoints() {
    let c = drainguard::adapters::vector::parse_conf(Path::new("v.yaml"), "sources:\n  k:\n    type: file\n    include: [\"/a/*.log\"]\n    exclude: [\"/a/x.log\"]\n    fingerprint:\n      strategy: checksum\n      lines: 3\n").unwrap();
    assert_eq!(
        c.sources[0].fingerprint,
        FingerprintSpec::VectorFirstLines {
            lines: 3,
            ignored_header_bytes: 0,
            max_line_bytes: 102_400
        }
    );
    assert!(!c.sources[0].acknowledgements);
    let e = drainguard::adapters::vector::parse(
        Path::new("/c.json"),
        b"{\"version\":\"2\",\"checkpoints\":[]}",
        &default_source(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("/c.json"), "{e}");
}

// ---------------------------------------------------------------- HTTP delivery signals

/// The base URL of a fake monitoring API answering `body`.
fn fake_api(body: &'static str) -> String {
    format!("http://127.0.0.1:{}", support::fake_http(body))
}

#[test]
fn fluentbit_storage_api_pending_and_empty() {
    use drainguard::adapters::fluentbit;
    use drainguard::adapters::http::Http;
    let busy = fake_api(
        r#"{"storage_layer":{"chunks":{"total_chunks":2}},"input_chunks":{"tail.0":{"status":{"overlimit":false},"chunks":{"total":2,"up":2,"down":0}},"cpu.0":{"chunks":{"total":5}}}}"#,
    );
    assert_eq!(
        fluentbit::api::fluentbit_storage(&Http::default(), &busy, None, &[]).state,
        QueueState::owed(
            "tail.0: 2 chunks",
            drainguard::cursor::Owed {
                queue_files: Some(2),
                ..Default::default()
            }
        )
    );
    let idle = fake_api(r#"{"input_chunks":{"tail.0":{"chunks":{"total":0}}}}"#);
    assert_eq!(
        fluentbit::api::fluentbit_storage(&Http::default(), &idle, None, &[]).state,
        QueueState::Empty
    );
    // Records a filter re-emitted (rewrite_tag, multiline) and the backlog of an earlier run
    // are the tail input's records too.
    let emitted = fake_api(
        r#"{"input_chunks":{"tail.0":{"chunks":{"total":0}},"emitter_for_rewrite_tag.0":{"chunks":{"total":2}},"storage_backlog.1":{"chunks":{"total":1}}}}"#,
    );
    assert_eq!(
        fluentbit::api::fluentbit_storage(&Http::default(), &emitted, Some("tail.0"), &[]).state,
        QueueState::owed(
            "emitter_for_rewrite_tag.0: 2 chunks, storage_backlog.1: 1 chunks",
            drainguard::cursor::Owed {
                queue_files: Some(3),
                ..Default::default()
            }
        )
    );
    // An emitter renamed with Emitter_Name counts when the config names it.
    let renamed = fake_api(
        r#"{"input_chunks":{"tail.0":{"chunks":{"total":0}},"re_emitted":{"chunks":{"total":4}}}}"#,
    );
    assert_eq!(
        fluentbit::api::fluentbit_storage(
            &Http::default(),
            &renamed,
            Some("tail.0"),
            &["re_emitted".to_string()]
        )
        .state,
        QueueState::owed(
            "re_emitted: 4 chunks",
            drainguard::cursor::Owed {
                queue_files: Some(4),
                ..Default::default()
            }
        )
    );
    let c = drainguard::adapters::fluentbit::parse_classic(
        "[FILTER]\n    Name rewrite_tag\n    Match app\n    Rule $level ^(error)$ errors false\n    Emitter_Name re_emitted\n",
    );
    assert_eq!(c.emitters, vec!["re_emitted".to_string()]);
    let y = drainguard::adapters::fluentbit::parse_yaml(
        Path::new("f.yaml"),
        "pipeline:\n  filters:\n    - name: multiline\n      emitter_name: ml_out\n",
    )
    .unwrap();
    assert_eq!(y.emitters, vec!["ml_out".to_string()]);
    // One input by its API name: another input's chunks do not count, a missing one is unknown.
    assert_eq!(
        fluentbit::api::fluentbit_storage(&Http::default(), &busy, Some("cpu.0"), &[]).state,
        QueueState::owed(
            "cpu.0: 5 chunks",
            drainguard::cursor::Owed {
                queue_files: Some(5),
                ..Default::default()
            }
        )
    );
    assert_eq!(
        fluentbit::api::fluentbit_storage(&Http::default(), &idle, Some("tail.0"), &[]).state,
        QueueState::Empty
    );
    assert!(matches!(
        fluentbit::api::fluentbit_storage(&Http::default(), &idle, Some("tail.3"), &[]).state,
        QueueState::Unknown { hint } if hint.contains("no input_chunks entry for tail.3")
    ));
    // Nothing listening: unknown, with a hint.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    assert!(matches!(
        fluentbit::api::fluentbit_storage(&Http::default(), &closed, None, &[]).state,
        QueueState::Unknown { .. }
    ));
}

/// Instance names count every input of the config (flb_input.c), an Alias renames the API
/// entry but not the chunk directory, and inputs without a DB are named.
#[test]
fn fluentbit_instance_names_alias_storage_and_inputs_without_db() {
    use drainguard::adapters::fluentbit::{parse_classic, parse_yaml};
    let c = parse_classic(
        "[SERVICE]\n    storage.path /var/lib/fb/chunks\n[INPUT]\n    Name cpu\n[INPUT]\n    Name tail\n    Path /a/*.log\n    DB /a.db\n    storage.type filesystem\n[INPUT]\n    Name tail\n    Alias app\n    Path /b/*.log\n[INPUT]\n    Name tail\n    Path /c/*.log\n    DB /c.db\n",
    );
    assert_eq!(c.storage_path, Some(PathBuf::from("/var/lib/fb/chunks")));
    let names: Vec<(&str, Option<&str>, bool, bool)> = c
        .inputs
        .iter()
        .map(|i| {
            (
                i.instance.as_str(),
                i.api_name(),
                i.fs_storage,
                i.db.is_some(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("tail.1", Some("tail.1"), true, true),
            ("tail.2", Some("app"), false, false),
            ("tail.3", Some("tail.3"), false, true)
        ]
    );
    assert!(c.includes.is_empty());
    // After an include (not followed) the number is uncertain; before it, and an Alias, not.
    let inc = parse_classic("[INPUT]\n    Name tail\n    DB /w.db\n@INCLUDE inputs/*.conf\n[INPUT]\n    Name tail\n    DB /x.db\n[INPUT]\n    Name tail\n    Alias z\n");
    assert_eq!(inc.includes, vec!["@INCLUDE inputs/*.conf".to_string()]);
    let api: Vec<Option<&str>> = inc.inputs.iter().map(|i| i.api_name()).collect();
    assert_eq!(api, vec![Some("tail.0"), None, Some("z")]);
    let y = parse_yaml(
        Path::new("f.yaml"),
        "service:\n  storage.path: /s\npipeline:\n  inputs:\n    - name: systemd\n    - name: tail\n      path: /x/*.log\n      db: /x.db\n      storage.type: filesystem\n",
    )
    .unwrap();
    assert_eq!(y.storage_path, Some(PathBuf::from("/s")));
    assert_eq!(y.inputs[0].instance, "tail.1");
    assert!(y.inputs[0].fs_storage);
    // Property names are not case-sensitive; YAML `includes:` makes every number uncertain.
    let y = parse_yaml(
        Path::new("f.yaml"),
        "includes:\n  - inputs.yaml\nService:\n  Storage.Path: /s\npipeline:\n  inputs:\n    - Name: Tail\n      DB: /x.db\n      Storage.Type: filesystem\n",
    )
    .unwrap();
    assert_eq!(y.includes, vec!["includes: inputs.yaml".to_string()]);
    assert_eq!(y.storage_path, Some(PathBuf::from("/s")));
    assert_eq!(y.inputs.len(), 1);
    assert_eq!(y.inputs[0].db, Some(PathBuf::from("/x.db")));
    assert!(y.inputs[0].fs_storage);
    assert_eq!(y.inputs[0].api_name(), None);
}

#[test]
fn fluentbit_chunk_files_and_dropped_outputs() {
    use drainguard::adapters::fluentbit::api::fluentbit_dropped_in;
    use drainguard::adapters::fluentbit::chunk_signal;
    let d = tempfile::tempdir().unwrap();
    let storage = d.path().join("storage");
    let signal = |instance| chunk_signal(&storage, instance, &storage).state;
    // No storage.path at all: nothing was ever buffered on disk.
    assert_eq!(signal(Some("tail.0")), QueueState::Empty);
    // storage.path without the input's directory (Fluent Bit creates it when the input
    // starts): the number is wrong, which must never read as "empty".
    std::fs::create_dir_all(storage.join("tail.1")).unwrap();
    assert!(matches!(
        signal(Some("tail.0")),
        QueueState::Unknown { hint } if hint.contains("has no tail.0/")
    ));
    std::fs::create_dir(storage.join("tail.0")).unwrap();
    assert_eq!(signal(Some("tail.0")), QueueState::Empty);
    std::fs::write(
        storage.join("tail.0/1234-1700000000.123456789.flb"),
        [0xC1, 0, 1, 2],
    )
    .unwrap();
    assert_eq!(
        signal(Some("tail.0")),
        QueueState::owed(
            "1 chunk file(s), 4 B not yet flushed",
            drainguard::cursor::Owed {
                queued_bytes: Some(4),
                queue_files: Some(1),
                ..Default::default()
            }
        )
    );
    // Number uncertain: every tail.* directory counts, other inputs' do not.
    std::fs::write(storage.join("tail.1/9-1700000000.1.flb"), [0xC1, 0]).unwrap();
    std::fs::create_dir(storage.join("cpu.2")).unwrap();
    std::fs::write(storage.join("cpu.2/9-1700000000.1.flb"), [0xC1; 10]).unwrap();
    assert_eq!(
        signal(Some("tail.1")),
        QueueState::owed(
            "1 chunk file(s), 2 B not yet flushed",
            drainguard::cursor::Owed {
                queued_bytes: Some(2),
                queue_files: Some(1),
                ..Default::default()
            }
        )
    );
    assert_eq!(
        signal(None),
        QueueState::owed(
            "2 chunk file(s), 6 B not yet flushed",
            drainguard::cursor::Owed {
                queued_bytes: Some(6),
                queue_files: Some(2),
                ..Default::default()
            }
        )
    );
    let m: serde_json::Value = serde_json::from_str(
        r#"{"input":{},"output":{"es.0":{"proc_records":10,"dropped_records":3,"retries_failed":1},"stdout.1":{"dropped_records":0,"retries_failed":0}}}"#,
    )
    .unwrap();
    let note = fluentbit_dropped_in(&m).unwrap();
    assert!(
        note.contains("es.0: 3 record(s) dropped, 1 retries failed"),
        "{note}"
    );
    assert!(!note.contains("stdout.1"), "{note}");
    let ok: serde_json::Value =
        serde_json::from_str(r#"{"output":{"es.0":{"dropped_records":0,"retries_failed":0}}}"#)
            .unwrap();
    assert_eq!(fluentbit_dropped_in(&ok), None);
}

#[test]
fn fluentd_monitor_agent_and_logstash_stats() {
    use drainguard::adapters::http::Http;
    use drainguard::adapters::{fluentd, logstash};
    let f = fake_api(
        r#"{"plugins":[{"plugin_id":"in1","output_plugin":false},{"plugin_id":"out_es","output_plugin":true,"buffer_total_queued_size":4096}]}"#,
    );
    assert_eq!(
        fluentd::api::fluentd_monitor(&Http::default(), &f).state,
        QueueState::owed(
            "out_es: 4096 bytes buffered",
            drainguard::cursor::Owed {
                queued_bytes: Some(4096),
                ..Default::default()
            }
        )
    );
    let l = fake_api(
        r#"{"pipelines":{"main":{"events":{"in":10,"out":10},"queue":{"type":"persisted","events_count":0}}}}"#,
    );
    assert_eq!(
        logstash::api::logstash_stats(&Http::default(), &l).state,
        QueueState::Empty
    );
    let l = fake_api(
        r#"{"pipelines":{"main":{"events":{"in":12,"out":10},"queue":{"type":"memory"}}}}"#,
    );
    assert!(matches!(
        logstash::api::logstash_stats(&Http::default(), &l).state,
        QueueState::Pending { .. }
    ));
}

#[test]
fn fluentbit_db_path_with_uri_characters_is_read() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("tail ?#%20.db");
    let w = testkit::fluentbit::create(&db, false).unwrap();
    testkit::fluentbit::insert(&w, "/l/a", 42, 9).unwrap();
    testkit::fluentbit::checkpoint(&w).unwrap();
    drop(w);
    let s = drainguard::adapters::fluentbit::read_db(&db).unwrap();
    assert_eq!(s.cursors[0].offset, 42);
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        1,
        "only the DB itself"
    );
}

/// Pipeline counters as Logstash reports them: a `drop` filter removes events for good (in
/// stays above out), `split` adds some (out passes in while events are still queued), and a
/// persisted queue counts what has not been through the outputs.
#[test]
fn logstash_stats_account_for_filters_and_the_persisted_queue() {
    use drainguard::adapters::logstash::api::logstash_state;
    let state = |doc: &str| logstash_state(&serde_json::from_str(doc).unwrap()).unwrap();
    let pipeline = |events: &str, filters: &str, queue: &str| {
        format!(
            r#"{{"version":"8.15.3","pipelines":{{"main":{{"events":{events},"plugins":{{"inputs":[],"filters":[{filters}],"outputs":[]}},"queue":{queue}}}}}}}"#
        )
    };
    let memory = r#"{"type":"memory"}"#;
    let drop = r#"{"id":"d","name":"drop","events":{"in":3,"out":0}}"#;
    // 10 in, 3 dropped, 7 out: idle.
    assert_eq!(
        state(&pipeline(r#"{"in":10,"filtered":7,"out":7}"#, drop, memory)),
        QueueState::Empty
    );
    // One more event queued.
    assert_eq!(
        state(&pipeline(r#"{"in":11,"filtered":7,"out":7}"#, drop, memory)),
        QueueState::owed(
            "main: 1 event(s) not yet through the outputs (in 11, out 7, filters -3)",
            drainguard::cursor::Owed {
                queued_events: Some(1),
                ..Default::default()
            }
        )
    );
    // split turned 2 events into 10; a third is still queued although out > in.
    let split = r#"{"id":"s","name":"split","events":{"in":2,"out":10}}"#;
    assert!(matches!(
        state(&pipeline(r#"{"in":3,"out":10}"#, split, memory)),
        QueueState::Pending { .. }
    ));
    assert_eq!(
        state(&pipeline(r#"{"in":2,"out":10}"#, split, memory)),
        QueueState::Empty
    );
    // Persisted queue: unread events count, and so do events read but still in the
    // filters or outputs (no longer counted by the queue).
    let pq = |n: u64| format!(r#"{{"type":"persisted","events_count":{n}}}"#);
    let drop5 = r#"{"id":"d","name":"drop","events":{"in":5,"out":0}}"#;
    assert_eq!(
        state(&pipeline(r#"{"in":12,"out":7}"#, drop5, &pq(0))),
        QueueState::Empty
    );
    assert_eq!(
        state(&pipeline(r#"{"in":7,"out":7}"#, "", &pq(5))),
        QueueState::owed(
            "main: 5 event(s) in the persisted queue",
            drainguard::cursor::Owed {
                queued_events: Some(5),
                ..Default::default()
            }
        )
    );
    assert!(matches!(
        state(&pipeline(r#"{"in":1000,"out":750}"#, "", &pq(0))),
        QueueState::Pending { .. }
    ));
    assert!(
        logstash_state(
            &serde_json::from_str(&pipeline(
                r#"{"in":1,"out":1}"#,
                "",
                r#"{"type":"persisted"}"#
            ))
            .unwrap()
        )
        .is_err(),
        "a persisted queue without a count proves nothing"
    );
    // Before 7.17 `out` counts the batch as read from the queue, before the filters: a drop
    // filter does not lower it, and out == in is idle.
    let old = |events: &str, filters: &str| {
        state(&pipeline(events, filters, memory).replace("8.15.3", "7.16.3"))
    };
    assert!(matches!(
        old(r#"{"in":10,"out":9}"#, drop),
        QueueState::Pending { .. }
    ));
    assert_eq!(old(r#"{"in":10,"out":10}"#, drop), QueueState::Empty);
    assert_eq!(old(r#"{"in":2,"out":2}"#, split), QueueState::Empty);
    // Before 7.0 `out` also counts what split/clone added (not what drop removed).
    let six = |events: &str, filters: &str| {
        state(&pipeline(events, filters, memory).replace("8.15.3", "6.8.23"))
    };
    assert!(matches!(
        six(r#"{"in":3,"out":10}"#, split),
        QueueState::Pending { .. }
    ));
    assert_eq!(six(r#"{"in":2,"out":10}"#, split), QueueState::Empty);
    assert_eq!(six(r#"{"in":10,"out":10}"#, drop), QueueState::Empty);
}

/// `logstash.yml`: data path and API address, dotted or nested, the pre-7.7 names, the
/// port range default, and the API turned off.
#[test]
fn logstash_settings_give_data_path_and_api() {
    use drainguard::adapters::logstash::{parse_settings, Settings};
    let p = Path::new("/etc/logstash/logstash.yml");
    assert_eq!(parse_settings(p, "").unwrap(), Settings::default());
    let s = parse_settings(
        p,
        "path.data: /srv/ls\napi:\n  http:\n    host: 0.0.0.0\n    port: 9611\n",
    )
    .unwrap();
    assert_eq!(s.data, Some(PathBuf::from("/srv/ls")));
    assert_eq!(s.api.as_deref(), Some("http://127.0.0.1:9611"));
    assert_eq!(s.port_range, None);
    let s = parse_settings(p, "http.host: \"10.1.2.3\"\nhttp.port: 9650-9700\n").unwrap();
    assert_eq!(s.api.as_deref(), Some("http://10.1.2.3:9650"));
    assert_eq!(s.port_range.as_deref(), Some("9650-9700"));
    assert_eq!(parse_settings(p, "api.enabled: false\n").unwrap().api, None);
    let e = parse_settings(p, "api.http.port: web\n").unwrap_err();
    assert!(e.to_string().contains("not a port"), "{e}");
    let e = parse_settings(p, "api: [\n").unwrap_err();
    assert!(e.to_string().contains("logstash.yml"), "{e}");
    // `${VAR}` substitutions are Logstash's to expand: the default is assumed, and said.
    let s = parse_settings(p, "api.http.port: ${API_PORT:9611}\npath.data: ${DATA}\n").unwrap();
    assert_eq!(s.api.as_deref(), Some("http://127.0.0.1:9600"));
    assert_eq!(s.data, None);
    assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
    assert!(s.notes[0].contains("cannot expand"), "{:?}", s.notes);
}

/// A logstash.yml drainguard cannot parse (here a duplicated key, which Logstash accepts)
/// never stops the drain: Logstash's defaults are assumed and the report says so.
#[test]
fn logstash_unparsable_settings_are_a_note_not_an_error() {
    let d = tempfile::tempdir().unwrap();
    let etc = d.path().join("etc/logstash");
    std::fs::create_dir_all(etc.join("conf.d")).unwrap();
    std::fs::write(etc.join("logstash.yml"), "path.data: /a\npath.data: /b\n").unwrap();
    std::fs::write(
        etc.join("conf.d/app.conf"),
        "input { file { path => \"/var/log/app/*.log\" } }\n",
    )
    .unwrap();
    let opts = SourceOptions {
        root: drainguard::root::Root::new(Some(d.path().to_path_buf())),
        ..Default::default()
    };
    let mut readers = adapters::open(ShipperKind::Logstash, &opts).unwrap();
    assert_eq!(readers.len(), 1);
    let s = readers[0].read().unwrap();
    assert!(
        s.notes.iter().any(|n| n.contains("defaults assumed")),
        "{:?}",
        s.notes
    );
    assert!(s
        .store
        .starts_with(d.path().join("var/lib/logstash/plugins/inputs/file")));
}

/// A positions file the Promtail config names but Promtail has not written yet: Promtail is
/// still there (nothing recorded, said so), not skipped as absent; once written, it is read.
#[test]
fn promtail_positions_file_not_written_yet_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let pos = d.path().join("positions.yaml");
    let conf = d.path().join("config.yml");
    std::fs::write(
        &conf,
        format!(
            "positions:\n  filename: {}\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: app\n          __path__: /var/log/app/*.log\n          __path_exclude__: /var/log/app/debug*.log\n      - labels:\n          job: nofiles\n  - job_name: journal\n    journal:\n      max_age: 12h\n",
            pos.display()
        ),
    )
    .unwrap();
    let opts = SourceOptions {
        config: Some(conf),
        ..Default::default()
    };
    let mut readers = adapters::open(ShipperKind::Promtail, &opts).unwrap();
    assert_eq!(readers.len(), 1);
    let s = readers[0].read().unwrap();
    assert!(s.cursors.is_empty());
    // The tailed globs come from the scrape configs' __path__ labels.
    assert_eq!(
        s.inputs,
        vec![drainguard::cursor::InputSpec::globs(
            "app",
            &["/var/log/app/*.log".to_string()],
            &["/var/log/app/debug*.log".to_string()]
        )]
    );
    assert!(
        s.notes.iter().any(|n| n.contains("does not exist yet")),
        "{:?}",
        s.notes
    );
    std::fs::write(&pos, "positions:\n  /var/log/a.log: \"42\"\n").unwrap();
    let s = readers[0].read().unwrap();
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.cursors[0].offset, 42);
}

/// Acknowledgements reach a source only from the sinks downstream of it (through
/// transforms, named outputs and wildcards), a sink's own setting overriding the global one;
/// a disk buffer concerns only the sources whose events go to that sink.
#[test]
fn vector_acknowledgements_and_disk_buffers_follow_the_topology() {
    use drainguard::adapters::vector::parse_conf;
    let per_source = |toml: &str| -> Vec<(String, bool, Vec<String>)> {
        parse_conf(Path::new("v.toml"), toml)
            .unwrap()
            .sources
            .into_iter()
            .map(|s| (s.id, s.acknowledgements, s.disk_buffers))
            .collect()
    };
    let file = |id: &str| format!("[sources.{id}]\ntype = \"file\"\ninclude = [\"/{id}/*.log\"]\n");
    let conf = [
        file("a"),
        file("b"),
        file("c"),
        "[sources.metrics]\ntype = \"host_metrics\"\n".into(),
        "[transforms.t]\ntype = \"remap\"\ninputs = [\"a\"]\n".into(),
        "[transforms.r]\ntype = \"route\"\ninputs = [\"b\"]\n".into(),
        "[sinks.s1]\ntype = \"http\"\ninputs = [\"t\"]\nacknowledgements.enabled = true\nbuffer.type = \"disk\"\nbuffer.max_size = 268435488\n".into(),
        "[sinks.s2]\ntype = \"console\"\ninputs = [\"r.errors\", \"c\", \"metrics\"]\nbuffer.type = \"disk\"\nbuffer.max_size = 268435488\n".into(),
    ]
    .concat();
    assert_eq!(
        per_source(&conf),
        vec![
            ("a".to_string(), true, vec!["s1".to_string()]),
            ("b".to_string(), false, vec!["s2".to_string()]),
            ("c".to_string(), false, vec!["s2".to_string()]),
        ]
    );
    // Global acknowledgements, a wildcard input, and a sink that turns them off.
    let conf = [
        "acknowledgements.enabled = true\n".to_string(),
        file("app_1"),
        file("app_2"),
        file("web"),
        "[sinks.all_apps]\ntype = \"http\"\ninputs = [\"app_*\"]\n".into(),
        "[sinks.w]\ntype = \"http\"\ninputs = [\"web\"]\nacknowledgements.enabled = false\n".into(),
    ]
    .concat();
    assert_eq!(
        per_source(&conf),
        vec![
            ("app_1".to_string(), true, vec![]),
            ("app_2".to_string(), true, vec![]),
            ("web".to_string(), false, vec![]),
        ]
    );
}

/// Store paths with variables: Fluent Bit's own `@SET` ones are expanded; a variable only the
/// shipper can expand (its environment, Fluentd's `#{worker_id}`) makes the store unknown
/// (unconfirmed, with the fix), never "nothing recorded" and never a guess.
#[test]
fn variables_in_store_paths_are_expanded_or_reported() {
    use drainguard::adapters::fluentbit::parse_classic;
    let c = parse_classic(
        "@SET DBDIR=/var/lib/fb\n[SERVICE]\n    HTTP_Server On\n    HTTP_Listen ::\n[INPUT]\n    Name tail\n    Path /a/*.log\n    DB ${DBDIR}/a.db\n[INPUT]\n    Name tail\n    Path /b/*.log\n    DB ${STATE}/b.db\n",
    );
    assert_eq!(c.inputs[0].db, Some(PathBuf::from("/var/lib/fb/a.db")));
    assert_eq!(c.inputs[1].db, Some(PathBuf::from("${STATE}/b.db")));
    assert_eq!(c.http.as_deref(), Some("http://[::1]:2020"));
    // A later @SET replaces an earlier one; an unreadable port is no API, not port 2020.
    let c = parse_classic(
        "@SET D=/old\n@SET D=/new\n[SERVICE]\n    HTTP_Server On\n    HTTP_Port ${PORT}\n[INPUT]\n    Name tail\n    DB ${D}/a.db\n",
    );
    assert_eq!(c.inputs[0].db, Some(PathBuf::from("/new/a.db")));
    assert_eq!(c.http, None);

    let d = tempfile::tempdir().unwrap();
    let unknown_hint = |kind: ShipperKind, conf: &Path| -> String {
        let opts = SourceOptions {
            config: Some(conf.to_path_buf()),
            ..Default::default()
        };
        let snaps: Vec<_> = adapters::open(kind, &opts)
            .unwrap()
            .iter_mut()
            .map(|r| r.read().unwrap())
            .collect();
        let s = snaps.last().unwrap();
        assert!(s.cursors.is_empty() && s.inputs.is_empty(), "{s:?}");
        match &s.queues[0].state {
            QueueState::Unknown { hint } => hint.clone(),
            other => panic!("{other:?}"),
        }
    };
    let fb = d.path().join("fluent-bit.conf");
    std::fs::write(
        &fb,
        "[INPUT]\n    Name tail\n    Path /b/*.log\n    DB ${STATE}/b.db\n",
    )
    .unwrap();
    let hint = unknown_hint(ShipperKind::FluentBit, &fb);
    assert!(hint.contains("cannot expand"), "{hint}");
    let fd = d.path().join("fluentd.conf");
    std::fs::write(
        &fd,
        "<source>\n  @type tail\n  path /b/*.log\n  pos_file \"/var/log/td/b.#{worker_id}.pos\"\n</source>\n",
    )
    .unwrap();
    let hint = unknown_hint(ShipperKind::Fluentd, &fd);
    assert!(hint.contains("only Fluentd expands"), "{hint}");
}

/// Logstash: a pipeline config without file inputs means Logstash tails no file here (old
/// sincedbs in the data directory are not read), and paths with a substitution make the
/// input's store unknown (its sincedb is named after the expanded paths).
#[test]
fn logstash_no_file_input_and_substituted_paths() {
    let d = tempfile::tempdir().unwrap();
    let conf = d.path().join("beats.conf");
    let data = d.path().join("data");
    std::fs::create_dir_all(data.join("plugins/inputs/file")).unwrap();
    testkit::logstash::write(
        &data.join("plugins/inputs/file/.sincedb_old"),
        &[testkit::logstash::record(
            7,
            8,
            1,
            10,
            Some("/var/log/old.log"),
        )],
    )
    .unwrap();
    std::fs::write(&conf, "input { beats { port => 5044 } }\n").unwrap();
    let opts = SourceOptions {
        config: Some(conf.clone()),
        data_path: Some(data.clone()),
        ..Default::default()
    };
    let e = adapters::open(ShipperKind::Logstash, &opts)
        .err()
        .expect("no file input: no store");
    assert!(e.to_string().contains("no logstash store"), "{e}");

    std::fs::write(&conf, "input { file { path => \"${LOGS}/*.log\" } }\n").unwrap();
    let mut readers = adapters::open(ShipperKind::Logstash, &opts).unwrap();
    let s = readers[0].read().unwrap();
    assert!(s.cursors.is_empty());
    assert!(matches!(
        &s.queues[0].state,
        QueueState::Unknown { hint } if hint.contains("cannot expand")
    ));
}

// ---------------------------------------------------------------- CloudWatch agent

/// `status --json` of one shipper: (exit code, the shipper's verdict, the report).
fn verdict_of(shipper: &str, args: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let o = support::drainguard()
        .args(["status", "--json", "--shipper", shipper])
        .args(args)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let v = doc["shippers"][0]["verdict"]
        .as_str()
        .unwrap_or("")
        .to_string();
    (o.status.code(), v, doc)
}

struct Cw {
    d: tempfile::TempDir,
}

impl Cw {
    fn new(files: &[(&str, bool)]) -> Cw {
        let c = Cw {
            d: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(c.state()).unwrap();
        std::fs::create_dir_all(c.d.path().join("logs")).unwrap();
        std::fs::write(c.d.path().join("agent.log"), "I! started\n").unwrap();
        let files: Vec<(String, bool)> = files.iter().map(|(g, m)| (c.log(g), *m)).collect();
        let files: Vec<(&str, bool)> = files.iter().map(|(g, m)| (g.as_str(), *m)).collect();
        std::fs::write(
            c.conf(),
            testkit::cloudwatch::toml(&c.state(), &c.d.path().join("agent.log"), &files),
        )
        .unwrap();
        c
    }
    fn state(&self) -> PathBuf {
        self.d.path().join("state")
    }
    fn conf(&self) -> PathBuf {
        self.d.path().join("amazon-cloudwatch-agent.toml")
    }
    fn log(&self, name: &str) -> String {
        self.d.path().join("logs").join(name).display().to_string()
    }
    fn status(&self) -> (Option<i32>, String, serde_json::Value) {
        verdict_of(
            "amazon-cloudwatch-agent",
            &["--config", self.conf().to_str().unwrap()],
        )
    }
}

#[test]
fn cloudwatch_status_follows_the_state_files() {
    let cw = Cw::new(&[("app.log", false)]);
    let app = cw.log("app.log");
    std::fs::write(&app, "one\ntwo\n").unwrap();
    // No state file yet: the whole file is untracked.
    let (code, v, doc) = cw.status();
    assert_eq!((code, v.as_str()), (Some(1), "behind"), "{doc}");
    testkit::cloudwatch::write(&cw.state(), &app, &testkit::cloudwatch::single(4, &app)).unwrap();
    let (_, v, doc) = cw.status();
    assert_eq!(v, "behind", "{doc}");
    assert_eq!(doc["bytes_behind"], 4);
    testkit::cloudwatch::write(&cw.state(), &app, &testkit::cloudwatch::single(8, &app)).unwrap();
    let (code, v, doc) = cw.status();
    assert_eq!((code, v.as_str()), (Some(0), "drained"), "{doc}");
    // A range list with a gap: only the prefix before it counts.
    testkit::cloudwatch::write(
        &cw.state(),
        &app,
        &testkit::cloudwatch::state(8, &app, Some(&[(0, 4), (6, 8)])),
    )
    .unwrap();
    let (_, v, doc) = cw.status();
    assert_eq!(
        (v.as_str(), &doc["bytes_behind"]),
        ("behind", &4.into()),
        "{doc}"
    );
}

#[test]
fn cloudwatch_torn_and_colliding_state_is_unconfirmed_never_drained() {
    let cw = Cw::new(&[("app.log", false)]);
    let app = cw.log("app.log");
    std::fs::write(&app, "one\n").unwrap();
    let full = testkit::cloudwatch::single(4, &app);
    testkit::cloudwatch::write_torn(&cw.state(), &app, &full, 1).unwrap();
    let (code, v, doc) = cw.status();
    assert_ne!(v, "drained", "{doc}");
    assert_ne!(code, Some(0));
    // Two tailed paths, one state file name.
    let cw = Cw::new(&[("a/b", false), ("a_b", false)]);
    std::fs::create_dir_all(Path::new(&cw.log("a"))).unwrap();
    let (ab, a_b) = (cw.log("a/b"), cw.log("a_b"));
    std::fs::write(&ab, "x\n").unwrap();
    std::fs::write(&a_b, "").unwrap();
    testkit::cloudwatch::write(&cw.state(), &ab, &testkit::cloudwatch::single(2, &ab)).unwrap();
    let (_, v, doc) = cw.status();
    assert_eq!(v, "unconfirmed", "{doc}");
    assert!(
        doc.to_string().contains("map to this one state file name"),
        "{doc}"
    );
}

/// `wait` while the file rotates: the agent deletes the state file, a new file at the path is
/// read and recorded in full, and the old file's 7 unrecorded bytes are abandoned. The wait
/// must not release with "drained".
#[test]
fn cloudwatch_rotation_during_wait_never_releases_as_drained() {
    let cw = Cw::new(&[("app.log", false)]);
    let app = cw.log("app.log");
    std::fs::write(&app, "abc\n012345\n").unwrap();
    testkit::cloudwatch::write(&cw.state(), &app, &testkit::cloudwatch::single(4, &app)).unwrap();
    let mut c = support::drainguard();
    c.args(["wait", "--shipper", "amazon-cloudwatch-agent", "--config"])
        .arg(cw.conf())
        .args(["--no-log-file", "--interval", "100ms", "--deadline", "3s"])
        .args(["--shipper-pid", &std::process::id().to_string()]);
    let (child, rx) = support::spawn_streaming(c);
    support::until(&rx, "waiting for the shippers to deliver");
    std::fs::rename(&app, cw.log("app.log.1")).unwrap();
    std::fs::remove_file(testkit::cloudwatch::state_path(&cw.state(), &app)).unwrap();
    std::fs::write(&app, "new\n").unwrap();
    testkit::cloudwatch::write(&cw.state(), &app, &testkit::cloudwatch::single(4, &app)).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("app.log.1") && text.contains("abandoned"),
        "the report names the abandoned file: {text}"
    );
}

#[test]
fn cloudwatch_corrupt_state_names_file_line_and_byte() {
    let cw = Cw::new(&[("app.log", false)]);
    let app = cw.log("app.log");
    std::fs::write(&app, "one\n").unwrap();
    let f = testkit::cloudwatch::write(&cw.state(), &app, format!("4\n{app}\n0-4,9-x").as_bytes())
        .unwrap();
    let opts = SourceOptions {
        config: Some(cw.conf()),
        ..Default::default()
    };
    let mut r = adapters::open(ShipperKind::CloudwatchAgent, &opts)
        .unwrap()
        .pop()
        .unwrap();
    let e = r.read().unwrap_err();
    let msg = e.to_string();
    let (line, byte, _) = corrupt_pos(e);
    assert_eq!(line, Some(3));
    assert_eq!(byte, Some((2 + app.len() + 1 + 4) as u64));
    assert!(msg.contains(f.to_str().unwrap()), "{msg}");
}

// ---------------------------------------------------------------- Datadog Agent

struct Dd {
    d: tempfile::TempDir,
}

impl Dd {
    fn new(globs: &[&str]) -> Dd {
        let dd = Dd {
            d: tempfile::tempdir().unwrap(),
        };
        for sub in ["run", "conf.d/app.d", "logs"] {
            std::fs::create_dir_all(dd.d.path().join(sub)).unwrap();
        }
        let agent_log = dd.d.path().join("agent.log");
        std::fs::write(&agent_log, "").unwrap();
        std::fs::write(
            dd.d.path().join("datadog.yaml"),
            testkit::datadog::main_config(
                &dd.run(),
                &dd.d.path().join("conf.d"),
                &agent_log,
                false,
            ),
        )
        .unwrap();
        let globs: Vec<String> = globs.iter().map(|g| dd.log(g)).collect();
        let globs: Vec<&str> = globs.iter().map(String::as_str).collect();
        std::fs::write(
            dd.d.path().join("conf.d/app.d/conf.yaml"),
            testkit::datadog::integration(&globs),
        )
        .unwrap();
        dd
    }
    fn run(&self) -> PathBuf {
        self.d.path().join("run")
    }
    fn log(&self, name: &str) -> String {
        self.d.path().join("logs").join(name).display().to_string()
    }
    fn status(&self) -> (Option<i32>, String, serde_json::Value) {
        // `-c` names the config directory, as the agent takes it.
        verdict_of(
            "datadog-agent",
            &["--config", self.d.path().to_str().unwrap()],
        )
    }
}

#[test]
fn datadog_status_follows_the_registry_and_its_fingerprints() {
    let dd = Dd::new(&["*.log"]);
    let app = dd.log("app.log");
    let content = b"0123456789abcdef\n".repeat(80);
    std::fs::write(&app, &content).unwrap();
    let fp = testkit::datadog::byte_fingerprint(&content, 1024, 0);
    let at = |off: u64| {
        testkit::datadog::registry(
            &[testkit::datadog::Entry::new(&app, off).with_fingerprint(fp)],
            &[],
        )
    };
    testkit::datadog::write(&dd.run(), &at(1000)).unwrap();
    let (code, v, doc) = dd.status();
    assert_eq!((code, v.as_str()), (Some(1), "behind"), "{doc}");
    assert_eq!(doc["bytes_behind"], content.len() as u64 - 1000);
    testkit::datadog::write(&dd.run(), &at(content.len() as u64)).unwrap();
    let (code, v, doc) = dd.status();
    assert_eq!((code, v.as_str()), (Some(0), "drained"), "{doc}");
    // Rotated by rename, a new file at the path: the entry's fingerprint finds the old file.
    std::fs::rename(&app, dd.log("app.log.1")).unwrap();
    std::fs::write(&app, "new\n").unwrap();
    testkit::datadog::write(&dd.run(), &at(1000)).unwrap();
    let (_, v, doc) = dd.status();
    assert_eq!(v, "behind", "{doc}");
    let text = doc.to_string();
    assert!(
        text.contains("rotated") && text.contains("app.log.1"),
        "{doc}"
    );
}

#[test]
fn datadog_corrupt_registry_names_file_and_position() {
    let dd = Dd::new(&["*.log"]);
    let reg = dd.run().join("registry.json");
    std::fs::write(
        &reg,
        "{\"Version\":2,\"Registry\":{\"file:/a\":{\"Offset\":42}}}",
    )
    .unwrap();
    let mut r = adapters::open(ShipperKind::DatadogAgent, &store_opts(&reg))
        .unwrap()
        .pop()
        .unwrap();
    let (line, byte, what) = corrupt_pos(r.read().unwrap_err());
    assert_eq!((line, byte), (Some(1), Some(25)));
    assert!(
        what.contains("file:/a") && what.contains("version 2"),
        "{what}"
    );
    std::fs::write(&reg, "{\"Version\":2,\n  \"Registry\": [}").unwrap();
    let (line, byte, _) = corrupt_pos(r.read().unwrap_err());
    assert_eq!(line, Some(2));
    assert!(byte.is_some());
}
