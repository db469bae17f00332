//! sockc-runtime: puts sockc objects into the kernel and keeps them there (aya for
//! maps' typed access; its own `bpf(2)` calls for map creation, loading and attach).
//!
//! [`LoadedObject::load`] creates an object's maps, loads every program through the
//! verifier and fills the maps, in that order, so a program never runs against
//! half-filled maps; it can then run programs on inputs (`BPF_PROG_TEST_RUN`) and read
//! the rule counters. [`install`] keeps a loaded object installed after the CLI
//! exits (attached by [`attach`], recorded in [`store`], planned by [`plan`]).
//! Invariant: on any error nothing stays loaded (all fds are dropped with the value),
//! and the error says what the kernel meant ([`kernel_error`]): missing capabilities
//! are found before the first `bpf(2)` call.
//!
//! This file only declares the modules and re-exports what other crates name from
//! the root; ARCHITECTURE.md ("Code map: the runtime") draws their layers, and
//! `tests/runtime/architecture.rs` checks them (no file uses a file of a higher layer, or an
//! item of this one).

mod ahead;
pub mod attach;
pub mod cgroup;
pub mod cgroup_refs;
pub mod conntrack_anchor;
pub mod counter_map;
pub mod discovery;
mod error_text;
pub mod fault;
pub mod icmp_limits;
pub mod install;
pub mod kernel_btf;
pub mod kernel_error;
mod loaded;
mod map_window;
pub(crate) mod map_write;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod plan;
pub mod raw_load;
pub mod residual;
pub mod rule_id;
mod set_count;
pub mod slot_map;
pub mod stages;
pub mod store;
pub mod sys;
pub mod table;
pub mod table_update;
pub mod trace;

pub use error_text::error_chain;
pub use loaded::{LoadOptions, LoadedObject, LoadedProgram, MapFault, RunResult, RuntimeError};
