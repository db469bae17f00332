//! What the global flags set for the whole invocation: `-q`, the `-O` level, the
//! `--max-*` limits and the `--set-dir` directories.
//!
//! Invariant: `main` sets them once, right after parsing and before any command runs;
//! every command reads them from here (a command that reads before `main` set them,
//! as a unit test does, gets the defaults).

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        OnceLock,
    },
};

use sockc_compiler::{
    limits::{Limit, Limits},
    opt::OptLevel,
    semdiff::Budget,
};

/// What every command that compiles or reads needs from the global flags.
pub struct Settings {
    pub opt: OptLevel,
    pub limits: Limits,
    pub set_dirs: Vec<PathBuf>,
}

/// This invocation's settings; set once in `main` before anything compiles.
static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// `-q`: set once in `main`.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Sets this invocation's settings; once.
pub fn set(settings: Settings) {
    assert!(SETTINGS.set(settings).is_ok(), "settings are set once");
}

/// This invocation's settings.
pub fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings {
        opt: Default::default(),
        limits: Limits::default(),
        set_dirs: Vec::new(),
    })
}

/// The budget of a semantic diff, per block pair: `--max-diff-work`'s.
pub fn diff_budget() -> Budget {
    Budget::of_work(settings().limits.get(Limit::DiffWork))
}

pub fn set_quiet(q: bool) {
    QUIET.store(q, Ordering::Relaxed);
}

/// True under `-q`: print errors and data only (no warnings, notices or "ok" lines).
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}
