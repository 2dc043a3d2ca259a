//! rsyslog imfile state files `imfile-state:<inode>[:<file id>]` in the work directory.
//!
//! JSON (v8.34+): `curr_offs` is the read offset and includes a partial line kept in
//! `prev_line_segment`; offsets mean "read and enqueued" to rsyslog's main queue. The
//! pre-8.34 object serialization (`<Obj:1:strm:1:`) is refused as unsupported.
//! Identity: the inode, cross-checked with the file id (rsyslog's SipHash of the first 512
//! bytes) when present — a [`FingerprintSpec::RsyslogFileId`] identity then.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cursor::{
    Cursor, Identity, OffsetMeaning, QueueSignal, QueueState, ShipperKind, StoreSnapshot,
};
use crate::error::{Position, StoreError};
use crate::fingerprint::FingerprintSpec;
use crate::safe_read::{self, Limit};

use super::common;
use super::shipper::{getopt, m, Access, ShipperInfo, Target};
use super::{Readers, SourceOptions, StoreReader};

/// rsyslog.
pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Rsyslog,
    name: "rsyslog",
    aliases: &["rsyslogd"],
    processes: &[m(&["rsyslogd"])],
    flags: &[getopt(&["-f"], Target::Config)],
    services: &["rsyslog"],
    config_paths: &["/etc/rsyslog.conf"],
    data_paths: &["/var/spool/rsyslog", "/var/lib/rsyslog"],
    // imfile `trimLineOverBytes` 0: buffers until the newline.
    max_line_bytes: None,
    glob_depth: 32,
    // RainerScript statements or legacy `$ModLoad`.
    config_syntax: Some(
        r#"(?mi)^\s*(module|input|action|global)\s*\(\s*(load|type|workdirectory)\s*=|^\s*\$(ModLoad|WorkDirectory|InputFileName)\b"#,
    ),
    api: None,
    access: Access::Reads {
        open,
        idle: Some(ships_nothing),
    },
};

/// Debian's and RHEL's work directories.
pub const DEFAULT_WORK_DIRS: [&str; 2] = ["/var/spool/rsyslog", "/var/lib/rsyslog"];

/// What the rsyslog config tells us.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RsyslogConf {
    pub work_dir: Option<PathBuf>,
    pub files: Vec<String>,
    /// imfile inputs without `persistStateAfterSubmission="on"`: rsyslog writes their state
    /// only when it closes the file, so their offsets lag behind what was read.
    pub lagging_state: Vec<String>,
    pub impstats_file: Option<PathBuf>,
    /// An action sends messages over the network (`omfwd`, `omrelp`, legacy `@host`).
    pub forwards: bool,
}

/// Extracts `global(workDirectory=..)`, imfile `statefile.directory`, `input(type="imfile"
/// File=..)` and `impstats` `log.file` from rsyslog.conf text (RainerScript, one statement
/// may span lines; legacy `$WorkDirectory` too).
pub fn parse_conf(text: &str) -> RsyslogConf {
    let mut c = RsyslogConf::default();
    let flat: String = text
        .lines()
        .map(|l| l.split_once('#').map_or(l, |(a, _)| a))
        .collect::<Vec<_>>()
        .join(" ");
    for l in text.lines() {
        let l = l.trim();
        if let Some(v) = l.strip_prefix("$WorkDirectory") {
            c.work_dir = Some(PathBuf::from(v.trim()));
        }
        // Legacy forwarding: `*.* @host:514` (UDP), `@@host` (TCP).
        if !l.starts_with('#')
            && l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.starts_with('@'))
        {
            c.forwards = true;
        }
    }
    let lower = flat.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find('(') {
        let open = from + i;
        let Some(close) = lower[open..].find(')').map(|j| open + j) else {
            break;
        };
        let head = lower[..open].trim_end();
        let stmt = head
            .rsplit(|ch: char| !ch.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        let args = &flat[open + 1..close];
        let get = |k: &str| param(args, k);
        match stmt {
            "global" => {
                if let Some(w) = get("workdirectory") {
                    c.work_dir = Some(PathBuf::from(w));
                }
            }
            "module" => {
                if get("load").as_deref() == Some("imfile") {
                    if let Some(d) = get("statefile.directory") {
                        c.work_dir = Some(PathBuf::from(d));
                    }
                }
                if get("load").as_deref() == Some("impstats") {
                    c.impstats_file = get("log.file").map(PathBuf::from);
                }
            }
            "action"
                if get("type").is_some_and(|t| {
                    matches!(t.to_ascii_lowercase().as_str(), "omfwd" | "omrelp")
                }) =>
            {
                c.forwards = true;
            }
            "input" if get("type").as_deref() == Some("imfile") => {
                if let Some(f) = get("file") {
                    let on = get("persiststateaftersubmission").is_some_and(|v| {
                        matches!(v.to_ascii_lowercase().as_str(), "on" | "yes" | "1")
                    });
                    if !on {
                        c.lagging_state.push(f.clone());
                    }
                    c.files.push(f);
                }
            }
            _ => {}
        }
        from = close + 1;
    }
    c
}

