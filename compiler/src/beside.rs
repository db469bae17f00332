//! Work handed to a second thread: [`beside`] starts it on a thread of a scope, or runs
//! it on the calling thread when the system will not start one (a thread limit), so
//! work split this way (the compile's, the runtime's plan) is slower then, never
//! refused. [`join`] runs one piece of work beside another on the process's one
//! worker thread, started at its first use and kept (a rayon pool of one thread), when
//! that worker is idle and shares the caller's network namespace, else as [`beside`]
//! does: a re-apply's short pieces of work beside (the trie's second half, the garbage
//! collection beside the plan, the table write beside the journal) then cost one thread
//! start, one stack and one heap of fresh pages between them instead of one each.
//! A thread that [`keep_to_this_thread`] marks runs what it would hand beside itself,
//! in turn: for a small input the second thread costs more than it saves (its start,
//! its heap's first pages, and a TLB shootdown on the other core at every unmap
//! after: the 1k re-apply ran 0.2-0.3 ms faster on one thread, docs/benchmarks.md,
//! "The 1k re-apply, fourteenth pass").
//! Invariant: the work runs exactly once, and its result (or its panic) comes back
//! through [`Beside::join`] or [`join`]; the worker runs one piece at a time and never
//! queues work behind a piece it is busy with (the caller starts a thread instead), so
//! no work waits for another caller's; work run on the worker leaves its network
//! namespace as it found it.

use std::{
    cell::Cell,
    sync::{
        atomic::{AtomicBool, Ordering},
        OnceLock,
    },
};

thread_local! {
    /// This thread runs its work beside in turn ([`keep_to_this_thread`]).
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

/// From now on, the work this thread hands beside ([`beside`], [`join`]) runs on it,
/// in turn, and starts no thread: for a command whose input is small (see the module
/// docs). Other threads are not changed.
pub fn keep_to_this_thread() {
    ALONE.with(|a| a.set(true));
}

/// Whether this thread runs its work beside in turn ([`keep_to_this_thread`]).
pub fn alone() -> bool {
    ALONE.with(Cell::get)
}

/// Work started by [`beside`]: on a thread, or already done here.
pub enum Beside<'scope, T> {
    Thread(std::thread::ScopedJoinHandle<'scope, T>),
    Done(T),
}

impl<T> Beside<'_, T> {
    /// Its result (a panic on the thread goes on here).
    pub fn join(self) -> T {
        match self {
            Beside::Thread(h) => h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Beside::Done(t) => t,
        }
    }
}

/// Starts `f` on a thread of the scope, or runs it here when the system will not
/// start one (a thread limit: the compile is slower then, never refused) or this
/// thread keeps to itself ([`keep_to_this_thread`]).
pub fn beside<'scope, T, F>(s: &'scope std::thread::Scope<'scope, '_>, f: F) -> Beside<'scope, T>
where
    T: Send + 'scope,
    F: FnOnce() -> T + Send + 'scope,
{
    if alone() {
        return Beside::Done(f());
    }
    on_a_thread(s, f)
}

/// [`beside`], on a thread even where this thread keeps to itself: for work whose
/// caller knows it is worth one whatever the command's input (a plan against a large
/// installed generation, which a small rule file says nothing of).
pub fn on_a_thread<'scope, T, F>(
    s: &'scope std::thread::Scope<'scope, '_>,
    f: F,
) -> Beside<'scope, T>
where
    T: Send + 'scope,
    F: FnOnce() -> T + Send + 'scope,
{
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(f)));
    let theirs = std::sync::Arc::clone(&slot);
    let started = std::thread::Builder::new().spawn_scoped(s, move || {
        let f = theirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("taken once");
        f()
    });
    match started {
        Ok(h) => Beside::Thread(h),
        Err(_) => {
            let f = slot
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("the thread never started");
            Beside::Done(f())
        }
    }
}

/// `first` beside `then` (on the process's worker when it is idle and in the calling
/// thread's network namespace, else on a thread of its own as [`beside`] starts it;
/// `first` then `then` here when this thread keeps to itself), both results; a panic
/// of either goes on here once both are done.
pub fn join<A: Send, B>(first: impl FnOnce() -> A + Send, then: impl FnOnce() -> B) -> (A, B) {
    if alone() {
        let a = first();
        return (a, then());
    }
    let Some(worker) = Worker::idle() else {
        return std::thread::scope(|s| {
            let a = beside(s, first);
            let b = then();
            (a.join(), b)
        });
    };
    let mut a = None;
    let b = worker.pool.in_place_scope(|s| {
        let a = &mut a;
        s.spawn(move |_| {
            let _idle_after = Claimed(worker);
            *a = Some(first());
        });
        then()
    });
    (a.expect("the scope ends after its work"), b)
}

/// Starts the process's worker from the calling thread, in its network namespace,
/// unless it is started already. The worker stays in the namespace it starts in for
/// the life of the process, holding it (and its interfaces) alive: a long-lived process
/// that enters installs' namespaces (the node agent, `sockc watch`) calls this first, so
/// its worker lives where the process does, never in a namespace someone may delete.
pub fn start_worker_here() {
    if let Some(here) = netns_here() {
        WORKER.get_or_init(|| Worker::start(here));
    }
}

