//! A counting allocator for the fuzz harness: per thread, it tracks the bytes that
//! thread allocated and has not freed, and the peak since the last reset, so each
//! input's memory can be bounded; and it refuses any single allocation above
//! [`HARD_LIMIT`] (saying which input asked for it) instead of letting one runaway
//! input take the machine's memory.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

/// No single allocation of the compiler may be larger than this.
pub const HARD_LIMIT: usize = 512 << 20;

pub struct Counting;

thread_local! {
    // Const-initialized: reading them never allocates.
    static IN_USE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}
thread_local! {
    /// The input this thread runs (for the refusal message): seed and index.
    static CURRENT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Says which input this thread runs now.
pub fn set_current(seed: u64, index: u64) {
    CURRENT.with(|c| c.set((seed, index)));
}

fn add(n: usize) {
    let _ = IN_USE.try_with(|u| {
        let now = u.get() + n as isize;
        u.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn sub(n: usize) {
    let _ = IN_USE.try_with(|u| u.set(u.get() - n as isize));
}

/// Writes `text` to stderr without allocating.
fn say_text(text: &str) {
    // SAFETY: writing an initialized byte buffer to fd 2.
    unsafe { libc::write(2, text.as_ptr().cast(), text.len()) };
}

/// Writes `text` and a number to stderr without allocating.
fn say(text: &str, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // SAFETY: writing initialized byte buffers to fd 2.
    unsafe {
        libc::write(2, text.as_ptr().cast(), text.len());
        libc::write(2, buf[i..].as_ptr().cast(), buf.len() - i);
    }
}

fn refuse(size: usize) {
    let (seed, index) = CURRENT.try_with(Cell::get).unwrap_or_default();
    say("\nfuzz: refused an allocation of ", size as u64);
    say(" bytes at input seed=", seed);
    say(" index=", index);
    say_text("\n");
}

// SAFETY: every method forwards to the system allocator with the same layout; the
// counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_LIMIT {
            refuse(layout.size());
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_LIMIT {
            refuse(layout.size());
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        sub(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_LIMIT {
            refuse(new_size);
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            sub(layout.size());
            add(new_size);
        }
        p
    }
}

/// Bytes this thread allocated and has not freed.
pub fn in_use() -> isize {
    IN_USE.with(Cell::get)
}

/// Starts a new peak measurement of this thread at its current use.
pub fn reset_peak() {
    PEAK.with(|p| p.set(in_use()));
}

/// The most bytes this thread had in use since [`reset_peak`].
pub fn peak() -> isize {
    PEAK.with(Cell::get)
}
