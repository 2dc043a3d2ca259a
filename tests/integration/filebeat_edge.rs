//! Filebeat adapter edge cases over real files with real inodes: container streams sharing an
//! inode, paths with spaces, newlines and non-UTF-8 bytes, `--registry` naming a file inside
//! the store, and a store the user may not read.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use drainguard::adapters::{self, SourceOptions};
use drainguard::backlog::{assess, Env, Verdict};
use drainguard::cursor::{Identity, ShipperKind};
use drainguard::testkit::filebeat as tk;

fn data_opts(data: &Path) -> SourceOptions {
    SourceOptions {
        data_path: Some(data.to_path_buf()),
        ..Default::default()
    }
}

fn ino_dev(p: &Path) -> (u64, u64) {
    let m = fs::metadata(p).unwrap();
    (m.ino(), m.dev())
}

/// A memlog store under `top/data/registry/filebeat` with one entry (offset 1) for a real
/// 4-byte file `top/a.log`; returns the store directory.
fn one_entry_store(top: &Path) -> PathBuf {
    one_entry_store_in(top, &top.join("data"))
}

/// [`one_entry_store`] with `path.data` at `data`.
fn one_entry_store_in(top: &Path, data: &Path) -> PathBuf {
    fs::create_dir_all(top).unwrap();
    let log = top.join("a.log");
    fs::write(&log, b"abc\n").unwrap();
    let (ino, dev) = ino_dev(&log);
    let dir = data.join("registry/filebeat");
    let mut w = tk::MemlogWriter::create(&dir).unwrap();
    w.set(
        &tk::log_key(ino, dev),
        tk::log_value(log.to_str().unwrap(), 1, ino, dev),
    )
    .unwrap();
    dir
}

/// A container log read as two streams: two keys (`<meta hash>-native::I-D`), one inode, two
/// offsets. Both are cursors of the same file; the lagging stream keeps the file behind.
#[test]
fn container_stdout_and_stderr_keys_share_one_inode() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("c-json.log");
    fs::write(&log, b"{\"stream\":\"stdout\"}\n{\"stream\":\"stderr\"}\n").unwrap();
    let size = fs::metadata(&log).unwrap().len();
    let (ino, dev) = ino_dev(&log);
    let mut w = tk::MemlogWriter::create(&d.path().join("data/registry/filebeat")).unwrap();
    for (hash, stream, offset) in [
        ("1b59052b95e61943", "stdout", size),
        ("a0c1d2e3f4a5b6c7", "stderr", 20),
    ] {
        let mut v = tk::log_value(log.to_str().unwrap(), offset, ino, dev);
        v["type"] = "container".into();
        v["meta"] = serde_json::json!({ "stream": stream });
        v["id"] = format!("{hash}-native::{ino}-{dev}").into();
        w.set(&format!("filebeat::logs::{hash}-native::{ino}-{dev}"), v)
            .unwrap();
    }
    let mut r = adapters::open(ShipperKind::Filebeat, &data_opts(&d.path().join("data")))
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let snap = r.read().unwrap();
    assert_eq!(snap.cursors.len(), 2, "{:?}", snap.cursors);
    assert!(snap
        .cursors
        .iter()
        .all(|c| c.identity == Identity::DevInode { dev, ino }));
    let mut offsets: Vec<u64> = snap.cursors.iter().map(|c| c.offset).collect();
    offsets.sort();
    assert_eq!(offsets, vec![20, size]);
    let a = assess(&snap, &Env::default());
    assert_eq!(a.verdict, Verdict::Behind);
    assert_eq!(a.totals.bytes_behind, size - 20);
}

