//! Shared test harness: the example binaries (shipsim, sink), built on demand, and helpers to
//! run them and drainguard as real processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The drainguard binary.
pub fn drainguard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_drainguard"));
    // No settings file: the defaults, whatever the host has in /etc/drainguard.
    c.args(["--settings", ""]);
    // `wait`'s drain record and the metrics' counters never in the host's /var/lib/drainguard
    // (a host path: below `--root` when a test gives one).
    c.env(
        "DRAINGUARD_STATE_DIR",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/drainguard-state"),
    );
    c
}

/// Path of an example binary, built once per test run if `cargo test` did not build it.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = Path::new(env!("CARGO_BIN_EXE_drainguard"))
        .parent()
        .expect("target dir")
        .join("examples");
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--examples"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the examples failed");
    });
    dir.join(name)
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

/// A running sink: its address and the file it writes.
pub struct Sink {
    pub proc: Proc,
    pub addr: String,
    pub out: PathBuf,
    pub pause: PathBuf,
}

impl Sink {
    pub fn start(dir: &Path) -> Sink {
        let out = dir.join("received.log");
        let pause = dir.join("sink.pause");
        let mut child = Command::new(example("sink"))
            .arg("--out")
            .arg(&out)
            .arg("--pause-file")
            .arg(&pause)
            .stdout(Stdio::piped())
            .spawn()
            .expect("sink starts");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().rsplit(' ').next().unwrap().to_string();
        Sink {
            proc: Proc(child),
            addr,
            out,
            pause,
        }
    }

    pub fn pause(&self) {
        std::fs::write(&self.pause, b"").unwrap();
    }

    pub fn resume(&self) {
        let _ = std::fs::remove_file(&self.pause);
    }

    pub fn received(&self) -> Vec<u8> {
        std::fs::read(&self.out).unwrap_or_default()
    }
}

/// Starts shipsim over `files` with the store under `data`.
pub fn shipsim(data: &Path, files: &[&Path], sink: Option<&Sink>, extra: &[&str]) -> Proc {
    let mut c = Command::new(example("shipsim"));
    c.arg("--data").arg(data);
    for f in files {
        c.arg("--file").arg(f);
    }
    if let Some(s) = sink {
        c.args(["--sink", &s.addr]);
    }
    c.args(extra);
    Proc(c.spawn().expect("shipsim starts"))
}

/// Writes `n` numbered lines to `path`.
pub fn app_log(path: &Path, n: usize) {
    let text: String = (0..n).map(|i| format!("app line {i:08}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// Waits until `f` holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// A local stand-in for a shipper's HTTP monitoring API: answers every request on 127.0.0.1
/// with `body` (JSON) for the rest of the test; returns the port.
pub fn fake_http(body: &'static str) -> u16 {
    fake_http_counted(body).0
}

/// [`fake_http`], and the number of requests it has answered.
pub fn fake_http_counted(
    body: &'static str,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            // Counted before the answer: the client has seen it once it has the answer.
            count.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, served)
}
#[cfg(feature = "aws")]
pub mod aws;
pub mod awslogs;
pub mod otel;
pub mod strace;
pub mod syslog_ng;
pub mod syslog_real;
pub mod tcp_sink;
pub mod tree;

/// Spawns `c` with stdout piped and its stderr lines sent to the returned channel, so a test
/// can follow a running `wait` line by line.
pub fn spawn_streaming(mut c: Command) -> (Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Blocks until a stderr line contains `what` (the command has got that far); returns the
/// lines seen. Panics after 30 s without one, quoting what was seen.
pub fn until(rx: &std::sync::mpsc::Receiver<String>, what: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                let hit = line.contains(what);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            Err(_) => panic!("no stderr line with {what:?}; saw:\n{}", seen.join("\n")),
        }
    }
}

/// A finished command's exit code, stdout and stderr, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The JSON document a command printed on stdout (`status --json`), or a panic showing its
/// whole output.
pub fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}
