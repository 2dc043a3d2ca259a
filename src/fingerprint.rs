//! Content fingerprints that identify a file by its bytes rather than its inode.
//!
//! An adapter that stores a content-based identity records which [`FingerprintSpec`] produced
//! it; the backlog recomputes the same fingerprint from candidate files on disk to find the
//! entry's file (and to notice a rotation). Each shipper's algorithm is a variant here.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

/// How a fingerprint is computed from a file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum FingerprintSpec {
    /// Filebeat filestream: lowercase hex SHA-256 over bytes `[offset, offset+length)`.
    /// Files shorter than `offset + length` have no fingerprint (never ingested).
    Sha256Window { offset: u64, length: u64 },
    /// rsyslog imfile file id: SipHash-2-4 (key bytes 00..0f) of the first 512 bytes, the 8
    /// output bytes as 16 lowercase hex digits. Shorter files have no file id.
    RsyslogFileId,
    /// Vector `first_lines_checksum`: CRC-64/ECMA-182 of the first `lines` lines (each with its
    /// `\n`) after `ignored_header_bytes`, gzip content decompressed first, lines capped at
    /// `max_line_bytes`; decimal u64. A file without `lines` complete lines has none.
    VectorFirstLines {
        lines: u64,
        ignored_header_bytes: u64,
        max_line_bytes: u64,
    },
    /// Datadog Agent `fingerprint_config`: CRC-64/GO-ISO (Go's `crc64.ISO` table), decimal u64.
    /// `byte_checksum` (`lines` false): bytes `[count_to_skip, count_to_skip + count)`, none
    /// when fewer. `line_checksum`: within the first `max_bytes` bytes, lines `count_to_skip ..
    /// count_to_skip + count` as Go's `bufio.Scanner` cuts them (newline and a trailing `\r`
    /// dropped, the last one may be unterminated), concatenated; when `max_bytes` runs out
    /// first, the 1024-byte `byte_checksum` of the file's start instead (the agent's fallback).
    DatadogChecksum {
        lines: bool,
        count: u64,
        count_to_skip: u64,
        max_bytes: u64,
    },
}

impl FingerprintSpec {
    /// The smallest file size that has a fingerprint under this spec.
    pub fn min_size(&self) -> u64 {
        match *self {
            FingerprintSpec::Sha256Window { offset, length } => offset.saturating_add(length),
            FingerprintSpec::RsyslogFileId => RSYSLOG_ID_BYTES,
            FingerprintSpec::VectorFirstLines {
                lines,
                ignored_header_bytes,
                ..
            } => ignored_header_bytes.saturating_add(lines),
            FingerprintSpec::DatadogChecksum {
                lines: false,
                count,
                count_to_skip,
                ..
            } => count_to_skip.saturating_add(count).max(1),
            // Lines may be empty; the last may be unterminated.
            FingerprintSpec::DatadogChecksum { lines: true, .. } => 1,
        }
    }

    /// Computes the fingerprint of the file at `path`, `None` when the file is too short to
    /// have one. The file is opened through [`crate::safe_read::open`] (a FIFO put in a log
    /// file's place is refused, not waited on) and hashed as a stream: memory stays bounded
    /// whatever the spec's numbers (they come from the shipper's config).
    pub fn compute(&self, path: &Path) -> io::Result<Option<String>> {
        match *self {
            FingerprintSpec::Sha256Window { offset, length } => {
                let mut f = open(path)?;
                let Some(end) = offset.checked_add(length) else {
                    return Ok(None);
                };
                if f.metadata()?.len() < end {
                    return Ok(None);
                }
                f.seek(SeekFrom::Start(offset))?;
                sha256_window(f, length)
            }
            FingerprintSpec::RsyslogFileId => {
                let mut buf = Vec::with_capacity(RSYSLOG_ID_BYTES as usize);
                open(path)?.take(RSYSLOG_ID_BYTES).read_to_end(&mut buf)?;
                Ok((buf.len() as u64 == RSYSLOG_ID_BYTES).then(|| rsyslog_file_id(&buf)))
            }
            FingerprintSpec::VectorFirstLines {
                lines,
                ignored_header_bytes,
                max_line_bytes,
            } => vector_first_lines(path, lines, ignored_header_bytes, max_line_bytes),
            FingerprintSpec::DatadogChecksum {
                lines: false,
                count,
                count_to_skip,
                ..
            } => datadog_bytes(&mut open(path)?, count_to_skip, count),
            FingerprintSpec::DatadogChecksum {
                lines: true,
                count,
                count_to_skip,
                max_bytes,
            } => datadog_lines(&mut open(path)?, count_to_skip, count, max_bytes),
        }
    }
}

const RSYSLOG_ID_BYTES: u64 = 512;

