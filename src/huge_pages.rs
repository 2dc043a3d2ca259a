//! The process's allocator: the system's, with large blocks advised for transparent huge
//! pages; and [`touch_spare`], which faults a vector's pages in on every thread.
//!
//! `wait` on a store of 10^6 entries holds a few hundred MB in a handful of large blocks (the
//! cursors, the per-file reports, the incremental tracker's tables). When the drain ends, the
//! kernel frees a process's memory before its parent (systemd, the init script) is told it
//! exited, at a cost per page mapped: in 4 KiB pages that was most of the release latency at
//! 10^6 (80–100 ms of ~100 ms). Blocks of [`THRESHOLD`] bytes or more are advised
//! `MADV_HUGEPAGE` (the whole 2 MiB pages inside them), so where the kernel's transparent huge
//! pages are `madvise` or `always` they are mapped, and freed, 512 pages at a time. The advice
//! changes no content and no semantics; where huge pages are `never` or absent it is ignored,
//! and the call's result is never needed.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks this large or larger are advised (smaller ones share pages with other blocks).
pub const THRESHOLD: usize = 8 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// [`System`], advising blocks of [`THRESHOLD`] bytes or more for huge pages.
pub struct HugePageAdvice;

/// The whole 2 MiB pages inside `[start, start + len)`, as (first byte, length).
fn whole_pages(start: usize, len: usize) -> Option<(usize, usize)> {
    let first = start.checked_next_multiple_of(HUGE_PAGE)?;
    let end = start.checked_add(len)? & !(HUGE_PAGE - 1);
    (end > first).then(|| (first, end - first))
}

