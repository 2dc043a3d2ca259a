//! The legacy CloudWatch Logs agent "awslogs" (`aws logs push --config-file ...`, the
//! `awscli-cwlogs` 1.4.x plugin of awscli v1; the Amazon Linux `awslogs` RPM and
//! `awslogs-agent-setup.py` both run it). Read from its source, `cwlogs/push.py` and
//! `cwlogs/kvstore.py` of awscli-cwlogs 1.4.6, and tested against that agent.
//!
//! - `config`: the INI config and its `--additional-configs-dir`; one stream per section,
//!   whose `file` glob the agent narrows to the most recently modified match.
//! - `store`: the SQLite `state_file`, read as an in-memory image (nothing written or locked);
//!   `push_state` is keyed by the file's source id, `md5(section name + fingerprint lines)`,
//!   recomputed here from the file as the agent does.
//! - `agentlog`: the agent's log, whose `Publish batch` lines confirm a batch.
//!
//! What the offset proves: the row is saved *before* each PutLogEvents call, and a stream's
//! publisher is sequential, so `[0, start_position)` was accepted (or skipped by the agent),
//! while `[start_position, end_position)` was handed to PutLogEvents and may still be in
//! flight. The cursor is `end_position` ("sent or given up"); the in-flight batch is owed
//! until the agent's log confirms it, and unconfirmed when the log cannot be read. Nothing
//! is written after a successful call, so without the log the last batch is never proven.

pub mod agentlog;
pub mod config;
pub mod store;

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cursor::{
    Cursor, Identity, InputSpec, OffsetMeaning, Owed, QueueSignal, QueueState, ShipperKind,
    StoreSnapshot,
};
use crate::error::StoreError;

use super::agent_log::DropLog;
use super::common::{self, Store};
use super::shipper::{flag, Access, ProcessMatch, ShipperInfo, Target};
use super::{Readers, SourceOptions, StoreReader};

pub use config::{Config, Section};
pub use store::{fingerprint, Fingerprint, PushState, StateDb};

pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Awslogs,
    name: "awslogs",
    aliases: &["awslogsd", "awscli-cwlogs"],
    processes: &[ProcessMatch {
        names: &["python*", "awslogs", "awslogsd"],
        // `aws logs push` (also when run as `python .../aws logs push`); a bare "awslogs"
        // would match any Python program under a directory of that name.
        words: &["aws logs push"],
    }],
    flags: &[
        flag(&["--config-file"], Target::Config),
        // Its stream sections are merged into the config's.
        flag(&["--additional-configs-dir"], Target::SettingsDir),
    ],
    services: &["awslogsd", "awslogs"],
    config_paths: &[config::RPM_CONFIG, config::SETUP_CONFIG],
    data_paths: &[config::RPM_STATE, config::SETUP_STATE],
    // `readline()` reads to the newline whatever the length (the event is cut at 256 KiB).
    max_line_bytes: None,
    // Python's `glob.glob` without `recursive`: `**` is `*`.
    glob_depth: 1,
    config_syntax: Some(r"(?m)^\s*state_file\s*[=:]|^\[general\]\s*$"),
    api: None,
    access: Access::Reads { open, idle: None },
};

/// The format name in reports.
pub const FORMAT: &str = "awslogs agent state file (push_state)";

/// Extensions the agent never tails (`Stream._source_file`).
const ARCHIVES: [&str; 5] = [".tar", ".gz", ".zip", ".bz2", ".rar"];
/// The most rotated siblings of a tailed file fingerprinted per section and read.
const MAX_SIBLINGS: usize = 64;

