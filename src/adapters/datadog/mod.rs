//! Datadog Agent logs: the auditor registry `<run_path>/registry.json` (`store`), the tailed
//! files from `conf.d/*.d/*.yaml` `logs:` sections (`config`).
//!
//! The key is the path (`file:<path>`), checked against the stored fingerprint (CRC-64 over
//! the file's first bytes or lines, as its config says) when the entry has one. The offset
//! proves "accepted by a reliable destination, or permanently rejected" (HTTP 400, 401, 403,
//! 413): the agent's log, where it logs each rejection, is the delivery signal; with disk
//! retry on, the offset also covers "written to the retry spool", which must then be empty.
//! A rotated file's rest is read for `close_timeout` under no key, so never recorded:
//! reported as abandoned.

pub mod config;
pub mod store;

use std::path::PathBuf;

use crate::cursor::{
    InputSpec, OffsetMeaning, Owed, QueueSignal, QueueState, ShipperKind, StoreSnapshot,
};
use crate::error::StoreError;

use super::abandoned::Abandoned;
use super::agent_log::DropLog;
use super::common;
use super::shipper::{flag, m, Access, ProcessMatch, ShipperInfo, Target};
use super::{Readers, SourceOptions, StoreReader};

pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::DatadogAgent,
    name: "datadog-agent",
    aliases: &["datadog"],
    processes: &[
        m(&["datadog-agent"]),
        ProcessMatch {
            names: &["agent"],
            words: &["datadog"],
        },
    ],
    flags: &[flag(&["-c", "--cfgpath"], Target::Config)],
    services: &["datadog-agent"],
    config_paths: &[config::CONFIG_DIR],
    data_paths: &[config::RUN_PATH],
    // `logs_config.max_message_size_bytes` (256000): a longer line is sent in truncated
    // pieces, its newline not awaited.
    max_line_bytes: Some(256_000),
    glob_depth: 32,
    // datadog.yaml.
    config_syntax: Some(r"(?m)^(logs_enabled|api_key|dd_url)\s*:"),
    // Its log of dropped payloads is read by the delivery signal, not an HTTP API.
    api: None,
    // A metrics-only agent (logs_enabled off, no registry ever written) ships no log file.
    access: Access::Reads {
        open,
        idle: Some(ships_nothing),
    },
};

pub use config::Config;
pub use store::{parse, FORMAT};

/// `failed to post http payload. code=<c>` with a code the agent does not retry (400, 401,
/// 403, 413): the payload is dropped and its offsets advance (`destination.go`).
fn rejected_payload(line: &str) -> bool {
    line.split("failed to post http payload. code=")
        .nth(1)
        .is_some_and(|rest| {
            ["400", "401", "403", "413"]
                .iter()
                .any(|c| rest.starts_with(c))
        })
}

/// How many times a registry that fails to parse as a cut file is read again (the
/// non-atomic writer, `atomic_registry_write: false`, truncates it before each write).
const READ_ATTEMPTS: usize = 5;

/// Opens the registry: `--store` (the file), else `<--data-path>/registry.json` (the run
/// path), else `<logs_config.run_path or run_path>/registry.json` from `datadog.yaml`
/// (`--config` or the running agent's `-c`/`--cfgpath`, else `/etc/datadog-agent`). Empty
/// when neither a config nor the registry exists.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    open_in(opts, &crate::process::ProcFs::default())
}

