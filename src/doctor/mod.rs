//! `doctor`: checks the shutdown integration of a host (installed by drainguard or by hand)
//! and explains every problem with a fix. Each finding has a stable id.

pub mod findings;
mod systemd;
mod sysv;
pub mod unitfile;

pub use findings::{Finding, Severity};

use std::time::Duration;

use crate::install::probe::{Host, Init};

/// What to check against.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The unit (systemd) or init script (SysV) that runs the drain.
    pub unit: String,
    pub apps: Vec<String>,
    pub deadline: Duration,
}

/// Checks `host`.
pub fn check(host: &Host, expect: &Expect) -> Vec<Finding> {
    match host.init {
        Init::Systemd => systemd::check(host, expect),
        Init::SysvChkconfig | Init::SysvDebian => sysv::check(host, expect),
    }
}