/// Opens the agent's state file: `--store`, else `[general] state_file` of its config
/// (`--config` or the running agent's `--config-file`, else the RPM's or the setup script's),
/// else the installers' default locations. Empty when neither a config nor a state file is
/// there.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let root = &opts.root;
    let found = common::read_config(opts, &[config::RPM_CONFIG, config::SETUP_CONFIG])?;
    let cfg = match &found {
        Some((local, text)) => {
            // The additional directory: the command line's, else the one the installer
            // that wrote this default config passes.
            let extra = match &opts.settings_dir {
                Some(d) => Some(root.host_to_local(d)),
                None if opts.config.is_none() => {
                    let host = root.local_to_host(local);
                    let dir = if host == Path::new(config::RPM_CONFIG) {
                        config::RPM_CONFIG_DIR
                    } else {
                        config::SETUP_CONFIG_DIR
                    };
                    Some(root.host_to_local(Path::new(dir)))
                }
                None => None,
            };
            config::parse(local, text, extra.as_deref())?
        }
        None => Config::default(),
    };
    let store = if opts.store.is_some() {
        match common::locate(opts, "awslogs", &[])? {
            Some(p) => Store::File(p),
            None => return Ok(Vec::new()),
        }
    } else if let (Some(conf), Some(state)) = (&cfg.source, &cfg.state_file) {
        if state.is_absolute() {
            Store::configured(root, state, conf, |s| {
                format!("state_file {s} holds a variable; give the state file with --store")
            })
        } else {
            Store::unknown(
                conf,
                format!(
                    "state_file {} is relative: the agent opens it in its working directory, \
                     which drainguard does not know; give the state file with --store, or an \
                     absolute state_file in [general]",
                    state.display()
                ),
            )
        }
    } else {
        let candidates = [
            PathBuf::from(config::RPM_STATE),
            PathBuf::from(config::SETUP_STATE),
        ];
        match common::locate(opts, "awslogs", &candidates)? {
            Some(p) => Store::File(p),
            None => return Ok(Vec::new()),
        }
    };
    Ok(vec![Box::new(AwslogsReader::new(opts, cfg, store))])
}

/// Reads the state file; remembers what the agent's log confirmed.
pub struct AwslogsReader {
    root: crate::root::Root,
    cfg: Config,
    store: Store,
    /// The agent's log (local path) once found, and its scanners.
    log: Option<(agentlog::PublishLog, DropLog)>,
    /// Batches seen in flight (source id -> section, file, row) until the agent's log
    /// confirms them or their row moves past them: a file deleted (or moved away) while its
    /// last batch is in flight is matched to no row any more, but the agent still holds the
    /// batch.
    flying: HashMap<String, Flying>,
}

/// A batch in flight: its section, its file (host path) and its row.
type Flying = (String, PathBuf, PushState);

impl AwslogsReader {
    fn new(opts: &SourceOptions, cfg: Config, store: Store) -> Self {
        AwslogsReader {
            root: opts.root.clone(),
            cfg,
            store,
            log: None,
            flying: HashMap::new(),
        }
    }

