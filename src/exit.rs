//! Process exit codes, shared by every command (documented in `--help` and the README).

use std::process::ExitCode;

/// What a command ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Drained (status, wait) or healthy (doctor), or the command succeeded.
    Ok = 0,
    /// status: something is behind; doctor: problems found; wait: internal error.
    Behind = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// wait: the deadline passed with bytes still unshipped.
    Deadline = 3,
    /// wait: the shipper is dead while bytes are behind.
    ShipperDead = 4,
    /// wait: interrupted by SIGTERM/SIGINT.
    Interrupted = 5,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
