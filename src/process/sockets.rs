//! Bytes a shipper wrote to its TCP connections that the receiving host has not acknowledged.
//!
//! A shipper whose output queue is empty has handed its data to the kernel, not to the
//! receiver: `write(2)` returns once the bytes are in the socket's send buffer. Until the peer
//! acknowledges them, a power-off loses them. `/proc/<pid>/net/tcp` and `tcp6` (the
//! process's own network namespace) show each socket's `tx_queue`, which for a connected
//! socket is `write_seq - snd_una`: exactly those bytes. Sockets belong to the process through
//! `/proc/<pid>/fd/* -> socket:[<inode>]`. A socket the shipper already closed while the
//! kernel still sends (an orphan, inode 0; rsyslog reconnects a stalled connection this way)
//! counts when it goes to a peer the shipper is connected to.
//!
//! Connections the shipper accepted (their local port is one it listens on: a Beats or
//! forward input, its own monitoring API) carry what it sends back to its clients (acks,
//! HTTP responses), never log data on its way out, and are not counted: a client that stops
//! reading must not hold the shutdown.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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

/// One row of `/proc/net/tcp{,6}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    local: SocketAddr,
    remote: SocketAddr,
    state: u8,
    tx_queue: u64,
    inode: u64,
}

const TCP_LISTEN: u8 = 0x0A;

