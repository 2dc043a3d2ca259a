//! Release latency of `drainguard wait`: the time from the shipper's final registry write
//! (the op that makes the last file shipped) to `wait` exiting, over N runs. The poll interval
//! is set to 60 s, so only the file-system event can wake it.
//!
//!     cargo build --release && cargo run --release --example bench_release -- --runs 30

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use drainguard::testkit::filebeat as tk;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// The drainguard binary (default: target/release/drainguard).
    #[arg(long, default_value = "target/release/drainguard")]
    bin: String,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("app.log");
    std::fs::write(&log, "a line\n".repeat(1000))?;
    let m = std::fs::metadata(&log)?;
    let (size, ino, dev) = (m.len(), m.ino(), m.dev());
    let path = log.to_string_lossy().into_owned();
    let data = dir.path().join("data");
    let mut w = tk::MemlogWriter::create(&data.join("registry/filebeat"))?;
    let key = tk::log_key(ino, dev);
    let mut samples = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        w.set(&key, tk::log_value(&path, size - 7, ino, dev))?;
        let mut child = Command::new(&args.bin)
            .args([
                "--settings",
                "/nonexistent.toml",
                "wait",
                "--quiet",
                "--no-log-file",
            ])
            .args([
                "--interval",
                "60s",
                "--shipper-pid",
                &std::process::id().to_string(),
            ])
            .arg("--data-path")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Let it read the store and start watching.
        std::thread::sleep(Duration::from_millis(300));
        let t0 = Instant::now();
        w.set(&key, tk::log_value(&path, size, ino, dev))?;
        let status = child.wait()?;
        let dt = t0.elapsed();
        assert!(status.success(), "wait exited with {status}");
        samples.push(dt);
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "release latency over {} runs: median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        samples.len(),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        ms(samples[samples.len() - 1])
    );
    Ok(())
}
