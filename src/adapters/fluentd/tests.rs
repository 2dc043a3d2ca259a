//! Format tests of the Fluentd adapter, from stores written in its exact on-disk format
//! (src/testkit/fluentd.rs), including its known traps.

use std::path::{Path, PathBuf};

use crate::adapters::{self, SourceOptions};
use crate::cursor::{Identity, OffsetMeaning, QueueState, ShipperKind};
use crate::testkit::{self, corrupt_pos, store_opts};

#[test]
fn fluentd_reads_entries_skips_and_counts_unwatched_marker() {
    let d = tempfile::tempdir().unwrap();
    let pos = d.path().join("app.pos");
    testkit::fluentd::append(&pos, "/var/log/a.log", 0x1a2b, 0xf3a91).unwrap();
    testkit::fluentd::append(
        &pos,
        "/var/log/a.log.1",
        testkit::fluentd::UNWATCHED,
        0xf3a77,
    )
    .unwrap();
    let mut r = adapters::open(ShipperKind::Fluentd, &store_opts(&pos))
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let s = r.read().unwrap();
    assert_eq!(s.offset_meaning, OffsetMeaning::Buffered);
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.cursors[0].offset, 0x1a2b);
    assert_eq!(s.cursors[0].identity, Identity::Inode { ino: 0xf3a91 });
    assert_eq!(
        s.cursors[0].path.as_deref(),
        Some(Path::new("/var/log/a.log"))
    );
    assert_eq!(s.skipped[0].count, 1);
    assert!(matches!(s.queues[0].state, QueueState::Unknown { .. }));
}

#[test]
fn fluentd_sees_in_place_update_and_last_duplicate_wins() {
    let d = tempfile::tempdir().unwrap();
    let pos = d.path().join("app.pos");
    let at = testkit::fluentd::append(&pos, "/l/a", 5, 7).unwrap();
    testkit::fluentd::append(&pos, "/l/b", 1, 8).unwrap();
    testkit::fluentd::append(&pos, "/l/b", 9, 9).unwrap();
    testkit::fluentd::update_pos(&pos, at, "/l/a".len(), 4096).unwrap();
    let s = crate::adapters::fluentd::parse(&pos, &std::fs::read(&pos).unwrap()).unwrap();
    let offs: Vec<(String, u64)> = s
        .cursors
        .iter()
        .map(|c| (c.key.to_string(), c.offset))
        .collect();
    assert_eq!(offs, vec![("/l/a".into(), 4096), ("/l/b".into(), 9)]);
}

#[test]
fn fluentd_torn_last_line_is_ignored_and_noted() {
    let d = tempfile::tempdir().unwrap();
    let pos = d.path().join("app.pos");
    let mut text = testkit::fluentd::line("/l/a", 10, 1);
    text.push_str("/l/b\t00000000000"); // mid-write
    std::fs::write(&pos, &text).unwrap();
    let s = crate::adapters::fluentd::parse(&pos, text.as_bytes()).unwrap();
    assert_eq!(s.cursors.len(), 1);
    assert!(s.notes.iter().any(|n| n.contains("torn")), "{:?}", s.notes);
}

#[test]
fn fluentd_corrupt_line_names_line_and_byte() {
    let p = PathBuf::from("/x.pos");
    let text = format!(
        "{}garbage without tabs\n",
        testkit::fluentd::line("/l/a", 1, 1)
    );
    let (line, byte, _) =
        corrupt_pos(crate::adapters::fluentd::parse(&p, text.as_bytes()).unwrap_err());
    assert_eq!(line, Some(2));
    assert_eq!(
        byte,
        Some(testkit::fluentd::line("/l/a", 1, 1).len() as u64)
    );
}

