//! The memlog store (Filebeat 7.9+): the newest `<txid>.json` checkpoint plus the `log.json`
//! op log, replayed exactly as Filebeat loads it, and re-read incrementally.
//!
//! Replay rules (libbeat/statestore/backend/memlog): take the highest-numbered checkpoint;
//! skip ops with id <= its txid (stale lines from a checkpoint race); then each op must be the
//! next id: stop at the first gap, decode error or unterminated line. Filebeat appends ops
//! without fsync, so an unterminated last line is "not yet written", not an error; a gap or a
//! decode error is reported as a note (the offsets read so far are older, never newer, than
//! the truth, so the backlog errs towards "behind").

use std::borrow::Cow;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Deserialize;

use super::entry::{Entry, RawState};
use super::json_array::{for_each_state, open_states, read_states_from};
use super::memlog_once::{List, Listed};
use crate::error::{Position, StoreError};

/// A file's identity and version, to notice replacement or change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sig {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: Option<SystemTime>,
}

impl Sig {
    fn of(meta: &fs::Metadata) -> Sig {
        Sig {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: meta.modified().ok(),
        }
    }
}

/// The live state, key -> entry, in the order the entries arrived (the checkpoint's, then
/// new keys of `set` ops; a `remove` moves the last entry into the hole).
pub type Entries = indexmap::IndexMap<Arc<str>, Entry, foldhash::fast::RandomState>;

/// The memlog store of one registry directory, kept between reads.
#[derive(Debug)]
pub struct Memlog {
    dir: PathBuf,
    entries: Entries,
    /// The loaded checkpoint: its txid and file signature.
    checkpoint: Option<(u64, Sig)>,
    /// log.json's (dev, ino) and how many bytes / lines of it are applied.
    log: Option<(u64, u64)>,
    consumed: u64,
    lines: u64,
    next_id: u64,
    /// What the last read noticed (torn tail, gap ...).
    notes: Vec<String>,
    /// How the last read went: full reload or incremental, and bytes of log read.
    pub last_read: ReadKind,
    /// The entries the last read set, by index, when it only set entries (`None`: reloaded,
    /// or an entry was removed, which moves another one).
    touched: Option<Vec<usize>>,
    /// The read under way is the only one ([`Memlog::read_owned`]).
    once: bool,
    /// What a full read for [`Memlog::read_owned`] loaded, instead of `entries`.
    list: Option<List>,
}

/// How a read was done (for tests and the wait loop's cost figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadKind {
    #[default]
    None,
    Full {
        log_bytes: u64,
    },
    Incremental {
        log_bytes: u64,
    },
}

#[derive(Deserialize)]
struct Action {
    #[serde(alias = "Op", alias = "OP")]
    op: String,
    #[serde(alias = "ID", alias = "Id")]
    id: u64,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, alias = "K")]
    k: Cow<'a, str>,
    #[serde(default, borrow, alias = "V")]
    v: Option<RawState<'a>>,
}

impl Memlog {
    /// A store in `dir` (`.../registry/filebeat`), not read yet.
    pub fn new(dir: PathBuf) -> Memlog {
        Memlog {
            dir,
            entries: Entries::default(),
            checkpoint: None,
            log: None,
            consumed: 0,
            lines: 0,
            next_id: 1,
            notes: Vec::new(),
            last_read: ReadKind::None,
            touched: None,
            once: false,
            list: None,
        }
    }

    /// The indices (in [`Memlog::entries`]) of the entries the last read set, in place or
    /// appended, when that is all it did; `None` when the state was reloaded or an entry was
    /// removed (every index may have changed).
    pub fn touched(&self) -> Option<&[usize]> {
        self.touched.as_deref()
    }

    /// The live state: key -> entry.
    pub fn entries(&self) -> &Entries {
        &self.entries
    }

    /// Brings the state up to date and hands its entries over, in the order
    /// [`Memlog::entries`] would hold them, for a reader that reads once: a full read builds
    /// no map of every key (see `List`). The next read loads the store again from its
    /// checkpoint.
    pub fn read_owned(&mut self) -> Result<Listed, StoreError> {
        self.once = true;
        let read = self.read();
        self.once = false;
        if let Err(e) = read {
            self.list = None;
            return Err(e);
        }
        self.last_read = ReadKind::None;
        self.touched = None;
        Ok(self.take_listed())
    }

