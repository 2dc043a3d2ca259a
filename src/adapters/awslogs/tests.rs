//! Format tests of the awslogs adapter, from state files written in the agent's exact format
//! (src/testkit/awslogs.rs) and one the real agent wrote (testdata/), with its traps: the
//! in-flight batch, fingerprint lines, rotation with identical first lines, truncation,
//! hostile DB values.

use std::path::{Path, PathBuf};

use super::*;
use crate::cursor::QueueState;
use crate::testkit::awslogs as kit;
use crate::testkit::report::unknowns as unknown;

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        Host {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn db(&self) -> PathBuf {
        self.p("agent-state")
    }
    fn log(&self) -> PathBuf {
        self.p("awslogs.log")
    }
    /// A config with `sections` (`[name]` + body) and a logging config sending the agent's
    /// log to `awslogs.log`.
    fn config(&self, sections: &str) -> PathBuf {
        let logging = self.p("logging.conf");
        std::fs::write(
            &logging,
            format!(
                "[loggers]\nkeys=root\n[handlers]\nkeys=f\n[formatters]\nkeys=s\n\
                 [logger_root]\nhandlers=f\n[handler_f]\nclass=FileHandler\n\
                 args=('{}',)\n",
                self.log().display()
            ),
        )
        .unwrap();
        let conf = self.p("awslogs.conf");
        std::fs::write(
            &conf,
            format!(
                "[general]\nstate_file = {}\nlogging_config_file = {}\n{sections}",
                self.db().display(),
                logging.display()
            ),
        )
        .unwrap();
        conf
    }
    /// `app.log` (LINES) in section `[app]`, its stream started at 0 and the batch [9, 29)
    /// recorded (in flight until the log confirms it): the config and the source id.
    fn in_flight(&self) -> (PathBuf, String) {
        let app = self.p("app.log");
        std::fs::write(&app, LINES).unwrap();
        let conf = self.config(&format!("[app]\nfile = {}\n", app.display()));
        let c = kit::create(&self.db()).unwrap();
        let id = kit::source_id("app", b"line one\n");
        kit::stream(&c, "app", &id, 0).unwrap();
        kit::push(&c, &id, 9, 29).unwrap();
        (conf, id)
    }
    /// The one reader of `conf`, kept across reads.
    fn reader(&self, conf: &Path) -> Box<dyn StoreReader> {
        let opts = SourceOptions {
            config: Some(conf.to_path_buf()),
            ..Default::default()
        };
        open(&opts).unwrap().remove(0)
    }
    fn read(&self, conf: &Path) -> Result<StoreSnapshot, StoreError> {
        let opts = SourceOptions {
            config: Some(conf.to_path_buf()),
            ..Default::default()
        };
        let mut readers = open(&opts).unwrap();
        assert_eq!(readers.len(), 1);
        readers[0].read()
    }
}

fn pending_bytes(s: &StoreSnapshot) -> Vec<u64> {
    s.queues
        .iter()
        .filter_map(|q| match &q.state {
            QueueState::Pending { owed, .. } => owed.queued_bytes,
            _ => None,
        })
        .collect()
}

const LINES: &str = "line one\nline two\nline three\n";

