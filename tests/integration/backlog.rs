//! The backlog engine over real files with real inodes in temporary directories.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use drainguard::backlog::{assess, combine, Env, FileState, ShipperBacklog, Verdict};
use drainguard::cursor::{
    Cursor, ExcludeRule, Identity, InputSpec, OffsetMeaning, OffsetUnit, QueueSignal, QueueState,
    ShipperKind, StoreSnapshot,
};
use drainguard::fingerprint::FingerprintSpec;
use drainguard::root::Root;

fn write(path: &Path, content: &[u8]) {
    fs::write(path, content).unwrap();
}

fn native(path: &Path, offset: u64) -> Cursor {
    let m = fs::metadata(path).unwrap();
    Cursor {
        key: format!("filebeat::logs::native::{}-{}", m.ino(), m.dev()).into(),
        identity: Identity::DevInode {
            dev: m.dev(),
            ino: m.ino(),
        },
        path: Some(path.into()),
        offset,
        unit: OffsetUnit::Bytes,
    }
}

fn snapshot(cursors: Vec<Cursor>, inputs: Vec<InputSpec>) -> StoreSnapshot {
    StoreSnapshot {
        shipper: ShipperKind::Filebeat,
        store: PathBuf::from("/test/registry"),
        format: "test".into(),
        cursors,
        skipped: vec![],
        inputs,
        offset_meaning: OffsetMeaning::Delivered,
        queues: vec![],
        notes: vec![],
        max_line_bytes: Some(10 * 1024 * 1024),
    }
}

fn state_of<'a>(b: &'a ShipperBacklog, path: &Path) -> &'a FileState {
    &b.files
        .iter()
        .find(|f| *f.path == *path)
        .unwrap_or_else(|| panic!("{} not in report: {:#?}", path.display(), b.files))
        .state
}

#[test]
fn shipped_behind_partial_tail_and_truncated() {
    let d = tempfile::tempdir().unwrap();
    let (a, b, c, t) = (
        d.path().join("a.log"),
        d.path().join("b.log"),
        d.path().join("c.log"),
        d.path().join("t.log"),
    );
    write(&a, b"one\ntwo\n");
    write(&b, b"one\ntwo\nthree\n");
    write(&c, b"one\ntwo\nunterminated");
    write(&t, b"new\n");
    let snap = snapshot(
        vec![native(&a, 8), native(&b, 4), native(&c, 8), native(&t, 100)],
        vec![],
    );
    let r = assess(&snap, &Env::default());
    assert_eq!(state_of(&r, &a), &FileState::Shipped);
    assert_eq!(state_of(&r, &b), &FileState::Behind { bytes: 10 });
    assert_eq!(state_of(&r, &c), &FileState::PartialTail { bytes: 12 });
    assert_eq!(
        state_of(&r, &t),
        &FileState::Truncated {
            offset: 100,
            size: 4
        }
    );
    assert_eq!(r.totals.blocking_files, 2);
    assert_eq!(r.totals.bytes_behind, 10 + 4);
    assert_eq!(r.totals.partial_tail_bytes, 12);
    assert_eq!(r.verdict, Verdict::Behind);
    // Ordered by bytes behind, most first (the table's top rows, the JSON report's list).
    assert_eq!(
        drainguard::backlog::top(&r.files, 1)[0].path,
        b.as_path().into()
    );
    let json = serde_json::to_value(&r).unwrap();
    let listed: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let name = |p: &Path| p.to_str().unwrap().to_string();
    assert_eq!(listed, [name(&b), name(&t), name(&a), name(&c)]);
}

#[test]
fn partial_tail_alone_does_not_block() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c.log");
    write(&c, b"done\nhalf a li");
    let r = assess(&snapshot(vec![native(&c, 5)], vec![]), &Env::default());
    assert_eq!(state_of(&r, &c), &FileState::PartialTail { bytes: 9 });
    assert_eq!(r.verdict, Verdict::Drained);
}