    /// The entries loaded, moved out of the list or the map that holds them.
    fn take_listed(&mut self) -> Listed {
        match self.list.take() {
            Some(list) => list.into_entries(),
            None => std::mem::take(&mut self.entries).into_iter().collect(),
        }
    }

    /// Notes of the last read.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Brings the state up to date with the directory.
    ///
    /// A checkpoint can replace the one being read (Filebeat renames `<new>.json` in, then
    /// deletes the old one and truncates log.json): when the checkpoint vanishes under the
    /// reader or a newer one appears during the read, the read starts over (a few times).
    pub fn read(&mut self) -> Result<(), StoreError> {
        const ATTEMPTS: usize = 16;
        for attempt in 1..=ATTEMPTS {
            match self.read_once() {
                Ok(loaded) => {
                    let now = newest_checkpoint(&self.dir)?.map(|(txid, _)| txid);
                    if now == loaded || attempt == ATTEMPTS {
                        return Ok(());
                    }
                    tracing::debug!(
                        ?loaded,
                        ?now,
                        "memlog checkpoint replaced during read; re-reading"
                    );
                }
                Err(StoreError::Io { ref source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempt < ATTEMPTS =>
                {
                    tracing::debug!("memlog checkpoint vanished during read; re-reading");
                }
                Err(e) => {
                    self.last_read = ReadKind::None;
                    self.touched = None;
                    return Err(e);
                }
            }
            // Start over from scratch.
            self.last_read = ReadKind::None;
            self.touched = None;
        }
        Ok(())
    }

    /// One read; returns the txid of the checkpoint the state is based on.
    fn read_once(&mut self) -> Result<Option<u64>, StoreError> {
        self.notes.clear();
        let newest = newest_checkpoint(&self.dir)?;
        let cp_sig = match &newest {
            Some((txid, path)) => {
                let meta = fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
                Some((*txid, Sig::of(&meta)))
            }
            None => None,
        };
        let log_path = self.dir.join("log.json");
        let log_meta = match fs::metadata(&log_path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::io(&log_path, e)),
        };
        let log_id = log_meta.as_ref().map(|m| (m.dev(), m.ino()));
        let log_len = log_meta.as_ref().map_or(0, |m| m.len());
        let incremental = cp_sig == self.checkpoint
            && self.checkpoint.is_some() == newest.is_some()
            && log_id == self.log
            && log_len >= self.consumed
            && !matches!(self.last_read, ReadKind::None);
        self.touched = incremental.then(Vec::new);
        if !incremental {
            self.entries.clear();
            self.list = None;
            self.consumed = 0;
            self.lines = 0;
            self.next_id = 1;
            self.checkpoint = None;
            if let Some((txid, path)) = &newest {
                self.load_checkpoint(*txid, path)?;
            }
            self.checkpoint = cp_sig;
            self.log = log_id;
        }
        let read = if log_meta.is_some() {
            self.replay(&log_path)?
        } else {
            0
        };
        self.last_read = if incremental {
            ReadKind::Incremental { log_bytes: read }
        } else {
            ReadKind::Full { log_bytes: read }
        };
        Ok(newest.map(|(txid, _)| txid))
    }

    /// Loads the checkpoint `path`, read in chunks (never held whole).
    fn load_checkpoint(&mut self, txid: u64, path: &Path) -> Result<(), StoreError> {
        let (file, size) = open_states(path)?;
        let mut head = vec![0; HEAD];
        let n = crate::safe_read::read_at(file.get_ref(), &mut head, 0)
            .map_err(|e| StoreError::io(path, e))?;
        let guess = entries_guess(&head[..n], size);
        self.load_states(txid, guess, |each| {
            read_states_from(path, file, &checkpoint_entry, each)
        })?;
        // A guess far above the count (lines much shorter further on) would leave spare index
        // slots resident (hashing touches them all) for as long as `wait` runs; a close one
        // already has the table size the count needs, and nothing moves.
        self.entries.shrink_to_fit();
        Ok(())
    }

    /// The state of a checkpoint `<txid>.json` holding `checkpoint` followed by a log.json
    /// holding `log`, parsed from bytes (`dir` names the store in errors and notes): what a
    /// full read of such a directory gives. For property tests and fuzzing.
    pub fn from_bytes(
        dir: PathBuf,
        checkpoint: Option<(u64, &[u8])>,
        log: &[u8],
    ) -> Result<Memlog, StoreError> {
        Memlog::load_bytes(Memlog::new(dir), checkpoint, log)
    }

    /// [`Memlog::from_bytes`] the way [`Memlog::read_owned`] reads: its entries and notes.
    pub fn owned_from_bytes(
        dir: PathBuf,
        checkpoint: Option<(u64, &[u8])>,
        log: &[u8],
    ) -> Result<(Listed, Vec<String>), StoreError> {
        let mut m = Memlog::new(dir);
        m.once = true;
        let mut m = Memlog::load_bytes(m, checkpoint, log)?;
        Ok((m.take_listed(), m.notes))
    }

    fn load_bytes(
        mut m: Memlog,
        checkpoint: Option<(u64, &[u8])>,
        log: &[u8],
    ) -> Result<Memlog, StoreError> {
        if let Some((txid, bytes)) = checkpoint {
            let path = m.dir.join(format!("{txid}.json"));
            m.load_checkpoint_bytes(txid, &path, bytes)?;
            let unknown = Sig {
                dev: 0,
                ino: 0,
                size: 0,
                mtime: None,
            };
            m.checkpoint = Some((txid, unknown));
        }
        let log_path = m.dir.join("log.json");
        m.replay_bytes(&log_path, log);
        Ok(m)
    }

    fn load_checkpoint_bytes(
        &mut self,
        txid: u64,
        path: &Path,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let guess = entries_guess(bytes, bytes.len() as u64);
        self.load_states(txid, guess, |each| {
            for_each_state(path, bytes, &checkpoint_entry, each)
        })
    }

    /// The checkpoint's states, as `read` hands them to the callback it is given: into a list
    /// for a one-shot read, else into the map (`guess` entries reserved).
    fn load_states(
        &mut self,
        txid: u64,
        guess: usize,
        read: impl FnOnce(
            &mut (dyn FnMut(usize, (Arc<str>, Entry)) -> Result<(), String> + Send),
        ) -> Result<usize, StoreError>,
    ) -> Result<(), StoreError> {
        if self.once {
            let mut loaded = Vec::with_capacity(guess);
            read(&mut |_, kv| {
                loaded.push(kv);
                Ok(())
            })?;
            self.take_loaded(loaded);
        } else {
            self.entries
                .reserve(guess.saturating_sub(self.entries.len()));
            let entries = &mut self.entries;
            read(&mut |_, (k, e)| {
                entries.insert(k, e);
                Ok(())
            })?;
        }
        self.next_id = txid.saturating_add(1);
        Ok(())
    }

    /// A checkpoint loaded as a list: kept as one, or put in the map when a key is there
    /// twice (the map keeps its first place and its last value).
    fn take_loaded(&mut self, loaded: Listed) {
        match List::new(loaded) {
            Ok(list) => self.list = Some(list),
            Err(loaded) => self.entries.extend(loaded),
        }
    }

    /// The list's entries move into the map, which takes over.
    fn list_to_map(&mut self) {
        if let Some(list) = self.list.take() {
            self.entries.extend(list.into_entries());
        }
    }

    /// Applies the ops of log.json from `consumed` on; returns the bytes read.
    fn replay(&mut self, log_path: &Path) -> Result<u64, StoreError> {
        let buf =
            crate::safe_read::read_from(log_path, self.consumed, crate::safe_read::Limit::STORE)?;
        Ok(self.replay_bytes(log_path, &buf))
    }

    /// Applies the ops in `buf` (log.json from `consumed` on); returns `buf`'s length.
    fn replay_bytes(&mut self, log_path: &Path, buf: &[u8]) -> u64 {
        if let Some(list) = &mut self.list {
            list.index_keys(buf);
        }
        let checkpoint_id = self.checkpoint.map_or(0, |(id, _)| id);
        let mut pos = 0usize;
        loop {
            let Some(a_end) = line_end(buf, pos) else {
                self.note_torn(&buf[pos..]);
                break;
            };
            let Some(b_end) = line_end(buf, a_end + 1) else {
                self.note_torn(&buf[pos..]);
                break;
            };
            let here = Position {
                line: Some(self.lines + 1),
                byte: Some(self.consumed + pos as u64),
            };
            let action: Action = match serde_json::from_slice(&buf[pos..a_end]) {
                Ok(a) => a,
                Err(e) => {
                    self.note_stop(log_path, here, &format!("invalid op line: {e}"));
                    break;
                }
            };
            let body: Body = match serde_json::from_slice(&buf[a_end + 1..b_end]) {
                Ok(b) => b,
                Err(e) => {
                    let at = Position {
                        line: Some(self.lines + 2),
                        byte: Some(self.consumed + a_end as u64 + 1),
                    };
                    self.note_stop(log_path, at, &format!("invalid op body: {e}"));
                    break;
                }
            };
            if action.id > checkpoint_id {
                if action.id != self.next_id {
                    self.note_stop(
                        log_path,
                        here,
                        &format!(
                            "op id {} where {} was expected (gap)",
                            action.id, self.next_id
                        ),
                    );
                    break;
                }
                if let Err(what) = self.apply(&action.op, body) {
                    self.note_stop(log_path, here, &what);
                    break;
                }
                self.next_id = self.next_id.saturating_add(1);
            }
            pos = b_end + 1;
            self.lines = self.lines.saturating_add(2);
        }
        self.consumed = self.consumed.saturating_add(pos as u64);
        buf.len() as u64
    }

    fn apply(&mut self, op: &str, body: Body<'_>) -> Result<(), String> {
        match op {
            "set" => {
                let v = body.v.ok_or("set op without a value")?;
                let entry = file_entry(&body.k, v).map_err(|e| format!("{}: {e}", body.k))?;
                let entry = match &mut self.list {
                    Some(list) => match list.set(&body.k, entry) {
                        Ok(()) => return Ok(()),
                        Err(entry) => entry,
                    },
                    None => entry,
                };
                self.list_to_map();
                let (at, _) = self.entries.insert_full(Arc::from(&*body.k), entry);
                if let Some(t) = &mut self.touched {
                    t.push(at);
                }
            }
            "remove" => {
                if let Some(list) = &mut self.list {
                    if list.remove(&body.k).is_ok() {
                        return Ok(());
                    }
                }
                self.list_to_map();
                if self.entries.swap_remove(&*body.k).is_some() {
                    self.touched = None;
                }
            }
            other => return Err(format!("unknown op {other:?}")),
        }
        Ok(())
    }

    fn note_torn(&mut self, rest: &[u8]) {
        if !rest.is_empty() {
            self.notes.push(format!(
                "log.json ends in a partly written op ({} bytes): Filebeat is writing it; read up to the last complete op",
                rest.len()
            ));
        }
    }

    fn note_stop(&mut self, path: &Path, at: Position, what: &str) {
        self.notes.push(format!(
            "{}: {what} at {at}; later ops are ignored, as Filebeat does (offsets may be older than the truth, never newer)",
            crate::display::path(path)
        ));
    }
}

/// Bytes of a checkpoint's start that [`entries_guess`] looks at.
const HEAD: usize = 64 << 10;

/// About how many entries a checkpoint of `size` bytes starting with `head` holds, to reserve
/// the map's slots once instead of rehashing 10^6 entries as they load: Filebeat writes one
/// entry per line, so the lines of the head, scaled to the size, and a sixteenth more for
/// lines longer in the head than further on; 200 bytes an entry when the head has no line
/// end. A guess too high costs index slots, which `shrink_to_fit` gives back; too low, one
/// rehash. Never more entries than the size holds (a head of blank lines must not reserve
/// millions of slots), and at most 2^24 whatever the file says.
fn entries_guess(head: &[u8], size: u64) -> usize {
    /// The shortest checkpoint entry: `{"_key":""},`.
    const SHORTEST: u64 = 12;
    let lines = memchr::memchr_iter(b'\n', head).count() as u64;
    let guess = match lines {
        0 => size / 200,
        _ => {
            let scaled = u128::from(size) * u128::from(lines) / head.len().max(1) as u128;
            let scaled = u64::try_from(scaled).unwrap_or(u64::MAX);
            scaled.saturating_add(scaled / 16)
        }
    };
    let guess = guess.min(size / SHORTEST);
    usize::try_from(guess).unwrap_or(usize::MAX).min(1 << 24)
}

/// A checkpoint state and its `_key`, validated.
fn checkpoint_entry(_: usize, mut state: RawState<'_>) -> Result<(Arc<str>, Entry), String> {
    let key = state
        .key
        .take()
        .ok_or_else(|| "checkpoint entry has no \"_key\"".to_string())?;
    let entry = file_entry(&key, state).map_err(|e| format!("{key}: {e}"))?;
    Ok((Arc::from(&*key), entry))
}

/// A file key's entry, validated; other inputs' states are kept as placeholders so that
/// `remove` ops and the skipped counts still see them.
fn file_entry(key: &str, state: RawState<'_>) -> Result<Entry, String> {
    match super::keys::parse(key) {
        Some(super::keys::Key::NotAFile { .. }) => Ok(Entry::default()),
        _ => state.into_entry(),
    }
}

/// End (index of the '\n') of the line starting at `from`, if terminated.
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
}

