//! The Filebeat adapter over registries written in Filebeat's exact formats (src/testkit) and
//! real files with real inodes, plus `drainguard status` end to end.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use drainguard::adapters::filebeat::memlog::ReadKind;
use drainguard::adapters::{self, SourceOptions, StoreReader};
use drainguard::backlog::{assess, Env, FileState, Verdict};
use drainguard::cursor::{Identity, OffsetMeaning, QueueState, ShipperKind, StoreSnapshot};
use drainguard::root::Root;
use drainguard::testkit::filebeat as tk;

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let h = Host {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(h.data()).unwrap();
        fs::create_dir_all(h.logs()).unwrap();
        h
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }
    fn memlog_dir(&self) -> PathBuf {
        self.data().join("registry/filebeat")
    }
    /// A log file with `content`; returns (path, inode, device).
    fn log(&self, name: &str, content: &[u8]) -> (PathBuf, u64, u64) {
        let p = self.logs().join(name);
        fs::write(&p, content).unwrap();
        let m = fs::metadata(&p).unwrap();
        (p, m.ino(), m.dev())
    }
    fn opts(&self) -> SourceOptions {
        SourceOptions {
            data_path: Some(self.data()),
            ..Default::default()
        }
    }
    /// Writes `yaml` as filebeat.yml and returns options naming it.
    fn config(&self, yaml: String) -> SourceOptions {
        let cfg = self.dir.path().join("filebeat.yml");
        fs::write(&cfg, yaml).unwrap();
        SourceOptions {
            config: Some(cfg),
            ..Default::default()
        }
    }
    fn reader(&self) -> Box<dyn StoreReader> {
        self.reader_with(self.opts())
    }
    fn reader_with(&self, opts: SourceOptions) -> Box<dyn StoreReader> {
        adapters::open(ShipperKind::Filebeat, &opts)
            .unwrap()
            .into_iter()
            .next()
            .expect("a filebeat store")
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn state<'a>(b: &'a drainguard::backlog::ShipperBacklog, p: &Path) -> &'a FileState {
    &b.files
        .iter()
        .find(|f| *f.path == *p)
        .expect("file in report")
        .state
}

#[test]
fn legacy_registry_file() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", b"1\n2\n3\n");
    let (b, bi, bd) = h.log("b.log", b"1\n");
    tk::write_legacy(
        &h.data().join("registry"),
        &[
            tk::legacy_state(s(&a), 2, ai, ad),
            tk::legacy_state(s(&b), 2, bi, bd),
        ],
    )
    .unwrap();
    let snap = h.reader().read().unwrap();
    assert!(snap.format.contains("legacy"));
    assert_eq!(snap.cursors.len(), 2);
    assert_eq!(snap.offset_meaning, OffsetMeaning::Delivered);
    let r = assess(&snap, &Env::default());
    assert_eq!(state(&r, &a), &FileState::Behind { bytes: 4 });
    assert_eq!(state(&r, &b), &FileState::Shipped);
    // A leftover registry.new is ignored.
    fs::write(h.data().join("registry.new"), b"garbage").unwrap();
    assert_eq!(h.reader().read().unwrap().cursors.len(), 2);
}

#[test]
fn data_json_v0() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", b"xyz\n");
    tk::write_data_json(&h.memlog_dir(), &[tk::legacy_state(s(&a), 4, ai, ad)]).unwrap();
    let snap = h.reader().read().unwrap();
    assert!(snap.format.contains("data.json"));
    assert_eq!(assess(&snap, &Env::default()).verdict, Verdict::Drained);
}