    /// Where the agent logs: a file handler of `logging_config_file`, else the running
    /// agent's stderr when it is a file (the installers' launchers append it to
    /// /var/log/awslogs.log), else /var/log/awslogs.log. Local paths; the first that exists.
    fn log_candidates(&self, pids: &[u32]) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(lc) = &self.cfg.logging_config {
            let local = self.root.host_to_local(lc);
            if let Ok(text) = common::read_config_file(&local) {
                if let Ok(files) = config::logging_files(&local, &text) {
                    out.extend(files.iter().map(|f| self.root.host_to_local(f)));
                }
            }
        }
        for pid in pids {
            for fd in [2, 1] {
                let link = PathBuf::from(format!("/proc/{pid}/fd/{fd}"));
                if let Ok(target) = std::fs::read_link(&link) {
                    if target.is_absolute() && std::fs::metadata(&target).is_ok_and(|m| m.is_file())
                    {
                        out.push(target);
                    }
                }
            }
        }
        out.push(self.root.host_to_local(Path::new(config::AGENT_LOG)));
        out
    }

    /// The publish-log signal's scanners, found (or found again) for this read. A log missing
    /// at its path keeps its scanners until one is found elsewhere (a log rotated or being
    /// recreated comes back to them: they follow it, and the give-up lines seen stay seen).
    fn scan_log(&mut self, pids: &[u32]) -> Result<(), String> {
        if self.log.as_ref().is_none_or(|(l, _)| !l.path().exists()) {
            let found = self.log_candidates(pids).into_iter().find(|p| p.exists());
            match (found, &mut self.log) {
                (Some(p), Some((l, drops))) if p != l.path() => {
                    *l = agentlog::PublishLog::new(p.clone());
                    drops.follow(p);
                }
                (Some(p), None) => {
                    self.log = Some((
                        agentlog::PublishLog::new(p.clone()),
                        DropLog::new(
                            "awslogs agent log",
                            p,
                            agentlog::gave_up,
                            "logging_config_file",
                        ),
                    ))
                }
                _ => {}
            }
        }
        match &mut self.log {
            Some((l, _)) => l.scan(),
            None => Err(format!(
                "no agent log found (logging_config_file's file handler, the agent's stderr, \
                 {})",
                config::AGENT_LOG
            )),
        }
    }

    /// The running agents of this config: those whose `--config-file` is it (every agent
    /// when no config was found).
    fn agents(&self) -> Vec<u32> {
        let procfs = crate::process::ProcFs::default();
        let host_conf = self.cfg.source.as_ref().map(|c| self.root.local_to_host(c));
        procfs
            .find(&self.root, ShipperKind::Awslogs, None)
            .into_iter()
            .filter(|&pid| {
                let Some(conf) = &host_conf else {
                    return true;
                };
                procfs.identify(pid).is_some_and(|r| {
                    let cwd = r.cwd.as_deref().map(|c| self.root.local_to_host(c));
                    INFO.command_line_paths(&r.argv, cwd.as_deref())
                        .config
                        .as_deref()
                        == Some(conf.as_path())
                })
            })
            .collect()
    }

    fn snapshot(&self, store: &Path) -> StoreSnapshot {
        common::snapshot(
            ShipperKind::Awslogs,
            store,
            FORMAT,
            OffsetMeaning::SentOrGivenUp,
        )
    }
}

/// The files of one section, as the agent picks them: regular files matching the glob, not
/// archives, most recently modified first.
fn candidates(root: &crate::root::Root, s: &Section, notes: &mut Vec<String>) -> Vec<PathBuf> {
    let local = root.host_to_local(Path::new(&s.file));
    let depth = crate::glob_walk::recursive_depth(ShipperKind::Awslogs);
    let mut files: Vec<(PathBuf, std::time::SystemTime)> =
        match crate::glob_walk::expand(&local.to_string_lossy(), depth) {
            Ok(m) => m,
            Err(e) => {
                notes.push(format!("[{}] file {}: {e}", s.name, s.file));
                return Vec::new();
            }
        }
        .into_iter()
        .filter_map(|p| {
            let m = std::fs::metadata(&p).ok().filter(|m| m.is_file())?;
            (!is_archive(&p)).then(|| (p, m.modified().unwrap_or(std::time::UNIX_EPOCH)))
        })
        .collect();
    files.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    files.dedup_by(|a, b| a.0 == b.0);
    files.into_iter().map(|(p, _)| p).collect()
}

/// True for a name the agent skips (`os.path.splitext(f)[1]` one of [`ARCHIVES`]).
fn is_archive(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| ARCHIVES.iter().any(|a| a.as_bytes()[1..] == *e.as_bytes()))
}

/// Rotated siblings of `file` (`app.log.1`, `app.log-20261202`): the other files of its
/// directory whose name starts with its name, which an agent still reading them to their end
/// (after a rotation) holds a `push_state` row for.
fn siblings(file: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            n.as_bytes().len() > name.as_bytes().len()
                && n.as_bytes().starts_with(name.as_bytes())
                && e.file_type().is_ok_and(|t| t.is_file())
        })
        .map(|e| e.path())
        .filter(|p| !skip.contains(p) && !is_archive(p))
        .collect();
    out.sort();
    out.truncate(MAX_SIBLINGS);
    out
}

