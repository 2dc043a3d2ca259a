//! Rotated-away files whose rest no store records, for shippers whose store keys entries by
//! path only and drops or reuses the entry when the path names a new file (the CloudWatch
//! agent deletes the state file; the Datadog Agent's old tailer reports under no key).
//!
//! The store cannot show these bytes, so the reader remembers across reads which inode each
//! tracked path named and the offset recorded for it. When the path names another inode (or
//! its entry disappears with the file), the old inode's bytes past its last recorded offset
//! are *abandoned*: nothing will ever record whether they were shipped. Each such file stays
//! reported, as an unknown delivery signal naming it and the bytes, for the reader's life.
//!
//! A rotation that happened before the first read leaves no memory: then the shipper's open
//! files tell ([`Abandoned::scan_open`]): a regular file it holds open in a tracked file's
//! directory that is no file it tracks now (renamed away, or deleted) is being read under no
//! key; all of it counts as abandoned, since nothing says where its last recorded offset was.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::cursor::{QueueSignal, ShipperKind};
use crate::root::Root;

use super::common;

#[derive(Debug, Clone, Copy)]
struct Seen {
    dev: u64,
    ino: u64,
    offset: u64,
    size: u64,
}

#[derive(Debug, Clone)]
struct Lost {
    /// The path it was tracked under (host).
    was: PathBuf,
    /// Where it is now (host path, or a `/proc/<pid>/fd/<n>` link), `None` when not found.
    now_at: Option<PathBuf>,
    offset: u64,
    size: u64,
}

/// The tracker; one per store reader.
#[derive(Debug, Default)]
pub struct Abandoned {
    seen: HashMap<PathBuf, Seen>,
    lost: BTreeMap<(u64, u64), Lost>,
}

impl Abandoned {
    /// Takes this read's entries: (host path, recorded offset) per path-keyed entry. `pids`:
    /// the shipper's processes, whose deleted-but-open files are looked at.
    pub fn update(&mut self, root: &Root, entries: &[(PathBuf, u64)], pids: &[u32]) {
        let now: HashMap<&Path, u64> = entries.iter().map(|(p, o)| (p.as_path(), *o)).collect();
        let mut gone_from_path: Vec<(PathBuf, Seen)> = Vec::new();
        // Paths seen before: the same inode, another one, or none.
        let mut seen = std::mem::take(&mut self.seen);
        for (path, old) in seen.drain() {
            let cur = std::fs::metadata(root.host_to_local(&path)).ok();
            let same = cur
                .as_ref()
                .is_some_and(|m| (m.dev(), m.ino()) == (old.dev, old.ino));
            if !same {
                gone_from_path.push((path, old));
            } else if let Some(m) = cur.filter(|_| now.contains_key(path.as_path())) {
                let offset = now[path.as_path()];
                self.seen.insert(
                    path,
                    Seen {
                        offset,
                        size: m.len(),
                        ..old
                    },
                );
            }
        }
        for (path, offset) in entries {
            if self.seen.contains_key(path) {
                continue;
            }
            if let Ok(m) = std::fs::metadata(root.host_to_local(path)) {
                if m.is_file() {
                    self.seen.insert(
                        path.clone(),
                        Seen {
                            dev: m.dev(),
                            ino: m.ino(),
                            offset: *offset,
                            size: m.len(),
                        },
                    );
                }
            }
        }
        // A path's entry that still grows past the old inode's last offset (and within its
        // size) is the old file's tailer finishing it before the shipper noticed the rotation
        // (a new file is read from 0).
        for lost in self.lost.values_mut() {
            if let Some(&o) = now.get(lost.was.as_path()) {
                if o > lost.offset && o <= lost.size {
                    lost.offset = o;
                }
            }
        }
        for (was, old) in gone_from_path {
            self.lost.entry((old.dev, old.ino)).or_insert(Lost {
                was,
                now_at: None,
                offset: old.offset,
                size: old.size,
            });
        }
        self.refresh(root, pids);
    }

