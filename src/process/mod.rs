//! Finding a shipper's processes, the deleted files they still hold open, and the bytes
//! still unacknowledged in their TCP send queues ([`sockets`]).
//!
//! Processes are always looked up in the real `/proc` (the process namespace is the host's
//! even when files are read below `--root`); a pidfile is a host path and is mapped.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub mod sockets;

use crate::cursor::ShipperKind;
use crate::root::Root;
use crate::safe_read::{self, Limit};

/// Where processes are found: the `/proc` directory (overridable for tests).
#[derive(Debug, Clone)]
pub struct ProcFs {
    dir: PathBuf,
}

impl Default for ProcFs {
    fn default() -> Self {
        ProcFs {
            dir: PathBuf::from("/proc"),
        }
    }
}

impl ProcFs {
    /// The `/proc` at `dir` (a fake process table in tests).
    pub fn at(dir: impl Into<PathBuf>) -> ProcFs {
        ProcFs { dir: dir.into() }
    }

    /// The environment `pid` was started with (`/proc/<pid>/environ`, bounded, read-only):
    /// its `NAME=value` pairs in order (not valid UTF-8: lossily). Another user's process
    /// cannot be read without root.
    pub fn environ(&self, pid: u32) -> Result<Vec<(String, String)>, crate::error::StoreError> {
        let path = self.dir.join(pid.to_string()).join("environ");
        let bytes = safe_read::read(&path, Limit::SMALL)?;
        Ok(bytes
            .split(|b| *b == 0)
            .filter_map(|e| {
                let e = String::from_utf8_lossy(e);
                let (k, v) = e.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect())
    }

    /// True when `pid` exists and is not a zombie.
    pub fn is_alive(&self, pid: u32) -> bool {
        match safe_read::read_text(&self.dir.join(pid.to_string()).join("stat"), Limit::SMALL) {
            // The state is the first field after the parenthesised command name.
            Ok(stat) => match stat.rfind(')') {
                Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
                None => true,
            },
            Err(_) => false,
        }
    }

    /// Reads a pidfile (host path under `root`): the first whitespace-separated number.
    pub fn read_pidfile(&self, root: &Root, pidfile: &Path) -> Option<u32> {
        let local = root.host_to_local(pidfile);
        let text = match safe_read::read_text(&local, Limit::SMALL) {
            Ok(t) => t,
            Err(e) => {
                if !e.is_not_found() {
                    tracing::warn!(error = %e, "pidfile ignored");
                }
                return None;
            }
        };
        text.split_whitespace().next()?.parse().ok()
    }

    /// The live processes of `kind`: the pidfile's pid when given and alive, else every process
    /// recognised as that shipper ([`ShipperInfo::processes`](crate::adapters::ShipperInfo::processes)).
    pub fn find(&self, root: &Root, kind: ShipperKind, pidfile: Option<&Path>) -> Vec<u32> {
        if let Some(pf) = pidfile {
            if let Some(pid) = self.read_pidfile(root, pf) {
                if self.is_alive(pid) {
                    return vec![pid];
                }
            }
        }
        self.pids()
            .filter(|pid| {
                self.identify(*pid).is_some_and(|r| r.kind == kind) && self.is_alive(*pid)
            })
            .collect()
    }

    /// Every process of this host that runs a known log shipper, supported or not. Under
    /// `--root` only the processes whose root directory is that tree count (a host whose
    /// root is mounted there, or processes chrooted into it), not the machine's others.
    pub fn running(&self, root: &Root) -> Vec<Running> {
        let ours = root
            .dir()
            .map(|d| fs::metadata(d).map(|m| (m.dev(), m.ino())));
        self.pids()
            .filter_map(|pid| self.identify(pid))
            .filter(|r| match &ours {
                None => true,
                Some(Ok(want)) => fs::metadata(self.dir.join(r.pid.to_string()).join("root"))
                    .is_ok_and(|m| (m.dev(), m.ino()) == *want),
                Some(Err(_)) => false,
            })
            .filter(|r| self.is_alive(r.pid))
            .collect()
    }

    /// `/proc/<pid>/root` when `pid`'s root directory is not `root`'s (a container's
    /// process seen from the host): its own paths are read through it. `None` when it shares
    /// `root` (or its root cannot be looked at: another user's process without root).
    pub fn foreign_root(&self, pid: u32, root: &Root) -> Option<PathBuf> {
        let ours = fs::metadata(root.dir().unwrap_or(Path::new("/"))).ok()?;
        let link = self.dir.join(pid.to_string()).join("root");
        let theirs = fs::metadata(&link).ok()?;
        ((theirs.dev(), theirs.ino()) != (ours.dev(), ours.ino())).then_some(link)
    }

    /// The known shipper `pid` runs, with its command line; `None` when it runs none (or is
    /// gone).
    pub fn identify(&self, pid: u32) -> Option<Running> {
        if pid == std::process::id() {
            return None;
        }
        let dir = self.dir.join(pid.to_string());
        let exe = fs::read_link(dir.join("exe")).ok();
        let exe_name = exe.as_ref().and_then(|p| {
            let n = p.file_name()?.to_string_lossy().into_owned();
            Some(
                n.strip_suffix(" (deleted)")
                    .map(str::to_string)
                    .unwrap_or(n),
            )
        });
        let comm = read_small(&dir.join("comm"))
            .map(|c| String::from_utf8_lossy(&c).trim_end().to_string())
            .unwrap_or_default();
        let raw = read_small(&dir.join("cmdline")).unwrap_or_default();
        let argv: Vec<std::ffi::OsString> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| {
                use std::os::unix::ffi::OsStrExt;
                std::ffi::OsStr::from_bytes(a).to_os_string()
            })
            .collect();
        let joined = argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let known = crate::adapters::ALL.iter().find(|k| {
            k.processes
                .iter()
                .any(|m| m.matches(exe_name.as_deref(), &comm, &joined))
        })?;
        Some(Running {
            pid,
            kind: known.kind,
            argv,
            cwd: fs::read_link(dir.join("cwd")).ok(),
        })
    }

    /// Every pid in `/proc`, ascending.
    fn pids(&self) -> impl Iterator<Item = u32> {
        let mut pids: Vec<u32> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .collect();
        pids.sort_unstable();
        pids.into_iter()
    }

    /// Deleted files still held open by `pids`: (device, inode) -> the holder and its size.
    /// Unreadable fd directories (another user's process without root) are skipped.
    pub fn deleted_open_files(&self, pids: &[u32]) -> HashMap<(u64, u64), OpenDeleted> {
        let mut out = HashMap::new();
        for &pid in pids {
            let fd_dir = self.dir.join(pid.to_string()).join("fd");
            let Ok(entries) = fs::read_dir(&fd_dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let link = entry.path();
                let Ok(target) = fs::read_link(&link) else {
                    continue;
                };
                if !target
                    .as_os_str()
                    .as_encoded_bytes()
                    .ends_with(b" (deleted)")
                {
                    continue;
                }
                // Following the fd link reaches the deleted inode itself.
                let Ok(meta) = fs::metadata(&link) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                out.insert(
                    (meta.dev(), meta.ino()),
                    OpenDeleted {
                        pid,
                        fd_path: link,
                        size: meta.len(),
                    },
                );
            }
        }
        out
    }
}

/// A small `/proc/<pid>` file (comm, cmdline) through the bounded reader; `None` when it
/// cannot be read (the process is gone, or is another user's).
fn read_small(path: &Path) -> Option<Vec<u8>> {
    safe_read::read(path, Limit::SMALL).ok()
}

/// A process running a known log shipper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub pid: u32,
    pub kind: ShipperKind,
    /// Its command line, `argv[0]` first.
    pub argv: Vec<std::ffi::OsString>,
    /// Its working directory (relative paths on its command line are taken there).
    pub cwd: Option<PathBuf>,
}

