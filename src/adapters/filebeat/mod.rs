//! Filebeat: every registry format from 5.0 to 9.x, read-only.
//!
//! | version | store (under `path.data`) | module |
//! |---|---|---|
//! | 5.0–6.8 | `registry` (one JSON array, replaced by rename) | `json_array` |
//! | 7.0–7.8 | `registry/filebeat/data.json` + `meta.json {"version":"0"}` | `json_array` |
//! | 7.9–9.x | `registry/filebeat/` memlog: `meta.json` "1", `<txid>.json`, `log.json` | [`memlog`] |
//! | 9.x opt-in | `registry/filebeat.db` (bbolt) | unsupported, said clearly |

pub mod api;
mod config;
mod diskqueue;
mod entry;
mod json_array;
mod keys;
mod locate;
pub mod memlog;
mod memlog_once;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{parse_go_duration, Config, Input};
pub use locate::{open, open_reader, StoreLayout};

pub use self::config::parse as parse_config;
pub use self::entry::Entry;
use self::entry::RawState;
use self::keys::{FileId, Key};
use super::shipper::{flag, m, Access, Api, ShipperInfo, Target};
use super::StoreReader;
use crate::cursor::{
    Cursor, ExcludeRule, Identity, InputSpec, OffsetMeaning, QueueSignal, QueueState, ShipperKind,
    SkippedEntries, StoreSnapshot,
};
use crate::error::StoreError;
use crate::fingerprint::FingerprintSpec;
use crate::root::Root;
use crate::safe_read::Limit;

/// Filebeat.
pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Filebeat,
    name: "filebeat",
    aliases: &[],
    processes: &[m(&["filebeat"])],
    flags: &[
        flag(&["-c", "--c"], Target::Config),
        flag(
            &["--path.config", "-path.config"],
            Target::ConfigDir("filebeat.yml"),
        ),
        flag(&["--path.data", "-path.data"], Target::DataPath),
    ],
    services: &["filebeat"],
    config_paths: &[
        "/etc/filebeat/filebeat.yml",
        "/usr/share/filebeat/filebeat.yml",
    ],
    data_paths: &["/var/lib/filebeat", "/usr/share/filebeat/data"],
    // Filebeat log input `max_bytes`, filestream `message_max_bytes`: 10 MiB.
    max_line_bytes: Some(10 * 1024 * 1024),
    // Filebeat's `recursive_glob`: `**` becomes 8 levels of `*`.
    glob_depth: 8,
    config_syntax: Some(r"(?m)^filebeat(\.inputs|\.prospectors|\.config|\.autodiscover)?\s*:"),
    api: Some(Api {
        endpoints: &[api::STATS],
        enable: api::ENABLE,
    }),
    access: Access::Reads {
        open: locate::open,
        idle: None,
    },
};

/// An opened Filebeat registry.
pub struct FilebeatReader {
    root: Root,
    layout: StoreLayout,
    memlog: Option<memlog::Memlog>,
    config: Option<Config>,
    /// Local path of `path.data` (for the disk queue), when known.
    data_dir: Option<PathBuf>,
    http: super::http::Http,
    /// What the last read built from the memlog store.
    built: Option<Built>,
    /// Reads whose cursors were updated in place.
    in_place: u64,
    /// Reading for the last time ([`StoreReader::read_last`]): the memlog store's entries move into the
    /// cursors instead of being copied and kept.
    once: bool,
}

impl FilebeatReader {
    pub(crate) fn new(
        root: Root,
        layout: StoreLayout,
        config: Option<Config>,
        data_dir: Option<PathBuf>,
        http: super::http::Http,
    ) -> Self {
        let memlog = match &layout {
            StoreLayout::Memlog(dir) => Some(memlog::Memlog::new(dir.clone())),
            _ => None,
        };
        FilebeatReader {
            root,
            layout,
            memlog,
            config,
            data_dir,
            http,
            built: None,
            in_place: 0,
            once: false,
        }
    }

    /// How many reads updated the memlog store's cursors in place instead of rebuilding
    /// them (for tests and cost figures).
    pub fn in_place_updates(&self) -> u64 {
        self.in_place
    }

