//! The inotify watches on the tracked files' directories ([`DirWatch`] for the incremental
//! assessment, [`crate::backlog::incremental`]). Read without blocking at each round; a queue
//! overflow, a watch the kernel removed (its directory deleted, moved or unmounted) or an
//! event that names no child makes the round [`Round::lost`].

use std::path::Path;

use inotify::{EventMask, Inotify, WatchMask};

use crate::backlog::incremental::{name_key, DirWatch, Event, Round};

/// Local file systems whose changes all come through inotify (a network or FUSE file system
/// changes under it without events; an overlay's lower layers too).
const LOCAL: &[i64] = &[
    0xEF53,      // ext2/3/4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
    0xF2F5_2010, // f2fs
    0x2FC1_2FC1, // zfs
    0x3153_464A, // jfs
    0x5265_4973, // reiserfs
];

/// Reads of the event queue per round (64 KiB each, 2,000 events or more).
const MAX_READS: usize = 16;

/// Inotify watches on directories, read at each round.
pub struct FileWatch {
    inotify: Inotify,
    buf: Vec<u8>,
}

impl FileWatch {
    /// A new inotify instance; `None` when the kernel gives none (the limit of instances).
    pub fn new() -> Option<FileWatch> {
        match Inotify::init() {
            Ok(inotify) => Some(FileWatch {
                inotify,
                buf: vec![0; 64 * 1024],
            }),
            Err(e) => {
                tracing::debug!(error = %e, "no inotify instance: every round assesses fully");
                None
            }
        }
    }

    /// Every event queued since the last call; at most `MAX_READS` reads of them (a
    /// directory busier than that is [`Round::lost`], as an overflow is).
    pub fn round(&mut self) -> Round {
        let mut round = Round::default();
        for i in 0.. {
            if i == MAX_READS {
                tracing::debug!("more file events than one round reads; assessing fully");
                round.lost = true;
                break;
            }
            let events = match self.inotify.read_events(&mut self.buf) {
                Ok(events) => events,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "reading inotify events failed");
                    round.lost = true;
                    break;
                }
            };
            for ev in events {
                let gone = EventMask::Q_OVERFLOW
                    | EventMask::IGNORED
                    | EventMask::DELETE_SELF
                    | EventMask::MOVE_SELF
                    | EventMask::UNMOUNT;
                match ev.name {
                    _ if ev.mask.intersects(gone) => round.lost = true,
                    Some(name) => {
                        use std::os::unix::ffi::OsStrExt;
                        let wd = ev.wd.get_watch_descriptor_id();
                        let content = !ev.mask.intersects(
                            EventMask::ATTRIB
                                | EventMask::CREATE
                                | EventMask::DELETE
                                | EventMask::MOVED_FROM
                                | EventMask::MOVED_TO,
                        );
                        round.events.push(Event {
                            wd,
                            key: name_key(wd, name.as_bytes()),
                            name: name.to_os_string(),
                            content,
                        });
                    }
                    // The directory itself changed (its mode): it may no longer be searchable.
                    None => round.lost = true,
                }
            }
        }
        round
    }
}

impl DirWatch for FileWatch {
    fn watch(&mut self, dir: &Path) -> Option<i32> {
        if !local_fs(dir) {
            return None;
        }
        // A symlink on the way: a change of its target is no event in the directory watched.
        if std::fs::canonicalize(dir).ok()?.as_path() != dir {
            return None;
        }
        let mask = WatchMask::MODIFY
            | WatchMask::CLOSE_WRITE
            | WatchMask::ATTRIB
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF
            | WatchMask::ONLYDIR
            | WatchMask::DONT_FOLLOW;
        match self.inotify.watches().add(dir, mask) {
            Ok(wd) => Some(wd.get_watch_descriptor_id()),
            Err(e) => {
                tracing::debug!(dir = %crate::display::path(dir), error = %e, "cannot watch; its files are re-checked every round");
                None
            }
        }
    }
}

/// True when `dir` is on a local file system (see [`LOCAL`]).
fn local_fs(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: a NUL-terminated path and a buffer of the right type, filled on success.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: statfs succeeded.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    let t = st.f_type as i64;
    LOCAL.contains(&t)
}
