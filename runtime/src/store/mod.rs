//! Where installs live on bpffs, who may touch them, and the two records of an install:
//! its manifest (what is committed) and its journal (what is in flight).
//!
//! ```text
//! <bpffs>/sockc/                       0700 root; every command opens it and flock()s it
//! <bpffs>/sockc/<name>/                0700 root
//! <bpffs>/sockc/<name>/manifest        array map holding the manifest (JSON, chunked)
//! <bpffs>/sockc/<name>/journal         the same for the journal, only while work is in flight
//! <bpffs>/sockc/<name>/bulk_<sha256>   map contents, rule text and the rules' metadata the
//!                                      manifest and journal name by digest (`bulk`)
//! <bpffs>/sockc/<name>/link_<symbol>   one bpf_link per hook that has one
//! <bpffs>/sockc/<name>/keep_<map>      maps all generations share (the sk_lookup socket map,
//!                                      each sockmap group's socket map, program arrays and
//!                                      per-socket storage)
//! <bpffs>/sockc/<name>/registry        who registered each socket in the socket map
//! <bpffs>/sockc/<name>/g<N>/prog_<symbol>, map_<map>   generation N's programs and maps
//! ```
//!
//! Which file keeps which part: this one the layout and the opened, locked store;
//! `bpffs.rs` which bpffs is used and the modes of what is made there; `lock.rs` the
//! lock; `manifest.rs` and `journal.rs` the two records' contents; `records.rs`
//! reading and writing them (and the socket registry), `pinned_record.rs` one record
//! as a pin, `record_writer.rs` its bytes streamed in, `bulk/` what the records keep
//! out of their JSON, `set_delta.rs` a large set's record kept as the change from another, `program_record.rs` a program's record, `memo.rs` the last manifest read (and its bulk references), `read_ahead.rs` one read before the lock; `removal.rs` what leaves the
//! store and in which order, `pins.rs` one pin or directory removed; `error.rs` what
//! can go wrong.
//!
//! Invariants (each kept by the file named): a record is replaced by one `rename` of a
//! fully written pin, so a reader sees the old or the new one, never a mix
//! (`pinned_record.rs`); an install is removed in one order, so a removal cut short
//! leaves either the journal that says to finish it or a directory with no record at
//! all, which is debris every command removes (`removal.rs`); nothing is removed
//! through a symbolic link (`pins.rs`); only root can hold the lock, and a waiter
//! gives up after a timeout naming the holder's PID (`lock.rs`); a state directory or
//! `--bpffs` path others could change is refused, pins are 0600 and directories 0700
//! whatever the umask, and a bpffs that is not the host's is refused, because pins
//! made there vanish when the command exits (`bpffs.rs`).

use std::{
    fs::File,
    path::{Path, PathBuf},
    time::Duration,
};

mod bpffs;
mod bulk;
mod error;
pub mod journal;
mod lock;
mod manifest;
mod memo;
pub mod pending;
mod pinned_record;
mod pins;
mod program_record;
mod read_ahead;
mod record_writer;
mod records;
mod removal;
pub mod residual;
mod set_delta;

use bpffs::{
    ensure_private_dir, is_bpffs, private_mount_namespace, same_bpffs_as_init, UmaskGuard,
};
use error::io_err;
use lock::lock_dir;

pub use bpffs::check_path_owners;
pub use bulk::{Against, BulkRefs, Known, Prepared};
pub use error::StoreError;
pub use journal::Journal;
pub use lock::LockWait;
pub use manifest::{
    format_for, new_instance, InstalledProgram, Manifest, MANIFEST_FORMAT, SETS_FROM_MAPS_FORMAT,
};
pub use pins::Stuck;
pub use read_ahead::{has_manifest, read_ahead, ReadAhead};
pub use records::Remembered;
pub use removal::{Litter, Removed};
pub use residual::ResidualRecord;

