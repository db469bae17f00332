//! The process's memory and its end: the allocator (mimalloc, its blocks of 4 to 64
//! KiB placed where larger ones go, [`Placed`], and asked for through its plain calls
//! where they align enough, [`plain`]), glibc's own arenas kept to one,
//! handing freed pages back to the kernel between an apply's stages, and ending a
//! command at once when its work is done and written. Invariant: every block is
//! mimalloc's, at least as large as asked and as aligned; placing changes only which
//! of its pages a block lies in.
//!
//! A 100k-rule compile allocates millions of small objects: with mimalloc (its v2,
//! which keeps fewer pages than v3) the whole `sockc compile` of acl1_100000 took
//! ~25% less time than with glibc's malloc (bench/RESULTS.md, "Compile time").
//! Built with `no_thp`: mimalloc otherwise asks for transparent huge pages on its 1 GiB
//! arena (`MADV_HUGEPAGE`), so the first touch of every 2 MiB zeroes and keeps a whole
//! huge page: 17.8 MB peak RSS for a 3-rule `apply` (14.6 MB without), 54 MB at 10k
//! rules (39 MB), and 40-60% of a 100k apply's CPU samples in `clear_page`. The price:
//! 4 KiB faults instead of 2 MiB ones, ~12k more at 10k rules, about +25 ms of CPU there.

use std::{
    alloc::{GlobalAlloc, Layout},
    io::Write,
    sync::atomic::{AtomicBool, Ordering},
};

// Linked for the calls of `mi` below (the crate's own `GlobalAlloc` is not used outside tests).
use mimalloc as _;

#[global_allocator]
static ALLOC: Placed = Placed;

/// mimalloc, with blocks of 4 to 64 KiB placed where larger ones go while freed
/// pages are kept ([`PLACING`]).
///
/// mimalloc keeps blocks up to 64 KiB in pages of their size class, and starting a
/// class of blocks of 4 KiB or more writes the first word of four of them: four pages
/// touched, for one block used. A command allocates blocks of many such sizes once
/// each (a `Vec` grown by doubling passes through all of them), and each class's pages
/// serve no other size. Placed instead where blocks over 64 KiB go — a page of its
/// own, of which only what is written is touched, and which any size reuses once
/// freed — the 1k re-apply touched 770 → 616 pages (docs/benchmarks.md, "The 1k
/// re-apply's heap, fifteenth pass").
struct Placed;

/// Whether blocks of 4 to 64 KiB are placed ([`Placed`]): until [`purge_at_once`],
/// which hands every freed page back at once (then a placed block's page would be
/// handed back at each free and faulted in again at the next allocation: a first
/// apply of acl1_100000 took 212 → 241 ms of CPU with 2,400 more faults).
static PLACING: AtomicBool = AtomicBool::new(true);

/// A block of at least this size (`MI_MAX_EXTEND_SIZE`) in mimalloc's own size classes
/// starts its class with the first words of four blocks written.
const MEDIUM_FROM: usize = 4 << 10;
/// mimalloc v2's largest block of a size class (`MI_MEDIUM_OBJ_SIZE_MAX`); larger ones
/// get a page of their own.
const MEDIUM_UP_TO: usize = 64 << 10;

/// The size mimalloc is asked for, for a block of `size` bytes. Either answer is safe
/// for any block whenever asked ([`PLACING`] may change between its allocation and its
/// free): mimalloc frees a block whatever its size.
fn placed(size: usize) -> usize {
    match size {
        MEDIUM_FROM..=MEDIUM_UP_TO if PLACING.load(Ordering::Relaxed) => MEDIUM_UP_TO + 1,
        _ => size,
    }
}

// SAFETY: mimalloc is asked for blocks no smaller than the layouts and with their
// alignments (a layout's size rounded up to its alignment cannot overflow `isize`,
// and `placed` only rounds sizes far below that); what is freed is what it gave.
unsafe impl GlobalAlloc for Placed {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        unsafe { malloc(placed(l.size()), l.align()) }
    }

    /// Zeroes only the bytes asked for: all of a placed block would touch every page.
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if placed(l.size()) == l.size() {
            return unsafe { zalloc(l.size(), l.align()) };
        }
        let p = unsafe { self.alloc(l) };
        if !p.is_null() {
            unsafe { p.write_bytes(0, l.size()) };
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, _: Layout) {
        // SAFETY: `p` is a block mimalloc gave, not yet freed (the caller's contract).
        unsafe { mi::mi_free(p) }
    }

    /// Into or out of a placed block, copies only the bytes in use: mimalloc copies
    /// the whole block it gave (64 KiB: sixteen pages touched for a few KiB in use).
    unsafe fn realloc(&self, p: *mut u8, l: Layout, size: usize) -> *mut u8 {
        let (from, to) = (placed(l.size()), placed(size));
        if (from == l.size() && to == size) || from == to {
            return unsafe { realloc(p, to, l.align()) };
        }
        let q = unsafe { self.alloc(Layout::from_size_align_unchecked(size, l.align())) };
        if !q.is_null() {
            unsafe {
                q.copy_from_nonoverlapping(p, l.size().min(size));
                self.dealloc(p, l);
            }
        }
        q
    }
}

