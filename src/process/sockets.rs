//! Bytes a shipper wrote to its TCP connections that the receiving host has not acknowledged.
//!
//! A shipper whose output queue is empty has handed its data to the kernel, not to the
//! receiver: `write(2)` returns once the bytes are in the socket's send buffer. Until the peer
//! acknowledges them, a power-off loses them. `/proc/<pid>/net/tcp` and `tcp6` (the
//! process's own network namespace) show each socket's `tx_queue`, which for a connected
//! socket is `write_seq - snd_una`: exactly those bytes. Sockets belong to the process through
//! `/proc/<pid>/fd/* -> socket:[<inode>]`. A socket already closed while the kernel still
//! sends (an orphan, inode 0; rsyslog reconnects a stalled connection this way, other
//! shippers close after a batch) no longer says whose it was: it counts when it goes to a
//! receiver the shipper has been seen sending to ([`Peers`]: its current connections, and
//! under `wait` every one seen since the wait began). Another program's closed connection to
//! an unrelated peer that stopped reading must not hold the shutdown for ever. The SYN and
//! FIN each take one sequence number and are not data.
//!
//! Connections accepted on a listening port (a Beats or forward input, a monitoring API)
//! carry what is sent back to clients (acks, HTTP responses), never log data on its way out,
//! and are not counted: a client that stops reading must not hold the shutdown.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use super::ProcFs;
use crate::cursor::{QueueSignal, QueueState};

/// Unacknowledged bytes in one TCP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unacked {
    pub pid: u32,
    pub remote: SocketAddr,
    pub bytes: u64,
    /// Closed by the process; the kernel is still sending.
    pub orphan: bool,
}

/// The receivers the shipper has been seen sending to (over outgoing connections), shared
/// by every check of one run so that a connection it closed meanwhile is still recognised.
#[derive(Debug, Default, Clone)]
pub struct Peers(Arc<Mutex<HashSet<SocketAddr>>>);

impl Peers {
    /// Adds `peers`; returns every receiver known so far.
    pub fn remember(&self, peers: impl IntoIterator<Item = SocketAddr>) -> HashSet<SocketAddr> {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        known.extend(peers);
        known.clone()
    }
}

/// One row of `/proc/net/tcp{,6}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    local: SocketAddr,
    remote: SocketAddr,
    state: u8,
    tx_queue: u64,
    inode: u64,
}

const TCP_SYN_SENT: u8 = 0x02;
const TCP_SYN_RECV: u8 = 0x03;
const TCP_FIN_WAIT1: u8 = 0x04;
const TCP_LAST_ACK: u8 = 0x09;
const TCP_LISTEN: u8 = 0x0A;
const TCP_CLOSING: u8 = 0x0B;

impl Row {
    /// Data bytes not yet acknowledged. `tx_queue` is `write_seq - snd_una`, and SYN and
    /// FIN each take one sequence number: a connection still opening (SYN unacknowledged) or
    /// closing (FIN unacknowledged) shows one byte more than it owes.
    fn unacked(&self) -> u64 {
        match self.state {
            TCP_SYN_SENT | TCP_SYN_RECV | TCP_FIN_WAIT1 | TCP_CLOSING | TCP_LAST_ACK => {
                self.tx_queue.saturating_sub(1)
            }
            _ => self.tx_queue,
        }
    }
}