/// [`open`], with the running agent's environment (its `DD_*` overrides) from `procfs`.
pub fn open_in(
    opts: &SourceOptions,
    procfs: &crate::process::ProcFs,
) -> Result<Readers, StoreError> {
    let (env, env_note) = config::agent_env(procfs, &opts.root);
    let cfg = config::load(&opts.root, opts.config.as_deref(), &env)?;
    let registry = match (&opts.store, &opts.data_path) {
        (Some(_), _) => match common::locate(opts, "datadog-agent", &[])? {
            Some(p) => p,
            None => return Ok(Vec::new()),
        },
        (None, Some(run)) => opts.root.host_to_local(&run.join("registry.json")),
        (None, None) => opts.root.host_to_local(&cfg.run_path.join("registry.json")),
    };
    if cfg.source.is_none() && opts.data_path.is_none() && !registry.exists() {
        return Ok(Vec::new());
    }
    if logs_off(&cfg, opts, &registry) {
        return Ok(Vec::new());
    }
    let (inputs, confd_unreadable) = config::inputs(&opts.root, &cfg.confd)?;
    let mut notes: Vec<String> = env_note.into_iter().collect();
    let overridden: Vec<String> = config::KEYS
        .iter()
        .filter(|k| env.get(k).is_some())
        .map(|k| config::Env::name(k))
        .collect();
    if !overridden.is_empty() {
        notes.push(format!(
            "the running agent's environment overrides datadog.yaml: {}",
            overridden.join(", ")
        ));
    }
    if cfg.source.is_some() && !cfg.logs_enabled {
        notes.push(
            "logs_enabled is not true in datadog.yaml nor in the running agent's environment, \
             yet a registry exists: an earlier run collected logs"
                .to_string(),
        );
    }
    if !cfg.atomic_write {
        notes.push(
            "logs_config.atomic_registry_write is false: the agent rewrites registry.json in \
             place, so a read can see it cut (read again)"
                .to_string(),
        );
    }
    Ok(vec![Box::new(DatadogReader {
        root: opts.root.clone(),
        shown: opts.root.local_to_host(&registry),
        registry,
        inputs,
        confd_unreadable,
        notes,
        abandoned: Abandoned::default(),
        log: DropLog::new(
            "datadog agent log",
            opts.root.host_to_local(&cfg.log_file),
            rejected_payload,
            "log_file in datadog.yaml",
        ),
        cfg,
    })])
}

/// `datadog.yaml` and the running agent's environment leave `logs_enabled` off and no
/// registry was ever written: a metrics-only agent, which ships no log file.
fn logs_off(cfg: &Config, opts: &SourceOptions, registry: &std::path::Path) -> bool {
    cfg.source.is_some()
        && !cfg.logs_enabled
        && opts.store.is_none()
        && opts.data_path.is_none()
        && !registry.exists()
}

/// True when the agent configured by `opts` collects no logs (see [`open`]): a running one
/// is left out, not reported as a store drainguard cannot find.
pub fn ships_nothing(opts: &SourceOptions) -> bool {
    ships_nothing_in(opts, &crate::process::ProcFs::default())
}

/// [`ships_nothing`], with the running agent's environment from `procfs`: an environment
/// that cannot be read may turn logs on, so the agent is not left out then.
pub fn ships_nothing_in(opts: &SourceOptions, procfs: &crate::process::ProcFs) -> bool {
    let (env, unread) = config::agent_env(procfs, &opts.root);
    if unread.is_some() {
        return false;
    }
    let Ok(cfg) = config::load(&opts.root, opts.config.as_deref(), &env) else {
        return false;
    };
    let registry = opts.root.host_to_local(&cfg.run_path.join("registry.json"));
    logs_off(&cfg, opts, &registry)
}

/// Reads the registry; remembers across reads which inode each path named (abandoned bytes).
pub struct DatadogReader {
    root: crate::root::Root,
    registry: PathBuf,
    shown: PathBuf,
    cfg: Config,
    inputs: Vec<InputSpec>,
    /// The conf.d directories that could not be listed: the inputs they name are unknown.
    confd_unreadable: Vec<String>,
    notes: Vec<String>,
    abandoned: Abandoned,
    log: DropLog,
}

