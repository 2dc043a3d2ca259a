//! The encoding of the metric model.

use super::*;
use crate::backlog::{combine, FileReport, ShipperBacklog};
use crate::testkit::report as fx;
use std::path::PathBuf;

fn store(shipper: ShipperKind, store: &str, files: Vec<FileReport>) -> ShipperBacklog {
    fx::backlog(shipper, store).files(files).build()
}

use fx::behind;

fn scrape(files: Vec<FileReport>) -> Scrape {
    Scrape {
        assessment: combine(vec![store(
            ShipperKind::Filebeat,
            "/var/lib/filebeat/registry/filebeat",
            files,
        )]),
        failed: vec![FailedStore {
            shipper: ShipperKind::Vector,
            store: "/var/lib/vector".into(),
            error: "x".into(),
        }],
        shippers_up: vec![(ShipperKind::Filebeat, true)],
        oldest: vec![Some(12.5)],
        duration: Duration::from_millis(3),
        last_drain: None,
        abandoned: vec![("filebeat".into(), "deleted".into(), 7)],
    }
}

#[test]
fn the_bounded_default_has_one_series_per_store_and_state_and_no_paths_of_files() {
    let s = scrape(vec![
        behind("/var/log/a.log", 10),
        behind("/var/log/b.log", 5),
    ]);
    let text = encode(&s, &Options::default());
    let store = r#"shipper="filebeat",store="/var/lib/filebeat/registry/filebeat""#;
    assert!(
        text.contains(&format!("drainguard_backlog_bytes{{{store}}} 15\n")),
        "{text}"
    );
    assert!(text.contains(&format!("drainguard_files{{{store},state=\"behind\"}} 2\n")));
    assert!(text.contains(&format!("drainguard_files{{{store},state=\"gone\"}} 0\n")));
    assert!(text.contains(&format!(
        "drainguard_oldest_backlog_seconds{{{store}}} 12.5\n"
    )));
    assert!(text.contains(&format!("drainguard_delivery_confirmed{{{store}}} 1\n")));
    assert!(text.contains(r#"drainguard_store_up{shipper="vector",store="/var/lib/vector"} 0"#));
    assert!(text
        .contains("drainguard_abandoned_bytes_total{shipper=\"filebeat\",reason=\"deleted\"} 7\n"));
    assert!(text.contains("# TYPE drainguard_abandoned_bytes_total counter\n"));
    assert!(text.contains("drainguard_build_info{version=\""));
    assert!(!text.contains("a.log"), "no per-file series by default");
    assert!(
        !text.contains("drainguard_last_drain"),
        "no drain record, no series"
    );
    assert_eq!(text.matches("# TYPE drainguard_files gauge").count(), 1);
}

#[test]
fn per_file_top_n_keeps_the_n_files_most_behind() {
    let s = scrape(vec![
        behind("/var/log/a.log", 10),
        behind("/var/log/b.log", 50),
        behind("/var/log/c.log", 5),
    ]);
    let text = encode(&s, &Options { per_file_top: 2 });
    assert!(text.contains("path=\"/var/log/b.log\"} 50\n"), "{text}");
    assert!(text.contains("path=\"/var/log/a.log\"} 10\n"));
    assert!(!text.contains("c.log"));
}

#[test]
fn the_last_drain_outcome_is_one_for_its_outcome_only() {
    let mut s = scrape(vec![]);
    s.last_drain = Some(DrainRecord {
        version: 1,
        start: "2026-12-01T00:00:00Z".into(),
        end: "2026-12-01T00:00:10Z".into(),
        end_unix_seconds: 1_796_083_210.0,
        outcome: "deadline".into(),
        duration_seconds: 10.0,
        bytes_at_start: 100,
        bytes_shipped: 40,
        unshipped_bytes: 60,
        files_left: 1,
        queued_events: 0,
        queued_bytes: 0,
        unacked_bytes: 0,
        stores: vec![],
    });
    let text = encode(&s, &Options::default());
    assert!(
        text.contains("drainguard_last_drain_outcome{outcome=\"deadline\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("drainguard_last_drain_outcome{outcome=\"drained\"} 0\n"));
    assert!(text.contains("drainguard_last_drain_unshipped_bytes 60\n"));
    assert!(text.contains("drainguard_last_drain_timestamp_seconds 1796083210"));
}

#[test]
fn every_file_state_name_is_a_series_label() {
    let states = [
        FileState::Shipped,
        FileState::Behind { bytes: 1 },
        FileState::PartialTail { bytes: 1 },
        FileState::LongLine {
            bytes: 1,
            limit: 1,
            shipper_limit: None,
        },
        FileState::Truncated { offset: 1, size: 0 },
        FileState::Rotated {
            now_at: PathBuf::new(),
            behind: 0,
        },
        FileState::OpenDeleted { pid: 1, behind: 0 },
        FileState::Gone,
        FileState::Untracked { bytes: 1 },
        FileState::Ignored {
            reason: String::new(),
        },
        FileState::Incomparable {
            reason: String::new(),
        },
    ];
    for s in states {
        assert!(
            FILE_STATES.contains(&s.name().replace('-', "_").as_str()),
            "{}",
            s.name()
        );
    }
}

#[test]
fn the_output_is_the_same_from_one_encoding_to_the_next() {
    let files = (0..50)
        .map(|i| behind(&format!("/var/log/{i}.log"), i + 1))
        .collect();
    let s = scrape(files);
    let o = Options { per_file_top: 50 };
    let first = encode(&s, &o);
    for _ in 0..5 {
        assert_eq!(encode(&s, &o), first);
    }
    let outcomes: Vec<&str> = first
        .lines()
        .filter(|l| l.starts_with("drainguard_files{"))
        .collect();
    let mut in_order = outcomes.clone();
    in_order.sort();
    assert_eq!(outcomes, in_order);
}