/// A pending line longer than the shipper's line limit is its own state: reported with the
/// limit, never blocking; bytes changed in place at the same size are read again.
#[test]
fn a_line_longer_than_the_shipper_limit_is_a_long_line_not_a_partial_tail() {
    let d = tempfile::tempdir().unwrap();
    let (long, short) = (d.path().join("long.log"), d.path().join("short.log"));
    let mut content = b"shipped\n".to_vec();
    content.extend(std::iter::repeat_n(b'x', 300 * 1024));
    write(&long, &content);
    write(&short, b"shipped\nhalf");
    let snap = StoreSnapshot {
        shipper: ShipperKind::Vector,
        max_line_bytes: ShipperKind::Vector.default_max_line_bytes(),
        ..snapshot(vec![native(&long, 8), native(&short, 8)], vec![])
    };
    let env = Env::default();
    let r = assess(&snap, &env);
    assert_eq!(
        state_of(&r, &long),
        &FileState::LongLine {
            bytes: 300 * 1024,
            limit: 102_400,
            shipper_limit: Some(102_400)
        }
    );
    assert_eq!(state_of(&r, &short), &FileState::PartialTail { bytes: 4 });
    assert_eq!(r.verdict, Verdict::Drained, "{}", r.delivery);
    assert_eq!(r.totals.by_state.get("long-line"), Some(&1));
    // The same size and offset, but the bytes changed in place (its change time moved, and
    // it changed just now): read again, never the kept answer, in the same environment
    // (whose cache keeps answers only for files whose change time has settled) ...
    let mut f = OpenOptions::new().write(true).open(&long).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"\n", 100).unwrap();
    f.flush().unwrap();
    let again = assess(&snap, &env);
    assert_eq!(
        state_of(&again, &long),
        &FileState::Behind { bytes: 300 * 1024 }
    );
    // ... as in a fresh one.
    let fresh = assess(&snap, &Env::default());
    assert_eq!(
        state_of(&fresh, &long),
        &FileState::Behind { bytes: 300 * 1024 }
    );
}

#[test]
fn rotated_file_is_found_under_its_new_name_and_new_file_is_untracked() {
    let d = tempfile::tempdir().unwrap();
    let live = d.path().join("app.log");
    write(&live, b"old line 1\nold line 2\n");
    let cursor = native(&live, 11);
    fs::rename(&live, d.path().join("app.log.1")).unwrap();
    write(&live, b"fresh\n");
    let input = InputSpec {
        name: "app".into(),
        paths: vec![format!("{}/app.log", d.path().display())],
        ..Default::default()
    };
    let r = assess(&snapshot(vec![cursor], vec![input]), &Env::default());
    let rotated = r
        .files
        .iter()
        .find(|f| matches!(f.state, FileState::Rotated { .. }))
        .expect("a rotated entry");
    assert_eq!(
        rotated.path,
        live.into(),
        "reported under its recorded path"
    );
    assert_eq!(
        rotated.state,
        FileState::Rotated {
            now_at: d.path().join("app.log.1"),
            behind: 11
        }
    );
    let fresh = r
        .files
        .iter()
        .find(|f| matches!(f.state, FileState::Untracked { .. }))
        .expect("the new file is untracked");
    assert_eq!(fresh.state, FileState::Untracked { bytes: 6 });
    assert_eq!(r.totals.bytes_behind, 17);
}

#[test]
fn deleted_file_held_open_by_the_shipper_counts_and_gone_does_not() {
    let d = tempfile::tempdir().unwrap();
    let held = d.path().join("held.log");
    let gone = d.path().join("gone.log");
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&held)
        .unwrap();
    f.write_all(b"a\nb\nc\n").unwrap();
    write(&gone, b"x\n");
    let snap = snapshot(vec![native(&held, 2), native(&gone, 0)], vec![]);
    fs::remove_file(&held).unwrap();
    fs::remove_file(&gone).unwrap();
    let env = Env {
        root: Root::default(),
        shipper_pids: vec![std::process::id()],
        ..Default::default()
    };
    let r = assess(&snap, &env);
    assert_eq!(
        state_of(&r, &held),
        &FileState::OpenDeleted {
            pid: std::process::id(),
            behind: 4
        }
    );
    assert_eq!(state_of(&r, &gone), &FileState::Gone);
    // Without the shipper's pid the held file cannot be seen: it is gone.
    let r = assess(&snap, &Env::default());
    assert_eq!(state_of(&r, &held), &FileState::Gone);
    drop(f);
}

#[test]
fn container_streams_sharing_an_inode_use_the_slowest_offset() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("container.log");
    write(&p, b"stdout\nstderr\nstdout\n");
    let mut out = native(&p, 21);
    out.key = "filebeat::logs::aaaa-native::1-2".into();
    let mut err = native(&p, 14);
    err.key = "filebeat::logs::bbbb-native::1-2".into();
    let r = assess(&snapshot(vec![out, err], vec![]), &Env::default());
    assert_eq!(r.files.len(), 1);
    assert_eq!(r.files[0].keys.len(), 2);
    assert_eq!(r.files[0].state, FileState::Behind { bytes: 7 });
}