impl StoreReader for AwslogsReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Awslogs
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        let mut v = self.store.parent_dir();
        if let Some((l, _)) = &self.log {
            v.extend(common::parent_dir(l.path()));
        }
        v
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let db_path = match &self.store {
            Store::Unknown { config, why } => {
                let mut snap =
                    common::unassessable(ShipperKind::Awslogs, config, "awslogs push_state", why);
                snap.notes.extend(self.cfg.notes.iter().cloned());
                return Ok(snap);
            }
            Store::File(p) => p.clone(),
        };
        let pids = self.agents();
        let log_state = self.scan_log(&pids);
        let mut snap = self.snapshot(&db_path);
        snap.notes.extend(self.cfg.notes.iter().cloned());
        let db = if db_path.exists() {
            Some(StateDb::read(&db_path)?)
        } else {
            snap = common::not_written_yet(
                snap,
                &self.root.local_to_host(&db_path),
                "the agent creates it when it starts",
                "the configured files",
            );
            None
        };
        if self.cfg.source.is_none() {
            snap.notes.push(
                "no agent config was found, so the tailed files are not known: give it with \
                 --config (the agent's --config-file)"
                    .into(),
            );
        }
        let mut matched = Vec::new();
        for s in &self.cfg.sections.clone() {
            self.section(s, db.as_ref(), &log_state, &mut snap, &mut matched)?;
        }
        self.still_flying(matched, db.as_ref(), &log_state, &mut snap)?;
        match (&mut self.log, &log_state) {
            (Some((_, drops)), Ok(())) => {
                snap.queues.push(drops.signal());
                snap.notes.extend(drops.earlier_note());
            }
            (_, Err(why)) => snap.queues.push(common::unknown_queue(
                "awslogs agent log",
                &format!(
                    "{why}: the last batch of each file is handed to PutLogEvents before the \
                     agent records it, and only the agent's log says it was accepted; let \
                     drainguard read that log (a file handler in logging_config_file, or the \
                     launcher's >> {})",
                    config::AGENT_LOG
                ),
            )),
            (None, Ok(())) => {}
        }
        if pids.is_empty() && snap.cursors.iter().any(|c| c.offset > 0) {
            snap.notes.push(
                "the agent is not running: lines it had read but not yet batched (up to \
                 buffer_duration, 5 s by default) were not sent when it stopped; it re-reads \
                 them from start_position at its next start"
                    .into(),
            );
        }
        Ok(snap)
    }
}