fn param(args: &str, key: &str) -> Option<String> {
    let lower = args.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find(key) {
        let k = at + i;
        let before_ok = k == 0
            || !lower.as_bytes()[k - 1].is_ascii_alphanumeric() && lower.as_bytes()[k - 1] != b'.';
        let rest = lower[k + key.len()..].trim_start();
        if before_ok && rest.starts_with('=') {
            let v = args[args.len() - rest.len() + 1..].trim_start();
            let v = v.strip_prefix('"')?;
            return v.split_once('"').map(|(v, _)| v.to_string());
        }
        at = k + key.len();
    }
    None
}

/// True when the rsyslog config (`--config`, else /etc/rsyslog.conf and rsyslog.d) tails no
/// file and forwards nothing: a running rsyslogd then only writes local files and owes no
/// receiver anything. False when the config cannot be read.
pub fn ships_nothing(opts: &SourceOptions) -> bool {
    load_conf(opts).is_ok_and(|c| c.is_some_and(|c| c.files.is_empty() && !c.forwards))
}

/// The rsyslog config and its rsyslog.d, merged; `None` when the default config is absent.
fn load_conf(opts: &SourceOptions) -> Result<Option<RsyslogConf>, StoreError> {
    let conf_path = opts
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/rsyslog.conf"));
    let local = opts.root.host_to_local(&conf_path);
    let text = match safe_read::read_text(&local, Limit::CONFIG) {
        Ok(text) => Some(text),
        // No rsyslog.conf where none was named: rsyslog is not installed here.
        Err(e) if e.is_not_found() && opts.config.is_none() => None,
        // A FIFO, too large, not UTF-8, unreadable, missing when named: say which.
        Err(e) => return Err(e),
    };
    if let Some(text) = text {
        let mut conf = parse_conf(&text);
        let d = local.with_file_name("rsyslog.d");
        if let Ok(rd) = std::fs::read_dir(&d) {
            let mut fs: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                .collect();
            fs.sort();
            for f in fs {
                let t = common::read_config_file(&f)?;
                let more = parse_conf(&t);
                conf.work_dir = more.work_dir.or(conf.work_dir);
                conf.impstats_file = more.impstats_file.or(conf.impstats_file);
                conf.files.extend(more.files);
                conf.lagging_state.extend(more.lagging_state);
                conf.forwards |= more.forwards;
            }
        }
        Ok(Some(conf))
    } else {
        Ok(None)
    }
}

