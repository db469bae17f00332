//! The journal: the record of an install's work in flight, written before the first
//! kernel change of an operation and removed after its last, so that any later sockc
//! finds interrupted work and finishes or undoes it (see [`super::recover`]).
//!
//! Also the fault points: every step that changes kernel or bpffs state calls
//! [`point`] first. Tests set `SOCKC_FAULT_KILL_AT=N` to make the N-th step of a
//! command kill the process (SIGKILL, as `kill -9` would), and
//! `SOCKC_FAULT_TRACE=1` to have each step print `fault point N: WHAT` to stderr, so
//! a test can kill a command at every step in turn. Without those variables a point
//! only counts.

use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use crate::{plan::SetChange, store::Manifest};

/// An install's work in flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub op: Operation,
    pub phase: Phase,
    /// The sockc that wrote it, for messages.
    pub pid: u32,
    pub started_unix: u64,
}

/// What is being done; the committed manifest (if any) is where it started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Bring the install to `target`: a new generation (its objects in
    /// `target.objects_dir`), or the committed one with its hooks re-attached.
    Apply { target: Box<Manifest> },
    /// Switch the committed generation's classifier tables in place (when `tables`
    /// is set), change the entries of its set maps, then commit `target`.
    SetUpdate {
        target: Box<Manifest>,
        changes: Vec<SetChange>,
        /// The table half programs walked before the switch: recovery rolls forward
        /// only if the live half is no longer this one (the switch is the update's
        /// one-store last step; the tables themselves are not in the journal, so a
        /// switch that did not happen cannot be redone and is rolled back).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tables_from: Option<u32>,
    },
    /// Take every hook off and remove the install.
    Flush,
}

/// How far an [`Operation::Apply`] got. Recovery rolls back from the first two
/// phases (nothing installed has changed yet, or only hooks the target adds are on)
/// and forward from the last (installed hooks are being swapped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The new generation's objects are being pinned.
    Building,
    /// Hooks the target adds are being attached; installed hooks are untouched.
    Attaching,
    /// Installed hooks are being swapped or re-attached, removed ones detached.
    Swapping,
}

static POINTS: AtomicU32 = AtomicU32::new(0);

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
