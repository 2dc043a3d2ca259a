//! What was owed stays owed: a store that vanishes, empties or forgets entries while their
//! files still have bytes is never evidence of delivery (`wait` and `status`, end to end, and
//! the library's `wait::drain` over real stores).
//!
//! The Filebeat stores are written in Filebeat's exact formats (src/testkit) with no
//! `filebeat.inputs` known (`--data-path` alone), so the store is the only evidence there is.

use crate::support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use drainguard::testkit::filebeat as tk;
use support::{drainguard, spawn_streaming, until};

/// A host: one log file of 18 bytes and a memlog registry whose checkpoint says 6 are acked.
struct Host {
    d: tempfile::TempDir,
    log: PathBuf,
    ino: u64,
    dev: u64,
}

impl Host {
    fn new() -> Host {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("app.log");
        fs::write(&log, "line1\nline2\nline3\n").unwrap();
        let m = fs::metadata(&log).unwrap();
        Host {
            ino: m.ino(),
            dev: m.dev(),
            d,
            log,
        }
    }
    fn data(&self) -> PathBuf {
        self.d.path().join("data")
    }
    fn registry(&self) -> PathBuf {
        self.data().join("registry")
    }
    fn memlog(&self) -> PathBuf {
        self.registry().join("filebeat")
    }
    fn key(&self) -> String {
        tk::log_key(self.ino, self.dev)
    }
    /// A fresh memlog store (meta.json, empty log.json) with checkpoint `txid` at `offset`.
    fn memlog_at(&self, txid: u64, offset: u64) -> PathBuf {
        tk::MemlogWriter::create(&self.memlog()).unwrap();
        self.checkpoint(txid, offset)
    }
    fn checkpoint(&self, txid: u64, offset: u64) -> PathBuf {
        let v = tk::log_value(self.log.to_str().unwrap(), offset, self.ino, self.dev);
        let key = self.key();
        tk::write_checkpoint(&self.memlog(), txid, [(key.as_str(), &v)]).unwrap()
    }
    fn legacy_at(&self, offset: u64) -> PathBuf {
        fs::create_dir_all(self.data()).unwrap();
        let path = self.registry();
        tk::write_legacy(
            &path,
            &[tk::legacy_state(
                self.log.to_str().unwrap(),
                offset,
                self.ino,
                self.dev,
            )],
        )
        .unwrap();
        path
    }
    /// `drainguard wait` on the data path, with its stderr lines streamed to a channel.
    fn wait(&self, deadline: &str) -> (Child, Receiver<String>) {
        let mut c = drainguard();
        c.arg("wait")
            .arg("--data-path")
            .arg(self.data())
            .args([
                "--no-log-file",
                "--interval",
                "100ms",
                "--deadline",
                deadline,
            ])
            .args(["--shipper-pid", &std::process::id().to_string()]);
        spawn_streaming(c)
    }
}

/// The exit code and stdout of a finished wait.
fn finish(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const STARTED: &str = "waiting for the shippers to deliver";
const KEPT: &str = "keeping them owed";

/// The reproduction: the checkpoint is deleted while `wait` holds. Before the fix the
/// wait released with "drained" (exit 0) and 12 bytes unshipped.
#[test]
fn a_deleted_checkpoint_keeps_its_bytes_owed_until_the_deadline() {
    let h = Host::new();
    let cp = h.memlog_at(3, 6);
    let (child, rx) = h.wait("4s");
    until(&rx, STARTED);
    fs::remove_file(&cp).unwrap();
    until(&rx, KEPT);
    let (code, out) = finish(child);
    assert_eq!(code, Some(3), "deadline, not drained: {out}");
    assert!(
        out.contains("deadline passed") && out.contains("12 B"),
        "{out}"
    );
    assert!(
        out.contains("app.log") && out.contains("vanished from the store"),
        "{out}"
    );
}

/// Owed until the store proves otherwise: once Filebeat writes a checkpoint acknowledging the
/// whole file again, the wait releases.
#[test]
fn a_store_that_records_delivery_again_releases_the_wait() {
    let h = Host::new();
    let cp = h.memlog_at(3, 6);
    let (child, rx) = h.wait("60s");
    until(&rx, STARTED);
    fs::remove_file(&cp).unwrap();
    until(&rx, KEPT);
    h.checkpoint(4, 18);
    let (code, out) = finish(child);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("drained"), "{out}");
}

/// A file that was owed and is then deleted has nothing left to ship: the vanished entry does
/// not hold the host forever.
#[test]
fn a_vanished_entry_whose_file_is_deleted_is_no_longer_owed() {
    let h = Host::new();
    let cp = h.memlog_at(3, 6);
    let (child, rx) = h.wait("60s");
    until(&rx, STARTED);
    fs::remove_file(&cp).unwrap();
    until(&rx, KEPT);
    fs::remove_file(&h.log).unwrap();
    let (code, out) = finish(child);
    assert_eq!(code, Some(0), "{out}");
}