    /// The memlog store, when that is the format (for tests and cost figures).
    pub fn memlog(&self) -> Option<&memlog::Memlog> {
        self.memlog.as_ref()
    }

    fn disk_queue_dir(&self) -> Option<PathBuf> {
        let configured = self.config.as_ref()?.disk_queue.as_ref()?;
        Some(match configured {
            Some(p) if p.is_absolute() => self.root.host_to_local(p),
            Some(p) => self.data_dir.clone()?.join(p),
            None => self.data_dir.clone()?.join("diskqueue"),
        })
    }
}

impl StoreReader for FilebeatReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Filebeat
    }

    fn watch_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![match &self.layout {
            StoreLayout::Legacy(file) => file.parent().unwrap_or(Path::new("/")).to_path_buf(),
            StoreLayout::DataJson(file) => file.parent().unwrap_or(Path::new("/")).to_path_buf(),
            StoreLayout::Memlog(dir) => dir.clone(),
        }];
        paths.extend(self.disk_queue_dir());
        paths
    }

    fn recycle(&mut self, snapshot: StoreSnapshot) {
        if let Some(b) = &mut self.built {
            b.give_back(snapshot.cursors);
        }
    }

    fn read_last(&mut self) -> Result<StoreSnapshot, StoreError> {
        self.once = true;
        let snapshot = self.read();
        self.once = false;
        snapshot
    }

    fn changed(&self) -> Option<&[u32]> {
        self.built.as_ref()?.changed.as_deref()
    }

    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut notes = Vec::new();
        // Cursors straight from the entries: a legacy array's are built while it is parsed
        // (keys and paths move into them), the memlog store's (kept for the next read) are
        // copied once, or moved when this is the only read.
        let (format, store_local, (cursors, skipped, fingerprint_inputs)) = match &self.layout {
            StoreLayout::Legacy(file) => (
                "legacy registry (5.x-6.x)",
                file.clone(),
                self.array_cursors(file, &mut notes)?,
            ),
            StoreLayout::DataJson(file) => (
                "data.json (7.0-7.8)",
                file.clone(),
                self.array_cursors(file, &mut notes)?,
            ),
            StoreLayout::Memlog(dir) => {
                let dir = dir.clone();
                let m = self.memlog.as_mut().expect("memlog layout has a memlog");
                let parts = if self.once {
                    let entries = m.read_owned()?;
                    notes.extend(m.notes().iter().cloned());
                    self.built = None;
                    let it = entries.into_iter().map(|(k, e)| (k, Cow::Owned(e)));
                    self.cursors(it, &mut notes)
                } else {
                    m.read()?;
                    notes.extend(m.notes().iter().cloned());
                    self.memlog_cursors(&mut notes)
                };
                ("memlog v1 (7.9+)", dir, parts)
            }
        };
        let inputs = self.inputs(&fingerprint_inputs);
        let (offset_meaning, mut queues) = match self.disk_queue_dir() {
            Some(dir) => (
                OffsetMeaning::InDiskQueue,
                vec![diskqueue::signal(&self.root, &dir)],
            ),
            None => (OffsetMeaning::Delivered, Vec::new()),
        };
        // A second opinion: it can hold the verdict back, but an unreachable endpoint is only
        // noted (the registry or the disk queue is the proof).
        if let Some(url) = self.config.as_ref().and_then(|c| c.stats_url.as_deref()) {
            match api::filebeat_stats(&self.http, url) {
                QueueSignal {
                    state: QueueState::Unknown { hint },
                    source,
                } => notes.push(format!("{source} not read: {hint}")),
                signal => queues.push(signal),
            }
        }
        if let Some(c) = &self.config {
            notes.extend(c.notes.iter().cloned());
        }
        Ok(StoreSnapshot {
            shipper: ShipperKind::Filebeat,
            store: self.root.local_to_host(&store_local),
            format: format.to_string(),
            cursors,
            skipped,
            inputs,
            offset_meaning,
            queues,
            notes,
            max_line_bytes: self.max_line_bytes(),
        })
    }
}

