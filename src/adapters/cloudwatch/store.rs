//! The CloudWatch agent's state files: one text file per tailed file in `file_state_folder`,
//! `<max end>\n<path>[\n<start>-<end>,...]` (the range list since v1.300057.0), named after the
//! tailed path with `/`, space and `:` replaced by `_` (`escapeFilePath`).
//!
//! The agent writes them in place (`os.WriteFile`: `O_TRUNC` then `write`, no temp file, no
//! rename, no fsync) every 100 ms, so a read can see a file empty or cut anywhere. A cut file
//! is recognised (no path line, a path that does not give the file's name, a range list whose
//! last end is not line 1) and read again; it is never taken as offset 0.

use std::path::{Path, PathBuf};

use crate::adapters::common;
use crate::error::{Position, StoreError};

/// The prefix of the Windows event log state files that share the folder (skipped).
pub const WINDOWS_EVENT_LOG_PREFIX: &str = "Amazon_CloudWatch_WindowsEventLog_";

/// A state file's name for the tailed file `path`: every `/`, space and `:` replaced by `_`.
/// Not injective: `/var/log/a_b` and `/var/log/a/b` get the same name.
pub fn state_file_name(path: &[u8]) -> Vec<u8> {
    path.iter()
        .map(|b| match b {
            b'/' | b' ' | b':' => b'_',
            other => *other,
        })
        .collect()
}

/// One half-open byte range `[start, end)` of the range list; `end` `None` for `start-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: Option<u64>,
}

/// One state file, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    /// Line 1: the maximum end offset (the only line agents before v1.300057.0 wrote).
    pub max_end: u64,
    /// Line 2: the tailed file's path, verbatim.
    pub path: Vec<u8>,
    /// Line 3 (v1.300057.0 and later): the sent ranges, as written. `None` in the old format.
    pub ranges: Option<Vec<Range>>,
}

impl StateFile {
    /// The end of the delivered prefix: bytes `[0, prefix)` are all covered by the ranges
    /// (the old format: line 1). Bytes past the first gap are not proven delivered.
    pub fn delivered_prefix(&self) -> u64 {
        let Some(ranges) = &self.ranges else {
            return self.max_end;
        };
        let mut sorted = ranges.clone();
        sorted.sort_by_key(|r| r.start);
        let mut end = 0u64;
        for r in sorted {
            if r.start > end {
                break;
            }
            match r.end {
                None => return self.max_end.max(end),
                Some(e) => end = end.max(e),
            }
        }
        end
    }

    /// The bytes below line 1 that no range covers (gaps the agent never marked sent).
    pub fn gap_bytes(&self) -> u64 {
        let Some(ranges) = &self.ranges else {
            return 0;
        };
        let mut sorted = ranges.clone();
        sorted.sort_by_key(|r| r.start);
        let (mut covered_to, mut gaps) = (0u64, 0u64);
        for r in sorted {
            let end = r.end.unwrap_or(self.max_end).min(self.max_end);
            if r.start > covered_to {
                gaps = gaps.saturating_add(r.start.min(self.max_end) - covered_to);
            }
            covered_to = covered_to.max(end);
        }
        gaps.saturating_add(self.max_end.saturating_sub(covered_to))
    }
}

/// What one read of a state file gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    State(StateFile),
    /// Empty or cut by an in-place write in progress: read it again. `why` says what showed it.
    Torn {
        why: String,
    },
}

