//! The reader over state folders written in the agent's exact format (src/testkit/cloudwatch.rs).

use super::*;
use crate::testkit::cloudwatch as tk;
use crate::testkit::report::unknowns;

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let h = Host {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(h.state()).unwrap();
        std::fs::create_dir_all(h.logs()).unwrap();
        std::fs::write(h.dir.path().join("agent.log"), b"I! started\n").unwrap();
        h
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }
    fn log(&self, name: &str) -> String {
        self.logs().join(name).display().to_string()
    }
    fn config(&self, files: &[(&str, bool)]) -> PathBuf {
        let c = self.dir.path().join("agent.toml");
        let text = tk::toml(&self.state(), &self.dir.path().join("agent.log"), files);
        std::fs::write(&c, text).unwrap();
        c
    }
    fn reader(&self, files: &[(&str, bool)]) -> Box<dyn StoreReader> {
        let opts = SourceOptions {
            config: Some(self.config(files)),
            ..Default::default()
        };
        open(&opts).unwrap().pop().unwrap()
    }
}

#[test]
fn single_range_state_gives_the_offset_by_path() {
    let h = Host::new();
    let app = h.log("app.log");
    std::fs::write(&app, b"one\ntwo\n").unwrap();
    tk::write(&h.state(), &app, &tk::single(4, &app)).unwrap();
    let mut r = h.reader(&[(&app, false)]);
    let s = r.read().unwrap();
    assert_eq!(s.offset_meaning, OffsetMeaning::SentOrGivenUp);
    assert_eq!(s.cursors.len(), 1);
    let c = &s.cursors[0];
    assert_eq!((c.offset, &c.identity), (4, &Identity::Path));
    assert_eq!(c.path.as_deref(), Some(Path::new(&app)));
    assert!(unknowns(&s).is_empty(), "{:?}", unknowns(&s));
    assert_eq!(s.inputs.len(), 1);
}

#[test]
fn offsets_in_gaps_are_not_delivered() {
    let h = Host::new();
    let app = h.log("app.log");
    std::fs::write(&app, vec![b'x'; 3000]).unwrap();
    tk::write(
        &h.state(),
        &app,
        &tk::state(2760, &app, Some(&[(0, 1056), (1640, 2760)])),
    )
    .unwrap();
    let s = h.reader(&[(&app, false)]).read().unwrap();
    assert_eq!(s.cursors[0].offset, 1056, "the first gap starts at 1056");
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("584 B below offset 2760")),
        "{:?}",
        s.notes
    );
}

#[test]
fn a_torn_state_file_is_reread_and_never_zero() {
    let h = Host::new();
    let app = h.log("app.log");
    std::fs::write(&app, vec![b'x'; 100]).unwrap();
    let full = tk::single(90, &app);
    // Cut after the offset: read five times, torn each time: unknown, no cursor.
    tk::write_torn(&h.state(), &app, &full, 2).unwrap();
    let s = h.reader(&[(&app, false)]).read().unwrap();
    assert!(s.cursors.is_empty(), "{:?}", s.cursors);
    let u = unknowns(&s);
    assert!(u.iter().any(|u| u.contains("never taken as 0")), "{u:?}");
    // Empty (truncated, not yet written): the same.
    tk::write_torn(&h.state(), &app, &full, 0).unwrap();
    let s = h.reader(&[(&app, false)]).read().unwrap();
    assert!(s.cursors.is_empty());
    assert!(unknowns(&s).iter().any(|u| u.contains("empty")));
}

#[test]
fn a_range_writing_agent_s_two_line_file_is_torn() {
    let h = Host::new();
    let (a, b) = (h.log("a.log"), h.log("b.log"));
    std::fs::write(&a, b"aaaa\n").unwrap();
    std::fs::write(&b, b"bbbb\n").unwrap();
    tk::write(&h.state(), &a, &tk::single(5, &a)).unwrap();
    // b's write cut right after its path: looks like the old format.
    let full = tk::single(5, &b);
    tk::write_torn(&h.state(), &b, &full, full.len() - 4).unwrap();
    let s = h.reader(&[(&a, false), (&b, false)]).read().unwrap();
    assert_eq!(s.cursors.len(), 1, "{:?}", s.cursors);
    assert!(unknowns(&s).iter().any(|u| u.contains("b.log")));
}

#[test]
fn colliding_state_file_names_are_reported() {
    let h = Host::new();
    std::fs::create_dir_all(h.logs().join("a")).unwrap();
    let (ab, a_b) = (h.log("a/b"), h.log("a_b"));
    std::fs::write(&ab, b"1\n").unwrap();
    std::fs::write(&a_b, b"2\n").unwrap();
    tk::write(&h.state(), &ab, &tk::single(2, &ab)).unwrap();
    let s = h.reader(&[(&ab, false), (&a_b, false)]).read().unwrap();
    let u = unknowns(&s);
    assert!(
        u.iter()
            .any(|u| u.contains("map to this one state file name")
                && u.contains("a/b")
                && u.contains("a_b")),
        "{u:?}"
    );
}

#[test]
fn rotation_abandons_the_rest_of_the_old_file() {
    let h = Host::new();
    let app = h.log("app.log");
    std::fs::write(&app, b"0123456789\n").unwrap();
    let mut r = h.reader(&[(&app, false)]);
    tk::write(&h.state(), &app, &tk::single(5, &app)).unwrap();
    assert!(unknowns(&r.read().unwrap()).is_empty());
    // Rename rotation: the agent deletes the state file; a new file at the path.
    std::fs::rename(&app, h.log("app.log.1")).unwrap();
    std::fs::remove_file(tk::state_path(&h.state(), &app)).unwrap();
    std::fs::write(&app, b"new\n").unwrap();
    let s = r.read().unwrap();
    let u = unknowns(&s);
    assert!(
        u.iter()
            .any(|u| u.contains("app.log.1") && u.contains("6 B after its last recorded offset 5")),
        "{u:?}"
    );
}

