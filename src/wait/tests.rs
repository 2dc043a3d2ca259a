//! The wait loop's decisions over scripted assessments (no files, no processes).

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::backlog::{FileState, ShipperBacklog};
use crate::cursor::{OffsetMeaning, QueueSignal, QueueState};
use crate::testkit::report as fx;

/// Returns the scripted assessments in order (the last one repeats).
struct Script {
    steps: Vec<Assessment>,
    at: usize,
    alive: bool,
    /// Shippers that are not running, whatever `alive` says.
    dead: Vec<ShipperKind>,
}

impl Watched for Script {
    fn read(&mut self) -> Result<Vec<StoreSnapshot>, StoreError> {
        Ok(Vec::new())
    }
    fn assess(&mut self, _: &[StoreSnapshot]) -> Assessment {
        let a = self.steps[self.at.min(self.steps.len() - 1)].clone();
        self.at += 1;
        a
    }
    fn shipper_alive(&self, kind: ShipperKind) -> bool {
        self.alive && !self.dead.contains(&kind)
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

fn script(steps: Vec<Assessment>, alive: bool) -> Script {
    Script {
        steps,
        at: 0,
        alive,
        dead: Vec::new(),
    }
}

/// A store of one file with `behind` bytes behind (shipped when 0).
fn shipper(meaning: OffsetMeaning, behind: u64, queues: Vec<QueueSignal>) -> ShipperBacklog {
    let state = if behind > 0 {
        FileState::Behind { bytes: behind }
    } else {
        FileState::Shipped
    };
    fx::backlog(ShipperKind::Rsyslog, "/s")
        .meaning(meaning)
        .queues(queues)
        .files(vec![fx::file("/f", "f", 0, Some(behind), state)])
        .build()
}

fn assessment(s: ShipperBacklog) -> Assessment {
    crate::backlog::combine(vec![s])
}

fn opts() -> WaitOptions {
    WaitOptions {
        deadline: Duration::from_secs(5),
        interval: Duration::from_millis(10),
        catch_signals: false,
        quiet: true,
        ..WaitOptions::default()
    }
}

/// One store that cannot prove delivery does not stop `wait` from holding for the others:
/// it waits until every provable store has drained, then says what it could not prove.
#[test]
fn an_unprovable_store_does_not_release_the_others_early() {
    let unprovable = || {
        let mut s = shipper(OffsetMeaning::Read, 0, vec![]);
        s.shipper = ShipperKind::Promtail;
        s
    };
    let provable = |behind| shipper(OffsetMeaning::Delivered, behind, vec![]);
    let both = |behind| crate::backlog::combine(vec![provable(behind), unprovable()]);
    // Held until the provable store drained, then: unprovable (exit 2); or, when the
    // unprovable shipper is not running, dead (exit 4), also with --settle-after (a dead
    // shipper is never settled on). While the other drains, neither ends the wait.
    let unprovable_outcome = Outcome::Unprovable {
        shippers: vec![ShipperKind::Promtail],
    };
    let dead_outcome = Outcome::ShipperDead {
        shippers: vec![ShipperKind::Promtail],
    };
    for (dead, settle, want) in [
        (vec![], None, unprovable_outcome),
        (vec![ShipperKind::Promtail], None, dead_outcome.clone()),
        (
            vec![ShipperKind::Promtail],
            Some(Duration::from_millis(1)),
            dead_outcome,
        ),
    ] {
        let mut s = script(vec![both(10), both(10), both(4), both(0)], true);
        s.dead = dead;
        let o = WaitOptions {
            settle_after: settle,
            ..opts()
        };
        let r = drain(&mut s, &o, &StopFlag::new()).unwrap();
        assert_eq!(r.outcome, want);
        assert_eq!(
            r.final_assessment.bytes_behind, 0,
            "held until the rest drained"
        );
        assert!(s.at >= 4, "released after {} assessments", s.at);
    }
    // Never drained: the deadline, not an early exit 2.
    let mut s = script(vec![both(10)], true);
    let o = WaitOptions {
        deadline: Duration::from_millis(200),
        ..opts()
    };
    let r = drain(&mut s, &o, &StopFlag::new()).unwrap();
    assert_eq!(r.outcome, Outcome::Deadline);
}

#[test]
fn read_only_offsets_without_a_signal_are_unprovable_unless_settle_is_opted_in() {
    let read_done = assessment(shipper(OffsetMeaning::Read, 0, vec![]));
    let mut s = script(vec![read_done.clone()], true);
    let r = drain(&mut s, &opts(), &StopFlag::new()).unwrap();
    assert!(matches!(r.outcome, Outcome::Unprovable { .. }));
    assert_eq!(r.outcome.exit(), Exit::Usage);

    let mut s = script(vec![read_done], true);
    let o = WaitOptions {
        settle_after: Some(Duration::from_millis(100)),
        ..opts()
    };
    let r = drain(&mut s, &o, &StopFlag::new()).unwrap();
    assert_eq!(r.outcome, Outcome::Settled);
    assert!(
        r.elapsed >= Duration::from_millis(100),
        "quiet for the whole period"
    );
}

#[test]
fn settle_never_releases_while_bytes_are_behind() {
    let behind = assessment(shipper(OffsetMeaning::Read, 10, vec![]));
    let mut s = script(vec![behind], true);
    let o = WaitOptions {
        settle_after: Some(Duration::from_millis(10)),
        deadline: Duration::from_millis(300),
        ..opts()
    };
    let r = drain(&mut s, &o, &StopFlag::new()).unwrap();
    assert_eq!(r.outcome, Outcome::Deadline);
}

#[test]
fn a_queue_signal_makes_read_offsets_provable() {
    let q = |state| QueueSignal {
        source: "impstats".into(),
        state,
    };
    let pending = assessment(shipper(
        OffsetMeaning::Read,
        0,
        vec![q(QueueState::pending("3 msgs"))],
    ));
    let empty = assessment(shipper(OffsetMeaning::Read, 0, vec![q(QueueState::Empty)]));
    let mut s = script(vec![pending.clone(), pending, empty], true);
    let r = drain(&mut s, &opts(), &StopFlag::new()).unwrap();
    assert_eq!(r.outcome, Outcome::Drained);
    assert!(s.at >= 3, "waited for the queue to empty");
}

#[test]
fn dead_shipper_with_backlog_ends_at_once() {
    let behind = assessment(shipper(OffsetMeaning::Delivered, 10, vec![]));
    let mut s = script(vec![behind], false);
    let r = drain(&mut s, &opts(), &StopFlag::new()).unwrap();
    assert_eq!(
        r.outcome,
        Outcome::ShipperDead {
            shippers: vec![ShipperKind::Rsyslog]
        }
    );
    assert!(r.elapsed < Duration::from_secs(1));
}

#[test]
fn raising_the_stop_flag_ends_a_wait_at_once_even_with_a_long_poll_interval() {
    let behind = assessment(shipper(OffsetMeaning::Delivered, 10, vec![]));
    let mut s = script(vec![behind], true);
    let o = WaitOptions {
        interval: Duration::from_secs(60),
        deadline: Duration::from_secs(120),
        ..opts()
    };
    let stop = StopFlag::new();
    let raiser = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            stop.stop("lifecycle hook abandoned");
        })
    };
    let r = drain(&mut s, &o, &stop).unwrap();
    raiser.join().unwrap();
    assert_eq!(
        r.outcome,
        Outcome::Stopped {
            reason: "lifecycle hook abandoned".into()
        }
    );
    assert_eq!(r.outcome.exit(), Exit::Interrupted);
    assert!(r.elapsed < Duration::from_secs(5), "woke without the poll");
    assert_eq!(r.final_assessment.bytes_behind, 10);
}