#[test]
fn untracked_respects_excludes_ignore_older_and_fingerprint_window() {
    let d = tempfile::tempdir().unwrap();
    let big = vec![b'x'; 2000];
    write(&d.path().join("new.log"), &[&big[..], b"\n"].concat());
    write(&d.path().join("skip.gz.log"), b"zzz\n");
    write(&d.path().join("short.log"), b"tiny\n");
    let old = d.path().join("old.log");
    write(&old, &big);
    let old_time = std::time::SystemTime::now() - Duration::from_secs(3 * 86400);
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(old_time)
        .unwrap();
    let input = InputSpec {
        name: "logs".into(),
        paths: vec![format!("{}/*.log", d.path().display())],
        exclude: vec![ExcludeRule::Regex(r"\.gz\.log$".into())],
        ignore_older: Some(Duration::from_secs(86400)),
        min_size: Some(1024),
        lagging_state: None,
    };
    let r = assess(&snapshot(vec![], vec![input]), &Env::default());
    assert_eq!(
        state_of(&r, &d.path().join("new.log")),
        &FileState::Untracked { bytes: 2001 }
    );
    assert!(
        matches!(state_of(&r, &old), FileState::Ignored { reason } if reason.contains("ignore_older"))
    );
    assert!(
        matches!(state_of(&r, &d.path().join("short.log")), FileState::Ignored { reason } if reason.contains("fingerprint"))
    );
    assert!(r.files.iter().all(|f| !f.path.ends_with("skip.gz.log")));
    assert_eq!(r.totals.bytes_behind, 2001);
}

#[test]
fn fingerprint_identity_follows_a_renamed_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("fp.log");
    let mut content = vec![b'a'; 1024];
    content.extend_from_slice(b"\nmore\n");
    write(&p, &content);
    let spec = FingerprintSpec::Sha256Window {
        offset: 0,
        length: 1024,
    };
    let value = spec.compute(&p).unwrap().unwrap();
    let cursor = Cursor {
        key: format!("filestream::x::fingerprint::{value}").into(),
        identity: Identity::Fingerprint {
            spec: spec.into(),
            value: value.into(),
        },
        path: Some(p.clone().into()),
        offset: 1025,
        unit: OffsetUnit::Bytes,
    };
    fs::rename(&p, d.path().join("fp.log.1")).unwrap();
    let r = assess(&snapshot(vec![cursor], vec![]), &Env::default());
    assert_eq!(
        state_of(&r, &p),
        &FileState::Rotated {
            now_at: d.path().join("fp.log.1"),
            behind: 5
        }
    );
}

#[test]
fn odd_names_spaces_newlines_and_non_utf8() {
    let d = tempfile::tempdir().unwrap();
    let names: [&[u8]; 3] = [b"with space.log", b"new\nline.log", b"bad\xff\xfe.log"];
    let mut cursors = vec![];
    for n in names {
        let p = d.path().join(OsStr::from_bytes(n));
        write(&p, b"line\n");
        cursors.push(native(&p, 0));
    }
    let r = assess(&snapshot(cursors, vec![]), &Env::default());
    assert_eq!(r.totals.bytes_behind, 15);
    let json = serde_json::to_string(&r).expect("non-UTF-8 paths serialize");
    assert!(json.contains("new\\\\nline.log"), "{json}");
    assert!(json.contains("bad\\\\xff\\\\xfe.log"), "{json}");
}

#[test]
fn paths_are_read_below_root_and_reported_as_host_paths() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("var/log")).unwrap();
    let local = d.path().join("var/log/app.log");
    write(&local, b"1\n2\n");
    let mut c = native(&local, 2);
    c.path = Some(Path::new("/var/log/app.log").into());
    let input = InputSpec {
        name: "app".into(),
        paths: vec!["/var/log/*.log".into()],
        ..Default::default()
    };
    let env = Env {
        root: Root::new(Some(d.path().to_path_buf())),
        shipper_pids: vec![],
        ..Default::default()
    };
    let r = assess(&snapshot(vec![c], vec![input]), &env);
    assert_eq!(
        r.files.len(),
        1,
        "the glob match is the tracked file: {:#?}",
        r.files
    );
    assert_eq!(r.files[0].path, Path::new("/var/log/app.log").into());
    assert_eq!(r.files[0].state, FileState::Behind { bytes: 2 });
}

