//! The process's memory and its end: the allocator (mimalloc), glibc's own arenas
//! kept to one, handing freed pages back to the kernel between an apply's stages,
//! and ending a command at once when its work is done and written.
//!
//! A 100k-rule compile allocates millions of small objects: with mimalloc (its v2,
//! which keeps fewer pages than v3) the whole `sockc compile` of acl1_100000 took
//! ~25% less time than with glibc's malloc (bench/RESULTS.md, "Compile time").
//! Built with `no_thp`: mimalloc otherwise asks for transparent huge pages on its 1 GiB
//! arena (`MADV_HUGEPAGE`), so the first touch of every 2 MiB zeroes and keeps a whole
//! huge page: 17.8 MB peak RSS for a 3-rule `apply` (14.6 MB without), 54 MB at 10k
//! rules (39 MB), and 40-60% of a 100k apply's CPU samples in `clear_page`. The price:
//! 4 KiB faults instead of 2 MiB ones, ~12k more at 10k rules, about +25 ms of CPU there.

use std::io::Write;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // SAFETY: `mi_option_set` belongs to the mimalloc linked in as the global
    // allocator above; it takes no pointers, and an option may be set at any time.
    unsafe { mi_option_set(PURGE_DELAY, 0) }
}

/// Ends the process at once, with `code`, once stdout is flushed: no destructors and
/// no exit handlers (mimalloc's returns every page to the kernel one `madvise` at a
/// time). Only for a command whose work is done and written.
pub fn exit_now(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    // SAFETY: _exit has no preconditions; nothing is left to run or write.
    unsafe { libc::_exit(code) }
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