#[test]
fn a_flag_raised_before_the_wait_starts_still_stops_it() {
    let behind = assessment(shipper(OffsetMeaning::Delivered, 10, vec![]));
    let mut s = script(vec![behind], true);
    let stop = StopFlag::new();
    stop.stop("early");
    let o = WaitOptions {
        interval: Duration::from_secs(60),
        ..opts()
    };
    let r = drain(&mut s, &o, &stop).unwrap();
    assert!(
        matches!(r.outcome, Outcome::Stopped { .. }),
        "{:?}",
        r.outcome
    );
}

#[test]
fn the_deadline_ends_a_wait_whose_bytes_stay_behind() {
    let behind = assessment(shipper(OffsetMeaning::Delivered, 10, vec![]));
    let mut s = script(vec![behind], true);
    let o = WaitOptions {
        deadline: Duration::from_millis(250),
        ..opts()
    };
    let r = drain(&mut s, &o, &StopFlag::new()).unwrap();
    assert_eq!(r.outcome, Outcome::Deadline);
    assert_eq!(r.outcome.exit(), Exit::Deadline);
    assert!(r.elapsed >= Duration::from_millis(250));
}

#[test]
fn the_json_report_of_a_dead_shipper_keeps_the_backlog_under_shippers() {
    let behind = assessment(shipper(OffsetMeaning::Delivered, 10, vec![]));
    let mut s = script(vec![behind], false);
    let r = drain(&mut s, &opts(), &StopFlag::new()).unwrap();
    let text = crate::report::to_json(&r.final_assessment, r.json_extra());
    assert_eq!(
        text.matches("\"shippers\"").count(),
        1,
        "one shippers key: {text}"
    );
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["outcome"], "shipper_dead");
    assert_eq!(doc["dead_shippers"], serde_json::json!(["rsyslog"]));
    assert_eq!(doc["shippers"][0]["shipper"], "rsyslog");
    assert_eq!(doc["bytes_behind"], 10);
}