#[test]
fn fluentd_config_yields_pos_files_and_monitor_agent() {
    use crate::adapters::fluentd::{tail_sources, TailSource};
    let conf = "# pos_file /commented/out.pos\n<source>\n  @type tail # the app's logs\n  path /var/log/*.log,/srv/x.log\t# two globs\n  exclude_path [\"/var/log/*.gz\", \"/var/log/old.log\"]\n  pos_file /var/log/td-agent/app.pos\n  <parse>\n    @type none\n  </parse>\n</source>\n<source>\n  @type monitor_agent\n  bind 127.0.0.1\n  port 24230\n</source>\n<source>\n  @type tail\n  path /b/*.log\n  pos_file \"/var/log/td-agent/b.pos\"\n</source>\n<source>\n  @type tail\n  path /c.log\n</source>\n";
    assert_eq!(
        tail_sources(conf),
        vec![
            TailSource {
                paths: vec!["/var/log/*.log".into(), "/srv/x.log".into()],
                exclude: vec!["/var/log/*.gz".into(), "/var/log/old.log".into()],
                pos_file: Some(PathBuf::from("/var/log/td-agent/app.pos")),
            },
            TailSource {
                paths: vec!["/b/*.log".into()],
                exclude: vec![],
                pos_file: Some(PathBuf::from("/var/log/td-agent/b.pos")),
            },
            TailSource {
                paths: vec!["/c.log".into()],
                exclude: vec![],
                pos_file: None,
            },
        ]
    );
    use crate::adapters::fluentd::monitor_agent_url;
    assert_eq!(
        monitor_agent_url(conf).as_deref(),
        Some("http://127.0.0.1:24230")
    );
    let agent = |body: &str| {
        monitor_agent_url(&format!(
            "<source>\n  @type \"monitor_agent\"\n{body}</source>\n"
        ))
    };
    assert_eq!(agent("").as_deref(), Some("http://127.0.0.1:24220"));
    assert_eq!(
        agent("  bind 0.0.0.0\n").as_deref(),
        Some("http://127.0.0.1:24220")
    );
    assert_eq!(
        agent("  bind 10.1.2.3\n  port 24231\n").as_deref(),
        Some("http://10.1.2.3:24231")
    );
    assert_eq!(agent("  bind ::1\n").as_deref(), Some("http://[::1]:24220"));
    assert_eq!(
        agent("  bind \"10.1.2.3\"\n  port \"24232\"\n").as_deref(),
        Some("http://10.1.2.3:24232")
    );
    assert_eq!(
        monitor_agent_url("<source>\n  @type forward\n  port 24224\n</source>\n"),
        None
    );
}

/// Every tail source's pos_file is its own store, with that source's globs; a source without
/// a pos_file is reported, not ignored.
#[test]
fn fluentd_every_pos_file_is_read_with_its_source() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    std::fs::write(p("a.pos"), testkit::fluentd::line("/l/a.log", 3, 7)).unwrap();
    std::fs::write(p("b.pos"), testkit::fluentd::line("/l/b.log", 5, 9)).unwrap();
    let conf = p("fluentd.conf");
    std::fs::write(
        &conf,
        format!(
            "<source>\n  @type tail\n  path /l/a.log\n  pos_file {}\n</source>\n<source>\n  @type tail\n  path /l/b*.log\n  pos_file {}\n</source>\n<source>\n  @type tail\n  path /l/c.log\n</source>\n",
            p("a.pos").display(),
            p("b.pos").display()
        ),
    )
    .unwrap();
    let opts = SourceOptions {
        config: Some(conf.clone()),
        ..Default::default()
    };
    let snaps: Vec<_> = adapters::open(ShipperKind::Fluentd, &opts)
        .unwrap()
        .iter_mut()
        .map(|r| r.read().unwrap())
        .collect();
    let got: Vec<(PathBuf, Option<u64>, Vec<String>)> = snaps
        .iter()
        .map(|s| {
            (
                s.store.clone(),
                s.cursors.first().map(|c| c.offset),
                s.inputs
                    .first()
                    .map(|i| i.paths.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (p("a.pos"), Some(3), vec!["/l/a.log".to_string()]),
            (p("b.pos"), Some(5), vec!["/l/b*.log".to_string()]),
            // A source without pos_file is a store of its own (the config names it) that
            // cannot be assessed: unknown, with the fix.
            (conf.clone(), None, vec![]),
        ]
    );
    assert!(matches!(
        &snaps[2].queues[0].state,
        QueueState::Unknown { hint } if hint.contains("/l/c.log has no pos_file")
    ));
    // A pos_file Fluentd has not written yet: nothing recorded, the source's files untracked.
    std::fs::remove_file(p("b.pos")).unwrap();
    let b = adapters::open(ShipperKind::Fluentd, &opts).unwrap()[1]
        .read()
        .unwrap();
    assert!(b.cursors.is_empty());
    assert_eq!(b.inputs[0].paths, vec!["/l/b*.log".to_string()]);
    assert!(
        b.notes.iter().any(|n| n.contains("does not exist yet")),
        "{:?}",
        b.notes
    );
    // No monitor_agent: delivery is unknown, and the report says how to enable it.
    assert!(matches!(
        snaps[0].queues[0].state,
        QueueState::Unknown { .. }
    ));
}
