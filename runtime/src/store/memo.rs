//! The last manifest this process read or wrote, kept in memory beside the identity of
//! the pin it came from, so that one command reading the same manifest again (recovery,
//! the apply, the commit, the sockets after it) parses its JSON once: for a set of a
//! million elements each parse cost a large share of an update. A reader that only
//! looks borrows it ([`RecordMemo::with`]), and the last reader takes it
//! ([`RecordMemo::take`]): a copy of 100,000 rules and their tables is 12 MB.
//!
//! Invariant: the memo is given back only while the pin at the path is the one it was
//! read from or written to, by device, inode and change times. A record is replaced by
//! a `rename` of a new pin (a new inode on bpffs, whose inode numbers only grow), and
//! only the lock holder writes one, so a pin with the same identity holds the same
//! bytes.

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Mutex,
};

/// What identifies one pin: device, inode, and its modification and change times.
pub(super) type PinId = (u64, u64, i64, i64, i64, i64);

fn pin_id(path: &Path) -> Option<PinId> {
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// One remembered record, a manifest in the store (see the module docs).
pub(super) struct RecordMemo<T>(Mutex<Option<(PathBuf, PinId, T)>>);

impl<T> Default for RecordMemo<T> {
    fn default() -> Self {
        RecordMemo(Mutex::new(None))
    }
}

impl<T: Clone> RecordMemo<T> {
    /// The manifest read from or written to `path`, while its pin is still that one.
    pub fn get(&self, path: &Path) -> Option<T> {
        let id = pin_id(path)?;
        let memo = self.0.lock().ok()?;
        let (p, i, m) = memo.as_ref()?;
        (p == path && *i == id).then(|| m.clone())
    }

    /// `f` of the manifest read from or written to `path`, lent while its pin is still
    /// that one; `None` (and `f` not called) otherwise.
    pub fn with<R>(&self, path: &Path, f: impl FnOnce(&T) -> R) -> Option<R> {
        let id = pin_id(path)?;
        let memo = self.0.lock().ok()?;
        let (p, i, m) = memo.as_ref()?;
        (p == path && *i == id).then(|| f(m))
    }

    /// The manifest read from or written to `path`, moved out while its pin is still
    /// that one: nothing is remembered after (a later read reads the pin again).
    pub fn take(&self, path: &Path) -> Option<T> {
        let id = pin_id(path)?;
        let mut memo = self.0.lock().ok()?;
        match memo.as_ref() {
            Some((p, i, _)) if p == path && *i == id => memo.take().map(|(_, _, m)| m),
            _ => None,
        }
    }

    /// Remembers `m` as what the pin at `path` holds now; `before` is the pin's
    /// identity taken before its bytes were read (`None` after a write), and nothing is
    /// remembered if the pin changed in between. True when `m` is remembered.
    pub fn put(&self, path: &Path, before: Option<PinId>, m: T) -> bool {
        let Some(id) = pin_id(path) else { return false };
        if before.is_some_and(|b| b != id) {
            return false;
        }
        let Ok(mut memo) = self.0.lock() else {
            return false;
        };
        *memo = Some((path.to_path_buf(), id, m));
        true
    }

    /// The identity of the pin at `path` now, to give [`RecordMemo::put`].
    pub fn id(path: &Path) -> Option<PinId> {
        pin_id(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_given_back_only_while_its_file_is_the_same() {
        let dir = std::env::temp_dir().join(format!("sockc-memo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("manifest");
        std::fs::write(&path, "one").unwrap();
        let memo = RecordMemo::default();
        assert_eq!(memo.get(&path), None, "nothing remembered yet");
        memo.put(&path, RecordMemo::<String>::id(&path), "one".to_string());
        assert_eq!(memo.get(&path).as_deref(), Some("one"));
        assert_eq!(memo.get(&dir.join("other")), None, "another path");

        // Replaced by a rename, as records are: another inode, not the memo's.
        let tmp = dir.join("manifest_new");
        std::fs::write(&tmp, "two").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(memo.get(&path), None, "the file was replaced");

        // The identity taken before a read that no longer matches: not remembered.
        let before = RecordMemo::<String>::id(&path);
        std::fs::write(&tmp, "three").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        memo.put(&path, before, "two".to_string());
        assert_eq!(
            memo.get(&path),
            None,
            "changed between the read and the put"
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(memo.get(&path), None, "the file is gone");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_record_is_lent_while_its_file_is_the_same_and_taken_once() {
        let dir = std::env::temp_dir().join(format!("sockc-memo-take-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("manifest");
        std::fs::write(&path, "one").unwrap();
        let memo = RecordMemo::default();
        memo.put(&path, RecordMemo::<String>::id(&path), "one".to_string());
        assert_eq!(memo.with(&path, String::len), Some(3), "lent");
        assert_eq!(memo.with(&dir.join("other"), String::len), None);
        assert_eq!(memo.take(&dir.join("other")), None, "another path");
        assert_eq!(memo.take(&path).as_deref(), Some("one"), "still there");
        assert_eq!(memo.take(&path), None, "taken once");
        assert_eq!(memo.with(&path, String::len), None, "nothing left to lend");

        // Replaced by a rename after the put: neither lent nor taken.
        memo.put(&path, RecordMemo::<String>::id(&path), "one".to_string());
        let tmp = dir.join("manifest_new");
        std::fs::write(&tmp, "two").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(memo.with(&path, String::len), None, "the file was replaced");
        assert_eq!(memo.take(&path), None, "the file was replaced");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