#[test]
fn read_only_offsets_need_an_empty_queue_to_be_drained() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.log");
    write(&p, b"x\n");
    let mut snap = snapshot(vec![native(&p, 2)], vec![]);
    snap.offset_meaning = OffsetMeaning::Read;
    let unconfirmed = assess(&snap, &Env::default());
    assert_eq!(unconfirmed.verdict, Verdict::Unconfirmed);
    assert!(unconfirmed.delivery.contains("no delivery signal"));

    snap.queues = vec![QueueSignal {
        source: "rsyslog main queue".into(),
        state: QueueState::pending("42 messages"),
    }];
    let pending = assess(&snap, &Env::default());
    assert_eq!(pending.verdict, Verdict::Behind);

    snap.queues[0].state = QueueState::Empty;
    let drained = assess(&snap, &Env::default());
    assert_eq!(drained.verdict, Verdict::Drained);

    let all = combine(vec![drained, unconfirmed.clone()]);
    assert_eq!(all.verdict, Verdict::Unconfirmed);
    let all = combine(vec![unconfirmed, pending]);
    assert_eq!(all.verdict, Verdict::Behind);
}

/// A shipper with several stores (three Fluent Bit inputs) has one set of sockets: the send
/// queues are read once per assessment, on the first store that needs them, and every store
/// that needs them reports that same reading.
#[test]
fn the_send_queues_are_read_once_for_all_stores_of_a_shipper() {
    let queued = |store: &str| StoreSnapshot {
        store: PathBuf::from(store),
        offset_meaning: OffsetMeaning::Read,
        queues: vec![QueueSignal {
            source: "fluent-bit storage".into(),
            state: QueueState::Empty,
        }],
        ..snapshot(vec![], vec![])
    };
    let env = Env {
        shipper_pids: vec![std::process::id()],
        ..Default::default()
    };
    assert!(env.send_queues.get().is_none());
    let first = assess(&queued("/a.db"), &env);
    let read = env
        .send_queues
        .get()
        .expect("read on the first store")
        .clone();
    assert!(
        read.source.starts_with("TCP send queues of pid"),
        "{read:?}"
    );
    assert_eq!(first.queues.last(), Some(&read));
    // A later store of the same shipper uses that reading (here made distinguishable).
    let env = Env {
        shipper_pids: vec![std::process::id()],
        send_queues: QueueSignal {
            source: "the reading of this assessment".into(),
            state: QueueState::Empty,
        }
        .into(),
        ..Default::default()
    };
    let second = assess(&queued("/b.db"), &env);
    assert_eq!(
        second.queues.last().map(|q| q.source.as_str()),
        Some("the reading of this assessment")
    );
}

/// `status` reports only what its table or JSON summary can show ([`Detail::Top`]): files at
/// their end are counted, not reported. The table and the JSON summary are byte for byte what
/// the report of every file prints, whatever the mix of states and however many rows.
#[test]
fn a_summary_prints_what_the_report_of_every_file_prints() {
    use drainguard::backlog::Detail;
    use drainguard::report::{to_json, write_table, TableOptions};
    // The other states before the shipped files by path, and after them.
    for (blocking, x) in [0usize, 1, 3, 30]
        .into_iter()
        .flat_map(|b| [(b, "a"), (b, "z")])
    {
        let d = tempfile::tempdir().unwrap();
        let mut cursors = Vec::new();
        // Group order is not path order: names from a permutation of 0..80.
        for k in 0..80usize {
            let i = (k * 37) % 80;
            let p = d.path().join(format!("f{i:02}.log"));
            write(&p, b"one\ntwo\n");
            let offset = if k < blocking { 4 } else { 8 };
            cursors.push(native(&p, offset));
        }
        let p = d.path().join(format!("{x}-partial.log"));
        write(&p, b"one\nhalf");
        cursors.push(native(&p, 4));
        let p = d.path().join(format!("{x}-a-truncated.log"));
        write(&p, b"x\n");
        cursors.push(native(&p, 9));
        let gone = d.path().join(format!("{x}-b-gone.log"));
        write(&gone, b"x\n");
        cursors.push(native(&gone, 2));
        let p = d.path().join(format!("{x}-c-rotated.log"));
        write(&p, b"one\ntwo\n");
        cursors.push(native(&p, 8));
        fs::rename(&p, d.path().join(format!("{x}-c-rotated.log.1"))).unwrap();
        // Container streams on one inode, both at the end; a path identity at its end.
        let p = d.path().join("container.log");
        write(&p, b"stdout\nstderr\n");
        let mut out = native(&p, 14);
        out.key = "filebeat::logs::aaaa-native::1-2".into();
        let mut err = native(&p, 14);
        err.key = "filebeat::logs::bbbb-native::1-2".into();
        cursors.extend([out, err]);
        let p = d.path().join("by-path.log");
        write(&p, b"x\n");
        let mut by_path = native(&p, 2);
        by_path.identity = Identity::Path;
        cursors.push(by_path);
        write(&d.path().join("untracked.log"), b"new\n");
        let input = InputSpec {
            name: "logs".into(),
            paths: vec![format!("{}/untracked.log", d.path().display())],
            ..Default::default()
        };
        // Removed last: no file made after it reuses its inode.
        fs::remove_file(&gone).unwrap();
        let snap = snapshot(cursors, vec![input]);
        for n in [0usize, 1, 2, 5, 20, 200] {
            let run = |detail| {
                let env = Env {
                    detail,
                    ..Default::default()
                };
                let a = combine(vec![assess(&snap, &env)]);
                let mut table = Vec::new();
                write_table(&mut table, &a, TableOptions { top: n }).unwrap();
                let mut summary = a.clone();
                for s in &mut summary.shippers {
                    s.keep_top(n);
                }
                let mut json: serde_json::Value =
                    serde_json::from_str(&to_json(&summary, ())).unwrap();
                json["generated_at"] = serde_json::Value::Null;
                (
                    String::from_utf8(table).unwrap(),
                    json,
                    a.shippers[0].files.len(),
                )
            };
            let (every, summary) = (run(Detail::Every), run(Detail::Top(n)));
            assert_eq!(summary.0, every.0, "table, {blocking} blocking, top {n}");
            assert_eq!(summary.1, every.1, "JSON, {blocking} blocking, top {n}");
            if n == 200 {
                for state in ["partial-tail", "truncated", "gone", "rotated", "untracked"] {
                    assert!(every.0.contains(state), "{state}: {}", every.0);
                }
            }
            if n < 20 {
                assert!(
                    summary.2 < every.2,
                    "shipped files left out: {} of {}",
                    summary.2,
                    every.2
                );
            }
        }
    }
}

