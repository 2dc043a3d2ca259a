//! The shippers to read: selected from a plain [`Selection`] (what the command line or an
//! embedding program names), looked up on this host (settings file, running processes and
//! their command lines, the usual locations) and opened into readers; read and assessed
//! together, and drained ([`drain`]) by `wait` and `aws watch` alike.

mod drain;
pub mod filewatch;

use std::path::{Path, PathBuf};

pub use drain::{drain, DrainReport};

use crate::adapters::unreadable::Unreadable;
use crate::adapters::{self, SourceOptions, StoreReader};
use crate::cursor::{ShipperKind, StoreSnapshot};
use crate::error::StoreError;
use crate::process::Running;
use crate::root::Root;
use crate::settings::Settings;

/// Which shippers to read, and where: all optional (nothing named: those in the settings
/// file, else every shipper found on this host).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these shippers.
    pub shippers: Vec<ShipperKind>,
    /// The shipper's own config file; needs exactly one shipper (the default one,
    /// [`adapters::DEFAULT_SHIPPER`], when none is named).
    pub config: Option<PathBuf>,
    /// The shipper's data directory.
    pub data_path: Option<PathBuf>,
    /// The progress store itself.
    pub store: Option<PathBuf>,
    /// Pid of the shipper process (otherwise: its pidfile, then /proc by executable name).
    pub shipper_pid: Option<u32>,
    /// The boot-time check: a named shipper whose store does not exist yet is skipped, and a
    /// running shipper that cannot be read is a warning, not a store.
    pub missing_ok: bool,
}

/// Why the selected shippers cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// drainguard's own settings file.
    #[error(transparent)]
    Settings(StoreError),
    #[error("--shipper-pid {pid}: {why}; name its shipper with --shipper")]
    Pid { pid: u32, why: &'static str },
    #[error("--config, --data-path and --registry apply to one shipper; name it with --shipper")]
    PathsNeedOneShipper,
    #[error("--config {config} looks like a {other} config, not a {kind} one ({why}): {how}")]
    OtherFormat {
        config: String,
        other: ShipperKind,
        kind: ShipperKind,
        why: String,
        how: String,
    },
    #[error("reading the {kind} store")]
    Store {
        kind: ShipperKind,
        #[source]
        source: StoreError,
    },
    #[error("no {kind} store found; point to it with --data-path/--registry or the settings file")]
    NoStore { kind: ShipperKind },
}

/// The shippers to read, opened.
#[derive(Default)]
pub struct Sources {
    pub root: Root,
    pub settings: Settings,
    pub readers: Vec<Box<dyn StoreReader>>,
    /// Per reader (same order): the pids of the running process(es) it was found through,
    /// empty when found in the usual locations (then every process of its shipper counts).
    pub owners: Vec<Vec<u32>>,
    /// Per reader: the root its paths are read below when it is not [`Sources::root`] (a
    /// container's shipper, read through `/proc/<pid>/root`).
    pub roots: Vec<Option<Root>>,
    /// Pid files named in the settings, per shipper.
    pub pid_files: Vec<(ShipperKind, PathBuf)>,
    /// True when nothing was named (flags or settings): absent shippers are not an error.
    pub auto_detected: bool,
    /// Receivers the shippers were seen sending to, kept across assessments (`wait`).
    pub peers: crate::process::sockets::Peers,
    /// What behind files' pending bytes hold, kept across assessments (`wait` reads no tail
    /// twice while its (dev, inode, size, offset) stays the same).
    pub tails: crate::backlog::TailCache,
    /// The client every reader asks monitoring APIs with (one round per read).
    pub http: crate::adapters::http::Http,
    /// The selection's `shipper_pid`: the shipper's process, whatever else runs.
    pub pid_override: Option<u32>,
    /// `wait`'s incremental assessment.
    pub incremental: Incremental,
    /// After a drain ([`drain`]): its copy of the last full assessment, kept for a blocked
    /// read; as large as the report, so `wait` leaves it to the kernel with the rest.
    pub published: crate::wait::Latest,
}

impl Selection {
    fn has_overrides(&self) -> bool {
        self.config.is_some() || self.data_path.is_some() || self.store.is_some()
    }
}

