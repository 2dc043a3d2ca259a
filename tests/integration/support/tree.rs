//! A host image in a directory, for `--root` tests: write files, links and directories at the
//! paths the host would have, run drainguard on it, and snapshot it byte for byte.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An image rooted at `root` (a fresh temp dir unless made with [`Tree::at`]).
pub struct Tree {
    _tmp: Option<tempfile::TempDir>,
    root: PathBuf,
}

impl Tree {
    /// An empty image in a fresh temp dir.
    pub fn new() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        Tree {
            _tmp: Some(tmp),
            root,
        }
    }

    /// An image at `root` (which the caller keeps alive).
    pub fn at(root: PathBuf) -> Tree {
        fs::create_dir_all(&root).unwrap();
        Tree { _tmp: None, root }
    }

    /// The image's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where host path `host` is in the image.
    pub fn p(&self, host: &str) -> PathBuf {
        self.root.join(host.trim_start_matches('/'))
    }

    /// Writes `text` at `host` with `mode`, making its parents.
    pub fn write(&self, host: &str, text: &str, mode: u32) {
        let p = self.p(host);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Makes `host` a symlink to `target`, making its parents.
    pub fn link(&self, host: &str, target: impl AsRef<Path>) {
        let p = self.p(host);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
    }

    /// Makes the directory `host` and its parents.
    pub fn dir(&self, host: &str) {
        fs::create_dir_all(self.p(host)).unwrap();
    }

    /// Runs drainguard with `--root` at the image (so the image's own settings file is read).
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_drainguard"))
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .output()
            .unwrap()
    }

    /// Every path with its owner, type, mode and content or link target: two snapshots are
    /// equal exactly when the trees are byte-identical.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        snapshot(&self.root)
    }
}

/// [`Tree::snapshot`] of any directory.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let rel = p.strip_prefix(base).unwrap().to_path_buf();
        let m = fs::symlink_metadata(&p).unwrap();
        let desc = if m.file_type().is_symlink() {
            format!("link -> {}", fs::read_link(&p).unwrap().display())
        } else if m.is_dir() {
            walk(base, &p, out);
            format!("dir {:o}", m.permissions().mode())
        } else if m.is_file() {
            format!(
                "file {:o} {:?}",
                m.permissions().mode(),
                fs::read(&p).unwrap()
            )
        } else {
            // A FIFO or a device: never opened (a FIFO's open blocks).
            format!("{:?} {:o}", m.file_type(), m.permissions().mode())
        };
        out.insert(rel, format!("{}:{} {desc}", m.uid(), m.gid()));
    }
}