/// An input directory the walk cannot read (here a link loop: as root a mode-000 directory
/// would be read) may hold files nobody tracks: not "drained", but unconfirmed naming the
/// directory and the fix. A directory that does not exist is nothing to ship.
#[test]
fn an_unreadable_input_directory_makes_a_drained_store_unconfirmed() {
    let d = tempfile::tempdir().unwrap();
    let live = d.path().join("app.log");
    write(&live, b"shipped\n");
    std::os::unix::fs::symlink(d.path().join("loop"), d.path().join("loop")).unwrap();
    let input = |dir: &str| InputSpec {
        name: "app".into(),
        paths: vec![
            format!("{}/*.log", d.path().display()),
            format!("{}/{dir}/*.log", d.path().display()),
        ],
        ..Default::default()
    };
    let r = assess(
        &snapshot(vec![native(&live, 8)], vec![input("loop")]),
        &Env::default(),
    );
    assert_eq!(r.verdict, Verdict::Unconfirmed, "{}", r.delivery);
    let loop_dir = d.path().join("loop").display().to_string();
    assert!(
        r.delivery.contains(&loop_dir) && r.delivery.contains("run drainguard as root"),
        "{}",
        r.delivery
    );
    let r = assess(
        &snapshot(vec![native(&live, 8)], vec![input("missing")]),
        &Env::default(),
    );
    assert_eq!(r.verdict, Verdict::Drained, "{}", r.delivery);
}

/// A report names its file by the cursor's own path and keys (shared, never copied): at
/// 10^6 files a copy per report was a third of what `wait` held.
#[test]
fn reports_share_the_cursors_path_and_key() {
    let d = tempfile::tempdir().unwrap();
    let (shipped, behind, gone) = (d.path().join("s"), d.path().join("b"), d.path().join("g"));
    write(&shipped, b"line\n");
    write(&behind, b"line\nline\n");
    write(&gone, b"x\n");
    let cursors = vec![native(&shipped, 5), native(&behind, 5), native(&gone, 0)];
    fs::remove_file(&gone).unwrap();
    let snap = snapshot(cursors, vec![]);
    let r = assess(&snap, &Env::default());
    assert_eq!(r.files.len(), 3, "{:#?}", r.files);
    for c in &snap.cursors {
        let f = r
            .files
            .iter()
            .find(|f| f.keys.first() == Some(&c.key))
            .unwrap_or_else(|| panic!("{} not in report: {:#?}", c.key, r.files));
        let path = c.path.as_ref().unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&f.path, path),
            "{} copied",
            f.path.display()
        );
        assert!(
            std::sync::Arc::ptr_eq(&f.keys[0], &c.key),
            "{} copied",
            c.key
        );
    }
    assert_eq!(state_of(&r, &gone), &FileState::Gone);
}
