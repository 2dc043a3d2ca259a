//! Amazon CloudWatch agent (`amazon-cloudwatch-agent`): its log file state files.
//!
//! One text state file per tailed file in `file_state_folder` (`store`), the tailed files from
//! the agent's TOML or JSON config (`config`). Identity is the path only. The offset proves
//! "PutLogEvents accepted the batch, or the agent gave it up" (since v1.300059.0 also a batch
//! dropped because the agent was stopped mid-retry): the agent's own log is the delivery
//! signal (dropped batches are logged there), and the drain must finish before the agent
//! stops. A rotated-away file's rest is tracked by no state file: reported as abandoned.

pub mod config;
pub mod store;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cursor::{
    Cursor, Identity, InputSpec, OffsetMeaning, QueueSignal, ShipperKind, StoreSnapshot,
};
use crate::error::StoreError;

use super::abandoned::Abandoned;
use super::agent_log::DropLog;
use super::common;
use super::shipper::{flag, m, Access, ShipperInfo, Target};
use super::{Readers, SourceOptions, StoreReader};

pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::CloudwatchAgent,
    name: "amazon-cloudwatch-agent",
    aliases: &["cloudwatch-agent", "start-amazon-cloudwatch-agent"],
    processes: &[m(&[
        "amazon-cloudwatch-agent",
        "start-amazon-cloudwatch-agent",
        // `comm` keeps only 15 bytes.
        "amazon-cloudwat",
        "start-amazon-cl",
    ])],
    flags: &[flag(&["-config", "--config"], Target::Config)],
    services: &["amazon-cloudwatch-agent"],
    config_paths: &[config::TOML, config::JSON],
    data_paths: &[config::STATE_FOLDER],
    // The tailer reads up to the newline whatever the length (`max_event_size` truncates
    // the event, not the read).
    max_line_bytes: None,
    glob_depth: 32,
    // Its generated TOML.
    config_syntax: Some(r"(?m)^\s*\[\[inputs\.logfile\]\]|^\s*file_state_folder\s*="),
    // Its log of dropped batches is read by the delivery signal, not an HTTP API.
    api: None,
    access: Access::Reads { open, idle: None },
};

pub use config::{Config, FileConfig};
pub use store::{parse, state_file_name, Parsed, Range, StateFile};

/// The format name in reports.
pub const FORMAT: &str = "cloudwatch agent state files";

/// A line the agent logs when it gives a batch up (its offsets then advance anyway):
/// `All N retries ... request dropped`, `Stop requested after ... request dropped`,
/// `... will not retry the request`.
fn dropped_batch(line: &str) -> bool {
    line.contains("request dropped") || line.contains("will not retry")
}

/// Extensions the agent never tails (`isCompressedFile`).
const COMPRESSED: [&str; 6] = [".tar", ".zst", ".gz", ".zip", ".bz2", ".rar"];

/// Opens the agent's state folder: `--store` (the folder), else `file_state_folder` from the
/// config (`--config` or the running agent's `-config`, else the usual locations), else the
/// default folder. Empty when neither a config nor the folder exists.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let cfg = config::load(&opts.root, opts.config.as_deref())?;
    let folder = match &opts.store {
        Some(s) => {
            let local = opts.root.host_to_local(s);
            std::fs::metadata(&local).map_err(|e| StoreError::io(&local, e))?;
            local
        }
        None => opts.root.host_to_local(&cfg.state_folder),
    };
    if cfg.source.is_none() && !folder.exists() {
        return Ok(Vec::new());
    }
    Ok(vec![Box::new(CloudwatchReader::new(opts, cfg, folder))])
}

/// Reads the state folder; remembers across reads what abandoned-byte and dropped-batch
/// detection need.
pub struct CloudwatchReader {
    root: crate::root::Root,
    cfg: Config,
    /// The state folder (local path), or one state file given with `--store`.
    folder: PathBuf,
    /// Some state file had a range list: the agent is v1.300057.0 or later.
    writes_ranges: bool,
    abandoned: Abandoned,
    log: DropLog,
}

impl CloudwatchReader {
    fn new(opts: &SourceOptions, cfg: Config, folder: PathBuf) -> Self {
        let log = DropLog::new(
            "cloudwatch agent log",
            opts.root.host_to_local(&cfg.logfile),
            dropped_batch,
            "agent.logfile",
        );
        CloudwatchReader {
            root: opts.root.clone(),
            cfg,
            folder,
            writes_ranges: false,
            abandoned: Abandoned::default(),
            log,
        }
    }
}

