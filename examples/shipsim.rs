//! A shipper simulator for tests and the VM boots: it ships real files and records its
//! progress in a Filebeat registry in the exact on-disk format, like Filebeat's log input.
//!
//!     shipsim --data DIR --format memlog|legacy --file PATH [--file PATH ...]
//!             [--sink HOST:PORT] [--rate BYTES_PER_SEC] [--stall-after BYTES]
//!             [--crash-after BYTES] [--checkpoint-every OPS] [--pidfile FILE]
//!             [--flush-interval DUR]
//!
//! It ships complete lines only. With `--sink` a byte counts as delivered (and its offset is
//! recorded) only when the sink acknowledges it: the sink writes back the decimal total of
//! bytes it has received on the connection plus "\n" whenever it has read data. On SIGTERM it
//! writes its final state and exits 0; `--stall-after` stops delivering but stays alive (an
//! unreachable output); `--crash-after` aborts without a final write. Rename-rotation keeps
//! the old file open until it is shipped; truncation restarts the file at 0. Started again on
//! an existing store (after a crash), it resumes from the recorded offsets, as Filebeat does.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use drainguard::testkit::filebeat as tk;

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Memlog,
    Legacy,
}

#[derive(Parser)]
struct Args {
    /// Filebeat's path.data: memlog at DIR/registry/filebeat, legacy at DIR/registry.
    #[arg(long)]
    data: PathBuf,
    #[arg(long, value_enum, default_value = "memlog")]
    format: Format,
    #[arg(long = "file", required = true)]
    files: Vec<PathBuf>,
    #[arg(long)]
    sink: Option<String>,
    /// Bytes per second (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    #[arg(long)]
    stall_after: Option<u64>,
    #[arg(long)]
    crash_after: Option<u64>,
    #[arg(long)]
    checkpoint_every: Option<u64>,
    #[arg(long)]
    pidfile: Option<PathBuf>,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "50ms")]
    flush_interval: Duration,
}

/// One harvested file (the open handle survives rename and deletion).
struct Harvester {
    path: PathBuf,
    file: File,
    ino: u64,
    dev: u64,
    /// Delivered (acknowledged) offset: what the registry records.
    acked: u64,
    dirty: bool,
}

impl Harvester {
    /// Opens `path`, resuming at its recorded offset (from a previous run's store), if any.
    fn open(path: &PathBuf, resume: &HashMap<(u64, u64), u64>) -> Option<Harvester> {
        let file = File::open(path).ok()?;
        let m = file.metadata().ok()?;
        let acked = resume
            .get(&(m.ino(), m.dev()))
            .copied()
            .filter(|&o| o <= m.len())
            .unwrap_or(0);
        Some(Harvester {
            path: path.clone(),
            file,
            ino: m.ino(),
            dev: m.dev(),
            acked,
            dirty: true,
        })
    }

    /// Complete lines after `acked`, at most `budget` bytes (at least one line).
    fn next_lines(&mut self, budget: u64) -> std::io::Result<Vec<u8>> {
        let size = self.file.metadata()?.len();
        if size < self.acked {
            // Truncated: start over, like Filebeat's harvester.
            self.acked = 0;
            self.dirty = true;
        }
        let want = (size - self.acked).min(budget.max(1).max(64 * 1024));
        let mut buf = vec![0; want as usize];
        self.file.seek(SeekFrom::Start(self.acked))?;
        let n = self.file.read(&mut buf)?;
        buf.truncate(n);
        let mut end = match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => 0,
        };
        if end as u64 > budget {
            // Stay within the budget, on a line boundary, but always ship one line.
            end = buf[..budget as usize]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or_else(
                    || buf.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1),
                    |i| i + 1,
                );
        }
        buf.truncate(end);
        Ok(buf)
    }
}

struct Sink {
    stream: TcpStream,
    acks: BufReader<TcpStream>,
    sent: u64,
    acked: u64,
}

