//! Streaming decode of a JSON array of states (legacy `registry`, `data.json`, memlog
//! checkpoints): one entry at a time into [`RawState`], never a whole `Value` tree, and never
//! the whole file in memory. The file is read in chunks; the array's structure (`[`, commas,
//! `]`) is followed here, and each element, once its bytes are complete in the buffer, is
//! decoded by serde_json from that slice (borrowed strings, the fast path). Only the element
//! being decoded and the rest of its chunk are held: at 10^6 entries the registry's ~200 MB
//! never are.
//!
//! Each caller splits its work in two: `decode(index, state)`, which is what an element
//! becomes on its own (validated, keyed, classified), and `each(index, decoded)`, which adds
//! it to what the caller builds, in the array's order. The whole read runs on a rayon pool
//! thread; the elements complete in the buffer are decoded in parallel a run at a time, each
//! run while the run before it is handed to `each`, one element at a time, and the run after
//! it found (`rayon::join`: the thread done first helps the other instead of waiting to be
//! woken); the first error in the array's order is the one reported, at the same position
//! as a decode one element at a time would give. The caller's thread waits for the pool. A
//! read blocked in the kernel (a stuck network mount) holds that pool thread, as a stat of a
//! file there already holds one; `wait` ends without it at its deadline (wait/bounded.rs).

use std::io::Read;
use std::path::Path;

use super::entry::RawState;
use crate::error::{Position, StoreError};
use crate::safe_read::{self, Limit};

/// Bytes read per read call.
const CHUNK: usize = 1 << 20;

/// Elements decoded in parallel at a time (at most; a run also ends where the buffer does).
const RUN: usize = 1024;