impl StoreReader for CloudwatchReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::CloudwatchAgent
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        if self.folder.is_dir() {
            vec![self.folder.clone()]
        } else {
            common::parent_dir(&self.folder)
        }
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let shown = self.root.local_to_host(&self.folder);
        if !self.folder.exists() {
            let mut snap = common::not_written_yet(
                common::snapshot(
                    ShipperKind::CloudwatchAgent,
                    &self.folder,
                    FORMAT,
                    OffsetMeaning::SentOrGivenUp,
                ),
                &shown,
                "the agent creates it when it first tails a file",
                "the configured files",
            );
            let mut notes = Vec::new();
            snap.inputs = self.inputs(&mut Vec::new(), &mut notes, &mut snap.queues);
            snap.notes.extend(notes);
            snap.queues.extend(self.unexpandable_signal());
            snap.queues.push(self.log.signal());
            snap.notes.extend(self.log.earlier_note());
            return Ok(snap);
        }
        let files = if self.folder.is_dir() {
            store::listing(&self.folder)?
        } else {
            vec![self.folder.clone()]
        };
        let mut snap = common::snapshot(
            ShipperKind::CloudwatchAgent,
            &self.folder,
            FORMAT,
            OffsetMeaning::SentOrGivenUp,
        );
        let mut states: Vec<(PathBuf, StateFile)> = Vec::new();
        let mut torn: Vec<(PathBuf, String)> = Vec::new();
        // One small file each: read in parallel, taken in name order (the first error wins).
        let expect = self.writes_ranges;
        let read: Vec<_> = {
            use rayon::prelude::*;
            files
                .par_iter()
                .map(|f| store::read_state(f, expect))
                .collect()
        };
        for (f, r) in files.iter().zip(read) {
            match r? {
                Ok(s) => states.push((f.clone(), s)),
                Err(why) if why.starts_with("deleted") => {}
                Err(why) => torn.push((f.clone(), why)),
            }
        }
        if !self.writes_ranges && states.iter().any(|(_, s)| s.ranges.is_some()) {
            // Now known to write range lists: a two-line file with an offset was cut.
            self.writes_ranges = true;
            for (f, s) in &mut states {
                if s.ranges.is_none() && s.max_end > 0 {
                    match store::read_state(f, true)? {
                        Ok(again) => *s = again,
                        Err(why) => torn.push((f.clone(), why)),
                    }
                }
            }
            let torn_files: Vec<PathBuf> = torn.iter().map(|(f, _)| f.clone()).collect();
            states.retain(|(f, _)| !torn_files.contains(f));
        }
        for (f, why) in &torn {
            snap.queues.push(common::unknown_queue(
                &format!(
                    "cloudwatch agent state file {}",
                    self.root.local_to_host(f).display()
                ),
                &format!(
                    "it was {why} on {} reads (the agent rewrites it in place every 100 ms, \
                     without a rename): its offset is unknown, never taken as 0; run again",
                    store::READ_ATTEMPTS
                ),
            ));
        }
        let mut entries = Vec::new();
        for (f, s) in &states {
            let path = common::path_from_bytes(&s.path);
            let offset = s.delivered_prefix();
            let gaps = s.gap_bytes();
            if gaps > 0 {
                snap.notes.push(format!(
                    "{}: {} below offset {} lie in gaps the agent has not marked sent; only \
                     [0, {offset}) is proven",
                    crate::display::path(&path),
                    crate::display::bytes(gaps),
                    s.max_end
                ));
            }
            entries.push((path.clone(), offset));
            snap.cursors.push(Cursor {
                key: f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
                    .into(),
                identity: Identity::Path,
                path: Some(path.into()),
                offset,
                unit: Default::default(),
            });
        }
        if self.cfg.max_persist_state > 1 {
            snap.notes.push(format!(
                "max_persist_state is {} (logs.concurrency > 0): when the agent holds more ranges \
                 than that it merges the two oldest over the gap between them, which is then \
                 invisible here",
                self.cfg.max_persist_state
            ));
        }
        let mut concrete = Vec::new();
        snap.inputs = self.inputs(&mut concrete, &mut snap.notes, &mut snap.queues);
        concrete.extend(entries.iter().map(|(p, _)| p.clone()));
        snap.queues.extend(collisions(&concrete));
        snap.queues.extend(self.unexpandable_signal());
        let pids =
            crate::process::ProcFs::default().find(&self.root, ShipperKind::CloudwatchAgent, None);
        self.abandoned.update(&self.root, &entries, &pids);
        if !pids.is_empty() {
            let (dirs, current) = super::abandoned::scope(&self.root, &concrete, &self.cfg.logfile);
            self.abandoned.scan_open(&self.root, &pids, &dirs, &current);
        }
        snap.queues.extend(self.abandoned.signals(
            ShipperKind::CloudwatchAgent,
            "on rotation the agent deletes the path's state file, reads the old file to its end \
             and records none of it (its state is keyed by path only)",
            "check the log group for the file's last lines; drain before rotating, or let \
             file_path match the rotated names too (app.log*) with publish_multi_logs = true so \
             a rotated file gets a state file of its own",
        ));
        snap.queues.push(self.log.signal());
        snap.notes.extend(self.log.earlier_note());
        Ok(snap)
    }
}

