//! One module per `sockc` command, each with its own `Args` (what clap parses for it)
//! and its `run`; a folder where a command has parts (`apply/`, `stats/`, `test/`).
//! `main` dispatches to them; `sockc bench` is `sockc_bench::run`.
//!
//! Invariant: a command module uses no other command module — what two commands share
//! lives below them in `crate::shared` — and nothing here uses `main.rs` or
//! `crate::cli` (`tests/architecture/modules.rs` checks the layers).

pub mod apply;
pub mod check;
pub mod classbench;
pub mod compile;
pub mod completions;
pub mod confirm;
pub mod deadline;
pub mod diff;
pub mod flush;
pub mod import;
pub mod man;
pub mod register;
pub mod repair;
pub mod show;
pub mod stats;
pub mod status;
pub mod systemd;
pub mod test;
pub mod trace;
pub mod unregister;
pub mod watch;