#[test]
fn the_in_flight_batch_is_owed_until_the_agents_log_confirms_it() {
    let h = Host::new();
    let app = h.p("app.log");
    std::fs::write(&app, LINES).unwrap();
    let conf = h.config(&format!(
        "[app]\nfile = {}\nlog_group_name = g\n",
        app.display()
    ));
    let c = kit::create(&h.db()).unwrap();
    let id = kit::source_id("app", b"line one\n");
    kit::stream(&c, "app", &id, 0).unwrap();
    kit::push(&c, &id, 9, 29).unwrap();
    std::fs::write(h.log(), "2026-12-02 - cwlogs.push - INFO - started\n").unwrap();
    let s = h.read(&conf).unwrap();
    assert_eq!(s.offset_meaning, OffsetMeaning::SentOrGivenUp);
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.cursors[0].offset, 29);
    assert_eq!(s.cursors[0].path.as_deref(), Some(app.as_path()));
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&app).unwrap();
    assert_eq!(
        s.cursors[0].identity,
        Identity::DevInode {
            dev: m.dev(),
            ino: m.ino()
        }
    );
    assert_eq!(
        pending_bytes(&s),
        [20],
        "[9, 29) is in flight: {:?}",
        s.queues
    );
    // A publish line of another batch confirms nothing; this batch's does.
    let mut log = std::fs::read_to_string(h.log()).unwrap();
    log.push_str(&kit::publish_line("g", "s", &id, 0, 9));
    std::fs::write(h.log(), &log).unwrap();
    assert_eq!(pending_bytes(&h.read(&conf).unwrap()), [20]);
    log.push_str(&kit::publish_line("g", "s", &id, 9, 29));
    std::fs::write(h.log(), &log).unwrap();
    let s = h.read(&conf).unwrap();
    assert!(pending_bytes(&s).is_empty(), "{:?}", s.queues);
    assert!(unknown(&s).is_empty(), "{:?}", unknown(&s));
    // A give-up line the agent logs after the first read makes delivery unknown.
    log.push_str("... cwlogs.push.publisher - WARNING - Skip batch: {...}, reason: invalid parameter exception.\n");
    std::fs::write(h.log(), &log).unwrap();
    let mut r = h.reader(&conf);
    r.read().unwrap();
    log.push_str("... WARNING - Skip event: {'timestamp': 1}, reason: timestamp is more than 14 days in past.\n");
    std::fs::write(h.log(), &log).unwrap();
    let s = r.read().unwrap();
    assert!(
        unknown(&s).iter().any(|u| u.contains("give-up")),
        "{:?}",
        s.queues
    );
}

#[test]
fn without_the_agents_log_the_last_batch_is_unconfirmed() {
    let h = Host::new();
    let app = h.p("app.log");
    std::fs::write(&app, LINES).unwrap();
    let conf = h.config(&format!("[app]\nfile = {}\n", app.display()));
    let c = kit::create(&h.db()).unwrap();
    let id = kit::source_id("app", b"line one\n");
    kit::push(&c, &id, 9, 29).unwrap();
    let s = h.read(&conf).unwrap();
    assert!(pending_bytes(&s).is_empty());
    let u = unknown(&s);
    assert!(
        u.iter().any(|u| u.contains("[9, 29)")) && u.iter().any(|u| u.contains("no agent log")),
        "{u:?}"
    );
}

#[test]
fn no_row_yet_starts_at_the_stream_states_initial_position_for_its_own_file_only() {
    let h = Host::new();
    let app = h.p("app.log");
    std::fs::write(&app, LINES).unwrap();
    let conf = h.config(&format!(
        "[app]\nfile = {}\ninitial_position = end_of_file\n",
        app.display()
    ));
    let c = kit::create(&h.db()).unwrap();
    let id = kit::source_id("app", b"line one\n");
    kit::stream(&c, "app", &id, 20).unwrap();
    let s = h.read(&conf).unwrap();
    assert_eq!(
        s.cursors[0].offset, 20,
        "end_of_file when the stream started"
    );
    // The stream state of another file (rotated since): the agent reads this one from 0.
    kit::stream(&c, "app", &kit::source_id("app", b"older\n"), 20).unwrap();
    assert_eq!(h.read(&conf).unwrap().cursors[0].offset, 0);
    // Not written yet at all.
    drop(c);
    std::fs::remove_file(h.db()).unwrap();
    let s = h.read(&conf).unwrap();
    assert_eq!(s.cursors[0].offset, 0);
    assert!(
        s.notes.iter().any(|n| n.contains("does not exist yet")),
        "{:?}",
        s.notes
    );
}

#[test]
fn fingerprint_lines_pick_the_row_and_a_short_file_is_not_tailed() {
    let h = Host::new();
    let app = h.p("app.log");
    std::fs::write(&app, "one\n").unwrap();
    let conf = h.config(&format!(
        "[app]\nfile = {}\nfile_fingerprint_lines = 2-3\n",
        app.display()
    ));
    let c = kit::create(&h.db()).unwrap();
    let s = h.read(&conf).unwrap();
    assert!(s.cursors.is_empty());
    assert!(
        s.notes.iter().any(|n| n.contains("fewer lines")),
        "{:?}",
        s.notes
    );
    assert_eq!(
        s.inputs.len(),
        1,
        "the file stays an input: untracked, behind"
    );
    // Lines 2 and 3 with their newlines; the last may be unterminated (its hash then moves).
    std::fs::write(&app, "one\ntwo\nthree").unwrap();
    let id = kit::source_id("app", b"two\nthree");
    kit::push(&c, &id, 0, 4).unwrap();
    let s = h.read(&conf).unwrap();
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.cursors[0].offset, 4);
    let Fingerprint::Id {
        source_id, size, ..
    } = store::fingerprint(&app, "app", (2, 3)).unwrap()
    else {
        panic!("a fingerprint")
    };
    assert_eq!((source_id, size), (id, 13));
}