/// The alignment every block of mimalloc's plain `mi_malloc` has, at least, when it is
/// no larger than the block (`MI_MAX_ALIGN_SIZE`, as `max_align_t`'s): a block of 8
/// bytes or less is aligned to 8 only.
const PLAIN_ALIGN: usize = 16;

/// Whether a block of `size` bytes aligned to `align` is asked of mimalloc's plain
/// calls: their fast path is a few instructions, where the aligned ones (which the
/// `mimalloc` crate's `GlobalAlloc` always calls) go through three more functions and,
/// above 1 KiB, a generic path (about 40 instructions a call against 15 at 1k rules).
fn plain(size: usize, align: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

/// A block of `size` bytes aligned to `align` (a power of two), or null.
unsafe fn malloc(size: usize, align: usize) -> *mut u8 {
    // SAFETY: mimalloc's allocation calls take no pointers; a plain block is aligned
    // enough (`plain`).
    unsafe {
        match plain(size, align) {
            true => mi::mi_malloc(size),
            false => mi::mi_malloc_aligned(size, align),
        }
    }
}

/// [`malloc`], zeroed.
unsafe fn zalloc(size: usize, align: usize) -> *mut u8 {
    // SAFETY: as `malloc`'s.
    unsafe {
        match plain(size, align) {
            true => mi::mi_zalloc(size),
            false => mi::mi_zalloc_aligned(size, align),
        }
    }
}

/// Block `p` (aligned to `align`) grown or shrunk to `size` bytes, moved if need be.
unsafe fn realloc(p: *mut u8, size: usize, align: usize) -> *mut u8 {
    // SAFETY: `p` is a live block of mimalloc's aligned to `align` (the caller's).
    unsafe {
        match plain(size, align) {
            true => mi::mi_realloc(p, size),
            false => mi::mi_realloc_aligned(p, size, align),
        }
    }
}

/// The calls of the mimalloc the `mimalloc` crate links in.
mod mi {
    unsafe extern "C" {
        pub fn mi_malloc(size: usize) -> *mut u8;
        pub fn mi_zalloc(size: usize) -> *mut u8;
        pub fn mi_realloc(p: *mut u8, size: usize) -> *mut u8;
        pub fn mi_malloc_aligned(size: usize, align: usize) -> *mut u8;
        pub fn mi_zalloc_aligned(size: usize, align: usize) -> *mut u8;
        pub fn mi_realloc_aligned(p: *mut u8, size: usize, align: usize) -> *mut u8;
        pub fn mi_free(p: *mut u8);
    }
}

/// One arena for glibc's own `malloc` (`M_ARENA_MAX`, 1), which sockc's code does not
/// use (mimalloc is the global allocator) but the C library does, a little: the
/// standard library's thread start asks glibc for the new thread's stack
/// (`pthread_getattr_np`, which allocates), so the first thread spawned made glibc a
/// second arena — a 128 MiB reservation trimmed to 64 MiB (`mmap`, two `munmap`s,
/// `mprotect`) and its first pages — for a few hundred bytes. Called first in `main`,
/// before any thread starts; every thread then shares the main arena (a lock per
/// call, of which a command makes a few per thread).
pub fn one_glibc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of glibc's malloc; it takes no pointers.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands the pages of memory freed so far back to the kernel at once (mimalloc's
/// `mi_collect`). `apply` calls it between compiling and installing, but for a
/// re-apply of a file compiled fitted (`commands::apply`): a first install's peak is
/// in the install, which then starts without the pages the parse and the optimizer
/// freed (about 2 MB of a 10k-rule apply's 32 MB peak, for no measurable CPU); and
/// again before loading and attaching a new generation
/// (`ApplyRequest::release_freed_memory`), without the buffers of the records just
/// written.
pub fn release_freed_memory() {
    unsafe extern "C" {
        fn mi_collect(force: bool);
    }
    let _t = sockc_runtime::stages::stage("hand freed memory back");
    // SAFETY: `mi_collect` is part of the mimalloc linked in as the global allocator
    // above; it takes no pointers and may be called at any time, from any thread.
    unsafe { mi_collect(true) }
}

/// From now on, hands pages back to the kernel as soon as they are free, not 10 ms
/// later (mimalloc's `purge_delay`, 0). `apply` calls it before compiling a first
/// install or a dry run (not a re-apply, which would fault them in again): the pages
/// sema and the classifier's trie builds free are otherwise still held when the
/// compile's end, its peak, is reached (a first apply of acl1_100000: 78 → 73 MiB
/// peak RSS, 10k 21.2 → 18.9 MiB, the same CPU time within the runs' spread).
pub fn purge_at_once() {
    unsafe extern "C" {
        fn mi_option_set(option: libc::c_int, value: libc::c_long);
    }
    /// `mi_option_purge_delay` in mimalloc v2's `mi_option_t`.
    const PURGE_DELAY: libc::c_int = 15;
    PLACING.store(false, Ordering::Relaxed);
    // SAFETY: `mi_option_set` belongs to the mimalloc linked in as the global
    // allocator above; it takes no pointers, and an option may be set at any time.
    unsafe { mi_option_set(PURGE_DELAY, 0) }
}

/// Ends the process at once, with `code`, once stdout is flushed: no destructors and
/// no exit handlers (mimalloc's returns every page to the kernel one `madvise` at a
/// time). Only for a command whose work is done and written. A flush that fails ends
/// it as any failed write to standard output does (`stdout::failed`), not with `code`.
pub fn exit_now(code: i32) -> ! {
    if let Err(e) = std::io::stdout().flush() {
        super::stdout::failed(&e)
    }
    // SAFETY: _exit has no preconditions; nothing is left to run or write.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod placed_tests {
    use super::{MEDIUM_FROM, MEDIUM_UP_TO, PLACING};
    use mimalloc::MiMalloc;
    use std::{
        alloc::{GlobalAlloc, Layout},
        sync::atomic::Ordering,
    };

    /// Page faults of this thread so far.
    fn faults() -> i64 {
        // SAFETY: getrusage writes one `rusage` into the zeroed value it is given.
        unsafe {
            let mut u: libc::rusage = std::mem::zeroed();
            assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut u), 0);
            u.ru_minflt
        }
    }

    /// Pages first touched by allocating a block of each size in `sizes` from `alloc`
    /// and writing its first byte (the blocks kept until all are made).
    fn touched(alloc: &dyn GlobalAlloc, sizes: &[usize]) -> i64 {
        let before = faults();
        let blocks: Vec<(*mut u8, Layout)> = sizes
            .iter()
            .map(|&n| {
                let l = Layout::from_size_align(n, 8).unwrap();
                // SAFETY: a layout of a non-zero size; the block is written within it.
                let p = unsafe { alloc.alloc(l) };
                assert!(!p.is_null());
                unsafe { p.write(1) };
                (p, l)
            })
            .collect();
        let after = faults();
        for (p, l) in blocks {
            // SAFETY: freed once, by the allocator that gave it, with its layout.
            unsafe { alloc.dealloc(p, l) };
        }
        after - before
    }

    /// Blocks of a dozen sizes from 5 to 60 KiB, each of another mimalloc size class
    /// and one byte of each written, touch a page each placed, about four in
    /// mimalloc's own classes (which write the first word of four blocks as a class
    /// starts). On a thread of its own: a fresh mimalloc heap, faults counted per
    /// thread.
    #[test]
    fn placed_medium_blocks_touch_only_what_is_written() {
        assert!(
            PLACING.load(Ordering::Relaxed),
            "no test hands freed pages back"
        );
        let (placed, classed) = std::thread::spawn(|| {
            let sizes =
                |off: usize| -> Vec<usize> { (1..=12).map(|i| i * (5 << 10) - off).collect() };
            (
                touched(&super::Placed, &sizes(8)),
                touched(&MiMalloc, &sizes(2 << 10)),
            )
        })
        .join()
        .unwrap();
        assert!(
            placed + 12 <= classed,
            "12 blocks touched {placed} pages placed, {classed} in size classes"
        );
    }

    /// A placed block keeps its bytes as it grows through and past the placed sizes,
    /// and shrinks back; one zeroed is zero where a freed one held other bytes.
    #[test]
    fn placed_blocks_keep_their_bytes() {
        let mut v: Vec<u32> = Vec::new();
        for i in 0..60_000u32 {
            v.push(i.wrapping_mul(2_654_435_761));
        }
        v.truncate(1_500);
        v.shrink_to_fit();
        v.truncate(300);
        v.shrink_to_fit();
        assert!(v
            .iter()
            .enumerate()
            .all(|(i, &x)| x == (i as u32).wrapping_mul(2_654_435_761)));
        for n in [MEDIUM_FROM, 20_000, MEDIUM_UP_TO] {
            drop(vec![0xffu8; n]);
            let z = vec![0u8; n];
            assert!(z.iter().all(|&b| b == 0), "a zeroed block of {n} bytes");
        }
    }
}

