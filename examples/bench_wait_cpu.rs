//! CPU cost of `drainguard wait` while it holds shutdown on a large store: it runs against a
//! store made by `gen_registry` while this program appends one registry op per second (Filebeat's
//! flush cadence) that never completes the backlog; reports the CPU share of one core it used.
//!
//!     cargo run --release --example gen_registry -- --entries 100000 --out /tmp/dg-cpu
//!     cargo run --release --example bench_wait_cpu -- --store /tmp/dg-cpu --seconds 20
//!
//! `--lag N` first sets N of the store's entries (spread evenly) back to half their offset, for
//! a store whose files are all shipped (the store is changed: use a copy of its registry).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use drainguard::testkit::filebeat as tk;

#[derive(Parser)]
struct Args {
    /// The `--out` directory of gen_registry (memlog format).
    #[arg(long, required_unless_present = "data")]
    store: Option<PathBuf>,
    /// The store's `path.data` instead (`OUT/memlog` of `gen_registry --format both`).
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value = "target/release/drainguard")]
    bin: String,
    /// Set this many entries (spread evenly) back to half their offset first.
    #[arg(long, default_value_t = 0)]
    lag: usize,
}

/// Sets `n` of the store's file entries (every len/n-th) to half their offset.
fn lag(data: &std::path::Path, w: &mut tk::MemlogWriter, n: usize) -> std::io::Result<()> {
    use drainguard::adapters::{self, SourceOptions};
    use drainguard::cursor::{Identity, ShipperKind};
    let opts = SourceOptions {
        data_path: Some(data.to_path_buf()),
        ..Default::default()
    };
    let mut r = adapters::open(ShipperKind::Filebeat, &opts)
        .map_err(std::io::Error::other)?
        .into_iter()
        .next()
        .expect("a filebeat store");
    let s = r.read().map_err(std::io::Error::other)?;
    let step = (s.cursors.len() / n).max(1);
    let mut set = 0;
    for c in s.cursors.iter().step_by(step).take(n) {
        let (Identity::DevInode { dev, ino }, Some(path)) = (&c.identity, &c.path) else {
            continue;
        };
        w.set(
            &c.key,
            tk::log_value(&path.to_string_lossy(), c.offset / 2, *ino, *dev),
        )?;
        set += 1;
    }
    println!("{set} entries set back to half their offset");
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let data = match (&args.data, &args.store) {
        (Some(d), _) => d.clone(),
        (None, Some(s)) => s.join("data"),
        (None, None) => unreachable!("clap requires one"),
    };
    let dir = data.join("registry/filebeat");
    let mut w = tk::MemlogWriter::create_appending(&dir)?;
    if args.lag > 0 {
        lag(&data, &mut w, args.lag)?;
    }
    let mut child = Command::new(&args.bin)
        .args(["--settings", "", "wait", "--quiet", "--no-log-file"])
        .args(["--deadline", &format!("{}s", args.seconds + 5)])
        .args(["--wait-for-restart"])
        .arg("--data-path")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // The first full read is startup cost, not waiting cost.
    drainguard::testkit::until_idle(child.id());
    let t0 = Instant::now();
    let c0 = drainguard::testkit::cpu_ticks(child.id()).unwrap_or(0);
    let mut events = 0u64;
    while t0.elapsed() < Duration::from_secs(args.seconds) {
        w.set(
            &tk::log_key(u64::MAX - events, 1),
            tk::log_value("/nonexistent", 0, 1, 1),
        )?;
        events += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    let c1 = drainguard::testkit::cpu_ticks(child.id()).unwrap_or(c0);
    let wall = t0.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let tick = 100.0; // USER_HZ on Linux
    let cpu = (c1 - c0) as f64 / tick;
    println!(
        "{events} registry events in {wall:.1}s: {:.1}% of one core, {:.0} ms CPU per event",
        100.0 * cpu / wall,
        1000.0 * cpu / events as f64
    );
    Ok(())
}