impl Sources {
    /// Opens the selected shippers' stores, paths below `root`, with the settings file at
    /// `settings_path`.
    ///
    /// Selection: the shippers named (the selection, else the settings file), else the one
    /// `shipper_pid` runs, else every shipper whose store exists or whose process runs. A
    /// running shipper's config and data paths are taken from its command line before the
    /// usual locations. A running shipper that cannot be read (not supported, or its store
    /// not found) becomes an unconfirmed store, never "nothing to drain".
    pub fn open(
        sel: &Selection,
        root: Root,
        settings_path: &Path,
    ) -> Result<Sources, SourcesError> {
        let missing_ok = sel.missing_ok;
        let settings = Settings::load(&root, settings_path).map_err(SourcesError::Settings)?;
        let procfs = crate::process::ProcFs::default();
        let base = SourceOptions {
            root: root.clone(),
            ..Default::default()
        };
        let mut named_kinds: Vec<ShipperKind> = if !sel.shippers.is_empty() {
            sel.shippers.clone()
        } else if !settings.shippers.is_empty() {
            settings.shippers.iter().map(|s| s.kind.0).collect()
        } else if sel.has_overrides() {
            vec![adapters::DEFAULT_SHIPPER.kind]
        } else {
            Vec::new()
        };
        // `--shipper-pid` alone: that process's shipper, and only it.
        let by_pid = match sel.shipper_pid {
            Some(pid) if named_kinds.is_empty() => {
                let Some(r) = procfs.identify(pid).filter(|_| procfs.is_alive(pid)) else {
                    return Err(SourcesError::Pid {
                        pid,
                        why: if procfs.is_alive(pid) {
                            "that process runs no log shipper drainguard knows"
                        } else {
                            "no such process"
                        },
                    });
                };
                if r.kind.supported() {
                    named_kinds.push(r.kind);
                }
                Some(r)
            }
            _ => None,
        };
        let auto_detected = named_kinds.is_empty() && by_pid.is_none();
        let running: Vec<Running> = match (&by_pid, sel.shipper_pid) {
            (Some(r), _) => vec![r.clone()],
            (None, Some(pid)) => procfs.identify(pid).into_iter().collect(),
            (None, None) => procfs.running(&root),
        };
        let kinds = if auto_detected {
            all_kinds()
        } else {
            named_kinds
        };
        if sel.has_overrides() && kinds.len() != 1 {
            return Err(SourcesError::PathsNeedOneShipper);
        }
        if let (Some(config), [kind]) = (&sel.config, kinds.as_slice()) {
            check_format(&root, config, *kind)?;
        }
        let mut found = Found {
            missing_ok,
            ..Default::default()
        };
        let mut pid_files = Vec::new();
        for &kind in &kinds {
            let mut opts = base.clone();
            let mut pid_file = None;
            if let Some(s) = settings.shippers.iter().find(|s| s.kind.0 == kind) {
                opts.config = s.config.clone();
                opts.data_path = s.data_path.clone();
                opts.store = s.store.clone();
                pid_file = s.pid_file.clone();
            }
            if sel.config.is_some() {
                opts.config = sel.config.clone();
            }
            if sel.data_path.is_some() {
                opts.data_path = sel.data_path.clone();
            }
            if sel.store.is_some() {
                opts.store = sel.store.clone();
            }
            let explicit = !auto_detected && !missing_ok;
            let named_paths =
                opts.config.is_some() || opts.data_path.is_some() || opts.store.is_some();
            // The places to read: what was named, else each running process's own command
            // line (the usual locations for one that names nothing), else the usual locations.
            let procs: Vec<&Running> = running.iter().filter(|r| r.kind == kind).collect();
            let mut places: Vec<(SourceOptions, Vec<&Running>)> = Vec::new();
            if named_paths || procs.is_empty() {
                places.push((opts, procs));
            } else {
                for r in procs {
                    let mut o = opts.clone();
                    let cwd = r.cwd.as_deref().map(|c| root.local_to_host(c));
                    let cl = kind.info().command_line_paths(&r.argv, cwd.as_deref());
                    o.config = cl.config;
                    o.data_path = cl.data_path;
                    o.store = cl.store;
                    o.settings_dir = cl.settings_dir;
                    o.control_socket = cl.control;
                    // A container's shipper: its paths are its own root's.
                    if let Some(theirs) = procfs.foreign_root(r.pid, &root) {
                        o.root = Root::new(Some(theirs));
                    }
                    match places.iter_mut().find(|(p, _)| {
                        (&p.root, &p.config, &p.data_path, &p.store, &p.settings_dir)
                            == (&o.root, &o.config, &o.data_path, &o.store, &o.settings_dir)
                            && p.control_socket == o.control_socket
                    }) {
                        Some((_, rs)) => rs.push(r),
                        None => places.push((o, vec![r])),
                    }
                }
            }
            let mut found_any = false;
            for (o, procs) in places {
                // Found through these processes' own command lines: theirs alone.
                let pids: Vec<u32> = if named_paths {
                    Vec::new()
                } else {
                    procs.iter().map(|r| r.pid).collect()
                };
                let opened = match adapters::open(kind, &o) {
                    Err(e @ crate::error::StoreError::NotFound { .. }) if missing_ok => {
                        tracing::warn!("{e}");
                        Vec::new()
                    }
                    // A running shipper's own config that cannot be read: it is still owed.
                    Err(e) if !named_paths && !procs.is_empty() => {
                        for r in &procs {
                            found.unreadable(r, &o, &e.to_string());
                        }
                        found_any = true;
                        continue;
                    }
                    other => other.map_err(|source| SourcesError::Store { kind, source })?,
                };
                if opened.is_empty() {
                    if let adapters::Access::Reads {
                        idle: Some(idle), ..
                    } = kind.info().access
                    {
                        if idle(&o) {
                            // A local syslog daemon: it tails no file and forwards nothing.
                            tracing::debug!("{kind} runs but tails no file and forwards nothing");
                            continue;
                        }
                    }
                    if !procs.is_empty() {
                        let why = no_store_why(kind, &o);
                        for r in &procs {
                            found.unreadable(r, &o, &why);
                        }
                        found_any = !missing_ok;
                    }
                    continue;
                }
                found_any = true;
                found.add(opened, pids, (o.root != root).then(|| o.root.clone()));
            }
            if !found_any && explicit && kind.supported() {
                return Err(SourcesError::NoStore { kind });
            }
            if found_any {
                if let Some(p) = pid_file {
                    pid_files.push((kind, p));
                }
            }
        }
        // Shippers drainguard cannot read at all.
        let unsupported = running.iter().filter(|r| !r.kind.supported());
        if auto_detected || by_pid.is_some() {
            for r in unsupported {
                found.unreadable(r, &base, "");
            }
        } else {
            let others: Vec<String> = running
                .iter()
                .filter(|r| !kinds.contains(&r.kind))
                .map(|r| format!("{} (pid {})", r.kind, r.pid))
                .collect();
            if !others.is_empty() {
                tracing::warn!(
                    "other log shippers run on this host and are not checked (not named): {}",
                    others.join(", ")
                );
            }
        }
        Ok(Sources {
            root,
            settings,
            readers: found.readers,
            owners: found.owners,
            roots: found.roots,
            pid_files,
            auto_detected,
            peers: Default::default(),
            tails: Default::default(),
            http: base.http.clone(),
            pid_override: sel.shipper_pid,
            incremental: Incremental::default(),
            published: Default::default(),
        })
    }
}