impl ProcFs {
    /// Every outgoing socket of `pids` whose send queue holds data, and every closed socket
    /// (inode 0) of their network namespace still sending to a receiver in `peers` (which
    /// learns the receivers of `pids`' outgoing connections). Connections accepted on a
    /// listening port are left out. A socket seen through several pids counts once. A
    /// process that vanished is skipped; a `/proc/<pid>/fd` that cannot be read (another
    /// user's process, not root) is an error: nothing may be assumed about it.
    pub fn unacked_tcp(&self, pids: &[u32], peers: &Peers) -> io::Result<Vec<Unacked>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for &pid in pids {
            let base = self.dir.join(pid.to_string());
            let inodes = match socket_inodes(&base.join("fd")) {
                Ok(i) => i,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut rows = Vec::new();
            for table in ["net/tcp", "net/tcp6"] {
                // One line per socket of the namespace: a busy host's table is megabytes.
                match crate::safe_read::read_text(&base.join(table), crate::safe_read::Limit::STORE)
                {
                    Ok(text) => rows.extend(text.lines().skip(1).filter_map(parse_row)),
                    Err(e) if e.is_not_found() => {} // no IPv6
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
            let listening: Vec<SocketAddr> = rows
                .iter()
                .filter(|r| r.state == TCP_LISTEN)
                .map(|r| r.local)
                .collect();
            let accepted = |r: &Row| {
                listening.iter().any(|l| {
                    l.port() == r.local.port()
                        && (l.ip().is_unspecified() || l.ip() == r.local.ip())
                })
            };
            let known = peers.remember(
                rows.iter()
                    .filter(|r| r.state != TCP_LISTEN && inodes.contains(&r.inode) && !accepted(r))
                    .map(|r| r.remote),
            );
            for r in &rows {
                let owned = inodes.contains(&r.inode);
                let orphan = r.inode == 0 && known.contains(&r.remote);
                if r.state == TCP_LISTEN || !(owned || orphan) || r.unacked() == 0 || accepted(r) {
                    continue;
                }
                if seen.insert((r.local, r.remote, r.inode)) {
                    out.push(Unacked {
                        pid,
                        remote: r.remote,
                        bytes: r.unacked(),
                        orphan,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The delivery signal for a shipper whose offsets prove only "read" or "queued": its
/// processes' TCP send queues must be empty too (the receiving host has acknowledged every
/// byte the shipper wrote).
pub fn send_queue_signal(procfs: &ProcFs, pids: &[u32], peers: &Peers) -> QueueSignal {
    let list = pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let source = format!("TCP send queues of pid {list}");
    let state = match procfs.unacked_tcp(pids, peers) {
        Ok(u) if u.is_empty() => QueueState::Empty,
        Ok(u) => {
            let total = u.iter().fold(0u64, |a, u| a.saturating_add(u.bytes));
            let mut peers: Vec<String> = u
                .iter()
                .map(|u| {
                    let orphan = if u.orphan { " (closed socket)" } else { "" };
                    format!(
                        "{} to {}{orphan}",
                        crate::display::bytes(u.bytes),
                        u.remote
                    )
                })
                .collect();
            peers.sort();
            peers.dedup();
            let mut receivers: Vec<String> = u.iter().map(|u| u.remote.to_string()).collect();
            receivers.sort();
            receivers.dedup();
            QueueState::owed(
                format!(
                    "{} written but not yet acknowledged by the receiver: {}",
                    crate::display::bytes(total),
                    peers.join(", ")
                ),
                crate::cursor::Owed {
                    unacked_bytes: Some(total),
                    receivers,
                    ..Default::default()
                },
            )
        }
        Err(e) => QueueState::Unknown {
            hint: format!(
                "cannot read the sockets of pid {list} ({e}); run drainguard as root or as the shipper's user"
            ),
        },
    };
    QueueSignal { source, state }
}

/// The inodes of the sockets an fd directory holds.
fn socket_inodes(fd_dir: &std::path::Path) -> io::Result<HashSet<u64>> {
    let mut inodes = HashSet::new();
    for entry in fs::read_dir(fd_dir)? {
        let Ok(target) = fs::read_link(entry?.path()) else {
            continue; // closed meanwhile
        };
        let t = target.as_os_str().as_encoded_bytes();
        if let Some(n) = t
            .strip_prefix(b"socket:[")
            .and_then(|r| r.strip_suffix(b"]"))
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse().ok())
        {
            inodes.insert(n);
        }
    }
    Ok(inodes)
}

/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`
fn parse_row(line: &str) -> Option<Row> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    let (tx, _rx) = f[4].split_once(':')?;
    Some(Row {
        local: parse_addr(f[1])?,
        remote: parse_addr(f[2])?,
        state: u8::from_str_radix(f[3], 16).ok()?,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        inode: f[9].parse().ok()?,
    })
}

/// `0100007F:3C9A` (IPv4) or 32 hex digits `:port` (IPv6). The kernel prints each 32-bit
/// word of the address as a native-endian integer and the port in host order.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let addr = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    // An IPv4 peer of a dual-stack socket is printed as `::ffff:a.b.c.d`.
    Some(SocketAddr::new(addr.to_canonical(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    #[test]
    fn parses_ipv4_and_ipv6_rows_as_the_kernel_prints_them() {
        let v4 = "   3: 0100007F:D958 0100007F:3C9A 01 003B7000:00000000 04:00000116 00000000     0        0 324875 2 0000000000000000 20 0 0 17 -1";
        let r = parse_row(v4).unwrap();
        assert_eq!(r.remote, "127.0.0.1:15514".parse().unwrap());
        assert_eq!((r.state, r.tx_queue, r.inode), (1, 0x3B7000, 324875));
        let v6 = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:A1B2 01 00000010:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 20 4 30 10 -1";
        let r = parse_row(v6).unwrap();
        assert_eq!(r.remote, "[::1]:41394".parse().unwrap());
        assert_eq!(r.tx_queue, 16);
        assert!(parse_row("  sl  local_address rem_address   st tx_queue").is_none());
    }

    /// A real connection whose peer stops reading: the bytes this process wrote stay in its
    /// send queue until the peer reads them, and then the queue empties.
    #[test]
    fn sees_this_process_unacked_bytes_until_the_peer_reads() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.set_nonblocking(true).unwrap();
        let chunk = vec![b'x'; 65536];
        let mut written = 0usize;
        loop {
            match client.write(&chunk) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let me = std::process::id();
        let procfs = ProcFs::default();
        let to_peer =
            |u: &[Unacked]| -> u64 { u.iter().filter(|u| u.remote == addr).map(|u| u.bytes).sum() };
        let held = to_peer(&procfs.unacked_tcp(&[me], &Peers::default()).unwrap());
        assert!(
            held > 0,
            "{written} bytes written to a peer that reads nothing, none unacknowledged"
        );

        let mut buf = vec![0u8; 1 << 20];
        let mut read = 0usize;
        let t0 = Instant::now();
        while read < written && t0.elapsed() < Duration::from_secs(30) {
            read += server.read(&mut buf).unwrap();
        }
        assert_eq!(read, written);
        // The peer's kernel acknowledges what it received (a delayed ACK may take a moment).
        let t0 = Instant::now();
        while to_peer(&procfs.unacked_tcp(&[me], &Peers::default()).unwrap()) > 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "still unacknowledged"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A connection this process accepted, written to by it until the client (which reads
    /// nothing) holds bytes unacknowledged: the kernel shows them, the check leaves them out.
    #[test]
    fn leaves_out_what_it_owes_on_connections_it_accepted() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).unwrap();
        let (mut server, peer) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let chunk = vec![b'x'; 65536];
        loop {
            match server.write(&chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let kernel: u64 = fs::read_to_string("/proc/self/net/tcp")
            .unwrap()
            .lines()
            .filter_map(parse_row)
            .filter(|r| r.local == addr && r.remote == peer)
            .map(|r| r.tx_queue)
            .sum();
        assert!(
            kernel > 0,
            "the kernel shows nothing unacknowledged to {peer}"
        );
        let got = ProcFs::default()
            .unacked_tcp(&[std::process::id()], &Peers::default())
            .unwrap();
        assert!(got.iter().all(|u| u.remote != peer), "{got:?}");
        drop(client);
    }

    /// A fake /proc where pids 42 and 43 share a network namespace and socket 1000.
    #[test]
    fn counts_outgoing_data_once_without_handshake_bytes_or_accepted_connections() {
        let d = tempfile::tempdir().unwrap();
        let at = |sl: u32, local: &str, rem: &str, st: &str, tx: u32, inode: u32| {
            format!("   {sl}: {local} {rem} {st} {tx:08X}:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n")
        };
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        let me = |port: &str| format!("0500000A:{port}"); // 10.0.0.5
        let any = "00000000:0000";
        let peer = "0900000A:0202"; // 10.0.0.9:514
        let other = "0800000A:0202"; // 10.0.0.8:514
        let client = "0700000A:C350"; // 10.0.0.7:50000
        let tcp = [
            // Someone else's sshd, and a reply it still owes on a connection it closed.
            at(0, "00000000:0016", any, "0A", 0, 999),
            at(1, &me("0016"), client, "04", 40, 0),
            // 7 bytes to the receiver; an idle socket to it; a closed one owing 4 + its FIN.
            at(2, &me("9C40"), peer, "01", 7, 1000),
            at(3, &me("9C41"), peer, "01", 0, 1001),
            at(4, &me("9C42"), peer, "04", 5, 0),
            // Another process's socket to the same receiver.
            at(5, &me("9C43"), peer, "01", 9, 2000),
            // A closed socket to a receiver the shipper has no connection to now.
            at(6, &me("9C44"), other, "04", 3, 0),
            // The shipper's Beats input: replies owed to a client, open and closed.
            at(7, "00000000:13B4", any, "0A", 0, 1002),
            at(8, &me("13B4"), client, "01", 11, 1003),
            at(9, &me("13B4"), client, "04", 13, 0),
            // Still connecting to a receiver that is down: only the SYN is unacknowledged.
            at(10, &me("9C45"), "0A00000A:0202", "02", 1, 1004),
        ]
        .concat();
        // Dual stack: an IPv4 receiver over an IPv6 socket.
        let tcp6 = at(
            0,
            "0000000000000000FFFF00000500000A:9C46",
            "0000000000000000FFFF00000B00000A:0202",
            "01",
            4,
            1005,
        );
        for (pid, sockets) in [
            (42, &[1000, 1001, 1002, 1003, 1004, 1005][..]),
            (43, &[1000][..]),
        ] {
            let base = d.path().join(pid.to_string());
            fs::create_dir_all(base.join("fd")).unwrap();
            fs::create_dir_all(base.join("net")).unwrap();
            for (fd, inode) in sockets.iter().enumerate() {
                std::os::unix::fs::symlink(
                    format!("socket:[{inode}]"),
                    base.join(format!("fd/{}", fd + 3)),
                )
                .unwrap();
            }
            std::os::unix::fs::symlink("/var/log/app.log", base.join("fd/99")).unwrap();
            fs::write(base.join("net/tcp"), format!("{header}{tcp}")).unwrap();
            fs::write(base.join("net/tcp6"), format!("{header}{tcp6}")).unwrap();
        }
        let procfs = ProcFs {
            dir: d.path().to_path_buf(),
        };
        let got = |peers: &Peers| {
            let mut got: Vec<(String, u64, bool)> = procfs
                .unacked_tcp(&[42, 43], peers)
                .unwrap()
                .into_iter()
                .map(|u| (u.remote.to_string(), u.bytes, u.orphan))
                .collect();
            got.sort();
            got
        };
        let want = |w: &[(&str, u64, bool)]| -> Vec<(String, u64, bool)> {
            w.iter().map(|(r, b, o)| (r.to_string(), *b, *o)).collect()
        };
        // One look: the closed socket to 10.0.0.8 cannot be told from another program's.
        let peers = Peers::default();
        assert_eq!(
            got(&peers),
            want(&[
                ("10.0.0.11:514", 4, false),
                ("10.0.0.9:514", 4, true),
                ("10.0.0.9:514", 7, false),
            ])
        );
        // The receivers seen are remembered: the connections to 10.0.0.9 and 10.0.0.11
        // (never the Beats client, nor a connection still opening counted as owed).
        let known = peers.remember([]);
        assert!(known.contains(&"10.0.0.9:514".parse().unwrap()));
        assert!(known.contains(&"10.0.0.11:514".parse().unwrap()));
        assert!(!known.contains(&"10.0.0.7:50000".parse().unwrap()));
        // Under wait, an earlier look saw the shipper connected to 10.0.0.8: its closed
        // socket there counts.
        peers.remember(["10.0.0.8:514".parse().unwrap()]);
        assert_eq!(
            got(&peers),
            want(&[
                ("10.0.0.11:514", 4, false),
                ("10.0.0.8:514", 2, true),
                ("10.0.0.9:514", 4, true),
                ("10.0.0.9:514", 7, false),
            ])
        );

        let signal = send_queue_signal(&procfs, &[42, 43], &peers);
        assert_eq!(signal.source, "TCP send queues of pid 42,43");
        let QueueState::Pending { detail, owed } = signal.state else {
            panic!("{signal:?}")
        };
        assert!(detail.starts_with("17 B written"), "{detail}");
        assert!(
            detail.contains("4 B to 10.0.0.9:514 (closed socket)"),
            "{detail}"
        );
        // The same figures as numbers: the total and every receiver, once each.
        assert_eq!(owed.unacked_bytes, Some(17));
        assert_eq!(
            owed.receivers,
            ["10.0.0.11:514", "10.0.0.8:514", "10.0.0.9:514"]
        );
    }

    #[test]
    fn a_vanished_process_has_no_sockets() {
        assert!(ProcFs::default()
            .unacked_tcp(&[u32::MAX - 1], &Peers::default())
            .unwrap()
            .is_empty());
    }
}
