//! Scale generator: N real log files and a Filebeat registry tracking them, in the exact
//! on-disk format of a chosen Filebeat generation.
//!
//!     cargo run --release --example gen_registry -- --entries 1000000 --format memlog --out /tmp/scale
//!     drainguard status --data-path /tmp/scale/data
//!
//! Files are `OUT/logs/dNNNN/fN.log` (1000 per directory, or `--files-per-dir`: 1 is the
//! layout of `/var/log/pods/<pod>/<container>/0.log`). Three kinds of data:
//! - default: 64 bytes each; every `--behind-every`-th entry (or exactly `--files-behind K`
//!   entries) is 32 bytes behind;
//! - `--realistic`: sizes log-normal around 1 MiB with 1 % above 100 MiB; each file is a hole
//!   whose last block (up to 4 KiB) is text: newline-terminated lines (~4 KiB on disk a file);
//!   1 % lag by 1 KiB-4 MiB, 0.1 % end in an unterminated line the shipper waits on;
//!   with `--text-only-behind`, files at their end are all hole (nothing reads them: same
//!   sizes, same draws, ~1 % of the disk use; 10^6 entries take ~45 MB instead of ~3.9 GB);
//! - `--sparse`: the pathology of a tail scan that reads every pending byte: sizes log-uniform
//!   1 KiB-1 GiB, one text line then a hole; 1 % behind with only the hole pending (no newline).
//!
//! `--format both` writes a legacy registry (`OUT/legacy/registry`) and a memlog store
//! (`OUT/memlog/registry/filebeat`) for the same files. memlog stores get a checkpoint with
//! every entry plus `--log-ops` ops in log.json, like a long-running Filebeat. The checkpoint
//! is in an order that says nothing about the files (seeded), as Filebeat writes it from a Go
//! map (`for key, entry := range states`); the legacy registry is in the order the files were
//! found, as Filebeat appends new states to its list.

use std::fs::{self, File};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use drainguard::testkit::filebeat as tk;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Legacy,
    DataJson,
    Memlog,
    /// Legacy under OUT/legacy and memlog under OUT/memlog, for the same files.
    Both,
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
    /// Files per directory (at least 1).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    files_per_dir: u64,
    /// Exactly this many files behind (spread evenly); overrides --behind-every.
    #[arg(long)]
    files_behind: Option<usize>,
    /// Log-normal sizes, sparse files with text tails, 1 % lagging, 0.1 % unterminated.
    #[arg(long, conflicts_with = "sparse")]
    realistic: bool,
    /// With --realistic: only files not at their end get their text block.
    #[arg(long, requires = "realistic")]
    text_only_behind: bool,
    /// Large sparse files, 1 % behind with no newline in the pending bytes.
    #[arg(long)]
    sparse: bool,
    /// Seed of the size and lag draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
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

/// splitmix64: a small seeded generator (the draws only need to be repeatable).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Log-uniform in [lo, hi].
    fn log_uniform(&mut self, lo: f64, hi: f64) -> u64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp() as u64
    }
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
/// The text at the end of each realistic file (one file-system block).
const TEXT_TAIL: u64 = 4 * KIB;

/// `n` bytes of newline-terminated log lines (the last byte is a newline).
fn lines(n: u64, i: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize);
    let mut k = 0u64;
    while (out.len() as u64) < n {
        let line = format!(
            "2026-12-01T19:{:02}:{:02}.{:03}Z INFO app[{i}]: GET /api/v1/items/{k} 200 {}ms\n",
            (k / 60) % 60,
            k % 60,
            k % 1000,
            k % 97
        );
        out.extend_from_slice(line.as_bytes());
        k += 1;
    }
    out.truncate(n as usize);
    if let Some(last) = out.last_mut() {
        *last = b'\n';
    }
    out
}

/// One generated file: its content plan and the offset the registry records.
struct Plan {
    size: u64,
    offset: u64,
}

/// Creates `p` as a file of `size` bytes: a hole, with `text` written at `text_at`.
fn write_sparse(p: &Path, size: u64, text_at: u64, text: &[u8]) -> std::io::Result<()> {
    let f = File::create(p)?;
    f.set_len(size)?;
    f.write_all_at(text, text_at)
}

fn realistic(p: &Path, i: usize, rng: &mut Rng, text_only_behind: bool) -> std::io::Result<Plan> {
    // ln-normal: median 1 MiB, sigma so that 1 % is above 100 MiB (z(0.99) = 2.326).
    let sigma = (100f64).ln() / 2.326;
    let size = ((MIB as f64).ln() + sigma * rng.normal()).exp() as u64;
    let size = size.clamp(256, 4 * GIB);
    let draw = rng.unit();
    // The text fills the file's last block (aligned, so it allocates exactly one).
    let tail = size - (size - 1) / TEXT_TAIL * TEXT_TAIL;
    let mut text = lines(tail, i);
    let offset = if draw < 0.001 {
        // An unterminated last line: the shipper has read up to its start and waits.
        let partial = (tail / 4).clamp(1, 200) as usize;
        let partial = partial.min(text.len());
        let n = text.len();
        for b in &mut text[n - partial..] {
            if *b == b'\n' {
                *b = b' ';
            }
        }
        // The shipper's offset: just after the last complete line.
        let start = text[..n - partial]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        size - tail + start as u64
    } else if draw < 0.011 {
        size - rng.log_uniform(KIB as f64, 4.0 * MIB as f64).min(size)
    } else {
        size
    };
    if text_only_behind && offset == size {
        File::create(p)?.set_len(size)?;
    } else {
        write_sparse(p, size, size - tail, &text)?;
    }
    Ok(Plan { size, offset })
}

