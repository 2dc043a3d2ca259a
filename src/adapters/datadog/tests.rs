//! The reader over registries written in the agent's exact format (src/testkit/datadog.rs).

use std::path::Path;

use super::*;
use crate::cursor::Identity;
use crate::fingerprint::FingerprintSpec;
use crate::testkit::datadog as tk;

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new(disk_retry: bool) -> Host {
        let h = Host {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in ["run", "conf.d/app.d", "logs"] {
            std::fs::create_dir_all(h.dir.path().join(d)).unwrap();
        }
        std::fs::write(h.agent_log(), "").unwrap();
        std::fs::write(
            h.dir.path().join("datadog.yaml"),
            tk::main_config(
                &h.run(),
                &h.dir.path().join("conf.d"),
                &h.agent_log(),
                disk_retry,
            ),
        )
        .unwrap();
        h
    }
    fn agent_log(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }
    fn run(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    fn log(&self, name: &str) -> String {
        self.dir
            .path()
            .join("logs")
            .join(name)
            .display()
            .to_string()
    }
    fn tail(&self, paths: &[&str]) {
        std::fs::write(
            self.dir.path().join("conf.d/app.d/conf.yaml"),
            tk::integration(paths),
        )
        .unwrap();
    }
    fn reader(&self) -> Box<dyn StoreReader> {
        let opts = SourceOptions {
            config: Some(self.dir.path().to_path_buf()),
            ..Default::default()
        };
        open(&opts).unwrap().pop().unwrap()
    }
}

fn unknowns(s: &StoreSnapshot) -> Vec<String> {
    s.queues
        .iter()
        .filter_map(|q| match &q.state {
            QueueState::Unknown { hint } => Some(format!("{}: {hint}", q.source)),
            _ => None,
        })
        .collect()
}

#[test]
fn entries_carry_the_recomputable_fingerprint() {
    let h = Host::new(false);
    let app = h.log("app.log");
    let content = vec![b'a'; 2000];
    std::fs::write(&app, &content).unwrap();
    h.tail(&[&h.log("*.log")]);
    let fp = tk::byte_fingerprint(&content, 1024, 0);
    let json = tk::registry(
        &[tk::Entry::new(&app, 1500).with_fingerprint(fp)],
        &[("journald:abc", "s=1")],
    );
    tk::write(&h.run(), &json).unwrap();
    let s = h.reader().read().unwrap();
    assert_eq!(s.offset_meaning, OffsetMeaning::SentOrGivenUp);
    let c = &s.cursors[0];
    assert_eq!(c.offset, 1500);
    let Identity::Fingerprint { spec, value } = &c.identity else {
        panic!("{:?}", c.identity)
    };
    assert_eq!(
        spec.compute(Path::new(&app)).unwrap().as_deref(),
        Some(&**value),
        "drainguard recomputes the agent's fingerprint of the file"
    );
    assert_eq!(s.skipped[0].prefix, "journald:");
    assert_eq!(s.inputs[0].paths, vec![h.log("*.log")]);
    assert!(unknowns(&s).is_empty(), "{:?}", unknowns(&s));
}

#[test]
fn line_fingerprints_match_as_the_agent_cuts_lines() {
    let h = Host::new(false);
    let app = h.log("app.log");
    std::fs::write(&app, b"header\nfirst\r\nsecond\nthird\n").unwrap();
    let fp = tk::line_fingerprint(&[b"first", b"second"], 1, 10000);
    tk::write(
        &h.run(),
        &tk::registry(&[tk::Entry::new(&app, 7).with_fingerprint(fp)], &[]),
    )
    .unwrap();
    let s = h.reader().read().unwrap();
    let Identity::Fingerprint { spec, value } = &s.cursors[0].identity else {
        panic!()
    };
    assert!(matches!(
        **spec,
        FingerprintSpec::DatadogChecksum { lines: true, .. }
    ));
    assert_eq!(
        spec.compute(Path::new(&app)).unwrap().as_deref(),
        Some(&**value)
    );
}

#[test]
fn value_zero_or_null_config_falls_back_to_the_path() {
    let h = Host::new(false);
    let app = h.log("short.log");
    std::fs::write(&app, b"tiny\n").unwrap();
    let fp = tk::byte_fingerprint(b"tiny\n", 1024, 0);
    assert_eq!(fp.value, 0);
    tk::write(
        &h.run(),
        &tk::registry(
            &[
                tk::Entry::new(&app, 5).with_fingerprint(fp),
                tk::Entry::new(&h.log("old.log"), 3),
            ],
            &[],
        ),
    )
    .unwrap();
    let s = h.reader().read().unwrap();
    assert!(s.cursors.iter().all(|c| c.identity == Identity::Path));
}

#[test]
fn a_cut_in_place_write_is_reread_then_named() {
    let h = Host::new(false);
    let json = tk::registry(&[tk::Entry::new(&h.log("a.log"), 42)], &[]);
    tk::write_torn(&h.run(), &json, json.len() / 2).unwrap();
    let e = h.reader().read().unwrap_err().to_string();
    assert!(
        e.contains("registry.json") && e.contains("line 1, byte"),
        "{e}"
    );
    tk::write_torn(&h.run(), &json, 0).unwrap();
    let e = h.reader().read().unwrap_err().to_string();
    assert!(e.contains("empty registry"), "{e}");
}

#[test]
fn the_disk_retry_spool_must_be_empty() {
    let h = Host::new(true);
    let app = h.log("a.log");
    std::fs::write(&app, b"x\n").unwrap();
    tk::write(&h.run(), &tk::registry(&[tk::Entry::new(&app, 2)], &[])).unwrap();
    let mut r = h.reader();
    let q = r.read().unwrap().queues;
    assert!(q.iter().any(|q| q.state == QueueState::Empty), "{q:?}");
    std::fs::create_dir_all(h.run().join("logs-retry")).unwrap();
    std::fs::write(h.run().join("logs-retry/1764626400_1.retry"), b"payload").unwrap();
    let q = r.read().unwrap().queues;
    assert!(
        q.iter().any(
            |q| matches!(&q.state, QueueState::Pending { owed, .. } if owed.queue_files == Some(1))
        ),
        "{q:?}"
    );
}

/// Disk retry turned on outside datadog.yaml (`DD_LOGS_CONFIG_DISK_RETRY_MAX_SIZE_BYTES` in
/// the agent's environment, or the size written as a string): payloads in the default spool
/// are owed all the same.
#[test]
fn payloads_in_the_default_spool_are_owed_whatever_datadog_yaml_says() {
    let h = Host::new(false);
    let app = h.log("a.log");
    std::fs::write(&app, b"x\n").unwrap();
    tk::write(&h.run(), &tk::registry(&[tk::Entry::new(&app, 2)], &[])).unwrap();
    let mut r = h.reader();
    let q = r.read().unwrap().queues;
    assert!(
        !q.iter().any(|q| q.source.contains("retry")),
        "no spool, nothing said: {q:?}"
    );
    std::fs::create_dir_all(h.run().join("logs-retry")).unwrap();
    std::fs::write(h.run().join("logs-retry/1764626400_1.retry"), b"payload").unwrap();
    let q = r.read().unwrap().queues;
    assert!(
        q.iter().any(
            |q| matches!(&q.state, QueueState::Pending { owed, .. } if owed.queue_files == Some(1))
        ),
        "{q:?}"
    );
    // The size as a string, as the agent's config loader also takes it.
    let yaml = tk::main_config(
        &h.run(),
        &h.dir.path().join("conf.d"),
        &h.agent_log(),
        false,
    )
        + "logs_config:\n  disk_retry:\n    max_size_bytes: \"104857600\"\n    path: /elsewhere\n";
    std::fs::write(h.dir.path().join("datadog.yaml"), yaml).unwrap();
    let q = h.reader().read().unwrap().queues;
    assert!(
        q.iter().any(|q| q.source.contains("/elsewhere")),
        "the configured spool is read: {q:?}"
    );
}

#[test]
fn a_rotated_file_s_rest_is_reported_abandoned() {
    let h = Host::new(false);
    let app = h.log("app.log");
    std::fs::write(&app, b"0123456789\n").unwrap();
    let mut r = h.reader();
    tk::write(&h.run(), &tk::registry(&[tk::Entry::new(&app, 4)], &[])).unwrap();
    assert!(unknowns(&r.read().unwrap()).is_empty());
    std::fs::rename(&app, h.log("app.log.1")).unwrap();
    std::fs::write(&app, b"new\n").unwrap();
    // The new tailer's entry replaces the old one under the same key.
    tk::write(&h.run(), &tk::registry(&[tk::Entry::new(&app, 4)], &[])).unwrap();
    let u = unknowns(&r.read().unwrap());
    assert!(
        u.iter().any(|u| u.contains("app.log.1")
            && u.contains("7 B after its last recorded offset 4")
            && u.contains("close_timeout (60 s)")),
        "{u:?}"
    );
}

#[test]
fn payloads_the_intake_refused_make_it_unconfirmed() {
    let h = Host::new(false);
    let app = h.log("a.log");
    std::fs::write(&app, b"x\n").unwrap();
    tk::write(&h.run(), &tk::registry(&[tk::Entry::new(&app, 2)], &[])).unwrap();
    let mut r = h.reader();
    assert!(unknowns(&r.read().unwrap()).is_empty());
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(h.agent_log())
        .unwrap();
    // A 500 is retried: not a give-up.
    f.write_all(tk::rejected_line(500).as_bytes()).unwrap();
    assert!(unknowns(&r.read().unwrap()).is_empty());
    f.write_all(tk::rejected_line(413).as_bytes()).unwrap();
    let u = unknowns(&r.read().unwrap());
    assert!(
        u.iter()
            .any(|u| u.contains("1 give-up line") && u.contains("code=413")),
        "{u:?}"
    );
}

#[test]
fn a_metrics_only_agent_ships_no_log_file() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("datadog.yaml"),
        "api_key: x\nlogs_enabled: false\n",
    )
    .unwrap();
    let opts = SourceOptions {
        config: Some(d.path().join("datadog.yaml")),
        ..Default::default()
    };
    assert!(open(&opts).unwrap().is_empty());
    assert!(ships_nothing(&opts));
    // Logs on: its store, not written yet, is reported (nothing recorded).
    std::fs::write(
        d.path().join("datadog.yaml"),
        "api_key: x\nlogs_enabled: true\n",
    )
    .unwrap();
    assert!(!ships_nothing(&opts));
    let s = open(&opts).unwrap().pop().unwrap().read().unwrap();
    assert!(
        s.notes.iter().any(|n| n.contains("does not exist yet")),
        "{:?}",
        s.notes
    );
}

#[test]
fn no_config_and_no_registry_is_no_agent() {
    let d = tempfile::tempdir().unwrap();
    let opts = SourceOptions {
        root: crate::root::Root::new(Some(d.path().to_path_buf())),
        ..Default::default()
    };
    assert!(open(&opts).unwrap().is_empty());
}

/// A conf.d integration directory that cannot be listed (a link loop here: as root a
/// mode-000 directory would be listed) hides the inputs it names: their untracked files are
/// unknown, so the snapshot says so, naming the directory and the fix.
#[test]
fn a_confd_directory_that_cannot_be_listed_is_said() {
    let h = Host::new(false);
    let app = h.log("a.log");
    std::fs::write(&app, b"x\n").unwrap();
    h.tail(&[&app]);
    tk::write(&h.run(), &tk::registry(&[tk::Entry::new(&app, 2)], &[])).unwrap();
    assert!(unknowns(&h.reader().read().unwrap()).is_empty());
    let looped = h.dir.path().join("conf.d/other.d");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let u = unknowns(&h.reader().read().unwrap());
    assert!(
        u.iter()
            .any(|u| u.contains(&looped.display().to_string())
                && u.contains("run drainguard as root")),
        "{u:?}"
    );
}
