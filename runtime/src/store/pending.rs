//! The pending confirmation of an install (`sockc apply --confirm`), the one record of
//! an install kept off bpffs: a file in the state directory (`/var/lib/sockc`, or
//! `$SOCKC_STATE_DIR`), so that a reboot, which empties bpffs, cannot forget that the
//! rules a file holds were never confirmed.
//!
//! ```text
//! <state>/pending/<name>.json                 installs on the default bpffs
//! <state>/bpffs-<digest>/pending/<name>.json  installs on another bpffs (--bpffs)
//! ```
//!
//! A record is written before the change it guards touches the kernel and names the
//! install by its instance ([`super::Manifest::instance`]), the rules to put back
//! (their text, written out to compile on their own, or none: nothing was installed),
//! the deadline (wall clock, and the boot clock of the boot that armed it), the probes
//! and the token of the one watcher allowed to act on it. It is either *pending* (the
//! change is installed, or may be, and rolls back at the deadline unless confirmed) or
//! *rolled back* (kept to say why, and so that an unattended re-apply of a file that
//! holds the rolled-back rules installs the rules before them instead).
//!
//! Invariants: every change of a record is made under the store's lock, by one
//! `rename` of a fully written and synced file (`sockc_compiler::output`), in a
//! directory only root can change (checked from `/` down, as a `--bpffs` path is); a
//! record that is not one this sockc wrote is refused, never guessed at.

use std::{
    io::Read,
    os::unix::fs::{MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::{bpffs::ensure_private_dir, error::io_err, StoreError};
use crate::fault::point;

/// The schema of a record; a record of another is not read.
pub const SCHEMA: &str = "sockc.pending/1";

/// Where state directories live unless `SOCKC_STATE_DIR` names another.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sockc";

/// The bpffs whose installs keep their records in the state directory itself.
const DEFAULT_BPFFS: &str = "/sys/fs/bpf";

/// A record is at most this large (it holds a rule file's text, written out).
const MAX_RECORD_BYTES: u64 = 512 << 20;

/// A change of an install that is not confirmed yet, or was rolled back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub schema: String,
    pub name: String,
    /// The install's instance the change was applied to (or made).
    pub instance: String,
    pub state: PendingState,
    /// `/proc/sys/kernel/random/boot_id` when armed.
    pub boot_id: String,
    pub armed_unix: u64,
    /// When the change rolls back, wall clock (what a later boot compares).
    pub deadline_unix: u64,
    /// The same deadline on the boot clock (`CLOCK_BOOTTIME`, nanoseconds) of the boot
    /// that armed it: what that boot compares, so that setting the clock back or
    /// forward does not move the deadline.
    pub deadline_boot_ns: u64,
    /// The install's generation before the change (`None`: nothing was installed).
    pub from_generation: Option<u64>,
    /// The rules put back at the deadline (`None`: the install is flushed).
    pub previous: Option<Previous>,
    /// SHA-256 of the rules of the change (the last apply's, when several applies
    /// joined one window).
    pub change_sha256: String,
    pub change_label: Option<String>,
    /// Host-side probes (`tcp:HOST:PORT`) that must hold until the deadline.
    pub probes: Vec<String>,
    /// The watcher allowed to act on this record carries this token; a record armed
    /// again gets a new one, and an older watcher then stops.
    pub token: String,
    pub watcher_pid: Option<u32>,
    /// Set when the change was rolled back.
    pub rolled_back: Option<RolledBack>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PendingState {
    Pending,
    RolledBack,
}

/// The rules a change rolls back to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Previous {
    pub generation: u64,
    /// The rule text, `file` sets written out (it compiles on its own).
    pub text: String,
    pub source_file: String,
    pub label: Option<String>,
    /// The install's network namespace, as its manifest records it.
    pub netns: Option<String>,
}

/// What became of a change that was not confirmed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolledBack {
    pub at_unix: u64,
    pub reason: String,
    /// The generation installed after the rollback (`None`: nothing is).
    pub generation: Option<u64>,
    /// What the rollback's recovery finished or removed first (interrupted work,
    /// leftovers of an interrupted command), as each command says it; absent in a
    /// record of an older sockc.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovered: Vec<String>,
    /// What the rollback could not remove, with the fix (a rollback to nothing is a
    /// flush, which goes on beside a leftover it cannot remove: every hook is off,
    /// the install's directory stays holding it); absent when nothing stayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stayed: Option<String>,
}

