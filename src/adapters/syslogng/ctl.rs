//! syslog-ng's control socket (`-c`, default `/var/lib/syslog-ng/syslog-ng.ctl`): the
//! `STATS` command, as `syslog-ng-ctl stats` sends it, answered with CSV lines
//! `SourceName;SourceId;SourceInstance;State;Type;Number` and a final `.` line.
//!
//! Queried directly over the unix socket, bounded: the connect never blocks (a listener
//! whose backlog is full answers `EAGAIN`), every read and write has a timeout, the whole
//! exchange a deadline, and the reply a size limit.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long one `STATS` exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// The largest reply read (a counter line is ~80 bytes: 10^5 counters).
const MAX_REPLY: usize = 8 << 20;

/// One counter of the `STATS` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// `dst.network`, `src.file`, `destination`, `global` ...
    pub source_name: String,
    /// `d_net#0`: the statement's name, `#`, the driver's index.
    pub source_id: String,
    pub instance: String,
    pub kind: String,
    pub value: u64,
}

impl Counter {
    /// The `destination` statement a `dst.*` counter belongs to (`d_net#0` -> `d_net`).
    pub fn destination(&self) -> Option<&str> {
        self.source_name.starts_with("dst.").then(|| {
            self.source_id
                .rsplit_once('#')
                .map_or(self.source_id.as_str(), |(n, _)| n)
        })
    }
}

/// Why the control socket gave no counters.
#[derive(Debug)]
pub enum CtlError {
    /// No socket there (syslog-ng not running, or another `-c`).
    Absent(std::io::Error),
    /// The socket exists but refused us (not root?) or did not answer in time.
    Failed(String),
}

impl std::fmt::Display for CtlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CtlError::Absent(e) => write!(f, "{e}"),
            CtlError::Failed(e) => f.write_str(e),
        }
    }
}

/// Asks the control socket at `path` for its counters.
pub fn stats(path: &Path) -> Result<Vec<Counter>, CtlError> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let fail = |what: &str, e: std::io::Error| CtlError::Failed(format!("{what}: {e}"));
    let addr = SocketAddrUnix::new(path)
        .map_err(|e| CtlError::Failed(format!("not a socket path: {e}")))?;
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| fail("socket", e.into()))?;
    match rustix::net::connect(&fd, &addr) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::NOENT || e == rustix::io::Errno::CONNREFUSED => {
            return Err(CtlError::Absent(e.into()))
        }
        Err(e) if e == rustix::io::Errno::AGAIN => {
            return Err(CtlError::Failed(
                "the control socket's backlog is full (syslog-ng busy or hung)".into(),
            ))
        }
        Err(e) => return Err(fail("connect", e.into())),
    }
    let mut s = UnixStream::from(fd);
    let deadline = Instant::now() + TIMEOUT;
    s.set_nonblocking(false).map_err(|e| fail("socket", e))?;
    s.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| fail("socket", e))?;
    s.write_all(b"STATS\n")
        .map_err(|e| fail("sending STATS", e))?;
    let mut reply = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CtlError::Failed(format!(
                "no complete STATS reply within {}",
                humantime::format_duration(TIMEOUT)
            )));
        }
        s.set_read_timeout(Some(left))
            .map_err(|e| fail("socket", e))?;
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // The read timeout: the loop's deadline check says so.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(fail("reading the STATS reply", e)),
        };
        reply.extend_from_slice(&buf[..n]);
        if n == 0 || reply.ends_with(b"\n.\n") || reply == b".\n" {
            break;
        }
        if reply.len() > MAX_REPLY {
            return Err(CtlError::Failed(format!(
                "STATS reply larger than {}",
                crate::display::bytes(MAX_REPLY as u64)
            )));
        }
    }
    whole(&reply)?;
    Ok(parse(&reply))
}

/// The header line syslog-ng's `STATS` reply starts with.
const HEADER: &[u8] = b"SourceName;SourceId;SourceInstance;State;Type;Number\n";

/// Checks that `reply` is a whole `STATS` reply: syslog-ng's header first and the final `.`
/// line last. A reply cut short (syslog-ng stopping or reloading mid-reply, the peer closing)
/// lacks some destinations' `queued` counters, and a destination without one can read as
/// nothing queued: only a whole reply is used.
fn whole(reply: &[u8]) -> Result<(), CtlError> {
    if !reply.starts_with(HEADER) {
        return Err(CtlError::Failed(format!(
            "not a syslog-ng STATS reply (it does not start with its header line; got {:?}): \
             point drainguard at syslog-ng's own -c socket",
            crate::error::clip(&String::from_utf8_lossy(&reply[..reply.len().min(80)]))
        )));
    }
    if !reply.ends_with(b"\n.\n") {
        return Err(CtlError::Failed(format!(
            "the STATS reply was cut short after {} (no final `.` line): syslog-ng closed \
             the connection mid-reply (stopping or reloading?); run again",
            crate::display::bytes(reply.len() as u64)
        )));
    }
    Ok(())
}

/// The counters of a `STATS` reply (the header, the final `.` and malformed lines skipped).
pub fn parse(reply: &[u8]) -> Vec<Counter> {
    String::from_utf8_lossy(reply)
        .lines()
        .filter_map(|l| {
            // The instance may itself hold `;` (a file name): the first three and the last
            // two fields are fixed.
            let (head, value) = l.rsplit_once(';')?;
            let (head, kind) = head.rsplit_once(';')?;
            let (head, _state) = head.rsplit_once(';')?;
            let mut it = head.splitn(3, ';');
            let (name, id, instance) = (it.next()?, it.next()?, it.next()?);
            Some(Counter {
                source_name: name.to_string(),
                source_id: id.to_string(),
                instance: instance.to_string(),
                kind: kind.to_string(),
                value: value.trim().parse().ok()?,
            })
        })
        .collect()
}
