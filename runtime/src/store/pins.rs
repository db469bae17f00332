//! Pins and directories of pins removed from bpffs, one by one, each removal a fault
//! point (`SOCKC_FAULT_KILL_AT`).
//!
//! Invariant: nothing is followed: a symbolic link in the store (or in a directory's
//! place) is removed itself, never what it leads to, whose files are not sockc's; what
//! is gone already is no error. Garbage that cannot be removed is a [`Stuck`], said by
//! name and path, never a reason to stop removing the rest.

use std::path::{Path, PathBuf};

use super::error::{io_err, StoreError};
use crate::fault::point;

/// A leftover the garbage collection could not remove: its name in the install's
/// directory, its path, and the system's reason (a mount on it, a file system that
/// refuses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stuck {
    pub file: String,
    pub path: PathBuf,
    pub why: String,
}

impl Stuck {
    /// `file` at `path`, whose removal failed with `e`.
    pub(super) fn new(file: String, path: PathBuf, e: &StoreError) -> Stuck {
        let why = match e {
            StoreError::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        Stuck { file, path, why }
    }
}

/// Removes the file (pin) at `path`; one that is gone already is fine.
pub(super) fn unlink(path: &Path) -> Result<(), StoreError> {
    point(&format!("unlink {}", path.display()));
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

/// Removes a generation directory, or what else is at `dir`: its pins one by one, then
/// the directory (bpffs has no deeper trees). Nothing is followed: a symbolic link in it (or in its place) is
/// removed itself, never the directory it leads to, whose files are not sockc's.
pub(super) fn remove_tree(dir: &Path) -> Result<(), StoreError> {
    if std::fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return unlink(dir);
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut files: Vec<(PathBuf, bool)> = entries
            .flatten()
            .map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_dir())))
            .collect();
        files.sort();
        for (f, is_dir) in files {
            if is_dir {
                remove_tree(&f)?;
            } else {
                unlink(&f)?;
            }
        }
    }
    point(&format!("rmdir {}", dir.display()));
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(dir)(e)),
        _ => Ok(()),
    }
}
