//! Every file `install` and `uninstall` write, move or remove, resolved below the root
//! without following a symbolic link.
//!
//! A host path (`/etc/systemd/system/drainguard.service`) is opened as its parent directory
//! (a file descriptor reached from the root's descriptor) and a last name. The parent is
//! reached by `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`, or on
//! kernels without it (before 5.6, such as Amazon Linux 2's 4.14, or where a seccomp filter
//! refuses it) one `openat(O_NOFOLLOW | O_DIRECTORY)` per component. The last name is then
//! used only with the `*at` calls relative to that descriptor, never followed: a planted link
//! is replaced or removed, never written through. A directory that is a link (even one that
//! stays inside the root) is refused with its target named: links that stay inside could be
//! swapped for ones that do not between check and use, and the walk cannot tell them apart.
//! Missing parents are created the same way, one `mkdirat` per component.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::root::Root;

/// Why a path below the root was not used.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    #[error("{}: {source}", crate::display::path(path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: a symbolic link (to {}); drainguard writes only through real directories below the \
         root, so a link cannot lead it outside: replace the link by the directory it names",
        crate::display::path(path),
        crate::display::path(target)
    )]
    Link { path: PathBuf, target: PathBuf },
    #[error("{}: not a directory", crate::display::path(path))]
    NotDir { path: PathBuf },
    #[error(
        "{}: not a regular file ({kind}); it is left alone",
        crate::display::path(path)
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{}: larger than {limit} bytes, more than drainguard ever writes",
        crate::display::path(path)
    )]
    TooLarge { path: PathBuf, limit: u64 },
    #[error(
        "{}: not a plain absolute path (relative, or with `.` or `..` components)",
        crate::display::path(path)
    )]
    NotNormal { path: PathBuf },
}

/// Set once openat2 proved unavailable: every later resolution walks.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// What is at a path (not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: FileType,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

impl Meta {
    fn of(st: &rfs::Stat) -> Meta {
        Meta {
            kind: FileType::from_raw_mode(st.st_mode),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size.try_into().unwrap_or(0),
        }
    }
}

fn kind_word(k: FileType) -> &'static str {
    match k {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "an unknown file type",
    }
}

/// The root's directory descriptor and the paths to show in errors.
pub struct Beneath {
    root: Root,
    fd: OwnedFd,
    /// Resolve by walking even where openat2 exists (tests of the older kernels' path).
    walk_only: bool,
}

/// A parent directory and the last name of a host path.
struct At {
    dir: OwnedFd,
    name: OsString,
    /// The local path, for errors.
    shown: PathBuf,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Beneath {
    /// Opens the root (`--root DIR`, or `/`). The root itself is the operator's choice and
    /// may be reached through links.
    pub fn open(root: &Root) -> Result<Beneath, BeneathError> {
        let dir = root.dir().unwrap_or(Path::new("/"));
        let fd = rfs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err(dir, e))?;
        Ok(Beneath {
            root: root.clone(),
            fd,
            walk_only: false,
        })
    }

    /// The same root, resolved component by component as on kernels without openat2.
    #[cfg(test)]
    pub(crate) fn walking(mut self) -> Beneath {
        self.walk_only = true;
        self
    }

    fn shown(&self, host: &Path) -> PathBuf {
        self.root.host_to_local(host)
    }