/// The readers opened so far, with each one's owning pids and root.
#[derive(Default)]
struct Found {
    readers: Vec<Box<dyn StoreReader>>,
    owners: Vec<Vec<u32>>,
    roots: Vec<Option<Root>>,
    /// The boot-time check: a shipper that cannot be read is a warning, not a store.
    missing_ok: bool,
}

impl Found {
    fn add(&mut self, opened: adapters::Readers, pids: Vec<u32>, root: Option<Root>) {
        self.owners.extend(std::iter::repeat_n(pids, opened.len()));
        self.roots.extend(std::iter::repeat_n(root, opened.len()));
        self.readers.extend(opened);
    }

    /// A running shipper that cannot be read: an unconfirmed store; for the boot-time check
    /// (which opens stores and ignores the backlog), a warning.
    fn unreadable(&mut self, r: &Running, o: &SourceOptions, why: &str) {
        let reader = unreadable(r, o, why);
        if self.missing_ok {
            tracing::warn!(
                "{}; every drain will be unconfirmed (exit 2) while it runs",
                reader.describe()
            );
        } else {
            self.readers.push(reader);
            self.owners.push(vec![r.pid]);
            self.roots.push(None);
        }
    }
}

/// The store of a running shipper that cannot be read: named by its config (from its command
/// line) or its `/proc` entry, saying why (`why`, else the shipper's own reason) and what to do.
fn unreadable(r: &Running, opts: &SourceOptions, why: &str) -> Box<Unreadable> {
    let known = r.kind.info();
    let cwd = r.cwd.as_deref().map(|c| opts.root.local_to_host(c));
    let cl = known.command_line_paths(&r.argv, cwd.as_deref());
    let shown = opts
        .config
        .clone()
        .or(cl.config)
        .unwrap_or_else(|| PathBuf::from(format!("/proc/{}", r.pid)));
    let why = if why.is_empty() {
        known.unsupported_why().to_string()
    } else {
        why.to_string()
    };
    let fix = if r.kind.supported() {
        format!(
            "point drainguard at its store (--shipper {kind} --config/--data-path/--registry, or \
             [[shipper]] in the settings file)",
            kind = r.kind
        )
    } else {
        "stop it before the drain (its own stop flushes what it can), or name the shippers to \
         check with --shipper or the settings file to leave it out knowingly"
            .to_string()
    };
    Box::new(Unreadable {
        kind: r.kind,
        pid: r.pid,
        shown,
        why: format!(
            "{} runs as pid {} ({}), but {why}, so nothing proves it delivered what it read; {fix}",
            r.kind,
            r.pid,
            r.command_line()
        ),
    })
}

