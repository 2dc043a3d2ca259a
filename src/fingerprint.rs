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
}

impl FingerprintSpec {
    /// The smallest file size that has a fingerprint under this spec.
    pub fn min_size(&self) -> u64 {
        match *self {
            FingerprintSpec::Sha256Window { offset, length } => offset + length,
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
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
