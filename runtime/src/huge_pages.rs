//! The huge-page advisor sockc gives the compiler
//! (`sockc_compiler::huge_pages::set_advisor`), also used for the store's large
//! buffers: `madvise(MADV_HUGEPAGE)` over the whole huge pages within a buffer, on a
//! system whose transparent huge pages are `madvise` (given to the regions that ask).
//!
//! Invariant: only ever advice. mimalloc, built without huge pages, turns them off
//! for the process; [`advise`] turns them back on only in `madvise` mode, where no
//! region gets them without asking, so the allocator's own memory (and small
//! commands' peak memory) stays as it was. Anywhere else (`always`, `never`, no such
//! file) nothing changes.

use std::sync::OnceLock;

/// The size of a transparent huge page (x86-64, and arm64 with 4 KiB pages).
const HUGE: usize = 2 << 20;

/// Asks the kernel to back `start..start + len` with huge pages when they are first
/// touched; nothing on a system that does not give huge pages on request
/// ([`enabled`]). The range is widened to whole huge pages: a buffer is rarely aligned
/// to one, and its first and last pages would otherwise be faulted 4 KiB at a time
/// (a 7 MB buffer may hold as few as two aligned huge pages). What shares those pages
/// is advised too; a page already touched in part keeps its size.
pub fn advise(start: usize, len: usize) {
    let (lo, hi) = (
        start & !(HUGE - 1),
        start.saturating_add(len).next_multiple_of(HUGE),
    );
    if hi <= lo || !enabled() {
        return;
    }
    // SAFETY: MADV_HUGEPAGE only marks the range's mappings; it never changes what
    // the memory holds, and on a range that is not mapped the kernel refuses it
    // (ENOMEM), which changes nothing either.
    unsafe {
        libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
    }
}

/// [`advise`] of the capacity of `v`, for the store's own buffers.
pub(crate) fn advise_vec<T>(v: &Vec<T>) {
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes >= sockc_compiler::huge_pages::FROM {
        advise(v.as_ptr() as usize, bytes);
    }
}

/// Whether this process may get huge pages for the regions it advises: the system's
/// mode is `madvise`, and the process's own switch (which mimalloc turns off) is
/// turned back on, once.
fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        if !mode.is_ok_and(|m| m.contains("[madvise]")) {
            return false;
        }
        // SAFETY: PR_SET_THP_DISABLE takes integers only.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0) == 0 }
    })
}
