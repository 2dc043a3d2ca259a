//! The reader over bbolt files written by the real bbolt library (testdata/, see its README),
//! the same files broken in every way the reader checks, and the checkpoint encodings.

use std::cell::Cell;
use std::path::Path;

use super::bbolt::{self, Source};
use super::*;
use crate::cursor::{Identity, OffsetUnit, QueueState};
use crate::fingerprint::FingerprintSpec;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/adapters/otel/testdata")
        .join(name)
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(testdata(name)).unwrap()
}

/// The files the fixtures fingerprinted (testdata/README.md), recreated.
fn big_log() -> Vec<u8> {
    (0..300)
        .map(|i| format!("line {i:04} of big\n"))
        .collect::<String>()
        .into_bytes()
}
fn f_log(n: usize) -> Vec<u8> {
    (0..100)
        .map(|i| format!("file {n} line {i:04}\n"))
        .collect::<String>()
        .into_bytes()
}

fn known_of(data: &[u8]) -> Vec<store::Known> {
    let r = bbolt::read_value(data, &[store::BUCKET], store::KEY, |_| {}).unwrap();
    store::parse(Path::new("/t"), &r.value.expect("knownFiles present")).unwrap()
}

fn read_err(data: &[u8]) -> bbolt::Error {
    bbolt::read_value(data, &[store::BUCKET], store::KEY, |_| {}).unwrap_err()
}

#[test]
fn inline_bucket_one_file() {
    let k = known_of(&bytes("inline.db"));
    assert_eq!(k.len(), 1);
    assert_eq!(k[0].first_bytes, b"hello\n");
    assert_eq!(k[0].offset, 6);
    assert_eq!(
        k[0].path.as_deref(),
        Some(Path::new("/tmp/otelfx/log/a.log"))
    );
    assert_eq!(k[0].name.as_deref(), Some("a.log"));
}

#[test]
fn bucket_with_its_own_page_three_files() {
    let k = known_of(&bytes("three.db"));
    let offsets: Vec<u64> = k.iter().map(|k| k.offset).collect();
    assert_eq!(offsets, [6, 1200, 9]);
    assert_eq!(k[1].first_bytes, big_log()[..1000], "fingerprint_size 1000");
    assert_eq!(k[2].first_bytes, b"line one\nline two\n");
}

#[test]
fn branch_pages_are_searched() {
    let data = bytes("branch.db");
    let k = known_of(&data);
    assert_eq!(k.len(), 2);
    assert_eq!(k[1].offset, 5100);
    // Keys on the first, a middle and the last leaf.
    for key in [
        "file_input.k000000",
        "file_input.k000150",
        "file_input.k000299",
    ] {
        let r = bbolt::read_value(&data[..], &[store::BUCKET], key.as_bytes(), |_| {}).unwrap();
        assert_eq!(r.value.as_deref(), Some(&[b'v'; 100][..]), "{key}");
    }
    let r = bbolt::read_value(&data[..], &[store::BUCKET], b"file_input.k000300", |_| {}).unwrap();
    assert_eq!(r.value, None);
    let r = bbolt::read_value(&data[..], &[b"nope"], store::KEY, |_| {}).unwrap();
    assert_eq!(r.value, None, "a missing bucket");
}

#[test]
fn overflow_pages_hold_a_big_value() {
    let k = known_of(&bytes("overflow.db"));
    assert_eq!(k.len(), 8);
    for (n, k) in k.iter().enumerate() {
        assert_eq!(k.offset, n as u64 * 100);
        assert_eq!(k.first_bytes, f_log(n)[..1000]);
    }
}

#[test]
fn legacy_first_bytes_spelling() {
    let k = known_of(&bytes("legacy.db"));
    assert_eq!(k[0].first_bytes, b"hello\n");
    assert_eq!(k[0].offset, 3);
}

