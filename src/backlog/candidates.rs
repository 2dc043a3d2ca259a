//! Files on disk that entries may refer to: the shipper inputs' glob matches, and the
//! neighbours of an entry's recorded path (where a rotated file went).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use rayon::prelude::*;

use crate::cursor::{InputSpec, ShipperKind};
use crate::fingerprint::FingerprintSpec;
use crate::root::Root;

/// A regular file seen on disk.
#[derive(Debug)]
pub struct DiskFile {
    /// The path to open here (under `--root`).
    pub local: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: Option<SystemTime>,
    /// Fingerprints computed so far, by spec (computed lazily, at most once).
    fingerprints: OnceLock<Vec<(FingerprintSpec, Option<String>)>>,
}

impl DiskFile {
    /// Stats `local` (following symlinks, as shippers open files). `None` when it is not a
    /// regular file or cannot be read.
    pub fn stat(local: PathBuf) -> Option<DiskFile> {
        let meta = std::fs::metadata(&local).ok()?;
        if !meta.is_file() {
            return None;
        }
        Some(DiskFile {
            local,
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: meta.modified().ok(),
            fingerprints: OnceLock::new(),
        })
    }

    /// The file's fingerprint under each of `specs`, computed once.
    pub fn fingerprint(&self, specs: &[FingerprintSpec], spec: &FingerprintSpec) -> Option<&str> {
        let all = self.fingerprints.get_or_init(|| {
            specs
                .iter()
                .map(|s| (*s, s.compute(&self.local).ok().flatten()))
                .collect()
        });
        all.iter()
            .find(|(s, _)| s == spec)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Every regular file matching the inputs' globs, with the input it matched (first wins).
/// The walk is bounded ([`crate::glob_walk`]: `**` at most `shipper`'s depth, symlink loops
/// cut), and a file reached through several paths (symlink aliases, hard links) is listed
/// once, by (device, inode). Exclusions are applied by the caller (they concern only
/// untracked files).
pub fn expand_inputs(
    root: &Root,
    shipper: ShipperKind,
    inputs: &[InputSpec],
) -> Vec<(DiskFile, usize)> {
    let depth = crate::glob_walk::recursive_depth(shipper);
    let mut seen = std::collections::HashSet::new();
    let mut paths = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        for pattern in &input.paths {
            for local in glob_local(root, pattern, depth) {
                if seen.insert(local.clone()) {
                    paths.push((local, i));
                }
            }
        }
    }
    let files: Vec<(DiskFile, usize)> = paths
        .into_par_iter()
        .filter_map(|(local, i)| DiskFile::stat(local).map(|f| (f, i)))
        .collect();
    let mut ids = std::collections::HashSet::new();
    files
        .into_iter()
        .filter(|(f, _)| ids.insert((f.dev, f.ino)))
        .collect()
}

/// Expands a host glob pattern below the root (see [`crate::glob_walk`]). Unreadable
/// directories are skipped.
fn glob_local(root: &Root, pattern: &str, depth: usize) -> Vec<PathBuf> {
    let full = match root.dir() {
        Some(dir) if pattern.starts_with('/') => {
            let escaped = glob::Pattern::escape(&dir.to_string_lossy());
            format!("{escaped}{pattern}")
        }
        _ => pattern.to_string(),
    };
    match crate::glob_walk::expand(&full, depth) {
        Ok(paths) => paths,
        Err(e) => {
            tracing::warn!(pattern, error = %e, "input glob is not a valid pattern; skipped");
            Vec::new()
        }
    }
}

/// The regular files of one directory, for finding where a rotated file went.
pub fn list_dir(dir: &Path) -> Vec<DiskFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| DiskFile::stat(e.ok()?.path()))
        .collect()
}

/// Candidate files indexed by inode (device+inode and inode alone).
#[derive(Default)]
pub struct InodeIndex<'a> {
    by_dev_ino: HashMap<(u64, u64), &'a DiskFile>,
    by_ino: HashMap<u64, &'a DiskFile>,
}

impl<'a> InodeIndex<'a> {
    pub fn new(files: impl IntoIterator<Item = &'a DiskFile>) -> Self {
        let mut idx = InodeIndex::default();
        for f in files {
            idx.by_dev_ino.insert((f.dev, f.ino), f);
            idx.by_ino.insert(f.ino, f);
        }
        idx
    }

    pub fn dev_ino(&self, dev: u64, ino: u64) -> Option<&'a DiskFile> {
        self.by_dev_ino.get(&(dev, ino)).copied()
    }

    pub fn ino(&self, ino: u64) -> Option<&'a DiskFile> {
        self.by_ino.get(&ino).copied()
    }
}
