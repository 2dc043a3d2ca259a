//! The corpus runner: every parser of outside input ([`drainguard::parsers`]) gets its fuzz
//! corpus (`fuzz/corpus/<format>/`), arbitrary bytes, and mutations of the corpus (bytes
//! flipped, cut, repeated, numbers replaced by extremes), a bounded number of cases each.
//! Any `Err` is fine; a panic (overflow included, in the `fuzzish` profile with overflow
//! checks: scripts/test-all.sh) fails the test. The long runs are `cargo +nightly fuzz`
//! (docs/fuzzing.md).

use std::path::PathBuf;

use drainguard::parsers::{parse, Format};
use proptest::prelude::*;

fn corpus(f: Format) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(f.name());
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, b)| b).collect()
}

#[test]
fn every_format_has_a_seed_that_parses() {
    for f in Format::ALL {
        let seeds = corpus(f);
        assert!(!seeds.is_empty(), "{}: no corpus", f.name());
        let first = &seeds[0];
        assert_eq!(
            parse(f, first),
            Ok(()),
            "{}: seed-1 must be a valid input (the runner would test only errors otherwise)",
            f.name()
        );
    }
}

#[test]
fn every_corpus_file_returns() {
    for f in Format::ALL {
        for input in corpus(f) {
            let _ = parse(f, &input);
        }
    }
}

/// A mutation of a seed.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Cut(usize),
    Repeat(usize, usize, usize),
    Insert(usize, Vec<u8>),
}

fn apply(seed: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in ms {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match m {
            Mutation::Flip(i, x) if !b.is_empty() => {
                let i = i % b.len();
                b[i] ^= x | 1;
            }
            Mutation::Flip(..) => {}
            Mutation::Cut(i) => b.truncate(at(*i, b.len())),
            Mutation::Repeat(i, len, times) => {
                let start = at(*i, b.len());
                let end = (start + len).min(b.len());
                let piece = b[start..end].to_vec();
                for _ in 0..*times {
                    b.splice(start..start, piece.iter().copied());
                }
            }
            Mutation::Insert(i, bytes) => {
                let i = at(*i, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
        }
    }
    b
}

fn interesting() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"18446744073709551615".to_vec()),
        Just(b"18446744073709551616".to_vec()),
        Just(b"-9223372036854775808".to_vec()),
        Just(b"ffffffffffffffff".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"[[[[[[[[".to_vec()),
        Just(b"{".to_vec()),
        Just(vec![0xff, 0xfe]),
        proptest::collection::vec(any::<u8>(), 0..16),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Cut),
        (any::<usize>(), 1..64usize, 1..8usize).prop_map(|(i, l, t)| Mutation::Repeat(i, l, t)),
        (any::<usize>(), interesting()).prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

fn format() -> impl Strategy<Value = Format> {
    (0..Format::ALL.len()).prop_map(|i| Format::ALL[i])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(f in format(), bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(f, &bytes);
    }

    #[test]
    fn mutated_seeds_never_panic(
        f in format(),
        pick in any::<usize>(),
        ms in proptest::collection::vec(mutation(), 1..6),
    ) {
        let seeds = corpus(f);
        let input = apply(&seeds[pick % seeds.len()], &ms);
        let _ = parse(f, &input);
    }
}
