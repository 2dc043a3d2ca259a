//! A store that vanishes, is replaced (renamed over), truncated or made unreadable in the
//! middle of a `wait`, while bytes are owed: the real wait loop (`wait::drain`, incremental
//! rounds included) over real stores on disk (Filebeat's memlog registry, awslogs' SQLite
//! `push_state`, the OpenTelemetry Collector's bbolt file_storage client file). The change
//! is made between two of the loop's reads, after its first full assessment, and the test
//! stops the wait ten reads later. It must not end "drained" in those reads (the owed bytes
//! stay owed, or the verdict is unconfirmed), no read may block (a blocked read is never
//! stopped: the test fails), and nothing may be written to the store. A control per store
//! (the store or the delivery signal records every byte) ends "drained", so each harness can
//! see a wrong answer. The outcomes are `Stopped`, not `Deadline`, so that no figure depends
//! on how loaded the machine is.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use drainguard::backlog::{Assessment, Verdict};
use drainguard::cursor::{ShipperKind, StoreSnapshot};
use drainguard::error::StoreError;
use drainguard::root::Root;
use drainguard::sources::{Selection, Sources};
use drainguard::testkit::{append, awslogs as aws_kit, filebeat as fb_kit, otel as otel_kit};
use drainguard::wait::{Outcome, StopFlag, WaitOptions, WaitReport, Watched};

use crate::support::tree::snapshot;

type Change = Box<dyn FnOnce() + Send>;

/// How many of the loop's reads follow the last change before the test ends the wait (with
/// its stop flag): a wait that would end drained does so as soon as it reads that.
const ROUNDS_AFTER: usize = 10;

/// The real stores, with the changes made before reads number `at`, `at + 1`, ... of the
/// wait loop; [`ROUNDS_AFTER`] reads after the last one the wait is stopped.
struct Midway {
    inner: Sources,
    reads: usize,
    at: usize,
    changes: std::collections::VecDeque<Change>,
    /// The read the last change was made before.
    changed_at: Option<usize>,
    stop: StopFlag,
}

impl Watched for Midway {
    fn read(&mut self) -> Result<Vec<StoreSnapshot>, StoreError> {
        self.reads += 1;
        if self.reads >= self.at {
            if let Some(change) = self.changes.pop_front() {
                change();
                if self.changes.is_empty() {
                    self.changed_at = Some(self.reads);
                }
            }
        }
        if self
            .changed_at
            .is_some_and(|at| self.reads >= at + ROUNDS_AFTER)
        {
            self.stop
                .stop("the test has seen enough rounds after its changes");
        }
        Watched::read(&mut self.inner)
    }
    fn assess(&mut self, snapshots: &[StoreSnapshot]) -> Assessment {
        Watched::assess(&mut self.inner, snapshots)
    }
    /// The shippers run (no process here): the wait goes on until stopped.
    fn shipper_alive(&self, _: ShipperKind) -> bool {
        true
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        Watched::watch_paths(&self.inner)
    }
    fn recycle(&mut self, snapshots: Vec<StoreSnapshot>) {
        Watched::recycle(&mut self.inner, snapshots)
    }
    fn assess_changes(&mut self, s: &[StoreSnapshot], last: &mut Assessment) -> Option<u64> {
        Watched::assess_changes(&mut self.inner, s, last)
    }
    fn changes_known(&self) -> Vec<bool> {
        Watched::changes_known(&self.inner)
    }
}

/// Runs the wait loop over `sel`'s stores, making `change` before the loop's third read (the
/// first is the full assessment the wait starts from). Returns the report and whether the
/// store directory `store_dir` was left as the change left it.
fn wait_with(
    sel: Selection,
    store_dir: &Path,
    change: impl FnOnce() + Send + 'static,
) -> (WaitReport, bool) {
    wait_with_all(sel, store_dir, vec![Box::new(change)])
}

