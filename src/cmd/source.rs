//! Shipper selection flags shared by `status`, `wait` and `aws watch`, and their resolution
//! against the settings file into readers.

use std::path::PathBuf;

use anyhow::Context;

use crate::adapters::{self, SourceOptions, StoreReader};
use crate::cli::Global;
use crate::cursor::{ShipperKind, StoreSnapshot};
use crate::root::Root;
use crate::settings::Settings;

/// Which shippers to read, and where.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SourceArgs {
    /// Check only this shipper (repeatable). Default: those in the settings file, else every
    /// shipper found on this host.
    #[arg(long = "shipper", value_enum, value_name = "NAME")]
    pub shippers: Vec<ShipperKind>,
    /// The shipper's own config file (filebeat.yml, fluent-bit.conf ...). Needs exactly one
    /// shipper (Filebeat when none is named).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The shipper's data directory (Filebeat `path.data`).
    #[arg(long, value_name = "DIR")]
    pub data_path: Option<PathBuf>,
    /// The progress store itself (Filebeat registry file or directory, SQLite DB ...).
    #[arg(long, alias = "store", value_name = "PATH")]
    pub registry: Option<PathBuf>,
    /// Pid of the shipper process (otherwise: its pidfile, then /proc by executable name).
    #[arg(long, value_name = "PID")]
    pub shipper_pid: Option<u32>,
}

/// The shippers to read, opened.
pub struct Sources {
    pub root: Root,
    pub settings: Settings,
    pub readers: Vec<Box<dyn StoreReader>>,
    /// Pid files named in the settings, per shipper.
    pub pid_files: Vec<(ShipperKind, PathBuf)>,
    /// True when nothing was named (flags or settings): absent shippers are not an error.
    pub auto_detected: bool,
    /// Receivers the shippers were seen sending to, kept across assessments (`wait`).
    pub peers: crate::process::sockets::Peers,
    /// What behind files' pending bytes hold, kept across assessments (`wait` reads no tail
    /// twice while its (dev, inode, size, offset) stays the same).
    pub tails: crate::backlog::TailCache,
}

impl SourceArgs {
    fn has_overrides(&self) -> bool {
        self.config.is_some() || self.data_path.is_some() || self.registry.is_some()
    }

    /// Opens the selected shippers' stores.
    pub fn open(&self, global: &Global) -> anyhow::Result<Sources> {
        self.open_with(global, false)
    }

    /// Like [`open`](Self::open); with `missing_ok` a named shipper whose store does not exist
    /// yet is skipped (boot-time `check`: a shipper that has not run yet is not a config error).
    pub fn open_with(&self, global: &Global, missing_ok: bool) -> anyhow::Result<Sources> {
        let root = Root::new(global.root.clone());
        let settings = Settings::load(&root, &global.settings)?;
        let mut wanted: Vec<(ShipperKind, SourceOptions, Option<PathBuf>)> = Vec::new();
        let base = SourceOptions {
            root: root.clone(),
            ..Default::default()
        };
        let named_kinds: Vec<ShipperKind> = if !self.shippers.is_empty() {
            self.shippers.clone()
        } else if !settings.shippers.is_empty() {
            settings.shippers.iter().map(|s| s.kind.0).collect()
        } else if self.has_overrides() {
            vec![ShipperKind::Filebeat]
        } else {
            Vec::new()
        };
        let auto_detected = named_kinds.is_empty();
        let kinds = if auto_detected {
            all_kinds()
        } else {
            named_kinds
        };
        if self.has_overrides() && kinds.len() != 1 {
            anyhow::bail!(
                "--config, --data-path and --registry apply to one shipper; name it with --shipper"
            );
        }
        for kind in kinds {
            let mut opts = base.clone();
            let mut pid_file = None;
            if let Some(s) = settings.shippers.iter().find(|s| s.kind.0 == kind) {
                opts.config = s.config.clone();
                opts.data_path = s.data_path.clone();
                opts.store = s.store.clone();
                pid_file = s.pid_file.clone();
            }
            if self.config.is_some() {
                opts.config = self.config.clone();
            }
            if self.data_path.is_some() {
                opts.data_path = self.data_path.clone();
            }
            if self.registry.is_some() {
                opts.store = self.registry.clone();
            }
            wanted.push((kind, opts, pid_file));
        }
        let mut readers = Vec::new();
        let mut pid_files = Vec::new();
        for (kind, opts, pid_file) in wanted {
            let explicit = !auto_detected && !missing_ok;
            let opened = match adapters::open(kind, &opts) {
                Err(e @ crate::error::StoreError::NotFound { .. }) if missing_ok => {
                    tracing::warn!("{e}");
                    Vec::new()
                }
                other => other.with_context(|| format!("reading the {kind} store"))?,
            };
            if opened.is_empty() {
                if explicit {
                    anyhow::bail!(
                        "no {kind} store found; point to it with --data-path/--registry or the settings file"
                    );
                }
                continue;
            }
            readers.extend(opened);
            if let Some(p) = pid_file {
                pid_files.push((kind, p));
            }
        }
        Ok(Sources {
            root,
            settings,
            readers,
            pid_files,
            auto_detected,
            peers: Default::default(),
            tails: Default::default(),
        })
    }
}

