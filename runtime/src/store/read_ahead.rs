//! An install's manifest read ahead, before the store is locked: a re-apply reads it
//! on another thread while the new file compiles (at 100,000 rules the read, 16 MB of
//! records checked against their digests and parsed, is about ten milliseconds, which
//! the compile's fit to the installed generation would wait for after), from when the
//! front end leaves the second core idle (`apply`'s `compile_and_install`). What is
//! read ahead is only a
//! candidate: the locked store takes it ([`Store::adopt`]) only while the manifest's
//! pin is still the one it was read from, by device, inode and change times, the
//! memo's own check (`memo`: a record is replaced by a `rename` of a new pin, and only
//! the lock holder writes one); each bulk record it names was checked against its
//! digest as it was read. The same thread then finds what the store's open checks of
//! the process's mount namespace (its ancestors' namespaces, read from `/proc`; a
//! sandbox's walk is ~25 system calls), which the open would otherwise wait for.
//!
//! Invariant: nothing here creates, writes or removes anything; a read that fails, or
//! races a writer that holds the lock, gives nothing or is refused by the pin's
//! identity, and the locked read then happens as it would have without it.

use std::path::{Path, PathBuf};

use super::{
    memo::{PinId, RecordMemo},
    records::{read_manifest_in, Remembered},
    BulkRefs, Manifest, Store,
};

/// A manifest read without the lock ([`read_ahead`]), not yet taken by the store.
pub struct ReadAhead {
    path: PathBuf,
    before: PinId,
    read: Remembered,
    /// Its bulk references.
    refs: BulkRefs,
}

/// Install `name`'s manifest on the bpffs at `bpffs`, without its rule text, read
/// without taking the store's lock; `None` when there is none or it cannot be read.
/// First what the store's open checks of this process's mount namespace, found ahead
/// too (`bpffs::read_mount_namespace_ahead`: the ancestors' namespaces from `/proc`,
/// found once per process; a few dozen microseconds), so that an open that comes
/// while the manifest is read does not find it again.
pub fn read_ahead(bpffs: &Path, name: &str) -> Option<ReadAhead> {
    super::bpffs::read_mount_namespace_ahead();
    read_manifest_ahead(bpffs, name)
}

/// [`read_ahead`]'s manifest.
fn read_manifest_ahead(bpffs: &Path, name: &str) -> Option<ReadAhead> {
    let dir = unlocked_dir(bpffs, name);
    let path = dir.join("manifest");
    let before = RecordMemo::<Remembered>::id(&path)?;
    let (read, refs) = read_manifest_in(&dir, &path, false).ok()??;
    Some(ReadAhead {
        path,
        before,
        read,
        refs,
    })
}

/// Whether install `name` on the bpffs at `bpffs` has a manifest now, looked at
/// without the lock (one `statx`): a hint for what to prepare (`apply` keeps freed
/// memory for a re-apply), never a decision about the install.
pub fn has_manifest(bpffs: &Path, name: &str) -> bool {
    unlocked_dir(bpffs, name).join("manifest").exists()
}

/// Install `name`'s directory as [`Store::dir`] names it, for a store not opened.
fn unlocked_dir(bpffs: &Path, name: &str) -> PathBuf {
    bpffs.join("sockc").join(name)
}

impl ReadAhead {
    /// The manifest read (without its rule text): what the reading thread may derive
    /// more from while it waits, valid only if the store takes it ([`Store::adopt`]).
    pub fn manifest(&self) -> &Manifest {
        &self.read.manifest
    }
}

impl Store {
    /// Remembers the manifest `ahead` read for this command's later reads when it is
    /// install `name`'s in this store and its pin is still the one it was read from,
    /// and says so; drops it otherwise.
    pub fn adopt(&self, name: &str, ahead: ReadAhead) -> bool {
        let path = self.dir(name).join("manifest");
        let kept = ahead.path == path
            && self
                .manifest_memo
                .put(&path, Some(ahead.before), ahead.read);
        if kept {
            self.remember_refs(&path, Some(ahead.before), ahead.refs);
        }
        kept
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::DEFAULT_LOCK_TIMEOUT;

    /// A manifest of install `name` with no programs, of generation `generation`.
    pub(in crate::store) fn manifest(name: &str, generation: u64, text: &str) -> Manifest {
        Manifest {
            format: crate::store::format_for(false),
            name: name.to_string(),
            generation,
            objects_dir: format!("g{generation}"),
            source_file: "/nonexistent/rules.sk".into(),
            source_sha256: String::new(),
            applied_unix: 0,
            netns: None,
            netns_ino: 0,
            netns_cookie: 0,
            programs: Vec::new(),
            snapshot: Default::default(),
            socket_slots: Default::default(),
            source_text: Some(Arc::new(text.to_string())),
            label: None,
            instance: String::new(),
            residual: None,
        }
    }

    #[test]
    fn a_manifest_read_ahead_is_taken_only_while_its_pin_is_the_one_read() {
        if !crate::sys::tests_run_as_root() {
            return;
        }
        let bpffs = Path::new("/sys/fs/bpf");
        let name = format!("readahead-test-{}", std::process::id());
        let store = Store::open(bpffs, DEFAULT_LOCK_TIMEOUT).unwrap();
        assert!(!has_manifest(bpffs, &name), "no install yet");
        store
            .write_manifest(&mut manifest(&name, 1, "xdp on lo { drop }"))
            .unwrap();
        drop(store);
        assert!(has_manifest(bpffs, &name), "where the store wrote it");

        // Read ahead without the lock, then taken: its text is left unread, and read
        // whole when asked for.
        let ahead = read_ahead(bpffs, &name).expect("a manifest to read");
        let store = Store::open(bpffs, DEFAULT_LOCK_TIMEOUT).unwrap();
        assert!(store.adopt(&name, ahead), "a current manifest was refused");
        let r = store.take_manifest_but_text(&name).unwrap().unwrap();
        assert_eq!(r.manifest.generation, 1);
        assert_eq!(r.manifest.source_text, None, "the text was read");
        assert!(r.unread_text.is_some());
        let whole = store.with_text(&name, r).unwrap();
        assert_eq!(
            whole.source_text.as_deref().map(String::as_str),
            Some("xdp on lo { drop }")
        );

        // Replaced after the read ahead: refused, and the committed one read instead.
        let stale = read_ahead(bpffs, &name).unwrap();
        store
            .write_manifest(&mut manifest(&name, 2, "xdp on lo { allow }"))
            .unwrap();
        assert!(!store.adopt(&name, stale), "a stale manifest was taken");
        let now = store.take_manifest(&name).unwrap().unwrap();
        assert_eq!(now.generation, 2, "a stale manifest read ahead was taken");
        assert_eq!(
            now.source_text.as_deref().map(String::as_str),
            Some("xdp on lo { allow }")
        );
        crate::store::pins::remove_tree(&store.dir(&name)).unwrap();
        assert!(!has_manifest(bpffs, &name), "removed");
    }
}