#[test]
fn a_shipper_that_finished_and_exited_since_the_last_read_counts_as_drained() {
    // Read 1: behind. Then the shipper writes its final state and exits: the dead-shipper
    // check must read once more and release as drained, not report a dead shipper.
    let behind = assessment(shipper(OffsetMeaning::Delivered, 10, vec![]));
    let done = assessment(shipper(OffsetMeaning::Delivered, 0, vec![]));
    let mut s = script(vec![behind, done], false);
    let r = drain(&mut s, &opts(), &StopFlag::new()).unwrap();
    assert_eq!(r.outcome, Outcome::Drained);
}

mod drain_log {
    use crate::root::Root;
    use crate::wait::{append_drain, last_drain, DrainRecord};
    use std::path::Path;

    fn rec(outcome: &str, pad: usize) -> DrainRecord {
        DrainRecord {
            start: "x".repeat(pad),
            end: String::new(),
            end_unix_seconds: 1.0,
            duration_seconds: 1.0,
            ..DrainRecord::sample(outcome)
        }
    }

    /// The system clock is outside input: a host whose clock says 1969 (before the epoch) or
    /// year 10000 still gets its drain recorded, the time written as what it is.
    #[test]
    fn a_drain_under_a_clock_outside_0000_9999_is_recorded() {
        use std::time::{Duration, UNIX_EPOCH};
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(Some(t.path().to_path_buf()));
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        let after = UNIX_EPOCH + Duration::from_secs(253_402_300_800 + 5);
        for (started, shown) in [(before, "-86400"), (after, "253402300805")] {
            let r = crate::wait::WaitReport {
                outcome: crate::wait::Outcome::Drained,
                started,
                elapsed: Duration::from_secs(2),
                bytes_at_start: 0,
                bytes_shipped: 0,
                final_assessment: crate::testkit::report::backlog(
                    crate::cursor::ShipperKind::Filebeat,
                    "/s",
                )
                .assessment(),
                blocked: None,
            };
            let rec = DrainRecord::of(&r);
            assert!(rec.start.contains(shown), "{rec:?}");
            append_drain(&root, Path::new("/var/lib/drainguard"), &rec).unwrap();
            crate::wait::append_record(&root, Path::new("/var/log/drainguard.log"), &r).unwrap();
        }
        let log = std::fs::read_to_string(t.path().join("var/log/drainguard.log")).unwrap();
        assert_eq!(log.lines().count(), 2, "{log}");
    }