#[test]
fn only_the_newest_non_archive_match_is_tailed_and_a_rotated_file_being_finished_counts() {
    let h = Host::new();
    let dir = h.p("logs");
    std::fs::create_dir(&dir).unwrap();
    let old = dir.join("app.log.1");
    let new = dir.join("app.log");
    std::fs::write(&old, "old first\nold second\n").unwrap();
    std::fs::write(dir.join("app.log.2.gz"), "zz\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&new, "new first\n").unwrap();
    let conf = h.config(&format!("[app]\nfile = {}/app.log*\n", dir.display()));
    let c = kit::create(&h.db()).unwrap();
    let old_id = kit::source_id("app", b"old first\n");
    kit::push(&c, &old_id, 0, 10).unwrap();
    let s = h.read(&conf).unwrap();
    let got: Vec<(String, u64)> = s
        .cursors
        .iter()
        .map(|c| {
            (
                c.path
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                c.offset,
            )
        })
        .collect();
    // The new file has no row (0); the old one is still being read to its end (10 of 21).
    assert_eq!(got, [("app.log".into(), 0), ("app.log.1".into(), 10)]);
    assert_eq!(s.inputs[0].paths.len(), 1, "{:?}", s.inputs);
    assert!(
        s.notes.iter().any(|n| n.contains("most recently")),
        "{:?}",
        s.notes
    );
    // Read to its end, its last batch not confirmed: owed.
    kit::push(&c, &old_id, 10, 21).unwrap();
    std::fs::write(h.log(), "").unwrap();
    let s = h.read(&conf).unwrap();
    assert_eq!(s.cursors.len(), 2, "{:?}", s.cursors);
    assert_eq!(pending_bytes(&s), [11]);
    // Confirmed: nothing owed, and the old file stays a (shipped) cursor.
    std::fs::write(h.log(), kit::publish_line("g", "s", &old_id, 10, 21)).unwrap();
    let s = h.read(&conf).unwrap();
    assert_eq!(s.cursors.len(), 2, "{:?}", s.cursors);
    assert!(pending_bytes(&s).is_empty(), "{:?}", s.queues);
    // Its line gone from the log (rotated), but the stream has recorded a batch of the new
    // file since: the publisher sent the old one first (the new one's batch is owed).
    std::fs::write(h.log(), "").unwrap();
    kit::push(&c, &kit::source_id("app", b"new first\n"), 0, 10).unwrap();
    let s = h.read(&conf).unwrap();
    assert_eq!(s.cursors.len(), 2, "{:?}", s.cursors);
    assert_eq!(pending_bytes(&s), [10], "{:?}", s.queues);
}

#[test]
fn a_rotation_to_a_file_with_the_same_first_line_is_unknown() {
    let h = Host::new();
    let app = h.p("app.log");
    std::fs::write(h.p("app.log.1"), "# header\nold\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&app, "# header\nnew\n").unwrap();
    let conf = h.config(&format!("[app]\nfile = {}\n", app.display()));
    let c = kit::create(&h.db()).unwrap();
    kit::push(&c, &kit::source_id("app", b"# header\n"), 9, 13).unwrap();
    let s = h.read(&conf).unwrap();
    assert!(
        unknown(&s)
            .iter()
            .any(|u| u.contains("same fingerprint lines")),
        "{:?}",
        s.queues
    );
}

#[test]
fn a_row_past_the_files_end_is_unknown() {
    let h = Host::new();
    let app = h.p("app.log");
    std::fs::write(&app, "line one\n").unwrap();
    let conf = h.config(&format!("[app]\nfile = {}\n", app.display()));
    let c = kit::create(&h.db()).unwrap();
    kit::push(&c, &kit::source_id("app", b"line one\n"), 0, 500).unwrap();
    let s = h.read(&conf).unwrap();
    assert!(
        unknown(&s).iter().any(|u| u.contains("truncated")),
        "{:?}",
        s.queues
    );
}

#[test]
fn two_sections_on_one_file_have_a_row_each() {
    let h = Host::new();
    let app = h.p("app.log");
    std::fs::write(&app, LINES).unwrap();
    let conf = h.config(&format!(
        "[a]\nfile = {0}\n[b]\nfile = {0}\n",
        app.display()
    ));
    let c = kit::create(&h.db()).unwrap();
    kit::push(&c, &kit::source_id("a", b"line one\n"), 9, 29).unwrap();
    kit::push(&c, &kit::source_id("b", b"line one\n"), 0, 9).unwrap();
    std::fs::write(h.log(), "").unwrap();
    let s = h.read(&conf).unwrap();
    let mut offsets: Vec<u64> = s.cursors.iter().map(|c| c.offset).collect();
    offsets.sort();
    assert_eq!(offsets, [9, 29]);
    assert_eq!(
        s.cursors[0].identity, s.cursors[1].identity,
        "one file: the minimum counts"
    );
}

#[test]
fn non_utf8_file_names_are_kept() {
    use std::os::unix::ffi::OsStrExt;
    let h = Host::new();
    let name = std::ffi::OsStr::from_bytes(b"app-\xff.log");
    let app = h.dir.path().join(name);
    std::fs::write(&app, LINES).unwrap();
    let conf = h.config(&format!(
        "[app]\nfile = {}/app-*.log\n",
        h.dir.path().display()
    ));
    let c = kit::create(&h.db()).unwrap();
    kit::push(&c, &kit::source_id("app", b"line one\n"), 0, 9).unwrap();
    let s = h.read(&conf).unwrap();
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.cursors[0].path.as_deref(), Some(app.as_path()));
    assert_eq!(s.cursors[0].offset, 9);
}

#[test]
fn hostile_state_files_are_errors_naming_the_file_and_row() {
    let h = Host::new();
    let app = h.p("app.log");
    std::fs::write(&app, LINES).unwrap();
    let conf = h.config(&format!("[app]\nfile = {}\n", app.display()));
    let id = kit::source_id("app", b"line one\n");
    // Not a DB at all.
    std::fs::write(h.db(), b"SQLite format 2\0garbage garbage garbage").unwrap();
    let e = h.read(&conf).unwrap_err().to_string();
    assert!(
        e.contains("agent-state") && e.contains("not an SQLite database"),
        "{e}"
    );
    std::fs::remove_file(h.db()).unwrap();
    let c = kit::create(&h.db()).unwrap();
    for (v, what) in [
        ("not json".to_string(), "expected"),
        ("{\"start_position\": 9}".to_string(), "end_position"),
        (
            "{\"start_position\": 9, \"end_position\": 3}".to_string(),
            "after end_position",
        ),
        (
            "{\"start_position\": -1, \"end_position\": 3}".to_string(),
            "invalid value",
        ),
        (
            format!("{{\"pad\": \"{}\"}}", "x".repeat(100_000)),
            "more than",
        ),
    ] {
        kit::save(&c, "push_state", &id, &v).unwrap();
        let e = h.read(&conf).unwrap_err().to_string();
        assert!(
            e.contains("agent-state") && e.contains(&format!("k=\"{id}\"")) && e.contains(what),
            "{what}: {e}"
        );
    }
    // A row of a file that does not exist now is never read.
    c.execute("DELETE FROM push_state", []).unwrap();
    kit::save(&c, "push_state", "deadbeef", "garbage").unwrap();
    assert!(h.read(&conf).is_ok());
    // A DB the agent has not created tables in yet (0 bytes).
    drop(c);
    std::fs::write(h.db(), b"").unwrap();
    let s = h.read(&conf).unwrap();
    assert_eq!(s.cursors[0].offset, 0);
}

#[test]
fn a_relative_state_file_is_unknown_not_guessed() {
    let h = Host::new();
    let conf = h.p("awslogs.conf");
    std::fs::write(&conf, "[app]\nfile = /var/log/app.log\n").unwrap();
    let s = h.read(&conf).unwrap();
    assert!(
        unknown(&s)
            .iter()
            .any(|u| u.contains("watchstate is relative")),
        "{:?}",
        s.queues
    );
}

#[test]
fn the_running_agents_command_line_gives_config_and_additional_dir() {
    let argv: Vec<std::ffi::OsString> = [
        "/var/awslogs/bin/python",
        "/var/awslogs/bin/aws",
        "logs",
        "push",
        "--config-file",
        "/var/awslogs/etc/awslogs.conf",
        "--additional-configs-dir",
        "/var/awslogs/etc/config",
    ]
    .iter()
    .map(Into::into)
    .collect();
    let cl = INFO.command_line_paths(&argv, None);
    assert_eq!(
        cl.config.as_deref(),
        Some(Path::new("/var/awslogs/etc/awslogs.conf"))
    );
    assert_eq!(
        cl.settings_dir.as_deref(),
        Some(Path::new("/var/awslogs/etc/config"))
    );
    assert!(INFO.processes[0].matches(
        Some("python"),
        "python",
        "/var/awslogs/bin/python /var/awslogs/bin/aws logs push --config-file x"
    ));
}

/// The state file the real agent wrote (testdata/README.md): its key is the source id
/// recomputed here, its row the batch its log says was published.
#[test]
fn the_real_agents_state_file_and_log_agree_with_the_recomputed_source_id() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/adapters/awslogs/testdata");
    let db = StateDb::from_bytes(
        &dir.join("agent-state"),
        std::fs::read(dir.join("agent-state")).unwrap(),
    )
    .unwrap();
    let Fingerprint::Id { source_id, .. } =
        store::fingerprint(&dir.join("app.log"), "app", (1, 1)).unwrap()
    else {
        panic!("app.log has a first line")
    };
    assert_eq!(source_id, "20471d1f5cd4329a2c65cc392e873ee7");
    assert_eq!(source_id, kit::source_id("app", b"app line 1\n"));
    assert_eq!(db.rows, 1);
    assert_eq!(
        db.push_state(&source_id).unwrap(),
        Some(PushState {
            start_position: 0,
            end_position: 55
        })
    );
    let st = db.stream_state("app").unwrap().unwrap();
    assert_eq!(
        (st.source_id.as_deref(), st.initial_position),
        (Some(source_id.as_str()), 0)
    );
    let mut log = agentlog::PublishLog::new(dir.join("agent.log"));
    log.scan().unwrap();
    assert!(log.confirms(&source_id, 55));
}