/// [`wait_with`], with `changes` made one before each read from the third on.
fn wait_with_all(sel: Selection, store_dir: &Path, mut changes: Vec<Change>) -> (WaitReport, bool) {
    let inner = Sources::open(&sel, Root::new(None), Path::new("")).unwrap();
    let dir = store_dir.to_path_buf();
    let (tx, after_change) = mpsc::channel();
    let last = changes.pop().expect("a change");
    changes.push(Box::new(move || {
        last();
        tx.send(snapshot(&dir)).unwrap();
    }));
    let n = changes.len();
    let stop = StopFlag::default();
    let mut w = Midway {
        inner,
        reads: 0,
        at: 3,
        changes: changes.into(),
        changed_at: None,
        stop: stop.clone(),
    };
    let opts = WaitOptions {
        // Far beyond the rounds the test needs (it stops the wait), however loaded the machine.
        deadline: Duration::from_secs(60),
        interval: Duration::from_millis(20),
        // Never settled on: a store left unconfirmed is waited on (more rounds after the
        // changes).
        settle_after: Some(Duration::from_secs(3600)),
        catch_signals: false,
        quiet: true,
        ..WaitOptions::default()
    };
    // A read that blocks never comes back to be stopped: it fails the test past the deadline.
    let (done, report) = mpsc::channel();
    std::thread::spawn(move || {
        let r = drainguard::wait::drain(&mut w, &opts, &stop);
        done.send((r.map_err(|e| e.to_string()), w.reads)).unwrap();
    });
    let (r, reads) = report
        .recv_timeout(Duration::from_secs(120))
        .expect("the wait ends (the test stops it, its deadline is 60 s)");
    let report = r.expect("the wait reports");
    assert!(
        reads >= 2 + n,
        "the changes were made during the wait ({reads} reads): {:?} {:#?}",
        report.outcome,
        report.final_assessment
    );
    let left = after_change.try_recv().expect("the changes were made");
    (report, snapshot(store_dir) == left)
}