/// What an element becomes on its own (run in parallel; `index` is its place in the array).
/// It must have no effect beyond its result: it may also run for elements after the first
/// error, whose results are dropped.
pub type Decode<'a, T> = &'a (dyn Fn(usize, RawState<'_>) -> Result<T, String> + Sync);

/// Calls `each(index, decode(index, state))` for every element of the array in `bytes`.
pub fn for_each_state<T: Send>(
    path: &Path,
    bytes: &[u8],
    decode: Decode<'_, T>,
    each: impl FnMut(usize, T) -> Result<(), String> + Send,
) -> Result<usize, StoreError> {
    let limits = (u64::MAX, CHUNK, RUN);
    for_each_state_in(path, bytes, limits, decode, each)
}

/// The file `path` opened for [`read_states_from`] (at most [`Limit::STORE`]), and its size
/// then: one open, so a file its writer replaces in between is never sized as one file and
/// read as another.
pub fn open_states(path: &Path) -> Result<(std::io::Take<std::fs::File>, u64), StoreError> {
    let file = safe_read::open_limited(path, Limit::STORE)?;
    let size = file
        .get_ref()
        .metadata()
        .map_err(|e| StoreError::io(path, e))?
        .len();
    Ok((file, size))
}

/// Calls `each(index, decode(index, state))` for every element of the array in the file
/// [`open_states`] opened (chunks through [`safe_read::open_limited`], at most
/// [`Limit::STORE`]).
pub fn read_states_from<T: Send>(
    path: &Path,
    file: std::io::Take<std::fs::File>,
    decode: Decode<'_, T>,
    each: impl FnMut(usize, T) -> Result<(), String> + Send,
) -> Result<usize, StoreError> {
    let limits = (Limit::STORE.bytes, CHUNK, RUN);
    for_each_state_in(path, file, limits, decode, each)
}

/// The decode of an array read from `src`: `(limit, chunk, run)`: more than `limit` bytes is
/// an error, reads of at least `chunk` bytes, at most `run` elements in parallel at a time
/// (0: one by one).
fn for_each_state_in<T: Send>(
    path: &Path,
    src: impl Read + Send,
    limits: (u64, usize, usize),
    decode: Decode<'_, T>,
    each: impl FnMut(usize, T) -> Result<(), String> + Send,
) -> Result<usize, StoreError> {
    // On a pool thread: a wait for a run's decode there is spent decoding (work stealing),
    // where this thread would sleep beside the pool's and be woken for every run.
    rayon::scope(|_| decode_array(path, src, limits, decode, each))
}

fn decode_array<T: Send>(
    path: &Path,
    src: impl Read,
    (limit, chunk, run): (u64, usize, usize),
    decode: Decode<'_, T>,
    mut each: impl FnMut(usize, T) -> Result<(), String> + Send,
) -> Result<usize, StoreError> {
    // The element `bytes` parsed, then decoded (index `k`).
    let parse = |k: usize, bytes: &[u8]| -> Parsed<T> {
        let state: RawState<'_> = serde_json::from_slice(bytes)?;
        Ok(decode(k, state))
    };
    let mut s = Scanner {
        src,
        limit,
        chunk: chunk.max(1),
        buf: Vec::new(),
        eof: false,
        pos: Pos {
            path,
            at: 0,
            base: 0,
            line: 1,
            counted: 0,
        },
    };
    let mut count = 0usize;
    match s.skip_ws()? {
        None => {
            return Err(StoreError::corrupt(
                path,
                Position {
                    line: Some(1),
                    byte: Some(0),
                },
                "the file is empty; expected a JSON array of registry states",
            ))
        }
        Some(b'[') => s.pos.at += 1,
        Some(b) => {
            return Err(s.pos.error(
                &s.buf,
                format!(
                    "expected a JSON array of registry states, found {}",
                    shown(b)
                ),
            ))
        }
    }
    if s.skip_ws()? == Some(b']') {
        s.pos.at += 1;
    } else {
        loop {
            // The runs of elements complete in the buffer, decoded in parallel while the ones
            // before are taken in order.
            if s.runs(run, &parse, &mut count, &mut each)? {
                continue;
            }
            let (start, len) = s.element(count)?;
            let p = parse(count, &s.buf[start..start + len]);
            s.pos.take(&s.buf, (start, len), count, p, &mut each)?;
            count += 1;
            match s.skip_ws()? {
                Some(b',') => s.pos.at += 1,
                Some(b']') => {
                    s.pos.at += 1;
                    break;
                }
                None => return Err(s.early(count)),
                Some(b) => {
                    return Err(s.pos.error(
                        &s.buf,
                        format!(
                            "invalid registry JSON after {count} complete entr{}: expected `,` or \
                         `]`, found {}",
                            plural(count),
                            shown(b)
                        ),
                    ))
                }
            }
        }
    }
    match s.skip_ws()? {
        None => Ok(count),
        Some(b) => Err(s.pos.error(
            &s.buf,
            format!(
                "trailing characters after the array of {count} entr{}: {}",
                plural(count),
                shown(b)
            ),
        )),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        "y"
    } else {
        "ies"
    }
}

fn shown(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("`{}`", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// serde_json's message without its " at line L column C" (relative to the element: the
/// position reported is the file's).
fn message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

/// An element parsed by serde_json, then decoded.
type Parsed<T> = Result<Result<T, String>, serde_json::Error>;

/// A run of elements complete in the buffer: (start, length, the comma's index) each.
type Run = Vec<(usize, usize, usize)>;

/// The chunked reader: `buf[pos.at..]` is what is read and not yet consumed.
struct Scanner<'p, R> {
    src: R,
    limit: u64,
    /// Bytes read at least per fill.
    chunk: usize,
    buf: Vec<u8>,
    eof: bool,
    pos: Pos<'p>,
}

/// Where the reader is in the file: `base` is the file offset of `buf[0]`, `at` the first
/// byte not consumed, `line` the line of `buf[counted]` (`counted <= at`: lines are counted
/// when the buffer drops what is consumed, or for an error, never element by element). Apart
/// from the buffer, so that the elements before `at` are taken while the buffer is lent to
/// the decode of the ones after.
struct Pos<'p> {
    path: &'p Path,
    at: usize,
    base: u64,
    line: u64,
    counted: usize,
}

impl<R: Read> Scanner<'_, R> {
    /// Reads another chunk (dropping what is consumed first); false at the end of the file.
    fn fill(&mut self) -> Result<bool, StoreError> {
        if self.eof {
            return Ok(false);
        }
        let path = self.pos.path;
        if self.pos.at > 0 {
            self.pos.line = self.pos.line_of(&self.buf, self.pos.at);
            self.pos.counted = 0;
            self.buf.drain(..self.pos.at);
            self.pos.base += self.pos.at as u64;
            self.pos.at = 0;
        }
        // At least a chunk, and as much again as an unfinished element holds: an element
        // larger than a chunk is rescanned a logarithmic number of times, not once a chunk.
        // The space is filled before the element is scanned again (short reads loop here).
        let old = self.buf.len();
        self.buf.resize(old + self.chunk.max(old), 0);
        let mut end = old;
        while end < self.buf.len() {
            match self.src.read(&mut self.buf[end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(StoreError::io(path, e));
                }
            }
        }
        self.buf.truncate(end);
        let n = end - old;
        if self.pos.base + self.buf.len() as u64 > self.limit {
            let limit = Limit {
                bytes: self.limit,
                ..Limit::STORE
            };
            return Err(safe_read::too_large(path, limit));
        }
        Ok(n > 0)
    }

    /// Takes the runs of elements complete in the buffer from `pos.at` on, each run of at most
    /// `max` elements decoded in parallel while the run before it is taken, in order, and the
    /// run after it found: false when no element is complete there. The first error in the
    /// array's order is returned, as taking one element at a time would, once the decode
    /// beside it has finished (its results are dropped; a decode has no other effect).
    fn runs<T: Send>(
        &mut self,
        max: usize,
        parse: &(dyn Fn(usize, &[u8]) -> Parsed<T> + Sync),
        count: &mut usize,
        each: &mut (impl FnMut(usize, T) -> Result<(), String> + Send),
    ) -> Result<bool, StoreError> {
        use rayon::prelude::*;
        let mut run = complete_run(&self.buf, self.pos.at, max);
        if run.is_empty() {
            return Ok(false);
        }
        // The index of the run's first element (`count` is the taking's from here on).
        let mut k = *count;
        let (buf, pos) = (&self.buf[..], &mut self.pos);
        // The run whose first element is the `k`-th, decoded.
        let decode = |run: &Run, k: usize| -> Vec<Parsed<T>> {
            run.par_iter()
                .enumerate()
                .map(|(i, &(at, len, _))| parse(k + i, &buf[at..at + len]))
                .collect()
        };
        // Takes a decoded run in order.
        let mut take = |(run, parsed): (Run, Vec<Parsed<T>>)| -> Result<(), StoreError> {
            for (&(at, len, comma), p) in run.iter().zip(parsed) {
                pos.take(buf, (at, len), *count, p, &mut *each)?;
                *count += 1;
                pos.consume(comma + 1);
            }
            Ok(())
        };
        let mut taken: Option<(Run, Vec<Parsed<T>>)> = None;
        loop {
            let next_at = run.last().map_or(0, |&(_, _, comma)| comma + 1);
            // This run decodes (on this thread and any idle one) while the one before it is
            // taken and the one after it found: a thread that waits for the other helps it.
            let (parsed, after) = rayon::join(
                || decode(&run, k),
                || -> Result<Run, StoreError> {
                    if let Some(done) = taken.take() {
                        take(done)?;
                    }
                    Ok(complete_run(buf, next_at, max))
                },
            );
            let after = after?;
            k += run.len();
            taken = Some((std::mem::replace(&mut run, after), parsed));
            if run.is_empty() {
                break;
            }
        }
        if let Some(done) = taken {
            take(done)?;
        }
        Ok(true)
    }

    /// Skips whitespace; the next byte (not consumed), `None` at the end of the file.
    fn skip_ws(&mut self) -> Result<Option<u8>, StoreError> {
        loop {
            let rest = &self.buf[self.pos.at..];
            match rest.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    self.pos.consume(self.pos.at + i);
                    return Ok(Some(self.buf[self.pos.at]));
                }
                None => {
                    self.pos.consume(self.buf.len());
                    if !self.fill()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The next element's start and length in `buf` (whitespace before it skipped, its
    /// bytes complete in the buffer); `count` elements came before it.
    fn element(&mut self, count: usize) -> Result<(usize, usize), StoreError> {
        match self.skip_ws()? {
            None => return Err(self.early(count)),
            Some(b']') if count > 0 => {
                return Err(self.pos.error(
                    &self.buf,
                    format!(
                        "invalid registry JSON after {count} complete entr{}: trailing comma",
                        plural(count)
                    ),
                ))
            }
            Some(_) => {}
        }
        loop {
            if let Some(len) = value_len(&self.buf[self.pos.at..], self.eof) {
                return Ok((self.pos.at, len));
            }
            if !self.fill()? {
                // Incomplete at the end of the file: an unterminated element.
                let len = self.buf.len() - self.pos.at;
                if len == 0 {
                    return Err(self.early(count));
                }
                return Ok((self.pos.at, len));
            }
        }
    }

    /// The file ended inside the array.
    fn early(&self, count: usize) -> StoreError {
        self.pos.error(
            &self.buf,
            format!(
                "the JSON ends early after {count} complete entr{} (truncated file?)",
                plural(count)
            ),
        )
    }
}

impl Pos<'_> {
    /// Takes the `count`-th element, `buf[start..start + len]`, parsed (`p`): consumes it and
    /// hands it to `each`, or says what is wrong with it, where: a JSON error at its own line
    /// and byte, a refusal by the decode or by `each` after the element.
    fn take<T>(
        &mut self,
        buf: &[u8],
        (start, len): (usize, usize),
        count: usize,
        p: Parsed<T>,
        each: &mut impl FnMut(usize, T) -> Result<(), String>,
    ) -> Result<(), StoreError> {
        self.consume(start);
        let decoded = p.map_err(|e| self.invalid(buf, start, count, e))?;
        self.consume(start + len);
        let t = decoded.map_err(|m| self.error(buf, format!("entry {count}: {m}")))?;
        each(count, t).map_err(|m| self.error(buf, format!("entry {count}: {m}")))
    }

    /// serde_json's error `e` for the element at `buf[start..]`, positioned in the file.
    fn invalid(&self, buf: &[u8], start: usize, count: usize, e: serde_json::Error) -> StoreError {
        let (line, byte) = self.position_in(buf, start, e.line(), e.column());
        let what = match e.classify() {
            serde_json::error::Category::Eof => format!(
                "the JSON ends early after {count} complete entr{} (truncated file?): {}",
                plural(count),
                message(&e)
            ),
            _ => format!(
                "invalid registry JSON after {count} complete entr{}: {}",
                plural(count),
                message(&e)
            ),
        };
        StoreError::corrupt(self.path, Position { line, byte }, what)
    }

    /// Marks `buf[..end]` consumed.
    fn consume(&mut self, end: usize) {
        self.at = end;
    }

    /// The line of `buf[i]` (`i` at or after `counted`).
    fn line_of(&self, buf: &[u8], i: usize) -> u64 {
        self.line + memchr::memchr_iter(b'\n', &buf[self.counted..i]).count() as u64
    }

    /// (line, byte) in the file of a 1-based line and column of the element at `buf[start..]`.
    fn position_in(
        &self,
        buf: &[u8],
        start: usize,
        line: usize,
        column: usize,
    ) -> (Option<u64>, Option<u64>) {
        let bytes = &buf[start..];
        let mut from = 0usize;
        for _ in 1..line {
            match memchr::memchr(b'\n', &bytes[from..]) {
                Some(i) => from += i + 1,
                None => break,
            }
        }
        let off = (from + column.saturating_sub(1)).min(bytes.len());
        (
            Some(self.line_of(buf, start) + line.saturating_sub(1) as u64),
            Some(self.base + (start + off) as u64),
        )
    }

    /// A structural error at the current byte of `buf`.
    fn error(&self, buf: &[u8], what: String) -> StoreError {
        StoreError::corrupt(
            self.path,
            Position {
                line: Some(self.line_of(buf, self.at)),
                byte: Some(self.base + self.at as u64),
            },
            what,
        )
    }
}

/// The elements complete in `buf[at..]` and each followed by a comma there, at most `max`:
/// (start, length, the comma's index). The run stops before anything else (the array's end,
/// an element cut by the buffer's end, a structural error), which the element-by-element
/// path then takes, so errors keep their wording and position.
fn complete_run(buf: &[u8], mut at: usize, max: usize) -> Run {
    let skip = |from: usize| {
        buf.get(from..)
            .and_then(|b| b.iter().position(|c| !c.is_ascii_whitespace()))
            .map(|i| from + i)
    };
    let mut run = Vec::new();
    while run.len() < max {
        let Some(start) = skip(at) else { break };
        if buf[start] == b']' {
            break;
        }
        // Never at the end of the file: a value cut there is the slow path's to report.
        let Some(len) = value_len(&buf[start..], false) else {
            break;
        };
        match skip(start + len) {
            Some(comma) if buf[comma] == b',' => {
                run.push((start, len, comma));
                at = comma + 1;
            }
            _ => break,
        }
    }
    run
}

/// The length of the JSON value at the start of `b` when it is complete in `b` (`None`: more
/// bytes are needed). Only its extent is found (strings with their escapes, nesting by count,
/// never by recursion); serde_json then decodes and validates it. A scalar ends at a `,`,
/// `]` or whitespace, or at the end of the file (`eof`).
fn value_len(b: &[u8], eof: bool) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0usize;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                loop {
                    let j = memchr::memchr2(b'"', b'\\', &b[i..])?;
                    if b[i + j] == b'"' {
                        i += j + 1;
                        break;
                    }
                    // An escape: skip the backslash and the byte it escapes.
                    i += j + 2;
                    if i > b.len() {
                        return None;
                    }
                }
                if depth == 0 {
                    return Some(i);
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            c if depth == 0 && (c == b',' || c == b']' || c.is_ascii_whitespace()) => {
                return Some(i.max(1));
            }
            _ => {}
        }
        i += 1;
    }
    (eof && depth == 0 && !b.is_empty()).then_some(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Result<Vec<u64>, String> {
        let mut offs = vec![];
        let decode = |_, st: RawState| Ok(st.into_entry()?.offset);
        for_each_state(Path::new("/r"), s.as_bytes(), &decode, |_, o| {
            offs.push(o);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(offs)
    }

    /// The offsets of `text` read `chunk` bytes at a time and decoded at most `run` elements
    /// in parallel at a time, with `each` refusing the entry at index `refuse`; every index as
    /// decode and each saw it.
    fn offsets_in_runs(
        text: &str,
        (chunk, run): (usize, usize),
        refuse: usize,
    ) -> Result<Vec<(usize, u64)>, String> {
        let mut out = vec![];
        let decode = |i, st: RawState| Ok((i, st.into_entry()?.offset));
        for_each_state_in(
            Path::new("/r"),
            text.as_bytes(),
            (u64::MAX, chunk, run),
            &decode,
            |i, d| {
                if i == refuse {
                    return Err("refused".into());
                }
                assert_eq!(i, d.0, "each gets the index decode got");
                out.push(d);
                Ok(())
            },
        )
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Decoded in parallel runs or one element at a time, an array gives the same entries in
    /// the same order, and the same first error at the same line and byte, wherever it is
    /// (in a run, at its edge, after it) and whatever it is (JSON, a bad value, a refusal by
    /// `each`, the array's structure), also when the buffer ends inside the runs (small
    /// chunks).
    #[test]
    fn parallel_runs_decode_like_one_at_a_time() {
        const ONE: (usize, usize) = (CHUNK, 0);
        let ways = [
            (CHUNK, 1),
            (CHUNK, 7),
            (CHUNK, RUN),
            (16, 7),
            (300, RUN),
            (4096, RUN),
        ];
        let n = 3 * RUN + 5;
        let good: Vec<String> = (0..n)
            .map(|i| format!("{{\"source\":\"/l/{i}\",\"offset\":{i}}}"))
            .collect();
        let text = format!("[\n{}\n]", good.join("\n ,\n\t"));
        let want: Vec<(usize, u64)> = (0..n).map(|i| (i, i as u64)).collect();
        for way in std::iter::once(ONE).chain(ways) {
            assert_eq!(
                offsets_in_runs(&text, way, usize::MAX).unwrap(),
                want,
                "(chunk, run) {way:?}"
            );
        }
        for at in [0, 1, RUN - 1, RUN, RUN + 1, 2 * RUN + 3, n - 1] {
            let mut bad_json = good.clone();
            bad_json[at] = "{\"offset\":1,,}".into();
            let mut bad_value = good.clone();
            bad_value[at] = "{\"offset\":\"x\"}".into();
            let mut bad_structure = good.clone();
            bad_structure[at] = "{\"offset\":1} {\"offset\":2}".into();
            for case in [bad_json, bad_value, bad_structure] {
                let text = format!("[\n{}\n]", case.join("\n ,\n\t"));
                let one = offsets_in_runs(&text, ONE, usize::MAX).unwrap_err();
                assert!(one.contains("line "), "{one}");
                for way in ways {
                    let e = offsets_in_runs(&text, way, usize::MAX).unwrap_err();
                    assert_eq!(e, one, "(chunk, run) {way:?}");
                }
            }
            let one = offsets_in_runs(&text, ONE, at).unwrap_err();
            assert!(one.contains(&format!("entry {at}: refused")), "{one}");
            for way in ways {
                let e = offsets_in_runs(&text, way, at).unwrap_err();
                assert_eq!(e, one, "(chunk, run) {way:?}");
            }
        }
    }

    /// Called from inside a pool of one thread (where every task runs on the caller's own
    /// thread), the read still takes each run in order and returns.
    #[test]
    fn decodes_inside_a_pool_of_one_thread() {
        let n = 3 * RUN + 5;
        let text = format!(
            "[{}]",
            (0..n)
                .map(|i| format!("{{\"source\":\"/l/{i}\",\"offset\":{i}}}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let got = pool.install(|| offsets_in_runs(&text, (CHUNK, RUN), usize::MAX));
        let want: Vec<(usize, u64)> = (0..n).map(|i| (i, i as u64)).collect();
        assert_eq!(got.unwrap(), want);
    }

    #[test]
    fn decodes_arrays_and_reports_positions() {
        assert_eq!(
            run(
                r#"[{"source":"/a","offset":3,"FileStateOS":{"inode":1,"device":2}},{"offset":5}]"#
            ),
            Ok(vec![3, 5])
        );
        let e = run("").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = run("[{\"offset\":1},\n{\"offset\":").unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("ends early after 1"),
            "{e}"
        );
        let e = run(r#"[{"offset":"x"}]"#).unwrap_err();
        assert!(e.contains("offset is \"x\"") && e.contains("byte"), "{e}");
        let e = run(r#"{"a":1}"#).unwrap_err();
        assert!(e.contains("array"), "{e}");
        let e = run(r#"[{"offset":-4}]"#).unwrap_err();
        assert!(e.contains("entry 0: offset is -4"), "{e}");
        let e = run("[] trailing").unwrap_err();
        assert!(e.contains("trailing"), "{e}");
        let e = run(r#"[{"offset":1},]"#).unwrap_err();
        assert!(e.contains("trailing comma"), "{e}");
        let e = run(r#"[{"offset":1} {"offset":2}]"#).unwrap_err();
        assert!(e.contains("expected `,` or `]`, found `{`"), "{e}");
    }

    /// A reader that hands out `n` bytes per read: every element boundary falls inside
    /// some read.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn offsets_from(
        src: impl Read + Send,
        limit: u64,
    ) -> Result<Vec<(u64, Option<String>)>, String> {
        let mut out = vec![];
        let decode = |_, st: RawState| {
            let e = st.into_entry()?;
            Ok((e.offset, e.source.map(|s| s.to_string_lossy().into_owned())))
        };
        for_each_state_in(
            Path::new("/r"),
            src,
            (limit, CHUNK, RUN),
            &decode,
            |_, d| {
                out.push(d);
                Ok(())
            },
        )
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Read in pieces of any size, the same states and the same errors, at the same line and
    /// byte, as from one slice; an element larger than a chunk (with escapes and brackets in
    /// its strings) is whole.
    #[test]
    fn chunked_reads_decode_like_one_slice() {
        let long = "x".repeat(CHUNK + 17);
        let text = format!(
            "[\n{{\"source\":\"/a \\\" ] }} [\",\"offset\":1,\"meta\":{{\"k\":[1,{{}}]}}}},\n\
             {{\"source\":\"/{long}\",\"offset\":2}}  ,\t{{\"offset\":3,\"FileStateOS\":\
             {{\"inode\":1,\"device\":2}}}}\n]\n"
        );
        let whole = offsets_from(text.as_bytes(), u64::MAX).unwrap();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0], (1, Some("/a \" ] } [".to_string())));
        assert_eq!(whole[1].1.as_deref().map(str::len), Some(long.len() + 1));
        for n in [1, 2, 3, 7, 4096] {
            assert_eq!(
                offsets_from(Trickle(text.as_bytes(), n), u64::MAX).unwrap(),
                whole
            );
        }
        for bad in [
            "[{\"offset\":1},\n{\"offset\":",
            "[{\"offset\":1},\n {\"offset\":\"x\"}]",
            "[{\"offset\":1},\n {\"offset\":1,,}]",
            "[{\"offset\":1}\n\n,\n{\"offset\":1}] x",
            "[{\"offset\":1}",
            "\n\n  {}",
        ] {
            let whole = run(bad).unwrap_err();
            assert!(whole.contains("line "), "{whole}");
            for n in [1, 2, 5] {
                assert_eq!(
                    offsets_from(Trickle(bad.as_bytes(), n), u64::MAX).unwrap_err(),
                    whole,
                    "{bad:?} read {n} bytes at a time"
                );
            }
        }
        let e = run("[{\"offset\":1},\n {\"offset\":\"x\"}]").unwrap_err();
        assert!(e.contains("line 2, byte 30"), "{e}");
        let e = run("[{\"offset\":1},\n {\"offset\":1,,}]").unwrap_err();
        assert!(e.contains("line 2, byte 28"), "{e}");
        let e = run("[{\"offset\":1}\n\n,\n{\"offset\":1}] x").unwrap_err();
        assert!(e.contains("line 4, byte 31"), "{e}");
    }

    /// More bytes than the limit is an error naming it, whatever the reads look like.
    #[test]
    fn the_limit_holds_while_reading() {
        let text = br#"[{"offset":1},{"offset":2}]"#;
        let e = offsets_from(Trickle(text, 4), 10).unwrap_err();
        assert!(e.contains("larger than"), "{e}");
        assert_eq!(offsets_from(&text[..], text.len() as u64).unwrap().len(), 2);
    }
}
