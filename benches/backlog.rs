//! Backlog engine cost: `assess` over N real files (stat in parallel + partial-tail reads for
//! the files behind), N = 10^3, 10^4, 10^5. Run: `cargo bench --bench backlog`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use drainguard::backlog::{assess, Env};
use drainguard::cursor::{
    Cursor, Identity, InputSpec, OffsetMeaning, OffsetUnit, ShipperKind, StoreSnapshot,
};

/// N files of 64 bytes in `dir`, every tenth one 32 bytes behind; the input glob matches all.
fn fixture(dir: &std::path::Path, n: usize) -> StoreSnapshot {
    let line = [b'x'; 63];
    let content = [&line[..], b"\n"].concat();
    let mut cursors = Vec::with_capacity(n);
    for i in 0..n {
        let sub = dir.join(format!("d{}", i / 10_000));
        fs::create_dir_all(&sub).unwrap();
        let p = sub.join(format!("f{i}.log"));
        fs::write(&p, &content).unwrap();
        let m = fs::metadata(&p).unwrap();
        cursors.push(Cursor {
            key: format!("filebeat::logs::native::{}-{}", m.ino(), m.dev()).into(),
            identity: Identity::DevInode {
                dev: m.dev(),
                ino: m.ino(),
            },
            path: Some(p.into()),
            offset: if i % 10 == 0 { 32 } else { 64 },
            unit: OffsetUnit::Bytes,
        });
    }
    StoreSnapshot {
        shipper: ShipperKind::Filebeat,
        store: PathBuf::from("/bench"),
        format: "bench".into(),
        cursors,
        skipped: vec![],
        inputs: vec![InputSpec {
            name: "bench".into(),
            paths: vec![format!("{}/d*/*.log", dir.display())],
            ..Default::default()
        }],
        offset_meaning: OffsetMeaning::Delivered,
        queues: vec![],
        notes: vec![],
        max_line_bytes: Some(10 * 1024 * 1024),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("assess");
    g.sample_size(10);
    for n in [1_000usize, 10_000, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let snap = fixture(dir.path(), n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &snap, |b, snap| {
            b.iter(|| {
                let r = assess(snap, &Env::default());
                assert_eq!(r.totals.blocking_files, n.div_ceil(10));
                r
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