#[test]
fn the_current_meta_is_the_valid_one_with_the_higher_txid() {
    let data = bytes("three.db");
    let m = bbolt::current_meta(&data[..]).unwrap();
    assert_eq!(
        (m.page_size, m.txid, m.freelist),
        (4096, 2, u64::MAX),
        "NoFreelistSync"
    );
    // Meta page 0 (txid 2) torn: meta page 1 (txid 1, the empty database) is used.
    let mut torn = data.clone();
    torn[16 + 48] ^= 1;
    assert_eq!(bbolt::current_meta(&torn[..]).unwrap().txid, 1);
    let r = bbolt::read_value(&torn[..], &[store::BUCKET], store::KEY, |_| {}).unwrap();
    assert_eq!(r.value, None, "txid 1 has no bucket yet");
    // Both torn: an error, naming both.
    torn[4096 + 16 + 48] ^= 1;
    let e = read_err(&torn).to_string();
    assert!(
        e.contains("page 0: checksum") && e.contains("page 1: checksum"),
        "{e}"
    );
}

#[test]
fn not_bbolt_and_short_files_are_errors() {
    assert!(read_err(b"").to_string().contains("too short"));
    let e = read_err(&[0u8; 8192]).to_string();
    assert!(
        e.contains("no valid meta page") && e.contains("not a meta page"),
        "{e}"
    );
    let mut v = bytes("inline.db");
    v[16 + 4] = 3;
    v[4096 + 16 + 4] = 3;
    assert!(read_err(&v).to_string().contains("format version 3"));
}

#[test]
fn every_cut_of_the_file_is_an_error_or_a_consistent_answer() {
    for name in ["three.db", "overflow.db", "branch.db"] {
        let data = bytes(name);
        let full = known_of(&data);
        for cut in (0..data.len())
            .step_by(97)
            .chain([4096, 8192, data.len() - 1])
        {
            match bbolt::read_value(&data[..cut], &[store::BUCKET], store::KEY, |_| {}) {
                Ok(r) => {
                    if let Some(v) = r.value {
                        assert_eq!(
                            store::parse(Path::new("/t"), &v).unwrap(),
                            full,
                            "{name} cut {cut}"
                        );
                    }
                }
                Err(bbolt::Error::Corrupt { .. }) => {}
                Err(e) => panic!("{name} cut at {cut}: {e}"),
            }
        }
    }
}

/// Page `id`'s header field at `off` set to `v` (little-endian, `len` bytes).
fn poke(data: &mut [u8], at: usize, v: u64, len: usize) {
    data[at..at + len].copy_from_slice(&v.to_le_bytes()[..len]);
}

#[test]
fn hostile_pages_are_errors_at_their_position() {
    let data = bytes("branch.db");
    let branch = 24 * 4096;
    // A branch child pointing back at the branch itself: a cycle.
    let mut v = data.clone();
    for i in 0..20 {
        poke(&mut v, branch + 16 + i * 16 + 8, 24, 8);
    }
    let e = read_err(&v);
    assert!(e.to_string().contains("reached twice"), "{e}");
    // A child past the high-water mark.
    let mut v = data.clone();
    for i in 0..20 {
        poke(&mut v, branch + 16 + i * 16 + 8, 1 << 40, 8);
    }
    let e = read_err(&v);
    let bbolt::Error::Corrupt { at, what } = &e else {
        panic!("{e}")
    };
    assert!(what.contains("outside pages"), "{what}");
    assert!((branch as u64..branch as u64 + 4096).contains(at), "{at}");
    // 65535 elements in one page.
    let mut v = data.clone();
    poke(&mut v, branch + 10, 0xffff, 2);
    assert!(read_err(&v).to_string().contains("do not fit"));
    // A huge overflow count.
    let mut v = data.clone();
    poke(&mut v, branch + 12, u32::MAX as u64, 4);
    assert!(read_err(&v).to_string().contains("overflow pages"));
    // A page that says it is another.
    let mut v = data.clone();
    poke(&mut v, branch, 7, 8);
    assert!(read_err(&v).to_string().contains("says it is page 7"));
    // A key position past the page.
    let mut v = data.clone();
    poke(&mut v, branch + 16, u32::MAX as u64, 4);
    assert!(read_err(&v).to_string().contains("points past its page"));
    // Unknown page flags.
    let mut v = data.clone();
    poke(&mut v, branch + 8, 0x40, 2);
    assert!(read_err(&v).to_string().contains("neither branch nor leaf"));
}