/// Why a running supported shipper has no store drainguard found.
fn no_store_why(kind: ShipperKind, o: &SourceOptions) -> String {
    match &o.config {
        Some(c) => format!(
            "no {kind} store was found from its config {}",
            crate::display::path(c)
        ),
        None => format!("no {kind} store was found in its usual locations"),
    }
}

/// Refuses a `--config` whose syntax is another shipper's.
fn check_format(root: &Root, config: &Path, kind: ShipperKind) -> Result<(), SourcesError> {
    use std::io::Read;
    let local = root.host_to_local(config);
    let mut text = Vec::new();
    // The bounded opener: a FIFO or device as --config must not block here (the adapter
    // reports what it is).
    if let Ok((f, _)) = crate::safe_read::open(&local) {
        let _ = f
            .take(crate::adapters::sniff::SNIFF_LIMIT)
            .read_to_end(&mut text);
    }
    let text = String::from_utf8_lossy(&text);
    match crate::adapters::sniff::looks_like(&text) {
        Some(other) if other != kind => {
            let how = if other.supported() {
                format!("name it with --shipper {other}")
            } else {
                format!("drainguard cannot read {other} yet")
            };
            Err(SourcesError::OtherFormat {
                config: crate::display::path(config).to_string(),
                other,
                kind,
                why: if kind == adapters::DEFAULT_SHIPPER.kind {
                    format!("{kind} is assumed when no --shipper is given")
                } else {
                    "--shipper names the format".to_string()
                },
                how,
            })
        }
        _ => Ok(()),
    }
}