    /// The normal components of an absolute host path; anything else is refused.
    fn parts<'a>(&self, host: &'a Path) -> Result<Vec<&'a OsStr>, BeneathError> {
        plain_parts(host).ok_or_else(|| BeneathError::NotNormal {
            path: host.to_path_buf(),
        })
    }

    /// The directory `host` (a host path), or `None` when it (or a parent) is missing and
    /// `created` is `None`. With `created`, missing directories are made (mode 0755) and their
    /// host paths appended, outermost first.
    pub fn dir(
        &self,
        host: &Path,
        created: Option<&mut Vec<PathBuf>>,
    ) -> Result<Option<OwnedFd>, BeneathError> {
        let parts = self.parts(host)?;
        if parts.is_empty() {
            return rfs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())
                .map(Some)
                .map_err(|e| io_err(&self.shown(host), e));
        }
        if !self.walk_only && !NO_OPENAT2.load(Ordering::Relaxed) {
            let rel: PathBuf = parts.iter().collect();
            let how =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rfs::openat2(&self.fd, &rel, DIR_FLAGS, Mode::empty(), how) {
                Ok(fd) => return Ok(Some(fd)),
                Err(Errno::NOSYS) | Err(Errno::PERM) => {
                    tracing::debug!("openat2 unavailable: resolving paths component by component");
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                // Missing, a link, not a directory: the walk says which component and creates.
                Err(_) => {}
            }
        }
        self.walk(&parts, created)
    }

    fn walk(
        &self,
        parts: &[&OsStr],
        mut created: Option<&mut Vec<PathBuf>>,
    ) -> Result<Option<OwnedFd>, BeneathError> {
        let mut fd = rfs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())
            .map_err(|e| io_err(&self.shown(Path::new("/")), e))?;
        let mut host = PathBuf::from("/");
        for name in parts {
            host.push(name);
            let mut made = false;
            // A directory another writer (a second drain, the exporter) creates between a
            // look and a make is theirs, opened as found; a name that keeps changing under the
            // walk is an error after a few looks.
            let mut looks = 0;
            let next = loop {
                looks += 1;
                let e = match rfs::openat(&fd, *name, DIR_FLAGS, Mode::empty()) {
                    Ok(next) => break next,
                    Err(e) => e,
                };
                match rfs::statat(&fd, *name, AtFlags::SYMLINK_NOFOLLOW) {
                    Err(Errno::NOENT) if looks <= 3 => {
                        let Some(list) = created.as_deref_mut() else {
                            return Ok(None);
                        };
                        match rfs::mkdirat(&fd, *name, Mode::from_raw_mode(0o755)) {
                            Ok(()) => {
                                made = true;
                                list.push(host.clone());
                            }
                            Err(Errno::EXIST) => {}
                            Err(e) => return Err(io_err(&self.shown(&host), e)),
                        }
                    }
                    Ok(st)
                        if looks <= 3
                            && FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Ok(st) => {
                        let path = self.shown(&host);
                        return Err(match FileType::from_raw_mode(st.st_mode) {
                            FileType::Symlink => BeneathError::Link {
                                target: read_link_at(&fd, name).unwrap_or_default(),
                                path,
                            },
                            FileType::Directory => io_err(&path, e),
                            _ => BeneathError::NotDir { path },
                        });
                    }
                    Err(e) => return Err(io_err(&self.shown(&host), e)),
                }
            };
            if made {
                // The umask may have narrowed it.
                rfs::fchmod(&next, Mode::from_raw_mode(0o755))
                    .map_err(|e| io_err(&self.shown(&host), e))?;
            }
            fd = next;
        }
        Ok(Some(fd))
    }

    /// The parent directory of `host` and its last name. `None`: the parent is missing.
    fn at(
        &self,
        host: &Path,
        create: Option<&mut Vec<PathBuf>>,
    ) -> Result<Option<At>, BeneathError> {
        let parts = self.parts(host)?;
        let Some((name, _)) = parts.split_last() else {
            return Err(BeneathError::NotNormal {
                path: host.to_path_buf(),
            });
        };
        let parent = host.parent().unwrap_or(Path::new("/"));
        Ok(self.dir(parent, create)?.map(|dir| At {
            dir,
            name: name.to_os_string(),
            shown: self.shown(host),
        }))
    }

    /// Like [`Beneath::at`], the parent required to exist.
    fn at_existing(&self, host: &Path) -> Result<At, BeneathError> {
        self.at(host, None)?.ok_or_else(|| BeneathError::Io {
            path: self.shown(host),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
    }

    /// What is at `host`, not followed; `None` when it or its parent is missing.
    pub fn meta(&self, host: &Path) -> Result<Option<Meta>, BeneathError> {
        let Some(at) = self.at(host, None)? else {
            return Ok(None);
        };
        match rfs::statat(&at.dir, &at.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta::of(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err(&at.shown, e)),
        }
    }

    /// The content of the regular file `host`, at most `limit` bytes; `None` when missing.
    /// A link, FIFO, device or directory there is refused, never opened through.
    pub fn read(&self, host: &Path, limit: u64) -> Result<Option<(Vec<u8>, Meta)>, BeneathError> {
        let Some(at) = self.at(host, None)? else {
            return Ok(None);
        };
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rfs::openat(&at.dir, &at.name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => {
                return Err(BeneathError::NotRegular {
                    path: at.shown,
                    kind: "a symbolic link",
                })
            }
            Err(e) => return Err(io_err(&at.shown, e)),
        };
        let meta = Meta::of(&rfs::fstat(&fd).map_err(|e| io_err(&at.shown, e))?);
        if meta.kind != FileType::RegularFile {
            return Err(BeneathError::NotRegular {
                path: at.shown,
                kind: kind_word(meta.kind),
            });
        }
        if meta.size > limit {
            return Err(BeneathError::TooLarge {
                path: at.shown,
                limit,
            });
        }
        let mut buf = Vec::new();
        std::fs::File::from(fd)
            .take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| BeneathError::Io {
                path: at.shown.clone(),
                source: e,
            })?;
        if buf.len() as u64 > limit {
            return Err(BeneathError::TooLarge {
                path: at.shown,
                limit,
            });
        }
        Ok(Some((buf, meta)))
    }

    /// The target of the link `host`; `None` when missing or not a link.
    pub fn read_link(&self, host: &Path) -> Result<Option<PathBuf>, BeneathError> {
        let Some(at) = self.at(host, None)? else {
            return Ok(None);
        };
        match read_link_at(&at.dir, &at.name) {
            Ok(t) => Ok(Some(t)),
            Err(Errno::NOENT) | Err(Errno::INVAL) => Ok(None),
            Err(e) => Err(io_err(&at.shown, e)),
        }
    }

    /// The parents of `host` that [`Beneath::make_parents`] would create, outermost first;
    /// an error where it would fail (a link or a file in the way).
    pub fn missing_parents(&self, host: &Path) -> Result<Vec<PathBuf>, BeneathError> {
        let parts = self.parts(host)?;
        let mut dir = PathBuf::from("/");
        let mut missing = Vec::new();
        for name in parts.iter().take(parts.len().saturating_sub(1)) {
            dir.push(name);
            if !missing.is_empty() {
                missing.push(dir.clone());
                continue;
            }
            match self.meta(&dir)? {
                None => missing.push(dir.clone()),
                Some(m) if m.kind == FileType::Directory => {}
                Some(m) if m.kind == FileType::Symlink => {
                    return Err(BeneathError::Link {
                        path: self.shown(&dir),
                        target: self.read_link(&dir)?.unwrap_or_default(),
                    })
                }
                Some(_) => {
                    return Err(BeneathError::NotDir {
                        path: self.shown(&dir),
                    })
                }
            }
        }
        Ok(missing)
    }

    /// Creates the missing parents of `host`; returns them (host paths), outermost first.
    pub fn make_parents(&self, host: &Path) -> Result<Vec<PathBuf>, BeneathError> {
        let mut created = Vec::new();
        let parent = host.parent().unwrap_or(Path::new("/"));
        self.dir(parent, Some(&mut created))?;
        Ok(created)
    }

    /// Writes `content` to `host` atomically: a new temporary file in the same directory
    /// (created exclusively, never through a link), mode, owner root when `chown_root`, fsync,
    /// rename over the name, directory fsync. The parent must exist.
    pub fn write_atomic(
        &self,
        host: &Path,
        content: &[u8],
        mode: u32,
        chown_root: bool,
    ) -> Result<(), BeneathError> {
        let at = self.at_existing(host)?;
        let tmp = tmp_name(&at.name);
        let ioe = |e: Errno| io_err(&at.shown, e);
        // A leftover of an interrupted run is ours.
        unlink_missing_ok(&at.dir, &tmp, AtFlags::empty()).map_err(ioe)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(&at.dir, &tmp, flags, Mode::from_raw_mode(mode)).map_err(ioe)?;
        rfs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(ioe)?;
        if chown_root {
            rfs::fchown(&fd, Some(rfs::Uid::ROOT), Some(rfs::Gid::ROOT)).map_err(ioe)?;
        }
        let mut f = std::fs::File::from(fd);
        f.write_all(content).map_err(|e| BeneathError::Io {
            path: at.shown.clone(),
            source: e,
        })?;
        rfs::fsync(&f).map_err(ioe)?;
        rfs::renameat(&at.dir, &tmp, &at.dir, &at.name).map_err(ioe)?;
        rfs::fsync(&at.dir).map_err(ioe)
    }

    /// Appends `content` to the regular file `host` (created with `mode` when missing, its
    /// parents too), in one `write` on an `O_APPEND` descriptor. A link, FIFO or device there
    /// is refused: the open neither follows a link nor waits for a FIFO's reader.
    pub fn append(&self, host: &Path, content: &[u8], mode: u32) -> Result<(), BeneathError> {
        self.make_parents(host)?;
        let at = self.at_existing(host)?;
        let flags = OFlags::WRONLY
            | OFlags::APPEND
            | OFlags::CREATE
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::NOCTTY
            | OFlags::CLOEXEC;
        let fd = match rfs::openat(&at.dir, &at.name, flags, Mode::from_raw_mode(mode)) {
            Ok(fd) => fd,
            Err(Errno::LOOP) => {
                return Err(BeneathError::NotRegular {
                    path: at.shown,
                    kind: "a symbolic link",
                })
            }
            // A FIFO without a reader.
            Err(Errno::NXIO) => {
                return Err(BeneathError::NotRegular {
                    path: at.shown,
                    kind: "a FIFO",
                })
            }
            Err(e) => return Err(io_err(&at.shown, e)),
        };
        let meta = Meta::of(&rfs::fstat(&fd).map_err(|e| io_err(&at.shown, e))?);
        if meta.kind != FileType::RegularFile {
            return Err(BeneathError::NotRegular {
                path: at.shown,
                kind: kind_word(meta.kind),
            });
        }
        std::fs::File::from(fd)
            .write_all(content)
            .map_err(|e| BeneathError::Io {
                path: at.shown,
                source: e,
            })
    }

    /// Creates the link `host` -> `target` atomically (a temporary name renamed over it).
    pub fn symlink_atomic(&self, target: &Path, host: &Path) -> Result<(), BeneathError> {
        let at = self.at_existing(host)?;
        let tmp = tmp_name(&at.name);
        let ioe = |e: Errno| io_err(&at.shown, e);
        unlink_missing_ok(&at.dir, &tmp, AtFlags::empty()).map_err(ioe)?;
        rfs::symlinkat(target, &at.dir, &tmp).map_err(ioe)?;
        rfs::renameat(&at.dir, &tmp, &at.dir, &at.name).map_err(ioe)?;
        rfs::fsync(&at.dir).map_err(ioe)
    }

    /// Moves `from` to `to` (the entry itself: a link is moved, not followed).
    pub fn rename(&self, from: &Path, to: &Path) -> Result<(), BeneathError> {
        let (f, t) = (self.at_existing(from)?, self.at_existing(to)?);
        rfs::renameat(&f.dir, &f.name, &t.dir, &t.name).map_err(|e| io_err(&f.shown, e))?;
        rfs::fsync(&t.dir).map_err(|e| io_err(&t.shown, e))?;
        rfs::fsync(&f.dir).map_err(|e| io_err(&f.shown, e))
    }

    /// Saves `from` as `to` without moving it: a hard link (of the entry itself, a link
    /// stays a link), or where that fails (another file system) a copy with the original's
    /// owner and mode.
    pub fn keep_copy(&self, from: &Path, to: &Path) -> Result<(), BeneathError> {
        let (f, t) = (self.at_existing(from)?, self.at_existing(to)?);
        unlink_missing_ok(&t.dir, &t.name, AtFlags::empty()).map_err(|e| io_err(&t.shown, e))?;
        if rfs::linkat(&f.dir, &f.name, &t.dir, &t.name, AtFlags::empty()).is_ok() {
            return rfs::fsync(&t.dir).map_err(|e| io_err(&t.shown, e));
        }
        let meta = self.meta(from)?.ok_or_else(|| BeneathError::Io {
            path: f.shown.clone(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
        if meta.kind == FileType::Symlink {
            let target = read_link_at(&f.dir, &f.name).map_err(|e| io_err(&f.shown, e))?;
            rfs::symlinkat(&target, &t.dir, &t.name).map_err(|e| io_err(&t.shown, e))?;
        } else {
            let (content, meta) = self
                .read(from, COPY_LIMIT)?
                .ok_or_else(|| BeneathError::Io {
                    path: f.shown.clone(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                })?;
            self.write_atomic(to, &content, meta.mode, false)?;
            rfs::chownat(
                &t.dir,
                &t.name,
                Some(rfs::Uid::from_raw(meta.uid)),
                Some(rfs::Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| io_err(&t.shown, e))?;
        }
        rfs::fsync(&t.dir).map_err(|e| io_err(&t.shown, e))
    }

    /// Removes the file or link `host`; false when it was not there.
    pub fn remove_file(&self, host: &Path) -> Result<bool, BeneathError> {
        let Some(at) = self.at(host, None)? else {
            return Ok(false);
        };
        match rfs::unlinkat(&at.dir, &at.name, AtFlags::empty()) {
            Ok(()) => {
                rfs::fsync(&at.dir).map_err(|e| io_err(&at.shown, e))?;
                Ok(true)
            }
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io_err(&at.shown, e)),
        }
    }

    /// Removes the empty directory `host` (anything in it is not ours: an error).
    pub fn remove_dir(&self, host: &Path) -> Result<(), BeneathError> {
        let Some(at) = self.at(host, None)? else {
            return Ok(());
        };
        match rfs::unlinkat(&at.dir, &at.name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(io_err(&at.shown, e)),
        }
    }
}

/// The components of a plain absolute path (`/` then names: no `..`, `.`, `//` or trailing
/// `/`), or `None`.
fn plain_parts(host: &Path) -> Option<Vec<&OsStr>> {
    let mut comps = host.components();
    if comps.next() != Some(Component::RootDir) {
        return None;
    }
    let out = comps
        .map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    // `Path::components` drops `.`, repeated and trailing `/` silently: compare the bytes.
    let rebuilt: PathBuf = std::iter::once(OsStr::new("/"))
        .chain(out.iter().copied())
        .collect();
    (rebuilt.as_os_str() == host.as_os_str()).then_some(out)
}

/// `host` made plain by its letters alone: `.` dropped, `..` taking off the name before it
/// (never above `/`). For a path an operator gives (`--log-file`), not for a manifest's: with
/// no link among the directories, which [`Beneath`] ensures, the result names the same file.
pub fn lexical(host: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in host.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// True for a plain absolute path (see `plain_parts`).
pub fn plain(host: &Path) -> bool {
    plain_parts(host).is_some()
}

/// The largest file copied when a hard link is impossible (drainguard's own files and the
/// originals it replaces are small).
const COPY_LIMIT: u64 = 16 << 20;

fn tmp_name(name: &OsStr) -> OsString {
    let mut t = OsString::from(".");
    t.push(name);
    t.push(".drainguard-tmp");
    t
}

fn read_link_at(dir: impl AsFd, name: &OsStr) -> Result<PathBuf, Errno> {
    let t = rfs::readlinkat(dir, name, Vec::new())?;
    Ok(PathBuf::from(OsStr::from_bytes(t.as_bytes())))
}

fn unlink_missing_ok(dir: impl AsFd, name: &OsStr, flags: AtFlags) -> Result<(), Errno> {
    match rfs::unlinkat(dir, name, flags) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

fn io_err(path: &Path, e: Errno) -> BeneathError {
    BeneathError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A root and, beside it, the outside a planted link points at.
    fn trees() -> (tempfile::TempDir, Root, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let (r, o) = (d.path().join("root"), d.path().join("outside"));
        std::fs::create_dir_all(&r).unwrap();
        std::fs::create_dir_all(o.join("etc")).unwrap();
        (d, Root::new(Some(r)), o)
    }

    /// Runs `f` with openat2 resolution and with the component walk.
    fn both(f: impl Fn(&dyn Fn(&Root) -> Beneath)) {
        f(&|r| Beneath::open(r).unwrap());
        f(&|r| Beneath::open(r).unwrap().walking());
    }

    /// Writers racing to create the same parents all succeed, and between them each directory
    /// is reported created exactly once (a lost race was an "already exists" error).
    #[test]
    fn racing_writers_create_the_same_parents() {
        for round in 0..40 {
            let walking = round % 2 == 1;
            let (_d, root, _) = trees();
            let start = std::sync::Arc::new(std::sync::Barrier::new(8));
            let racers: Vec<_> = (0..8)
                .map(|_| {
                    let (root, start) = (root.clone(), start.clone());
                    std::thread::spawn(move || {
                        let b = Beneath::open(&root).unwrap();
                        let b = if walking { b.walking() } else { b };
                        start.wait();
                        b.make_parents(Path::new("/var/lib/x/y/z/f"))
                    })
                })
                .collect();
            let mut made: Vec<PathBuf> = racers
                .into_iter()
                .flat_map(|r| r.join().unwrap().unwrap())
                .collect();
            made.sort();
            let want: Vec<PathBuf> = [
                "/var",
                "/var/lib",
                "/var/lib/x",
                "/var/lib/x/y",
                "/var/lib/x/y/z",
            ]
            .iter()
            .map(PathBuf::from)
            .collect();
            assert_eq!(made, want);
        }
    }

    #[test]
    fn writes_create_parents_and_stay_below_the_root() {
        both(|open| {
            let (_d, root, _) = trees();
            let b = open(&root);
            let made = b.make_parents(Path::new("/etc/a/b/f")).unwrap();
            assert_eq!(
                made,
                vec![PathBuf::from("/etc"), "/etc/a".into(), "/etc/a/b".into()]
            );
            b.write_atomic(Path::new("/etc/a/b/f"), b"x", 0o640, false)
                .unwrap();
            let (c, m) = b.read(Path::new("/etc/a/b/f"), 10).unwrap().unwrap();
            assert_eq!((c.as_slice(), m.mode), (&b"x"[..], 0o640));
            assert!(b.make_parents(Path::new("/etc/a/b/g")).unwrap().is_empty());
        });
    }

    #[test]
    fn a_linked_directory_at_any_level_is_refused() {
        both(|open| {
            let (_d, root, out) = trees();
            let r = root.dir().unwrap().to_path_buf();
            std::fs::create_dir_all(r.join("etc/systemd")).unwrap();
            symlink(out.join("etc"), r.join("etc/systemd/system")).unwrap();
            let b = open(&root);
            let host = Path::new("/etc/systemd/system/x.service");
            let e = b.write_atomic(host, b"x", 0o644, false).unwrap_err();
            assert!(matches!(e, BeneathError::Link { .. }), "{e}");
            assert!(
                e.to_string()
                    .contains("etc/systemd/system: a symbolic link (to "),
                "{e}"
            );
            assert!(matches!(
                b.make_parents(host),
                Err(BeneathError::Link { .. })
            ));
            assert!(matches!(b.meta(host), Err(BeneathError::Link { .. })));
            assert!(matches!(
                b.remove_file(host),
                Err(BeneathError::Link { .. })
            ));
            // A relative link that stays inside is refused as well.
            std::fs::remove_file(r.join("etc/systemd/system")).unwrap();
            std::fs::create_dir_all(r.join("lib")).unwrap();
            symlink("../../lib", r.join("etc/systemd/system")).unwrap();
            assert!(matches!(
                b.write_atomic(host, b"x", 0o644, false),
                Err(BeneathError::Link { .. })
            ));
            assert_eq!(std::fs::read_dir(out.join("etc")).unwrap().count(), 0);
        });
    }

    #[test]
    fn a_planted_last_component_is_replaced_not_followed() {
        both(|open| {
            let (_d, root, out) = trees();
            let r = root.dir().unwrap().to_path_buf();
            let victim = out.join("etc/passwd");
            std::fs::write(&victim, "root\n").unwrap();
            std::fs::create_dir_all(r.join("etc")).unwrap();
            symlink(&victim, r.join("etc/f")).unwrap();
            symlink(&victim, r.join("etc/.f.drainguard-tmp")).unwrap();
            let b = open(&root);
            let host = Path::new("/etc/f");
            assert!(matches!(
                b.read(host, 100),
                Err(BeneathError::NotRegular { .. })
            ));
            assert_eq!(b.read_link(host).unwrap(), Some(victim.clone()));
            b.keep_copy(host, Path::new("/etc/saved")).unwrap();
            assert_eq!(
                b.read_link(Path::new("/etc/saved")).unwrap(),
                Some(victim.clone())
            );
            b.write_atomic(host, b"ours", 0o644, false).unwrap();
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root\n");
            assert_eq!(std::fs::read(r.join("etc/f")).unwrap(), b"ours");
            b.remove_file(Path::new("/etc/saved")).unwrap();
            assert!(victim.exists());
        });
    }

    #[test]
    fn lexical_paths_stay_below_the_root() {
        for (p, want) in [
            ("/var/log/../x.log", "/var/x.log"),
            ("/../../etc/./x", "/etc/x"),
            ("/a//b/", "/a/b"),
        ] {
            assert_eq!(lexical(Path::new(p)), PathBuf::from(want), "{p}");
            assert!(plain(&lexical(Path::new(p))));
        }
    }

    #[test]
    fn paths_that_are_not_plain_are_refused() {
        let (_d, root, _) = trees();
        let b = Beneath::open(&root).unwrap();
        for p in [
            "etc/x",
            "/etc/../x",
            "/etc/./x",
            "/../x",
            "/etc//x",
            "/etc/x/",
        ] {
            assert!(
                matches!(b.meta(Path::new(p)), Err(BeneathError::NotNormal { .. })),
                "{p}"
            );
        }
    }

    #[test]
    fn fifos_and_directories_are_not_read() {
        let (_d, root, _) = trees();
        let r = root.dir().unwrap().to_path_buf();
        std::fs::create_dir_all(r.join("etc/d")).unwrap();
        let fifo = std::ffi::CString::new(r.join("etc/p").as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let b = Beneath::open(&root).unwrap();
        let e = b.read(Path::new("/etc/p"), 10).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let e = b.read(Path::new("/etc/d"), 10).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        for p in ["/etc/p", "/etc/d"] {
            assert!(b.append(Path::new(p), b"x", 0o644).is_err(), "{p}");
        }
        b.append(Path::new("/var/log/x/r.log"), b"1\n", 0o640)
            .unwrap();
        b.append(Path::new("/var/log/x/r.log"), b"2\n", 0o640)
            .unwrap();
        assert_eq!(std::fs::read(r.join("var/log/x/r.log")).unwrap(), b"1\n2\n");
        std::fs::write(r.join("etc/big"), vec![b'x'; 11]).unwrap();
        assert!(matches!(
            b.read(Path::new("/etc/big"), 10),
            Err(BeneathError::TooLarge { .. })
        ));
    }
}
