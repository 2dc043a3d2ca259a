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
        let st = Stat::of_path(&local)?;
        Some(DiskFile::from_stat(local, st))
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

impl Stat {
    /// The stat of the regular file at `path` (following symlinks); `None` for anything else
    /// or when it cannot be stat'ed.
    pub fn of_path(path: &Path) -> Option<Stat> {
        let meta = std::fs::metadata(path).ok()?;
        meta.is_file().then(|| Stat {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: meta.modified().ok(),
            nlink: meta.nlink(),
        })
    }
}

/// Stats every path of `paths` as [`DiskFile::stat`] does (following symlinks; `None` for
/// what is not a regular file or cannot be stat'ed), in directory order: the paths are grouped
/// by their directory, cut into chunks of up to [`CHUNK`] (so that one huge directory still
/// uses every thread), and each chunk's directory is opened (`O_PATH`) and its members are
/// stat'ed with `fstatat` relative to it, so the kernel resolves the directory once a chunk
/// instead of once a file. A directory of fewer than [`OPEN_DIR_FROM`] entries is not opened:
/// its entries are pooled with the other small directories' and stat'ed by their paths.
/// Keeps for each of the `n` paths `path_of(0..n)` what `keep(index, path, stat)` makes of
/// its stat (`None` for a path that is `None` or cannot be stat'ed): each chunk's results go
/// straight into the output, so no list of every stat (56 MB at 10^6 files) or of every path
/// (16 MB) is held beside it. Only the file names of directories scattered through the store
/// are copied (12 MB at 10^6 files in hash order): reading them in place would walk memory at
/// random.
pub fn stat_each<'p, T: Send>(
    n: usize,
    path_of: &(dyn Fn(usize) -> Option<&'p Path> + Sync),
    keep: impl Fn(usize, &'p Path, Stat) -> Option<T> + Sync,
) -> Vec<Option<T>> {
    let mut dirs: HashMap<&[u8], usize, foldhash::fast::RandomState> = HashMap::default();
    let mut members: Vec<Members<'_>> = Vec::new();
    // The directory before is compared first: a store in directory order hashes each
    // directory once a run, not each path.
    let mut last: Option<(&[u8], usize)> = None;
    for i in 0..n {
        let Some(p) = path_of(i) else { continue };
        let dir = dir_name(p);
        use std::collections::hash_map::Entry;
        // The directory's slot, and whether this entry made it (and is its first).
        let (slot, new) = match last {
            Some((d, slot)) if d == dir => (slot, false),
            _ => match dirs.entry(dir) {
                Entry::Occupied(e) => (*e.get(), false),
                Entry::Vacant(e) => {
                    members.push(Members {
                        dir,
                        idx: Idx::One(i),
                        names: None,
                    });
                    (*e.insert(members.len() - 1), true)
                }
            },
        };
        last = Some((dir, slot));
        if !new {
            members[slot].idx.push(i);
        }
    }
    // A directory whose entries are not one run of the store (Filebeat's checkpoint is in
    // hash order) would have its stats walk through memory at random to read their paths:
    // its file names are copied here, in the store's order (the order the paths were
    // allocated in), for the stats to read instead. A store in directory order copies none.
    // A directory of a few entries (/var/log/pods/<pod>/<container>/0.log) is not opened:
    // their own stats cost fewer system calls and path steps.
    let small = |m: &Members<'_>| m.idx.as_slice().len() < OPEN_DIR_FROM;
    let scattered = |m: &Members<'_>| {
        let idx = m.idx.as_slice();
        match (idx.first(), idx.last()) {
            (Some(&a), Some(&b)) => b - a + 1 != idx.len() && !small(m),
            _ => false,
        }
    };
    if members.iter().any(scattered) {
        for m in members.iter_mut().filter(|m| scattered(m)) {
            m.names = Some(Box::default());
        }
        for i in 0..n {
            let Some(p) = path_of(i) else { continue };
            let Some(&slot) = dirs.get(dir_name(p)) else {
                continue;
            };
            let m = &mut members[slot];
            if let Some(names) = &mut m.names {
                if names.count % CHUNK == 0 {
                    names.cuts.push(names.bytes.len());
                }
                names.count += 1;
                names.push(p);
            }
        }
    }
    drop(dirs);
    // The entries of the directories too small to open, in the store's order (the order their
    // paths were allocated in), stat'ed by their whole paths in chunks of their own.
    let mut loose: Vec<usize> = members
        .iter()
        .filter(|m| small(m))
        .flat_map(|m| m.idx.as_slice().iter().copied())
        .collect();
    loose.par_sort_unstable();
    let loose_chunks = loose.chunks(CHUNK).map(|idx| Chunk {
        dir: None,
        idx,
        names: None,
    });
    let chunks: Vec<Chunk<'_>> = members
        .iter()
        .filter(|m| !small(m))
        .flat_map(|m| {
            m.idx
                .as_slice()
                .chunks(CHUNK)
                .enumerate()
                .map(move |(k, idx)| {
                    let names = m.names.as_ref().map(|names| {
                        let end = names.cuts.get(k + 1).copied();
                        &names.bytes[names.cuts[k]..end.unwrap_or(names.bytes.len())]
                    });
                    Chunk {
                        dir: Some(m.dir),
                        idx,
                        names,
                    }
                })
        })
        .chain(loose_chunks)
        .collect();
    // Filled in parallel: the output's pages are first touched (and zeroed by the kernel) on
    // every thread, not on this one before the stats start.
    let mut out: Vec<Option<T>> = Vec::with_capacity(n);
    out.par_extend((0..n).into_par_iter().map(|_| None));
    let out = std::sync::Mutex::new(out);
    chunks
        .par_iter()
        .with_max_len(1)
        .for_each(|&Chunk { dir, idx, names }| {
            // The stats first, then what is kept of them: keeping reads each entry (a cache miss
            // each when the store is not in directory order), and those misses overlap when
            // nothing else runs between them, where behind a system call each they would wait one
            // by one.
            let stats: Vec<(usize, Stat)> = match dir.and_then(DirFd::open) {
                Some(at) => {
                    // A run of the store reads its paths in memory order, here.
                    let mut local = Names::default();
                    let names = names.unwrap_or_else(|| {
                        for &i in idx {
                            local.push(path_of(i).unwrap_or(Path::new("")));
                        }
                        &local.bytes
                    });
                    idx.iter()
                        .zip(names.split_inclusive(|&b| b == 0))
                        .filter_map(|(&i, name)| match name {
                            b"\0" => None,
                            name => Some((i, at.stat(name)?)),
                        })
                        .collect()
                }
                // Too few entries to open their directory, or it cannot be opened: each path's
                // own stat (which then says why).
                None => idx
                    .iter()
                    .filter_map(|&i| Some((i, Stat::of_path(path_of(i)?)?)))
                    .collect(),
            };
            let found: Vec<(usize, T)> = stats
                .into_iter()
                .filter_map(|(i, st)| keep(i, path_of(i)?, st).map(|t| (i, t)))
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

/// Files [`stat_each`] stats per parallel task (and per opened directory).
const CHUNK: usize = 512;

/// The fewest entries of a directory for which [`stat_each`] opens it. Below, opening it,
/// fstatat and closing it cost more than each file's own stat. Measured at 2x10^5 realistic
/// entries, legacy store: with the threshold moved from 1 to 6, opening a directory of 4 was
/// about as fast as not, one of 2 slower; against opening every directory, stat'ing by path
/// in pooled chunks took 0.65x the time at 1 file a directory, 0.78x at 2, 0.90x at 4.
const OPEN_DIR_FROM: usize = 5;

/// [`stat_each`] keeping the stats themselves.
#[cfg(test)]
pub fn stat_all(paths: &[Option<&Path>]) -> Vec<Option<Stat>> {
    stat_each(paths.len(), &|i| paths[i], |_, _, st| Some(st))
}

/// The entries of one directory that [`stat_each`] stats, in the store's order.
struct Members<'a> {
    dir: &'a [u8],
    idx: Idx,
    /// Their file names, when they are scattered through the store.
    names: Option<Box<Names>>,
}

/// The entries of one directory, in the store's order: one is kept inline (10^6 directories
/// of one file each, as in /var/log/pods, take no list each).
enum Idx {
    One(usize),
    Many(Vec<usize>),
}

impl Idx {
    fn push(&mut self, i: usize) {
        match self {
            Idx::One(first) => *self = Idx::Many(vec![*first, i]),
            Idx::Many(all) => all.push(i),
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Idx::One(first) => std::slice::from_ref(first),
            Idx::Many(all) => all,
        }
    }
}

/// Up to `CHUNK` entries of one directory (`None`: of directories too small to open), and
/// their names when copied.
struct Chunk<'a> {
    dir: Option<&'a [u8]>,
    idx: &'a [usize],
    names: Option<&'a [u8]>,
}

/// File names as [`DirFd::stat`] takes them, one after the other, each ended by a NUL (and
/// empty for a path that cannot name a regular file in its directory).
#[derive(Default)]
struct Names {
    bytes: Vec<u8>,
    count: usize,
    /// Where each chunk of [`stat_each`]'s `CHUNK` names starts in `bytes`.
    cuts: Vec<usize>,
}

impl Names {
    fn push(&mut self, path: &Path) {
        self.bytes
            .extend_from_slice(file_name(path).unwrap_or_default());
        self.bytes.push(0);
    }
}

/// The directory part of `path` as [`DirFd::open`] takes it: "/" for a file at the root,
/// empty for a name without one.
fn dir_name(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    match bytes.iter().rposition(|&b| b == b'/') {
        Some(0) => &bytes[..1],
        Some(at) => &bytes[..at],
        None => &b""[..],
    }
}

/// The last component of `path` as [`DirFd::stat`] takes it, or `None` when it cannot name a
/// regular file there: empty ("dir/" is the directory itself) or holding a NUL.
fn file_name(path: &Path) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let base = match bytes.iter().rposition(|&b| b == b'/') {
        Some(at) => &bytes[at + 1..],
        None => bytes,
    };
    (!base.is_empty() && !base.contains(&0)).then_some(base)
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

    /// `fstatat(dir, name, 0)` for `name` as [`file_name`] gives it, with a NUL after it:
    /// the final component's symlink is followed, as `stat(2)` on the whole path does.
    fn stat(&self, name: &[u8]) -> Option<Stat> {
        use std::os::fd::AsRawFd;
        let name = std::ffi::CStr::from_bytes_with_nul(name).ok()?;
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a NUL-terminated name, a directory descriptor we own, and a buffer of the
        // right type that fstatat fills on success.
        let r = unsafe { libc::fstatat(self.0.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), 0) };
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
        // As they are (each directory spelling has too few entries to be opened), and with
        // each spelling's directory padded to OPEN_DIR_FROM entries (opened: fstatat).
        for padded in [false, true] {
            let mut all = paths.clone();
            if padded {
                use std::os::unix::ffi::OsStrExt;
                for p in &paths {
                    let dir = String::from_utf8_lossy(dir_name(Path::new(p))).into_owned();
                    all.extend((0..OPEN_DIR_FROM).map(|k| match dir.as_str() {
                        "" => format!("pad{k}"),
                        dir => format!("{dir}/pad{k}"),
                    }));
                }
                let d = d.as_os_str().as_bytes();
                let opened = all.iter().filter(|p| dir_name(Path::new(p.as_str())) == d);
                assert!(opened.count() >= OPEN_DIR_FROM);
            }
            let owned: Vec<PathBuf> = all.iter().map(PathBuf::from).collect();
            let mut refs: Vec<Option<&Path>> = owned.iter().map(|p| Some(p.as_path())).collect();
            refs.push(None);
            let got = stat_all(&refs);
            assert_eq!(got.len(), refs.len());
            for (p, g) in refs.iter().zip(&got) {
                let want = p.and_then(|p| plain(DiskFile::stat(p.to_path_buf())));
                assert_eq!(*g, want, "{p:?} (padded: {padded})");
            }
            assert!(got[0].is_some() && got[2] == got[0] && got[3] == got[1]);
        }
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

    /// Directories of fewer than OPEN_DIR_FROM entries (stat'ed by path, pooled across more
    /// than one chunk) between the entries of a big one (opened), in an order that scatters
    /// both: each stat lands in its own slot and is what the whole path's stat gives.
    #[test]
    fn stat_all_small_directories_pooled_beside_a_big_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("big")).unwrap();
        let mut owned: Vec<PathBuf> = Vec::new();
        for d in 0..700usize {
            let sub = dir.path().join(format!("pod{d}"));
            std::fs::create_dir(&sub).unwrap();
            // 1 to OPEN_DIR_FROM - 1 files, and a name that is no regular file.
            for f in 0..(1 + d % (OPEN_DIR_FROM - 1)) {
                let p = sub.join(format!("{f}.log"));
                std::fs::write(&p, vec![b'x'; d + f]).unwrap();
                owned.push(p);
            }
            if d % 50 == 0 {
                owned.push(sub.join("missing.log"));
            }
            let big = dir.path().join("big").join(format!("f{d}"));
            std::fs::write(&big, vec![b'y'; d]).unwrap();
            owned.push(big);
        }
        // Reversed pairs: neither the small nor the big directory's entries are one run.
        let mut order: Vec<usize> = (0..owned.len()).collect();
        for pair in order.chunks_mut(2) {
            pair.reverse();
        }
        let refs: Vec<Option<&Path>> = order.iter().map(|&i| Some(owned[i].as_path())).collect();
        let got = stat_all(&refs);
        assert_eq!(got.len(), refs.len());
        for (p, g) in refs.iter().zip(&got) {
            let want = p.and_then(|p| plain(DiskFile::stat(p.to_path_buf())));
            assert_eq!(*g, want, "{p:?}");
        }
        let loose = refs
            .iter()
            .filter(|p| !p.unwrap().starts_with(dir.path().join("big")));
        assert!(
            loose.count() > CHUNK,
            "the small directories fill more than one chunk"
        );
        assert_eq!(got.iter().filter(|g| g.is_none()).count(), 14);
    }

    /// Two big directories whose entries alternate in the store (as in a checkpoint written in
    /// hash order), with names no file can have among them: each stat still lands in its own
    /// slot, across the chunks the copied names are cut into.
    #[test]
    fn stat_all_scattered_directories_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let mut owned: Vec<PathBuf> = Vec::new();
        for i in 0..1300usize {
            let sub = if i % 2 == 0 { "a" } else { "b" };
            let p = dir.path().join(sub).join(format!("f{i}"));
            std::fs::write(&p, vec![b'x'; i]).unwrap();
            owned.push(p);
            // Between them, names that cannot be a regular file in that directory.
            match i % 97 {
                0 => owned.push(dir.path().join(sub).join("x\0y")),
                1 => owned.push(PathBuf::from(format!(
                    "{}/",
                    dir.path().join(sub).display()
                ))),
                2 => owned.push(dir.path().join(sub).join("missing")),
                _ => {}
            }
        }
        let refs: Vec<Option<&Path>> = owned.iter().map(|p| Some(p.as_path())).collect();
        let got = stat_all(&refs);
        for (p, g) in refs.iter().zip(&got) {
            let want = p.and_then(|p| plain(DiskFile::stat(p.to_path_buf())));
            assert_eq!(*g, want, "{p:?}");
        }
        let sizes: Vec<u64> = got.iter().flatten().map(|s| s.size).collect();
        assert_eq!(sizes, (0..1300u64).collect::<Vec<_>>());
    }
}
