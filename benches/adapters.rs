//! Full store reads of the line- and SQLite-based adapters at 10^4..10^6 entries, and of the
//! CloudWatch agent (10^5 state files, one per tailed file) and Datadog Agent (10^5 registry
//! entries) stores (stores written by src/testkit). Run: `cargo bench --bench adapters`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use drainguard::adapters::{self, datadog, fluentbit, fluentd, logstash, promtail, SourceOptions};
use drainguard::cursor::ShipperKind;
use drainguard::testkit;

fn bench(c: &mut Criterion) {
    let d = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("adapter_read");
    g.sample_size(10);
    for n in [10_000u64, 1_000_000] {
        g.throughput(Throughput::Elements(n));
        let pos: String = (0..n)
            .map(|i| testkit::fluentd::line(&format!("/var/log/app/d{}/f{i}.log", i / 1000), i, i))
            .collect();
        let p = d.path().join(format!("fluentd-{n}.pos"));
        g.bench_with_input(BenchmarkId::new("fluentd_pos_file", n), &pos, |b, pos| {
            b.iter(|| fluentd::parse(&p, pos.as_bytes()).unwrap().cursors.len())
        });
        let since: String = (0..n)
            .map(|i| testkit::logstash::record(i, 8, 1, i, Some(&format!("/var/log/app/f{i}.log"))))
            .collect();
        g.bench_with_input(BenchmarkId::new("logstash_sincedb", n), &since, |b, s| {
            b.iter(|| logstash::parse(&p, s.as_bytes()).unwrap().cursors.len())
        });
        let owned: Vec<(String, String)> = (0..n)
            .map(|i| (format!("/var/log/app/f{i}.log"), i.to_string()))
            .collect();
        let refs: Vec<(&str, &str)> = owned
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let yaml = testkit::promtail::promtail(&refs);
        g.bench_with_input(BenchmarkId::new("promtail_positions", n), &yaml, |b, y| {
            b.iter(|| {
                promtail::parse(ShipperKind::Promtail, &p, y.as_bytes())
                    .unwrap()
                    .cursors
                    .len()
            })
        });
        let db = d.path().join(format!("tail-{n}.db"));
        {
            let w = testkit::fluentbit::create(&db, true).unwrap();
            w.execute_batch("BEGIN").unwrap();
            for i in 0..n {
                testkit::fluentbit::insert(&w, &format!("/var/log/app/f{i}.log"), i, i).unwrap();
            }
            w.execute_batch("COMMIT").unwrap();
            testkit::fluentbit::checkpoint(&w).unwrap();
        }
        g.bench_with_input(BenchmarkId::new("fluentbit_db", n), &db, |b, db| {
            b.iter(|| fluentbit::read_db(db).unwrap().cursors.len())
        });
    }
    g.finish();
}

