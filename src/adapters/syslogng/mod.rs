//! syslog-ng `file()` and `wildcard-file()` sources: their positions in `syslog-ng.persist`
//! ([`persist`]), the configuration that names the files and log paths ([`config`]) and the
//! destinations' `queued` counters from the control socket ([`ctl`]).
//!
//! What an offset proves: the position is the **acknowledged** one. Without
//! `flags(flow-control)` on the log path a destination acknowledges a message as soon as it
//! is queued in memory, so offsets mean "entered syslog-ng's queue" and delivery needs every
//! destination's `queued` counter at 0 (plus the TCP send queues, checked for every shipper).
//! With flow-control on every log path of a file source (and no disk buffer) the
//! acknowledgement waits for the destination's write, so the offsets and the TCP send queues
//! suffice when the control socket cannot be read. Identity: the inode, as syslog-ng matches
//! it (no device).

pub mod config;
pub mod ctl;
pub mod persist;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::cursor::{
    Cursor, Identity, InputSpec, OffsetMeaning, Owed, QueueSignal, QueueState, ShipperKind,
    SkippedEntries, StoreSnapshot,
};
use crate::error::StoreError;
use crate::safe_read::{self, Limit};

use super::common;
use super::shipper::{getopt, m, Access, ShipperInfo, Target};
use super::{Readers, SourceOptions, StoreReader};
use config::SyslogNgConf;
use persist::Persist;

pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::SyslogNg,
    name: "syslog-ng",
    aliases: &["syslog-ng-core"],
    processes: &[m(&["syslog-ng"])],
    flags: &[
        getopt(&["-f", "--cfgfile"], Target::Config),
        getopt(&["-R", "--persist-file"], Target::Store),
        getopt(&["-c", "--control"], Target::Control),
    ],
    services: &["syslog-ng"],
    config_paths: &[DEFAULT_CONFIG],
    data_paths: &[DEFAULT_PERSIST],
    // `log-msg-size()` (64 KiB) cuts a message, but the file reader keeps buffering until
    // the newline.
    max_line_bytes: None,
    glob_depth: 32,
    // `@version: 4.2`, `source s_app { file(...); };`
    config_syntax: Some(
        r"(?m)^\s*@version\s*:|^\s*(source|destination|log)\s+[A-Za-z_][\w-]*\s*\{",
    ),
    // Its control socket is read by the delivery signal ([`ctl`]), not an HTTP API.
    api: None,
    access: Access::Reads {
        open,
        idle: Some(ships_nothing),
    },
};

/// Debian's and the upstream packages' locations.
pub const DEFAULT_CONFIG: &str = "/etc/syslog-ng/syslog-ng.conf";
pub const DEFAULT_PERSIST: &str = "/var/lib/syslog-ng/syslog-ng.persist";
pub const DEFAULT_CONTROL: &str = "/var/lib/syslog-ng/syslog-ng.ctl";

/// The config (`--config`, else the default), `None` when the default is absent.
fn load_conf(opts: &SourceOptions) -> Result<Option<(PathBuf, SyslogNgConf)>, StoreError> {
    let path = opts
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    match config::load(&opts.root, &path) {
        Ok(c) => Ok(Some((path, c))),
        Err(e) if e.is_not_found() && opts.config.is_none() => Ok(None),
        Err(e) => Err(e),
    }
}

/// True when the syslog-ng config reads no file and sends nothing off the host: a running
/// syslog-ng is then a local syslog daemon that owes no receiver anything. False when the
/// config cannot be read.
pub fn ships_nothing(opts: &SourceOptions) -> bool {
    load_conf(opts).is_ok_and(|c| c.is_some_and(|(_, c)| c.files.is_empty() && !c.forwards()))
}

/// Opens the persist file: `--registry`/`-R`, else the default; with the config's file
/// sources as inputs. Empty when no config reads a file and nothing was named.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let loaded = load_conf(opts)?;
    let (conf_path, conf) = match loaded {
        Some((p, c)) => (Some(p), c),
        None => (None, SyslogNgConf::default()),
    };
    if conf.files.is_empty() && opts.store.is_none() && opts.config.is_none() {
        return Ok(Vec::new());
    }
    // The shared cascade: a named store (`--registry`, the settings file, `-R` of the
    // running process) must exist; the default may not be written yet (syslog-ng creates it
    // when it starts), which reads as nothing recorded.
    let store = match &opts.store {
        Some(named) => {
            let local = opts.root.host_to_local(named);
            std::fs::metadata(&local).map_err(|e| StoreError::io(&local, e))?;
            named.clone()
        }
        None => PathBuf::from(DEFAULT_PERSIST),
    };
    let control = opts
        .control_socket
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL));
    Ok(vec![Box::new(SyslogNgReader {
        local: opts.root.host_to_local(&store),
        shown: store,
        control: opts.root.host_to_local(&control),
        conf_path,
        conf,
    })])
}

