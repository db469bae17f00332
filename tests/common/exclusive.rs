//! Locks for what the tests of one test binary share through the kernel: a binary runs
//! its tests on parallel threads, and one binary holds the tests of many files (one
//! per rung of the testing ladder, ARCHITECTURE.md "Testing"), so a test that acts on
//! something every test can see must not do it under another test's eyes. Only the
//! tests that touch such a thing take its lock, and each says why where it takes it.
//!
//! Invariant: a lock here is held for as short a time as its reason needs, and never
//! while waiting for another lock here (there is one).

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The installs on the default bpffs (`/sys/fs/bpf`). A command without `--name`
/// (`status`, `stats`, `repair`) reads every install, and `status` and `repair` first
/// finish or undo every install's interrupted work; a test that leaves its own install
/// interrupted on purpose (a sockc killed at a fault point or by strace), to look at
/// what the kill left, must not see another test's nameless command finish it.
static EVERY_INSTALL: RwLock<()> = RwLock::new(());

/// Held (for writing) around a command without `--name` on the default bpffs: no
/// test's install is left interrupted on purpose meanwhile.
pub fn nameless_command() -> RwLockWriteGuard<'static, ()> {
    EVERY_INSTALL
        .write()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Held (for reading) from a kill that leaves the test's own install interrupted until
/// the test has looked at what it left: no command without `--name` runs meanwhile.
/// Tests that interrupt their installs do not exclude each other.
pub fn interrupted_install() -> RwLockReadGuard<'static, ()> {
    EVERY_INSTALL.read().unwrap_or_else(PoisonError::into_inner)
}
