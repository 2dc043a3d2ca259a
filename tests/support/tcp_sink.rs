//! A TCP sink the test controls: keeps each connection's bytes apart (a shipper may
//! reconnect when a paused peer stalls it; the old connection's buffered bytes arrive later),
//! stops reading while paused and, when slow, reads like a receiver that cannot keep up
//! (64 KiB per 20 ms).

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Each accepted connection's bytes.
type Conns = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// A TCP sink that keeps each connection's bytes apart (rsyslog's omfwd reconnects when a
/// paused peer stalls it; the old connection's buffered bytes arrive later), stops reading
/// while paused and, when slow, reads like a receiver that cannot keep up (64 KiB per 20 ms).
pub struct TcpSink {
    pub addr: String,
    conns: Conns,
    paused: Arc<AtomicBool>,
    slow: Arc<AtomicBool>,
}

impl TcpSink {
    pub fn start() -> TcpSink {
        Self::start_at("127.0.0.1:0")
    }

    /// A sink listening on `addr` (`host:port`).
    pub fn start_at(addr: &str) -> TcpSink {
        let l = TcpListener::bind(addr).unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let conns: Conns = Default::default();
        let paused = Arc::new(AtomicBool::new(false));
        let slow = Arc::new(AtomicBool::new(false));
        let (c2, p2, s2) = (conns.clone(), paused.clone(), slow.clone());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let buf: Arc<Mutex<Vec<u8>>> = Default::default();
                c2.lock().unwrap().push(buf.clone());
                let (p, slow) = (p2.clone(), s2.clone());
                std::thread::spawn(move || {
                    let mut b = vec![0u8; 65536];
                    loop {
                        while p.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        match s.read(&mut b) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.lock().unwrap().extend_from_slice(&b[..n]),
                        }
                        if slow.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                });
            }
        });
        TcpSink {
            addr,
            conns,
            paused,
            slow,
        }
    }
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
    pub fn resume_slowly(&self) {
        self.slow.store(true, Ordering::SeqCst);
        self.resume();
    }
    /// Every complete line received, over all connections, sorted.
    pub fn lines(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = Vec::new();
        for c in self.conns.lock().unwrap().iter() {
            let c = c.lock().unwrap();
            v.extend(
                c.split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec),
            );
        }
        v.sort();
        v
    }
    /// Bytes the sink's kernel has received (and acknowledged) that the sink has not read
    /// yet: the receive queues of its connections, from `/proc/self/net/tcp`.
    pub fn kernel_unread(&self) -> u64 {
        let port = self
            .addr
            .rsplit_once(':')
            .unwrap()
            .1
            .parse::<u16>()
            .unwrap();
        let local = format!(":{port:04X}");
        std::fs::read_to_string("/proc/self/net/tcp")
            .unwrap()
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let established = f[3] == "01";
                (established && f[1].ends_with(&local))
                    .then(|| u64::from_str_radix(f[4].split_once(':').unwrap().1, 16).unwrap())
            })
            .sum()
    }
    pub fn bytes(&self) -> usize {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.lock().unwrap().len())
            .sum()
    }
}

pub fn sorted_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    v.sort();
    v
}