/// Parses a legacy registry array or data.json (`file` names it in errors), keyed like the
/// log input would key it.
pub fn parse_array(file: &Path, bytes: &[u8]) -> Result<Vec<(Arc<str>, Entry)>, StoreError> {
    let mut out = Vec::new();
    let decode = |i, state: RawState| {
        let e = state.into_entry()?;
        Ok((array_key(i, &e), e))
    };
    json_array::for_each_state(file, bytes, &decode, |_, kv| {
        out.push(kv);
        Ok(())
    })?;
    Ok(out)
}

/// The fewest bytes a file entry of a legacy array or data.json takes as Filebeat writes it
/// (source, offset, timestamp, ttl, type, meta and FileStateOS with a short path).
const MIN_ENTRY_BYTES: u64 = 128;

/// The key of the `i`-th entry of a legacy array or data.json, in one allocation (it is
/// built for every entry of a store of 10^6).
fn array_key(i: usize, e: &Entry) -> Arc<str> {
    const NATIVE: &str = "filebeat::logs::native::";
    match e.dev_ino {
        // The key Filebeat 7.9+ migrates these entries to.
        Some((ino, dev)) => {
            thread_local! {
                /// Where each key is written before its one allocation.
                static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
            }
            let (mut a, mut b) = (itoa::Buffer::new(), itoa::Buffer::new());
            KEY.with_borrow_mut(|key| {
                key.clear();
                key.push_str(NATIVE);
                key.push_str(a.format(ino));
                key.push('-');
                key.push_str(b.format(dev));
                Arc::from(key.as_str())
            })
        }
        None => format!("entry[{i}]").into(),
    }
}

type Cursors = (Vec<Cursor>, Vec<SkippedEntries>, Vec<String>);

/// What one store entry becomes.
enum Class {
    Cursor(Cursor),
    /// Not a file (journald, S3 ...) or an unsupported identity: counted under this prefix.
    Skipped(String),
    /// A file key drainguard cannot parse, without an inode.
    Malformed,
    /// ttl 0: deleted, nothing to track.
    Dropped,
}

/// What the reader built from a memlog store, kept so that the next read updates the cursors
/// in place (a `set` op costs one cursor, not a rebuild of 10^6). The cursors themselves are
/// lent to the snapshot and come back through [`StoreReader::recycle`]; without them the next
/// read rebuilds.
struct Built {
    /// The cursors, while they are here (not lent to a snapshot).
    cursors: Option<Vec<Cursor>>,
    /// How many cursors were lent, and the last one's key (what a recycled snapshot must hold).
    lent: (usize, Option<Arc<str>>),
    /// Per entry of the store (by index): its cursor's position, [`Built::DROPPED`] or
    /// [`Built::OTHER`] (skipped or malformed).
    at: Vec<u32>,
    skipped: BTreeMap<String, usize>,
    malformed: usize,
    fp_inputs: Vec<String>,
    /// The cursor positions the last update set or appended; `None` after a build.
    changed: Option<Vec<u32>>,
}

impl Built {
    const DROPPED: u32 = u32::MAX;
    const OTHER: u32 = u32::MAX - 1;