/// The AWS fleets' agents at 10^5 entries: a CloudWatch state folder of 10^5 files read
/// through the adapter (listing, a bounded read and parse of each, collision check), and a
/// Datadog registry.json of 10^5 fingerprinted entries parsed, an awslogs state file of 10^5
/// rows read with 100 sections.
fn bench_aws(c: &mut Criterion) {
    let d = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("adapter_read");
    g.sample_size(10);
    let n = 100_000u64;
    g.throughput(Throughput::Elements(n));
    let state = d.path().join("state");
    std::fs::create_dir(&state).unwrap();
    for i in 0..n {
        let p = format!("/var/log/app/d{}/f{i}.log", i / 1000);
        let content = testkit::cloudwatch::state(i + 10, &p, Some(&[(0, i + 1), (i + 5, i + 10)]));
        testkit::cloudwatch::write(&state, &p, &content).unwrap();
    }
    let opts = SourceOptions {
        store: Some(state.clone()),
        ..Default::default()
    };
    let mut reader = adapters::open(ShipperKind::CloudwatchAgent, &opts)
        .unwrap()
        .pop()
        .unwrap();
    g.bench_function(BenchmarkId::new("cloudwatch_state_files", n), |b| {
        b.iter(|| reader.read().unwrap().cursors.len())
    });
    let fp = testkit::datadog::byte_fingerprint(&[b'x'; 1024], 1024, 0);
    let entries: Vec<testkit::datadog::Entry> = (0..n)
        .map(|i| {
            testkit::datadog::Entry::new(&format!("/var/log/app/f{i}.log"), i).with_fingerprint(fp)
        })
        .collect();
    let json = testkit::datadog::registry(&entries, &[]);
    let p = d.path().join("registry.json");
    g.bench_with_input(BenchmarkId::new("datadog_registry", n), &json, |b, j| {
        b.iter(|| datadog::parse(&p, j.as_bytes()).unwrap().cursors.len())
    });
    // awslogs: a state file whose push_state holds 10^5 rows (the agent never deletes one: a
    // row per file it ever tailed) and 100 sections, each tailing a file with a row.
    let logs = d.path().join("awslogs");
    std::fs::create_dir(&logs).unwrap();
    let db = logs.join("agent-state");
    let c = testkit::awslogs::create(&db).unwrap();
    c.execute_batch("BEGIN").unwrap();
    for i in 0..n {
        let id = testkit::awslogs::source_id(&format!("old{i}"), b"first\n");
        testkit::awslogs::push(&c, &id, i, i + 10).unwrap();
    }
    let mut conf = format!("[general]\nstate_file = {}\n", db.display());
    for s in 0..100 {
        let f = logs.join(format!("app{s}.log"));
        std::fs::write(&f, format!("app {s} first\nsecond\n")).unwrap();
        let id =
            testkit::awslogs::source_id(&format!("s{s}"), format!("app {s} first\n").as_bytes());
        testkit::awslogs::push(&c, &id, 0, 7).unwrap();
        conf.push_str(&format!(
            "[s{s}]\nfile = {}\nlog_group_name = g\n",
            f.display()
        ));
    }
    c.execute_batch("COMMIT").unwrap();
    drop(c);
    let conf_path = logs.join("awslogs.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let opts = SourceOptions {
        config: Some(conf_path),
        ..Default::default()
    };
    let mut reader = adapters::open(ShipperKind::Awslogs, &opts)
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(reader.read().unwrap().cursors.len(), 100);
    g.bench_function(BenchmarkId::new("awslogs_state_rows", n), |b| {
        b.iter(|| reader.read().unwrap().cursors.len())
    });
    g.finish();
}

/// The OpenTelemetry Collector's file_storage file with 10^5 known files, each with a
/// 1000-byte fingerprint (the default `fingerprint_size`): a ~150 MB value on overflow
/// pages, read (pread, meta checked before and after), decoded and turned into cursors.
fn bench_otel(c: &mut Criterion) {
    use drainguard::adapters::otel;
    let d = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("adapter_read");
    g.sample_size(10);
    let n = 100_000u64;
    g.throughput(Throughput::Elements(n));
    let firsts: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("{i:08} ").repeat(112).as_bytes()[..1000].to_vec())
        .collect();
    let paths: Vec<String> = (0..n).map(|i| format!("/var/log/app/f{i}.log")).collect();
    let files: Vec<testkit::otel::Known> = firsts
        .iter()
        .zip(&paths)
        .enumerate()
        .map(|(i, (f, p))| testkit::otel::Known {
            first_bytes: f,
            offset: i as u64,
            path: p,
        })
        .collect();
    let db = d.path().join("receiver_filelog_");
    std::fs::write(
        &db,
        testkit::otel::database(&testkit::otel::known_files(&files)),
    )
    .unwrap();
    g.bench_function(BenchmarkId::new("otelcol_file_storage", n), |b| {
        b.iter(|| {
            let known = otel::read_known(&db).unwrap().unwrap();
            otel::store::cursors(&known).0.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_aws, bench_otel);
criterion_main!(benches);
