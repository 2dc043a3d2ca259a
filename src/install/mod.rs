//! Shutdown integration: probe the host, plan the unit or init script and its ordering,
//! apply it atomically with a manifest, undo it exactly.

pub mod apply;
pub mod plan;
pub mod probe;
pub mod systemd;
pub mod sysv;

pub use apply::{apply, preview, undo, Action, Manifest, Plan};
pub use plan::{plan, InstallOptions};
pub use probe::{probe, Host, Init};
