//! Fault points: every step of an install that changes kernel or bpffs state calls
//! [`point`] first — attaching, swapping and detaching hooks, writing map entries,
//! pinning, and each rename and unlink of the store's records and directories. Tests set `SOCKC_FAULT_KILL_AT=N` to make the N-th step of a
//! command kill the process (SIGKILL, as `kill -9` would), and `SOCKC_FAULT_TRACE=1`
//! to have each step print `fault point N: WHAT` to stderr, so a test can kill a
//! command at every step in turn. Without those variables a point only counts.
//!
//! Invariant: the journal ([`crate::store::journal`]) is renamed into place before the
//! first point of an operation that needs recovery, so a kill at any point leaves
//! either nothing that needs it (a half-written record, debris of a first apply that
//! recorded nothing: removed by the next command) or work the journal names, which the
//! next command finishes or undoes.

use std::sync::atomic::{AtomicU32, Ordering};

static POINTS: AtomicU32 = AtomicU32::new(0);

/// Whether a test counts the steps (`SOCKC_FAULT_TRACE` or `SOCKC_FAULT_KILL_AT` is
/// set): work that runs beside other work then runs before it, so that every step has
/// the same number in every run.
pub fn counting() -> bool {
    std::env::var_os("SOCKC_FAULT_TRACE").is_some()
        || std::env::var_os("SOCKC_FAULT_KILL_AT").is_some()
}

/// `first` on another thread beside `then` (the process's worker when it is idle, else
/// a thread of its own, or here when no thread starts: `sockc_compiler::beside::join`),
/// both results; under a fault test ([`counting`]) `first` runs before `then` on this
/// thread, so that every step keeps its number.
pub fn beside_unless_counted<A: Send, B>(
    first: impl FnOnce() -> A + Send,
    then: impl FnOnce() -> B,
) -> (A, B) {
    if counting() {
        let a = first();
        return (a, then());
    }
    sockc_compiler::beside::join(first, then)
}

/// A step that changes kernel or bpffs state is about to happen; see the module docs.
pub fn point(what: &str) {
    let n = POINTS.fetch_add(1, Ordering::Relaxed) + 1;
    if std::env::var_os("SOCKC_FAULT_TRACE").is_some() {
        eprintln!("fault point {n}: {what}");
    }
    if std::env::var("SOCKC_FAULT_KILL_AT").is_ok_and(|v| v.parse() == Ok(n)) {
        eprintln!("fault injection: killed at point {n} ({what})");
        // SAFETY: raise has no preconditions; SIGKILL ends the process here.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn netns_ino() -> u64 {
        use std::os::unix::fs::MetadataExt;
        let ns = std::fs::metadata("/proc/thread-self/ns/net");
        ns.expect("this thread's network namespace").ino()
    }

    /// Work beside runs in the caller's network namespace, where it reads interfaces
    /// (the hooks' states beside the plan): a thread that entered another one does not
    /// hand its work to the process's worker, which stays where it was started. Root
    /// only (unshare).
    #[test]
    fn work_beside_runs_in_the_callers_network_namespace() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert_ne!(
                std::env::var("SOCKC_KERNEL_TESTS").as_deref(),
                Ok("require")
            );
            return;
        }
        let here = netns_ino();
        // The worker exists (started here, unless another test started it first).
        assert_eq!(beside_unless_counted(netns_ino, || ()).0, here);
        std::thread::spawn(move || {
            // SAFETY: unshare changes only this thread's namespace.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            let entered = netns_ino();
            assert_ne!(entered, here);
            for _ in 0..20 {
                let (beside, _) = beside_unless_counted(netns_ino, || ());
                assert_eq!(beside, entered);
            }
        })
        .join()
        .unwrap();
    }
}