/// rsyslog's file id of `data` (the first 512 bytes of a file).
pub fn rsyslog_file_id(data: &[u8]) -> String {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher24::new_with_keys(
        u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]),
        u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]),
    );
    h.write(data);
    hex::encode(h.finish().to_le_bytes())
}

/// CRC-64/ECMA-182 as Vector's fingerprinter uses it.
pub fn vector_crc64(data: &[u8]) -> u64 {
    crc::Crc::<u64>::new(&crc::CRC_64_ECMA_182).checksum(data)
}

/// CRC-64/GO-ISO, as Go's `crc64.Checksum(b, crc64.MakeTable(crc64.ISO))`.
pub fn datadog_crc64(data: &[u8]) -> u64 {
    crc::Crc::<u64>::new(&crc::CRC_64_GO_ISO).checksum(data)
}

/// The most bytes a Datadog fingerprint reads (`count` and `max_bytes` come from the agent's
/// config; the agent allocates `count` bytes at once, so real values are small).
const DATADOG_MAX_READ: u64 = 16 << 20;

/// `computeFingerPrintByBytes`: exactly `count` bytes after `skip`, else none.
fn datadog_bytes(f: &mut File, skip: u64, count: u64) -> io::Result<Option<String>> {
    if count == 0 || count > DATADOG_MAX_READ {
        return Ok(None);
    }
    if f.metadata()?.len() < skip.saturating_add(count) {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(skip))?;
    let mut buf = Vec::with_capacity(count as usize);
    f.take(count).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 == count).then(|| datadog_crc64(&buf).to_string()))
}

/// Go's `bufio.MaxScanTokenSize`: a longer line stops the scanner with an error.
const GO_MAX_TOKEN: usize = 64 * 1024;

/// `computeFingerPrintByLines`.
fn datadog_lines(
    f: &mut File,
    skip: u64,
    count: u64,
    max_bytes: u64,
) -> io::Result<Option<String>> {
    let limit = max_bytes.min(DATADOG_MAX_READ);
    let mut data = Vec::new();
    (&mut *f).take(limit).read_to_end(&mut data)?;
    // `limitedReader.N == 0`: the whole limit was read (a shorter file leaves some over).
    let exhausted = data.len() as u64 == max_bytes;
    let mut at = 0usize;
    let mut picked = Vec::new();
    let wanted = skip.saturating_add(count);
    let mut i = 0u64;
    while i < wanted {
        // One `Scan()`.
        let rest = &data[at..];
        if rest.is_empty() {
            return if exhausted {
                datadog_bytes(f, 0, 1024)
            } else {
                Ok(None)
            };
        }
        let (line, used) = match rest.iter().position(|b| *b == b'\n') {
            Some(n) if n < GO_MAX_TOKEN => (&rest[..n], n + 1),
            None if rest.len() <= GO_MAX_TOKEN => (rest, rest.len()),
            // `bufio.ErrTooLong`.
            _ => {
                return if exhausted {
                    datadog_bytes(f, 0, 1024)
                } else {
                    Ok(None)
                }
            }
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if i >= skip {
            picked.extend_from_slice(line);
        }
        at += used;
        i += 1;
    }
    Ok(Some(datadog_crc64(&picked).to_string()))
}

/// Opens a file to fingerprint: regular files only, never blocking (see [`crate::safe_read`]).
fn open(path: &Path) -> io::Result<File> {
    crate::safe_read::open(path)
        .map(|(f, _)| f)
        .map_err(|e| match e {
            crate::error::StoreError::Io { source, .. } => source,
            other => io::Error::other(other),
        })
}

/// SHA-256 of the next `length` bytes of `r`, streamed; `None` when fewer remain.
fn sha256_window(r: impl Read, length: u64) -> io::Result<Option<String>> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut r = io::BufReader::with_capacity(64 * 1024, r.take(length));
    let mut seen = 0u64;
    loop {
        let chunk = io::BufRead::fill_buf(&mut r)?;
        if chunk.is_empty() {
            break;
        }
        h.update(chunk);
        let n = chunk.len();
        seen += n as u64;
        io::BufRead::consume(&mut r, n);
    }
    Ok((seen == length).then(|| hex::encode(h.finalize())))
}