/// Asserts the wait did not end drained and still owes bytes (behind on a file or in a
/// queue) or is unconfirmed.
fn assert_not_drained(what: &str, r: &WaitReport, untouched: bool) {
    assert!(untouched, "{what}: the wait wrote to the store");
    assert!(
        !matches!(r.outcome, Outcome::Drained | Outcome::Settled),
        "{what}: {:?} {:#?}",
        r.outcome,
        r.final_assessment
    );
    let a = &r.final_assessment;
    if std::env::var_os("WAIT_VANISH_SHOW").is_some() {
        eprintln!("{what}: {:?} {:#?}", r.outcome, a);
    }
    assert!(
        (a.verdict == Verdict::Behind && a.bytes_behind + a.queue.queued_bytes > 0)
            || a.verdict == Verdict::Unconfirmed,
        "{what}: {:?} {} bytes behind, {} queued, {:?}",
        a.verdict,
        a.bytes_behind,
        a.queue.queued_bytes,
        r.outcome
    );
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn truncate(p: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Replaces `p` by a file holding `bytes`, renamed over it (a store rewritten atomically).
fn rename_over(p: &Path, bytes: &[u8]) {
    let tmp = p.with_extension("new");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, p).unwrap();
}

const TEXT: &str = "line one\nline two\nline three\n";

// ---- Filebeat (the incremental path) ----

/// A Filebeat registry tracking `app.log` (29 bytes) at offset 9: 20 bytes owed.
struct Filebeat {
    dir: tempfile::TempDir,
    data: PathBuf,
    app: PathBuf,
    w: fb_kit::MemlogWriter,
}

impl Filebeat {
    fn new() -> Filebeat {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let app = base.join("app.log");
        std::fs::write(&app, TEXT).unwrap();
        let data = base.join("data");
        let mut w = fb_kit::MemlogWriter::create(&data.join("registry/filebeat")).unwrap();
        let (key, value) = fb_entry(&app, 9);
        w.set(&key, value).unwrap();
        Filebeat { dir, data, app, w }
    }

    fn registry(&self) -> PathBuf {
        self.data.join("registry/filebeat")
    }

    /// Waits with `change` made during the wait; the registry must be left as it leaves it.
    fn wait(self, change: impl FnOnce(fb_kit::MemlogWriter) + Send + 'static) -> WaitReport {
        let sel = Selection {
            shippers: vec![ShipperKind::Filebeat],
            data_path: Some(self.data.clone()),
            ..Selection::default()
        };
        let Filebeat { dir, data, w, .. } = self;
        let (r, untouched) = wait_with(sel, &data, move || change(w));
        assert!(untouched, "the wait wrote to the registry");
        drop(dir);
        r
    }
}

/// The memlog key and value of `app` at `offset`.
fn fb_entry(app: &Path, offset: u64) -> (String, serde_json::Value) {
    let m = std::fs::metadata(app).unwrap();
    (
        fb_kit::log_key(m.ino(), m.dev()),
        fb_kit::log_value(&app.to_string_lossy(), offset, m.ino(), m.dev()),
    )
}

#[test]
fn filebeat_control_the_registry_recording_every_byte_drains() {
    let fb = Filebeat::new();
    let app = fb.app.clone();
    let r = fb.wait(move |mut w| {
        let (key, value) = fb_entry(&app, TEXT.len() as u64);
        w.set(&key, value).unwrap();
    });
    assert_eq!(r.outcome, Outcome::Drained, "{:#?}", r.final_assessment);
}

#[test]
fn filebeat_registry_deleted_during_the_wait_stays_owed() {
    let fb = Filebeat::new();
    let data = fb.data.clone();
    let r = fb.wait(move |w| {
        drop(w);
        std::fs::remove_dir_all(data.join("registry")).unwrap();
    });
    assert_not_drained("registry deleted", &r, true);
    assert_eq!(r.final_assessment.bytes_behind, 20);
}

#[test]
fn filebeat_registry_replaced_by_one_without_the_entry_stays_owed() {
    let fb = Filebeat::new();
    let (reg, base) = (fb.registry(), fb.dir.path().canonicalize().unwrap());
    let r = fb.wait(move |w| {
        drop(w);
        // A registry written elsewhere (another file shipped), moved into the old one's place.
        let other = base.join("other.log");
        std::fs::write(&other, "x\n").unwrap();
        let fresh = base.join("fresh/filebeat");
        let mut w = fb_kit::MemlogWriter::create(&fresh).unwrap();
        let (key, value) = fb_entry(&other, 2);
        w.set(&key, value).unwrap();
        drop(w);
        std::fs::rename(&reg, base.join("old-registry")).unwrap();
        std::fs::rename(&fresh, &reg).unwrap();
    });
    assert_not_drained("registry replaced", &r, true);
    assert_eq!(r.final_assessment.bytes_behind, 20);
}

#[test]
fn filebeat_log_renamed_over_truncated_or_unreadable_stays_owed() {
    type Change = fn(&Path);
    let changes: [(&str, Change); 4] = [
        ("log.json renamed over, empty", |reg| {
            rename_over(&reg.join("log.json"), b"")
        }),
        ("log.json truncated", |reg| {
            truncate(&reg.join("log.json"), 0)
        }),
        ("log.json cut mid-record", |reg| {
            let len = std::fs::metadata(reg.join("log.json")).unwrap().len();
            truncate(&reg.join("log.json"), len / 2)
        }),
        ("log.json replaced by a FIFO", |reg| {
            std::fs::remove_file(reg.join("log.json")).unwrap();
            mkfifo(&reg.join("log.json"));
        }),
    ];
    for (what, change) in changes {
        let fb = Filebeat::new();
        let reg = fb.registry();
        let r = fb.wait(move |w| {
            drop(w);
            change(&reg)
        });
        assert_not_drained(what, &r, true);
    }
}

// ---- awslogs (SQLite push_state through the shared image reader, and the agent's log) ----

/// An awslogs host: `app.log` (29 bytes) with the batch [9, 29) recorded in `push_state`
/// and not yet logged as published: 20 bytes owed.
struct Awslogs {
    dir: tempfile::TempDir,
    base: PathBuf,
    conf: PathBuf,
    source_id: String,
}

impl Awslogs {
    fn new() -> Awslogs {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let app = base.join("app.log");
        std::fs::write(&app, TEXT).unwrap();
        let logging = base.join("logging.conf");
        std::fs::write(
            &logging,
            format!(
                "[loggers]\nkeys=root\n[handlers]\nkeys=f\n[formatters]\nkeys=s\n\
                 [logger_root]\nhandlers=f\n[handler_f]\nclass=FileHandler\nargs=('{}',)\n",
                base.join("awslogs.log").display()
            ),
        )
        .unwrap();
        let conf = base.join("awslogs.conf");
        std::fs::write(
            &conf,
            format!(
                "[general]\nstate_file = {}\nlogging_config_file = {}\n[app]\nfile = {}\n",
                base.join("agent-state").display(),
                logging.display(),
                app.display()
            ),
        )
        .unwrap();
        let source_id = aws_kit::source_id("app", b"line one\n");
        Self::state(&base.join("agent-state"), Some(&source_id));
        std::fs::write(
            base.join("awslogs.log"),
            "... cwlogs.push - INFO - started\n",
        )
        .unwrap();
        Awslogs {
            dir,
            base,
            conf,
            source_id,
        }
    }

    /// Writes a state file at `db`: the stream of `app` with the batch [9, 29) when
    /// `source_id` is given, else none.
    fn state(db: &Path, source_id: Option<&str>) {
        let c = aws_kit::create(db).unwrap();
        if let Some(id) = source_id {
            aws_kit::stream(&c, "app", id, 0).unwrap();
            aws_kit::push(&c, id, 9, 29).unwrap();
        }
    }

    fn publish_line(&self) -> String {
        aws_kit::publish_line("g", "s", &self.source_id, 9, 29)
    }

    fn wait(self, changes: Vec<Change>) -> WaitReport {
        let sel = Selection {
            shippers: vec![ShipperKind::Awslogs],
            config: Some(self.conf.clone()),
            ..Selection::default()
        };
        let (r, untouched) = wait_with_all(sel, &self.base, changes);
        assert!(untouched, "the wait wrote to the state file or the log");
        drop(self.dir);
        r
    }
}

#[test]
fn awslogs_control_the_batch_logged_as_published_drains() {
    let h = Awslogs::new();
    let (log, line) = (h.base.join("awslogs.log"), h.publish_line());
    let r = h.wait(vec![Box::new(move || append(&log, &line))]);
    assert_eq!(r.outcome, Outcome::Drained, "{:#?}", r.final_assessment);
}

#[test]
fn awslogs_state_file_deleted_replaced_truncated_or_unreadable_stays_owed() {
    type Change = fn(&Path);
    let changes: [(&str, Change); 5] = [
        ("deleted", |db| std::fs::remove_file(db).unwrap()),
        ("renamed over by one without the stream", |db| {
            let fresh = db.with_extension("fresh");
            Awslogs::state(&fresh, None);
            std::fs::rename(&fresh, db).unwrap();
        }),
        ("truncated", |db| truncate(db, 0)),
        ("cut mid-page", |db| {
            let len = std::fs::metadata(db).unwrap().len();
            truncate(db, len / 2 + 100)
        }),
        ("replaced by a FIFO", |db| {
            std::fs::remove_file(db).unwrap();
            mkfifo(db);
        }),
    ];
    for (what, change) in changes {
        let h = Awslogs::new();
        let db = h.base.join("agent-state");
        let r = h.wait(vec![Box::new(move || change(&db))]);
        assert_not_drained(what, &r, true);
    }
}

/// The agent's log replaced by a FIFO, then by a link to /dev/zero: never opened blocking,
/// never read without end, and the batch stays owed (unconfirmed: the log cannot be read).
#[test]
fn awslogs_agents_log_replaced_by_a_fifo_or_dev_zero_blocks_nothing() {
    let h = Awslogs::new();
    let log = h.base.join("awslogs.log");
    let l2 = log.clone();
    let r = h.wait(vec![
        Box::new(move || {
            std::fs::remove_file(&log).unwrap();
            mkfifo(&log);
        }),
        Box::new(move || {
            std::fs::remove_file(&l2).unwrap();
            std::os::unix::fs::symlink("/dev/zero", &l2).unwrap();
        }),
    ]);
    assert_not_drained("agent log a FIFO, then /dev/zero", &r, true);
    let a = format!("{:?}", r.final_assessment);
    assert!(a.contains("regular file"), "{a}");
}

/// The tailed file deleted while its last batch is in flight (recorded, not yet logged as
/// published): the agent still holds the batch, so it is owed until its line is logged.
#[test]
fn awslogs_a_batch_in_flight_stays_owed_when_its_file_is_deleted() {
    let h = Awslogs::new();
    let app = h.base.join("app.log");
    let r = h.wait(vec![Box::new(move || std::fs::remove_file(&app).unwrap())]);
    assert_not_drained("tailed file deleted", &r, true);
}

/// A batch given up (`Skip batch`), then the agent's log deleted and written again (the
/// published line of the batch there): the give-up line stays seen, never "drained".
#[test]
fn awslogs_a_give_up_line_survives_the_agents_log_vanishing_and_coming_back() {
    let h = Awslogs::new();
    let log = h.base.join("awslogs.log");
    let line = h.publish_line();
    let skipped = "... cwlogs.push.publisher - WARNING - Skip batch: {...}, reason: invalid \
                   parameter exception.\n";
    let (l1, l2, l3) = (log.clone(), log.clone(), log);
    let published = line.clone();
    let r = h.wait(vec![
        Box::new(move || append(&l1, format!("{skipped}{line}"))),
        Box::new(move || std::fs::remove_file(&l2).unwrap()),
        Box::new(move || std::fs::write(&l3, &published).unwrap()),
    ]);
    assert_not_drained("agent log vanished and recreated", &r, true);
    let unknown = format!("{:?}", r.final_assessment);
    assert!(unknown.contains("give-up line"), "{unknown}");
}

// ---- OpenTelemetry Collector (bbolt file_storage) ----

/// A collector host: `logs/app.log` (29 bytes) read to offset 9 in its file_storage client
/// file; its internal metrics (a private HTTP server) say every record accepted was sent.
struct Otel {
    dir: tempfile::TempDir,
    base: PathBuf,
    conf: PathBuf,
}

impl Otel {
    fn new() -> Otel {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let body = "otelcol_exporter_sent_log_records{exporter=\"otlp\"} 3\n\
                            otelcol_receiver_accepted_log_records{receiver=\"filelog\"} 3\n";
                let _ = req.respond(tiny_http::Response::from_string(body));
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(base.join("logs")).unwrap();
        std::fs::create_dir_all(base.join("fs")).unwrap();
        std::fs::write(base.join("logs/app.log"), TEXT).unwrap();
        let conf = base.join("config.yaml");
        std::fs::write(
            &conf,
            format!(
                "receivers:\n  filelog:\n    include: [{}/logs/*.log]\n    storage: file_storage\n\
                 extensions:\n  file_storage:\n    directory: {}/fs\n\
                 service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{port}\n  \
                 pipelines:\n    logs:\n      receivers: [filelog]\n      exporters: [otlp]\n",
                base.display(),
                base.display()
            ),
        )
        .unwrap();
        std::fs::write(Self::store_at(&base), Self::database(&base, Some(9))).unwrap();
        Otel { dir, base, conf }
    }

    fn store_at(base: &Path) -> PathBuf {
        base.join("fs/receiver_filelog_")
    }

    /// The client file recording app.log at `offset` (none: no known file).
    fn database(base: &Path, offset: Option<u64>) -> Vec<u8> {
        let path = base.join("logs/app.log").to_string_lossy().into_owned();
        let known: Vec<otel_kit::Known> = offset
            .map(|offset| otel_kit::Known {
                first_bytes: TEXT.as_bytes(),
                offset,
                path: &path,
            })
            .into_iter()
            .collect();
        otel_kit::database(&otel_kit::known_files(&known))
    }

    fn wait(self, change: impl FnOnce(&Path, &Path) + Send + 'static) -> WaitReport {
        let sel = Selection {
            shippers: vec![ShipperKind::Otelcol],
            config: Some(self.conf.clone()),
            ..Selection::default()
        };
        let (store, base) = (Self::store_at(&self.base), self.base.clone());
        let (r, untouched) = wait_with(sel, &self.base.join("fs"), move || change(&store, &base));
        assert!(untouched, "the wait wrote to the client file");
        drop(self.dir);
        r
    }
}

#[test]
fn otel_control_the_client_file_recording_every_byte_drains() {
    let r = Otel::new()
        .wait(|store, base| rename_over(store, &Otel::database(base, Some(TEXT.len() as u64))));
    assert_eq!(r.outcome, Outcome::Drained, "{:#?}", r.final_assessment);
}

#[test]
fn otel_client_file_deleted_replaced_truncated_or_unreadable_stays_owed() {
    type Change = fn(&Path, &Path);
    let changes: [(&str, Change); 5] = [
        ("deleted", |store, _| std::fs::remove_file(store).unwrap()),
        ("renamed over by one without the file", |store, base| {
            rename_over(store, &Otel::database(base, None))
        }),
        ("truncated", |store, _| truncate(store, 0)),
        ("cut mid-page", |store, _| truncate(store, 4096 * 4 + 100)),
        ("replaced by a FIFO", |store, _| {
            std::fs::remove_file(store).unwrap();
            mkfifo(store);
        }),
    ];
    for (what, change) in changes {
        let r = Otel::new().wait(change);
        assert_not_drained(what, &r, true);
    }
}
