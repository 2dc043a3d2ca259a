//! Partial tails: is anything but an unterminated last line left to ship?

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// How far back from the end one read looks for a newline.
const CHUNK: u64 = 64 * 1024;

/// True when the bytes `[offset, size)` of the file contain a newline, i.e. at least one
/// complete line is still unshipped. Reads backwards from the end, so the common case (the file
/// ends with a newline) costs one small read.
pub fn pending_has_newline(path: &Path, offset: u64, size: u64) -> io::Result<bool> {
    if offset >= size {
        return Ok(false);
    }
    let mut f = File::open(path)?;
    let mut end = size;
    let mut buf = Vec::new();
    while end > offset {
        let start = end.saturating_sub(CHUNK).max(offset);
        buf.resize((end - start) as usize, 0);
        f.seek(SeekFrom::Start(start))?;
        let n = read_full(&mut f, &mut buf)?;
        // A file that shrank under us has no more bytes here: the caller sees it next round.
        if buf[..n].contains(&b'\n') {
            return Ok(true);
        }
        if n < buf.len() {
            return Ok(false);
        }
        end = start;
    }
    Ok(false)
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), content).unwrap();
        f
    }

    #[test]
    fn newline_in_pending_region() {
        let f = file(b"one\ntwo\nthr");
        assert!(pending_has_newline(f.path(), 0, 11).unwrap());
        assert!(pending_has_newline(f.path(), 4, 11).unwrap());
        assert!(
            !pending_has_newline(f.path(), 8, 11).unwrap(),
            "only 'thr' left"
        );
        assert!(!pending_has_newline(f.path(), 11, 11).unwrap());
    }

    #[test]
    fn long_partial_line_spanning_chunks() {
        let mut content = b"head\n".to_vec();
        content.extend(std::iter::repeat_n(b'x', 3 * CHUNK as usize));
        let f = file(&content);
        let size = content.len() as u64;
        assert!(!pending_has_newline(f.path(), 5, size).unwrap());
        assert!(pending_has_newline(f.path(), 0, size).unwrap());
    }
}