/// The highest-numbered `<txid>.json` in `dir`.
fn newest_checkpoint(dir: &Path) -> Result<Option<(u64, PathBuf)>, StoreError> {
    let entries = fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(txid) = stem.parse::<u64>() else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| txid > *b) {
            best = Some((txid, entry.path()));
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guess scales the head's lines to the file's size, a sixteenth more; it holds
    /// without line ends, and stays bounded by what the size can hold and by 2^24.
    #[test]
    fn entries_guess_scales_the_head() {
        let head = "{\"_key\":\"k\",\"offset\":1}\n".repeat(100);
        let line = head.len() as u64 / 100;
        assert_eq!(entries_guess(head.as_bytes(), head.len() as u64), 106);
        assert_eq!(entries_guess(head.as_bytes(), line * 1_000_000), 1_062_500);
        assert_eq!(entries_guess(b"[{\"offset\":1}]", 200 * 1000), 1000);
        assert_eq!(entries_guess(b"", 0), 0);
        assert_eq!(entries_guess(b"\n", u64::MAX), 1 << 24);
        // Blank lines in the head: no more than the size can hold.
        assert_eq!(entries_guess(&[b'\n'; 4096], 1_200_000), 100_000);
        assert_eq!(entries_guess(b"\n", 11), 0);
        assert_eq!(entries_guess(head.as_bytes(), u64::MAX), 1 << 24);
    }

    fn line(key: &str, offset: u64) -> String {
        format!(
            r#"{{"_key":"{key}","source":"/l/{key}","offset":{offset},"ttl":-1,"type":"log","FileStateOS":{{"inode":{offset},"device":1}}}}"#
        )
    }

    fn op(id: u64, op: &str, key: &str, offset: u64) -> String {
        let body = match op {
            "set" => format!(
                r#"{{"k":"{key}","v":{{"source":"/l/{key}","offset":{offset},"ttl":-1,"type":"log","FileStateOS":{{"inode":{offset},"device":1}}}}}}"#
            ),
            _ => format!(r#"{{"k":"{key}"}}"#),
        };
        format!("{{\"op\":\"{op}\",\"id\":{id}}}\n{body}\n")
    }

    /// The one-shot read holds what the map holds, in its order: removes that move the last
    /// entry (indexed or not) into the hole, sets in place and appended, a key the checkpoint
    /// has twice (the map's first place and last value), and a log line the scan of keys
    /// cannot read but the replay stops at.
    #[test]
    fn one_shot_reads_hold_what_the_map_holds() {
        let keys = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("filebeat::logs::native::{i}-1"))
                .collect()
        };
        let k = keys(6);
        let checkpoints: [Vec<String>; 2] = [
            k.iter()
                .enumerate()
                .map(|(i, k)| line(k, i as u64 + 1))
                .collect(),
            // k[1] twice.
            [&k[0], &k[1], &k[2], &k[1], &k[3]]
                .iter()
                .enumerate()
                .map(|(i, k)| line(k, i as u64 + 1))
                .collect(),
        ];
        let logs = [
            String::new(),
            op(11, "remove", &k[0], 0) + &op(12, "set", &k[3], 50),
            op(11, "remove", &k[2], 0)
                + &op(12, "set", "filebeat::logs::native::77-1", 7)
                + &op(13, "remove", &k[5], 0)
                + &op(14, "set", &k[1], 99)
                + &op(15, "remove", "filebeat::logs::native::88-1", 0)
                + &op(16, "remove", &k[1], 0),
            // The replay stops at the bad body; the scan skips it.
            op(11, "set", &k[4], 5) + "{\"op\":\"set\",\"id\":12}\n{\"k\":\n",
        ];
        for cp in &checkpoints {
            let cp = format!("[{}]", cp.join(",\n"));
            for log in &logs {
                let dir = PathBuf::from("/reg");
                let map =
                    Memlog::from_bytes(dir.clone(), Some((10, cp.as_bytes())), log.as_bytes())
                        .unwrap();
                let want: Listed = map
                    .entries()
                    .iter()
                    .map(|(k, e)| (k.clone(), e.clone()))
                    .collect();
                let (got, notes) =
                    Memlog::owned_from_bytes(dir, Some((10, cp.as_bytes())), log.as_bytes())
                        .unwrap();
                assert_eq!(got, want, "checkpoint {cp}, log {log}");
                assert_eq!(notes, map.notes(), "checkpoint {cp}, log {log}");
            }
        }
    }

    /// A key of a small space (one of them not a file key), spelled as `spelling` says:
    /// plainly or with a JSON escape.
    fn spelled(i: u8, spelling: u8) -> String {
        let k = match i {
            9 => "other::x".to_string(),
            i => format!("filebeat::logs::native::{i}-1"),
        };
        match spelling % 3 {
            0 => k.replacen('f', "\\u0066", 1),
            1 => k.replace(':', "\\u003a"),
            _ => k,
        }
    }

    /// One op as written: (set?, key, spelling, offset, body form, "\r" before the ends,
    /// id step).
    type OpLine = (bool, u8, u8, u16, u8, bool, u8);

    fn op_lines(ops: &[OpLine], first_id: u64) -> String {
        let mut log = String::new();
        let mut id = first_id;
        for &(set, i, spelling, off, form, cr, step) in ops {
            let k = spelled(i, spelling);
            let state = format!(
                r#"{{"source":"/l/{off}","offset":{off},"ttl":-1,"type":"log","FileStateOS":{{"inode":{off},"device":1}}}}"#
            );
            let field = if form % 4 == 1 { "K" } else { "k" };
            let body = match (form % 4, set) {
                // Serde's sequence form of the body: the key scan does not read it.
                (0, true) => format!(r#"["{k}",{state}]"#),
                (0, false) => format!(r#"["{k}"]"#),
                (3, _) => format!(r#"{{"{field}":"#),
                (_, true) => format!(r#"{{"{field}":"{k}","v":{state}}}"#),
                (_, false) => format!(r#"{{"{field}":"{k}"}}"#),
            };
            let (name, cr) = (
                if set { "set" } else { "remove" },
                if cr { "\r" } else { "" },
            );
            log += &format!("{{\"op\":\"{name}\",\"id\":{id}}}{cr}\n{body}{cr}\n");
            id += u64::from(step % 8 == 0) + 1;
        }
        log
    }

    proptest::proptest! {
        /// Any checkpoint and log.json of a small key space: the one-shot read gives what the
        /// map gives (entries in order, notes), or the same error.
        #[test]
        fn one_shot_reads_equal_map_reads(
            cp in proptest::collection::vec((0u8..10, 0u8..3, 0u16..100), 0..8),
            ops in proptest::collection::vec(
                (proptest::bool::ANY, 0u8..10, 0u8..3, 0u16..1000, 0u8..12, proptest::bool::ANY, 0u8..40),
                0..12,
            ),
            stale in proptest::bool::ANY,
        ) {
            let cp: Vec<String> = cp
                .iter()
                .map(|&(i, spelling, off)| {
                    let k = spelled(i, spelling);
                    format!(r#"{{"_key":"{k}","source":"/l/{off}","offset":{off},"ttl":-1,"type":"log","FileStateOS":{{"inode":{off},"device":1}}}}"#)
                })
                .collect();
            let cp = format!("[{}]", cp.join(",\n"));
            // Ids from 5: stale ops (at or below the checkpoint's 10) come first.
            let log = op_lines(&ops, if stale { 5 } else { 11 });
            let dir = PathBuf::from("/reg");
            let map = Memlog::from_bytes(dir.clone(), Some((10, cp.as_bytes())), log.as_bytes());
            let once = Memlog::owned_from_bytes(dir, Some((10, cp.as_bytes())), log.as_bytes());
            match (map, once) {
                (Ok(map), Ok((got, notes))) => {
                    let want: Listed = map.entries().iter().map(|(k, e)| (k.clone(), e.clone())).collect();
                    proptest::prop_assert_eq!(got, want, "checkpoint {}\nlog {}", cp, log);
                    proptest::prop_assert_eq!(notes, map.notes());
                }
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a.to_string(), b.to_string()),
                (a, b) => proptest::prop_assert!(false, "map {:?}, one-shot {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }
}