    /// Applies the entries set at `touched` (in place or appended); false when a change is
    /// not one a cursor update can express (a class change, a new skipped prefix ...): the
    /// caller rebuilds. Builds exactly what a rebuild in entry order would.
    fn update(
        &mut self,
        reader: &FilebeatReader,
        entries: &memlog::Entries,
        touched: &[usize],
    ) -> bool {
        let Some(cursors) = self.cursors.as_mut() else {
            return false;
        };
        let windows = reader.fingerprint_windows();
        let mut changed = Vec::with_capacity(touched.len());
        self.changed = None;
        for &i in touched {
            let Some((key, e)) = entries.get_index(i) else {
                return false;
            };
            let mut fp = self.fp_inputs.clone();
            let class = reader.classify(key.clone(), Cow::Borrowed(e), &windows, &mut fp);
            if fp != self.fp_inputs {
                return false;
            }
            match (self.at.get(i).copied(), class) {
                (Some(Self::DROPPED), Class::Dropped) => {}
                // Whether an entry is skipped, and under which prefix, follows from its key
                // alone, as does being a file key without an inode: a known key that was
                // neither a cursor nor dropped keeps its count (journald cursors, S3 objects
                // updated on every flush).
                (Some(Self::OTHER), Class::Skipped(_) | Class::Malformed) => {}
                (Some(pos), Class::Cursor(c)) if pos < Self::OTHER => {
                    cursors[pos as usize] = c;
                    changed.push(pos);
                }
                // A new entry: last in the store, so its cursor is the last one.
                (None, class) if i == self.at.len() => match class {
                    Class::Cursor(c) => {
                        let Ok(pos) = u32::try_from(cursors.len()) else {
                            return false;
                        };
                        if pos >= Self::OTHER {
                            return false;
                        }
                        cursors.push(c);
                        self.at.push(pos);
                        changed.push(pos);
                    }
                    Class::Dropped => self.at.push(Self::DROPPED),
                    Class::Skipped(prefix) => {
                        *self.skipped.entry(prefix).or_default() += 1;
                        self.at.push(Self::OTHER);
                    }
                    Class::Malformed => {
                        self.malformed += 1;
                        self.at.push(Self::OTHER);
                    }
                },
                _ => return false,
            }
        }
        let complete = self.at.len() == entries.len();
        if complete {
            self.changed = Some(changed);
        }
        complete
    }

    /// Counts an entry's class; a cursor goes to `cursors` (its position recorded when
    /// `positions` is set).
    fn add(&mut self, class: Class, cursors: &mut Vec<Cursor>, positions: bool) {
        let at = match class {
            Class::Cursor(c) => {
                cursors.push(c);
                u32::try_from(cursors.len() - 1).unwrap_or(Built::OTHER)
            }
            Class::Skipped(prefix) => {
                *self.skipped.entry(prefix).or_default() += 1;
                Built::OTHER
            }
            Class::Malformed => {
                self.malformed += 1;
                Built::OTHER
            }
            Class::Dropped => Built::DROPPED,
        };
        if positions {
            self.at.push(at);
        }
    }

    /// The snapshot's parts (the cursors lent; the malformed count noted).
    fn lend(&mut self, notes: &mut Vec<String>) -> Cursors {
        let cursors = self.cursors.take().unwrap_or_default();
        self.lent = (cursors.len(), cursors.last().map(|c| c.key.clone()));
        (
            cursors,
            skipped_list(self.skipped.clone(), self.malformed, notes),
            self.fp_inputs.clone(),
        )
    }

    /// Takes lent cursors back: the first `lent` of `cursors` (a caller may have appended).
    fn give_back(&mut self, mut cursors: Vec<Cursor>) {
        let (n, last) = &self.lent;
        if self.cursors.is_some() || cursors.len() < *n {
            return;
        }
        cursors.truncate(*n);
        if cursors.last().map(|c| &c.key) == last.as_ref() {
            self.cursors = Some(cursors);
        }
    }
}

/// The skipped counts as reported, with the malformed entries noted and counted.
fn skipped_list(
    mut skipped: BTreeMap<String, usize>,
    malformed: usize,
    notes: &mut Vec<String>,
) -> Vec<SkippedEntries> {
    if malformed > 0 {
        notes.push(format!(
            "{malformed} file entr{} had a key drainguard cannot parse and no inode; not checked",
            if malformed == 1 { "y" } else { "ies" }
        ));
        skipped.insert("unparseable file keys".into(), malformed);
    }
    skipped
        .into_iter()
        .map(|(prefix, count)| SkippedEntries { prefix, count })
        .collect()
}

impl FilebeatReader {
    /// Entries -> cursors; non-file entries counted by prefix; the filestream inputs that use
    /// fingerprint identities (their files shorter than the window are never ingested).
    fn cursors<'a>(
        &self,
        entries: impl ExactSizeIterator<Item = (Arc<str>, Cow<'a, Entry>)>,
        notes: &mut Vec<String>,
    ) -> Cursors {
        let b = self.build(entries, false);
        let skipped = skipped_list(b.skipped, b.malformed, notes);
        (b.cursors.unwrap_or_default(), skipped, b.fp_inputs)
    }

