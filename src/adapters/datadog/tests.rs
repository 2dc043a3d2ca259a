//! The reader over registries written in the agent's exact format (src/testkit/datadog.rs).

use std::path::Path;

use super::*;
use crate::cursor::Identity;
use crate::fingerprint::FingerprintSpec;
use crate::testkit::datadog as tk;
use crate::testkit::report::unknowns;

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
    // A 500 is retried: not a give-up.
    crate::testkit::append(&h.agent_log(), tk::rejected_line(500));
    assert!(unknowns(&r.read().unwrap()).is_empty());
    crate::testkit::append(&h.agent_log(), tk::rejected_line(413));
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

/// A fake `/proc` holding one Datadog Agent (`agent run`, pid 4242) started with `environ`
/// (`None`: an environ drainguard cannot read).
fn fake_proc(environ: Option<&[(&str, &str)]>) -> (tempfile::TempDir, crate::process::ProcFs) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("4242");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("comm"), "agent\n").unwrap();
    std::fs::write(
        p.join("cmdline"),
        b"/opt/datadog-agent/bin/agent/agent\0run\0",
    )
    .unwrap();
    std::fs::write(p.join("stat"), "4242 (agent) S 1 4242 4242 0 -1").unwrap();
    match environ {
        Some(vars) => {
            let mut b = Vec::new();
            for (k, v) in vars {
                b.extend_from_slice(format!("{k}={v}\0").as_bytes());
            }
            std::fs::write(p.join("environ"), b).unwrap();
        }
        // Not a regular file: refused, as another user's environ would be.
        None => std::fs::create_dir(p.join("environ")).unwrap(),
    }
    let procfs = crate::process::ProcFs::at(d.path());
    (d, procfs)
}

/// The agent applies `DD_*` variables over datadog.yaml: drainguard reads the running
/// agent's environment and applies the ones for the settings it reads.
#[test]
fn the_running_agent_s_dd_environment_overrides_datadog_yaml() {
    let h = Host::new(false);
    // datadog.yaml: logs off, its run path without a registry: a metrics-only agent.
    std::fs::write(
        h.dir.path().join("datadog.yaml"),
        format!(
            "api_key: x\nlogs_enabled: false\nrun_path: {}\nlog_file: {}\n",
            h.run().display(),
            h.agent_log().display()
        ),
    )
    .unwrap();
    let other_run = h.dir.path().join("other-run");
    let other_confd = h.dir.path().join("other-conf.d");
    std::fs::create_dir_all(other_confd.join("web.d")).unwrap();
    let app = h.log("app.log");
    std::fs::write(&app, b"one\ntwo\n").unwrap();
    std::fs::write(
        other_confd.join("web.d/conf.yaml"),
        tk::integration(&[&app]),
    )
    .unwrap();
    std::fs::create_dir_all(&other_run).unwrap();
    tk::write(&other_run, &tk::registry(&[tk::Entry::new(&app, 4)], &[])).unwrap();
    let opts = SourceOptions {
        config: Some(h.dir.path().to_path_buf()),
        ..Default::default()
    };
    // Without overrides: logs off, nothing to read.
    let (_d, plain) = fake_proc(Some(&[("PATH", "/usr/bin"), ("DD_API_KEY", "x")]));
    assert!(ships_nothing_in(&opts, &plain));
    assert!(open_in(&opts, &plain).unwrap().is_empty());
    let run = other_run.display().to_string();
    let confd = other_confd.display().to_string();
    let env = [
        ("DD_LOGS_ENABLED", "true"),
        ("DD_LOGS_CONFIG_RUN_PATH", run.as_str()),
        ("DD_CONFD_PATH", confd.as_str()),
        // Empty: unset, as the agent takes it.
        ("DD_LOG_FILE", ""),
    ];
    let (_d, procfs) = fake_proc(Some(&env));
    assert!(!ships_nothing_in(&opts, &procfs));
    let mut r = open_in(&opts, &procfs).unwrap().pop().unwrap();
    let s = r.read().unwrap();
    assert!(s.store.starts_with(&other_run), "{}", s.store.display());
    assert_eq!(s.cursors.len(), 1);
    assert_eq!(s.cursors[0].offset, 4);
    assert!(
        s.inputs.iter().any(|i| i.paths.contains(&app)),
        "the inputs of DD_CONFD_PATH: {:?}",
        s.inputs
    );
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("DD_LOGS_CONFIG_RUN_PATH") && n.contains("DD_CONFD_PATH")),
        "{:?}",
        s.notes
    );
    // Container collection turned on in the environment: files no conf.d section names.
    let env = [
        ("DD_LOGS_ENABLED", "true"),
        ("DD_LOGS_CONFIG_RUN_PATH", run.as_str()),
        ("DD_LOGS_CONFIG_CONTAINER_COLLECT_ALL", "true"),
    ];
    let (_d, procfs) = fake_proc(Some(&env));
    let s = open_in(&opts, &procfs)
        .unwrap()
        .pop()
        .unwrap()
        .read()
        .unwrap();
    assert!(
        unknowns(&s)
            .iter()
            .any(|u| u.contains("container_collect_all")),
        "{:?}",
        unknowns(&s)
    );
    // An agent whose environment cannot be read may have logs on: not left out, and said.
    let (_d, hidden) = fake_proc(None);
    assert!(!ships_nothing_in(&opts, &hidden));
    let (env, note) = config::agent_env(&hidden, &opts.root);
    assert_eq!(env, config::Env::default());
    let note = note.unwrap_or_default();
    assert!(
        note.contains("pid 4242") && note.contains("run drainguard as root"),
        "{note:?}"
    );
}

#[test]
fn env_names_follow_the_agent_s_key_replacer() {
    assert_eq!(
        config::Env::name("logs_config.run_path"),
        "DD_LOGS_CONFIG_RUN_PATH"
    );
    let env = config::Env::new(vec![
        ("HOME".into(), "/root".into()),
        ("DD_RUN_PATH".into(), "/a".into()),
        ("DD_RUN_PATH".into(), "/b".into()),
    ]);
    assert_eq!(env.get("run_path"), Some("/b"), "the last of a name wins");
    assert_eq!(env.get("home"), None);
    let secret = config::Env::new(vec![("DD_API_KEY".into(), "s3cret".into())]);
    assert_eq!(
        secret,
        config::Env::default(),
        "only the settings read are kept"
    );
    let c = config::parse_main_env(
        Path::new("/d.yaml"),
        "run_path: /yaml\nlogs_config:\n  close_timeout: 5\n",
        &config::Env::new(vec![
            ("DD_LOGS_CONFIG_CLOSE_TIMEOUT".into(), "90".into()),
            ("DD_LOG_ENABLED".into(), "true".into()),
            (
                "DD_LOGS_CONFIG_DISK_RETRY_MAX_SIZE_BYTES".into(),
                "1024".into(),
            ),
        ]),
    )
    .unwrap();
    assert_eq!(c.run_path, Path::new("/yaml"));
    assert_eq!(c.close_timeout, 90);
    assert!(c.logs_enabled, "the deprecated log_enabled counts");
    assert_eq!(c.disk_retry.as_deref(), Some(Path::new("/yaml/logs-retry")));
}