/// How long a command waits for another sockc to finish.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// The locked `sockc` directory on bpffs.
pub struct Store {
    root: PathBuf,
    /// Held for the life of the value: the flock.
    _lock: File,
    /// The caller's umask, put back when the store closes.
    _umask: UmaskGuard,
    /// The last manifest read or written, parsed once per command.
    manifest_memo: memo::RecordMemo<records::Remembered>,
    /// The bulk references of that manifest, kept when the manifest is taken: what
    /// the bulk collection reads of it (`records`, `removal`).
    manifest_refs: memo::RecordMemo<BulkRefs>,
}

impl Store {
    /// Checks the bpffs and the `sockc` directory (creating it 0700 if needed), then
    /// takes the exclusive lock, waiting at most `timeout` for another sockc.
    pub fn open(bpffs: &Path, timeout: Duration) -> Result<Store, StoreError> {
        Store::open_with(bpffs, timeout, LockWait::Tell)
    }

    /// [`Store::open`], saying that it waits for the lock or not.
    pub fn open_with(bpffs: &Path, timeout: Duration, wait: LockWait) -> Result<Store, StoreError> {
        check_path_owners(bpffs)?;
        let umask = UmaskGuard::private();
        if !is_bpffs(bpffs) {
            return Err(if private_mount_namespace() {
                StoreError::NotHostBpffs {
                    path: bpffs.to_path_buf(),
                }
            } else {
                StoreError::NotBpffs {
                    path: bpffs.to_path_buf(),
                }
            });
        }
        if !same_bpffs_as_init(bpffs) {
            return Err(StoreError::PrivateBpffs {
                path: bpffs.to_path_buf(),
            });
        }
        let root = bpffs.join("sockc");
        ensure_private_dir(&root)?;
        let lock = File::open(&root).map_err(io_err(&root))?;
        lock_dir(&lock, &root, timeout, wait)?;
        Ok(Store {
            root,
            _lock: lock,
            _umask: umask,
            manifest_memo: memo::RecordMemo::default(),
            manifest_refs: memo::RecordMemo::default(),
        })
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn objects_dir(&self, name: &str, dir: &str) -> PathBuf {
        self.dir(name).join(dir)
    }

    /// Where an install keeps a map that every generation shares (`keep_<map>`): the
    /// socket map of sk_lookup redirect targets, so registered sockets outlive
    /// re-applies; a sockmap group's socket map (with the sockets in it), program
    /// arrays and per-socket storage.
    pub fn keep_path(&self, name: &str, map: &str) -> PathBuf {
        self.dir(name).join(format!("keep_{map}"))
    }

    pub fn link_path(&self, name: &str, symbol: &str) -> PathBuf {
        self.dir(name).join(format!("link_{symbol}"))
    }

    /// Creates (0700) or checks the install's directory.
    pub fn ensure_install_dir(&self, name: &str) -> Result<PathBuf, StoreError> {
        let dir = self.dir(name);
        ensure_private_dir(&dir)?;
        Ok(dir)
    }

    /// Creates (0700) the directory of a generation's objects.
    pub fn create_objects_dir(&self, name: &str, dir: &str) -> Result<PathBuf, StoreError> {
        let path = self.objects_dir(name, dir);
        ensure_private_dir(&path)?;
        Ok(path)
    }

    /// Every install directory, sorted: those with a manifest or a journal (an
    /// interrupted first apply has only the latter), and those with neither, the
    /// debris of a first apply killed before its journal or of a flush killed after
    /// it (recovery removes them).
    pub fn names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The bpffs this store is on.
    pub fn bpffs(&self) -> &Path {
        self.root.parent().unwrap_or(&self.root)
    }

    /// The pending confirmations of this store's installs (kept off bpffs, in the
    /// state directory: [`pending`]).
    pub fn pending(&self) -> pending::Records {
        pending::Records::new(&pending::state_dir(self.bpffs()))
    }

    /// Whether install `name` has a directory (with records or without): a directory
    /// itself, not a symbolic link to one, which is not an install.
    pub fn has_dir(&self, name: &str) -> bool {
        std::fs::symlink_metadata(self.dir(name)).is_ok_and(|m| m.is_dir())
    }
}