struct SyslogNgReader {
    /// The persist file as opened (under `--root`) and as the host names it.
    local: PathBuf,
    shown: PathBuf,
    control: PathBuf,
    conf_path: Option<PathBuf>,
    conf: SyslogNgConf,
}

/// What the persist file format is called in reports.
const FORMAT: &str = "syslog-ng persist (SLP4)";

impl StoreReader for SyslogNgReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::SyslogNg
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        // Rewritten by rename at every start, updated through mmap (no inotify event): the
        // directory, and `wait`'s interval does the rest.
        common::parent_dir(&self.local)
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut snap = match read_stable(&self.local)? {
            Some(p) => snapshot(&self.local, &p, &self.conf),
            None => common::not_written_yet(
                common::snapshot(
                    ShipperKind::SyslogNg,
                    &self.local,
                    FORMAT,
                    OffsetMeaning::Buffered,
                ),
                &self.shown,
                "syslog-ng writes it within a second of starting",
                "its file sources",
            ),
        };
        snap.inputs = inputs(&self.conf);
        snap.notes.extend(self.conf.notes.iter().cloned());
        if self.conf_path.is_none() {
            snap.notes.push(format!(
                "no syslog-ng config read ({DEFAULT_CONFIG} absent): files it reads but has no \
                 position for yet are not seen"
            ));
        }
        let (signal, notes) = delivery_signal(&self.control, &self.conf);
        snap.queues.push(signal);
        // A file source drainguard cannot name: files it reads but has no position for yet
        // would be unseen, so delivery cannot be proven.
        let unexpanded: Vec<String> = self
            .conf
            .unexpanded()
            .iter()
            .map(|f| f.glob.clone())
            .collect();
        if !unexpanded.is_empty() {
            snap.queues.push(common::unknown_queue(
                &format!("syslog-ng file sources {}", unexpanded.join(", ")),
                "write the path without a `name` reference drainguard cannot expand (an \
                 environment variable, or an @define it did not read), or name the files with \
                 a literal path",
            ));
        }
        snap.notes.extend(notes);
        Ok(snap)
    }
}

/// How often the persist file is re-read when two reads differ (syslog-ng updates the
/// values in place, field by field).
const STABLE_READS: usize = 5;

