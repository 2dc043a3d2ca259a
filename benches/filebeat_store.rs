//! Filebeat store reads: full reads of a legacy registry and of a memlog checkpoint at
//! 10^3..10^5 entries, and the per-event cost `wait` pays: an incremental memlog read after
//! one appended op, on a 10^5-entry store. Run: `cargo bench --bench filebeat_store`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use drainguard::adapters::filebeat::open_reader;
use drainguard::adapters::{SourceOptions, StoreReader};
use drainguard::testkit::filebeat as tk;

fn entries(n: u64) -> Vec<(String, serde_json::Value)> {
    (0..n)
        .map(|i| {
            let p = format!("/var/log/app/d{}/f{i}.log", i / 1000);
            (
                tk::log_key(i + 1000, 2049),
                tk::log_value(&p, 64, i + 1000, 2049),
            )
        })
        .collect()
}

fn opts(data: &std::path::Path) -> SourceOptions {
    SourceOptions {
        data_path: Some(data.to_path_buf()),
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("filebeat_read");
    g.sample_size(10);
    for n in [1_000u64, 10_000, 100_000] {
        let es = entries(n);
        g.throughput(Throughput::Elements(n));

        let legacy = tempfile::tempdir().unwrap();
        let states: Vec<_> = (0..n)
            .map(|i| tk::legacy_state(&format!("/var/log/f{i}.log"), 64, i + 1000, 2049))
            .collect();
        tk::write_legacy(&legacy.path().join("registry"), &states).unwrap();
        g.bench_with_input(BenchmarkId::new("legacy", n), &n, |b, _| {
            b.iter(|| {
                open_reader(&opts(legacy.path()))
                    .unwrap()
                    .unwrap()
                    .read()
                    .unwrap()
            })
        });

        let memlog = tempfile::tempdir().unwrap();
        let dir = memlog.path().join("registry/filebeat");
        let mut w = tk::MemlogWriter::create(&dir).unwrap();
        tk::write_checkpoint(&dir, n, es.iter().map(|(k, v)| (k.as_str(), v))).unwrap();
        w.skip_to(n + 1);
        g.bench_with_input(BenchmarkId::new("memlog_full", n), &n, |b, _| {
            b.iter(|| {
                open_reader(&opts(memlog.path()))
                    .unwrap()
                    .unwrap()
                    .read()
                    .unwrap()
            })
        });

        if n == 100_000 {
            // One reader kept across events, as `wait` keeps it.
            let mut reader = open_reader(&opts(memlog.path())).unwrap().unwrap();
            reader.read().unwrap();
            let (k, v) = &es[0];
            g.throughput(Throughput::Elements(1));
            g.bench_function(BenchmarkId::new("memlog_incremental_one_op", n), |b| {
                b.iter(|| {
                    w.set(k, v.clone()).unwrap();
                    reader.read().unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