#[cfg(test)]
mod plain_tests {
    use std::alloc::{GlobalAlloc, Layout};

    /// Every block, from the plain calls or the aligned ones, is as aligned as its
    /// layout asks, through `alloc`, `alloc_zeroed` and `realloc` (grown and shrunk),
    /// and a grown or shrunk block keeps its bytes. Sizes 1 to 80 and around the placed
    /// sizes, alignments 1 to 64; the blocks are kept until all are made, so that they
    /// lie at many addresses (a block of 8 bytes asked for 16-aligned lies at an 8-aligned
    /// address half the time from the plain calls).
    #[test]
    fn blocks_are_as_aligned_as_asked() {
        let a = super::Placed;
        let sizes = (1..=80).chain([1023, 1025, 4096, 5000, 65_536, 70_000]);
        let mut blocks = Vec::new();
        for size in sizes {
            for align in [1, 2, 4, 8, 16, 32, 64] {
                let l = Layout::from_size_align(size, align).unwrap();
                for zeroed in [false, true] {
                    // SAFETY: a layout of a non-zero size; freed below with it.
                    let p = unsafe {
                        if zeroed {
                            a.alloc_zeroed(l)
                        } else {
                            a.alloc(l)
                        }
                    };
                    assert!(
                        !p.is_null() && (p as usize).is_multiple_of(align),
                        "{size} {align}"
                    );
                    // SAFETY: within the block's `size` bytes.
                    unsafe { p.write_bytes(size as u8, size) };
                    blocks.push((p, l));
                }
            }
        }
        for (p, l) in blocks.iter_mut() {
            let byte = l.size() as u8;
            for size in [l.size() * 3 + 5, (l.size() / 2).max(1)] {
                let keep = size.min(l.size());
                // SAFETY: a live block of layout `l`, resized to a non-zero size.
                let q = unsafe { a.realloc(*p, *l, size) };
                assert!(!q.is_null() && (q as usize).is_multiple_of(l.align()));
                // SAFETY: the first `keep` bytes are the block's, kept by realloc; then
                // all of its `size` bytes are written.
                unsafe {
                    let kept = std::slice::from_raw_parts(q, keep);
                    assert!(kept.iter().all(|&b| b == byte));
                    q.write_bytes(byte, size);
                }
                *l = Layout::from_size_align(size, l.align()).unwrap();
                *p = q;
            }
        }
        for (p, l) in blocks {
            // SAFETY: freed once, with its layout.
            unsafe { a.dealloc(p, l) };
        }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// glibc's arenas (`<heap nr=…>` in `malloc_info`'s report).
    fn glibc_arenas() -> usize {
        let (mut buf, mut len) = (std::ptr::null_mut(), 0);
        // SAFETY: open_memstream allocates the buffer it reports in buf/len, written
        // and NUL-terminated when the stream is closed; both are valid until freed.
        let report = unsafe {
            let f = libc::open_memstream(&mut buf, &mut len);
            assert!(!f.is_null());
            libc::malloc_info(0, f);
            libc::fclose(f);
            let s = std::ffi::CStr::from_ptr(buf).to_string_lossy().into_owned();
            libc::free(buf.cast());
            s
        };
        report.matches("<heap nr=").count()
    }

    /// With one arena asked for, threads alive at once (each made glibc allocate as
    /// it started) add no arena; without it, each would take one of its own.
    #[test]
    fn threads_started_after_one_glibc_arena_share_it() {
        super::one_glibc_arena();
        let before = glibc_arenas();
        let n = 12;
        let all_started = std::sync::Barrier::new(n + 1);
        std::thread::scope(|s| {
            for _ in 0..n {
                s.spawn(|| {
                    // SAFETY: a small block allocated and freed by glibc's malloc.
                    unsafe { libc::free(libc::malloc(64)) };
                    all_started.wait();
                });
            }
            all_started.wait();
            assert_eq!(glibc_arenas(), before, "threads alive at once took arenas");
        });
    }
}