/// The agent's log vanishes after a give-up line (deleted, or rotated and not yet recreated)
/// and comes back: the give-up line stays seen (the scanners were dropped with the log, and
/// the new one's history was taken as before this drain: "drained").
#[test]
fn a_give_up_line_stays_seen_when_the_agents_log_vanishes_and_comes_back() {
    let h = Host::new();
    let (conf, id) = h.in_flight();
    let published = kit::publish_line("g", "s", &id, 9, 29);
    std::fs::write(h.log(), &published).unwrap();
    let mut r = h.reader(&conf);
    let s = r.read().unwrap();
    assert!(
        pending_bytes(&s).is_empty() && unknown(&s).is_empty(),
        "{:?}",
        s.queues
    );
    let skipped = "... cwlogs.push.publisher - WARNING - Skip batch: {...}, reason: invalid parameter exception.\n";
    std::fs::write(h.log(), format!("{published}{skipped}")).unwrap();
    let gave_up = |s: &StoreSnapshot| unknown(s).iter().any(|u| u.contains("give-up"));
    assert!(gave_up(&r.read().unwrap()));
    std::fs::remove_file(h.log()).unwrap();
    assert!(!unknown(&r.read().unwrap()).is_empty());
    std::fs::write(h.log(), &published).unwrap();
    let s = r.read().unwrap();
    assert!(gave_up(&s), "{:?}", s.queues);
}

