//! Pins and directories of pins removed from bpffs, one by one, each removal a fault
//! point (`SOCKC_FAULT_KILL_AT`).
//!
//! Invariant: nothing is followed: a symbolic link in the store (or in a directory's
//! place) is removed itself, never what it leads to, whose files are not sockc's, and
//! no mount is crossed (a directory something is mounted on is left whole); what is
//! gone already is no error. Garbage that cannot be removed is a [`Stuck`], said by
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
/// removed itself, never the directory it leads to, whose files are not sockc's. Nor is
/// a mount crossed: a directory something is mounted on is left whole, its files
/// untouched (they are the mounted file system's, not sockc's), and is an error.
pub(super) fn remove_tree(dir: &Path) -> Result<(), StoreError> {
    if std::fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return unlink(dir);
    }
    if is_mount_root(dir) {
        let busy = std::io::Error::from_raw_os_error(libc::EBUSY);
        return Err(io_err(dir)(busy));
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

/// Whether something is mounted on `path` (it is the root of a mount): `statx`'s
/// `STATX_ATTR_MOUNT_ROOT` (Linux 5.8), else a device other than its parent's (which
/// misses only a bind mount within the same file system on an older kernel).
pub(super) fn is_mount_root(path: &Path) -> bool {
    use std::os::unix::{ffi::OsStrExt, fs::MetadataExt};
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statx writes at most one `struct statx` into `buf`, which is zeroed and
    // lives across the call; `c_path` is a NUL-terminated path that outlives it.
    let (rc, buf) = unsafe {
        let mut buf: libc::statx = std::mem::zeroed();
        let rc = libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_BASIC_STATS,
            &mut buf,
        );
        (rc, buf)
    };
    let root = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if rc == 0 && buf.stx_attributes_mask & root != 0 {
        return buf.stx_attributes & root != 0;
    }
    let dev = |p: &Path| std::fs::symlink_metadata(p).map(|m| m.dev()).ok();
    match (dev(path), path.parent().and_then(dev)) {
        (Some(d), Some(parent)) => d != parent,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc` is a mount of its own; a directory of the temporary directory is not.
    #[test]
    fn a_mount_root_is_told_from_a_directory() {
        assert!(is_mount_root(Path::new("/proc")));
        let dir = std::env::temp_dir().join(format!("sockc-pins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!is_mount_root(&dir));
        std::fs::remove_dir(&dir).unwrap();
    }
}
