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
    /// Hard links to the file (a write through another directory's link is no event in this
    /// one's: `wait` re-checks such files every round).
    pub nlink: u64,
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
        Some(DiskFile::from_stat(
            local,
            Stat {
                dev: meta.dev(),
                ino: meta.ino(),
                size: meta.len(),
                mtime: meta.modified().ok(),
                nlink: meta.nlink(),
            },
        ))
    }

    /// The file at `local` whose stat is `st`.
    pub fn from_stat(local: PathBuf, st: Stat) -> DiskFile {
        DiskFile {
            local,
            dev: st.dev,
            ino: st.ino,
            size: st.size,
            mtime: st.mtime,
            nlink: st.nlink,
            fingerprints: OnceLock::new(),
        }
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
/// untracked files). The directories the walk could not read are pushed to `unreadable`
/// (said with the error and the fix: files there are not seen).
pub fn expand_inputs(
    root: &Root,
    shipper: ShipperKind,
    inputs: &[InputSpec],
    unreadable: &mut Vec<String>,
) -> Vec<(DiskFile, usize)> {
    let depth = crate::glob_walk::recursive_depth(shipper);
    let mut seen = std::collections::HashSet::new();
    let mut paths = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        for pattern in &input.paths {
            let expanded = glob_local(root, pattern, depth);
            for u in expanded.unreadable {
                if !unreadable.contains(&u) {
                    unreadable.push(u);
                }
            }
            for local in expanded.paths {
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

/// Expands a host glob pattern below the root (see [`crate::glob_walk`]), with the
/// directories it could not read.
fn glob_local(root: &Root, pattern: &str, depth: usize) -> crate::glob_walk::Expanded {
    let full = match root.dir() {
        Some(dir) if pattern.starts_with('/') => {
            let escaped = glob::Pattern::escape(&dir.to_string_lossy());
            format!("{escaped}{pattern}")
        }
        _ => pattern.to_string(),
    };
    match crate::glob_walk::expand_all(&full, depth) {
        Ok(expanded) => expanded,
        Err(e) => {
            tracing::warn!(pattern, error = %e, "input glob is not a valid pattern; skipped");
            Default::default()
        }
    }
}

/// The directories (below the root) whose children decide what the inputs' globs match,
/// with the children each walk looks at ([`crate::glob_walk::dirs`]); `None` when a pattern
/// is not absolute or not valid (what it matches cannot be watched).
pub fn input_dirs(
    root: &Root,
    shipper: ShipperKind,
    inputs: &[InputSpec],
) -> Option<Vec<(PathBuf, crate::glob_walk::NameFilter)>> {
    let depth = crate::glob_walk::recursive_depth(shipper);
    let mut out = Vec::new();
    for pattern in inputs.iter().flat_map(|i| i.paths.iter()) {
        let full = match root.dir() {
            Some(dir) if pattern.starts_with('/') => {
                format!("{}{pattern}", glob::Pattern::escape(&dir.to_string_lossy()))
            }
            _ => pattern.to_string(),
        };
        out.extend(crate::glob_walk::dirs(&full, depth).ok()?);
    }
    Some(out)
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

/// What a stat of a regular file gives (10^6 of these are alive at once: no path in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: Option<SystemTime>,
    pub nlink: u64,
}

/// Stats every path of `paths` as [`DiskFile::stat`] does (following symlinks; `None` for
/// what is not a regular file or cannot be stat'ed), in directory order: the paths are grouped
/// by their directory, each directory is opened once (`O_PATH`) and its members are stat'ed
/// with `fstatat` relative to it, so the kernel resolves each directory once instead of once a
/// file. Groups are cut into chunks so that one huge directory still uses every thread.
/// Keeps for each of the `n` paths `path_of(0..n)` what `keep(index, path, stat)` makes of
/// its stat (`None` for a path that is `None` or cannot be stat'ed): each chunk's results go
/// straight into the output, so no list of every stat (56 MB at 10^6 files) or of every path
/// (16 MB) is held beside it.
pub fn stat_each<'p, T: Send>(
    n: usize,
    path_of: &(dyn Fn(usize) -> Option<&'p Path> + Sync),
    keep: impl Fn(usize, &'p Path, Stat) -> Option<T> + Sync,
) -> Vec<Option<T>> {
    use std::os::unix::ffi::OsStrExt;
    /// Files stat'ed per opened directory (and per parallel task).
    const CHUNK: usize = 512;
    let mut dirs: HashMap<&[u8], usize, foldhash::fast::RandomState> = HashMap::default();
    let mut members: Vec<(&[u8], Vec<usize>)> = Vec::new();
    for i in 0..n {
        let Some(p) = path_of(i) else { continue };
        let bytes = p.as_os_str().as_bytes();
        let dir = match bytes.iter().rposition(|&b| b == b'/') {
            Some(0) => &bytes[..1],
            Some(at) => &bytes[..at],
            None => &b""[..],
        };
        let slot = *dirs.entry(dir).or_insert_with(|| {
            members.push((dir, Vec::new()));
            members.len() - 1
        });
        members[slot].1.push(i);
    }
    drop(dirs);
    let chunks: Vec<(&[u8], &[usize])> = members
        .iter()
        .flat_map(|(dir, m)| m.chunks(CHUNK).map(move |c| (*dir, c)))
        .collect();
    // Filled in parallel: the output's pages are first touched (and zeroed by the kernel) on
    // every thread, not on this one before the stats start.
    let mut out: Vec<Option<T>> = Vec::with_capacity(n);
    out.par_extend((0..n).into_par_iter().map(|_| None));
    let out = std::sync::Mutex::new(out);
    chunks.par_iter().for_each(|(dir, idx)| {
        let at = DirFd::open(dir);
        let mut name = Vec::new();
        let found: Vec<(usize, T)> = idx
            .iter()
            .filter_map(|&i| {
                let p = path_of(i)?;
                let f = match &at {
                    Some(d) => d.stat(p, &mut name),
                    // The directory cannot be opened: the path's own stat says why.
                    None => DiskFile::stat(p.to_path_buf()).map(|f| Stat {
                        dev: f.dev,
                        ino: f.ino,
                        size: f.size,
                        mtime: f.mtime,
                        nlink: f.nlink,
                    }),
                };
                keep(i, p, f?).map(|t| (i, t))
            })
            .collect();
        // One lock per chunk of 512: a poisoned lock (a panic in `keep` elsewhere) still
        // holds valid slots.
        let mut out = out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (i, t) in found {
            out[i] = Some(t);
        }
    });
    out.into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`stat_each`] keeping the stats themselves.
#[cfg(test)]
pub fn stat_all(paths: &[Option<&Path>]) -> Vec<Option<Stat>> {
    stat_each(paths.len(), &|i| paths[i], |_, _, st| Some(st))
}

/// A directory opened with `O_PATH` (no read permission needed, as for a path walk), or the
/// current directory for relative names without a directory part.
struct DirFd(std::os::fd::OwnedFd);

impl DirFd {
    fn open(dir: &[u8]) -> Option<DirFd> {
        use std::os::fd::FromRawFd;
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let c = std::ffi::CString::new(dir).ok()?;
        // SAFETY: a NUL-terminated path; the returned descriptor is owned below.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        // SAFETY: a descriptor just returned by open(2), owned by nothing else.
        (fd >= 0).then(|| DirFd(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    /// `fstatat(dir, basename(path), 0)`: the final component's symlink is followed, as
    /// `stat(2)` on the whole path does. `name` is a scratch buffer.
    fn stat(&self, path: &Path, name: &mut Vec<u8>) -> Option<Stat> {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let base = match bytes.iter().rposition(|&b| b == b'/') {
            Some(at) => &bytes[at + 1..],
            None => bytes,
        };
        // "dir/" names the directory itself: never a regular file.
        if base.is_empty() || base.contains(&0) {
            return None;
        }
        name.clear();
        name.extend_from_slice(base);
        name.push(0);
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a NUL-terminated name, a directory descriptor we own, and a buffer of the
        // right type that fstatat fills on success.
        let r =
            unsafe { libc::fstatat(self.0.as_raw_fd(), name.as_ptr().cast(), st.as_mut_ptr(), 0) };
        if r != 0 {
            return None;
        }
        // SAFETY: fstatat succeeded, so it filled `st`.
        let st = unsafe { st.assume_init() };
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        // As std's `modified()`: seconds before or after the epoch, plus nanoseconds.
        let ns = std::time::Duration::from_nanos(u64::try_from(st.st_mtime_nsec).unwrap_or(0));
        let secs = std::time::Duration::from_secs(st.st_mtime.unsigned_abs());
        let mtime = if st.st_mtime >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(secs)
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(secs)
        }
        .and_then(|t| t.checked_add(ns));
        Some(Stat {
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).ok()?,
            mtime,
            nlink: st.st_nlink,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(f: Option<DiskFile>) -> Option<Stat> {
        f.map(|f| Stat {
            dev: f.dev,
            ino: f.ino,
            size: f.size,
            mtime: f.mtime,
            nlink: f.nlink,
        })
    }

    /// Directory-order stats give, path by path, what a stat of the whole path gives:
    /// symlinks followed, directories, FIFOs, dangling links and odd spellings refused or
    /// resolved alike.
    #[test]
    fn stat_all_is_stat_of_each_path() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("a.log"), b"one\n").unwrap();
        std::fs::write(d.join("sub/b.log"), b"two lines\nx").unwrap();
        std::os::unix::fs::symlink(d.join("a.log"), d.join("link.log")).unwrap();
        std::os::unix::fs::symlink(d.join("sub"), d.join("dirlink")).unwrap();
        std::os::unix::fs::symlink(d.join("none"), d.join("dangling.log")).unwrap();
        let fifo =
            std::ffi::CString::new(d.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let s = |p: &str| d.join(p).to_string_lossy().into_owned();
        let mut paths: Vec<String> = [
            "a.log",
            "sub/b.log",
            "link.log",
            "dirlink/b.log",
            "dirlink",
            "sub",
            "dangling.log",
            "fifo",
            "missing.log",
            "nodir/x.log",
            "a.log/",
            "sub/./b.log",
            "sub/../a.log",
            "sub//b.log",
            "a.log/x",
        ]
        .iter()
        .map(|p| s(p))
        .collect();
        paths.extend([
            "/".into(),
            "".into(),
            "relative-missing".into(),
            "a\0b".into(),
        ]);
        let owned: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        let mut refs: Vec<Option<&Path>> = owned.iter().map(|p| Some(p.as_path())).collect();
        refs.push(None);
        let got = stat_all(&refs);
        assert_eq!(got.len(), refs.len());
        for (p, g) in refs.iter().zip(&got) {
            let want = p.and_then(|p| plain(DiskFile::stat(p.to_path_buf())));
            assert_eq!(*g, want, "{p:?}");
        }
        assert!(got[0].is_some() && got[2] == got[0] && got[3] == got[1]);
    }

    /// More files in one directory than one task stats: every one is still found, in place.
    #[test]
    fn stat_all_splits_big_directories() {
        let dir = tempfile::tempdir().unwrap();
        let owned: Vec<PathBuf> = (0..1200)
            .map(|i| {
                let p = dir.path().join(format!("f{i}"));
                std::fs::write(&p, vec![b'x'; i]).unwrap();
                p
            })
            .collect();
        let refs: Vec<Option<&Path>> = owned.iter().map(|p| Some(p.as_path())).collect();
        let sizes: Vec<u64> = stat_all(&refs).iter().map(|s| s.unwrap().size).collect();
        assert_eq!(sizes, (0..1200u64).collect::<Vec<_>>());
    }
}