    /// Builds the cursors of `entries`, and the per-entry positions when `positions` is set.
    fn build<'a>(
        &self,
        entries: impl ExactSizeIterator<Item = (Arc<str>, Cow<'a, Entry>)>,
        positions: bool,
    ) -> Built {
        let windows = self.fingerprint_windows();
        let mut cursors = Vec::with_capacity(entries.len());
        crate::huge_pages::touch_spare(&mut cursors);
        let mut b = Built {
            cursors: None,
            lent: (0, None),
            at: Vec::with_capacity(if positions { entries.len() } else { 0 }),
            skipped: BTreeMap::new(),
            malformed: 0,
            fp_inputs: Vec::new(),
            changed: None,
        };
        for (key, e) in entries {
            let class = self.classify(key, e, &windows, &mut b.fp_inputs);
            b.add(class, &mut cursors, positions);
        }
        // The capacity of entries that are no cursors (other inputs' states) was touched:
        // given back, not held for as long as `wait` runs.
        cursors.shrink_to_fit();
        b.cursors = Some(cursors);
        b
    }

    /// The cursors of a legacy array or data.json, built while it is parsed (no list of
    /// entries in between; the file is read in chunks, never held whole).
    fn array_cursors(&self, file: &Path, notes: &mut Vec<String>) -> Result<Cursors, StoreError> {
        let windows = self.fingerprint_windows();
        let mut b = self.build(std::iter::empty(), false);
        let mut cursors = b.cursors.take().unwrap_or_default();
        let (src, size) = json_array::open_states(file)?;
        // Sized once for the entries the file can hold as Filebeat writes them, so that the
        // vector never grows by copying; pages never filled are never mapped. A store of
        // smaller entries grows it as usual, and a reservation the system refuses is skipped.
        let entries = size.min(Limit::STORE.bytes) / MIN_ENTRY_BYTES;
        let _ = cursors.try_reserve(usize::try_from(entries).unwrap_or(0));
        // Each entry is classified on its own (in parallel); a fingerprint identity names its
        // input, which is added in order.
        let decode = |i, state: RawState| {
            let e = state.into_entry()?;
            let key = array_key(i, &e);
            let mut fp = Vec::new();
            let class = self.classify(key, Cow::Owned(e), &windows, &mut fp);
            Ok((class, fp))
        };
        json_array::read_states_from(file, src, &decode, |_, (class, fp)| {
            for input in fp {
                if !b.fp_inputs.contains(&input) {
                    b.fp_inputs.push(input);
                }
            }
            b.add(class, &mut cursors, false);
            Ok(())
        })?;
        // The spare capacity (entries larger than the guess, other entries than cursors).
        cursors.shrink_to_fit();
        let skipped = skipped_list(b.skipped, b.malformed, notes);
        Ok((cursors, skipped, b.fp_inputs))
    }

    /// The memlog store's cursors: updated in place from the entries the last read set when
    /// the previous ones came back ([`StoreReader::recycle`]), else rebuilt; lent to the
    /// snapshot either way (never copied).
    fn memlog_cursors(&mut self, notes: &mut Vec<String>) -> Cursors {
        let m = self.memlog.as_ref().expect("memlog layout has a memlog");
        let entries = m.entries();
        if let (Some(touched), Some(mut b)) = (m.touched(), self.built.take()) {
            if b.update(self, entries, touched) {
                let parts = b.lend(notes);
                self.built = Some(b);
                self.in_place += 1;
                return parts;
            }
            tracing::debug!("memlog change not applicable in place; cursors rebuilt");
        }
        let it = entries.iter().map(|(k, e)| (k.clone(), Cow::Borrowed(e)));
        let mut b = self.build(it, true);
        let parts = b.lend(notes);
        self.built = Some(b);
        parts
    }

    /// Filestream inputs' fingerprint windows by input id.
    fn fingerprint_windows(&self) -> HashMap<String, (u64, u64)> {
        self.config
            .iter()
            .flat_map(|c| c.inputs.iter())
            .filter(|i| i.kind == "filestream")
            .map(|i| {
                (
                    i.id.clone().unwrap_or_else(|| ".global".into()),
                    i.fingerprint,
                )
            })
            .collect()
    }