/// Every shipper kind, in report order.
pub fn all_kinds() -> Vec<ShipperKind> {
    use clap::ValueEnum;
    ShipperKind::value_variants().to_vec()
}

impl Sources {
    /// The live processes of `kind`: `--shipper-pid` when given, else its pidfile from the
    /// settings, else /proc by executable name.
    pub fn shipper_pids(&self, kind: ShipperKind, pid_override: Option<u32>) -> Vec<u32> {
        let procfs = crate::process::ProcFs::default();
        if let Some(pid) = pid_override {
            return if procfs.is_alive(pid) {
                vec![pid]
            } else {
                Vec::new()
            };
        }
        let pidfile = self
            .pid_files
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| p.as_path());
        procfs.find(&self.root, kind, pidfile)
    }

    /// Reads every store (incrementally where the reader can), without touching the files.
    pub fn read(&mut self) -> Result<Vec<StoreSnapshot>, crate::error::StoreError> {
        // One round: a monitoring API several stores read is asked once.
        let _batch = crate::adapters::http::batch();
        self.readers.iter_mut().map(|r| r.read()).collect()
    }

    /// Compares snapshots (from [`Sources::read`]) with the disk: one assessment.
    pub fn assess_snapshots(
        &self,
        snapshots: &[StoreSnapshot],
        pid_override: Option<u32>,
    ) -> crate::backlog::Assessment {
        // One environment per shipper, shared by its stores: its pids are looked up and its
        // sockets read once per assessment, however many stores it has.
        let mut envs: std::collections::HashMap<ShipperKind, crate::backlog::Env> =
            Default::default();
        let mut shippers = Vec::with_capacity(snapshots.len());
        for snapshot in snapshots {
            let env = envs
                .entry(snapshot.shipper)
                .or_insert_with(|| crate::backlog::Env {
                    root: self.root.clone(),
                    shipper_pids: self.shipper_pids(snapshot.shipper, pid_override),
                    peers: self.peers.clone(),
                    tails: self.tails.clone(),
                    ..Default::default()
                });
            shippers.push(crate::backlog::assess(snapshot, env));
        }
        crate::backlog::combine(shippers)
    }
}

/// The message for a host where no shipper was named and none was found.
pub fn nothing_found() -> String {
    let names: Vec<&str> = all_kinds().iter().map(|k| k.name()).collect();
    format!(
        "no log shipper found on this host (looked for {} in their usual locations); nothing to drain. \
         Name one with --shipper and --data-path/--registry, or in the settings file",
        names.join(", ")
    )
}

/// [`Sources`] with the `--shipper-pid` override, as `wait` watches them.
pub struct WatchedSources {
    pub sources: Sources,
    pub pid_override: Option<u32>,
}

impl crate::wait::Watched for WatchedSources {
    fn read(&mut self) -> Result<Vec<StoreSnapshot>, crate::error::StoreError> {
        self.sources.read()
    }

    fn assess(&mut self, snapshots: &[StoreSnapshot]) -> crate::backlog::Assessment {
        self.sources.assess_snapshots(snapshots, self.pid_override)
    }

    fn shipper_alive(&self, kind: ShipperKind) -> bool {
        !self
            .sources
            .shipper_pids(kind, self.pid_override)
            .is_empty()
    }

    fn watch_paths(&self) -> Vec<PathBuf> {
        self.sources
            .readers
            .iter()
            .flat_map(|r| r.watch_paths())
            .collect()
    }
}