/// The tailed file deleted while its last batch is in flight: no file is matched to the row
/// any more, but the agent still holds the batch, so it stays owed until the publish line.
#[test]
fn a_batch_in_flight_stays_owed_when_its_file_is_deleted_until_it_is_logged_as_published() {
    let h = Host::new();
    let (conf, id) = h.in_flight();
    std::fs::write(h.log(), "... started\n").unwrap();
    let mut r = h.reader(&conf);
    assert_eq!(pending_bytes(&r.read().unwrap()), [20]);
    std::fs::remove_file(h.p("app.log")).unwrap();
    let s = r.read().unwrap();
    assert_eq!(pending_bytes(&s), [20], "{:?}", s.queues);
    assert!(
        s.notes.iter().any(|n| n.contains("is gone")),
        "{:?}",
        s.notes
    );
    crate::testkit::append(&h.log(), kit::publish_line("g", "s", &id, 9, 29));
    let s = r.read().unwrap();
    assert!(pending_bytes(&s).is_empty(), "{:?}", s.queues);
    assert!(unknown(&s).is_empty(), "{:?}", unknown(&s));
    // Confirmed: forgotten (a later read has nothing of it).
    let s = r.read().unwrap();
    assert!(
        !s.notes.iter().any(|n| n.contains("is gone")),
        "{:?}",
        s.notes
    );
}