/// Spaces and newlines survive JSON escaping exactly. Non-UTF-8 bytes cannot: Go's JSON encoder
/// writes U+FFFD for them, so the stored `source` names no file on disk; drainguard keeps
/// the (lossy) path for the report and matches the file by its device and inode, which is the
/// identity Filebeat itself uses.
#[test]
fn paths_with_spaces_newlines_and_non_utf8_bytes() {
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let names: [&[u8]; 3] = [b"with space.log", b"new\nline.log", b"bad\xff\xfe.log"];
    let mut w = tk::MemlogWriter::create(&d.path().join("data/registry/filebeat")).unwrap();
    let mut expected_behind = 0;
    for (i, name) in names.iter().enumerate() {
        let p = logs.join(OsStr::from_bytes(name));
        fs::write(&p, b"0123456789\n").unwrap();
        let (ino, dev) = ino_dev(&p);
        let offset = i as u64 * 3;
        expected_behind += 11 - offset;
        // What Filebeat would store: the path as a Go string (invalid bytes -> U+FFFD).
        let source = p.to_string_lossy().into_owned();
        w.set(
            &tk::log_key(ino, dev),
            tk::log_value(&source, offset, ino, dev),
        )
        .unwrap();
    }
    let mut r = adapters::open(ShipperKind::Filebeat, &data_opts(&d.path().join("data")))
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let snap = r.read().unwrap();
    let sources: Vec<PathBuf> = snap
        .cursors
        .iter()
        .filter_map(|c| Some(c.path.as_deref()?.to_path_buf()))
        .collect();
    assert!(sources.contains(&logs.join("with space.log")));
    assert!(sources.contains(&logs.join("new\nline.log")));
    assert!(sources.contains(&logs.join("bad\u{fffd}\u{fffd}.log")));
    let a = assess(&snap, &Env::default());
    assert_eq!(a.totals.bytes_behind, expected_behind);
    assert_eq!(a.verdict, Verdict::Behind);
}

/// `--registry` may name the store directory or any file of it; a bbolt `filebeat.db` is
/// refused as unsupported rather than parsed as JSON.
#[test]
fn registry_flag_accepts_files_of_the_store_and_refuses_bbolt() {
    let d = tempfile::tempdir().unwrap();
    let dir = one_entry_store(d.path());
    for named in [dir.clone(), dir.join("meta.json"), dir.join("log.json")] {
        let opts = SourceOptions {
            store: Some(named.clone()),
            ..Default::default()
        };
        let snap = adapters::open(ShipperKind::Filebeat, &opts)
            .unwrap()
            .into_iter()
            .next()
            .unwrap()
            .read()
            .unwrap();
        assert!(
            snap.format.starts_with("memlog"),
            "{named:?}: {}",
            snap.format
        );
        assert_eq!(snap.cursors.len(), 1);
        assert_eq!(snap.cursors[0].offset, 1);
    }
    let db = d.path().join("other/filebeat.db");
    fs::create_dir_all(db.parent().unwrap()).unwrap();
    fs::write(&db, b"\x00\x00bolt page").unwrap();
    let opts = SourceOptions {
        store: Some(db),
        ..Default::default()
    };
    let e = adapters::open(ShipperKind::Filebeat, &opts)
        .err()
        .expect("bbolt refused")
        .to_string();
    assert!(e.contains("unsupported") && e.contains("bbolt"), "{e}");
}

/// Runs `drainguard ARGS` as a user who may not read `locked` (a directory below `top`, whose
/// parents are opened up to 0755) and returns (exit code, stderr). Root reads everything, so
/// as root drainguard runs as `nobody` (setpriv, from util-linux) from a copy in `top`; as
/// another user `locked` is made 0000 and drainguard runs directly.
fn status_locked_out(top: &Path, locked: &Path, args: &[&OsStr]) -> (Option<i32>, String) {
    let mut p = locked.parent();
    while let Some(dir) = p.filter(|d| d.starts_with(top)) {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        p = dir.parent();
    }
    fs::set_permissions(locked, fs::Permissions::from_mode(0o700)).unwrap();
    let bin = env!("CARGO_BIN_EXE_drainguard");
    let mut cmd = if fs::metadata("/proc/self").unwrap().uid() == 0 {
        let copy = top.join("drainguard");
        fs::copy(bin, &copy).unwrap();
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(copy);
        c
    } else {
        fs::set_permissions(locked, fs::Permissions::from_mode(0o000)).unwrap();
        Command::new(bin)
    };
    let out = cmd
        .args(["--settings", ""])
        .args(args)
        .output()
        .expect("setpriv (util-linux) is installed");
    fs::set_permissions(locked, fs::Permissions::from_mode(0o700)).unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A store the user may not read: `status` exits 2 and says permission is the problem.
#[test]
fn unreadable_store_says_permission_denied() {
    let d = tempfile::tempdir().unwrap();
    let dir = one_entry_store(d.path());
    let data = d.path().join("data");
    let args = [
        OsStr::new("status"),
        OsStr::new("--data-path"),
        data.as_os_str(),
    ];
    let (code, err) = status_locked_out(d.path(), &dir, &args);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("permission denied"), "{err}");
}

