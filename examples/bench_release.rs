//! Release latency of `drainguard wait`: the time from the shipper's final registry write
//! (the op that makes the last file shipped) to `wait` exiting, over N runs. The poll interval
//! is set to 60 s, so only the file-system event can wake it.
//!
//!     cargo build --release && cargo run --release --example bench_release -- --runs 30
//!
//! With `--data PATH` (the `path.data` of a memlog store made by `gen_registry --format memlog
//! --files-behind 0 --out DIR`, i.e. `DIR/data`, every file shipped) the file the final op
//! ships is one more entry of that store, so the figure is the release latency on a store of
//! that many entries. Each run starts timing once `wait` has
//! finished its first assessment (its CPU time stops growing).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
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
    /// The `path.data` of a memlog store (every file shipped) to add the file to.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Keep each run's `wait -v` log (debug lines with their timestamps: the cost of the
    /// round after the final op) as DIR/run-N.log; the final op's time is printed per run.
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("app.log");
    std::fs::write(&log, "a line\n".repeat(1000))?;
    let m = std::fs::metadata(&log)?;
    let (size, ino, dev) = (m.len(), m.ino(), m.dev());
    let path = log.to_string_lossy().into_owned();
    let (data, mut w) = match &args.data {
        Some(data) => {
            let w = tk::MemlogWriter::create_appending(&data.join("registry/filebeat"))?;
            (data.clone(), w)
        }
        None => {
            let data = dir.path().join("data");
            let w = tk::MemlogWriter::create(&data.join("registry/filebeat"))?;
            (data, w)
        }
    };
    let key = tk::log_key(ino, dev);
    let mut samples = Vec::with_capacity(args.runs);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for run in 0..args.runs {
        w.set(&key, tk::log_value(&path, size - 7, ino, dev))?;
        let stderr = match &args.log_dir {
            Some(d) => Stdio::from(std::fs::File::create(d.join(format!("run-{run}.log")))?),
            None => Stdio::null(),
        };
        let verbosity = if args.log_dir.is_some() {
            "-v"
        } else {
            "--quiet"
        };
        let mut child = Command::new(&args.bin)
            .args(["--settings", "", verbosity, "wait", "--no-log-file"])
            .args([
                "--interval",
                "60s",
                "--shipper-pid",
                &std::process::id().to_string(),
            ])
            .arg("--data-path")
            .arg(&data)
            // The drain record goes to a directory of the benchmark's, not the host's.
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        // Let it read the store, assess it and start watching.
        drainguard::testkit::until_idle(child.id());
        let (t0, wall) = (Instant::now(), std::time::SystemTime::now());
        w.set(&key, tk::log_value(&path, size, ino, dev))?;
        let status = child.wait()?;
        let dt = t0.elapsed();
        assert!(status.success(), "wait exited with {status}");
        if args.log_dir.is_some() {
            let at = wall
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            println!(
                "run {run}: final op at unix {at:.6}, exit after {:.1} ms",
                ms(dt)
            );
        }
        samples.push(dt);
    }
    samples.sort();
    let p99 = samples[(samples.len() * 99 / 100).min(samples.len() - 1)];
    println!(
        "release latency over {} runs: median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        ms(p99),
        ms(samples[samples.len() - 1])
    );
    Ok(())
}
