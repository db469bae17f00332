//! Network namespaces: entering the one an install lives in (and coming back), and
//! telling a namespace from another that took its name (by inode).
//!
//! Invariant: an [`Entered`] namespace is left again when the value drops, so code
//! that enters an install's namespace to look at its interfaces never leaves the
//! calling thread somewhere else. sockc is single-threaded where it enters one.

use std::{
    fs::File,
    io,
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::Path,
};

/// The inode of the calling thread's network namespace.
pub fn current_ino() -> io::Result<u64> {
    ino_of(Path::new("/proc/thread-self/ns/net"))
}

/// The inode of the namespace file at `path` (`/run/netns/NAME`).
pub fn ino_of(path: &Path) -> io::Result<u64> {
    std::fs::metadata(path).map(|m| m.ino())
}

fn setns(file: &File) -> io::Result<()> {
    // SAFETY: setns on a descriptor we own; CLONE_NEWNET checks it is a net namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread into the namespace at `path` for good (the CLI's
/// `--netns`).
pub fn enter_for_good(path: &Path) -> io::Result<()> {
    setns(&File::open(path)?)
}

/// The calling thread is in another namespace until this drops.
pub struct Entered {
    back: File,
}

/// Moves the calling thread into the namespace at `path` until the returned value
/// drops.
pub fn enter(path: &Path) -> io::Result<Entered> {
    let back = File::open("/proc/thread-self/ns/net")?;
    setns(&File::open(path)?)?;
    Ok(Entered { back })
}

impl Drop for Entered {
    fn drop(&mut self) {
        // Going back to a namespace we came from cannot fail short of a kernel bug;
        // staying elsewhere would be worse than stopping.
        setns(&self.back).expect("return to the original network namespace");
    }
}
