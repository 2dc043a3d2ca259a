//! Streaming decode of a JSON array of states (legacy `registry`, `data.json`, memlog
//! checkpoints): one entry at a time into [`RawState`], never a whole `Value` tree.

use std::fmt;
use std::path::Path;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::Deserializer as _;

use super::entry::RawState;
use crate::error::{Position, StoreError};

/// Calls `each(index, state)` for every element of the array in `bytes`.
pub fn for_each_state(
    path: &Path,
    bytes: &[u8],
    mut each: impl FnMut(usize, RawState) -> Result<(), String>,
) -> Result<usize, StoreError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(StoreError::corrupt(
            path,
            Position {
                line: Some(1),
                byte: Some(0),
            },
            "the file is empty; expected a JSON array of registry states",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut count = 0usize;
    let result = de
        .deserialize_seq(ArrayVisitor {
            each: &mut each,
            count: &mut count,
        })
        .and_then(|()| de.end());
    match result {
        Ok(()) => Ok(count),
        Err(e) => Err(json_error(path, bytes, &e, count)),
    }
}

/// A serde_json error as a StoreError with line and byte position.
pub fn json_error(path: &Path, bytes: &[u8], e: &serde_json::Error, entries: usize) -> StoreError {
    let byte = byte_of(bytes, e.line(), e.column());
    let what = match e.classify() {
        serde_json::error::Category::Eof => format!(
            "the JSON ends early after {entries} complete entr{} (truncated file?): {e}",
            if entries == 1 { "y" } else { "ies" }
        ),
        _ => format!("invalid registry JSON after {entries} complete entries: {e}"),
    };
    StoreError::corrupt(
        path,
        Position {
            line: Some(e.line() as u64),
            byte: Some(byte),
        },
        what,
    )
}

/// The byte offset of a 1-based line and column.
fn byte_of(bytes: &[u8], line: usize, column: usize) -> u64 {
    let mut start = 0usize;
    for _ in 1..line {
        match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => start += i + 1,
            None => break,
        }
    }
    (start + column.saturating_sub(1)).min(bytes.len()) as u64
}

struct ArrayVisitor<'a, F> {
    each: &'a mut F,
    count: &'a mut usize,
}

impl<'de, F: FnMut(usize, RawState) -> Result<(), String>> Visitor<'de> for ArrayVisitor<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of registry states")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(state) = seq.next_element_seed(StateSeed)? {
            (self.each)(*self.count, state)
                .map_err(|m| serde::de::Error::custom(format!("entry {}: {m}", *self.count)))?;
            *self.count += 1;
        }
        Ok(())
    }
}

struct StateSeed;

impl<'de> DeserializeSeed<'de> for StateSeed {
    type Value = RawState;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RawState, D::Error> {
        serde::Deserialize::deserialize(d)
    }
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
    }
}