/// Opens the work directory: `--store` (the directory), else the config's, else defaults.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let conf = load_conf(opts)?.unwrap_or_default();
    if conf.files.is_empty() && opts.store.is_none() && opts.config.is_none() {
        return Ok(Vec::new()); // no imfile input: rsyslog is not shipping files here.
    }
    let mut candidates: Vec<PathBuf> = conf.work_dir.iter().cloned().collect();
    candidates.extend(DEFAULT_WORK_DIRS.map(PathBuf::from));
    let impstats = conf
        .impstats_file
        .as_ref()
        .map(|p| opts.root.host_to_local(p));
    Ok(common::locate(opts, "rsyslog", &candidates)?
        .map(|dir| {
            Box::new(RsyslogReader {
                dir,
                files: conf.files.clone(),
                lagging_state: conf.lagging_state.clone(),
                impstats,
            }) as Box<dyn StoreReader>
        })
        .into_iter()
        .collect())
}

struct RsyslogReader {
    dir: PathBuf,
    files: Vec<String>,
    lagging_state: Vec<String>,
    impstats: Option<PathBuf>,
}

impl StoreReader for RsyslogReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Rsyslog
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        let mut v = vec![self.dir.clone()];
        v.extend(self.impstats.clone());
        v
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut snap = read_dir(&self.dir)?;
        const FIX: &str = "add persistStateAfterSubmission=\"on\" (rsyslog 8.2006+) to the input";
        snap.inputs
            .extend(self.files.iter().map(|f| crate::cursor::InputSpec {
                name: format!("imfile {f}"),
                paths: vec![f.clone()],
                lagging_state: self.lagging_state.contains(f).then(|| FIX.to_string()),
                ..Default::default()
            }));
        snap.notes.extend(self.lagging_state.iter().map(|f| {
            format!(
                "imfile input {f:?} lacks persistStateAfterSubmission=\"on\": rsyslog writes its state \
                 only when it closes the file, so the offsets lag behind what it read and `wait` \
                 holds until the deadline; {FIX}"
            )
        }));
        snap.queues.push(match &self.impstats {
            Some(p) => fresh(impstats_signal(p)?, p, &self.dir),
            None => common::unknown_queue(
                "rsyslog queues",
                "add module(load=\"impstats\" interval=\"1\" format=\"json\" log.file=\"/var/log/rsyslog-stats.log\" log.syslog=\"off\")",
            ),
        });
        Ok(snap)
    }
}

/// How much of the impstats file's end is read first (a record set is a few hundred bytes
/// per queue and action).
const IMPSTATS_TAIL: u64 = 256 * 1024;
/// The most of the impstats file's end ever read (the window grows from [`IMPSTATS_TAIL`]
/// until it spans a whole interval): 64 MiB, thousands of queues' worth.
const IMPSTATS_MAX_TAIL: u64 = 64 << 20;

/// The last `window` bytes of `path`, starting at a line boundary; true when that is the
/// whole file.
fn read_tail(path: &Path, window: u64) -> Result<(Vec<u8>, bool), StoreError> {
    let (_, meta) = safe_read::open(path)?;
    let start = meta.len().saturating_sub(window);
    // The file may grow meanwhile: a bound far above the window, never the whole log.
    let limit = Limit {
        bytes: window.saturating_mul(4),
        what: "the impstats tail read",
    };
    let mut buf = safe_read::read_from(path, start, limit)?;
    if start > 0 {
        let cut = buf
            .iter()
            .position(|b| *b == b'\n')
            .map_or(buf.len(), |i| i + 1);
        buf.drain(..cut);
    }
    Ok((buf, start == 0))
}