/// Parses the bytes of the state file `file` (its name is checked against the path inside).
/// Syntax the agent never writes is a [`StoreError::Corrupt`] naming the line and byte; a
/// file cut by an in-place write is [`Parsed::Torn`].
///
/// `expect_ranges`: the agent is known to write range lists (another of its state files has
/// one). A file cut right after its path looks exactly like the old two-line format; with a
/// range-writing agent a nonzero offset without a range list is such a cut.
pub fn parse(file: &Path, bytes: &[u8], expect_ranges: bool) -> Result<Parsed, StoreError> {
    let torn = |why: &str| Ok(Parsed::Torn { why: why.into() });
    if bytes.is_empty() {
        return torn("empty (the agent truncates it before each write)");
    }
    let at = |line: u64, byte: usize| Position {
        line: Some(line),
        byte: Some(byte as u64),
    };
    let Some(nl1) = bytes.iter().position(|b| *b == b'\n') else {
        // A number alone: the agent always writes the path after it, so the write was cut.
        return if bytes.iter().all(u8::is_ascii_digit) {
            torn("no path line (cut after the offset)")
        } else {
            Err(StoreError::corrupt(
                file,
                at(1, 0),
                "line 1 is not a decimal offset (expected `<offset>\\n<path>[\\n<ranges>]`)",
            ))
        };
    };
    let max_end = number(&bytes[..nl1]).ok_or_else(|| {
        StoreError::corrupt(
            file,
            at(1, 0),
            "line 1 is not a decimal offset (expected `<offset>\\n<path>[\\n<ranges>]`)",
        )
    })?;
    let rest = &bytes[nl1 + 1..];
    let (path, line3) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], Some((&rest[i + 1..], nl1 + 1 + i + 1))),
        None => (rest, None),
    };
    if path.is_empty() {
        return torn("empty path line (cut after the offset)");
    }
    let name = file
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .unwrap_or(b"");
    if state_file_name(path) != name {
        // Either cut inside the path, or a file the agent did not name after its path.
        if name.starts_with(&state_file_name(path)) {
            return torn("path line shorter than the file's name (cut inside the path)");
        }
        return Err(StoreError::corrupt(
            file,
            at(2, nl1 + 1),
            format!(
                "the path {} does not give this file's name (the agent names each state file \
                 after its path with '/', ' ' and ':' as '_'); not a CloudWatch agent state file",
                crate::display::path(&common::path_from_bytes(path))
            ),
        ));
    }
    let ranges = match line3 {
        None if expect_ranges && max_end > 0 => {
            return torn("no range list (cut after the path) from an agent that writes them")
        }
        None => None,
        Some((text, start)) => match parse_ranges(text) {
            Ok(r) => Some(r),
            Err(RangeError::Cut) => return torn("range list cut short"),
            Err(RangeError::Bad(off, what)) => {
                return Err(StoreError::corrupt(file, at(3, start + off), what))
            }
        },
    };
    if let Some(r) = &ranges {
        // The list is sorted and line 1 is its last end: a shorter last end is a cut number.
        let last = r
            .iter()
            .map(|r| r.end.unwrap_or(max_end))
            .max()
            .unwrap_or(0);
        if last != max_end {
            return if last < max_end {
                torn("range list ends before line 1's offset (cut inside a number)")
            } else {
                Err(StoreError::corrupt(
                    file,
                    at(3, line3.map_or(0, |(_, s)| s)),
                    format!("a range ends at {last}, past line 1's offset {max_end}"),
                ))
            };
        }
    }
    Ok(Parsed::State(StateFile {
        max_end,
        path: path.to_vec(),
        ranges,
    }))
}

enum RangeError {
    Cut,
    Bad(usize, String),
}

/// `start-end,start-end,...` (`start-` unbounded); an empty line is an empty list.
fn parse_ranges(text: &[u8]) -> Result<Vec<Range>, RangeError> {
    let mut out = Vec::new();
    if text.is_empty() {
        return Ok(out);
    }
    let mut off = 0usize;
    let parts: Vec<&[u8]> = text.split(|b| *b == b',').collect();
    let n = parts.len();
    for (i, part) in parts.into_iter().enumerate() {
        let last = i + 1 == n;
        let bad = |what: &str| RangeError::Bad(off, format!("range {}: {what}", i + 1));
        let Some(dash) = part.iter().position(|b| *b == b'-') else {
            if last && part.iter().all(u8::is_ascii_digit) {
                return Err(RangeError::Cut);
            }
            return Err(bad("expected `<start>-<end>`"));
        };
        let start = number(&part[..dash]).ok_or_else(|| bad("start is not a decimal number"))?;
        let end = match &part[dash + 1..] {
            // The end of the file right after a `-`: a write cut before the end's digits.
            [] if last => return Err(RangeError::Cut),
            [] => None,
            e => Some(number(e).ok_or_else(|| bad("end is not a decimal number"))?),
        };
        if let Some(e) = end {
            if e < start {
                if last {
                    // "100-10" is "100-1056" cut short.
                    return Err(RangeError::Cut);
                }
                return Err(bad(&format!("end {e} is before start {start}")));
            }
        }
        out.push(Range { start, end });
        off += part.len() + 1;
    }
    Ok(out)
}

/// A decimal u64 (digits only, no sign, no overflow).
fn number(b: &[u8]) -> Option<u64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// How many times a torn state file is read before it is reported as unreadable. The agent
/// rewrites it every 100 ms and a write takes microseconds: a second read almost always sees
/// it whole.
pub const READ_ATTEMPTS: usize = 5;