#[test]
fn inline_bucket_elements_are_bounded_by_the_value() {
    let mut v = bytes("inline.db");
    // The inline page image's element count, in the bucket value on the root leaf.
    let at = v
        .windows(7)
        .position(|w| w == b"default")
        .expect("bucket key on the root leaf");
    // value = {root 0, seq 0} then the page header: count at +10.
    let count_at = at + 7 + 16 + 10;
    poke(&mut v, count_at, 500, 2);
    assert!(read_err(&v).to_string().contains("do not fit"));
}

/// A file that a commit overtakes: after `changes` reads of the meta pages, meta page 1
/// turns into a newer (valid) meta.
struct Racing {
    data: Vec<u8>,
    newer: Vec<u8>,
    meta_reads: Cell<usize>,
    flip_after: usize,
}

impl Source for Racing {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.data.len() as u64)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if offset == 0 {
            self.meta_reads.set(self.meta_reads.get() + 1);
        }
        let src = if self.meta_reads.get() > self.flip_after {
            &self.newer
        } else {
            &self.data
        };
        src[..].read_at(offset, buf)
    }
}

/// `data` with meta page 1 rewritten as txid `txid` (same root), checksum fixed.
fn with_meta1_txid(data: &[u8], txid: u64) -> Vec<u8> {
    let mut v = data.to_vec();
    let m = 4096 + 16;
    v[m..m + 64].copy_from_slice(&data[16..16 + 64]);
    poke(&mut v, m + 48, txid, 8);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &v[m..m + 56] {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    poke(&mut v, m + 56, h, 8);
    poke(&mut v, 4096, 1, 8);
    v
}

#[test]
fn a_commit_during_the_read_is_detected_and_read_again() {
    let data = bytes("three.db");
    let newer = with_meta1_txid(&data, 3);
    assert_eq!(bbolt::current_meta(&newer[..]).unwrap().txid, 3);
    // The commit lands between the first attempt's two meta reads.
    let src = Racing {
        data: data.clone(),
        newer,
        meta_reads: Cell::new(0),
        flip_after: 1,
    };
    let mut pauses = 0;
    let r = bbolt::read_value(&src, &[store::BUCKET], store::KEY, |_| pauses += 1).unwrap();
    assert_eq!((r.retries, pauses, r.meta.txid), (1, 1, 3));
    assert!(r.value.is_some());
}

/// A file whose meta changes on every read.
struct Churning {
    data: Vec<u8>,
    reads: Cell<u64>,
}

impl Source for Churning {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.data.len() as u64)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if offset == 0 {
            self.reads.set(self.reads.get() + 1);
        }
        with_meta1_txid(&self.data, 10 + self.reads.get())[..].read_at(offset, buf)
    }
}

#[test]
fn a_store_changing_under_every_read_is_unstable_not_empty() {
    let src = Churning {
        data: bytes("three.db"),
        reads: Cell::new(0),
    };
    let e = bbolt::read_value(&src, &[store::BUCKET], store::KEY, |_| {}).unwrap_err();
    assert!(matches!(e, bbolt::Error::Unstable { .. }), "{e}");
    assert!(e.to_string().contains("not known"), "{e}");
}

// ---- the checkpoint encodings ----

#[test]
fn json_stream_traps() {
    let p = Path::new("/s");
    // The count says more than the stream holds.
    let e = store::parse(
        p,
        b"2\n{\"Fingerprint\":{\"first_bytes\":\"aGk=\"},\"Offset\":1}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("says 2 files, the stream ends after 1"), "{e}");
    assert!(e.contains("byte 51"), "{e}");
    // A negative offset.
    let e = store::parse(
        p,
        b"1\n{\"Fingerprint\":{\"first_bytes\":\"aGk=\"},\"Offset\":-1}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("negative Offset -1"), "{e}");
    // Bad base64.
    assert!(store::parse(p, b"1\n{\"Fingerprint\":{\"first_bytes\":\"!!\"}}\n").is_err());
    // Neither encoding.
    assert!(store::parse(p, b"{}")
        .unwrap_err()
        .to_string()
        .contains("neither"));
    // Zero files, and an empty value (an empty protobuf list).
    assert!(store::parse(p, b"0\n").unwrap().is_empty());
    assert!(store::parse(p, b"").unwrap().is_empty());
    // HeaderAttributes merged; gzip; no fingerprint.
    let k = store::parse(
        p,
        b"2\n{\"Fingerprint\":{\"first_bytes\":\"aGk=\"},\"Offset\":5,\"FileAttributes\":\
          {\"HeaderAttributes\":{\"log.file.path\":\"/v/a.gz\"}},\"FileType\":\".gz\"}\n\
          {\"Fingerprint\":{\"first_bytes\":\"\"},\"Offset\":0}\n",
    )
    .unwrap();
    assert_eq!(k[0].path.as_deref(), Some(Path::new("/v/a.gz")));
    let (c, skipped) = store::cursors(&k);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].unit, OffsetUnit::DecompressedBytes);
    assert_eq!(skipped[0].count, 1);
}