impl CloudwatchReader {
    /// The inputs of the config, as the agent picks files: compressed and blacklisted files
    /// and the state folder left out, and without `publish_multi_logs` only the most recently
    /// modified match of each glob (the others are never shipped: noted). `concrete` gets
    /// every file the agent tails now. A directory the glob walk could not read hides files
    /// the agent may tail there: `queues` gets an unknown signal naming it (the inputs are
    /// the concrete files, so the engine's own walk would not look there again).
    fn inputs(
        &self,
        concrete: &mut Vec<PathBuf>,
        notes: &mut Vec<String>,
        queues: &mut Vec<QueueSignal>,
    ) -> Vec<InputSpec> {
        let mut out = Vec::new();
        let depth = crate::glob_walk::recursive_depth(ShipperKind::CloudwatchAgent);
        for fc in &self.cfg.files {
            if !expandable(&fc.file_path) {
                // Said by [`Self::unexpandable_signal`].
                continue;
            }
            let black = fc
                .blacklist
                .as_deref()
                .and_then(|b| regex::bytes::Regex::new(b).ok());
            let local = self.root.host_to_local(Path::new(&fc.file_path));
            let expanded = match crate::glob_walk::expand_all(&local.to_string_lossy(), depth) {
                Ok(e) => e,
                Err(e) => {
                    notes.push(format!("file_path {}: {e}", fc.file_path));
                    continue;
                }
            };
            queues.extend(expanded.unreadable.into_iter().map(|hint| {
                common::unknown_queue(
                    &format!("cloudwatch agent file_path {}", fc.file_path),
                    &hint,
                )
            }));
            let mut matches: Vec<(PathBuf, std::time::SystemTime)> = expanded
                .paths
                .into_iter()
                .filter_map(|p| {
                    let m = std::fs::metadata(&p).ok().filter(|m| m.is_file())?;
                    let host = self.root.local_to_host(&p);
                    let name = host.file_name()?.as_bytes().to_vec();
                    let compressed = COMPRESSED.iter().any(|s| name.ends_with(s.as_bytes()));
                    let blacklisted = black.as_ref().is_some_and(|r| r.is_match(&name));
                    let in_state = host.starts_with(&self.cfg.state_folder);
                    (!compressed && !blacklisted && !in_state)
                        .then(|| (host, m.modified().unwrap_or(std::time::UNIX_EPOCH)))
                })
                .collect();
            matches.sort();
            matches.dedup_by(|a, b| a.0 == b.0);
            if !fc.publish_multi_logs && matches.len() > 1 {
                matches.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                notes.push(format!(
                    "{} other file(s) match {} but publish_multi_logs is off: the agent tails only \
                     the most recently modified one ({}) and never ships the others",
                    matches.len() - 1,
                    fc.file_path,
                    crate::display::path(&matches[0].0)
                ));
                matches.truncate(1);
            }
            concrete.extend(matches.iter().map(|(p, _)| p.clone()));
            let paths: Vec<String> = if matches.is_empty() {
                vec![fc.file_path.clone()]
            } else {
                matches
                    .iter()
                    .map(|(p, _)| glob::Pattern::escape(&p.to_string_lossy()))
                    .collect()
            };
            out.push(InputSpec::globs(fc.file_path.clone(), &paths, &[]));
        }
        out
    }
}

/// True for a `file_path` drainguard can look for: absolute, without a variable.
fn expandable(file_path: &str) -> bool {
    !common::unexpanded(file_path) && file_path.starts_with('/')
}

impl CloudwatchReader {
    /// The unknown signal of the `file_path`s drainguard cannot expand: files the agent tails
    /// there without a state file yet are unseen, so delivery cannot be proven.
    fn unexpandable_signal(&self) -> Option<QueueSignal> {
        let bad: Vec<&str> = self
            .cfg
            .files
            .iter()
            .map(|f| f.file_path.as_str())
            .filter(|p| !expandable(p))
            .collect();
        if bad.is_empty() {
            return None;
        }
        Some(common::unknown_queue(
            &format!("cloudwatch agent file_path {}", bad.join(", ")),
            "not an absolute path drainguard can expand (a variable, or a relative path): the \
             files the agent tails there without a state file yet are not seen; write the \
             file_path as an absolute path or glob",
        ))
    }
}

/// One unknown signal per state file name that two different tailed paths map to.
fn collisions(paths: &[PathBuf]) -> Vec<QueueSignal> {
    let mut by_name: std::collections::BTreeMap<Vec<u8>, Vec<&Path>> = Default::default();
    for p in paths {
        let v = by_name
            .entry(state_file_name(p.as_os_str().as_bytes()))
            .or_default();
        if !v.contains(&p.as_path()) {
            v.push(p);
        }
    }
    by_name
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(name, v)| {
            let list: Vec<String> = v.iter().map(|p| crate::display::path(p)).collect();
            common::unknown_queue(
                &format!(
                    "cloudwatch agent state file {}",
                    String::from_utf8_lossy(&name)
                ),
                &format!(
                    "{} all map to this one state file name ('/', ' ' and ':' become '_'): each \
                     tailer overwrites the others' offset, so none of them is proven; rename the \
                     files (or their directories) so their names differ",
                    list.join(" and ")
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