    /// Finds each abandoned inode again (renamed in its directory, or deleted and held open)
    /// and takes its current size.
    fn refresh(&mut self, root: &Root, pids: &[u32]) {
        if self.lost.is_empty() {
            return;
        }
        let open = if pids.is_empty() {
            HashMap::new()
        } else {
            crate::process::ProcFs::default().deleted_open_files(pids)
        };
        let mut listed: HashMap<PathBuf, Vec<(u64, u64, PathBuf, u64)>> = HashMap::new();
        for (&(dev, ino), lost) in self.lost.iter_mut() {
            let Some(dir) = lost.was.parent() else {
                continue;
            };
            let files = listed.entry(dir.to_path_buf()).or_insert_with(|| {
                let local = root.host_to_local(dir);
                std::fs::read_dir(&local)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let m = e.metadata().ok()?;
                        m.is_file()
                            .then(|| (m.dev(), m.ino(), root.local_to_host(&e.path()), m.len()))
                    })
                    .collect()
            });
            if let Some((_, _, p, size)) = files.iter().find(|f| (f.0, f.1) == (dev, ino)) {
                lost.now_at = Some(p.clone());
                lost.size = lost.size.max(*size);
            } else if let Some(od) = open.get(&(dev, ino)) {
                lost.now_at = Some(od.fd_path.clone());
                lost.size = lost.size.max(od.size);
            } else {
                lost.now_at = None;
            }
        }
    }

    /// Looks at the files `pids` hold open (`/proc/<pid>/fd`): a regular file in one of
    /// `dirs` (host paths: the tracked files' directories) whose inode is none of `current`
    /// (the files now at the tracked and configured paths, and the shipper's own log) is an
    /// abandoned file, its whole size untracked.
    pub fn scan_open(
        &mut self,
        root: &Root,
        pids: &[u32],
        dirs: &[PathBuf],
        current: &std::collections::HashSet<(u64, u64)>,
    ) {
        for &pid in pids {
            let fd_dir = PathBuf::from(format!("/proc/{pid}/fd"));
            let Ok(entries) = std::fs::read_dir(&fd_dir) else {
                continue;
            };
            for e in entries.flatten() {
                let link = e.path();
                let Ok(target) = std::fs::read_link(&link) else {
                    continue;
                };
                let Ok(m) = std::fs::metadata(&link) else {
                    continue;
                };
                let id = (m.dev(), m.ino());
                if !m.is_file() || current.contains(&id) || self.lost.contains_key(&id) {
                    continue;
                }
                let bytes = target.as_os_str().as_encoded_bytes();
                let (path, deleted) = match bytes.strip_suffix(b" (deleted)") {
                    Some(p) => (common::path_from_bytes(p), true),
                    None => (target.clone(), false),
                };
                // The link shows the path in the shipper's namespace: the host's, or below --root.
                let host = root.local_to_host(&path);
                if !host.parent().is_some_and(|d| dirs.iter().any(|x| x == d)) {
                    continue;
                }
                self.lost.insert(
                    id,
                    Lost {
                        was: host.clone(),
                        now_at: Some(if deleted { link } else { host }),
                        offset: 0,
                        size: m.len(),
                    },
                );
            }
        }
    }

    /// Bytes abandoned in total.
    pub fn bytes(&self) -> u64 {
        self.lost
            .values()
            .map(|l| l.size.saturating_sub(l.offset))
            .fold(0, u64::saturating_add)
    }

    /// One unknown delivery signal per abandoned file with bytes past its last offset;
    /// `how`: what the shipper does with them, `fix`: how to make sure of them.
    pub fn signals(&self, shipper: ShipperKind, how: &str, fix: &str) -> Vec<QueueSignal> {
        self.lost
            .values()
            .filter(|l| l.size > l.offset)
            .map(|l| {
                let bytes = l.size - l.offset;
                let where_ = match &l.now_at {
                    Some(p) => format!("now {}", crate::display::path(p)),
                    None => "since deleted".to_string(),
                };
                common::unknown_queue(
                    &format!(
                        "{shipper}: rotated-away file {} ({where_})",
                        crate::display::path(&l.was)
                    ),
                    &format!(
                        "{} after its last recorded offset {} are abandoned: {how}; {fix}",
                        crate::display::bytes(bytes),
                        l.offset
                    ),
                )
            })
            .collect()
    }
}