/// Found in a default location (`/var/lib/filebeat` under `--root`) but not readable: still
/// "permission denied", never "no Filebeat here".
#[test]
fn unreadable_default_location_says_permission_denied() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("var/lib/filebeat");
    tk::MemlogWriter::create(&data.join("registry/filebeat")).unwrap();
    let args = [
        OsStr::new("--root"),
        root.path().as_os_str(),
        OsStr::new("status"),
        OsStr::new("--shipper"),
        OsStr::new("filebeat"),
    ];
    let (code, err) = status_locked_out(root.path(), &data, &args);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("permission denied"), "{err}");
}

/// Filebeat checkpointing under a reader: a writer thread appends ops and checkpoints every
/// few KiB (renaming `<txid>.json` in, deleting the old one, truncating log.json) while the
/// reader re-reads. No read may fail, none may show an offset newer than was written, and a
/// final read sees the final state.
#[test]
fn reads_during_checkpoints_never_fail_nor_run_ahead() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data/registry/filebeat");
    let mut w = tk::MemlogWriter::create(&dir).unwrap();
    w.checkpoint_size = 4096;
    let written = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    const LAST: u64 = 3000;
    let writer = {
        let (written, done) = (written.clone(), done.clone());
        std::thread::spawn(move || {
            for off in 1..=LAST {
                for f in 0..3u64 {
                    let v = tk::log_value(&format!("/var/log/f{f}.log"), off, 100 + f, 7);
                    w.set(&tk::log_key(100 + f, 7), v).unwrap();
                }
                written.store(off, Ordering::SeqCst);
            }
            done.store(1, Ordering::SeqCst);
        })
    };
    let mut r = adapters::open(ShipperKind::Filebeat, &data_opts(&d.path().join("data")))
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let mut reads = 0;
    while done.load(Ordering::SeqCst) == 0 || reads == 0 {
        let snap = r.read().expect("a read during a checkpoint must not fail");
        let ceiling = written.load(Ordering::SeqCst) + 1;
        for c in &snap.cursors {
            assert!(
                c.offset <= ceiling,
                "offset {} ahead of {ceiling}",
                c.offset
            );
        }
        reads += 1;
    }
    writer.join().unwrap();
    let snap = r.read().unwrap();
    assert_eq!(snap.cursors.len(), 3);
    assert!(
        snap.cursors.iter().all(|c| c.offset == LAST),
        "{:?}",
        snap.cursors
    );
    assert!(reads > 1);
}

/// Elastic Agent: 8.x components (`run/<component>`) and the 7.x layout
/// (`run/default/filebeat--<version>`) are found under `--root`; when several components keep
/// a registry, every one is read.
#[test]
fn elastic_agent_run_directories() {
    let root = tempfile::tempdir().unwrap();
    let agent = root
        .path()
        .join("opt/Elastic/Agent/data/elastic-agent-7.17.0-abc/run/default/filebeat--7.17.0");
    one_entry_store_in(root.path(), &agent);
    let opts = SourceOptions {
        root: drainguard::root::Root::new(Some(root.path().to_path_buf())),
        ..Default::default()
    };
    let snap = adapters::open(ShipperKind::Filebeat, &opts)
        .unwrap()
        .into_iter()
        .next()
        .expect("7.x agent registry found")
        .read()
        .unwrap();
    assert_eq!(snap.cursors.len(), 1);
    assert!(snap.notes.is_empty(), "{:?}", snap.notes);

    let root = tempfile::tempdir().unwrap();
    let run = root
        .path()
        .join("opt/Elastic/Agent/data/elastic-agent-8.15.0-def/run");
    one_entry_store_in(root.path(), &run.join("filestream-default"));
    one_entry_store_in(root.path(), &run.join("filestream-monitoring"));
    let opts = SourceOptions {
        root: drainguard::root::Root::new(Some(root.path().to_path_buf())),
        ..Default::default()
    };
    let stores: Vec<(PathBuf, usize)> = adapters::open(ShipperKind::Filebeat, &opts)
        .unwrap()
        .iter_mut()
        .map(|r| {
            let s = r.read().unwrap();
            (s.store, s.cursors.len())
        })
        .collect();
    let run = Path::new("/opt/Elastic/Agent/data/elastic-agent-8.15.0-def/run");
    assert_eq!(
        stores,
        vec![
            (run.join("filestream-default/registry/filebeat"), 1),
            (run.join("filestream-monitoring/registry/filebeat"), 1),
        ]
    );
}
