//! The floor `status` is measured against: read a Filebeat registry, parse it, stat every
//! file on 2 threads and count the files not at their end. No identity check, no rotation
//! search, no globs, no tail reads, no report.
//!
//!     cargo run --release --example bench_baseline -- OUT/legacy/registry
//!     cargo run --release --example bench_baseline -- OUT/memlog/registry/filebeat/<txid>.json
//!
//! Takes a legacy registry or a memlog checkpoint (both are JSON arrays of states with
//! `source` and `offset`).

use std::os::unix::fs::MetadataExt;

#[derive(serde::Deserialize)]
struct State<'a> {
    #[serde(borrow)]
    source: std::borrow::Cow<'a, str>,
    offset: u64,
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: bench_baseline REGISTRY_OR_CHECKPOINT");
    let text = std::fs::read(&path).expect("read the registry");
    let states: Vec<State<'_>> = serde_json::from_slice(&text).expect("a JSON array of states");
    let threads = 2;
    let chunk = states.len().div_ceil(threads).max(1);
    let (behind, missing) = std::thread::scope(|s| {
        let handles: Vec<_> = states
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let (mut behind, mut missing) = (0u64, 0u64);
                    for st in part {
                        match std::fs::metadata(&*st.source) {
                            Ok(m) if m.size() > st.offset => behind += 1,
                            Ok(_) => {}
                            Err(_) => missing += 1,
                        }
                    }
                    (behind, missing)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("stat thread"))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    println!(
        "{} states, {behind} behind, {missing} missing",
        states.len()
    );
}
