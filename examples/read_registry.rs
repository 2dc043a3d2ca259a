//! Times one full read of a Filebeat store (open + read, no stat of the files), e.g. of a
//! store made by `gen_registry`:
//!
//!     cargo run --release --example read_registry -- /tmp/scale/data
//!
//! Prints entries, wall time of the read and the process's peak RSS (VmHWM).

use std::time::Instant;

use drainguard::adapters::filebeat::open_reader;
use drainguard::adapters::{SourceOptions, StoreReader};

fn main() -> anyhow::Result<()> {
    let data = std::env::args_os()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: read_registry DATA_PATH"))?;
    let opts = SourceOptions {
        data_path: Some(data.into()),
        ..Default::default()
    };
    let t = Instant::now();
    let mut reader = open_reader(&opts)?.ok_or_else(|| anyhow::anyhow!("no store"))?;
    let snap = reader.read()?;
    let full = t.elapsed();
    let t = Instant::now();
    reader.read()?;
    let again = t.elapsed();
    let hwm = std::fs::read_to_string("/proc/self/status")?
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_string();
    println!(
        "{}: {} cursors, full read {:.2?}, unchanged re-read {:.2?}, {hwm}",
        snap.format,
        snap.cursors.len(),
        full,
        again
    );
    Ok(())
}
