//! `doctor`: checks the shutdown integration of a host (installed by drainguard or by hand)
//! and explains every problem with a fix. Each finding has a stable id.

pub mod findings;
pub mod stores;
mod systemd;
mod sysv;
pub mod unitfile;

pub use findings::{Finding, Report, Severity, Skipped};

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
pub fn check(host: &Host, expect: &Expect) -> Report {
    let mut report = Report {
        hooks: vec![expect.unit.clone()],
        ..Report::default()
    };
    let found = match host.init {
        Init::Systemd => systemd::check(host, expect, &mut report),
        Init::SysvChkconfig | Init::SysvDebian => sysv::check(host, expect, &mut report),
    };
    report.findings.extend(found);
    report
}