/// The last `size` of every `core.queue` in impstats JSON lines (a syslog-style prefix before
/// the `{` is allowed; lines that are not JSON are skipped), and whether some queue appears
/// twice: impstats writes every queue once per interval, so then the text spans a whole
/// interval and holds every queue's newest record.
pub fn queue_sizes(text: &[u8]) -> (std::collections::BTreeMap<String, u64>, bool) {
    let mut sizes = std::collections::BTreeMap::new();
    let mut repeated = false;
    for line in text.split(|b| *b == b'\n') {
        let Some(start) = line.iter().position(|b| *b == b'{') else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line[start..]) else {
            continue;
        };
        if v.get("origin").and_then(|o| o.as_str()) == Some("core.queue") {
            if let (Some(n), Some(s)) = (
                v.get("name").and_then(|n| n.as_str()),
                v.get("size").and_then(|s| s.as_u64()),
            ) {
                repeated |= sizes.insert(n.to_string(), s).is_some();
            }
        }
    }
    (sizes, repeated)
}

/// An `Empty` impstats reading only counts when it was written after the newest state file:
/// an older stats record may predate the lines the state file says were enqueued.
fn fresh(sig: QueueSignal, stats: &Path, work: &Path) -> QueueSignal {
    if sig.state != QueueState::Empty {
        return sig;
    }
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let newest_state = std::fs::read_dir(work)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("imfile-state:"))
        .filter_map(|e| mtime(&e.path()))
        .max();
    match (mtime(stats), newest_state) {
        (Some(st), Some(ns)) if st <= ns => QueueSignal {
            source: sig.source,
            state: QueueState::pending(
                "impstats record older than the newest state file; waiting for the next interval",
            ),
        },
        _ => sig,
    }
}

#[derive(Deserialize)]
struct State {
    curr_offs: i64,
    strt_offs: i64,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    prev_line_segment: Option<String>,
    #[serde(default)]
    prev_msg_segment: Option<String>,
}

/// Reads every `imfile-state:*` file of a work directory (temp files ignored).
pub fn read_dir(dir: &Path) -> Result<StoreSnapshot, StoreError> {
    let mut snap = common::snapshot(
        ShipperKind::Rsyslog,
        dir,
        "rsyslog imfile state (json)",
        OffsetMeaning::Read,
    );
    let rd = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("imfile-state:") && !n.contains(".tmp."))
        .collect();
    names.sort();
    let mut legacy = 0usize;
    for name in names {
        let path = dir.join(&name);
        let inode_named = name
            .split(':')
            .nth(1)
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()));
        if !inode_named {
            // Pre-8.34 `imfile-state:<path with / as ->` files: rsyslog only falls back to
            // them when no inode-named state exists; they name no inode we could match.
            legacy += 1;
            continue;
        }
        let bytes = match common::read_bytes(&path) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => continue, // removed meanwhile
            Err(e) => return Err(e),
        };
        if let Some(c) = parse_state(&path, &name, &bytes, &mut snap.notes)? {
            snap.cursors.push(c);
        }
    }
    if legacy > 0 {
        snap.skipped.push(crate::cursor::SkippedEntries {
            prefix: "imfile-state:<path> (pre-8.34 names)".into(),
            count: legacy,
        });
    }
    Ok(snap)
}

