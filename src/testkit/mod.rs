//! Test support: writers that produce shipper progress stores in their exact on-disk formats,
//! and ([`report`]) fixtures of drainguard's own model.
//!
//! Used by the integration tests, the shipper simulator (`examples/shipsim.rs`) and the scale
//! generator (`examples/gen_registry.rs`). Nothing in the product calls these: drainguard
//! itself never writes a shipper's store.

pub mod awslogs;
pub mod cloudwatch;
pub mod datadog;
pub mod filebeat;
pub mod fluentbit;
pub mod fluentd;
pub mod logstash;
pub mod otel;
pub mod promtail;
pub mod report;
pub mod rsyslog;
pub mod syslogng;
pub mod vector;

/// User + system CPU time of process `pid` in clock ticks (`/proc/<pid>/stat`), for the
/// benchmarks in `examples/`.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Returns once process `pid` has used no CPU for half a second with every thread asleep (or
/// is gone): a benchmark's way of waiting until `wait` has finished its first read and
/// assessment (on a loaded machine a thread waiting for a core uses no CPU either).
pub fn until_idle(pid: u32) {
    let half = std::time::Duration::from_millis(500);
    std::thread::sleep(half);
    let mut last = cpu_ticks(pid);
    loop {
        std::thread::sleep(half);
        let now = cpu_ticks(pid);
        if now.is_none() || (now == last && all_asleep(pid)) {
            return;
        }
        last = now;
    }
}

/// True when every thread of `pid` sleeps (state S), none runs, waits for a core or for I/O.
fn all_asleep(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(|t| {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        stat.rfind(')')
            .and_then(|at| stat[at + 1..].split_whitespace().next())
            .is_none_or(|state| state == "S")
    })
}

/// Appends `bytes` to the existing file `path` (a shipper's log growing, an agent logging).
pub fn append(path: &std::path::Path, bytes: impl AsRef<[u8]>) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .write_all(bytes.as_ref())
        .unwrap();
}

/// What `--store` gives an adapter: options naming only `store`.
pub fn store_opts(store: &std::path::Path) -> crate::adapters::SourceOptions {
    crate::adapters::SourceOptions {
        store: Some(store.to_path_buf()),
        ..Default::default()
    }
}

/// The line, byte and reason of a corrupt-store error; panics on any other error.
pub fn corrupt_pos(e: crate::error::StoreError) -> (Option<u64>, Option<u64>, String) {
    match e {
        crate::error::StoreError::Corrupt { pos, what, .. } => (pos.line, pos.byte, what),
        other => panic!("expected a Corrupt error, got {other}"),
    }
}