#[test]
fn memlog_checkpoint_log_removes_ttl_zero_and_non_file_keys() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", b"aaaa\nbbbb\n");
    let (b, bi, bd) = h.log("b.log", b"cc\n");
    let (c, ci, cd) = h.log("c.log", b"dd\n");
    let mut w = tk::MemlogWriter::create(&h.memlog_dir()).unwrap();
    w.set(&tk::log_key(ai, ad), tk::log_value(s(&a), 5, ai, ad))
        .unwrap();
    w.set(&tk::log_key(bi, bd), tk::log_value(s(&b), 0, bi, bd))
        .unwrap();
    w.checkpoint().unwrap();
    w.set(&tk::log_key(ai, ad), tk::log_value(s(&a), 10, ai, ad))
        .unwrap();
    w.remove(&tk::log_key(bi, bd)).unwrap();
    let mut deleted = tk::filestream_value(s(&c), Some(0), "native");
    deleted["ttl"] = 0.into();
    w.set(&format!("filestream::in::native::{ci}-{cd}"), deleted)
        .unwrap();
    w.set("journald::system", serde_json::json!({"cursor": "s=abc"}))
        .unwrap();
    w.set("aws-s3::q::obj", serde_json::json!({"ttl": -1}))
        .unwrap();
    let snap = h.reader().read().unwrap();
    assert!(snap.format.contains("memlog"));
    assert_eq!(snap.cursors.len(), 1, "{:#?}", snap.cursors);
    assert_eq!(snap.cursors[0].offset, 10);
    let skipped: Vec<(&str, usize)> = snap
        .skipped
        .iter()
        .map(|s| (s.prefix.as_str(), s.count))
        .collect();
    assert_eq!(skipped, vec![("aws-s3::", 1), ("journald::", 1)]);
    let r = assess(&snap, &Env::default());
    assert_eq!(state(&r, &a), &FileState::Shipped);
}

#[test]
fn torn_last_line_is_not_yet_written() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", b"0123456789\n");
    let mut w = tk::MemlogWriter::create(&h.memlog_dir()).unwrap();
    w.set(&tk::log_key(ai, ad), tk::log_value(s(&a), 4, ai, ad))
        .unwrap();
    let log = h.memlog_dir().join("log.json");
    let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
    use std::io::Write;
    f.write_all(b"{\"op\":\"set\",\"id\":2}\n{\"k\":\"filebeat::logs::native::")
        .unwrap();
    let mut r = h.reader();
    let snap = r.read().unwrap();
    assert_eq!(snap.cursors[0].offset, 4);
    assert!(
        snap.notes.iter().any(|n| n.contains("partly written")),
        "{:?}",
        snap.notes
    );
    // The writer finishes the op: the next read applies it.
    let rest = format!(
        "{}-{}\",\"v\":{}}}\n",
        ai,
        ad,
        tk::log_value(s(&a), 11, ai, ad)
    );
    f.write_all(rest.as_bytes()).unwrap();
    let snap = r.read().unwrap();
    assert_eq!(snap.cursors[0].offset, 11);
    assert!(snap.notes.is_empty(), "{:?}", snap.notes);
}

#[test]
fn checkpoint_race_skips_stale_ids_and_gap_stops_replay() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", b"0123456789\n");
    let dir = h.memlog_dir();
    let key = tk::log_key(ai, ad);
    let mut w = tk::MemlogWriter::create(&dir).unwrap();
    for off in [1, 2, 3] {
        w.set(&key, tk::log_value(s(&a), off, ai, ad)).unwrap();
    }
    // The race: checkpoint 3.json appears with offset 3 while log.json still holds ids 1..3.
    let stale_log = fs::read(dir.join("log.json")).unwrap();
    w.checkpoint().unwrap();
    let mut log = stale_log.clone();
    // ...then a fresh op id 4 is appended, and later a gap (id 6).
    log.extend_from_slice(
        format!(
            "{{\"op\":\"set\",\"id\":4}}\n{{\"k\":\"{key}\",\"v\":{}}}\n{{\"op\":\"set\",\"id\":6}}\n{{\"k\":\"{key}\",\"v\":{}}}\n",
            tk::log_value(s(&a), 7, ai, ad),
            tk::log_value(s(&a), 11, ai, ad)
        )
        .as_bytes(),
    );
    fs::write(dir.join("log.json"), &log).unwrap();
    let snap = h.reader().read().unwrap();
    assert_eq!(
        snap.cursors[0].offset, 7,
        "ids <= 3 skipped, 4 applied, 6 after the gap ignored"
    );
    assert!(
        snap.notes.iter().any(|n| n.contains("gap")),
        "{:?}",
        snap.notes
    );
    assert!(
        snap.notes.iter().any(|n| n.contains("line 9")),
        "{:?}",
        snap.notes
    );
}

