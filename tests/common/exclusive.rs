//! Locks for what the tests of one test binary share through the kernel and the
//! machine (the installs on `/sys/fs/bpf`, the process's umask, the CPUs): a binary
//! runs its tests on parallel threads, and one binary holds the tests of many files
//! (one per rung of the testing ladder, ARCHITECTURE.md "Testing"), so a test that acts
//! on something every test can see must not do it under another test's eyes. Only the
//! tests that touch such a thing take its lock, and each says why where it takes it.
//!
//! Invariant: a lock here is held for as short a time as its reason needs, and a test
//! that holds two takes them in the order they are declared here, so no two tests
//! wait for each other.

use std::{
    ops::Deref,
    path::Path,
    sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};

use sockc_runtime::store::{LockWait, Store, StoreError};

/// The installs on the default bpffs (`/sys/fs/bpf`). A command without `--name`
/// (`status`, `stats`, `repair`, `flush`, `show`, `trace`, `register`) reads every
/// install, and first finishes or undoes every install's interrupted work; a test that
/// leaves its own install interrupted on purpose (a sockc killed at a fault point or by
/// strace), to look at what the kill left, must not see another test's nameless command
/// finish it.
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

/// The machine's CPUs, for a test that measures what sockc does with them (`sockc
/// bench`): its figures are printed for a reader to compare, and another measuring
/// test running beside it would halve what each measures (they ran one after the
/// other when each was a test binary of its own).
static MEASURING: Mutex<()> = Mutex::new(());

/// Held for the whole of a test that measures and prints figures: no other measuring
/// test of the binary runs meanwhile.
pub fn measuring() -> MutexGuard<'static, ()> {
    MEASURING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process's umask. A [`Store`] sets it to 077 when it opens (before it waits for
/// the store's lock) and puts back what it found when it closes: a test that opens the
/// store in its own process while another test's thread holds it open saves that
/// test's 077 and, closing last, leaves it set for the rest of the binary (every file
/// and directory a test makes afterwards private to root).
static IN_PROCESS_STORE: Mutex<()> = Mutex::new(());

/// The store on `bpffs`, opened in the test's own process, and held with
/// [`IN_PROCESS_STORE`] until it closes, so that no two umask changes interleave.
pub struct OpenStore {
    // Dropped first: the store closes (and puts the umask back), then the lock goes.
    store: Store,
    _one: MutexGuard<'static, ()>,
}

impl Deref for OpenStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

/// [`Store::open_with`] in the test's own process, one at a time ([`OpenStore`]).
pub fn open_store(
    bpffs: &Path,
    timeout: Duration,
    wait: LockWait,
) -> Result<OpenStore, StoreError> {
    let one = IN_PROCESS_STORE
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Ok(OpenStore {
        store: Store::open_with(bpffs, timeout, wait)?,
        _one: one,
    })
}
