use std::path::{Path, PathBuf};

use super::config::{self, SyslogNgConf};
use super::persist::{self, file_key, g_str_hash, Persist};
use super::*;
use crate::testkit::syslogng as tk;

const LOCAL: &[u8] = include_bytes!("testdata/local.persist");
const NET: &[u8] = include_bytes!("testdata/net.persist");
const NET_FC: &[u8] = include_bytes!("testdata/net-fc.persist");

fn positions(bytes: &[u8]) -> Vec<(String, bool, persist::FilePosition)> {
    let p = Persist::parse(Path::new("t.persist"), bytes).unwrap();
    p.entries
        .iter()
        .filter(|e| file_key(&e.name).is_some())
        .map(|e| {
            let pos = persist::file_position(Path::new("t"), e.handle as usize, e.size, &e.value)
                .unwrap();
            (String::from_utf8_lossy(&e.name).into_owned(), e.in_use, pos)
        })
        .collect()
}

#[test]
fn reads_a_real_3_38_persist_file() {
    let p = Persist::parse(Path::new("local.persist"), LOCAL).unwrap();
    let names: Vec<String> = p
        .entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "run_id",
            "host_id",
            "affile_sd_curpos(/tmp/sngx/in.log)",
            "affile_sd_curpos(/tmp/sngx/w/c.log)",
            "affile_sd_curpos(/tmp/sngx/w/a.log)",
            "affile_sd.bee.curpos",
        ]
    );
    let pos = positions(LOCAL);
    let get = |k: &str| pos.iter().find(|(n, _, _)| n == k).unwrap().2;
    let f = get("affile_sd_curpos(/tmp/sngx/in.log)");
    assert_eq!(
        (f.acked, f.read, f.size_at_open, f.inode),
        (18, 18, 18, 10010737)
    );
    let w = get("affile_sd_curpos(/tmp/sngx/w/c.log)");
    assert_eq!((w.acked, w.inode), (6, 10011001));
    // 7 bytes without a newline: buffered, neither acked nor emitted.
    let b = get("affile_sd.bee.curpos");
    assert_eq!(
        (b.acked, b.read, b.pending_raw, b.inode),
        (0, 0, 7, 10010755)
    );
    assert!(pos.iter().all(|(_, in_use, _)| *in_use));
}

#[test]
fn without_flow_control_the_ack_runs_with_the_read_offset() {
    // A network destination on a closed port: queued in memory, yet acked.
    let net = positions(NET)[0].2;
    assert_eq!((net.acked, net.read), (18, 18));
    // With flags(flow-control) the ack waits for the destination's write.
    let fc = positions(NET_FC)[0].2;
    assert_eq!((fc.acked, fc.read), (0, 18));
}

#[test]
fn the_written_format_matches_syslog_ngs_bytes() {
    // The testkit writer, given the entries of the real file, writes the same bytes up to
    // the values syslog-ng randomises (run_id, host_id are copied).
    let p = Persist::parse(Path::new("local.persist"), LOCAL).unwrap();
    let values: Vec<tk::Value> = p
        .entries
        .iter()
        .map(|e| tk::Value::new(e.name.clone(), e.value.clone()))
        .collect();
    assert_eq!(tk::bytes(&values), LOCAL);
}

#[test]
fn the_4_8_1_keys_name_the_hash_and_the_path_tail() {
    // g_str_hash over signed chars: a byte >= 0x80 counts negative.
    assert_eq!(g_str_hash(b""), 5381);
    assert_eq!(g_str_hash(b"a"), 5381 * 33 + 97);
    assert_eq!(
        g_str_hash(&[0xc3]),
        5381u32.wrapping_mul(33).wrapping_sub(61)
    );
    let k = tk::key(false, None, "/var/log/app.log");
    let h = g_str_hash(b"/var/log/app.log");
    assert_eq!(
        String::from_utf8(k.clone()).unwrap(),
        format!("affile_sd.{h}.curpos(/var/log/app.log)")
    );
    let fk = file_key(&k).unwrap();
    assert_eq!((fk.wildcard, fk.hash), (false, Some(h)));
    assert_eq!(fk.path(), Some(PathBuf::from("/var/log/app.log")));
    let w = file_key(&tk::key(true, Some("pn.x"), "/d/a.curpos(1).log")).unwrap();
    assert!(w.wildcard);
    assert_eq!(w.persist_name.as_deref(), Some("pn.x"));
    assert_eq!(w.path(), Some(PathBuf::from("/d/a.curpos(1).log")));
    // A path too long for 1023 bytes keeps its tail: the hash no longer matches it, so no
    // path is claimed.
    let long = format!("/{}/app.log", "d".repeat(1500));
    let k = tk::key(false, None, &long);
    assert_eq!(k.len(), 1023);
    let fk = file_key(&k).unwrap();
    assert_eq!(fk.hash, Some(g_str_hash(long.as_bytes())));
    assert_eq!(fk.path(), None);
    // Pre-4.8.1 forms.
    let old = file_key(b"affile_sd.bee.curpos").unwrap();
    assert_eq!((old.persist_name.as_deref(), old.hash), (Some("bee"), None));
    assert!(file_key(b"run_id").is_none());
    assert!(file_key(b"affile_dd_writers(/x)").is_none());
}