#[test]
fn only_the_newest_match_is_tailed_without_publish_multi_logs() {
    let h = Host::new();
    let (old, new) = (h.log("x-1.log"), h.log("x-2.log"));
    std::fs::write(&old, b"old\n").unwrap();
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(t)
        .unwrap();
    std::fs::write(&new, b"new\n").unwrap();
    std::fs::write(h.log("x-0.log.gz"), b"gz").unwrap();
    let glob = h.log("x-*");
    let s = h.reader(&[(&glob, false)]).read().unwrap();
    assert_eq!(s.inputs[0].paths, vec![glob::Pattern::escape(&new)]);
    assert!(s.notes.iter().any(|n| n.contains("publish_multi_logs")));
    let s = h.reader(&[(&glob, true)]).read().unwrap();
    assert_eq!(s.inputs[0].paths.len(), 2, "the .gz is never tailed");
}

#[test]
fn dropped_batches_logged_after_the_first_read_make_it_unconfirmed() {
    let h = Host::new();
    let app = h.log("app.log");
    std::fs::write(&app, b"one\n").unwrap();
    tk::write(&h.state(), &app, &tk::single(4, &app)).unwrap();
    let log = h.dir.path().join("agent.log");
    std::fs::write(&log, b"E! old: All 5 retries, request dropped\n").unwrap();
    let mut r = h.reader(&[(&app, false)]);
    assert!(
        unknowns(&r.read().unwrap()).is_empty(),
        "older drops are history"
    );
    crate::testkit::append(
        &log,
        b"2026-12-01T23:00:00Z E! [outputs.cloudwatchlogs] Stop requested after 0 retries to cw, request dropped\n",
    );
    let u = unknowns(&r.read().unwrap());
    assert!(
        u.iter()
            .any(|u| u.contains("1 give-up line") && u.contains("Stop requested")),
        "{u:?}"
    );
}

#[test]
fn no_config_and_no_folder_is_no_agent() {
    let d = tempfile::tempdir().unwrap();
    let opts = SourceOptions {
        root: crate::root::Root::new(Some(d.path().to_path_buf())),
        ..Default::default()
    };
    assert!(open(&opts).unwrap().is_empty());
}

/// A `file_path` drainguard cannot expand (an environment variable, a relative path): files
/// the agent tails there but has no state file for yet are unseen, so the delivery cannot be
/// proven, however caught up the other files are.
#[test]
fn a_file_path_drainguard_cannot_expand_leaves_delivery_unproven() {
    let h = Host::new();
    let app = h.log("app.log");
    std::fs::write(&app, b"one\n").unwrap();
    tk::write(&h.state(), &app, &tk::single(4, &app)).unwrap();
    let mut r = h.reader(&[(&app, false), ("${LOG_DIR}/web.log", false)]);
    let u = unknowns(&r.read().unwrap());
    assert!(
        u.iter()
            .any(|u| u.contains("${LOG_DIR}/web.log") && u.contains("absolute path")),
        "{u:?}"
    );
    let mut r = h.reader(&[(&app, false), ("logs/web.log", false)]);
    let u = unknowns(&r.read().unwrap());
    assert!(u.iter().any(|u| u.contains("logs/web.log")), "{u:?}");
    // Every path expandable: nothing unknown.
    let mut r = h.reader(&[(&app, false)]);
    assert!(unknowns(&r.read().unwrap()).is_empty());
}

/// The agent's glob expansion here picks the concrete files it tails, and those become the
/// inputs, so a directory of the glob drainguard cannot read (a link loop here; EACCES when
/// not root) would hide files the agent tails there: unknown, naming the directory.
#[test]
fn a_glob_over_a_directory_drainguard_cannot_read_leaves_delivery_unproven() {
    let h = Host::new();
    std::fs::create_dir(h.logs().join("ok")).unwrap();
    let app = h.log("ok/app.log");
    std::fs::write(&app, b"one\n").unwrap();
    tk::write(&h.state(), &app, &tk::single(4, &app)).unwrap();
    let glob = h.log("*/app.log");
    // Every directory readable: the one file, caught up, and nothing unknown.
    let s = h.reader(&[(&glob, true)]).read().unwrap();
    assert!(unknowns(&s).is_empty(), "{:?}", unknowns(&s));
    assert_eq!(s.inputs[0].paths, vec![glob::Pattern::escape(&app)]);
    let looped = h.logs().join("loop");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    for multi in [true, false] {
        let s = h.reader(&[(&glob, multi)]).read().unwrap();
        let u = unknowns(&s);
        assert!(
            u.iter().any(|u| u.contains(&glob)
                && u.contains(&looped.display().to_string())
                && u.contains("run drainguard as root")),
            "publish_multi_logs {multi}: {u:?}"
        );
    }
    // Before the agent wrote any state file too.
    std::fs::remove_dir_all(h.state()).unwrap();
    let u = unknowns(&h.reader(&[(&glob, true)]).read().unwrap());
    assert!(
        u.iter().any(|u| u.contains(&looped.display().to_string())),
        "{u:?}"
    );
}
