//! Work handed to a second thread of a scope: [`beside`] starts it there, or runs it
//! on the calling thread when the system will not start one (a thread limit), so work
//! split this way (the compile's, the runtime's plan) is slower then, never refused.
//! Invariant: the work runs exactly once, and its result (or its panic) comes back
//! through [`Beside::join`].

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
/// start one (a thread limit): the compile is slower then, never refused.
pub fn beside<'scope, T, F>(s: &'scope std::thread::Scope<'scope, '_>, f: F) -> Beside<'scope, T>
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
