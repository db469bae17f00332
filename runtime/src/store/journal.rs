//! The journal record: an install's work in flight, written before the first kernel
//! change of an operation and removed after its last, so that any later sockc finds
//! interrupted work and finishes or undoes it (`crate::install`'s recovery). The store
//! keeps it beside the manifest ([`super::Store::journal`]).
//!
//! Invariant: a journal names the whole target of its operation (the manifest to
//! commit, and for a set update the changes), so recovery needs nothing else to roll
//! forward. The target's map contents and rule text are in bulk records the journal
//! names by digest, written before it (the store's `bulk` module).

use serde::{Deserialize, Serialize};

use super::Manifest;
use crate::plan::SetChange;

/// An install's work in flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub op: Operation,
    pub phase: Phase,
    /// The sockc that wrote it, for messages.
    pub pid: u32,
    pub started_unix: u64,
    /// Interfaces of the target's TC hooks that had no clsact qdisc when the
    /// operation began: a clsact qdisc there now is one sockc made, which goes again
    /// with the last filter (also when a kill kept the filter from being recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qdiscs_absent: Vec<String>,
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

impl Operation {
    /// The manifest the operation commits (none for a flush).
    pub fn target(&self) -> Option<&Manifest> {
        match self {
            Operation::Apply { target } | Operation::SetUpdate { target, .. } => Some(target),
            Operation::Flush => None,
        }
    }

    pub fn target_mut(&mut self) -> Option<&mut Manifest> {
        match self {
            Operation::Apply { target } | Operation::SetUpdate { target, .. } => Some(target),
            Operation::Flush => None,
        }
    }
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