impl ProcFs {
    /// Every outgoing socket of `pids` (and every orphan to the same peers) whose send queue
    /// is not empty; connections accepted on a port the process listens on are left out. A process that vanished is skipped; a `/proc/<pid>/fd` that cannot be read
    /// (another user's process, not root) is an error: nothing may be assumed about it.
    pub fn unacked_tcp(&self, pids: &[u32]) -> io::Result<Vec<Unacked>> {
        let mut out = Vec::new();
        for &pid in pids {
            let base = self.dir.join(pid.to_string());
            let inodes = match socket_inodes(&base.join("fd")) {
                Ok(i) => i,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut rows = Vec::new();
            for table in ["net/tcp", "net/tcp6"] {
                match fs::read_to_string(base.join(table)) {
                    Ok(text) => rows.extend(text.lines().skip(1).filter_map(parse_row)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {} // no IPv6
                    Err(e) => return Err(e),
                }
            }
            let listening: HashSet<u16> = rows
                .iter()
                .filter(|r| r.state == TCP_LISTEN && inodes.contains(&r.inode))
                .map(|r| r.local.port())
                .collect();
            let accepted = |r: &Row| listening.contains(&r.local.port());
            let peers: HashSet<SocketAddr> = rows
                .iter()
                .filter(|r| inodes.contains(&r.inode) && !accepted(r))
                .map(|r| r.remote)
                .collect();
            out.extend(
                rows.iter()
                    .filter(|r| r.state != TCP_LISTEN && r.tx_queue > 0 && !accepted(r))
                    .filter_map(|r| {
                        let owned = inodes.contains(&r.inode);
                        let orphan = r.inode == 0 && peers.contains(&r.remote);
                        (owned || orphan).then_some(Unacked {
                            pid,
                            remote: r.remote,
                            bytes: r.tx_queue,
                            orphan,
                        })
                    }),
            );
        }
        Ok(out)
    }
}

/// The delivery signal for a shipper whose offsets prove only "read" or "queued": its
/// processes' TCP send queues must be empty too (the receiving host has acknowledged every
/// byte the shipper wrote).
pub fn send_queue_signal(procfs: &ProcFs, pids: &[u32]) -> QueueSignal {
    let list = pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let source = format!("TCP send queues of pid {list}");
    let state = match procfs.unacked_tcp(pids) {
        Ok(u) if u.is_empty() => QueueState::Empty,
        Ok(u) => {
            let total: u64 = u.iter().map(|u| u.bytes).sum();
            let mut peers: Vec<String> = u
                .iter()
                .map(|u| {
                    let orphan = if u.orphan { " (closed socket)" } else { "" };
                    format!("{} B to {}{orphan}", u.bytes, u.remote)
                })
                .collect();
            peers.sort();
            peers.dedup();
            QueueState::Pending {
                detail: format!(
                    "{total} byte(s) written but not yet acknowledged by the receiver: {}",
                    peers.join(", ")
                ),
            }
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
    Some(SocketAddr::new(addr, port))
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
        let held = to_peer(&procfs.unacked_tcp(&[me]).unwrap());
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
        while to_peer(&procfs.unacked_tcp(&[me]).unwrap()) > 0 {
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
            .unacked_tcp(&[std::process::id()])
            .unwrap();
        assert!(got.iter().all(|u| u.remote != peer), "{got:?}");
        drop(client);
    }

    /// A fake /proc: pid 42 holds socket 1000 (to 10.0.0.9:514, 7 bytes unacked) and 1001
    /// (idle); an orphan (inode 0) to the same peer still sends 5 bytes; another process's
    /// socket (inode 2000) and an orphan to an unrelated peer are not 42's. 42 also listens
    /// on :5044 (inode 1002) and owes 11 bytes on a connection it accepted there (inode
    /// 1003) and 13 on an orphan of another: replies to its clients, not log data.
    #[test]
    fn counts_owned_sockets_and_orphans_to_the_same_peer() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("42");
        fs::create_dir_all(base.join("fd")).unwrap();
        fs::create_dir_all(base.join("net")).unwrap();
        std::os::unix::fs::symlink("socket:[1000]", base.join("fd/3")).unwrap();
        std::os::unix::fs::symlink("socket:[1001]", base.join("fd/4")).unwrap();
        std::os::unix::fs::symlink("/var/log/app.log", base.join("fd/5")).unwrap();
        std::os::unix::fs::symlink("socket:[1002]", base.join("fd/6")).unwrap();
        std::os::unix::fs::symlink("socket:[1003]", base.join("fd/7")).unwrap();
        let at = |sl: u32, local: &str, rem: &str, st: &str, tx: u32, inode: u32| {
            format!("   {sl}: {local} {rem} {st} {tx:08X}:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n")
        };
        let row = |sl, rem, st, tx, inode| at(sl, "0100007F:D958", rem, st, tx, inode);
        let beats = "0500000A:13B4"; // 10.0.0.5:5044
        let client = "0700000A:C350"; // 10.0.0.7:50000
        let peer = "0900000A:0202"; // 10.0.0.9:514
        let other = "0800000A:0202"; // 10.0.0.8:514
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n{}{}{}{}{}{}{}{}{}",
            row(0, "00000000:0000", "0A", 0, 999),
            row(1, peer, "01", 7, 1000),
            row(2, peer, "01", 0, 1001),
            row(3, peer, "04", 5, 0),
            row(4, peer, "01", 9, 2000),
            row(5, other, "04", 3, 0),
            at(6, "00000000:13B4", "00000000:0000", "0A", 0, 1002),
            at(7, beats, client, "01", 11, 1003),
            at(8, beats, client, "04", 13, 0),
        );
        fs::write(base.join("net/tcp"), table).unwrap();
        let procfs = ProcFs {
            dir: d.path().to_path_buf(),
        };
        let mut got = procfs.unacked_tcp(&[42]).unwrap();
        got.sort_by_key(|u| u.bytes);
        let peer: SocketAddr = "10.0.0.9:514".parse().unwrap();
        assert_eq!(
            got,
            vec![
                Unacked {
                    pid: 42,
                    remote: peer,
                    bytes: 5,
                    orphan: true
                },
                Unacked {
                    pid: 42,
                    remote: peer,
                    bytes: 7,
                    orphan: false
                },
            ]
        );
        let signal = send_queue_signal(&procfs, &[42]);
        assert_eq!(signal.source, "TCP send queues of pid 42");
        let QueueState::Pending { detail } = signal.state else {
            panic!("{signal:?}")
        };
        assert!(detail.starts_with("12 byte(s)"), "{detail}");
        assert!(
            detail.contains("5 B to 10.0.0.9:514 (closed socket)"),
            "{detail}"
        );
    }

    #[test]
    fn a_vanished_process_has_no_sockets() {
        assert!(ProcFs::default()
            .unacked_tcp(&[u32::MAX - 1])
            .unwrap()
            .is_empty());
    }
}