fn pb_len(field: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![field << 3 | 2];
    let mut n = data.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            v.push(b);
            break;
        }
        v.push(b | 0x80);
    }
    v.extend_from_slice(data);
    v
}

#[test]
fn protobuf_checkpoints() {
    let fp = pb_len(1, &pb_len(1, b"first bytes here"));
    let mut meta = fp.clone();
    meta.extend([2 << 3, 0xac, 0x02]); // offset 300
    meta.extend([3 << 3, 7]); // record_num
    meta.extend(pb_len(
        4,
        br#"{"log.file.name":"x.log","log.file.path":"/l/x.log"}"#,
    ));
    meta.extend(pb_len(6, &[1 << 3, 5]));
    meta.extend(pb_len(8, b".gz"));
    let mut list = pb_len(1, &meta);
    list.extend(pb_len(1, &fp));
    let k = store::parse(Path::new("/s"), &list).unwrap();
    assert_eq!(k.len(), 2);
    assert_eq!(k[0].first_bytes, b"first bytes here");
    assert_eq!(k[0].offset, 300);
    assert_eq!(k[0].path.as_deref(), Some(Path::new("/l/x.log")));
    assert_eq!(k[0].file_type, ".gz");
    assert_eq!(k[1].offset, 0);
    // Cut anywhere: an error or fewer entries, never a panic.
    for cut in 0..list.len() {
        let _ = store::parse(Path::new("/s"), &list[..cut]);
    }
    // A negative offset.
    let mut bad = fp;
    bad.extend([
        2 << 3,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0xff,
        0x01,
    ]);
    let e = store::parse(Path::new("/s"), &pb_len(1, &bad))
        .unwrap_err()
        .to_string();
    assert!(e.contains("negative offset -1"), "{e}");
}

#[test]
fn identity_is_the_first_bytes_and_recomputes_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.log");
    std::fs::write(&big, big_log()).unwrap();
    let k = known_of(&bytes("three.db"));
    let (c, _) = store::cursors(&k);
    let Identity::Fingerprint { spec, value } = &c[1].identity else {
        panic!()
    };
    assert_eq!(
        **spec,
        FingerprintSpec::Sha256Window {
            offset: 0,
            length: 1000
        }
    );
    assert_eq!(spec.compute(&big).unwrap().as_deref(), Some(&**value));
    // The file grown: still the same fingerprint (the collector's StartsWith).
    let mut grown = big_log();
    grown.extend_from_slice(b"more\n");
    std::fs::write(&big, grown).unwrap();
    assert_eq!(spec.compute(&big).unwrap().as_deref(), Some(&**value));
    // A short file's fingerprint grows with it: "hello\n" is 6 bytes, matched as 6 bytes.
    let Identity::Fingerprint { spec, .. } = &c[0].identity else {
        panic!()
    };
    assert_eq!(spec.min_size(), 6);
    // Truncated below it: no match.
    std::fs::write(&big, b"line 0000").unwrap();
    let Identity::Fingerprint { spec, .. } = &c[1].identity else {
        panic!()
    };
    assert_eq!(spec.compute(&big).unwrap(), None);
}

// ---- config ----