fn conf(text: &str) -> SyslogNgConf {
    config::parse(text).unwrap()
}

#[test]
fn snapshot_matches_entries_by_inode_and_drops_a_superseded_legacy_copy() {
    let c = conf(r#"source s { file("/var/log/app.log"); }; log { source(s); destination(d); };"#);
    // 4.8.1's first start copies the legacy entry: both are in use, the old one stale.
    let bytes = tk::bytes(&[
        tk::Value::new(
            tk::legacy_key("/var/log/app.log"),
            tk::position(10, 10, 10, 77),
        ),
        tk::Value::new(
            tk::key(false, None, "/var/log/app.log"),
            tk::position(500, 600, 10, 77),
        ),
        tk::Value::new("run_id", vec![0, 0, 0, 1]),
        Value::stale(
            tk::legacy_key("/var/log/old.log"),
            tk::position(5, 5, 5, 78),
        ),
    ]);
    let p = Persist::parse(Path::new("p"), &bytes).unwrap();
    let s = snapshot(Path::new("p"), &p, &c);
    assert_eq!(s.cursors.len(), 1, "{:?}", s.cursors);
    let cur = &s.cursors[0];
    assert_eq!(cur.identity, Identity::Inode { ino: 77 });
    assert_eq!(cur.offset, 500, "the acked offset, not the read one");
    assert_eq!(cur.path.as_deref(), Some(Path::new("/var/log/app.log")));
    assert_eq!(s.offset_meaning, OffsetMeaning::Buffered);
    let skipped: Vec<(&str, usize)> = s
        .skipped
        .iter()
        .map(|k| (k.prefix.as_str(), k.count))
        .collect();
    assert!(skipped.contains(&("run_id", 1)), "{skipped:?}");
    assert!(skipped
        .iter()
        .any(|(p, n)| p.contains("superseded") && *n == 1));
    assert!(skipped
        .iter()
        .any(|(p, n)| p.contains("not in use") && *n == 1));
}

struct Value;
impl Value {
    fn stale(name: String, value: Vec<u8>) -> tk::Value {
        tk::Value {
            in_use: false,
            ..tk::Value::new(name, value)
        }
    }
}

#[test]
fn key_blocks_chain_and_the_last_record_of_a_name_wins() {
    // 200 keys of ~60 bytes overflow the first 4032-byte block into chained ones.
    let mut values: Vec<tk::Value> = (0..200)
        .map(|i| {
            let path = format!("/var/log/app/{i:04}/service.log");
            tk::Value::new(tk::key(true, None, &path), tk::position(i, i, i, 1000 + i))
        })
        .collect();
    values.push(tk::Value::new(
        tk::key(true, None, "/var/log/app/0007/service.log"),
        tk::position(4242, 4242, 4242, 1007),
    ));
    let bytes = tk::bytes(&values);
    let p = Persist::parse(Path::new("p"), &bytes).unwrap();
    assert_eq!(p.entries.len(), 200);
    let s = snapshot(Path::new("p"), &p, &SyslogNgConf::default());
    assert_eq!(s.cursors.len(), 200);
    let seven = s
        .cursors
        .iter()
        .find(|c| c.identity == Identity::Inode { ino: 1007 })
        .unwrap();
    assert_eq!(seven.offset, 4242);
    assert_eq!(
        seven.path.as_deref(),
        Some(Path::new("/var/log/app/0007/service.log"))
    );
}

#[test]
fn big_endian_positions_are_swapped() {
    let v = tk::position_in(123_456, 200_000, 300_000, 99, true);
    let p = persist::file_position(Path::new("p"), 0, 72, &v).unwrap();
    assert_eq!(
        (p.acked, p.read, p.size_at_open, p.inode),
        (123_456, 200_000, 300_000, 99)
    );
}

#[test]
fn corrupt_input_names_the_file_and_the_byte() {
    let path = Path::new("/var/lib/syslog-ng/syslog-ng.persist");
    let err = |b: &[u8]| Persist::parse(path, b).unwrap_err().to_string();
    let e = err(b"SLP5....");
    assert!(e.contains("syslog-ng.persist") && e.contains("SLP4"), "{e}");
    let e = err(b"SLP4\0\0\0\0\0\0\0\x01");
    assert!(e.contains("shorter than the 4096-byte"), "{e}");
    assert!(err(b"SLP3xxxx").contains("pre-3.0"));
    let good = tk::bytes(&[tk::Value::new(
        tk::legacy_key("/a"),
        tk::position(1, 1, 1, 1),
    )]);
    // The value handle pointed past the file.
    let mut b = good.clone();
    let h = 64 + 4 + "affile_sd_curpos(/a)".len();
    b[h..h + 4].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    let e = err(&b);
    assert!(
        e.contains(&format!("byte {h}")) && e.contains("outside"),
        "{e}"
    );
    // The key count says more records than the block holds.
    let mut b = good.clone();
    b[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    let e = err(&b);
    assert!(e.contains("byte") && e.contains("key"), "{e}");
    // A chain link looping to itself.
    let mut b = good.clone();
    b[8..12].copy_from_slice(&5u32.to_be_bytes());
    let link = 64 + 4 + "affile_sd_curpos(/a)".len() + 4;
    b[link..link + 4].copy_from_slice(&0u32.to_be_bytes());
    b[link + 4..link + 8].copy_from_slice(&4104u32.to_be_bytes());
    b[4096..4100].copy_from_slice(&4096u32.to_be_bytes());
    b[4104..4108].copy_from_slice(&0u32.to_be_bytes());
    b[4108..4112].copy_from_slice(&4104u32.to_be_bytes());
    let e = err(&b);
    assert!(e.contains("loops"), "{e}");
    // A position with a negative offset.
    let mut v = tk::position(1, 1, 1, 1);
    v[24..32].copy_from_slice(&(-5i64).to_le_bytes());
    let e = persist::file_position(path, 4104, 72, &v)
        .unwrap_err()
        .to_string();
    assert!(e.contains("byte 4128") && e.contains("negative"), "{e}");
}

#[test]
fn config_finds_file_sources_log_paths_and_flow_control() {
    let c = conf(
        r#"@version: 3.38
@include "scl.conf"
# a comment with { braces
options { stats-freq(0); stats_level(1); };
source s_app {
    file("/var/log/app.log" follow-freq(1) flags(no-parse));
    wildcard-file(base-dir("/var/log/svc") filename-pattern("*.log") recursive(yes));
};
source s_sys { system(); internal(); };
destination d_net { network("10.0.0.1" port(514) transport("tcp") disk-buffer(reliable(yes) dir("/q"))); };
destination d_file { file("/var/log/all"); };
log { source(s_app); destination(d_net); flags(flow-control); };
log { source(s_sys); destination(d_file); };
"#,
    );
    assert_eq!(c.files.len(), 2);
    assert_eq!(c.files[0].glob, "/var/log/app.log");
    assert_eq!(c.files[1].glob, "/var/log/svc/*.log");
    assert!(c.files[1].wildcard && c.files[1].recursive);
    assert_eq!(c.stats_level, Some(1));
    assert!(c.flow_controlled());
    assert!(c.disk_buffered());
    assert_eq!(c.file_destinations(), ["d_net"]);
    assert!(c.forwards());
    let inputs = inputs(&c);
    assert_eq!(inputs[1].paths, ["/var/log/svc/**/*.log"]);

    // A second file path without flow-control: not every file path is flow-controlled.
    let c = conf(
        r#"source a { file("/a"); }; source b { file('/b'); };
        log { source(a); destination(x); flags(flow-control); };
        log { source(b); destination(y); };"#,
    );
    assert!(!c.flow_controlled());
    // Nested log paths inherit flow-control; inline sources count.
    let c = conf(
        r#"log { flags(flow-control); log { source { file("/n"); }; destination { tcp("h"); }; }; };"#,
    );
    assert_eq!(c.files[0].glob, "/n");
    assert!(c.flow_controlled());
    assert!(c.forwards());
    // A local daemon: no file source, nothing forwarded.
    let c = conf(
        r#"source s { system(); }; destination d { file("/var/log/messages"); }; log { source(s); destination(d); };"#,
    );
    assert!(c.files.is_empty() && !c.forwards());
}

#[test]
fn defines_are_expanded_and_what_is_left_is_said() {
    let c = conf(
        "@define logdir \"/var/log/app\"\n@define name 'svc'\nsource s { file(\"`logdir`/`name`.log\"); file(\"`HOME`/x.log\"); };",
    );
    assert_eq!(c.files[0].glob, "/var/log/app/svc.log");
    let left: Vec<&str> = c.unexpanded().iter().map(|f| f.glob.as_str()).collect();
    assert_eq!(left, ["`HOME`/x.log"]);
}

/// Defines that name other defines expand in turn; defines that double each other (found by
/// fuzzing: 40 of them made 2^40 bytes) stop at the path limit and leave the path unexpanded,
/// which the verdict then reports, instead of running out of memory.
#[test]
fn nested_defines_expand_and_doubling_ones_stay_bounded() {
    let c = conf(
        "@define root \"/var\"\n@define dir \"`root`/log\"\nsource s { file(\"`dir`/app.log\"); };",
    );
    assert_eq!(c.files[0].glob, "/var/log/app.log");
    let mut text = String::from("@define a0 \"xx\"\n");
    for i in 1..40 {
        text.push_str(&format!("@define a{i} \"`a{p}``a{p}`\"\n", p = i - 1));
    }
    text.push_str("source s { file(\"/logs/`a39`\"); };");
    let c = conf(&text);
    let glob = &c.files[0].glob;
    assert!(glob.len() <= config::MAX_EXPANDED, "{} bytes", glob.len());
    assert!(glob.starts_with("/logs/`a"), "{glob}");
    assert_eq!(
        c.unexpanded().len(),
        1,
        "a path with references left is unexpanded"
    );
}

#[test]
fn config_errors_name_the_line() {
    let e = config::parse("source s {\n file(\"/a\");\n").unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.what.contains("never closed"), "{e:?}");
    let e = config::parse("log { ) };").unwrap_err();
    assert!(e.what.contains("unexpected"), "{e:?}");
    let deep = "(".repeat(100_000);
    assert!(config::parse(&deep).unwrap_err().what.contains("nested"));
    let e = config::parse("a\nb \"open").unwrap_err();
    assert_eq!(e.line, 2);
}

#[test]
fn includes_are_followed_bounded_and_loop_safe() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    std::fs::create_dir(p("conf.d")).unwrap();
    std::fs::write(
        p("main.conf"),
        format!(
            "@include \"{}/conf.d/*.conf\"\n@include \"main.conf\"\n@include \"missing.conf\"\n",
            d.path().display()
        ),
    )
    .unwrap();
    std::fs::write(
        p("conf.d/app.conf"),
        "source s { file(\"/x\"); }; log { source(s); destination(d); };",
    )
    .unwrap();
    let c = config::load(&crate::root::Root::new(None), &p("main.conf")).unwrap();
    assert_eq!(c.files.len(), 1);
    assert!(
        c.notes.iter().any(|n| n.contains("included twice")),
        "{:?}",
        c.notes
    );
    assert!(
        c.notes.iter().any(|n| n.contains("missing.conf")),
        "{:?}",
        c.notes
    );
    // A chain deeper than the bound.
    for i in 0..20 {
        std::fs::write(
            p(&format!("c{i}.conf")),
            format!("@include \"c{}.conf\"\n", i + 1),
        )
        .unwrap();
    }
    let e = config::load(&crate::root::Root::new(None), &p("c0.conf")).unwrap_err();
    assert!(e.to_string().contains("nested deeper"), "{e}");
}