/// The persist file, read until two reads agree (a value read while syslog-ng writes it may
/// mix two positions); `None` when it does not exist (yet).
fn read_stable(path: &Path) -> Result<Option<Persist>, StoreError> {
    let read = || -> Result<Option<Persist>, StoreError> {
        match safe_read::read(path, Limit::STORE) {
            Ok(b) => Persist::parse(path, &b).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    };
    let mut last = read()?;
    for _ in 0..STABLE_READS {
        let again = read()?;
        if again == last {
            return Ok(again);
        }
        last = again;
    }
    // Still changing: only the entries that read the same twice are used.
    let again = read()?;
    Ok(match (last, again) {
        (Some(a), Some(b)) => Some(Persist {
            entries: b
                .entries
                .into_iter()
                .filter(|e| a.entries.contains(e))
                .collect(),
        }),
        (_, b) => b,
    })
}

/// The snapshot of one parsed persist file, with `conf` naming the configured files.
pub fn snapshot(path: &Path, p: &Persist, conf: &SyslogNgConf) -> StoreSnapshot {
    let mut snap = common::snapshot(ShipperKind::SyslogNg, path, FORMAT, OffsetMeaning::Buffered);
    let mut skipped: std::collections::BTreeMap<String, usize> = Default::default();
    let mut skip = |what: &str| *skipped.entry(what.to_string()).or_default() += 1;
    // (cursor, the 4.8.1+ form)
    let mut found: Vec<(Cursor, bool)> = Vec::new();
    for e in &p.entries {
        let name = String::from_utf8_lossy(&e.name).into_owned();
        let Some(key) = persist::file_key(&e.name) else {
            let prefix = name.split(['(', '.']).next().unwrap_or("").to_string();
            skip(&prefix);
            continue;
        };
        if !e.in_use {
            skip("file positions not in use (a previous configuration's, or a finished wildcard-file)");
            continue;
        }
        if e.version < 4 {
            skip("file positions in a pre-3.0 format (syslog-ng converts them when it starts)");
            continue;
        }
        let at = e.handle as usize;
        let pos = match persist::file_position(path, at, e.size, &e.value) {
            Ok(p) => p,
            Err(err) => {
                snap.notes
                    .push(format!("{name}: {err}; re-read next round"));
                skip("file positions that could not be read");
                continue;
            }
        };
        let path = key.path().or_else(|| configured_path(conf, &key));
        found.push((
            Cursor {
                key: name.into(),
                identity: Identity::Inode { ino: pos.inode },
                path: path.map(Into::into),
                offset: pos.acked,
                unit: Default::default(),
            },
            key.hash.is_some(),
        ));
    }
    // syslog-ng 4.8.1+ copies a pre-4.8.1 entry to its new name once and keeps only the new
    // one current: the old one (same inode) is stale until the next restart drops it.
    let current: Vec<u64> = found
        .iter()
        .filter(|(_, new)| *new)
        .filter_map(|(c, _)| match c.identity {
            Identity::Inode { ino } => Some(ino),
            _ => None,
        })
        .collect();
    for (c, new) in found {
        let stale = !new && matches!(c.identity, Identity::Inode { ino } if current.contains(&ino));
        if stale {
            skip("pre-4.8.1 file positions superseded by their 4.8.1 copy");
        } else {
            snap.cursors.push(c);
        }
    }
    snap.skipped = skipped
        .into_iter()
        .map(|(prefix, count)| SkippedEntries { prefix, count })
        .collect();
    snap
}

/// The configured `file()` path a 4.8.1+ key's hash names (its tail may be cut).
fn configured_path(conf: &SyslogNgConf, key: &persist::FileKey) -> Option<PathBuf> {
    let h = key.hash?;
    conf.files
        .iter()
        .filter(|f| !f.wildcard)
        .find(|f| persist::g_str_hash(f.glob.as_bytes()) == h)
        .map(|f| PathBuf::from(&f.glob))
}

/// The config's file sources as inputs (untracked files are found through them).
fn inputs(conf: &SyslogNgConf) -> Vec<InputSpec> {
    conf.files
        .iter()
        .map(|f| {
            let glob = if f.recursive {
                let (dir, pattern) = f.glob.rsplit_once('/').unwrap_or(("", &f.glob));
                format!("{dir}/**/{pattern}")
            } else {
                f.glob.clone()
            };
            let kind = if f.wildcard { "wildcard-file" } else { "file" };
            let name = match &f.source {
                Some(s) => format!("source {s} {kind}({})", f.glob),
                None => format!("{kind}({})", f.glob),
            };
            InputSpec::globs(name, &[glob], &[])
        })
        .collect()
}

/// Every destination's `queued` counter from the control socket: empty when all are 0.
/// With flow-control on every file log path and no disk buffer, an unreadable socket is
/// not needed (the acknowledgement already waited for the destination's write). Notes:
/// messages the destinations dropped (lost, not owed).
pub fn delivery_signal(control: &Path, conf: &SyslogNgConf) -> (QueueSignal, Vec<String>) {
    let source = format!("syslog-ng destination queues ({})", control.display());
    let flow_controlled = conf.flow_controlled() && !conf.disk_buffered();
    let signal = match ctl::stats(control) {
        Ok(counters) => {
            let notes = dropped_notes(&counters);
            return (
                queues_signal(source, &counters, conf, flow_controlled),
                notes,
            );
        }
        Err(e) if flow_controlled => QueueSignal {
            source: format!(
                "syslog-ng flow-control (every file source's log path has flags(flow-control); \
                 control socket {}: {e})",
                control.display()
            ),
            state: QueueState::Empty,
        },
        Err(e) => common::unknown_queue(
            &source,
            &format!(
                "read the STATS of syslog-ng's control socket {} ({e}): run drainguard as root \
                 and point it at syslog-ng's -c socket, or add flags(flow-control) to every \
                 log path of a file source",
                control.display()
            ),
        ),
    };
    (signal, Vec::new())
}

/// What the destinations dropped since syslog-ng started (a full `log-fifo-size` queue
/// without flow-control): lost for good, no drain brings it back, so it is said, not owed.
pub fn dropped_notes(counters: &[ctl::Counter]) -> Vec<String> {
    counters
        .iter()
        .filter(|c| c.kind == "dropped" && c.value > 0 && c.destination().is_some())
        .map(|c| {
            format!(
                "destination {} {} dropped {} message(s) since syslog-ng started (queue full: \
                 raise log-fifo-size() or add flags(flow-control)); they are lost, not owed",
                c.source_id, c.instance, c.value
            )
        })
        .collect()
}

/// The signal of a `STATS` reply's counters.
pub fn queues_signal(
    source: String,
    counters: &[ctl::Counter],
    conf: &SyslogNgConf,
    flow_controlled: bool,
) -> QueueSignal {
    let queued: Vec<&ctl::Counter> = counters
        .iter()
        .filter(|c| c.kind == "queued" && c.destination().is_some())
        .collect();
    let pending: Vec<String> = queued
        .iter()
        .filter(|c| c.value > 0)
        .map(|c| format!("{} {}={}", c.source_id, c.instance, c.value))
        .collect();
    let messages = queued.iter().fold(0u64, |a, c| a.saturating_add(c.value));
    if !pending.is_empty() {
        return QueueSignal {
            source,
            state: QueueState::owed(
                format!("{messages} message(s) queued: {}", pending.join(", ")),
                Owed {
                    queued_events: Some(messages),
                    ..Default::default()
                },
            ),
        };
    }
    if flow_controlled {
        // The acknowledgements already waited for every destination's write.
        return QueueSignal {
            source,
            state: QueueState::Empty,
        };
    }
    let unproven = unproven_destinations(counters, conf);
    if !unproven.is_empty() {
        return common::unknown_queue(
            &source,
            &format!(
                "destination(s) {} report no queued counter, yet messages entered them: a \
                 file() or pipe() destination counts its queue only from stats level 1 (add \
                 stats-level(1) to options {{ }}; syslog-ng 4: stats(level(1))), every other \
                 driver from level 0 (syslog-ng 3.x or later); if the running syslog-ng has \
                 another configuration than the one drainguard read, reload it; or add \
                 flags(flow-control) to every log path of a file source",
                unproven.join(", "),
            ),
        );
    }
    QueueSignal {
        source,
        state: QueueState::Empty,
    }
}

/// The destinations of the file sources' log paths whose emptiness the counters do not
/// prove. A destination proves it by its own `dst.*` `queued` counters (all 0 here: one
/// above 0 is owed before this is asked), or by its `destination` group's `processed`
/// counter at 0 (registered at stats level 0 for every destination: no message ever
/// entered it). A missing counter proves nothing: the running syslog-ng may count at
/// another stats level or run another configuration than the one read. syslog-ng keeps a
/// reaped file writer's counters (orphaned, state `o`), so a file destination that wrote
/// once keeps its `queued` counter.
///
/// syslog-ng names inline destinations `#anon-destinationN` in the order it initialises
/// them, which drainguard does not know: every anonymous destination the reply names must
/// prove itself, and the reply must name at least as many as the config has.
fn unproven_destinations(counters: &[ctl::Counter], conf: &SyslogNgConf) -> Vec<String> {
    let has_queued = |d: &str| {
        counters
            .iter()
            .any(|c| c.kind == "queued" && c.destination() == Some(d))
    };
    let nothing_entered = |d: &str| {
        counters.iter().any(|c| {
            c.source_name == "destination"
                && c.source_id == d
                && c.kind == "processed"
                && c.value == 0
        })
    };
    let wanted = conf.file_destinations();
    let anonymous = wanted.iter().filter(|d| d.starts_with('#')).count();
    let mut check: Vec<String> = wanted.into_iter().filter(|d| !d.starts_with('#')).collect();
    let mut out = Vec::new();
    if anonymous > 0 {
        let mut reported: Vec<String> = counters
            .iter()
            .filter(|c| {
                c.source_name == "destination" && c.source_id.starts_with("#anon-destination")
            })
            .map(|c| c.source_id.clone())
            .collect();
        reported.sort();
        reported.dedup();
        if reported.len() < anonymous {
            out.push(format!(
                "(inline destinations: {anonymous} in the config, {} in the reply)",
                reported.len()
            ));
        }
        check.extend(reported);
    }
    out.extend(
        check
            .into_iter()
            .filter(|d| !has_queued(d) && !nothing_entered(d)),
    );
    out
}