/// The process's one worker thread, reused by [`join`]: a thread costs its start, a
/// stack, a `sigaltstack` mapping and a heap of fresh pages (20-80 µs of the thread
/// that starts it, docs/benchmarks.md, "The 1k re-apply, thirteenth pass").
struct Worker {
    pool: rayon_core::ThreadPool,
    /// A piece of work was handed to it and has not ended: the next caller starts a
    /// thread of its own rather than wait.
    busy: AtomicBool,
    /// Its network namespace's inode: the one of the thread that started it, which
    /// it never leaves (namespaces are per thread; the runtime enters an install's).
    netns: u64,
}

static WORKER: OnceLock<Option<Worker>> = OnceLock::new();

impl Worker {
    /// The worker (started at the first call), claimed for one piece of work, when it
    /// is idle and in the calling thread's network namespace; `None` otherwise, also
    /// where no thread starts or `/proc` is not there to tell the namespace.
    fn idle() -> Option<&'static Worker> {
        let here = netns_here()?;
        let worker = WORKER.get_or_init(|| Worker::start(here)).as_ref()?;
        let free = worker.netns == here
            && worker
                .busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
        free.then_some(worker)
    }

    /// A pool of one thread, started from this thread (so in its namespaces).
    fn start(netns: u64) -> Option<Worker> {
        let pool = rayon_core::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "beside".into())
            .build()
            .ok()?;
        Some(Worker {
            pool,
            busy: AtomicBool::new(false),
            netns,
        })
    }
}

/// The worker claimed by [`Worker::idle`], released when its piece of work ends
/// (returned or unwound).
struct Claimed(&'static Worker);

impl Drop for Claimed {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

/// The calling thread's network namespace's inode.
fn netns_here() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net")
        .ok()
        .map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{sync::mpsc, thread, time::Duration};

    fn on() -> thread::ThreadId {
        thread::current().id()
    }

    /// Runs `f` on a thread of its own, so that no other test's work holds the worker
    /// between its joins for long (each join claims it only while its work runs).
    fn joins_until_reused() -> (thread::ThreadId, thread::ThreadId) {
        // Another test may hold the worker for a moment: ask a few times.
        let mut last = (on(), on());
        for _ in 0..200 {
            let (first, _) = join(on, || ());
            let (second, _) = join(on, || ());
            if first == second {
                return (first, second);
            }
            last = (first, second);
            thread::sleep(Duration::from_millis(5));
        }
        last
    }

    #[test]
    fn the_first_runs_on_another_thread_and_both_results_come_back() {
        let here = on();
        let (a, b) = join(|| (on(), 1), || (on(), "two"));
        assert_ne!(a.0, here);
        assert_eq!((a.1, b), (1, (here, "two")));
    }

    #[test]
    fn two_joins_in_turn_run_their_work_on_the_same_worker() {
        let (first, second) = joins_until_reused();
        assert_ne!(first, on());
        assert_eq!(
            first, second,
            "the worker is reused, not a thread started each time"
        );
    }

    #[test]
    fn work_never_waits_for_the_worker_it_finds_busy() {
        let (release, wait) = mpsc::channel::<()>();
        let (started, started_rx) = mpsc::channel();
        let holder = thread::spawn(move || {
            // Claims the worker (when idle) and holds it until released.
            join(
                move || {
                    started.send(on()).unwrap();
                    let held = wait.recv_timeout(Duration::from_secs(20)).is_err();
                    assert!(!held, "the worker was held for 20 s");
                },
                || (),
            )
        });
        let holding = started_rx.recv().unwrap();
        // While the worker (or the thread its caller fell back to) is held, another
        // join still runs its work, on yet another thread.
        let (a, _) = join(on, || ());
        assert_ne!(a, holding);
        release.send(()).unwrap();
        holder.join().unwrap();
    }

    #[test]
    fn a_thread_that_keeps_to_itself_runs_its_work_in_turn_and_others_do_not() {
        let (ran, results) = thread::spawn(|| {
            keep_to_this_thread();
            let order = std::sync::Mutex::new(Vec::new());
            let (a, b) = join(
                || {
                    order.lock().unwrap().push("first");
                    on()
                },
                || {
                    order.lock().unwrap().push("then");
                    on()
                },
            );
            let c = std::thread::scope(|s| beside(s, on).join());
            // Unless asked for a thread whatever the mark (review h65).
            let d = std::thread::scope(|s| on_a_thread(s, on).join());
            assert_ne!(d, on(), "on_a_thread ran here");
            (order.into_inner().unwrap(), [a, b, c, on()])
        })
        .join()
        .unwrap();
        assert_eq!(ran, ["first", "then"]);
        assert!(results.iter().all(|t| *t == results[3]), "{results:?}");
        // The mark is this thread's: another still hands its work to a thread.
        let (a, _) = join(on, || ());
        assert_ne!(a, on());
    }

    #[test]
    fn a_panic_of_the_work_comes_back_and_the_worker_is_free_after_it() {
        let caught = std::panic::catch_unwind(|| join(|| panic!("on the worker"), || 2));
        assert!(caught.is_err());
        let caught = std::panic::catch_unwind(|| join(|| 1, || panic!("here")));
        assert!(caught.is_err());
        let (first, second) = joins_until_reused();
        assert_eq!(first, second, "the worker was left claimed");
    }
}