fn counter(name: &str, id: &str, kind: &str, value: u64) -> ctl::Counter {
    ctl::Counter {
        source_name: name.into(),
        source_id: id.into(),
        instance: "tcp,127.0.0.1:514".into(),
        kind: kind.into(),
        value,
    }
}

#[test]
fn queued_counters_decide_the_delivery_signal() {
    let reply = b"SourceName;SourceId;SourceInstance;State;Type;Number\n\
dst.network;n#0;tcp,127.0.0.1:59999;a;queued;3\n\
dst.file;d#0;/var/log/a;b;c;x;a;queued;0\n\
global;scratch_buffers_count;;a;queued;7\n\
center;;queued;a;processed;6\n.\n";
    let cs = ctl::parse(reply);
    assert_eq!(cs.len(), 4);
    assert!(dropped_notes(&cs).is_empty());
    let dropped = dropped_notes(&[counter("dst.network", "n#0", "dropped", 12)]);
    assert!(
        dropped[0].contains("dropped 12") && dropped[0].contains("lost"),
        "{dropped:?}"
    );
    assert_eq!(
        cs[1].instance, "/var/log/a;b;c;x",
        "an instance may hold ';'"
    );
    assert_eq!(cs[0].destination(), Some("n"));
    assert_eq!(cs[2].destination(), None);
    let c =
        conf(r#"source s { file("/a"); }; log { source(s); destination(n); destination(d); };"#);
    let sig = queues_signal("q".into(), &cs, &c, false);
    match &sig.state {
        QueueState::Pending { detail, owed } => {
            assert_eq!(owed.queued_events, Some(3));
            assert!(detail.contains("n#0"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    let empty = [counter("dst.network", "n#0", "queued", 0)];
    // d (a file destination at stats level 0) has no counter: unknown, naming the fix.
    let sig = queues_signal("q".into(), &empty, &c, false);
    match &sig.state {
        QueueState::Unknown { hint } => {
            assert!(hint.contains("stats-level(1)") && hint.contains('d'))
        }
        other => panic!("{other:?}"),
    }
    // Nor does stats level 1 make a missing counter prove anything (the running syslog-ng
    // may count at another level, or run another config).
    let level1 = conf(
        r#"options { stats-level(1); }; source s { file("/a"); }; log { source(s); destination(n); destination(d); };"#,
    );
    match queues_signal("q".into(), &empty, &level1, false).state {
        QueueState::Unknown { hint } => assert!(hint.contains("d"), "{hint}"),
        other => panic!("{other:?}"),
    }
    // Flow-controlled: the acks already waited for d's write.
    assert_eq!(
        queues_signal("q".into(), &empty, &c, true).state,
        QueueState::Empty
    );
    let both = [
        counter("dst.network", "n#0", "queued", 0),
        counter("dst.file", "d#0", "queued", 0),
    ];
    assert_eq!(
        queues_signal("q".into(), &both, &c, false).state,
        QueueState::Empty
    );
}

#[test]
fn an_unreachable_control_socket_is_unknown_unless_flow_controlled() {
    let d = tempfile::tempdir().unwrap();
    let ctl = d.path().join("nothing.ctl");
    let plain = conf(r#"source s { file("/a"); }; log { source(s); destination(n); };"#);
    match delivery_signal(&ctl, &plain).0.state {
        QueueState::Unknown { hint } => {
            assert!(
                hint.contains("nothing.ctl") && hint.contains("flow-control"),
                "{hint}"
            )
        }
        other => panic!("{other:?}"),
    }
    let fc = conf(
        r#"source s { file("/a"); }; log { source(s); destination(n); flags(flow-control); };"#,
    );
    assert_eq!(delivery_signal(&ctl, &fc).0.state, QueueState::Empty);
    // A disk buffer acks on its own write even with flow-control (unless reliable): the
    // counters are needed then.
    let buffered = conf(
        r#"source s { file("/a"); }; destination n { tcp("h" disk-buffer(reliable(no))); };
        log { source(s); destination(n); flags(flow-control); };"#,
    );
    assert!(matches!(
        delivery_signal(&ctl, &buffered).0.state,
        QueueState::Unknown { .. }
    ));
}

#[test]
fn a_control_socket_that_never_answers_is_bounded() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("hung.ctl");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // Accepted by the kernel's backlog, never read, never answered.
    let e = ctl::stats(&path).unwrap_err();
    assert!(e.to_string().contains("no complete STATS reply"), "{e}");
}

#[test]
fn a_named_persist_file_must_exist_and_the_default_may_not_be_written_yet() {
    let d = tempfile::tempdir().unwrap();
    let opts = SourceOptions {
        store: Some(d.path().join("syslog-ng.persist")),
        control_socket: Some(d.path().join("ctl")),
        ..Default::default()
    };
    let e = open(&opts)
        .err()
        .expect("a named store that does not exist");
    assert!(e.to_string().contains("syslog-ng.persist"), "{e}");
    // A config with a file source, under a root without the default persist file.
    std::fs::create_dir_all(d.path().join("etc/syslog-ng")).unwrap();
    std::fs::write(
        d.path().join("etc/syslog-ng/syslog-ng.conf"),
        r#"source s { file("/var/log/app.log"); }; log { source(s); destination(d); };"#,
    )
    .unwrap();
    let opts = SourceOptions {
        root: crate::root::Root::new(Some(d.path().to_path_buf())),
        ..Default::default()
    };
    let mut readers = open(&opts).unwrap();
    let snap = readers[0].read().unwrap();
    assert_eq!(snap.inputs[0].paths, ["/var/log/app.log"]);
    assert!(snap.cursors.is_empty());
    assert!(
        snap.notes.iter().any(|n| n.contains("does not exist yet")),
        "{:?}",
        snap.notes
    );
}

/// A control socket at `path` that answers each connection's first request with `reply`,
/// then closes it (`endless`: sends `reply` over and over instead, until the peer leaves).
fn fake_control(path: &Path, reply: &'static [u8], endless: bool) -> std::thread::JoinHandle<()> {
    use std::io::{Read, Write};
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut req = [0u8; 6];
        let _ = s.read_exact(&mut req);
        if endless {
            while s.write_all(reply).is_ok() {}
        } else {
            let _ = s.write_all(reply);
        }
    })
}

#[test]
fn a_stats_reply_cut_short_or_not_from_syslog_ng_is_no_answer() {
    let d = tempfile::tempdir().unwrap();
    // At stats level 1 a destination without counters reads as one with nothing queued: only
    // a reply known to be whole may say that.
    let level1 = conf(
        r#"options { stats-level(1); }; source s { file("/a"); }; log { source(s); destination(n); };"#,
    );
    let cases: [(&str, &'static [u8]); 4] = [
        // syslog-ng stopping mid-reply: the destination's `queued;5` line never came.
        (
            "cut",
            b"SourceName;SourceId;SourceInstance;State;Type;Number\n\
center;;queued;a;processed;6\n",
        ),
        // Accepted, then closed without a word.
        ("closed", b""),
        // Cut inside the last counter: `queued;1` of `queued;1000`, or nothing parsable.
        (
            "mid-line",
            b"SourceName;SourceId;SourceInstance;State;Type;Number\n\
dst.network;n#0;tcp,127.0.0.1:59999;a;queued;",
        ),
        // Something else listening there.
        ("other", b"HTTP/1.1 400 Bad Request\r\n\r\n.\n"),
    ];
    for (name, reply) in cases {
        let path = d.path().join(format!("{name}.ctl"));
        let peer = fake_control(&path, reply, false);
        let e = ctl::stats(&path).expect_err(name).to_string();
        peer.join().unwrap();
        assert!(
            e.contains("cut short") || e.contains("not a syslog-ng STATS reply"),
            "{name}: {e}"
        );
        // And the verdict: without flow-control, unknown with the socket and the fix.
        let peer = fake_control(&path.with_extension("2.ctl"), reply, false);
        let (sig, _) = delivery_signal(&path.with_extension("2.ctl"), &level1);
        peer.join().unwrap();
        match sig.state {
            QueueState::Unknown { hint } => {
                assert!(
                    hint.contains("2.ctl") && hint.contains("flow-control"),
                    "{name}: {hint}"
                )
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // The whole reply, as syslog-ng 3.38 sends it (header, counters, the final `.`), parses.
    let path = d.path().join("whole.ctl");
    let whole: &'static [u8] = b"SourceName;SourceId;SourceInstance;State;Type;Number\n\
dst.network;n#0;tcp,127.0.0.1:59999;a;queued;0\n.\n";
    let peer = fake_control(&path, whole, false);
    let cs = ctl::stats(&path).unwrap();
    peer.join().unwrap();
    assert_eq!(cs.len(), 1);
}

#[test]
fn a_control_socket_that_answers_endlessly_is_bounded() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("endless.ctl");
    let peer = fake_control(
        &path,
        b"dst.network;n#0;tcp,127.0.0.1:59999;a;queued;0\n",
        true,
    );
    let e = ctl::stats(&path).unwrap_err().to_string();
    assert!(
        e.contains("larger than") || e.contains("no complete STATS reply"),
        "{e}"
    );
    peer.join().unwrap();
}

/// `syslog-ng-ctl stats` of Debian 12's 3.38.1 at stats level 1 (trimmed to the counters
/// that matter), with a file source feeding five destinations: `d_file` and an inline
/// file destination (wrote their message), `d_net` (a closed port: 1 queued), `d_idle`
/// (a filter no message passes: never opened, so no `dst.file` counters at all).
const REAL_LEVEL1: &[u8] = b"SourceName;SourceId;SourceInstance;State;Type;Number\n\
center;;queued;a;processed;4\n\
destination;#anon-destination0;;a;processed;1\n\
destination;d_file;;a;processed;1\n\
destination;d_idle;;a;processed;0\n\
destination;d_net;;a;processed;1\n\
dst.file;#anon-destination0#0;/tmp/sngt/anon.log;a;queued;0\n\
dst.file;#anon-destination0#0;/tmp/sngt/anon.log;a;written;1\n\
dst.file;d_file#0;/tmp/sngt/out.log;a;queued;0\n\
dst.file;d_file#0;/tmp/sngt/out.log;a;written;1\n\
dst.network;d_net#0;tcp,127.0.0.1:59999;a;processed;1\n\
dst.network;d_net#0;tcp,127.0.0.1:59999;a;queued;0\n\
src.file;s#0;/tmp/sngt/in.log;a;processed;1\n.\n";

const REAL_CONF: &str = r#"options { stats-freq(0); stats-level(1); };
source s { file("/tmp/sngt/in.log" follow-freq(1)); };
destination d_file { file("/tmp/sngt/out.log"); };
destination d_net { network("127.0.0.1" port(59999) transport("tcp")); };
destination d_idle { file("/tmp/sngt/never.log"); };
log { source(s); destination(d_file); destination(d_net); destination { file("/tmp/sngt/anon.log"); }; };
log { source(s); filter { message("nevermatches"); }; destination(d_idle); };
"#;

#[test]
fn a_destination_without_a_queued_counter_is_empty_only_when_nothing_entered_it() {
    let c = conf(REAL_CONF);
    let all = ctl::parse(REAL_LEVEL1);
    // Every destination proves itself: its queued counters at 0, or (d_idle) no message
    // ever entered it.
    assert_eq!(
        queues_signal("q".into(), &all, &c, false).state,
        QueueState::Empty
    );
    // Without a destination's `dst.*` counters (another stats level in the running
    // syslog-ng, or another config) messages that entered it prove nothing: unknown,
    // naming it and how to get the counter.
    for gone in ["d_file#0", "d_net#0", "#anon-destination0#0"] {
        let some: Vec<ctl::Counter> = all
            .iter()
            .filter(|x| x.source_id != gone)
            .cloned()
            .collect();
        match queues_signal("q".into(), &some, &c, false).state {
            QueueState::Unknown { hint } => {
                let name = gone.trim_end_matches("#0");
                assert!(
                    hint.contains(name) && hint.contains("stats(level(1))"),
                    "{gone}: {hint}"
                );
            }
            other => panic!("{gone}: {other:?}"),
        }
        // With flow-control on every path, the acknowledgements already waited.
        assert_eq!(
            queues_signal("q".into(), &some, &c, true).state,
            QueueState::Empty,
            "{gone}"
        );
    }
    // d_idle once a message entered it (processed 1) and still without counters.
    let entered: Vec<ctl::Counter> = all
        .iter()
        .cloned()
        .map(|mut x| {
            if x.source_id == "d_idle" {
                x.value = 1;
            }
            x
        })
        .collect();
    match queues_signal("q".into(), &entered, &c, false).state {
        QueueState::Unknown { hint } => assert!(hint.contains("d_idle"), "{hint}"),
        other => panic!("{other:?}"),
    }
    // An inline destination the reply does not name at all.
    let no_anon: Vec<ctl::Counter> = all
        .iter()
        .filter(|x| !x.source_id.starts_with("#anon"))
        .cloned()
        .collect();
    match queues_signal("q".into(), &no_anon, &c, false).state {
        QueueState::Unknown { hint } => assert!(hint.contains("inline"), "{hint}"),
        other => panic!("{other:?}"),
    }
}