/// Parses one state file named `name`. `Ok(None)` for an empty file (rsyslog < 8.2606
/// truncates before writing: re-read later).
pub fn parse_state(
    path: &Path,
    name: &str,
    bytes: &[u8],
    notes: &mut Vec<String>,
) -> Result<Option<Cursor>, StoreError> {
    if bytes.is_empty() {
        notes.push(format!(
            "{}: empty (being rewritten); re-read later",
            path.display()
        ));
        return Ok(None);
    }
    if bytes.starts_with(b"<Obj:1:strm:1:") {
        return Err(StoreError::Unsupported {
            path: path.into(),
            what:
                "pre-8.34 object-serialized state file; restart rsyslog >= 8.34 once to convert it"
                    .into(),
        });
    }
    let mut parts = name.splitn(3, ':').skip(1);
    let ino: u64 =
        parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                StoreError::Unsupported {
            path: path.into(),
            what: "legacy state file name (not imfile-state:<inode>); restart rsyslog >= 8.34 once"
                .into(),
        }
            })?;
    let file_id = parts.next().map(str::to_string);
    let st: State = serde_json::from_slice(bytes)
        .map_err(|e| common::json_error(path, e, "not an imfile state (a torn write? re-read)"))?;
    if st.curr_offs < 0 || st.strt_offs < 0 {
        return Err(StoreError::corrupt(
            path,
            Position::default(),
            "negative offset",
        ));
    }
    let partial = st.prev_line_segment.as_ref().map_or(0, String::len)
        + st.prev_msg_segment.as_ref().map_or(0, String::len);
    if partial > 0 {
        notes.push(format!(
            "{}: curr_offs includes {partial} bytes of a partial line not yet submitted",
            path.display()
        ));
    }
    // The inode names the file; the file id (content hash) cross-checks it against reuse.
    if let (Some(id), Some(f)) = (&file_id, &st.filename) {
        use std::os::unix::fs::MetadataExt;
        let f = Path::new(f);
        if std::fs::metadata(f).is_ok_and(|m| m.ino() == ino) {
            if let Ok(Some(now)) = FingerprintSpec::RsyslogFileId.compute(f) {
                if &now != id {
                    notes.push(format!(
                        "{}: inode {ino} now holds other content (file id {now}, state has {id}): inode reused; rsyslog ignores this state",
                        path.display()
                    ));
                    return Ok(None);
                }
            }
        }
    }
    let identity = Identity::Inode { ino };
    Ok(Some(Cursor {
        key: name.to_string().into(),
        identity,
        path: st.filename.map(PathBuf::from).map(Into::into),
        offset: st.curr_offs as u64,
        unit: Default::default(),
    }))
}

/// Reads the last impstats record per queue from a JSON impstats log file: pending when any
/// queue (`origin":"core.queue"`) has `size` > 0. A queue's `size` counts its messages until
/// the action has processed them, so 0 means every message reached the output (for omfwd:
/// its socket; [`crate::process::sockets`] covers the rest). Only the file's tail is read:
/// impstats appends a full set of counters every interval and the file only grows.
pub fn impstats_signal(path: &Path) -> Result<QueueSignal, StoreError> {
    let mut window = IMPSTATS_TAIL;
    let sizes = loop {
        let (text, whole) = match read_tail(path, window) {
            Ok(t) => t,
            // Configured but not written yet (rsyslog starting): wait for it rather than guess.
            Err(e) if e.is_not_found() => {
                return Ok(QueueSignal {
                    source: format!("rsyslog impstats {}", path.display()),
                    state: QueueState::pending(
                        "impstats file not written yet (first record after one interval)",
                    ),
                })
            }
            Err(e) => return Err(e),
        };
        let (sizes, full_interval) = queue_sizes(&text);
        if full_interval || whole {
            break sizes;
        }
        if window >= IMPSTATS_MAX_TAIL {
            return Err(StoreError::corrupt(
                path,
                Position::default(),
                format!(
                    "no complete impstats interval in its last {}: not an impstats log \
                     (format=\"json\")?",
                    crate::display::bytes(window)
                ),
            ));
        }
        window *= 4;
    };
    let source = format!("rsyslog impstats {}", path.display());
    if sizes.is_empty() {
        return Ok(QueueSignal {
            source,
            state: QueueState::pending(
                "no core.queue record yet (impstats needs format=\"json\"; first record after one interval)",
            ),
        });
    }
    let pending: Vec<String> = sizes
        .iter()
        .filter(|(_, s)| **s > 0)
        .map(|(n, s)| format!("{n}={s}"))
        .collect();
    let messages = sizes.values().fold(0u64, |a, s| a.saturating_add(*s));
    Ok(QueueSignal {
        source,
        state: if pending.is_empty() {
            QueueState::Empty
        } else {
            QueueState::owed(
                format!("{messages} message(s) queued: {}", pending.join(", ")),
                crate::cursor::Owed {
                    queued_events: Some(messages),
                    ..Default::default()
                },
            )
        },
    })
}
