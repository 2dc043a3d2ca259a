//! Streaming decode of a JSON array of states (legacy `registry`, `data.json`, memlog
//! checkpoints): one entry at a time into [`RawState`], never a whole `Value` tree, and never
//! the whole file in memory. The file is read in chunks; the array's structure (`[`, commas,
//! `]`) is followed here, and each element, once its bytes are complete in the buffer, is
//! decoded by serde_json from that slice (borrowed strings, the fast path). Only the element
//! being decoded and the rest of its chunk are held: at 10^6 entries the registry's ~200 MB
//! never are.

use std::io::Read;
use std::path::Path;

use super::entry::RawState;
use crate::error::{Position, StoreError};
use crate::safe_read::{self, Limit};

/// Bytes read per read call.
const CHUNK: usize = 1 << 20;

/// Calls `each(index, state)` for every element of the array in `bytes`.
pub fn for_each_state(
    path: &Path,
    bytes: &[u8],
    each: impl FnMut(usize, RawState) -> Result<(), String>,
) -> Result<usize, StoreError> {
    for_each_state_in(path, bytes, u64::MAX, each)
}

/// Calls `each(index, state)` for every element of the array in the file `path`, read in
/// chunks through [`safe_read::open_limited`] (at most [`Limit::STORE`]).
pub fn read_states(
    path: &Path,
    each: impl FnMut(usize, RawState) -> Result<(), String>,
) -> Result<usize, StoreError> {
    let (file, _) = open_states(path)?;
    read_states_from(path, file, each)
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

/// [`read_states`] of a file [`open_states`] opened.
pub fn read_states_from(
    path: &Path,
    file: std::io::Take<std::fs::File>,
    each: impl FnMut(usize, RawState) -> Result<(), String>,
) -> Result<usize, StoreError> {
    for_each_state_in(path, file, Limit::STORE.bytes, each)
}

/// The decode of an array read from `src`; more than `limit` bytes is an error.
fn for_each_state_in(
    path: &Path,
    src: impl Read,
    limit: u64,
    mut each: impl FnMut(usize, RawState) -> Result<(), String>,
) -> Result<usize, StoreError> {
    let mut s = Scanner {
        path,
        src,
        limit,
        buf: Vec::new(),
        at: 0,
        base: 0,
        line: 1,
        eof: false,
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
        Some(b'[') => s.at += 1,
        Some(b) => {
            return Err(s.error(format!(
                "expected a JSON array of registry states, found {}",
                shown(b)
            )))
        }
    }
    if s.skip_ws()? == Some(b']') {
        s.at += 1;
    } else {
        loop {
            let (start, len) = s.element(count)?;
            let bytes = &s.buf[start..start + len];
            let state: RawState = serde_json::from_slice(bytes).map_err(|e| {
                let (line, byte) = s.position_in(start, e.line(), e.column());
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
                StoreError::corrupt(path, Position { line, byte }, what)
            })?;
            s.consume(start + len);
            each(count, state).map_err(|m| s.error(format!("entry {count}: {m}")))?;
            count += 1;
            match s.skip_ws()? {
                Some(b',') => s.at += 1,
                Some(b']') => {
                    s.at += 1;
                    break;
                }
                None => return Err(s.early(count)),
                Some(b) => {
                    return Err(s.error(format!(
                        "invalid registry JSON after {count} complete entr{}: expected `,` or \
                         `]`, found {}",
                        plural(count),
                        shown(b)
                    )))
                }
            }
        }
    }
    match s.skip_ws()? {
        None => Ok(count),
        Some(b) => Err(s.error(format!(
            "trailing characters after the array of {count} entr{}: {}",
            plural(count),
            shown(b)
        ))),
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

/// The chunked reader: `buf[at..]` is what is read and not yet consumed; `base` is the file
/// offset of `buf[0]`, `line` the line of `buf[at]`.
struct Scanner<'p, R> {
    path: &'p Path,
    src: R,
    limit: u64,
    buf: Vec<u8>,
    at: usize,
    base: u64,
    line: u64,
    eof: bool,
}

impl<R: Read> Scanner<'_, R> {
    /// Reads another chunk (dropping what is consumed first); false at the end of the file.
    fn fill(&mut self) -> Result<bool, StoreError> {
        if self.eof {
            return Ok(false);
        }
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.base += self.at as u64;
            self.at = 0;
        }
        // At least a chunk, and as much again as an unfinished element holds: an element
        // larger than a chunk is rescanned a logarithmic number of times, not once a chunk.
        // The space is filled before the element is scanned again (short reads loop here).
        let old = self.buf.len();
        self.buf.resize(old + CHUNK.max(old), 0);
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
                    return Err(StoreError::io(self.path, e));
                }
            }
        }
        self.buf.truncate(end);
        let n = end - old;
        if self.base + self.buf.len() as u64 > self.limit {
            let limit = Limit {
                bytes: self.limit,
                ..Limit::STORE
            };
            return Err(safe_read::too_large(self.path, limit));
        }
        Ok(n > 0)
    }

    /// Marks `buf[..end]` consumed (counting its lines).
    fn consume(&mut self, end: usize) {
        self.line += memchr::memchr_iter(b'\n', &self.buf[self.at..end]).count() as u64;
        self.at = end;
    }

    /// Skips whitespace; the next byte (not consumed), `None` at the end of the file.
    fn skip_ws(&mut self) -> Result<Option<u8>, StoreError> {
        loop {
            let rest = &self.buf[self.at..];
            match rest.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    self.consume(self.at + i);
                    return Ok(Some(self.buf[self.at]));
                }
                None => {
                    self.consume(self.buf.len());
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
                return Err(self.error(format!(
                    "invalid registry JSON after {count} complete entr{}: trailing comma",
                    plural(count)
                )))
            }
            Some(_) => {}
        }
        loop {
            if let Some(len) = value_len(&self.buf[self.at..], self.eof) {
                return Ok((self.at, len));
            }
            if !self.fill()? {
                // Incomplete at the end of the file: an unterminated element.
                let len = self.buf.len() - self.at;
                if len == 0 {
                    return Err(self.early(count));
                }
                return Ok((self.at, len));
            }
        }
    }

    /// (line, byte) in the file of a 1-based line and column of the element at `buf[start..]`.
    fn position_in(&self, start: usize, line: usize, column: usize) -> (Option<u64>, Option<u64>) {
        let bytes = &self.buf[start..];
        let mut from = 0usize;
        for _ in 1..line {
            match memchr::memchr(b'\n', &bytes[from..]) {
                Some(i) => from += i + 1,
                None => break,
            }
        }
        let off = (from + column.saturating_sub(1)).min(bytes.len());
        let lines = memchr::memchr_iter(b'\n', &self.buf[self.at..start]).count() as u64;
        (
            Some(self.line + lines + line.saturating_sub(1) as u64),
            Some(self.base + (start + off) as u64),
        )
    }

    /// A structural error at the current byte.
    fn error(&self, what: String) -> StoreError {
        StoreError::corrupt(
            self.path,
            Position {
                line: Some(self.line),
                byte: Some(self.base + self.at as u64),
            },
            what,
        )
    }

    /// The file ended inside the array.
    fn early(&self, count: usize) -> StoreError {
        self.error(format!(
            "the JSON ends early after {count} complete entr{} (truncated file?)",
            plural(count)
        ))
    }
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
        for_each_state(Path::new("/r"), s.as_bytes(), |_, st| {
            offs.push(st.into_entry()?.offset);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(offs)
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

    fn offsets_from(src: impl Read, limit: u64) -> Result<Vec<(u64, Option<String>)>, String> {
        let mut out = vec![];
        for_each_state_in(Path::new("/r"), src, limit, |_, st| {
            let e = st.into_entry()?;
            out.push((e.offset, e.source.map(|s| s.to_string_lossy().into_owned())));
            Ok(())
        })
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
