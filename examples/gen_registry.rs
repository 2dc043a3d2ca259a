//! Scale generator: N real log files and a Filebeat registry tracking them, in the exact
//! on-disk format of a chosen Filebeat generation.
//!
//!     cargo run --release --example gen_registry -- --entries 1000000 --format memlog --out /tmp/scale
//!     drainguard status --data-path /tmp/scale/data
//!
//! Files are `OUT/logs/dNNNN/fN.log` (64 bytes each, 1000 per directory); every
//! `--behind-every`-th entry (or exactly `--files-behind K` entries) is 32 bytes behind.
//! memlog stores get a checkpoint with every entry plus `--log-ops` ops in log.json, like a
//! long-running Filebeat.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use drainguard::testkit::filebeat as tk;

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Legacy,
    DataJson,
    Memlog,
}

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    entries: usize,
    #[arg(long, value_enum, default_value = "memlog")]
    format: Format,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 10)]
    behind_every: usize,
    #[arg(long, default_value_t = 1000)]
    log_ops: usize,
    /// Exactly this many files behind (spread evenly); overrides --behind-every.
    #[arg(long)]
    files_behind: Option<usize>,
}

impl Args {
    fn is_behind(&self, i: usize) -> bool {
        match self.files_behind {
            Some(0) => false,
            Some(k) => {
                let every = (self.entries / k).max(1);
                i.is_multiple_of(every) && i / every < k
            }
            None => self.behind_every > 0 && i.is_multiple_of(self.behind_every),
        }
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let logs = args.out.join("logs");
    let data = args.out.join("data");
    fs::create_dir_all(&data)?;
    let content = [[b'x'; 63].as_slice(), b"\n"].concat();
    let mut files = Vec::with_capacity(args.entries);
    for i in 0..args.entries {
        let dir = logs.join(format!("d{:04}", i / 1000));
        if i % 1000 == 0 {
            fs::create_dir_all(&dir)?;
        }
        let p = dir.join(format!("f{i}.log"));
        fs::write(&p, &content)?;
        let m = fs::metadata(&p)?;
        let offset = if args.is_behind(i) { 32 } else { 64 };
        files.push((p.to_string_lossy().into_owned(), m.ino(), m.dev(), offset));
    }
    match args.format {
        Format::Legacy => {
            let states: Vec<_> = files
                .iter()
                .map(|(p, ino, dev, off)| tk::legacy_state(p, *off, *ino, *dev))
                .collect();
            tk::write_legacy(&data.join("registry"), &states)?;
        }
        Format::DataJson => {
            let states: Vec<_> = files
                .iter()
                .map(|(p, ino, dev, off)| tk::legacy_state(p, *off, *ino, *dev))
                .collect();
            tk::write_data_json(&data.join("registry/filebeat"), &states)?;
        }
        Format::Memlog => {
            let dir = data.join("registry/filebeat");
            let mut w = tk::MemlogWriter::create(&dir)?;
            let txid = files.len() as u64;
            let values = files.iter().map(|(p, ino, dev, off)| {
                (tk::log_key(*ino, *dev), tk::log_value(p, *off, *ino, *dev))
            });
            let pairs: Vec<(String, serde_json::Value)> = values.collect();
            tk::write_checkpoint(&dir, txid, pairs.iter().map(|(k, v)| (k.as_str(), v)))?;
            drop(pairs);
            w.skip_to(txid + 1);
            for (p, ino, dev, off) in files.iter().take(args.log_ops) {
                w.set(&tk::log_key(*ino, *dev), tk::log_value(p, *off, *ino, *dev))?;
            }
        }
    }
    eprintln!(
        "{} files under {}, registry under {}",
        files.len(),
        logs.display(),
        data.display()
    );
    Ok(())
}