#[test]
fn upper_case_keys_and_spaced_json_like_beats_fixtures() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", b"abc\n");
    let dir = h.memlog_dir();
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("meta.json"), b"{\"version\": \"1\"}").unwrap();
    fs::write(
        dir.join("log.json"),
        format!(
            "{{\"op\": \"set\", \"id\": 1}}\n{{\"K\": \"filestream::x::native::{ai}-{ad}\", \"V\": {{\"ttl\": -1, \"cursor\": {{\"offset\": 2}}, \"meta\": {{\"source\": \"{}\"}}}}}}\n",
            s(&a)
        ),
    )
    .unwrap();
    let snap = h.reader().read().unwrap();
    assert_eq!(snap.cursors.len(), 1);
    assert_eq!(snap.cursors[0].offset, 2);
    assert_eq!(snap.cursors[0].path.as_deref(), Some(a.as_path()));
    assert_eq!(
        snap.cursors[0].identity,
        Identity::DevInode { dev: ad, ino: ai }
    );
}

#[test]
fn incremental_reads_agree_with_full_reads() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", &[b'x'; 100]);
    let key = tk::log_key(ai, ad);
    let mut w = tk::MemlogWriter::create(&h.memlog_dir()).unwrap();
    w.checkpoint_size = 2000;
    let mut inc = adapters::filebeat::open_reader(&h.opts()).unwrap().unwrap();
    let mut saw_incremental = false;
    let mut saw_checkpoint_reload = false;
    for off in 0..60u64 {
        w.set(&key, tk::log_value(s(&a), off, ai, ad)).unwrap();
        let incremental = inc.read().unwrap();
        let full = h.reader().read().unwrap();
        assert_eq!(cursor_offsets(&incremental), cursor_offsets(&full));
        assert_eq!(cursor_offsets(&incremental), vec![off]);
        match inc.memlog().expect("memlog layout").last_read {
            ReadKind::Incremental { log_bytes } => {
                saw_incremental = true;
                assert!(log_bytes < 1000, "only the new op was read: {log_bytes}");
            }
            ReadKind::Full { .. } => saw_checkpoint_reload |= off > 0,
            ReadKind::None => unreachable!(),
        }
    }
    assert!(saw_incremental && saw_checkpoint_reload);
}

fn cursor_offsets(s: &StoreSnapshot) -> Vec<u64> {
    s.cursors.iter().map(|c| c.offset).collect()
}

#[test]
fn fingerprint_keys_match_real_content_and_short_files_are_ignored() {
    let h = Host::new();
    let mut content = vec![b'f'; 1024];
    content.extend_from_slice(b"\nline two\n");
    let (a, _, _) = h.log("fp.log", &content);
    h.log("short.log", b"tiny\n");
    let hex = drainguard::fingerprint::FingerprintSpec::Sha256Window {
        offset: 0,
        length: 1024,
    }
    .compute(&a)
    .unwrap()
    .unwrap();
    let mut w = tk::MemlogWriter::create(&h.memlog_dir()).unwrap();
    w.set(
        &format!("filestream::app::fingerprint::{hex}"),
        tk::filestream_value(s(&a), Some(1025), "fingerprint"),
    )
    .unwrap();
    let opts = h.config(format!(
            "path.data: {}\nfilebeat.inputs:\n  - type: filestream\n    id: app\n    paths: ['{}/*.log']\n",
            s(&h.data()),
            s(&h.logs())
        ));
    let snap = h.reader_with(opts).read().unwrap();
    let r = assess(&snap, &Env::default());
    assert_eq!(state(&r, &a), &FileState::Behind { bytes: 9 });
    assert!(matches!(
        state(&r, &h.logs().join("short.log")),
        FileState::Ignored { .. }
    ));
}

#[test]
fn untracked_files_of_the_inputs_block() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", b"one\n");
    let (n, _, _) = h.log("new.log", b"never seen\n");
    h.log("old.gz", b"excluded\n");
    let mut w = tk::MemlogWriter::create(&h.memlog_dir()).unwrap();
    w.set(&tk::log_key(ai, ad), tk::log_value(s(&a), 4, ai, ad))
        .unwrap();
    let opts = h.config(format!(
            "path:\n  data: {}\nfilebeat.inputs:\n  - type: log\n    paths:\n      - {}/*\n    exclude_files: ['\\.gz$']\n",
            s(&h.data()),
            s(&h.logs())
        ));
    let snap = h.reader_with(opts).read().unwrap();
    let r = assess(&snap, &Env::default());
    assert_eq!(state(&r, &n), &FileState::Untracked { bytes: 11 });
    assert_eq!(r.files.len(), 2, "{:#?}", r.files);
    assert_eq!(r.verdict, Verdict::Behind);
}