impl AwslogsReader {
    /// One section: its newest file (the one the agent tails) and rotated siblings the DB
    /// still has rows for.
    fn section(
        &self,
        s: &Section,
        db: Option<&StateDb>,
        log_state: &Result<(), String>,
        snap: &mut StoreSnapshot,
        matched: &mut Vec<(String, Option<Flying>)>,
    ) -> Result<(), StoreError> {
        if !s.file.starts_with('/') {
            snap.queues.push(common::unknown_queue(
                &format!("awslogs [{}]", s.name),
                &format!(
                    "file {:?} is relative: the agent globs it in its working directory, which \
                     drainguard does not know; make it absolute",
                    s.file
                ),
            ));
            return Ok(());
        }
        let files = candidates(&self.root, s, &mut snap.notes);
        let Some(newest) = files.first().cloned() else {
            snap.inputs.push(InputSpec::globs(
                s.name.clone(),
                std::slice::from_ref(&s.file),
                &[],
            ));
            return Ok(());
        };
        let host_newest = self.root.local_to_host(&newest);
        snap.inputs.push(InputSpec::globs(
            s.name.clone(),
            &[glob::Pattern::escape(&host_newest.to_string_lossy())],
            &[],
        ));
        if files.len() > 1 {
            snap.notes.push(format!(
                "[{}]: {} other file(s) match {} but the agent tails only the most recently \
                 modified one ({}); the others are shipped only if it was still reading them",
                s.name,
                files.len() - 1,
                s.file,
                crate::display::path(&host_newest)
            ));
        }
        let mut others: Vec<PathBuf> = files[1..].to_vec();
        others.extend(siblings(&newest, &files));
        let mut newest_id = None;
        let mut newest_has_row = false;
        for (i, f) in std::iter::once(&newest).chain(others.iter()).enumerate() {
            let host = self.root.local_to_host(f);
            let fp = match fingerprint(f, &s.name, s.fingerprint_lines) {
                Ok(fp) => fp,
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue
                }
                Err(e) => {
                    snap.queues.push(common::unknown_queue(
                        &format!("awslogs [{}] {}", s.name, crate::display::path(&host)),
                        &format!("{e}: its source id cannot be computed"),
                    ));
                    continue;
                }
            };
            let (source_id, dev, ino, size) = match fp {
                Fingerprint::Id {
                    source_id,
                    dev,
                    ino,
                    size,
                } => (source_id, dev, ino, size),
                Fingerprint::TooShort { size, .. } => {
                    if i == 0 && size > 0 {
                        snap.notes.push(format!(
                            "[{}]: {} has fewer lines than file_fingerprint_lines ({}-{}) \
                             needs: the agent does not tail it until it has them",
                            s.name,
                            crate::display::path(&host),
                            s.fingerprint_lines.0,
                            s.fingerprint_lines.1
                        ));
                    }
                    continue;
                }
                Fingerprint::TooLong => {
                    snap.queues.push(common::unknown_queue(
                        &format!("awslogs [{}] {}", s.name, crate::display::path(&host)),
                        &format!(
                            "its fingerprint lines run past {}: drainguard does not hash that \
                             much, so which push_state row is its own is unknown",
                            crate::display::bytes(store::MAX_FINGERPRINT_BYTES)
                        ),
                    ));
                    continue;
                }
            };
            if i == 0 {
                newest_id = Some(source_id.clone());
            } else if newest_id.as_deref() == Some(source_id.as_str()) {
                snap.queues.push(common::unknown_queue(
                    &format!(
                        "awslogs [{}] {}",
                        s.name,
                        crate::display::path(&host_newest)
                    ),
                    &format!(
                        "{} has the same fingerprint lines as {}: the agent cannot tell them \
                         apart (one push_state row, and no rotation is noticed, so the new file \
                         is not read while the agent runs); set file_fingerprint_lines to lines \
                         that differ between files (e.g. one with a timestamp)",
                        crate::display::path(&host),
                        crate::display::path(&host_newest)
                    ),
                ));
                continue;
            }
            let row = match db {
                Some(db) => db.push_state(&source_id)?,
                None => None,
            };
            let offset = match (row, db) {
                (Some(r), _) => r.end_position,
                // A rotated file without a row: never read, or read before the DB existed.
                (None, _) if i > 0 => continue,
                (None, Some(db)) => match db.stream_state(&s.name)? {
                    // The stream started on this very file: it starts at initial_position.
                    Some(st) if st.source_id.as_deref() == Some(source_id.as_str()) => {
                        st.initial_position
                    }
                    _ => 0,
                },
                (None, None) => 0,
            };
            // A rotated file read to its end: its last batch was sent once the stream has
            // recorded a batch of the newer file (the publisher sends one batch at a time, in
            // order; a publisher that died instead is a give-up line of the log signal). It
            // stays a cursor (shipped): a file that vanished from the store would stay owed.
            let sibling_done =
                i > 0 && newest_has_row && row.is_some_and(|r| r.end_position >= size);
            if i == 0 {
                newest_has_row = row.is_some();
            }
            if let Some(r) = row {
                if r.end_position > size {
                    snap.queues.push(common::unknown_queue(
                        &format!("awslogs [{}] {}", s.name, crate::display::path(&host)),
                        &format!(
                            "its push_state row says {} bytes were handed on but the file has \
                             {size}: it was truncated, or replaced by a file with the same \
                             fingerprint lines; the agent reads nothing of it until it grows \
                             past that position",
                            r.end_position
                        ),
                    ));
                }
                let q = if sibling_done {
                    None
                } else {
                    self.in_flight(&s.name, &host, &source_id, r, log_state)
                };
                matched.push((
                    source_id.clone(),
                    q.is_some().then(|| (s.name.clone(), host.clone(), r)),
                ));
                snap.queues.extend(q);
            }
            snap.cursors.push(Cursor {
                key: format!("[{}] {source_id}", s.name).into(),
                identity: Identity::DevInode { dev, ino },
                path: Some(host.into()),
                offset,
                unit: Default::default(),
            });
        }
        Ok(())
    }

    /// Remembers the batches in flight of the files `matched` this read (source id, and the
    /// batch when one is in flight), and keeps owed those seen before whose file was not
    /// found this read, until the log confirms them or their row moves past them.
    fn still_flying(
        &mut self,
        matched: Vec<(String, Option<Flying>)>,
        db: Option<&StateDb>,
        log_state: &Result<(), String>,
        snap: &mut StoreSnapshot,
    ) -> Result<(), StoreError> {
        let mut seen = std::collections::HashSet::new();
        for (id, flying) in matched {
            match flying {
                Some(f) => self.flying.insert(id.clone(), f),
                None => self.flying.remove(&id),
            };
            seen.insert(id);
        }
        let gone: Vec<(String, Flying)> = self
            .flying
            .iter()
            .filter(|(id, _)| !seen.contains(*id))
            .map(|(id, f)| (id.clone(), f.clone()))
            .collect();
        for (id, (section, host, r)) in gone {
            let moved_on = match db {
                Some(db) => db
                    .push_state(&id)?
                    .is_some_and(|now| now.start_position >= r.end_position),
                None => false,
            };
            let q = if moved_on {
                None
            } else {
                self.in_flight(&section, &host, &id, r, log_state)
            };
            match q {
                Some(q) => {
                    snap.notes.push(format!(
                        "[{section}]: {} is gone (deleted or moved away) while its last batch                          was in flight: the agent holds that batch until its log says it was                          published",
                        crate::display::path(&host)
                    ));
                    snap.queues.push(q);
                }
                None => {
                    self.flying.remove(&id);
                }
            }
        }
        Ok(())
    }

    /// The signal of a row's batch `[start, end)` not yet confirmed by the agent's log.
    fn in_flight(
        &self,
        section: &str,
        host: &Path,
        source_id: &str,
        r: PushState,
        log_state: &Result<(), String>,
    ) -> Option<QueueSignal> {
        if r.start_position >= r.end_position {
            return None;
        }
        let source = format!(
            "awslogs batch [{}, {}) of {} ([{}])",
            r.start_position,
            r.end_position,
            crate::display::path(host),
            section
        );
        match (log_state, &self.log) {
            (Ok(()), Some((l, _))) if l.confirms(source_id, r.end_position) => None,
            (Ok(()), Some((l, _))) => Some(QueueSignal {
                source,
                state: QueueState::owed(
                    format!(
                        "handed to PutLogEvents (the agent records a batch before sending it), \
                         not yet logged as published in {}",
                        crate::display::path(&self.root.local_to_host(l.path()))
                    ),
                    Owed {
                        queued_bytes: Some(r.end_position - r.start_position),
                        ..Owed::default()
                    },
                ),
            }),
            _ => Some(common::unknown_queue(
                &source,
                "handed to PutLogEvents, and whether it was accepted is only in the agent's \
                 log, which drainguard cannot read",
            )),
        }
    }
}

#[cfg(test)]
mod tests;
