//! Format tests of the Fluent Bit adapter, from DBs written in its exact format
//! (src/testkit/fluentbit.rs), including its known traps (WAL-only rows, a writer's lock).

use std::path::{Path, PathBuf};

use crate::cursor::{Identity, OffsetMeaning};
use crate::testkit;

#[test]
fn fluentbit_reads_wal_only_rows_while_writer_keeps_db_open() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("tail.db");
    let w = testkit::fluentbit::create(&db, true).unwrap();
    let id = testkit::fluentbit::insert(&w, "/var/log/a.log", 0, 77).unwrap();
    testkit::fluentbit::update_offset(&w, id, 4096).unwrap();
    assert!(
        d.path().join("tail.db-wal").metadata().unwrap().len() > 0,
        "rows live in the WAL"
    );
    let main_before = std::fs::read(&db).unwrap();
    let s = crate::adapters::fluentbit::read_db(&db).unwrap();
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.cursors[0].offset, 4096);
    assert_eq!(s.cursors[0].identity, Identity::Inode { ino: 77 });
    assert_eq!(s.offset_meaning, OffsetMeaning::Read);
    assert!(s.format.contains("offset_marker"));
    // The writer continues unhindered (we took no lock) and we see its next update.
    testkit::fluentbit::update_offset(&w, id, 8192).unwrap();
    assert_eq!(
        crate::adapters::fluentbit::read_db(&db).unwrap().cursors[0].offset,
        8192
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        main_before,
        "the reader never wrote the DB file"
    );
}

#[test]
fn fluentbit_latest_id_per_inode_wins_and_rotated_is_kept() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("tail.db");
    let w = testkit::fluentbit::create(&db, false).unwrap();
    let old = testkit::fluentbit::insert(&w, "/l/a", 100, 5).unwrap();
    testkit::fluentbit::rotate(&w, old, "/l/a.1").unwrap();
    testkit::fluentbit::insert(&w, "/l/a", 7, 5).unwrap(); // inode reused
    testkit::fluentbit::insert(&w, "/l/b", 3, 6).unwrap();
    testkit::fluentbit::checkpoint(&w).unwrap();
    drop(w);
    assert!(!d.path().join("tail.db-wal").exists());
    let s = crate::adapters::fluentbit::read_db(&db).unwrap();
    // Reading a closed WAL database leaves no -wal/-shm behind (nothing written).
    assert!(!d.path().join("tail.db-wal").exists());
    assert!(!d.path().join("tail.db-shm").exists());
    let got: Vec<(u64, u64)> = s
        .cursors
        .iter()
        .map(|c| match c.identity {
            Identity::Inode { ino } => (ino, c.offset),
            _ => panic!(),
        })
        .collect();
    assert_eq!(got, vec![(5, 7), (6, 3)]);
}

/// `db.locking true`: Fluent Bit sets locking_mode=EXCLUSIVE and keeps the lock, here in the
/// middle of a transaction. The read takes no lock, so it is not blocked, and it sees the
/// last committed offset (1), not the uncommitted one (2).
#[test]
fn fluentbit_exclusive_lock_does_not_block_the_read() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("tail.db");
    let w = testkit::fluentbit::create(&db, false).unwrap();
    testkit::fluentbit::insert(&w, "/l/a", 1, 1).unwrap();
    w.execute_batch(
        "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; UPDATE in_tail_files SET offset=2;",
    )
    .unwrap();
    let s = crate::adapters::fluentbit::read_db(&db).unwrap();
    let offsets: Vec<u64> = s.cursors.iter().map(|c| c.offset).collect();
    assert_eq!(offsets, vec![1]);
}

#[test]
fn fluentbit_not_a_database_and_configs() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("junk.db");
    std::fs::write(&db, vec![b'x'; 4096]).unwrap();
    let e = crate::adapters::fluentbit::read_db(&db).unwrap_err();
    assert!(e.to_string().contains("not an SQLite database"), "{e}");
    let c = crate::adapters::fluentbit::parse_classic("[SERVICE]\n    HTTP_Server On\n    HTTP_Port 2021\n[INPUT]\n    Name tail\n    Path /var/log/*.log, /srv/*.log\n    Exclude_Path *.gz\n    DB /var/lib/fb/tail.db\n");
    assert_eq!(c.http.as_deref(), Some("http://127.0.0.1:2021"));
    assert_eq!(
        c.inputs[0].path,
        vec!["/var/log/*.log".to_string(), "/srv/*.log".into()]
    );
    assert_eq!(c.inputs[0].db, Some(PathBuf::from("/var/lib/fb/tail.db")));
    let y = crate::adapters::fluentbit::parse_yaml(Path::new("f.yaml"), "service:\n  http_server: on\npipeline:\n  inputs:\n    - name: tail\n      path: /var/log/*.log\n      db: /var/lib/fb/y.db\n").unwrap();
    assert_eq!(y.inputs[0].db, Some(PathBuf::from("/var/lib/fb/y.db")));
    assert_eq!(y.http.as_deref(), Some("http://127.0.0.1:2020"));
}