impl Sink {
    fn connect(addr: &str) -> std::io::Result<Sink> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        let acks = BufReader::new(stream.try_clone()?);
        Ok(Sink {
            stream,
            acks,
            sent: 0,
            acked: 0,
        })
    }

    /// Sends `bytes` and waits for their acknowledgement (or for `stop`).
    fn deliver(&mut self, bytes: &[u8], stop: &AtomicBool) -> std::io::Result<bool> {
        self.stream.write_all(bytes)?;
        self.sent += bytes.len() as u64;
        let mut line = String::new();
        while self.acked < self.sent {
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            line.clear();
            match self.acks.read_line(&mut line) {
                Ok(0) => return Err(std::io::ErrorKind::ConnectionAborted.into()),
                Ok(_) => self.acked = line.trim().parse().unwrap_or(self.acked),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

enum Store {
    Memlog(tk::MemlogWriter),
    Legacy(PathBuf),
}

impl Store {
    fn write(&mut self, hs: &mut [Harvester]) -> std::io::Result<()> {
        match self {
            Store::Memlog(w) => {
                for h in hs.iter_mut().filter(|h| h.dirty) {
                    let p = h.path.to_string_lossy();
                    w.set(
                        &tk::log_key(h.ino, h.dev),
                        tk::log_value(&p, h.acked, h.ino, h.dev),
                    )?;
                    h.dirty = false;
                }
            }
            Store::Legacy(path) => {
                if hs.iter().any(|h| h.dirty) {
                    let states: Vec<_> = hs
                        .iter()
                        .map(|h| tk::legacy_state(&h.path.to_string_lossy(), h.acked, h.ino, h.dev))
                        .collect();
                    tk::write_legacy(path, &states)?;
                    hs.iter_mut().for_each(|h| h.dirty = false);
                }
            }
        }
        Ok(())
    }
}

/// The offsets a previous run recorded under `data`, by (inode, device), read with drainguard's
/// own (read-only) Filebeat reader. Empty when there is no store yet.
fn recorded_offsets(data: &std::path::Path) -> HashMap<(u64, u64), u64> {
    use drainguard::adapters::{open, SourceOptions};
    use drainguard::cursor::{Identity, ShipperKind};
    let opts = SourceOptions {
        data_path: Some(data.to_path_buf()),
        ..SourceOptions::default()
    };
    let Some(mut reader) = open(ShipperKind::Filebeat, &opts)
        .ok()
        .and_then(|rs| rs.into_iter().next())
    else {
        return HashMap::new();
    };
    let Ok(snapshot) = reader.read() else {
        return HashMap::new();
    };
    snapshot
        .cursors
        .into_iter()
        .filter_map(|c| match c.identity {
            Identity::DevInode { dev, ino } => Some(((ino, dev), c.offset)),
            _ => None,
        })
        .collect()
}

/// Sleeps `d`, waking early when `stop` is raised (SIGTERM must not wait out a long flush).
fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let resume = recorded_offsets(&args.data);
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    if let Some(p) = &args.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))?;
    }
    let mut store = match args.format {
        Format::Memlog => {
            let dir = args.data.join("registry/filebeat");
            // A restart continues the existing store (op ids after its newest checkpoint);
            // every entry this run tracks is written again before anything is shipped.
            let mut w = if dir.join("meta.json").exists() {
                tk::MemlogWriter::create_appending(&dir)?
            } else {
                tk::MemlogWriter::create(&dir)?
            };
            w.checkpoint_size = 10 << 20;
            if let Some(n) = args.checkpoint_every {
                // Roughly n ops of ~400 bytes.
                w.checkpoint_size = n * 400;
            }
            Store::Memlog(w)
        }
        Format::Legacy => {
            std::fs::create_dir_all(&args.data)?;
            Store::Legacy(args.data.join("registry"))
        }
    };
    let mut sink = match &args.sink {
        Some(addr) => Some(Sink::connect(addr)?),
        None => None,
    };
    let mut hs: Vec<Harvester> = Vec::new();
    let mut shipped_total = 0u64;
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // Discover files (and rotations: a new inode under a known name).
        for path in &args.files {
            let current = std::fs::metadata(path).ok().map(|m| (m.ino(), m.dev()));
            let known = hs
                .iter()
                .any(|h| h.path == *path && Some((h.ino, h.dev)) == current);
            if current.is_some() && !known {
                if let Some(h) = Harvester::open(path, &resume) {
                    hs.push(h);
                }
            }
        }
        // New files are registered (offset 0) before anything is shipped, as Filebeat does.
        store.write(&mut hs)?;
        let stalled = args.stall_after.is_some_and(|s| shipped_total >= s);
        let dt = last.elapsed();
        last = Instant::now();
        let mut budget = if args.rate == 0 {
            u64::MAX
        } else {
            ((args.rate as f64) * dt.as_secs_f64()).ceil() as u64
        };
        if let Some(s) = args.stall_after {
            // The output goes away exactly at the stall point.
            budget = budget.min(s.saturating_sub(shipped_total));
        }
        if !stalled {
            for h in hs.iter_mut() {
                if budget == 0 {
                    break;
                }
                if args.stall_after.is_some() && budget < 64 {
                    break;
                }
                let lines = h.next_lines(budget)?;
                if lines.is_empty() {
                    continue;
                }
                if let Some(s) = sink.as_mut() {
                    if !s.deliver(&lines, &stop)? {
                        break;
                    }
                }
                h.acked += lines.len() as u64;
                h.dirty = true;
                budget = budget.saturating_sub(lines.len() as u64);
                shipped_total += lines.len() as u64;
                if args.crash_after.is_some_and(|c| shipped_total >= c) {
                    // No final write: the registry keeps what was flushed before.
                    std::process::abort();
                }
            }
        }
        store.write(&mut hs)?;
        sleep_unless(&stop, args.flush_interval);
    }
    // Clean shutdown: everything acknowledged is written.
    store.write(&mut hs)?;
    Ok(())
}