impl DatadogReader {
    /// The registry's snapshot, read again while it looks cut.
    fn read_registry(&self) -> Result<StoreSnapshot, StoreError> {
        let mut last = None;
        for attempt in 0..READ_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(3 * attempt as u64));
            }
            match parse(&self.registry, &common::read_bytes(&self.registry)?) {
                Err(e) if store::is_cut(&e) => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("READ_ATTEMPTS > 0"))
    }

    /// The disk retry spool: `.retry` files hold payloads the offsets already count. Without
    /// disk retry in datadog.yaml the default spool is still looked at (the agent's
    /// environment can turn it on): said only when it holds payloads.
    fn retry_signal(&self) -> Option<QueueSignal> {
        let configured = self.cfg.disk_retry.is_some();
        let default = self.cfg.run_path.join("logs-retry");
        let dir = self.cfg.disk_retry.as_ref().unwrap_or(&default);
        let local = self.root.host_to_local(dir);
        let source = format!("datadog disk retry spool {}", dir.display());
        let rd = match std::fs::read_dir(&local) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !configured => return None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Some(QueueSignal {
                    source,
                    state: QueueState::Empty,
                })
            }
            Err(e) => {
                return Some(common::unknown_queue(
                    &source,
                    &format!("cannot list it ({e}): payloads spooled there are counted as sent by the registry; let drainguard read it"),
                ))
            }
        };
        let (mut files, mut bytes) = (0u64, 0u64);
        for e in rd.flatten() {
            if e.file_name().as_encoded_bytes().ends_with(b".retry") {
                files += 1;
                bytes = bytes.saturating_add(e.metadata().map_or(0, |m| m.len()));
            }
        }
        if files == 0 && !configured {
            return None;
        }
        Some(QueueSignal {
            source,
            state: if files == 0 {
                QueueState::Empty
            } else {
                QueueState::owed(
                    format!("{files} payload file(s) waiting to be re-sent"),
                    Owed {
                        queued_bytes: Some(bytes),
                        queue_files: Some(files),
                        ..Default::default()
                    },
                )
            },
        })
    }
}

impl StoreReader for DatadogReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::DatadogAgent
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        common::parent_dir(&self.registry)
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut snap = if self.registry.exists() {
            self.read_registry()?
        } else {
            common::not_written_yet(
                common::snapshot(
                    ShipperKind::DatadogAgent,
                    &self.registry,
                    FORMAT,
                    OffsetMeaning::SentOrGivenUp,
                ),
                &self.shown,
                "the agent's auditor writes it every second once logs are collected",
                "the configured files",
            )
        };
        snap.notes.extend(self.notes.iter().cloned());
        snap.inputs.extend(self.inputs.iter().cloned());
        let entries: Vec<(PathBuf, u64)> = snap
            .cursors
            .iter()
            .filter_map(|c| Some((c.path.as_deref()?.to_path_buf(), c.offset)))
            .collect();
        let pids =
            crate::process::ProcFs::default().find(&self.root, ShipperKind::DatadogAgent, None);
        self.abandoned.update(&self.root, &entries, &pids);
        if !pids.is_empty() {
            let paths: Vec<PathBuf> = entries.iter().map(|(p, _)| p.clone()).collect();
            let (dirs, current) = super::abandoned::scope(&self.root, &paths, &self.cfg.log_file);
            self.abandoned.scan_open(&self.root, &pids, &dirs, &current);
        }
        snap.queues.extend(self.abandoned.signals(
            ShipperKind::DatadogAgent,
            &format!(
                "after a rotation the agent reads the old file for close_timeout ({} s) under no \
                 registry key, then drops what is left (logs.bytes_missed), so none of it is recorded",
                self.cfg.close_timeout
            ),
            "check the agent status (Logs Agent: bytes missed) and the file's last lines in \
             Datadog; drain before rotating, or raise logs_config.close_timeout",
        ));
        snap.queues.extend(self.retry_signal());
        if self.cfg.container_collect_all {
            snap.queues.push(common::unknown_queue(
                "datadog agent container logs (logs_config.container_collect_all)",
                "the agent collects every container's logs, which no conf.d logs: section \
                 names: files of containers it has no registry entry for yet are not seen; turn \
                 container_collect_all off and name the container log files in a conf.d logs: \
                 section, or drain with --settle-after",
            ));
        }
        snap.queues.push(self.log.signal());
        snap.queues
            .extend(self.confd_unreadable.iter().map(|hint| QueueSignal {
                source: crate::backlog::UNREADABLE_INPUT.into(),
                state: QueueState::Unknown { hint: hint.clone() },
            }));
        snap.notes.extend(self.log.earlier_note());
        Ok(snap)
    }
}

#[cfg(test)]
mod tests;
