//! The store's lock: a flock on the `sockc` directory itself, which only root can open
//! (0700), so only root can hold it; a waiter takes it the moment it is released, and
//! gives up after a timeout naming the holder's PID.
//!
//! Invariant: one sockc command at a time acts on the store; a wait that gave up never
//! leaves the lock held behind it.

use std::{
    fs::File,
    os::unix::fs::MetadataExt,
    path::Path,
    time::{Duration, Instant},
};

use super::error::{io_err, StoreError};

/// Whether [`Store::open_with`] says on stderr that it waits for another sockc.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// `sockc: waiting for another sockc ...` after a second.
    Tell,
    /// Nothing (`-q`).
    Quiet,
}

/// Takes the flock on `lock` (the opened `root`), waiting up to `timeout` for another
/// sockc that holds it; says so on stderr after a second if `wait` asks to.
///
/// std's file lock is flock(2) on Linux, the lock `lock_holder` reads back from
/// /proc/locks and the one older sockc versions take. A held lock is waited for in a
/// blocking `flock` on a thread of its own, so this one takes it the moment it is
/// released (polling would add up to a poll period to every wait) and can still give
/// up at the timeout: the lock belongs to the open file, which the thread's duplicate
/// shares, and a thread that gets it after this one gave up closes the last
/// descriptor of that file, which releases it.
pub(super) fn lock_dir(
    lock: &File,
    root: &Path,
    timeout: Duration,
    wait: LockWait,
) -> Result<(), StoreError> {
    match lock.try_lock() {
        Ok(()) => return Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(io_err(root)(e)),
    }
    let start = Instant::now();
    let waiter = lock.try_clone().map_err(io_err(root))?;
    let (locked, taken) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = locked.send(waiter.lock());
    });
    let tell_after = Duration::from_secs(1);
    let mut told = wait != LockWait::Tell;
    loop {
        let until = if told {
            timeout
        } else {
            timeout.min(tell_after)
        };
        match taken.recv_timeout(until.saturating_sub(start.elapsed())) {
            Ok(result) => return result.map_err(io_err(root)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                unreachable!("the locking thread sends before it ends")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        let holder = lock_holder(root);
        if start.elapsed() >= timeout {
            return Err(StoreError::Busy {
                path: root.to_path_buf(),
                holder,
                waited: start.elapsed(),
            });
        }
        eprintln!(
            "sockc: waiting for another sockc{} to finish with {}",
            holder.map(|h| format!(" (PID {h})")).unwrap_or_default(),
            root.display()
        );
        told = true;
    }
}

/// The PID (and command) holding the flock on `dir`, from `/proc/locks`.
fn lock_holder(dir: &Path) -> Option<String> {
    let meta = std::fs::metadata(dir).ok()?;
    let (major, minor) = (libc::major(meta.dev()), libc::minor(meta.dev()));
    let id = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let pid = locks
        .lines()
        .filter(|l| l.contains("FLOCK") && l.contains(&id))
        .find_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            // `N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END`
            let at = fields.iter().position(|f| *f == id)?;
            fields.get(at.checked_sub(1)?).map(|p| p.to_string())
        })?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|c| {
            c.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty());
    Some(match cmd {
        Some(c) => format!("{pid}: {c}"),
        None => pid,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A fresh directory to lock (flock works on any directory, no bpffs needed).
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sockc-lock-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_held_lock_is_taken_once_released_and_refused_at_the_timeout() {
        let dir = scratch("wait");
        let holder = File::open(&dir).unwrap();
        holder.lock().unwrap();
        let waiter = File::open(&dir).unwrap();
        let short = lock_dir(&waiter, &dir, Duration::from_millis(100), LockWait::Quiet);
        assert!(matches!(short, Err(StoreError::Busy { .. })), "{short:?}");
        // As `Store::open_with` does on an error. The thread left behind by the refused
        // wait must not keep the lock once it gets it: the next waiter takes it after
        // the holder lets go.
        drop(waiter);
        // Taken before the holder's thread starts its 200 ms, so the wait below lasts
        // at least that long however the two threads are scheduled (taken after the
        // spawn, a pause of 50 ms between the two made the wait look shorter than
        // the bound).
        let start = Instant::now();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(holder);
        });
        let next = File::open(&dir).unwrap();
        lock_dir(&next, &dir, Duration::from_secs(30), LockWait::Quiet).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(200));
        release.join().unwrap();
        assert!(
            File::open(&dir).unwrap().try_lock().is_err(),
            "the lock is this file's now"
        );
        drop(next);
        std::fs::remove_dir(&dir).unwrap();
    }
}