    /// What the entry `key` becomes; a fingerprint identity's input is added to `fp_inputs`.
    fn classify(
        &self,
        key: Arc<str>,
        e: Cow<'_, Entry>,
        windows: &HashMap<String, (u64, u64)>,
        fp_inputs: &mut Vec<String>,
    ) -> Class {
        if e.ttl_zero {
            return Class::Dropped;
        }
        let identity = match keys::parse(&key) {
            Some(Key::NotAFile { prefix }) => return Class::Skipped(prefix.to_string()),
            Some(Key::Log {
                path_identity: true,
            }) => Identity::Path,
            Some(Key::Log { .. }) | None if e.dev_ino.is_some() => {
                let (ino, dev) = e.dev_ino.expect("checked");
                Identity::DevInode { dev, ino }
            }
            Some(Key::Filestream { input, file }) => match file {
                FileId::Native { ino, dev } => Identity::DevInode { dev, ino },
                FileId::Path(_) => Identity::Path,
                FileId::InodeMarker { ino } => Identity::Inode { ino },
                FileId::Fingerprint(hex) => {
                    let (offset, length) = windows.get(input).copied().unwrap_or((0, 1024));
                    if !fp_inputs.iter().any(|i| i == input) {
                        fp_inputs.push(input.to_string());
                    }
                    Identity::Fingerprint {
                        spec: Box::new(FingerprintSpec::Sha256Window { offset, length }),
                        value: hex.to_string().into(),
                    }
                }
                FileId::Unsupported(name) => {
                    return Class::Skipped(format!("filestream {name} identity (unsupported)"))
                }
            },
            Some(Key::Log { .. }) | None => return Class::Malformed,
        };
        let offset = e.offset;
        let path = match e {
            Cow::Owned(e) => e.source,
            Cow::Borrowed(e) => e.source.clone(),
        };
        Class::Cursor(Cursor {
            key,
            identity,
            path,
            offset,
            unit: crate::cursor::OffsetUnit::Bytes,
        })
    }

    /// The longest line any input accepts (a file's input is not known): the configured
    /// `max_bytes` / `message_max_bytes`, else Filebeat's default.
    fn max_line_bytes(&self) -> Option<u64> {
        let default = INFO.max_line_bytes;
        let Some(c) = &self.config else {
            return default;
        };
        c.inputs
            .iter()
            .map(|i| i.max_bytes.or(default))
            .max()
            .unwrap_or(default)
    }

    fn inputs(&self, fingerprint_inputs: &[String]) -> Vec<InputSpec> {
        let Some(cfg) = &self.config else {
            return Vec::new();
        };
        cfg.inputs
            .iter()
            .map(|i| {
                let id = i.id.clone().unwrap_or_else(|| {
                    if i.kind == "filestream" {
                        ".global".into()
                    } else {
                        i.kind.clone()
                    }
                });
                let min_size = (i.kind == "filestream" && fingerprint_inputs.contains(&id))
                    .then_some(i.fingerprint.0 + i.fingerprint.1);
                InputSpec {
                    name: id,
                    paths: i.paths.clone(),
                    exclude: i
                        .exclude_files
                        .iter()
                        .cloned()
                        .map(ExcludeRule::Regex)
                        .collect(),
                    ignore_older: i.ignore_older,
                    min_size,
                    lagging_state: None,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Legacy entries are keyed as Filebeat 7.9+ migrates them, or by position without an inode.
    #[test]
    fn legacy_keys() {
        let json = br#"[{"source":"/a","offset":1,"FileStateOS":{"inode":12,"device":2049}},
            {"source":"/b","offset":0},
            {"source":"/c","offset":0,"FileStateOS":{"inode":18446744073709551615,"device":0}},
            {"source":"/d","offset":0,"FileStateOS":{"inode":18446744073709551615,"device":18446744073709551615}}]"#;
        let keys: Vec<String> = parse_array(Path::new("registry"), json)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "filebeat::logs::native::12-2049",
                "entry[1]",
                "filebeat::logs::native::18446744073709551615-0",
                "filebeat::logs::native::18446744073709551615-18446744073709551615"
            ]
        );
    }
}
