//! glibc's `log` and `pow`, the only functions of `libm.so.6` the binary calls (the
//! benchmark's log-scale plots, the spinner's rate estimate), taken from that library
//! when first called instead of loading it at every start: defined here, the two
//! symbols leave the binary nothing to take from libm, so the linker (`--as-needed`)
//! drops it from `NEEDED`. Every command then starts without the loader opening,
//! mapping and relocating a library it does not use (~0.05 ms and ~10 page faults
//! of each process, docs/benchmarks.md, "The process's start and end").
//!
//! Invariant: the answers are glibc's own, bit for bit — the same versioned symbols
//! (`GLIBC_2.29`, what the linker bound before) looked up in the same library with
//! `dlvsym`, which picks the same CPU-specific variant as the loader would.
//! Built only for x86_64 glibc linked dynamically (`shared/mod.rs`), where that
//! version exists; any other build links libm as before.

use std::{
    ffi::{c_void, CStr},
    sync::OnceLock,
};

/// The symbol version the binary linked against (`nm -D`: `log@GLIBC_2.29`).
const VERSION: &CStr = c"GLIBC_2.29";

/// The address of libm's `name` (version [`VERSION`]), the library opened once.
/// Aborts when either is missing: libm is part of glibc, so that is a broken system.
fn libm_symbol(name: &CStr) -> *mut c_void {
    static LIBM: OnceLock<usize> = OnceLock::new();
    // SAFETY: dlopen takes a NUL-terminated name; libm's constructors are glibc's.
    let handle = *LIBM.get_or_init(|| unsafe {
        libc::dlopen(c"libm.so.6".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) as usize
    });
    let f = if handle == 0 {
        std::ptr::null_mut()
    } else {
        // SAFETY: a live handle (never closed) and NUL-terminated names.
        unsafe { libc::dlvsym(handle as *mut c_void, name.as_ptr(), VERSION.as_ptr()) }
    };
    if f.is_null() {
        eprintln!("sockc: cannot load {name:?} from libm.so.6");
        std::process::abort();
    }
    f
}

/// glibc's `log`, the natural logarithm (what `f64::ln` calls).
#[unsafe(no_mangle)]
pub extern "C" fn log(x: f64) -> f64 {
    static F: OnceLock<unsafe extern "C" fn(f64) -> f64> = OnceLock::new();
    // SAFETY: libm's `log` has this signature.
    let f = F.get_or_init(|| unsafe { std::mem::transmute(libm_symbol(c"log")) });
    // SAFETY: a pure function of its argument.
    unsafe { f(x) }
}

/// glibc's `pow` (what `f64::powf` calls).
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    static F: OnceLock<unsafe extern "C" fn(f64, f64) -> f64> = OnceLock::new();
    // SAFETY: libm's `pow` has this signature.
    let f = F.get_or_init(|| unsafe { std::mem::transmute(libm_symbol(c"pow")) });
    // SAFETY: a pure function of its arguments.
    unsafe { f(x, y) }
}

#[cfg(test)]
mod tests {
    /// The answers are libm's: compared bit for bit with the library's functions
    /// called through a handle of their own, on arguments where a less careful
    /// implementation rounds differently. Also fails when a definition calls itself
    /// (the test would overflow its stack) or another function.
    #[test]
    fn log_and_pow_are_libms() {
        // SAFETY: names NUL-terminated; the handle stays open for the test.
        let (log, pow) = unsafe {
            let h = libc::dlopen(c"libm.so.6".as_ptr(), libc::RTLD_NOW);
            assert!(!h.is_null());
            let log = libc::dlvsym(h, c"log".as_ptr(), c"GLIBC_2.29".as_ptr());
            let pow = libc::dlvsym(h, c"pow".as_ptr(), c"GLIBC_2.29".as_ptr());
            assert!(!log.is_null() && !pow.is_null());
            (
                std::mem::transmute::<*mut libc::c_void, extern "C" fn(f64) -> f64>(log),
                std::mem::transmute::<*mut libc::c_void, extern "C" fn(f64, f64) -> f64>(pow),
            )
        };
        let mut x = 1.0e-300_f64;
        while x < 1.0e300 {
            assert_eq!(super::log(x).to_bits(), log(x).to_bits(), "log({x:e})");
            for y in [-3.7, -0.5, 0.1, 0.5, 1.0 / 3.0, 2.0, 7.25] {
                assert_eq!(
                    super::pow(x, y).to_bits(),
                    pow(x, y).to_bits(),
                    "pow({x:e}, {y})"
                );
            }
            x *= 1.37;
        }
        assert!(super::log(-1.0).is_nan() && super::log(0.0) == f64::NEG_INFINITY);
        assert_eq!(super::pow(2.0, 10.0), 1024.0);
    }
}
