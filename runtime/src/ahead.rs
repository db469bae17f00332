//! Work started on another thread before it is needed, its results taken one at a time
//! when they are: the hooks a first install makes ready while its file compiles and its
//! programs are verified (`install::ready_hooks`).
//!
//! Invariant: the first [`Ahead::take`] waits for the thread; each result is taken at
//! most once; what is not taken is dropped with the [`Ahead`] (or, when the thread is
//! still working, when it ends), never waited for.

use std::{
    sync::Mutex,
    thread::{self, JoinHandle},
};

/// Results of type `T`, being made on another thread or made already.
#[derive(Debug)]
pub struct Ahead<T>(Mutex<State<T>>);

/// With the thread until the first [`Ahead::take`] joins it.
#[derive(Debug)]
struct State<T> {
    making: Option<JoinHandle<Vec<T>>>,
    made: Vec<T>,
}

impl<T: Send + 'static> Ahead<T> {
    /// Starts `make` on another thread (which inherits the calling thread's
    /// namespaces).
    pub fn spawn(make: impl FnOnce() -> Vec<T> + Send + 'static) -> Ahead<T> {
        Ahead(Mutex::new(State {
            making: Some(thread::spawn(make)),
            made: Vec::new(),
        }))
    }

    /// Results made already, here (a fault test's order).
    pub fn made(made: Vec<T>) -> Ahead<T> {
        Ahead(Mutex::new(State { making: None, made }))
    }

    /// The first result `wanted` accepts, if any (waiting for the thread the first
    /// time); a result is taken once.
    pub fn take(&self, wanted: impl FnMut(&T) -> bool) -> Option<T> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(thread) = state.making.take() {
            state.made = thread.join().unwrap_or_default();
        }
        let at = state.made.iter().position(wanted)?;
        Some(state.made.swap_remove(at))
    }
}