fn sparse(p: &Path, i: usize, behind: bool, rng: &mut Rng) -> std::io::Result<Plan> {
    let size = rng.log_uniform(KIB as f64, GIB as f64);
    let head = lines(200.min(size), i);
    write_sparse(p, size, 0, &head)?;
    // Behind: read up to the end of the text; only the hole (no newline) is pending.
    let offset = if behind { head.len() as u64 } else { size };
    Ok(Plan { size, offset })
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let logs = args.out.join("logs");
    let content = [[b'x'; 63].as_slice(), b"\n"].concat();
    let mut rng = Rng(args.seed);
    let mut files = Vec::with_capacity(args.entries);
    let (mut disk, mut behind, mut lagging_bytes) = (0u64, 0usize, 0u64);
    for i in 0..args.entries {
        let per_dir = usize::try_from(args.files_per_dir).unwrap_or(usize::MAX);
        let dir = logs.join(format!("d{:04}", i / per_dir));
        if i % per_dir == 0 {
            fs::create_dir_all(&dir)?;
        }
        let p = dir.join(format!("f{i}.log"));
        let plan = if args.realistic {
            realistic(&p, i, &mut rng, args.text_only_behind)?
        } else if args.sparse {
            sparse(&p, i, i % 100 == 0, &mut rng)?
        } else {
            fs::write(&p, &content)?;
            let offset = if args.is_behind(i) { 32 } else { 64 };
            Plan { size: 64, offset }
        };
        let m = fs::metadata(&p)?;
        disk += m.blocks() * 512;
        if plan.offset < plan.size {
            behind += 1;
            lagging_bytes += plan.size - plan.offset;
        }
        files.push((
            p.to_string_lossy().into_owned(),
            m.ino(),
            m.dev(),
            plan.offset,
        ));
    }
    let write = |format: Format, data: &Path| -> std::io::Result<()> {
        fs::create_dir_all(data)?;
        let states = || -> Vec<serde_json::Value> {
            files
                .iter()
                .map(|(p, ino, dev, off)| tk::legacy_state(p, *off, *ino, *dev))
                .collect()
        };
        match format {
            Format::Legacy => tk::write_legacy(&data.join("registry"), &states()),
            Format::DataJson => tk::write_data_json(&data.join("registry/filebeat"), &states()),
            Format::Memlog => write_memlog(
                &data.join("registry/filebeat"),
                &files,
                args.log_ops,
                &mut Rng(args.seed ^ 0x6d61_705f_6f72_6465),
            ),
            Format::Both => unreachable!(),
        }
    };
    let stores = if args.format == Format::Both {
        write(Format::Legacy, &args.out.join("legacy"))?;
        write(Format::Memlog, &args.out.join("memlog"))?;
        format!(
            "{} and {}",
            args.out.join("legacy").display(),
            args.out.join("memlog").display()
        )
    } else {
        let data = args.out.join("data");
        write(args.format, &data)?;
        data.display().to_string()
    };
    eprintln!(
        "{} files under {} ({} MiB on disk; {behind} not at their end, {lagging_bytes} bytes \
         pending), registry under {stores}",
        files.len(),
        logs.display(),
        disk / MIB,
    );
    Ok(())
}

/// A checkpoint holding every entry in an order drawn from `rng` (a Go map's), then `log_ops`
/// ops in log.json.
fn write_memlog(
    dir: &Path,
    files: &[(String, u64, u64, u64)],
    log_ops: usize,
    rng: &mut Rng,
) -> std::io::Result<()> {
    let mut w = tk::MemlogWriter::create(dir)?;
    let txid = files.len() as u64;
    let mut pairs: Vec<(String, serde_json::Value)> = files
        .iter()
        .map(|(p, ino, dev, off)| (tk::log_key(*ino, *dev), tk::log_value(p, *off, *ino, *dev)))
        .collect();
    // Fisher-Yates.
    for i in (1..pairs.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        pairs.swap(i, j);
    }
    tk::write_checkpoint(dir, txid, pairs.iter().map(|(k, v)| (k.as_str(), v)))?;
    drop(pairs);
    w.skip_to(txid + 1);
    for (p, ino, dev, off) in files.iter().take(log_ops) {
        w.set(&tk::log_key(*ino, *dev), tk::log_value(p, *off, *ino, *dev))?;
    }
    Ok(())
}
