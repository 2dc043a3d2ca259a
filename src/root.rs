//! `--root DIR`: every absolute path drainguard reads or writes is taken below `DIR`.
//!
//! Used for containers (the host's files mounted elsewhere), image builds and tests. Paths
//! found *inside* stores and configs (a registry's `source`, a glob) are host paths and are
//! mapped with [`Root::host_to_local`] before touching the disk, and shown as host paths.

use std::path::{Component, Path, PathBuf};

/// The prefix applied to every absolute path. `Root::default()` is the real `/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Root {
    dir: Option<PathBuf>,
}

impl Root {
    /// A root at `dir`; `None` or `/` means the real root.
    pub fn new(dir: Option<PathBuf>) -> Self {
        let dir = dir.filter(|d| d != Path::new("/"));
        Root { dir }
    }

    /// The prefix directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Maps a host path (absolute, as the host sees it) to the path to open here.
    /// Relative paths are returned unchanged.
    pub fn host_to_local(&self, host: &Path) -> PathBuf {
        match &self.dir {
            Some(dir) if host.is_absolute() => {
                let mut out = dir.clone();
                out.extend(
                    host.components()
                        .filter(|c| !matches!(c, Component::RootDir)),
                );
                out
            }
            _ => host.to_path_buf(),
        }
    }

    /// Maps a local path below the root back to the host path it stands for.
    pub fn local_to_host(&self, local: &Path) -> PathBuf {
        match &self.dir {
            Some(dir) => match local.strip_prefix(dir) {
                Ok(rest) => Path::new("/").join(rest),
                Err(_) => local.to_path_buf(),
            },
            None => local.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_root_is_identity() {
        let r = Root::new(None);
        assert_eq!(
            r.host_to_local(Path::new("/var/lib/x")),
            PathBuf::from("/var/lib/x")
        );
        assert_eq!(Root::new(Some("/".into())), r);
    }

    #[test]
    fn prefix_maps_both_ways() {
        let r = Root::new(Some("/tmp/fx".into()));
        let local = r.host_to_local(Path::new("/var/lib/filebeat"));
        assert_eq!(local, PathBuf::from("/tmp/fx/var/lib/filebeat"));
        assert_eq!(r.local_to_host(&local), PathBuf::from("/var/lib/filebeat"));
        assert_eq!(r.host_to_local(Path::new("rel/x")), PathBuf::from("rel/x"));
    }
}
