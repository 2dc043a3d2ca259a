//! `doctor`: checks the shutdown integration of a host (installed by drainguard or by hand)
//! and explains every problem with a fix. Each finding has a stable id.

mod exec;
pub mod findings;
pub mod stores;
mod systemd;
mod sysv;
pub mod unitfile;

pub use findings::{Finding, Report, Severity, Skipped};

use std::path::Path;
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

/// The largest unit file, drop-in, system.conf or init script doctor reads.
const MAX_TEXT: u64 = 1 << 20;

/// The text of a unit file, drop-in, system.conf or init script (`local`: the path to open),
/// or `None` when it is missing, not a regular file (a FIFO is never opened for reading
/// without O_NONBLOCK), larger than 1 MiB, or not UTF-8. Every file doctor reads goes through
/// here.
pub(crate) fn read_text(local: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(local)
        .ok()?;
    let m = f.metadata().ok()?;
    if !m.is_file() || m.len() > MAX_TEXT {
        tracing::debug!(path = %crate::display::path(local), "not a regular file of at most 1 MiB: not read");
        return None;
    }
    let mut buf = String::new();
    f.take(MAX_TEXT).read_to_string(&mut buf).ok()?;
    Some(buf)
}