/// What [`Abandoned::scan_open`] looks at: the directories of `paths` (host), and
/// the inodes that are tracked files, not abandoned ones (the files now at `paths`, the
/// shipper's own log).
pub fn scope(
    root: &Root,
    paths: &[PathBuf],
    own_log: &Path,
) -> (Vec<PathBuf>, std::collections::HashSet<(u64, u64)>) {
    let mut dirs: Vec<PathBuf> = paths
        .iter()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    let current = paths
        .iter()
        .map(PathBuf::as_path)
        .chain(std::iter::once(own_log))
        .filter_map(|p| std::fs::metadata(root.host_to_local(p)).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    (dirs, current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_file_s_rest_is_abandoned_and_stays_reported() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("app.log");
        std::fs::write(&log, b"line one\nline two\n").unwrap();
        let root = Root::default();
        let mut a = Abandoned::default();
        a.update(&root, &[(log.clone(), 9)], &[]);
        assert_eq!(a.bytes(), 0, "nothing rotated yet");
        // Rotation: renamed, a new file at the path, the old entry gone.
        std::fs::rename(&log, d.path().join("app.log.1")).unwrap();
        std::fs::write(&log, b"new\n").unwrap();
        a.update(&root, &[], &[]);
        assert_eq!(
            a.bytes(),
            9,
            "bytes 9..18 of the old file are tracked by nothing"
        );
        let s = a.signals(ShipperKind::CloudwatchAgent, "how", "fix");
        assert_eq!(s.len(), 1);
        assert!(s[0].source.contains("app.log.1"), "{}", s[0].source);
        // The new file's entry does not clear it.
        a.update(&root, &[(log.clone(), 4)], &[]);
        assert_eq!(a.bytes(), 9);
        std::fs::remove_file(d.path().join("app.log.1")).unwrap();
        a.update(&root, &[(log, 4)], &[]);
        assert_eq!(a.bytes(), 9, "deleted: still never recorded as shipped");
        assert!(a.signals(ShipperKind::CloudwatchAgent, "h", "f")[0]
            .source
            .contains("since deleted"));
    }

    #[test]
    fn a_renamed_file_the_shipper_holds_open_is_found_on_the_first_read() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("app.log");
        std::fs::write(&log, b"0123456789").unwrap();
        // This process plays the shipper: it holds the old file open across the rename.
        let held = std::fs::File::open(&log).unwrap();
        std::fs::rename(&log, d.path().join("app.log.1")).unwrap();
        std::fs::write(&log, b"new\n").unwrap();
        let new = std::fs::metadata(&log).unwrap();
        let current = [(new.dev(), new.ino())].into_iter().collect();
        let mut a = Abandoned::default();
        let dirs = vec![d.path().to_path_buf()];
        a.scan_open(&Root::default(), &[std::process::id()], &dirs, &current);
        assert_eq!(a.bytes(), 10, "{a:?}");
        let s = a.signals(ShipperKind::CloudwatchAgent, "h", "f");
        assert!(s[0].source.contains("app.log.1"), "{}", s[0].source);
        drop(held);
        // A file in another directory is not this shipper's concern.
        let mut b = Abandoned::default();
        let _held = std::fs::File::open(d.path().join("app.log.1")).unwrap();
        b.scan_open(
            &Root::default(),
            &[std::process::id()],
            &[PathBuf::from("/var/empty")],
            &current,
        );
        assert_eq!(b.bytes(), 0);
    }

    #[test]
    fn a_file_fully_recorded_before_rotation_abandons_nothing() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("app.log");
        std::fs::write(&log, b"0123456789").unwrap();
        let mut a = Abandoned::default();
        a.update(&Root::default(), &[(log.clone(), 10)], &[]);
        std::fs::rename(&log, d.path().join("app.log.1")).unwrap();
        a.update(&Root::default(), &[], &[]);
        assert_eq!(a.bytes(), 0);
        assert!(a.signals(ShipperKind::DatadogAgent, "h", "f").is_empty());
    }
}