impl Pending {
    /// True when the deadline has passed: on the boot clock when this boot armed it,
    /// else on the wall clock.
    pub fn expired(&self) -> bool {
        if self.boot_id == boot_id() {
            boot_clock_ns() >= self.deadline_boot_ns
        } else {
            now_unix() >= self.deadline_unix
        }
    }

    /// Seconds until the deadline (0 once it passed), on the clock [`expired`]
    /// compares.
    ///
    /// [`expired`]: Pending::expired
    pub fn remaining_secs(&self) -> f64 {
        if self.boot_id == boot_id() {
            self.deadline_boot_ns.saturating_sub(boot_clock_ns()) as f64 / 1e9
        } else {
            self.deadline_unix.saturating_sub(now_unix()) as f64
        }
    }

    /// Whether the boot that armed it is this one.
    pub fn this_boot(&self) -> bool {
        self.boot_id == boot_id()
    }

    pub fn is_pending(&self) -> bool {
        self.state == PendingState::Pending
    }
}

/// `bpffs` as one name whatever its spelling: its canonical path (`..`, `.` and links
/// resolved), or, where it cannot be resolved, its absolute one. Every spelling of one
/// store (`bpffs`, `./bpffs`, `x/../bpffs`, a link to it) names one state directory
/// ([`state_dir`]), and a watcher started in another directory finds it
/// (`confirmation::spawn_watcher`).
pub fn bpffs_named(bpffs: &Path) -> PathBuf {
    std::fs::canonicalize(bpffs)
        .or_else(|_| std::path::absolute(bpffs))
        .unwrap_or_else(|_| bpffs.to_path_buf())
}