    #[test]
    fn the_drain_log_is_rotated_before_it_passes_its_limit_and_the_last_record_is_read() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(Some(t.path().to_path_buf()));
        let dir = Path::new("/var/lib/drainguard");
        assert_eq!(last_drain(&root, dir).unwrap(), None);
        let big = (super::super::record::DRAIN_LOG_LIMIT / 3) as usize;
        for i in 0..5 {
            append_drain(&root, dir, &rec(&format!("o{i}"), big)).unwrap();
            let log = t.path().join("var/lib/drainguard/drains.jsonl");
            assert!(log.metadata().unwrap().len() <= super::super::record::DRAIN_LOG_LIMIT);
            assert_eq!(
                last_drain(&root, dir).unwrap().unwrap().outcome,
                format!("o{i}")
            );
        }
        let old = std::fs::read_to_string(t.path().join("var/lib/drainguard/drains.jsonl.1"));
        assert!(
            old.unwrap().contains("\"o2\""),
            "the previous log is kept once"
        );
        std::fs::write(
            t.path().join("var/lib/drainguard/drains.jsonl"),
            "{}\nnot json\n",
        )
        .unwrap();
        let e = last_drain(&root, dir).unwrap_err().to_string();
        assert!(e.contains("drains.jsonl, line 2"), "{e}");
    }
}

/// Stores whose first `fail` reads fail (a registry caught mid-rewrite, a state file not yet
/// readable), then read as `then`.
struct FailsFirst {
    fail: usize,
    reads: usize,
    then: Assessment,
}

impl Watched for FailsFirst {
    fn read(&mut self) -> Result<Vec<StoreSnapshot>, StoreError> {
        self.reads += 1;
        if self.reads <= self.fail {
            return Err(StoreError::io(
                std::path::Path::new("/s/registry.json"),
                std::io::Error::from_raw_os_error(libc::EACCES),
            ));
        }
        Ok(Vec::new())
    }
    fn assess(&mut self, _: &[StoreSnapshot]) -> Assessment {
        self.then.clone()
    }
    fn shipper_alive(&self, _: ShipperKind) -> bool {
        true
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// A first read that fails is retried like any other until the deadline: the shutdown is not
/// released at once (exit 2) while the other stores, or this one a moment later, still owe
/// bytes.
#[test]
fn a_first_read_that_fails_is_retried_until_the_deadline() {
    let behind = assessment(shipper(OffsetMeaning::Delivered, 10, vec![]));
    let done = assessment(shipper(OffsetMeaning::Delivered, 0, vec![]));
    let mut w = FailsFirst {
        fail: 3,
        reads: 0,
        then: done,
    };
    let r = drain(&mut w, &opts(), &StopFlag::new()).unwrap();
    assert_eq!(r.outcome, Outcome::Drained);
    assert_eq!(w.reads, 4);
    // Never readable: the deadline ends it, with the read's error (exit 2), not a hang.
    let mut w = FailsFirst {
        fail: usize::MAX,
        reads: 0,
        then: behind,
    };
    let o = WaitOptions {
        deadline: Duration::from_millis(200),
        ..opts()
    };
    let e = drain(&mut w, &o, &StopFlag::new()).unwrap_err();
    assert!(matches!(e, WaitError::Store(_)), "{e}");
    assert!(w.reads > 1, "retried: {} read(s)", w.reads);
}

/// A signal (or a stop) while the first read is being retried is an interruption (exit 5),
/// not "the stores cannot be read" (exit 2); nothing was assessed, so nothing is proven.
#[test]
fn a_signal_during_the_first_read_retries_is_an_interruption() {
    for signal in [Some(libc::SIGTERM), None] {
        let mut w = FailsFirst {
            fail: usize::MAX,
            reads: 0,
            then: assessment(shipper(OffsetMeaning::Delivered, 0, vec![])),
        };
        let stop = StopFlag::new();
        let raiser = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                match signal {
                    Some(s) => stop.interrupt(s),
                    None => stop.stop("lifecycle hook abandoned"),
                }
            })
        };
        let o = WaitOptions {
            deadline: Duration::from_secs(3600),
            ..opts()
        };
        let r = drain(&mut w, &o, &stop).unwrap();
        raiser.join().unwrap();
        assert_eq!(r.outcome.exit(), Exit::Interrupted, "{:?}", r.outcome);
        assert_ne!(r.final_assessment.verdict, Verdict::Drained);
        if let Some(s) = signal {
            assert_eq!(r.outcome, Outcome::Interrupted { signal: s });
        }
    }
}