#[test]
fn disk_queue_needs_no_segments() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", b"one\n");
    let mut w = tk::MemlogWriter::create(&h.memlog_dir()).unwrap();
    w.set(&tk::log_key(ai, ad), tk::log_value(s(&a), 4, ai, ad))
        .unwrap();
    let opts = h.config(format!(
        "path.data: {}\nqueue.disk:\n  max_size: 1GB\n",
        s(&h.data())
    ));
    let dq = h.data().join("diskqueue");
    fs::create_dir_all(&dq).unwrap();
    fs::write(dq.join("state.dat"), [0u8; 28]).unwrap();
    fs::write(dq.join("3.seg"), [1u8; 100]).unwrap();
    let snap = h.reader_with(opts.clone()).read().unwrap();
    assert_eq!(snap.offset_meaning, OffsetMeaning::InDiskQueue);
    assert!(matches!(snap.queues[0].state, QueueState::Pending { .. }));
    assert_eq!(assess(&snap, &Env::default()).verdict, Verdict::Behind);
    fs::remove_file(dq.join("3.seg")).unwrap();
    let snap = h.reader_with(opts).read().unwrap();
    assert_eq!(snap.queues[0].state, QueueState::Empty);
    assert_eq!(assess(&snap, &Env::default()).verdict, Verdict::Drained);
}

/// A local stand-in for Filebeat's monitoring endpoint: serves `/stats` with the given
/// `libbeat.pipeline.events.active` until dropped.
fn stats_endpoint(
    active: u64,
) -> (
    String,
    std::thread::JoinHandle<()>,
    std::sync::Arc<tiny_http::Server>,
) {
    let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let port = server.server_addr().to_ip().unwrap().port();
    let s2 = server.clone();
    let t = std::thread::spawn(move || {
        for req in s2.incoming_requests() {
            let body = if req.url() == "/stats" {
                format!(
                    r#"{{"beat":{{"info":{{"uptime":{{"ms":1}}}}}},"libbeat":{{"pipeline":{{"events":{{"active":{active},"published":9}}}},"output":{{"events":{{"acked":9}}}}}}}}"#
                )
            } else {
                "{}".into()
            };
            let _ = req.respond(tiny_http::Response::from_string(body));
        }
    });
    (format!("{port}"), t, server)
}

#[test]
fn stats_endpoint_is_a_second_opinion() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", b"one\n");
    let mut w = tk::MemlogWriter::create(&h.memlog_dir()).unwrap();
    w.set(&tk::log_key(ai, ad), tk::log_value(s(&a), 4, ai, ad))
        .unwrap();
    let verdict = |port: &str| {
        let opts = h.config(format!(
            "path.data: {}\nhttp.enabled: true\nhttp.host: 0.0.0.0\nhttp.port: {port}\n",
            s(&h.data())
        ));
        let snap = h.reader_with(opts).read().unwrap();
        (assess(&snap, &Env::default()).verdict, snap)
    };
    // The registry says delivered, but the pipeline still holds events: not yet.
    let (port, t, server) = stats_endpoint(3);
    let (v, snap) = verdict(&port);
    assert_eq!(v, Verdict::Behind);
    assert!(snap.queues[0]
        .source
        .ends_with(&format!("127.0.0.1:{port}/stats")));
    server.unblock();
    t.join().unwrap();
    // Both agree.
    let (port, t, server) = stats_endpoint(0);
    assert_eq!(verdict(&port).0, Verdict::Drained);
    server.unblock();
    t.join().unwrap();
    drop(server);
    // Unreachable: the registry alone decides, and the report says the endpoint was not read.
    let (v, snap) = verdict(&port);
    assert_eq!(v, Verdict::Drained);
    assert!(snap.queues.is_empty());
    assert!(
        snap.notes.iter().any(|n| n.contains("/stats not read")),
        "{:?}",
        snap.notes
    );
}

