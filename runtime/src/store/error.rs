//! What can go wrong with the store, each error naming the path it is about and,
//! where the user has something to do, what.
//!
//! Invariant: a record that is not one sockc wrote, or of a format this sockc does not
//! read, is an error of its own kind, never a JSON error or a guess.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use aya::pin::PinError;

use super::{record_writer::CHUNK, MANIFEST_FORMAT};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is the pin of one of the install's links or socket maps, and cannot be \
         removed ({source}): it may still hold a hook that runs the install's program, so \
         the install stays recorded. `umount {}` if something is mounted on it \
         (`mountpoint` says), then run the command again",
        path.display(),
        path.display()
    )]
    HookPinStuck {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not on a BPF filesystem (mount one: mount -t bpf bpf {})", path.display(), path.display())]
    NotBpffs { path: PathBuf },
    #[error(
        "{} is a BPF filesystem private to this mount namespace (as inside `ip netns exec`): \
         pins made here vanish when sockc exits. Run sockc from the host with \
         `--netns NAME` instead",
        path.display()
    )]
    PrivateBpffs { path: PathBuf },
    #[error(
        "{} is not the host's BPF filesystem: this command runs in a mount namespace of its \
         own (as inside `ip netns exec`, which gives it its own /sys), where pins would \
         vanish when sockc exits. Run sockc from the host with `--netns NAME` instead",
        path.display()
    )]
    NotHostBpffs { path: PathBuf },
    #[error(
        "{} is owned by uid {uid} with mode {mode:04o}: sockc keeps firewall state only in a \
         directory that root owns and nobody else may write; inspect and remove it, then retry",
        path.display()
    )]
    Unsafe { path: PathBuf, uid: u32, mode: u32 },
    #[error(
        "{} is owned by uid {uid} with mode {mode:04o}, and sockc's path {} goes through \
         it: whoever owns or may write a directory on the way could put other contents in \
         its place. Every directory from / down to sockc's bpffs (BPFFS/sockc) and state \
         directory must be root's and writable by nobody else (or sticky); fix its owner \
         and mode, or choose another place (`--bpffs`, `SOCKC_STATE_DIR`)",
        path.display(),
        bpffs.display()
    )]
    UnsafePath {
        path: PathBuf,
        bpffs: PathBuf,
        uid: u32,
        mode: u32,
    },
    #[error("another sockc{} holds the lock on {} (waited {}s; --lock-timeout sets how long)",
        holder.as_ref().map(|h| format!(" (PID {h})")).unwrap_or_default(), path.display(), waited.as_secs())]
    Busy {
        path: PathBuf,
        holder: Option<String>,
        waited: Duration,
    },
    #[error("{} record {}", what, path.display())]
    OpenRecord {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("{} record {}: chunk {chunk}", what, path.display())]
    ReadRecord {
        what: &'static str,
        path: PathBuf,
        chunk: u32,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} record {}: not a record sockc wrote ({shape}, where a record is an array \
         map of 4-byte keys and {CHUNK}-byte values); it was not read",
        what,
        path.display()
    )]
    NotARecord {
        what: &'static str,
        path: PathBuf,
        shape: String,
    },
    #[error(
        "{}: not {what} this sockc wrote; it was not read (remove it once you know whose it is)",
        path.display()
    )]
    NotPendingRecord { path: PathBuf, what: String },
    #[error("{} record {}: chunk {chunk} missing", what, path.display())]
    RecordChunkMissing {
        what: &'static str,
        path: PathBuf,
        chunk: u32,
    },
    #[error("{} record {}", what, path.display())]
    RecordJson {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("manifest {}: format {found} (this sockc reads 1 to {MANIFEST_FORMAT})", path.display())]
    ManifestFormat { path: PathBuf, found: u32 },
    #[error(
        "journal {}: an unfinished command of a newer sockc (manifest format {found}; this \
         sockc reads 1 to {MANIFEST_FORMAT}), which this one cannot finish or undo: run that \
         sockc's `repair`",
        path.display()
    )]
    JournalFormat { path: PathBuf, found: u32 },
    #[error(
        "{}: {problem}; the install's record of its set entries or rule text is damaged: \
         `sockc flush` the install and apply its rule file again",
        path.display()
    )]
    Bulk { path: PathBuf, problem: String },
    #[error("{} record {}", what, path.display())]
    PinRecord {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: PinError,
    },
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