/// Advises the whole 2 MiB pages inside the block `[p, p + len)`.
fn advise(p: *mut u8, len: usize) {
    if let Some((first, len)) = whole_pages(p as usize, len) {
        // SAFETY: the range lies inside a block just handed out by the system allocator;
        // MADV_HUGEPAGE only sets a flag on its mappings (contents are kept). Its result is
        // not needed: without huge pages the block simply stays in small ones. errno (the
        // calling thread's own; __errno_location never returns null) is put back, so a
        // failed advice never changes what a caller reads after its own call.
        unsafe {
            let errno = libc::__errno_location();
            let saved = *errno;
            libc::madvise(first as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            *errno = saved;
        }
    }
}

// SAFETY: every call is the system allocator's; the advice does not touch the blocks.
unsafe impl GlobalAlloc for HugePageAdvice {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() && layout.size() >= THRESHOLD {
            advise(p, layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() && layout.size() >= THRESHOLD {
            advise(p, layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout)
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() && new_size >= THRESHOLD {
            advise(q, new_size);
        }
        q
    }
}

/// Touches every page of `v`'s spare capacity, on every thread of the pool: the kernel maps
/// and zeroes them in parallel, not one by one on the thread that then fills the vector
/// (10^6 cursors, 80 MB: ~150 ms of page faults on one core). Nothing is stored: the
/// capacity stays uninitialised as far as the vector is concerned.
pub fn touch_spare<T: Send>(v: &mut Vec<T>) {
    use rayon::prelude::*;
    let size = std::mem::size_of::<T>();
    if size == 0 {
        return;
    }
    // One write a 4 KiB page (a larger page is touched more than once, which is harmless).
    let per_page = (4096 / size).max(1);
    v.spare_capacity_mut()
        .par_chunks_mut(per_page)
        .for_each(|c| c[0] = std::mem::MaybeUninit::zeroed());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_huge_pages_inside_the_block_are_advised() {
        const P: usize = HUGE_PAGE;
        assert_eq!(whole_pages(P, 3 * P), Some((P, 3 * P)));
        assert_eq!(whole_pages(P + 16, 3 * P), Some((2 * P, 2 * P)));
        assert_eq!(whole_pages(P + 16, 2 * P - 32), None);
        assert_eq!(whole_pages(16, P), None);
        assert_eq!(whole_pages(usize::MAX - P, 2 * P), None);
        assert_eq!(whole_pages(usize::MAX - 3 * P, P), None);
        // The next page boundary itself is past the end of the address space.
        assert_eq!(whole_pages(usize::MAX - 15, 16), None);
    }

    /// The flags of the mapping holding `addr` (`VmFlags` in /proc/self/smaps).
    fn vm_flags(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) =
                        (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                    {
                        inside = (a..b).contains(&addr);
                        continue;
                    }
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return Some(flags.trim().to_string());
                }
            }
        }
        None
    }

    /// Bytes of the whole 4 KiB pages inside `[start, start + len)` that are resident
    /// (mincore(2): exactly these pages, whatever else the mapping holds).
    fn resident(start: usize, len: usize) -> usize {
        const PAGE: usize = 4096;
        let first = start.next_multiple_of(PAGE);
        let pages = (start + len).saturating_sub(first) / PAGE;
        let mut vec = vec![0u8; pages];
        // SAFETY: a page-aligned range inside one live allocation; `vec` has a byte a page.
        let r =
            unsafe { libc::mincore(first as *mut libc::c_void, pages * PAGE, vec.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore: {}", std::io::Error::last_os_error());
        vec.iter().filter(|&&b| b & 1 == 1).count() * PAGE
    }

    #[test]
    fn touching_the_spare_capacity_maps_it_and_stores_nothing() {
        const MIB: usize = 1 << 20;
        // 64 MiB, of which only the first element is written.
        let mut v: Vec<u64> = Vec::with_capacity(8 * MIB);
        v.push(7);
        let (at, len) = (v.as_ptr() as usize, v.capacity() * 8);
        let before = resident(at, len);
        assert!(
            before < 32 * MIB,
            "untouched capacity resident already: {before} bytes"
        );
        touch_spare(&mut v);
        let after = resident(at, len);
        assert!(after >= 63 * MIB, "only {after} of 64 MiB resident");
        assert_eq!((v.len(), v[0]), (1, 7));
        assert_eq!(v.capacity(), 8 * MIB);
        // Zero-sized elements have no pages (and a capacity of usize::MAX).
        let mut units: Vec<()> = Vec::new();
        touch_spare(&mut units);
        assert!(units.is_empty());
    }

    #[test]
    fn large_zeroed_and_grown_blocks_are_advised() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            eprintln!("no transparent huge pages in this kernel: the advice is ignored here");
            return;
        }
        let a = HugePageAdvice;
        let large = Layout::from_size_align(THRESHOLD, 8).unwrap();
        let grown = Layout::from_size_align(64 << 10, 8).unwrap();
        // SAFETY: the layouts are non-zero; every block is freed with its layout.
        unsafe {
            let p = a.alloc(large);
            assert!(!p.is_null());
            let (first, _) = whole_pages(p as usize, THRESHOLD).unwrap();
            let flags = vm_flags(first).unwrap();
            assert!(flags.split(' ').any(|f| f == "hg"), "{flags}");
            p.write_bytes(1, THRESHOLD);
            a.dealloc(p, large);

            let z = a.alloc_zeroed(large);
            assert!(!z.is_null());
            let (first, _) = whole_pages(z as usize, THRESHOLD).unwrap();
            let flags = vm_flags(first).unwrap();
            assert!(flags.split(' ').any(|f| f == "hg"), "zeroed: {flags}");
            assert_eq!(*z.add(THRESHOLD - 1), 0);
            a.dealloc(z, large);

            let q = a.alloc(grown);
            assert!(!q.is_null());
            let q = a.realloc(q, grown, 2 * THRESHOLD);
            assert!(!q.is_null());
            let (first, _) = whole_pages(q as usize, 2 * THRESHOLD).unwrap();
            let flags = vm_flags(first).unwrap();
            assert!(
                flags.split(' ').any(|f| f == "hg"),
                "after realloc: {flags}"
            );
            a.dealloc(q, Layout::from_size_align(2 * THRESHOLD, 8).unwrap());
        }
    }
}
