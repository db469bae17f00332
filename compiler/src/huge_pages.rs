//! Large buffers backed by transparent huge pages where the program that runs the
//! compiler can ask for them. A set file of a million addresses fills buffers of
//! megabytes (its text, its keys, their sort, its map entries), and faulting those in
//! 4 KiB at a time was a quarter of the CPU time of a one-element set update: a fault
//! per page, each with its memory-cgroup charge. Advised, each 2 MiB of a buffer is
//! one fault.
//!
//! The advice itself is a system call this crate does not make (it has no `unsafe`):
//! the program gives it an advisor once ([`set_advisor`]; sockc's is
//! `sockc_runtime::huge_pages::advise`), and without one [`advise`] does nothing.
//! Invariant: only buffers of at least [`FROM`] bytes, about to be filled, are
//! advised; advice never changes what a buffer holds.

use std::sync::OnceLock;

/// Bytes of a buffer from which [`advise`] asks for huge pages: two of them.
pub const FROM: usize = 4 << 20;

/// What asks the kernel for huge pages for the bytes `start..start + len` of this
/// process's memory.
pub type Advisor = fn(start: usize, len: usize);

static ADVISOR: OnceLock<Advisor> = OnceLock::new();

/// Sets the advisor [`advise`] calls (the first one set stays).
pub fn set_advisor(advisor: Advisor) {
    let _ = ADVISOR.set(advisor);
}

/// Asks for huge pages for the capacity of `v` when it is at least [`FROM`] bytes
/// and an advisor is set; to be called before the buffer is filled (pages already
/// touched keep their size).
pub fn advise<T>(v: &Vec<T>) {
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes >= FROM {
        if let Some(advisor) = ADVISOR.get() {
            advisor(v.as_ptr() as usize, bytes);
        }
    }
}