const CONFIG: &str = r#"
receivers:
  filelog:
    include: [/var/log/app/*.log]
    exclude: [/var/log/app/skip.log]
    storage: file_storage
  filelog/a b:
    include: /var/log/b.log
    storage: file_storage/other
  filelog/mem:
    include: [/var/log/mem.log]
  filelog/unused:
    include: [/x]
    storage: file_storage
  otlp:
    protocols: {grpc: {}}
processors:
  batch: {}
exporters:
  otlp:
    endpoint: collector:4317
extensions:
  file_storage:
    directory: /srv/otel
  file_storage/other: {}
service:
  extensions: [file_storage, file_storage/other]
  pipelines:
    logs:
      receivers: [filelog, "filelog/a b", filelog/mem]
      processors: [batch]
      exporters: [otlp]
  telemetry:
    metrics:
      address: 0.0.0.0:9999
"#;

#[test]
fn config_receivers_storage_and_file_names() {
    let c = config::parse(Path::new("/c.yaml"), CONFIG).unwrap();
    let ids: Vec<&str> = c.receivers.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["filelog", "filelog/a b", "filelog/mem"],
        "in a pipeline only"
    );
    assert_eq!(
        c.receivers[0].storage,
        config::Storage::File(PathBuf::from("/srv/otel/receiver_filelog_"))
    );
    assert_eq!(c.receivers[0].exclude, ["/var/log/app/skip.log"]);
    assert_eq!(
        c.receivers[1].storage,
        config::Storage::File(PathBuf::from(
            "/var/lib/otelcol/file_storage/receiver_filelog_a~0020b"
        ))
    );
    assert_eq!(c.receivers[1].include, ["/var/log/b.log"]);
    let config::Storage::Unknown(why) = &c.receivers[2].storage else {
        panic!()
    };
    assert!(why.contains("in memory only"), "{why}");
    assert_eq!(c.metrics, Ok("http://127.0.0.1:9999/metrics".into()));
    assert_eq!(
        config::client_file("filelog/x~y"),
        "receiver_filelog_x~007Ey"
    );
}

#[test]
fn config_metrics_endpoints() {
    let m = |t: &str| {
        config::parse(
            Path::new("/c"),
            &format!("service:\n  telemetry:\n    metrics:\n{t}"),
        )
        .unwrap()
        .metrics
    };
    assert!(m("      level: none\n")
        .unwrap_err()
        .contains("level is none"));
    assert_eq!(
        m("      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: 127.0.0.2\n                port: 7777\n"),
        Ok("http://127.0.0.2:7777/metrics".into())
    );
    assert!(m("      readers:\n        - periodic: {}\n")
        .unwrap_err()
        .contains("pushes its metrics only"));
    assert_eq!(
        m("      level: normal\n"),
        Ok(config::DEFAULT_METRICS.into())
    );
    let unexpanded = config::parse(
        Path::new("/c"),
        "receivers:\n  filelog:\n    storage: file_storage\nextensions:\n  file_storage:\n    directory: ${env:D}\n",
    )
    .unwrap();
    assert!(
        matches!(&unexpanded.receivers[0].storage, config::Storage::Unknown(w) if w.contains("--store"))
    );
}

// ---- the delivery signal ----

const METRICS: &str = "# HELP otelcol_exporter_sent_log_records_total x\n\
otelcol_exporter_sent_log_records_total{exporter=\"otlp\",service_name=\"otelcol\"} 90\n\
otelcol_exporter_send_failed_log_records_total{exporter=\"otlp\"} 4\n\
otelcol_exporter_queue_size{data_type=\"logs\",exporter=\"otlp\"} 2\n\
otelcol_exporter_queue_size{data_type=\"metrics\",exporter=\"otlp\"} 50\n\
otelcol_receiver_accepted_log_records_total{receiver=\"filelog\",transport=\"\"} 60\n\
otelcol_receiver_accepted_log_records_total{receiver=\"filelog/a b\",transport=\"\"} 40\n\
otelcol_receiver_accepted_log_records_total{receiver=\"otlp\",transport=\"grpc\"} 1000\n";

#[test]
fn metrics_in_flight_queued_and_given_up() {
    let c = config::parse(Path::new("/c.yaml"), CONFIG).unwrap();
    let counters = api::parse(METRICS);
    assert_eq!(counters.queue.get("otlp"), Some(&2.0), "logs only");
    let (state, notes) = api::state(&c, &counters);
    let QueueState::Pending { detail, owed } = state.unwrap() else {
        panic!()
    };
    assert!(detail.contains("2 batch(es)"), "{detail}");
    assert!(
        detail.contains("6 log record(s) accepted and not yet sent"),
        "{detail}"
    );
    assert_eq!(owed.queued_events, Some(6));
    assert!(notes[0].contains("gave up 4"), "{notes:?}");
    // Everything sent: empty (older names without _total).
    let done = "otelcol_exporter_sent_log_records{exporter=\"otlp\"} 100\n\
                otelcol_exporter_queue_size{exporter=\"otlp\"} 0\n\
                otelcol_receiver_accepted_log_records{receiver=\"filelog\"} 100\n";
    assert_eq!(api::state(&c, &api::parse(done)).0, Ok(QueueState::Empty));
}

#[test]
fn metrics_that_cannot_be_matched_are_unknown() {
    let filtered = CONFIG.replace("processors: [batch]", "processors: [batch, filter/drop]");
    let c = config::parse(Path::new("/c"), &filtered).unwrap();
    let e = api::state(&c, &api::parse(METRICS)).0.unwrap_err();
    assert!(e.contains("processor filter/drop"), "{e}");
    let c = config::parse(Path::new("/c"), CONFIG).unwrap();
    let e = api::state(&c, &api::parse("up 1\n")).0.unwrap_err();
    assert!(e.contains("without any otelcol_"), "{e}");
    let too_many = "otelcol_exporter_sent_log_records{exporter=\"otlp\"} 100\n";
    let e = api::state(&c, &api::parse(too_many)).0.unwrap_err();
    assert!(e.contains("more than"), "{e}");
}

// ---- the adapter ----

/// A host under a temp dir: the config, its store directory and the tailed files.
fn host(config_text: &str) -> (tempfile::TempDir, SourceOptions) {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config.yaml");
    std::fs::write(&cfg, config_text).unwrap();
    let opts = SourceOptions {
        config: Some(cfg),
        ..Default::default()
    };
    (d, opts)
}

#[test]
fn adapter_reads_the_configured_store_and_says_read_only() {
    let (d, opts) = host("");
    let dir = d.path().join("fs");
    std::fs::create_dir(&dir).unwrap();
    let text = format!(
        "receivers:\n  filelog:\n    include: [{}/*.log]\n    storage: file_storage\n\
         extensions:\n  file_storage:\n    directory: {}\n\
         service:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    logs:\n      \
         receivers: [filelog]\n      exporters: [otlp]\n",
        d.path().display(),
        dir.display()
    );
    std::fs::write(opts.config.as_ref().unwrap(), text).unwrap();
    // Not written yet.
    let mut r = open(&opts).unwrap().pop().unwrap();
    let s = r.read().unwrap();
    assert!(s.cursors.is_empty());
    assert!(s.notes[0].contains("does not exist yet"), "{:?}", s.notes);
    std::fs::copy(testdata("three.db"), dir.join("receiver_filelog_")).unwrap();
    let s = r.read().unwrap();
    assert_eq!(s.offset_meaning, OffsetMeaning::Read);
    assert_eq!(s.cursors.len(), 3);
    assert_eq!(s.inputs[0].paths, [format!("{}/*.log", d.path().display())]);
    let QueueState::Unknown { hint } = &s.queues[0].state else {
        panic!("{:?}", s.queues)
    };
    assert!(hint.contains("level is none"), "{hint}");
    // A corrupt store: an error naming the file and the byte.
    let mut v = bytes("three.db");
    poke(&mut v, 5 * 4096 + 10, 0xffff, 2);
    std::fs::write(dir.join("receiver_filelog_"), v).unwrap();
    let e = r.read().unwrap_err();
    let (_, byte, what) = crate::testkit::corrupt_pos(e);
    assert_eq!(byte, Some(5 * 4096));
    assert!(what.contains("bbolt"), "{what}");
}

#[test]
fn adapter_without_storage_is_unassessable() {
    let (_d, opts) = host(
        "receivers:\n  filelog:\n    include: [/var/log/*.log]\nservice:\n  pipelines:\n    logs:\n      receivers: [filelog]\n      exporters: [debug]\n",
    );
    let mut r = open(&opts).unwrap();
    assert_eq!(r.len(), 1);
    let s = r[0].read().unwrap();
    let QueueState::Unknown { hint } = &s.queues[0].state else {
        panic!()
    };
    assert!(hint.contains("in memory only"), "{hint}");
    assert_eq!(s.inputs[0].paths, ["/var/log/*.log"]);
}

#[test]
fn adapter_reads_the_metrics_endpoint() {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let body = "otelcol_exporter_sent_log_records{exporter=\"otlp\"} 7\n\
                        otelcol_receiver_accepted_log_records{receiver=\"filelog\"} 7\n";
            let _ = req.respond(tiny_http::Response::from_string(body));
        }
    });
    let (d, opts) = host("");
    std::fs::copy(testdata("inline.db"), d.path().join("receiver_filelog_")).unwrap();
    let text = format!(
        "receivers:\n  filelog:\n    include: [/x/*.log]\n    storage: file_storage\n\
         extensions:\n  file_storage:\n    directory: {}\n\
         service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{port}\n  pipelines:\n    \
         logs:\n      receivers: [filelog]\n      processors: [batch]\n      exporters: [otlp]\n",
        d.path().display()
    );
    std::fs::write(opts.config.as_ref().unwrap(), text).unwrap();
    let s = open(&opts).unwrap().pop().unwrap().read().unwrap();
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.queues[0].state, QueueState::Empty, "{:?}", s.queues);
    assert!(s.queues[0]
        .source
        .contains(&format!("127.0.0.1:{port}/metrics")));
}

#[test]
fn adapter_without_config_finds_the_default_directory_files() {
    let d = tempfile::tempdir().unwrap();
    let root = crate::root::Root::new(Some(d.path().to_path_buf()));
    let dir = d.path().join("var/lib/otelcol/file_storage");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(testdata("inline.db"), dir.join("receiver_filelog_app")).unwrap();
    std::fs::write(dir.join("exporter_otlp__logs"), b"").unwrap();
    let opts = SourceOptions {
        root,
        ..Default::default()
    };
    let mut r = open(&opts).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].read().unwrap().cursors.len(), 1);
}

#[test]
fn the_testkit_writer_reads_as_the_bbolt_written_fixture() {
    use crate::testkit::otel as tk;
    let big = big_log();
    let files = [
        tk::Known {
            first_bytes: b"hello\n",
            offset: 6,
            path: "/tmp/otelfx/log/a.log",
        },
        tk::Known {
            first_bytes: &big[..1000],
            offset: 1200,
            path: "/tmp/otelfx/log/big.log",
        },
        tk::Known {
            first_bytes: b"line one\nline two\n",
            offset: 9,
            path: "/tmp/otelfx/log/b.log",
        },
    ];
    let db = tk::database(&tk::known_files(&files));
    assert_eq!(known_of(&db), known_of(&bytes("three.db")));
    // And with a value over many overflow pages.
    let many: Vec<Vec<u8>> = (0..50)
        .map(|i| format!("{i:04}").repeat(250).into_bytes())
        .collect();
    let files: Vec<tk::Known> = many
        .iter()
        .map(|b| tk::Known {
            first_bytes: b,
            offset: 1,
            path: "/x",
        })
        .collect();
    assert_eq!(known_of(&tk::database(&tk::known_files(&files))).len(), 50);
}

#[test]
fn a_collector_that_tails_no_file_ships_nothing() {
    let (_d, opts) = host(
        "receivers:\n  otlp:\n    protocols: {grpc: {}}\n  filelog:\n    include: [/x]\n\
         service:\n  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [debug]\n",
    );
    assert!(ships_nothing(&opts), "filelog defined but in no pipeline");
    assert!(open(&opts).unwrap().is_empty());
    let (_d, opts) = host(CONFIG);
    assert!(!ships_nothing(&opts));
    // No config found at all: not known to ship nothing.
    let none = SourceOptions {
        root: crate::root::Root::new(Some(PathBuf::from("/nonexistent/dg"))),
        ..Default::default()
    };
    assert!(!ships_nothing(&none));
}

/// A client file bbolt has created but not written yet (the collector starting) is a store
/// that records nothing yet, not a corrupt one; a file cut inside its meta pages still is.
#[test]
fn an_empty_client_file_records_nothing_yet_and_a_cut_one_is_corrupt() {
    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("receiver_filelog_");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(read_known(&empty), Ok(None)));
    let cut = d.path().join("receiver_filelog_cut");
    std::fs::write(&cut, [0u8; 10]).unwrap();
    assert!(matches!(read_known(&cut), Err(ReadError::Store(_))));
}
