//! The order of a report's files: most blocking bytes first, then by path (as `Path` orders
//! paths, component by component). Nothing sorts every file unless every file is shown: the
//! table takes the top N with a bounded heap, the JSON report sorts while it serializes.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::Path;

use super::FileReport;

/// Most blocking bytes first, then by path.
pub fn backlog_order(a: &FileReport, b: &FileReport) -> Ordering {
    b.state
        .blocking_bytes()
        .cmp(&a.state.blocking_bytes())
        .then_with(|| path_order(&a.path, &b.path))
}

/// `a.cmp(b)` for paths, without building components for the common case: for paths without
/// `.`/`..`/empty components, comparing the bytes with `/` below every other byte is the same
/// order as comparing component by component.
pub fn path_order(a: &Path, b: &Path) -> Ordering {
    let (x, y) = (
        a.as_os_str().as_encoded_bytes(),
        b.as_os_str().as_encoded_bytes(),
    );
    if !plain(x) || !plain(y) {
        return a.cmp(b);
    }
    let rank = |c: u8| if c == b'/' { 0u16 } else { u16::from(c) + 1 };
    for (&c, &d) in x.iter().zip(y) {
        if c != d {
            return rank(c).cmp(&rank(d));
        }
    }
    x.len().cmp(&y.len())
}

/// True when the path's components are all normal names (after an optional leading `/`): no
/// `//`, no `.` or `..` component, no trailing `/`.
fn plain(p: &[u8]) -> bool {
    let body = p.strip_prefix(b"/").unwrap_or(p);
    !body.is_empty()
        && body
            .split(|&c| c == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// The `n` first files in [`backlog_order`], sorted (all of them, sorted, when `n` is at least
/// their number).
pub fn top(files: &[FileReport], n: usize) -> Vec<&FileReport> {
    if n >= files.len() {
        let mut all: Vec<&FileReport> = files.iter().collect();
        all.sort_unstable_by(|a, b| backlog_order(a, b));
        return all;
    }
    if n == 0 {
        return Vec::new();
    }
    // A max-heap of the n best so far: its top is the worst kept one.
    let mut heap: BinaryHeap<Ranked<'_>> = BinaryHeap::with_capacity(n + 1);
    for f in files {
        if heap.len() < n {
            heap.push(Ranked(f));
        } else if let Some(mut worst) = heap.peek_mut() {
            if backlog_order(f, worst.0) == Ordering::Less {
                *worst = Ranked(f);
            }
        }
    }
    heap.into_sorted_vec().into_iter().map(|r| r.0).collect()
}

/// A file ordered by [`backlog_order`].
struct Ranked<'a>(&'a FileReport);

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked<'_> {}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        backlog_order(self.0, other.0)
    }
}

/// Serializes a report's files in [`backlog_order`] (the JSON report lists every file so).
pub fn ser_sorted<S: serde::Serializer>(files: &[FileReport], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(top(files, usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backlog::FileState;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn file(path: &str, state: FileState) -> FileReport {
        FileReport {
            path: Path::new(path).into(),
            keys: vec![],
            offset: None,
            size: None,
            state,
        }
    }

    proptest! {
        /// The byte comparison is `Path`'s own order, whatever the path.
        #[test]
        fn path_order_is_paths_order(a in "(/?)([a-c./-]{0,3}/?){0,4}", b in "(/?)([a-c./-]{0,3}/?){0,4}") {
            let (a, b) = (PathBuf::from(a), PathBuf::from(b));
            prop_assert_eq!(path_order(&a, &b), a.cmp(&b));
        }

        /// The top n are the n first of the full sort, for every n.
        #[test]
        fn top_is_the_head_of_the_full_sort(
            entries in proptest::collection::vec(("[ab]{1,2}(/[ab]{1,2}){0,2}", 0u64..3), 0..30),
            n in 0usize..35,
        ) {
            let files: Vec<FileReport> = entries
                .iter()
                .map(|(p, b)| {
                    let state = if *b == 0 { FileState::Shipped } else { FileState::Behind { bytes: *b } };
                    file(&format!("/{p}"), state)
                })
                .collect();
            let mut full: Vec<&FileReport> = files.iter().collect();
            full.sort_by(|a, b| {
                b.state.blocking_bytes().cmp(&a.state.blocking_bytes()).then_with(|| a.path.cmp(&b.path))
            });
            let keys = |v: &[&FileReport]| -> Vec<(u64, std::sync::Arc<Path>)> {
                v.iter().map(|f| (f.state.blocking_bytes(), f.path.clone())).collect()
            };
            let want = &full[..n.min(full.len())];
            prop_assert_eq!(keys(&top(&files, n)), keys(want));
        }
    }

    #[test]
    fn most_behind_first_then_by_path() {
        let files = vec![
            file("/b", FileState::Shipped),
            file("/a", FileState::Behind { bytes: 1 }),
            file("/c", FileState::Behind { bytes: 9 }),
            file("/a", FileState::Shipped),
        ];
        let paths: Vec<(&str, u64)> = top(&files, 3)
            .iter()
            .map(|f| (f.path.to_str().unwrap(), f.state.blocking_bytes()))
            .collect();
        assert_eq!(paths, vec![("/c", 9), ("/a", 1), ("/a", 0)]);
    }
}