#[test]
fn bad_stores_give_clear_errors() {
    let err = |h: &Host| match adapters::open(ShipperKind::Filebeat, &h.opts()) {
        Err(e) => e.to_string(),
        Ok(rs) if !rs.is_empty() => rs
            .into_iter()
            .next()
            .unwrap()
            .read()
            .map(|_| "read fine".into())
            .unwrap_or_else(|e| e.to_string()),
        Ok(_) => "none".into(),
    };
    let h = Host::new();
    fs::write(h.data().join("registry"), b"").unwrap();
    assert!(err(&h).contains("empty"), "{}", err(&h));
    fs::write(
        h.data().join("registry"),
        b"[{\"source\":\"/a\",\"offset\":1,",
    )
    .unwrap();
    assert!(err(&h).contains("ends early"), "{}", err(&h));
    fs::write(
        h.data().join("registry"),
        b"[{\"source\":\"/a\",\"offset\":\"1\"}]",
    )
    .unwrap();
    let e = err(&h);
    assert!(e.contains("registry") && e.contains("line 1, byte"), "{e}");

    let h = Host::new();
    fs::create_dir_all(h.memlog_dir()).unwrap();
    fs::write(h.memlog_dir().join("meta.json"), b"{\"version\":\"7\"}").unwrap();
    assert!(err(&h).contains("meta version \"7\""), "{}", err(&h));
    fs::write(h.memlog_dir().join("meta.json"), b"nope").unwrap();
    assert!(err(&h).contains("meta.json"), "{}", err(&h));
    fs::write(h.memlog_dir().join("meta.json"), b"{\"version\":\"1\"}").unwrap();
    fs::write(
        h.memlog_dir().join("12.json"),
        b"[{\"_key\":\"k\",\"offset\":1},\n{\"offs",
    )
    .unwrap();
    let e = err(&h);
    assert!(e.contains("12.json") && e.contains("line 2"), "{e}");

    let h = Host::new();
    fs::create_dir_all(h.data().join("registry")).unwrap();
    fs::write(h.data().join("registry/filebeat.db"), b"bolt").unwrap();
    assert!(err(&h).contains("bbolt"), "{}", err(&h));

    let h = Host::new();
    assert!(err(&h).contains("has Filebeat run yet"), "{}", err(&h));
}

#[test]
fn store_found_below_root_from_default_locations() {
    let h = Host::new();
    let root = h.dir.path();
    let data = root.join("var/lib/filebeat");
    fs::create_dir_all(&data).unwrap();
    fs::create_dir_all(root.join("var/log")).unwrap();
    fs::write(root.join("var/log/app.log"), b"hello\n").unwrap();
    let m = fs::metadata(root.join("var/log/app.log")).unwrap();
    tk::write_legacy(
        &data.join("registry"),
        &[tk::legacy_state("/var/log/app.log", 0, m.ino(), m.dev())],
    )
    .unwrap();
    let opts = SourceOptions {
        root: Root::new(Some(root.to_path_buf())),
        ..Default::default()
    };
    let snap = adapters::open(ShipperKind::Filebeat, &opts)
        .unwrap()
        .into_iter()
        .next()
        .expect("found at /var/lib/filebeat")
        .read()
        .unwrap();
    assert_eq!(snap.store, PathBuf::from("/var/lib/filebeat/registry"));
    let env = Env {
        root: opts.root.clone(),
        shipper_pids: vec![],
        ..Default::default()
    };
    let r = assess(&snap, &env);
    assert_eq!(
        state(&r, Path::new("/var/log/app.log")),
        &FileState::Behind { bytes: 6 }
    );
    // Nothing there and nothing named: not present, not an error.
    let empty = tempfile::tempdir().unwrap();
    let none = SourceOptions {
        root: Root::new(Some(empty.path().to_path_buf())),
        ..Default::default()
    };
    assert!(adapters::open(ShipperKind::Filebeat, &none)
        .unwrap()
        .is_empty());
}

#[test]
fn status_command_exit_codes_table_and_json() {
    let h = Host::new();
    let (a, ai, ad) = h.log("a.log", b"1\n2\n");
    let mut w = tk::MemlogWriter::create(&h.memlog_dir()).unwrap();
    w.set(&tk::log_key(ai, ad), tk::log_value(s(&a), 2, ai, ad))
        .unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_drainguard"))
            .args(["--settings", "", "status", "--data-path"])
            .arg(h.data())
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("behind") && table.contains("a.log") && table.contains("BEHIND"),
        "{table}"
    );
    let out = run(&["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "drainguard.report/v2");
    assert_eq!(doc["bytes_behind"], 2);
    assert_eq!(doc["shippers"][0]["files"][0]["state"], "behind");
    w.set(&tk::log_key(ai, ad), tk::log_value(s(&a), 4, ai, ad))
        .unwrap();
    assert_eq!(run(&[]).status.code(), Some(0));
    let out = Command::new(env!("CARGO_BIN_EXE_drainguard"))
        .args(["status", "--data-path", "/definitely/not/here"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no filebeat store"));
}
