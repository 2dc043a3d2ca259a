//! Shutdown integration: probe the host, plan the unit or init script and its ordering,
//! apply it atomically with a manifest, undo it exactly.

pub mod apply;
pub mod beneath;
pub mod diff;
pub mod exporter;
pub mod manifest;
pub mod names;
pub mod plan;
pub mod probe;
pub mod systemd;
pub mod sysv;

pub use apply::{apply, undo, Action, Plan};
pub use diff::preview;
pub use manifest::Manifest;
pub use plan::{plan, InstallOptions};
pub use probe::{probe, probe_for, Host, Init};

/// A temporary `--root` tree for tests.
#[cfg(test)]
pub(crate) fn temp_root() -> (tempfile::TempDir, crate::root::Root) {
    let d = tempfile::tempdir().unwrap();
    let root = crate::root::Root::new(Some(d.path().to_path_buf()));
    (d, root)
}
