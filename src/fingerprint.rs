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
}

impl FingerprintSpec {
    /// The smallest file size that has a fingerprint under this spec.
    pub fn min_size(&self) -> u64 {
        match *self {
            FingerprintSpec::Sha256Window { offset, length } => offset + length,
            FingerprintSpec::RsyslogFileId => RSYSLOG_ID_BYTES,
            FingerprintSpec::VectorFirstLines {
                lines,
                ignored_header_bytes,
                ..
            } => ignored_header_bytes + lines,
        }
    }

    /// Computes the fingerprint of the file at `path`, `None` when the file is too short to
    /// have one.
    pub fn compute(&self, path: &Path) -> io::Result<Option<String>> {
        match *self {
            FingerprintSpec::Sha256Window { offset, length } => {
                let mut f = File::open(path)?;
                if f.metadata()?.len() < offset + length {
                    return Ok(None);
                }
                f.seek(SeekFrom::Start(offset))?;
                let mut buf = vec![0u8; length as usize];
                f.read_exact(&mut buf)?;
                Ok(Some(sha256_hex(&buf)))
            }
            FingerprintSpec::RsyslogFileId => {
                let mut buf = Vec::with_capacity(RSYSLOG_ID_BYTES as usize);
                File::open(path)?
                    .take(RSYSLOG_ID_BYTES)
                    .read_to_end(&mut buf)?;
                Ok((buf.len() as u64 == RSYSLOG_ID_BYTES).then(|| rsyslog_file_id(&buf)))
            }
            FingerprintSpec::VectorFirstLines {
                lines,
                ignored_header_bytes,
                max_line_bytes,
            } => vector_first_lines(path, lines, ignored_header_bytes, max_line_bytes),
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

fn vector_first_lines(
    path: &Path,
    lines: u64,
    ignored_header_bytes: u64,
    max_line_bytes: u64,
) -> io::Result<Option<String>> {
    use std::io::BufRead;
    let mut f = File::open(path)?;
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
    let mut buf = Vec::new();
    for _ in 0..lines {
        let before = buf.len();
        (&mut r).take(max_line_bytes).read_until(b'\n', &mut buf)?;
        if buf.last() != Some(&b'\n') || buf.len() == before {
            if (buf.len() - before) as u64 >= max_line_bytes {
                continue;
            }
            return Ok(None);
        }
    }
    Ok(Some(vector_crc64(&buf).to_string()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