/// Every shipper kind drainguard reads, in report order.
pub fn all_kinds() -> Vec<ShipperKind> {
    ShipperKind::all_supported()
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
        let _round = self.http.round();
        self.readers.iter_mut().map(|r| r.read()).collect()
    }

    /// [`Sources::read`] for a caller that reads once (`status`): readers may move their
    /// state into the snapshots ([`crate::adapters::StoreReader::read_last`]).
    pub fn read_last(&mut self) -> Result<Vec<StoreSnapshot>, crate::error::StoreError> {
        let _round = self.http.round();
        self.readers.iter_mut().map(|r| r.read_last()).collect()
    }

    /// Compares snapshots (from [`Sources::read`]) with the disk: one assessment.
    pub fn assess_snapshots(
        &self,
        snapshots: &[StoreSnapshot],
        pid_override: Option<u32>,
    ) -> crate::backlog::Assessment {
        self.assess_snapshots_with(snapshots, pid_override, crate::backlog::Detail::Every)
    }

    /// [`Sources::assess_snapshots`], reporting the files `detail` asks for.
    pub fn assess_snapshots_with(
        &self,
        snapshots: &[StoreSnapshot],
        pid_override: Option<u32>,
        detail: crate::backlog::Detail,
    ) -> crate::backlog::Assessment {
        let (at, envs) = self.envs(snapshots, pid_override, detail);
        let shippers = snapshots
            .iter()
            .zip(at)
            .map(|(s, e)| crate::backlog::assess(s, &envs[e]))
            .collect();
        crate::backlog::combine(shippers)
    }

    /// The environment of each snapshot (an index into the list): one per shipper, shared by
    /// its stores, so that its pids are looked up and its sockets read once per assessment,
    /// however many stores it has. A store found through a process's command line is that
    /// process's alone. `detail` says which files get a report of their own.
    fn envs(
        &self,
        snapshots: &[StoreSnapshot],
        pid_override: Option<u32>,
        detail: crate::backlog::Detail,
    ) -> (Vec<usize>, Vec<crate::backlog::Env>) {
        let mut index: std::collections::HashMap<(ShipperKind, Vec<u32>), usize> =
            Default::default();
        let mut envs = Vec::new();
        let mut at = Vec::with_capacity(snapshots.len());
        for (i, snapshot) in snapshots.iter().enumerate() {
            let owners = self.owners.get(i).cloned().unwrap_or_default();
            let e = *index
                .entry((snapshot.shipper, owners.clone()))
                .or_insert_with(|| {
                    envs.push(crate::backlog::Env {
                        root: self
                            .roots
                            .get(i)
                            .cloned()
                            .flatten()
                            .unwrap_or_else(|| self.root.clone()),
                        shipper_pids: match pid_override {
                            None if !owners.is_empty() => owners
                                .iter()
                                .copied()
                                .filter(|p| crate::process::ProcFs::default().is_alive(*p))
                                .collect(),
                            _ => self.shipper_pids(snapshot.shipper, pid_override),
                        },
                        peers: self.peers.clone(),
                        tails: self.tails.clone(),
                        detail,
                        ..Default::default()
                    });
                    envs.len() - 1
                });
            at.push(e);
        }
        (at, envs)
    }

    /// [`Sources::assess_snapshots`] for `wait`: the tracked files' directories are watched
    /// first, and each store that can be is tracked for [`Sources::assess_changes`].
    fn assess_tracked(&mut self, snapshots: &[StoreSnapshot]) -> crate::backlog::Assessment {
        use crate::backlog::incremental::Prepared;
        let (at, envs) = self.envs(snapshots, self.pid_override, crate::backlog::Detail::Every);
        let inc = &mut self.incremental;
        inc.trackers.clear();
        if inc.watch.is_none() && !inc.unavailable {
            inc.watch = filewatch::FileWatch::new();
            inc.unavailable = inc.watch.is_none();
        }
        let prepared: Vec<Option<Prepared>> = match &mut inc.watch {
            Some(w) => snapshots
                .iter()
                .zip(&at)
                .map(|(s, &e)| Prepared::new(s, &envs[e], w))
                .collect(),
            None => Vec::new(),
        };
        // What happened before the stats below is in them.
        if let Some(w) = &mut inc.watch {
            w.round();
        }
        let mut shippers = Vec::with_capacity(snapshots.len());
        let mut prepared = prepared.into_iter();
        for (s, &e) in snapshots.iter().zip(&at) {
            match prepared.next().flatten() {
                Some(p) => {
                    let (b, t) = p.assess(s, &envs[e]);
                    shippers.push(b);
                    inc.trackers.push(t);
                }
                None => {
                    shippers.push(crate::backlog::assess(s, &envs[e]));
                    inc.trackers.push(None);
                }
            }
        }
        crate::backlog::combine(shippers)
    }

    /// Brings `last` (the assessment of the previous read, from [`crate::wait::Watched::assess`]
    /// or this) up to date with `snapshots` (the read after it) by re-assessing only what the
    /// stores' reads and the tracked files' directory events changed; the progress marker of
    /// `snapshots`. `None` when some store cannot be brought up to date that way (then `last`
    /// may hold some stores' new state and others' old: assess fully).
    fn assess_changes(
        &mut self,
        snapshots: &[StoreSnapshot],
        last: &mut crate::backlog::Assessment,
    ) -> Option<u64> {
        let ok = self.try_changes(snapshots, last);
        if ok.is_none() {
            self.incremental.trackers.clear();
        }
        ok
    }

    fn try_changes(
        &mut self,
        snapshots: &[StoreSnapshot],
        last: &mut crate::backlog::Assessment,
    ) -> Option<u64> {
        let n = snapshots.len();
        if self.incremental.trackers.len() != n || last.shippers.len() != n {
            return None;
        }
        let (at, envs) = self.envs(snapshots, self.pid_override, crate::backlog::Detail::Every);
        let inc = &mut self.incremental;
        let watch = inc.watch.as_mut()?;
        let round = watch.round();
        let mut marker = 0u64;
        for (i, s) in snapshots.iter().enumerate() {
            let t = inc.trackers[i].as_mut()?;
            let changed = self.readers.get(i)?.changed()?;
            let b = &mut last.shippers[i];
            if (b.shipper, &b.store) != (s.shipper, &s.store)
                || !t.update(s, changed, &round, &envs[at[i]], watch, b)
            {
                return None;
            }
            marker = marker.saturating_add(t.marker());
        }
        *last = crate::backlog::combine(std::mem::take(&mut last.shippers));
        Some(marker)
    }
}