/// The state directory of the installs on `bpffs` (nothing is made).
pub fn state_dir(bpffs: &Path) -> PathBuf {
    let base = std::env::var_os("SOCKC_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from);
    let bpffs = bpffs_named(bpffs);
    if bpffs == Path::new(DEFAULT_BPFFS) {
        return base;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bpffs.as_os_str().as_encoded_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    base.join(format!("bpffs-{hex}"))
}

/// The records of one state directory.
pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn new(state_dir: &Path) -> Records {
        Records {
            dir: state_dir.join("pending"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Install `name`'s record, if it has one: read only from a regular file of root's
    /// (not through a link) in a directory only root can change, as it says which
    /// rules root's sockc installs at the deadline.
    pub fn read(&self, name: &str) -> Result<Option<Pending>, StoreError> {
        if !self.dir.exists() {
            return Ok(None);
        }
        super::check_path_owners(&self.dir)?;
        let path = self.path(name);
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let meta = file.metadata().map_err(io_err(&path))?;
        if !meta.is_file() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
            return Err(StoreError::Unsafe {
                path,
                uid: meta.uid(),
                mode: meta.mode() & 0o7777,
            });
        }
        let mut text = String::new();
        file.take(MAX_RECORD_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io_err(&path))?;
        let record: Pending = serde_json::from_str(&text)
            .ok()
            .filter(|r: &Pending| r.schema == SCHEMA && r.name == name)
            .ok_or_else(|| StoreError::NotPendingRecord {
                path: path.clone(),
                what: format!("a pending confirmation ({SCHEMA}) of install `{name}`"),
            })?;
        Ok(Some(record))
    }

    /// [`Self::read`], when the record's change is still pending confirmation (not one
    /// rolled back, which stays on record).
    pub fn read_pending(&self, name: &str) -> Result<Option<Pending>, StoreError> {
        Ok(self.read(name)?.filter(Pending::is_pending))
    }

    /// Writes `record` in place of install `record.name`'s (the directories made
    /// 0700, every directory from `/` down checked to be only root's to change).
    pub fn write(&self, record: &Pending) -> Result<(), StoreError> {
        self.ensure_dir()?;
        let path = self.path(&record.name);
        let bytes = serde_json::to_vec(record).expect("a record serializes");
        point(&format!(
            "write the pending confirmation {}",
            path.display()
        ));
        sockc_compiler::output::replace_file(&path, &bytes).map_err(|e| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Removes install `name`'s record (nothing when it has none).
    pub fn remove(&self, name: &str) -> Result<(), StoreError> {
        let path = self.path(name);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(());
        }
        point(&format!(
            "remove the pending confirmation {}",
            path.display()
        ));
        match std::fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&self.dir);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The state directory and its `pending` directory made (or checked) private.
    fn ensure_dir(&self) -> Result<(), StoreError> {
        let state = self.dir.parent().expect("pending has a parent");
        if let Some(base) = state.parent().filter(|b| !b.exists()) {
            std::fs::create_dir_all(base).map_err(io_err(base))?;
        }
        ensure_private_dir(state)?;
        super::check_path_owners(state)?;
        ensure_private_dir(&self.dir)
    }
}

/// The rename is on disk before the change it arms reaches the kernel (a crash right
/// after must not forget it); a failure here leaves the rename to the file system's
/// own flush, which is all that can be done.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// This boot's id (empty when the kernel does not say).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `CLOCK_BOOTTIME` in nanoseconds: monotonic, counting suspend.
pub fn boot_clock_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the one timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A random token in hex (16 bytes).
pub fn new_token() -> String {
    super::manifest::new_instance()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> Pending {
        Pending {
            schema: SCHEMA.into(),
            name: name.into(),
            instance: "i".into(),
            state: PendingState::Pending,
            boot_id: boot_id(),
            armed_unix: now_unix(),
            deadline_unix: now_unix() + 60,
            deadline_boot_ns: boot_clock_ns() + 60_000_000_000,
            from_generation: Some(1),
            previous: None,
            change_sha256: "00".into(),
            change_label: None,
            probes: Vec::new(),
            token: new_token(),
            watcher_pid: None,
            rolled_back: None,
        }
    }

    fn state(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sockc-pending-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// A record reads back as written; its deadline is ahead on both clocks.
    #[test]
    fn a_record_reads_back_and_is_not_expired() {
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let dir = state("rw");
        let records = Records::new(&dir);
        assert_eq!(records.read("fw").unwrap(), None);
        let r = record("fw");
        records.write(&r).unwrap();
        assert_eq!(records.read("fw").unwrap(), Some(r.clone()));
        assert!(!r.expired());
        assert!(r.remaining_secs() > 50.0);
        records.remove("fw").unwrap();
        assert_eq!(records.read("fw").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A record root's sockc would act on is refused when another user could have
    /// put it there: through a link, owned by another user, or another name's.
    #[test]
    fn a_planted_record_is_refused() {
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let dir = state("planted");
        let records = Records::new(&dir);
        records.write(&record("fw")).unwrap();
        let planted = dir.join("planted.json");
        std::fs::write(&planted, serde_json::to_vec(&record("lnk")).unwrap()).unwrap();
        std::os::unix::fs::symlink(&planted, records.path("lnk")).unwrap();
        assert!(records.read("lnk").is_err(), "read through a link");
        std::os::unix::fs::chown(records.path("fw"), Some(65534), None).unwrap();
        assert!(matches!(records.read("fw"), Err(StoreError::Unsafe { .. })));
        std::fs::write(
            records.path("other"),
            serde_json::to_vec(&record("fw")).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            records.read("other"),
            Err(StoreError::NotPendingRecord { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Installs on another bpffs keep their records apart from the default one's.
    #[test]
    fn each_bpffs_has_its_own_state_directory() {
        let default = state_dir(Path::new("/sys/fs/bpf"));
        let other = state_dir(Path::new("/tmp/x/bpffs"));
        assert_ne!(default, other);
        assert!(other.starts_with(&default));
    }

    /// Every spelling of one bpffs names one state directory: relative, through `..`,
    /// through a link (a `confirm` that spelled it otherwise than the `apply` found no
    /// record and said nothing was pending, and a watcher started in `/` with a
    /// relative one never rolled back).
    #[test]
    fn every_spelling_of_a_bpffs_names_one_state_directory() {
        let top = std::env::temp_dir().join(format!("sockc-spell-{}", std::process::id()));
        let store = top.join("bpffs");
        std::fs::create_dir_all(top.join("x")).unwrap();
        std::fs::create_dir_all(&store).unwrap();
        std::os::unix::fs::symlink(&store, top.join("link")).unwrap();
        let one = state_dir(&store);
        for spelling in [
            top.join("x/../bpffs"),
            top.join("link"),
            top.join("./bpffs/"),
        ] {
            assert_eq!(state_dir(&spelling), one, "{}", spelling.display());
        }
        let cwd = std::env::current_dir().unwrap();
        let relative = pathdiff(&store, &cwd);
        assert_eq!(state_dir(&relative), one, "{}", relative.display());
        assert_eq!(bpffs_named(&relative), store.canonicalize().unwrap());
        std::fs::remove_dir_all(&top).unwrap();
    }

    /// `to` relative to `from` (both absolute): `../..` up to their common part.
    fn pathdiff(to: &Path, from: &Path) -> PathBuf {
        let common = to
            .components()
            .zip(from.components())
            .take_while(|(a, b)| a == b)
            .count();
        let ups = from.components().count() - common;
        let mut p: PathBuf = std::iter::repeat_n("..", ups).collect();
        p.extend(to.components().skip(common));
        p
    }
}