/// The registry directory removed mid-wait (the store cannot be read at all), or removed and
/// recreated empty (as a fresh Filebeat does): never drained; the report says why.
#[test]
fn a_removed_or_recreated_registry_is_never_drained() {
    for recreate in [false, true] {
        let h = Host::new();
        h.memlog_at(3, 6);
        let (child, rx) = h.wait("3s");
        until(&rx, STARTED);
        fs::remove_dir_all(h.registry()).unwrap();
        if recreate {
            tk::MemlogWriter::create(&h.memlog()).unwrap();
            until(&rx, KEPT);
        } else {
            until(&rx, "reading the stores failed");
        }
        let (code, out) = finish(child);
        assert_eq!(code, Some(3), "recreate={recreate}: {out}");
        assert!(out.contains("12 B"), "recreate={recreate}: {out}");
        let why = if recreate {
            "vanished from the store"
        } else {
            "could not be read again"
        };
        assert!(out.contains(why), "recreate={recreate}: {out}");
    }
}

/// A legacy registry rewritten as an empty array (the same class in the other format).
#[test]
fn a_legacy_registry_that_empties_keeps_its_bytes_owed() {
    let h = Host::new();
    let reg = h.legacy_at(6);
    let (child, rx) = h.wait("3s");
    until(&rx, STARTED);
    tk::write_legacy(&reg, &[]).unwrap();
    until(&rx, KEPT);
    let (code, out) = finish(child);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("12 B") && out.contains("app.log"), "{out}");
}

fn status(data: &Path) -> (Option<i32>, String) {
    let o = drainguard()
        .args(["status", "--data-path"])
        .arg(data)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// `status` on a memlog store with no checkpoint and no op (inputs unknown): nothing proves
/// delivery, so not DRAINED; with the inputs known, an empty store is "nothing to ship".
#[test]
fn status_of_a_store_that_tracks_nothing_is_unconfirmed_without_inputs() {
    let h = Host::new();
    tk::MemlogWriter::create(&h.memlog()).unwrap();
    let (code, out) = status(&h.data());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("UNCONFIRMED") && !out.contains("DRAINED"),
        "{out}"
    );
    assert!(out.contains("inputs are not known"), "{out}");

    // With an input whose glob matches nothing, the empty store is proof enough.
    let cfg = h.d.path().join("filebeat.yml");
    fs::write(
        &cfg,
        format!(
            "path.data: {}\nfilebeat.inputs:\n  - type: log\n    paths: [{}/none/*.log]\n",
            h.data().display(),
            h.d.path().display()
        ),
    )
    .unwrap();
    let o = drainguard()
        .args(["status", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("DRAINED"), "{out}");
}

/// The library: `wait::drain` over a Filebeat reader whose checkpoint is deleted between two
/// reads. The deletion happens inside `read`, so the sequence is exact.
#[test]
fn library_drain_keeps_owed_cursors_across_a_vanished_checkpoint() {
    use drainguard::adapters::{self, SourceOptions, StoreReader};
    use drainguard::backlog::{Assessment, Env};
    use drainguard::cursor::{ShipperKind, StoreSnapshot};
    use drainguard::error::StoreError;
    use drainguard::wait::{drain, Outcome, StopFlag, WaitOptions, Watched};

    struct OneStore {
        reader: Box<dyn StoreReader>,
        reads: usize,
        checkpoint: PathBuf,
    }
    impl Watched for OneStore {
        fn read(&mut self) -> Result<Vec<StoreSnapshot>, StoreError> {
            self.reads += 1;
            if self.reads == 2 {
                fs::remove_file(&self.checkpoint).unwrap();
            }
            Ok(vec![self.reader.read()?])
        }
        fn assess(&mut self, snapshots: &[StoreSnapshot]) -> Assessment {
            let env = Env::default();
            drainguard::backlog::combine(
                snapshots
                    .iter()
                    .map(|s| drainguard::backlog::assess(s, &env))
                    .collect(),
            )
        }
        fn shipper_alive(&self, _: ShipperKind) -> bool {
            true
        }
        fn watch_paths(&self) -> Vec<PathBuf> {
            Vec::new()
        }
    }

    let h = Host::new();
    let checkpoint = h.memlog_at(3, 6);
    let opts = SourceOptions {
        data_path: Some(h.data()),
        ..Default::default()
    };
    let reader = adapters::open(ShipperKind::Filebeat, &opts)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let mut w = OneStore {
        reader,
        reads: 0,
        checkpoint,
    };
    let o = WaitOptions {
        deadline: Duration::from_millis(500),
        interval: Duration::from_millis(10),
        catch_signals: false,
        quiet: true,
        ..WaitOptions::default()
    };
    let r = drain(&mut w, &o, &StopFlag::new()).unwrap();
    assert!(w.reads > 2, "read again after the deletion: {}", w.reads);
    assert_eq!(r.outcome, Outcome::Deadline);
    assert_eq!(r.final_assessment.bytes_behind, 12);
    let s = &r.final_assessment.shippers[0];
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("vanished from the store")),
        "{:?}",
        s.notes
    );
}