/// `wait`'s incremental assessment: the inotify watches and one tracker per store.
#[derive(Default)]
pub struct Incremental {
    watch: Option<filewatch::FileWatch>,
    /// Per reader, after a full assessment (cleared when a round could not be tracked).
    trackers: Vec<Option<crate::backlog::incremental::Tracker>>,
    /// No inotify instance could be had.
    unavailable: bool,
}

/// The message for a host where no shipper was named, no store exists and no shipper
/// process runs.
pub fn nothing_found() -> String {
    let names: Vec<&str> = all_kinds().iter().map(|k| k.name()).collect();
    let others: Vec<&str> = crate::adapters::ALL
        .iter()
        .filter(|k| !k.supported())
        .map(|k| k.name)
        .collect();
    format!(
        "no log shipper found on this host (no store of {} in their usual locations, and no \
         process of those or of {}); nothing to drain. Name one with --shipper and \
         --data-path/--registry, or in the settings file",
        names.join(", "),
        others.join(", ")
    )
}

/// `wait` watches the sources: their stores, re-read on every wake-up, and the shippers'
/// processes (the selection's `shipper_pid` when given).
impl crate::wait::Watched for Sources {
    fn read(&mut self) -> Result<Vec<StoreSnapshot>, StoreError> {
        Sources::read(self)
    }

    fn assess(&mut self, snapshots: &[StoreSnapshot]) -> crate::backlog::Assessment {
        self.assess_tracked(snapshots)
    }

    fn assess_changes(
        &mut self,
        snapshots: &[StoreSnapshot],
        last: &mut crate::backlog::Assessment,
    ) -> Option<u64> {
        Sources::assess_changes(self, snapshots, last)
    }

    fn changes_known(&self) -> Vec<bool> {
        self.readers.iter().map(|r| r.changed().is_some()).collect()
    }

    fn shipper_alive(&self, kind: ShipperKind) -> bool {
        !self.shipper_pids(kind, self.pid_override).is_empty()
    }

    fn watch_paths(&self) -> Vec<PathBuf> {
        self.readers.iter().flat_map(|r| r.watch_paths()).collect()
    }

    fn recycle(&mut self, snapshots: Vec<StoreSnapshot>) {
        // One snapshot per reader, in order ([`Sources::read`]).
        for (r, s) in self.readers.iter_mut().zip(snapshots) {
            r.recycle(s);
        }
    }
}