fn vector_first_lines(
    path: &Path,
    lines: u64,
    ignored_header_bytes: u64,
    max_line_bytes: u64,
) -> io::Result<Option<String>> {
    use std::io::BufRead;
    if max_line_bytes == 0 {
        // Every "line" would be empty: `lines` (up to 2^64) rounds of reading nothing.
        return Ok(None);
    }
    let mut f = open(path)?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic)?;
    f.seek(SeekFrom::Start(0))?;
    let raw: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut r = io::BufReader::new(raw);
    io::copy(&mut (&mut r).take(ignored_header_bytes), &mut io::sink())?;
    // Streamed into the CRC line by line, chunk by chunk: memory stays one buffer whatever
    // `lines` and `max_line_bytes` say.
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_ECMA_182);
    let mut digest = crc.digest();
    for _ in 0..lines {
        // One line: up to `max_line_bytes` bytes through its `\n`.
        let mut len = 0u64;
        let mut newline = false;
        while len < max_line_bytes && !newline {
            let chunk = r.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            let room = usize::try_from(max_line_bytes - len).unwrap_or(usize::MAX);
            let window = &chunk[..chunk.len().min(room)];
            let take = match window.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    newline = true;
                    i + 1
                }
                None => window.len(),
            };
            digest.update(&window[..take]);
            len += take as u64;
            r.consume(take);
        }
        // A line cut at `max_line_bytes` counts; a file ending mid-line has no fingerprint.
        if !newline && len < max_line_bytes {
            return Ok(None);
        }
    }
    Ok(Some(digest.finalize().to_string()))
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
    fn config_numbers_near_u64_max_give_no_fingerprint_and_no_panic() {
        let f = file(b"0123456789abcdefghij");
        let huge = FingerprintSpec::Sha256Window {
            offset: 5,
            length: 18446744073709551611,
        };
        assert_eq!(huge.min_size(), u64::MAX);
        assert_eq!(huge.compute(f.path()).unwrap(), None);
        let v = FingerprintSpec::VectorFirstLines {
            lines: u64::MAX,
            ignored_header_bytes: u64::MAX,
            max_line_bytes: u64::MAX,
        };
        assert_eq!(v.min_size(), u64::MAX);
        assert_eq!(v.compute(f.path()).unwrap(), None);
    }

    #[test]
    fn window_hash_is_streamed_and_exact() {
        let f = file(b"0123456789abcdefghij");
        let s = FingerprintSpec::Sha256Window {
            offset: 5,
            length: 10,
        };
        assert_eq!(
            s.compute(f.path()).unwrap(),
            Some(sha256_hex(b"56789abcde"))
        );
    }

    #[test]
    fn vector_lines_cut_at_max_line_bytes_count() {
        let f = file(b"abcdefgh\nrest\n");
        let s = FingerprintSpec::VectorFirstLines {
            lines: 2,
            ignored_header_bytes: 0,
            max_line_bytes: 4,
        };
        // "abcd" (cut), then "efgh" (cut): as Vector's capped read_until does.
        let want = vector_crc64(b"abcdefgh").to_string();
        assert_eq!(s.compute(f.path()).unwrap(), Some(want));
        let s = FingerprintSpec::VectorFirstLines {
            lines: 3,
            ignored_header_bytes: 0,
            max_line_bytes: 100,
        };
        assert_eq!(s.compute(f.path()).unwrap(), None, "only two lines");
    }

    #[test]
    fn a_fifo_in_a_log_files_place_is_refused_not_waited_on() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.log");
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = FingerprintSpec::RsyslogFileId.compute(&p).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[test]
    fn datadog_crc64_is_go_s_iso_table() {
        // Go: crc64.Checksum([]byte("123456789"), crc64.MakeTable(crc64.ISO)).
        assert_eq!(datadog_crc64(b"123456789"), 0xb90956c775a41001);
    }

    #[test]
    fn datadog_bytes_and_lines_as_the_agent_cuts_them() {
        let f = file(b"head\r\nline one\nline two\n");
        let bytes = FingerprintSpec::DatadogChecksum {
            lines: false,
            count: 8,
            count_to_skip: 6,
            max_bytes: 0,
        };
        let want = datadog_crc64(b"line one").to_string();
        assert_eq!(bytes.compute(f.path()).unwrap(), Some(want));
        let short = FingerprintSpec::DatadogChecksum {
            lines: false,
            count: 1024,
            count_to_skip: 0,
            max_bytes: 0,
        };
        assert_eq!(short.compute(f.path()).unwrap(), None, "Value 0: too short");
        let lines = |count, count_to_skip, max_bytes| FingerprintSpec::DatadogChecksum {
            lines: true,
            count,
            count_to_skip,
            max_bytes,
        };
        // The `\r` of the first line is dropped with its newline, as bufio.ScanLines does.
        let want = datadog_crc64(b"headline one").to_string();
        assert_eq!(lines(2, 0, 10000).compute(f.path()).unwrap(), Some(want));
        let want = datadog_crc64(b"line two").to_string();
        assert_eq!(lines(1, 2, 10000).compute(f.path()).unwrap(), Some(want));
        assert_eq!(lines(4, 0, 10000).compute(f.path()).unwrap(), None);
        // max_bytes runs out before the lines: the 1024-byte fallback (too short here).
        assert_eq!(lines(4, 0, 10).compute(f.path()).unwrap(), None);
        let big = file(&[b'x'; 2000]);
        let want = datadog_crc64(&[b'x'; 1024]).to_string();
        assert_eq!(lines(3, 0, 100).compute(big.path()).unwrap(), Some(want));
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(bytes))
    }
}
