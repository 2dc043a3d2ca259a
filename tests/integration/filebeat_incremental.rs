//! A Filebeat memlog store read again and again by one reader (the `wait` loop's way: the
//! cursors of the last read updated in place by the ops since) gives exactly what a fresh
//! reader gives, whatever the ops: sets of new and known keys, ttl 0, removes, non-file and
//! unparseable keys, fingerprint identities, checkpoints.

use std::path::Path;

use drainguard::adapters::{self, SourceOptions, StoreReader};
use drainguard::cursor::{Cursor, Identity, ShipperKind, StoreSnapshot};
use drainguard::testkit::filebeat as tk;
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Op {
    /// Sets key `k` (of the key space below) to a value of kind `v` with `offset`.
    Set {
        k: usize,
        v: usize,
        offset: u64,
    },
    Remove {
        k: usize,
    },
    Checkpoint,
    /// Several sets of one key between two reads.
    Burst {
        k: usize,
        n: u64,
    },
}

fn key(k: usize) -> String {
    match k % 8 {
        0..=3 => tk::log_key(100 + k as u64, 7),
        4 => format!("filestream::in-a::fingerprint::{}", "ab".repeat(32)),
        5 => "journald::cursor".into(),
        6 => "filebeat::logs::garbage".into(),
        _ => format!("filestream::in-b::native::{}-7", 200 + k),
    }
}

fn value(k: usize, v: usize, offset: u64) -> serde_json::Value {
    let path = format!("/var/log/f{k}-{}.log", v % 2);
    match v % 4 {
        // A live state.
        0 | 1 => tk::log_value(&path, offset, 100 + k as u64, 7),
        // Deleted (ttl 0).
        2 => {
            let mut x = tk::log_value(&path, offset, 100 + k as u64, 7);
            x["ttl"] = json!(0);
            x
        }
        // A state without an inode.
        _ => json!({"source": path, "offset": offset, "ttl": -1}),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..10, 0usize..4, 0u64..1000).prop_map(|(k, v, offset)| Op::Set { k, v, offset }),
        1 => (0usize..10).prop_map(|k| Op::Remove { k }),
        1 => Just(Op::Checkpoint),
        1 => (0usize..10, 1u64..4).prop_map(|(k, n)| Op::Burst { k, n }),
    ]
}

fn reader(data: &Path) -> Box<dyn StoreReader> {
    let opts = SourceOptions {
        data_path: Some(data.to_path_buf()),
        ..Default::default()
    };
    adapters::open(ShipperKind::Filebeat, &opts)
        .unwrap()
        .into_iter()
        .next()
        .expect("a filebeat store")
}

fn parts(s: &StoreSnapshot) -> impl PartialEq + std::fmt::Debug + '_ {
    (&s.cursors, &s.skipped, &s.notes, &s.inputs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn incremental_reads_equal_fresh_reads(
        ops in proptest::collection::vec(op(), 1..40),
        extra in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut w = tk::MemlogWriter::create(&data.join("registry/filebeat")).unwrap();
        w.checkpoint_size = 1500;
        let mut kept = reader(&data);
        for op in &ops {
            match *op {
                Op::Set { k, v, offset } => w.set(&key(k), value(k, v, offset)).unwrap(),
                Op::Remove { k } => w.remove(&key(k)).unwrap(),
                Op::Checkpoint => w.checkpoint().unwrap(),
                Op::Burst { k, n } => {
                    for i in 0..n {
                        w.set(&key(k), value(k, 0, i * 10)).unwrap();
                    }
                }
            }
            let mut incremental = kept.read().unwrap();
            let fresh = reader(&data).read().unwrap();
            prop_assert_eq!(parts(&incremental), parts(&fresh), "after {:?}", op);
            // A last read (`status`: the entries move into the cursors) gives the same, and
            // the reader reads correctly after it (starting over).
            let mut once = reader(&data);
            let last = once.read_last().unwrap();
            prop_assert_eq!(parts(&last), parts(&fresh), "last, after {:?}", op);
            let again = once.read().unwrap();
            prop_assert_eq!(parts(&again), parts(&fresh), "after a last read");
            // Given back as the wait loop does, sometimes with a cursor it appended (an owed
            // one the store forgot).
            if extra {
                incremental.cursors.push(Cursor {
                    key: "owed".into(),
                    identity: Identity::Path,
                    path: None,
                    offset: 1,
                    unit: Default::default(),
                });
            }
            kept.recycle(incremental);
        }
    }
}

/// The in-place path is the one taken for a Filebeat that updates offsets (and adds files)
/// when the snapshots come back: no rebuild after the first read, except after a snapshot
/// that was kept.
#[test]
fn offset_updates_and_new_files_are_applied_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut w = tk::MemlogWriter::create(&data.join("registry/filebeat")).unwrap();
    let opts = SourceOptions {
        data_path: Some(data.clone()),
        ..Default::default()
    };
    let mut kept = adapters::filebeat::open_reader(&opts).unwrap().unwrap();
    for round in 0..20u64 {
        w.set(&key(round as usize % 4), value(0, 0, round)).unwrap();
        if round % 5 == 0 {
            w.set(&tk::log_key(500 + round, 7), value(7, 0, round))
                .unwrap();
        }
        let incremental = kept.read().unwrap();
        let fresh = reader(&data).read().unwrap();
        assert_eq!(parts(&incremental), parts(&fresh), "round {round}");
        if round != 10 {
            kept.recycle(incremental);
        }
    }
    // Every read after the first, but the one after the snapshot that was not given back.
    assert_eq!(kept.in_place_updates(), 18);
}