/// Reads and parses `file`, reading again (after a few milliseconds) while it is torn.
/// `Ok(Err(why))` when it was torn on every read.
pub fn read_state(
    file: &Path,
    expect_ranges: bool,
) -> Result<Result<StateFile, String>, StoreError> {
    let mut why = String::new();
    for attempt in 0..READ_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(3 * attempt as u64));
        }
        let bytes = match common::read_bytes(file) {
            Ok(b) => b,
            // Deleted between the listing and the read (rotation): nothing to report.
            Err(e) if e.is_not_found() => return Ok(Err("deleted while being read".into())),
            Err(e) => return Err(e),
        };
        match parse(file, &bytes, expect_ranges)? {
            Parsed::State(s) => return Ok(Ok(s)),
            Parsed::Torn { why: w } => why = w,
        }
    }
    Ok(Err(why))
}

/// The state files of `dir`, sorted (Windows event log state files left out).
pub fn listing(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let rd = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                !n.as_encoded_bytes()
                    .starts_with(WINDOWS_EVENT_LOG_PREFIX.as_bytes())
            })
        })
        .collect();
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, bytes: &[u8]) -> Result<Parsed, StoreError> {
        parse(&Path::new("/state").join(name), bytes, true)
    }

    fn state(name: &str, bytes: &[u8]) -> StateFile {
        match p(name, bytes).unwrap() {
            Parsed::State(s) => s,
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn names_replace_slash_space_and_colon_and_collide() {
        assert_eq!(state_file_name(b"/var/log/messages"), b"_var_log_messages");
        assert_eq!(state_file_name(b"C:/logs/a b.log"), b"C__logs_a_b.log");
        assert_eq!(
            state_file_name(b"/var/log/a_b"),
            state_file_name(b"/var/log/a/b")
        );
    }

    #[test]
    fn the_agents_own_test_literals_parse() {
        let old = parse(Path::new("/s/valid.log"), b"2760\nvalid.log", false).unwrap();
        let Parsed::State(s) = old else {
            panic!("{old:?}")
        };
        assert_eq!((s.max_end, s.ranges.clone()), (2760, None));
        assert_eq!(s.delivered_prefix(), 2760);
        let s = state("valid.log", b"2760\nvalid.log\n100-1056,1640-2760");
        assert_eq!(s.delivered_prefix(), 0, "nothing from 0 is covered");
        assert_eq!(s.gap_bytes(), 100 + (1640 - 1056));
        let s = state("test", b"50\ntest\n0-5,20-30,45-50");
        assert_eq!(s.delivered_prefix(), 5);
        assert_eq!(s.gap_bytes(), 15 + 15);
        let s = state("test", b"0\ntest");
        assert_eq!(
            s.delivered_prefix(),
            0,
            "the empty tracker writes no range list"
        );
        let s = state("_var_log_m", b"4096\n/var/log/m\n0-4096");
        assert_eq!((s.delivered_prefix(), s.gap_bytes()), (4096, 0));
    }

    #[test]
    fn cut_writes_are_torn_never_offset_zero() {
        let full = b"4096\n/var/log/m\n0-1000,2000-4096";
        for cut in 0..full.len() {
            match p("_var_log_m", &full[..cut]).unwrap() {
                Parsed::Torn { .. } => {}
                Parsed::State(s) => panic!("cut at {cut} read as {s:?}"),
            }
        }
        assert!(matches!(p("_var_log_m", full).unwrap(), Parsed::State(_)));
        // From an agent older than v1.300057.0 the two-line file is whole.
        let old = parse(Path::new("/s/_var_log_m"), b"4096\n/var/log/m", false).unwrap();
        assert!(matches!(
            old,
            Parsed::State(StateFile {
                max_end: 4096,
                ranges: None,
                ..
            })
        ));
    }

    #[test]
    fn garbage_names_its_line_and_byte() {
        let e = p("_a", b"12x\n/a").unwrap_err().to_string();
        assert!(
            e.contains("/state/_a") && e.contains("line 1, byte 0"),
            "{e}"
        );
        let e = p("_a", b"12\n/a\n0-5,x-12").unwrap_err().to_string();
        assert!(
            e.contains("line 3, byte 10") && e.contains("range 2"),
            "{e}"
        );
        let e = p("_b", b"12\n/a").unwrap_err().to_string();
        assert!(e.contains("line 2, byte 3"), "{e}");
        let e = p("_a", b"99999999999999999999999\n/a").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = p("_a", b"12\n/a\n0-20").unwrap_err().to_string();
        assert!(e.contains("past line 1"), "{e}");
    }
}