impl Running {
    /// The command line as one line (escaped like a path), for messages.
    pub fn command_line(&self) -> String {
        let joined = self
            .argv
            .iter()
            .map(|a| crate::display::path(Path::new(a)))
            .collect::<Vec<_>>()
            .join(" ");
        match joined.char_indices().nth(200) {
            Some((i, _)) => format!("{} ...", &joined[..i]),
            None => joined,
        }
    }
}

/// A deleted file still held open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDeleted {
    pub pid: u32,
    /// `/proc/<pid>/fd/<n>`: reading it reads the deleted file.
    pub fd_path: PathBuf,
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn own_process_is_alive_and_bogus_is_not() {
        let p = ProcFs::default();
        assert!(p.is_alive(std::process::id()));
        assert!(!p.is_alive(u32::MAX - 1));
    }

    #[test]
    fn pidfile_is_read_under_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("run")).unwrap();
        fs::write(
            dir.path().join("run/x.pid"),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        let root = Root::new(Some(dir.path().to_path_buf()));
        let p = ProcFs::default();
        let found = p.find(&root, ShipperKind::Filebeat, Some(Path::new("/run/x.pid")));
        assert_eq!(found, vec![std::process::id()]);
    }

    #[test]
    fn finds_deleted_file_held_open_by_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held.log");
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(b"0123456789\n").unwrap();
        let meta = fs::metadata(&path).unwrap();
        fs::remove_file(&path).unwrap();
        let found = ProcFs::default().deleted_open_files(&[std::process::id()]);
        let od = found
            .get(&(meta.dev(), meta.ino()))
            .expect("held file found");
        assert_eq!(od.size, 11);
        assert_eq!(od.pid, std::process::id());
        drop(f);
    }
}
