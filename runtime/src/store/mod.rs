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
//! Invariants: a record is replaced by one `rename` of a fully written pin
//! (`<record>_new`), so a reader sees the old or the new one, never a mix; a pin is
//! read as a record only if it has a record's shape (an array map of 4-byte keys and
//! 16 KiB values, its length within them), since a lookup writes the map's own value
//! size into the buffer it is given; an install
//! is removed in one order ([`Store::remove_install`]: generations, attachments and
//! other pins, the manifest, its bulk records, the journal last, then the directory), so a removal cut
//! short leaves either the journal that says to finish it or a directory with no
//! record at all, which is debris every command removes; nothing is removed through
//! a symbolic link (a link in the store goes itself, never what it leads to, and a
//! link in an install's place is no install); the lock is
//! the `sockc` directory itself, which only root can open (0700), so only root can
//! hold it, and a waiter gives up after a timeout naming the holder's PID; a state
//! directory that is not root's, or that others may write, is refused, never used,
//! and so is a `--bpffs` path any directory of which, from `/` down, another user
//! owns or may write (unless sticky), or that a symbolic link leads through from
//! such a directory ([`check_path_owners`]); pins are 0600 and directories 0700
//! whatever the caller's umask (the umask is 077 while a [`Store`] is open, and
//! restored when it closes, so every pin — aya's, `bpf_obj_pin`'s — and every
//! directory gets exactly those modes); a bpffs that is not the
//! host's (a private mount namespace, as under `ip netns exec`) is refused, because
//! pins made there vanish when the command exits.

use std::{
    fs::File,
    os::{
        fd::AsFd,
        unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt},
    },
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use aya::{maps::MapData, pin::PinError};
use serde::{Deserialize, Serialize};
use sockc_compiler::hooks::HookKind;

use crate::{
    attach::{AttachMode, AttachPoint, Attachment, Expected, TcFilter},
    fault::point,
    plan::Snapshot,
    sys,
};

mod bulk;
pub mod journal;
mod memo;
mod record_writer;

use record_writer::{RecordWriter, CHUNK};

pub use bulk::BulkRefs;
pub use journal::Journal;

/// Version of the manifest format (2 adds the interface and namespace identities;
/// format 1 manifests are read with those unknown; 3 adds the namespace's cookie, so
/// an older sockc, which would tell namespaces apart by inode alone, refuses to act
/// on it); 4 keeps map contents and the rule text in bulk records (`bulk`), which an
/// older sockc would not read; 5 records the rule text as written, its `file` sets
/// written out from the set maps' contents only when read back
/// ([`Manifest::rule_text`]), which an older sockc would take from the set file; 6
/// keeps the snapshot's programs (rules and disassembly) in a bulk record too, which an
/// older sockc would find empty.
pub const MANIFEST_FORMAT: u32 = 6;
/// The first format whose map contents and rule text are in bulk records.
const BULK_FORMAT: u32 = 4;
/// The first format whose snapshot's programs are in a bulk record.
const PROGRAMS_BULK_FORMAT: u32 = 6;
/// The first format whose recorded rule text leaves the `file` sets that have set
/// maps as written (`sockc_compiler::standalone::sets_without_maps_written_out`).
pub const SETS_FROM_MAPS_FORMAT: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
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
        "{} is owned by uid {uid} with mode {mode:04o}, and the bpffs path {} goes through \
         it: whoever owns or may write a directory on the way could put another bpffs in \
         its place. Every directory from / down to BPFFS/sockc must be root's and writable \
         by nobody else (or sticky); fix its owner and mode, or mount bpffs elsewhere",
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `sockc status` and the next `sockc apply` need to know about an install.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub generation: u64,
    /// The `g<N>` directory holding the live programs and maps. It lags `generation`
    /// when later applies only changed set contents (maps updated in place).
    pub objects_dir: String,
    pub source_file: String,
    pub source_sha256: String,
    pub applied_unix: u64,
    /// The network namespace the hooks were attached in, if not the caller's.
    pub netns: Option<String>,
    /// That namespace's inode (0: not recorded). The kernel gives a free inode to the
    /// next new namespace at once, so the inode alone does not say which namespace it
    /// was: see `netns_cookie`.
    #[serde(default)]
    pub netns_ino: u64,
    /// That namespace's cookie (`SO_NETNS_COOKIE`, never reused in a boot), which is
    /// what identifies it. 0 in manifests of formats 1 and 2: such an install's
    /// namespace is taken to be the one with its inode only while one of its hooks is
    /// attached there (a live namespace's inode is its own), and the next commit
    /// records the cookie (`install::netns_scope`).
    #[serde(default)]
    pub netns_cookie: u64,
    pub programs: Vec<InstalledProgram>,
    /// Rules (with counter slots), bytecode, map shapes and set contents as applied.
    pub snapshot: Snapshot,
    /// The socket map slot of each declared socket name (sk_lookup); see
    /// `install::slot_registry`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub socket_slots: std::collections::BTreeMap<String, u32>,
    /// The rule text as applied; its `file` sets are written out
    /// (`sockc_compiler::standalone`) before format 5, and from format 5 only those
    /// without a set map (the others come from the map contents, [`Manifest::rule_text`]).
    /// `None` in manifests written before sockc kept it.
    ///
    /// Never serialized with the manifest: the store keeps it in a bulk record (its
    /// `bulk` module), and reads it from the JSON only in manifests of formats 1 to 3.
    #[serde(default, skip_serializing)]
    pub source_text: Option<String>,
}

impl Manifest {
    /// The recorded rule text made to compile on its own (what `sockc show` prints and
    /// `diff --installed` compiles): from format 5, its `file` sets are written out from
    /// the recorded contents of their set maps. `None` when no text is recorded.
    pub fn rule_text(&self) -> Option<String> {
        let text = self.source_text.as_deref()?;
        if self.format < SETS_FROM_MAPS_FORMAT {
            return Some(text.to_string());
        }
        let sets = sockc_compiler::standalone::RecordedSets::from_maps(&self.snapshot.map_contents);
        Some(sets.written_out(text))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstalledProgram {
    pub symbol: String,
    pub hook: HookKind,
    pub attach_to: String,
    pub prog_id: u32,
    /// The kernel's program tag (hex), as bpftool shows it.
    pub tag: String,
    /// How it was attached (`None` while it is not: a hook the kernel refused).
    pub attach_mode: Option<AttachMode>,
    /// For `clsact`: the netlink filter that holds the program (there is no link).
    #[serde(default)]
    pub tc_filter: Option<TcFilter>,
    /// The interface's index when the hook was attached (0: not recorded).
    #[serde(default)]
    pub ifindex: u32,
    /// For hooks attached to a map (sockmap): that map, pinned at
    /// [`Store::keep_path`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_map: Option<String>,
}

impl InstalledProgram {
    pub fn attach_point(&self) -> AttachPoint<'_> {
        AttachPoint {
            hook: self.hook,
            attach_to: &self.attach_to,
        }
    }

    /// What holds the program on its hook: the clsact filter, or the link pinned in
    /// the install's directory.
    pub fn attachment(&self, store: &Store, install: &str) -> Attachment {
        match (&self.attach_map, self.tc_filter) {
            (Some(map), _) => Attachment::Map(store.keep_path(install, map)),
            (None, Some(f)) => Attachment::TcFilter(f),
            (None, None) => Attachment::Link(store.link_path(install, &self.symbol)),
        }
    }

    /// Where its attachment is pinned: the map it attaches to, or its link.
    pub fn attach_pin(&self, store: &Store, install: &str) -> PathBuf {
        match &self.attach_map {
            Some(map) => store.keep_path(install, map),
            None => store.link_path(install, &self.symbol),
        }
    }

    pub fn expected(&self) -> Expected {
        Expected {
            prog_id: self.prog_id,
            ifindex: self.ifindex,
        }
    }
}

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
    manifest_memo: memo::RecordMemo<Manifest>,
}

/// Sets the process's umask to 077 and puts the previous one back on drop: what the
/// kernel gives a pin (`0600 & ~umask`) and `mkdir` a directory (`0700 & ~umask`)
/// are then exactly 0600 and 0700, never less (a umask of 0277 made pins 0400 and
/// directories 0500) and never more.
struct UmaskGuard(libc::mode_t);

impl UmaskGuard {
    fn private() -> UmaskGuard {
        // SAFETY: umask has no preconditions and cannot fail.
        UmaskGuard(unsafe { libc::umask(0o077) })
    }
}

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::umask(self.0) };
    }
}

/// Whether [`Store::open_with`] says on stderr that it waits for another sockc.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// `sockc: waiting for another sockc ...` after a second.
    Tell,
    /// Nothing (`-q`).
    Quiet,
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

    /// Removes the directory of a generation's objects, pin by pin.
    pub fn remove_objects(&self, name: &str, dir: &str) -> Result<(), StoreError> {
        remove_tree(&self.objects_dir(name, dir))
    }

    /// Removes one pin of an install's directory.
    pub fn remove_pin(&self, path: &Path) -> Result<(), StoreError> {
        unlink(path)
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

    /// What install `name`'s directory holds that only a recorded install has: its
    /// generations' directories (`g<N>/`) and its hooks' links (`link_*`), sorted, with
    /// the ids of the programs pinned in those generations. A first apply killed
    /// before its journal has pinned neither, and [`Store::remove_install`] takes them
    /// off before the records that name them: a directory that holds them with neither
    /// record had its manifest removed by something else.
    pub fn unrecorded_objects(&self, name: &str) -> (Vec<String>, Vec<u32>) {
        let Ok(entries) = std::fs::read_dir(self.dir(name)) else {
            return (Vec::new(), Vec::new());
        };
        let (mut held, mut programs) = (Vec::new(), Vec::new());
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let is_generation = e.file_type().is_ok_and(|t| t.is_dir())
                && file.len() > 1
                && file.starts_with('g')
                && file[1..].bytes().all(|b| b.is_ascii_digit());
            if is_generation {
                for p in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                    if !p.file_name().to_string_lossy().starts_with("prog_") {
                        continue;
                    }
                    let info = sys::obj_get(&p.path()).and_then(|fd| sys::prog_info(fd.as_fd()));
                    programs.extend(info.map(|i| i.id));
                }
                held.push(format!("{file}/"));
            } else if file.starts_with("link_") {
                held.push(file);
            }
        }
        held.sort();
        programs.sort();
        (held, programs)
    }

    /// Whether install `name` has a directory (with records or without): a directory
    /// itself, not a symbolic link to one, which is not an install.
    pub fn has_dir(&self, name: &str) -> bool {
        std::fs::symlink_metadata(self.dir(name)).is_ok_and(|m| m.is_dir())
    }

    /// Removes install `name`'s directory in the one order that a kill at any point
    /// leaves recoverable (see the module docs): each generation directory's pins and
    /// the directory; the other pins (links, kept maps, the registry, half-written
    /// records); the manifest; the journal; the directory. Returns what was there
    /// besides the records. Nothing of the install is attached by it: hooks are taken
    /// off first by the caller, and pins held by nothing else go with their files.
    pub fn remove_install(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let dir = self.dir(name);
        // Never through a link: the files of the directory it leads to are not sockc's.
        if let Ok(m) = std::fs::symlink_metadata(&dir) {
            if !m.is_dir() {
                return Err(StoreError::Unsafe {
                    path: dir,
                    uid: m.uid(),
                    mode: m.mode() & 0o7777,
                });
            }
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut files: Vec<(String, bool)> = entries
            .flatten()
            .map(|e| {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                (e.file_name().to_string_lossy().into_owned(), is_dir)
            })
            .collect();
        // Generations first, then other pins, then the manifest, then the journal.
        // Bulk records after the manifest that names them, before the journal.
        let rank = |(f, is_dir): &(String, bool)| match (f.as_str(), is_dir) {
            (_, true) => 0,
            ("manifest", _) => 2,
            (f, _) if f.starts_with(bulk::PREFIX) => 3,
            ("journal", _) => 4,
            _ => 1,
        };
        files.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.0.cmp(&b.0)));
        let mut removed = Vec::new();
        for (file, is_dir) in &files {
            let path = dir.join(file);
            if *is_dir {
                remove_tree(&path)?;
                removed.push(format!("{file}/"));
            } else {
                unlink(&path)?;
                if !matches!(file.as_str(), "manifest" | "journal")
                    && !file.starts_with(bulk::PREFIX)
                {
                    removed.push(file.clone());
                }
            }
        }
        point(&format!("rmdir {}", dir.display()));
        match std::fs::remove_dir(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&dir)(e)),
            _ => Ok(removed),
        }
    }

    pub fn manifest(&self, name: &str) -> Result<Option<Manifest>, StoreError> {
        let path = self.dir(name).join("manifest");
        if let Some(m) = self.manifest_memo.get(&path) {
            return Ok(Some(m));
        }
        let before = memo::RecordMemo::<Manifest>::id(&path);
        let Some(bytes) = read_record(&path, "manifest")? else {
            return Ok(None);
        };
        let mut m = parse_manifest(&bytes, &path)?;
        self.fill_bulk(name, &bytes, &path, &mut m)?;
        self.manifest_memo.put(&path, before, m.clone());
        Ok(Some(m))
    }

    /// The manifest without its bulk (map contents and rule text empty): what taking
    /// an install off needs, readable when a bulk record is damaged.
    pub fn manifest_without_bulk(&self, name: &str) -> Result<Option<Manifest>, StoreError> {
        let path = self.dir(name).join("manifest");
        let Some(bytes) = read_record(&path, "manifest")? else {
            return Ok(None);
        };
        parse_manifest(&bytes, &path).map(Some)
    }

    /// Replaces the manifest in one `rename`.
    pub fn write_manifest(&self, m: &mut Manifest) -> Result<(), StoreError> {
        self.write_manifest_recorded(m, None)
    }

    /// [`Store::write_manifest`], naming the bulk records `recorded` (what
    /// [`Store::write_journal`] returned for a journal whose target is `m`) instead of
    /// serializing and hashing `m`'s bulk again. `m`'s programs are lent to the store
    /// while it writes (from format 6 they are a bulk record, not part of the JSON).
    pub fn write_manifest_recorded(
        &self,
        m: &mut Manifest,
        recorded: Option<&BulkRefs>,
    ) -> Result<(), StoreError> {
        let dir = self.ensure_install_dir(&m.name)?;
        let json = if m.format < BULK_FORMAT {
            // Kept in the format it has (an install an older sockc made, updated
            // without a new generation): its bulk stays inline, where that sockc reads it.
            inline_json(m)
        } else {
            let refs = put_bulk(&dir, m, recorded)?;
            with_programs_lent(m, |m| manifest_json(m, &refs))
        };
        write_record(&dir, "manifest", &json)?;
        Ok(())
    }

    /// Keeps `m`, the manifest just written, for this command's later reads
    /// ([`Store::manifest`]) while its pin is the one written: moved in, as a copy of
    /// 100,000 rules would cost what reading them back does.
    pub fn remember_manifest(&self, m: Manifest) {
        let path = self.dir(&m.name).join("manifest");
        self.manifest_memo.put(&path, None, m);
    }

    /// Writes the bulk records of `m` (those its format has) and returns their
    /// references, for a journal or manifest of `m` to name
    /// ([`Store::write_journal`]'s `recorded`).
    pub fn write_bulk(&self, m: &Manifest) -> Result<BulkRefs, StoreError> {
        put_bulk(&self.ensure_install_dir(&m.name)?, m, None)
    }

    pub fn journal(&self, name: &str) -> Result<Option<Journal>, StoreError> {
        let path = self.dir(name).join("journal");
        let Some(bytes) = read_record(&path, "journal")? else {
            return Ok(None);
        };
        // Its format first: a newer sockc's target may parse as this one's with parts
        // missing (its rules kept where this sockc does not look), and be committed so.
        let found = journal_target_format(&bytes, &path)?;
        if found > MANIFEST_FORMAT {
            return Err(StoreError::JournalFormat { path, found });
        }
        let mut j: Journal = parse_record(&bytes, "journal", &path)?;
        if let Some(target) = j.op.target_mut() {
            self.fill_bulk(name, &bytes, &path, target)?;
        }
        Ok(Some(j))
    }

    /// The journal without its target's bulk (map contents, rule text and, from format
    /// 6, the rules empty): what undoing or giving up the work in flight needs,
    /// readable when a bulk record its target names is damaged.
    pub fn journal_without_bulk(&self, name: &str) -> Result<Option<Journal>, StoreError> {
        let path = self.dir(name).join("journal");
        let Some(bytes) = read_record(&path, "journal")? else {
            return Ok(None);
        };
        parse_record(&bytes, "journal", &path).map(Some)
    }

    /// Puts the bulk the record `bytes` names ([`bulk`]) into `m`: its map contents
    /// and rule text. A record of a format before bulk records holds them itself.
    fn fill_bulk(
        &self,
        name: &str,
        bytes: &[u8],
        path: &Path,
        m: &mut Manifest,
    ) -> Result<(), StoreError> {
        let refs = parse_record::<bulk::WithBulk>(bytes, "bulk references of", path)?.bulk;
        if refs == bulk::BulkRefs::default() {
            return Ok(());
        }
        let bulk = bulk::get(&self.dir(name), &refs)?;
        m.snapshot.map_contents = bulk.contents;
        m.source_text = bulk.source;
        if let Some(programs) = bulk.programs {
            m.snapshot.programs = programs;
        }
        Ok(())
    }

    /// The bulk references the install's manifest and journal records hold, read
    /// without their bulk; `None` if one of them cannot be read.
    fn bulk_in_use(&self, name: &str) -> Option<Vec<bulk::BulkRefs>> {
        let dir = self.dir(name);
        let mut refs = Vec::new();
        for record in ["manifest", "journal"] {
            let path = dir.join(record);
            if let Some(bytes) = read_record(&path, record).ok()? {
                refs.push(
                    parse_record::<bulk::WithBulk>(&bytes, record, &path)
                        .ok()?
                        .bulk,
                );
            }
        }
        Some(refs)
    }

    /// Records `j` as the install's work in flight, in one `rename`. Returns the
    /// references to the bulk records of its target, which a later journal or the
    /// manifest committing that same target can name as they are (`recorded`,
    /// [`Store::write_manifest_recorded`]). The target's programs are lent to the store
    /// while it writes.
    pub fn write_journal(
        &self,
        name: &str,
        j: &mut Journal,
        recorded: Option<&BulkRefs>,
    ) -> Result<BulkRefs, StoreError> {
        let dir = self.ensure_install_dir(name)?;
        let refs = match j.op.target() {
            Some(t) => put_bulk(&dir, t, recorded)?,
            None => bulk::BulkRefs::default(),
        };
        let lent = j.op.target_mut().and_then(lend_programs);
        let json = stored_json(j, &refs);
        if let (Some(t), Some(programs)) = (j.op.target_mut(), lent) {
            t.snapshot.programs = programs;
        }
        write_record(&dir, "journal", &json)?;
        Ok(refs)
    }

    /// The install's socket registry (who registered which socket; `install::slot_registry`),
    /// empty when there is none.
    pub fn registry<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, StoreError> {
        let path = self.dir(name).join("registry");
        let Some(bytes) = read_record(&path, "registry")? else {
            return Ok(T::default());
        };
        serde_json::from_slice(&bytes).map_err(|source| StoreError::RecordJson {
            what: "registry",
            path,
            source,
        })
    }

    /// Replaces the socket registry in one `rename`.
    pub fn write_registry<T: Serialize>(&self, name: &str, r: &T) -> Result<(), StoreError> {
        let dir = self.ensure_install_dir(name)?;
        let json = serde_json::to_vec(r).expect("registry serializes");
        write_record(&dir, "registry", &json)
    }

    /// Removes the journal: the work it recorded is done or undone.
    pub fn clear_journal(&self, name: &str) -> Result<(), StoreError> {
        let path = self.dir(name).join("journal");
        if path.exists() {
            unlink(&path)?;
        }
        self.collect_bulk(name).map(|_| ())
    }

    /// Removes the bulk records of install `name` that no record names: those of an
    /// apply that failed before its journal named them. Best effort: what stays is
    /// garbage the next journal's end collects.
    pub fn collect_unnamed_bulk(&self, name: &str) {
        let _ = self.collect_bulk(name);
    }

    /// Removes the bulk records neither the manifest nor the journal names (those of
    /// a generation replaced or rolled back); nothing when one cannot be read.
    fn collect_bulk(&self, name: &str) -> Result<Vec<String>, StoreError> {
        match self.bulk_in_use(name) {
            Some(refs) => bulk::collect(&self.dir(name), &refs),
            None => Ok(Vec::new()),
        }
    }

    /// Removes half-written records (`*_new`), generation directories that neither
    /// the manifest nor the journal names, and shared maps (`keep_*`) not in
    /// `keep_maps`: what a killed command left behind before it recorded anything.
    /// Returns what it removed.
    pub fn collect_garbage(
        &self,
        name: &str,
        keep: &[&str],
        keep_maps: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let dir = self.dir(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut removed = Vec::new();
        for e in entries {
            let e = e.map_err(io_err(&dir))?;
            let file = e.file_name().to_string_lossy().into_owned();
            let stray_record = file.ends_with("_new");
            let stray_generation = file.starts_with('g')
                && file[1..].bytes().all(|b| b.is_ascii_digit())
                && !keep.contains(&file.as_str());
            // Kept maps of sockmap groups only (the sk_lookup socket map is the
            // install's for as long as it exists).
            let stray_kept_map = file
                .strip_prefix("keep_")
                .is_some_and(|m| sockc_compiler::ir::sockmap::MapRole::of_map(m).is_some())
                && !keep_maps.contains(&file);
            if stray_record || stray_generation || stray_kept_map {
                // A link under such a name goes itself, never what it leads to.
                remove_tree(&e.path())?;
                removed.push(file);
            }
        }
        removed.extend(self.collect_bulk(name)?);
        Ok(removed)
    }
}

/// A record's JSON as the store writes it: `record`'s own fields and the references
/// to its bulk ([`bulk::Stored`]).
/// A manifest's JSON as the store writes it ([`stored_json`]), with an empty
/// `map_contents` list in its snapshot: a sockc of formats 1 to 3 needs that field to
/// parse the manifest at all, and then refuses it for its format (by name: "format 4,
/// this sockc reads 1 to 3") instead of failing on a missing field. Never in a
/// journal: an older sockc does not check a journal's format, and would act on it.
fn manifest_json(m: &Manifest, refs: &bulk::BulkRefs) -> Vec<u8> {
    let json = stored_json(m, refs);
    // The first `"snapshot":{` is the manifest's own field: inside a string a quote
    // is escaped (`\"`), and no field serialized before the snapshot has one of that
    // name. Spliced into the bytes rather than through a `serde_json::Value`, which
    // would copy every rule and instruction of a large snapshot twice more.
    const KEY: &[u8] = b"\"snapshot\":{";
    let Some(at) = json.windows(KEY.len()).position(|w| w == KEY) else {
        return json;
    };
    let at = at + KEY.len();
    let mut out = Vec::with_capacity(json.len() + 20);
    out.extend_from_slice(&json[..at]);
    out.extend_from_slice(b"\"map_contents\":[]");
    if json[at] != b'}' {
        out.push(b',');
    }
    out.extend_from_slice(&json[at..]);
    out
}

/// Writes the bulk records of `m` (of a format that has them) into `dir`, or takes
/// `recorded`, the references a journal of this same target got, as they are.
fn put_bulk(dir: &Path, m: &Manifest, recorded: Option<&BulkRefs>) -> Result<BulkRefs, StoreError> {
    let programs = (m.format >= PROGRAMS_BULK_FORMAT).then_some(&m.snapshot.programs[..]);
    let put = || {
        bulk::put(
            dir,
            &m.snapshot.map_contents,
            m.source_text.as_deref(),
            programs,
        )
    };
    match recorded {
        Some(refs) => {
            debug_assert_eq!(
                Some(refs),
                put().ok().as_ref(),
                "the records are this manifest's"
            );
            Ok(refs.clone())
        }
        None => put(),
    }
}

/// Takes `m`'s programs out when its format keeps them in a bulk record (their JSON
/// is not repeated in the manifest's or journal's own); `None`, leaving them in
/// place, otherwise.
fn lend_programs(m: &mut Manifest) -> Option<Vec<crate::plan::ProgramSnapshot>> {
    (m.format >= PROGRAMS_BULK_FORMAT).then(|| std::mem::take(&mut m.snapshot.programs))
}

/// `f` of `m` with its programs lent out ([`lend_programs`]), then given back.
fn with_programs_lent<R>(m: &mut Manifest, f: impl FnOnce(&Manifest) -> R) -> R {
    let lent = lend_programs(m);
    let out = f(m);
    if let Some(programs) = lent {
        m.snapshot.programs = programs;
    }
    out
}

fn stored_json<T: Serialize>(record: &T, refs: &bulk::BulkRefs) -> Vec<u8> {
    serde_json::to_vec(&bulk::Stored { record, bulk: refs }).expect("records serialize")
}

/// A manifest of a format before bulk records, as those formats write it: the map
/// contents in its snapshot and the rule text beside them.
fn inline_json(m: &Manifest) -> Vec<u8> {
    let mut v = serde_json::to_value(m).expect("manifests serialize");
    v["snapshot"]["map_contents"] =
        serde_json::to_value(&m.snapshot.map_contents).expect("map contents serialize");
    if let Some(text) = &m.source_text {
        v["source_text"] = text.as_str().into();
    }
    serde_json::to_vec(&v).expect("manifests serialize")
}

/// A manifest's JSON, its format checked first: one a newer sockc wrote may not fit
/// [`Manifest`] at all, and is reported as a format this sockc does not read rather
/// than as a JSON error.
fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Manifest, StoreError> {
    #[derive(Deserialize)]
    struct FormatOnly {
        #[serde(default)]
        format: u32,
    }
    let found = parse_record::<FormatOnly>(bytes, "manifest", path)?.format;
    if found == 0 || found > MANIFEST_FORMAT {
        return Err(StoreError::ManifestFormat {
            path: path.to_path_buf(),
            found,
        });
    }
    parse_record(bytes, "manifest", path)
}

/// The format of the manifest a journal's operation commits (0 for a flush).
fn journal_target_format(bytes: &[u8], path: &Path) -> Result<u32, StoreError> {
    #[derive(Deserialize)]
    struct OpOnly {
        op: serde_json::Value,
    }
    let op = parse_record::<OpOnly>(bytes, "journal", path)?.op;
    let format = op
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|v| v.get("target")?.get("format")?.as_u64());
    Ok(format.map_or(0, |f| u32::try_from(f).unwrap_or(u32::MAX)))
}

fn parse_record<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    what: &'static str,
    path: &Path,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::RecordJson {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` as the record `<dir>/<name>` ([`write_record_at`]).
fn write_record(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let at = bulk::open_dir(dir)?;
    write_record_at(dir, &at, name, &[bytes])
}

/// Writes `parts`, one after the other, as the record `<name>` ([`write_record_with`]).
fn write_record_at(
    dir: &Path,
    at: &std::os::fd::OwnedFd,
    name: &str,
    parts: &[&[u8]],
) -> Result<(), StoreError> {
    let len = parts.iter().map(|p| p.len()).sum();
    write_record_with(dir, at, name, len, |w| {
        parts
            .iter()
            .try_for_each(|p| std::io::Write::write_all(w, p))
    })
}

/// Writes the `len` bytes `fill` writes into a new array map pinned as `<name>_new`
/// in the directory `at` is open on (bpffs refuses names with dots; the pin never
/// replaces anything: a leftover of a killed sockc is removed first), then renames it
/// over `<name>`.
fn write_record_with(
    dir: &Path,
    at: &std::os::fd::OwnedFd,
    name: &str,
    len: usize,
    fill: impl FnOnce(&mut RecordWriter) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let tmp = format!("{name}_new");
    let tmp_path = dir.join(&tmp);
    let fd = RecordWriter::create(len)
        .and_then(|mut w| fill(&mut w).and_then(|()| w.finish()))
        .map_err(io_err(&tmp_path))?;
    if std::fs::symlink_metadata(&tmp_path).is_ok() {
        // A record a killed sockc half wrote.
        unlink(&tmp_path)?;
    }
    point(&format!("pin {}", tmp_path.display()));
    sys::obj_pin_at(fd.as_fd(), at.as_fd(), &tmp).map_err(io_err(&tmp_path))?;
    point(&format!("rename {} to {name}", tmp_path.display()));
    // By path, in the directory `at` was checked to be (0700, root's, under the lock):
    // `rename(2)` is the step the crash tests kill at (strace injects on it).
    let path = dir.join(name);
    std::fs::rename(&tmp_path, &path).map_err(io_err(&path))
}

/// Removes the file (pin) at `path`; one that is gone already is fine.
fn unlink(path: &Path) -> Result<(), StoreError> {
    point(&format!("unlink {}", path.display()));
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

/// Removes a generation directory, or what else is at `dir`: its pins one by one, then
/// the directory (bpffs has no deeper trees). Nothing is followed: a symbolic link in it (or in its place) is
/// removed itself, never the directory it leads to, whose files are not sockc's.
fn remove_tree(dir: &Path) -> Result<(), StoreError> {
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

/// The bytes of the record pinned at `path`, `None` when there is none.
fn read_record(path: &Path, what: &'static str) -> Result<Option<Vec<u8>>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let map = MapData::from_pin(path).map_err(|source| StoreError::OpenRecord {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    let capacity = record_capacity(&map).map_err(|shape| StoreError::NotARecord {
        what,
        path: path.to_path_buf(),
        shape,
    })?;
    let fd = map.fd().as_fd();
    let read = |chunk: u32| -> Result<Vec<u8>, StoreError> {
        sys::map_lookup(fd, &chunk.to_ne_bytes(), CHUNK)
            .map_err(|source| StoreError::ReadRecord {
                what,
                path: path.to_path_buf(),
                chunk,
                source,
            })?
            .ok_or_else(|| StoreError::RecordChunkMissing {
                what,
                path: path.to_path_buf(),
                chunk,
            })
    };
    let first = read(0)?;
    let len = u64::from_le_bytes(first[..8].try_into().expect("8 bytes")) as usize;
    if len > capacity - 8 {
        return Err(StoreError::NotARecord {
            what,
            path: path.to_path_buf(),
            shape: format!("its length, {len} bytes, is more than its {capacity} bytes hold"),
        });
    }
    // Sized once from the length: a record of a million set entries is not copied
    // from one doubling to the next. Only tried: a torn length may ask for anything,
    // and such a record ends in a missing chunk below, not in an abort here.
    let mut bytes = Vec::new();
    let _ = bytes.try_reserve_exact(len.max(first.len() - 8));
    bytes.extend_from_slice(&first[8..]);
    let mut i = 1;
    while bytes.len() < len {
        // Only what the length still asks for: the last chunk's padding would not
        // fit the buffer sized above, and growing it would copy the whole record.
        let chunk = read(i)?;
        bytes.extend_from_slice(&chunk[..(len - bytes.len()).min(chunk.len())]);
        i += 1;
    }
    bytes.truncate(len);
    Ok(Some(bytes))
}

/// The bytes record `map` holds, when it has the shape of one the store writes (the
/// kernel copies a map's own value size, times the CPUs for a per-CPU map, into the
/// buffer a lookup gives it, and reads its own key size from the key: any other shape
/// would be a read or a write past a buffer); otherwise what shape it has.
fn record_capacity(map: &MapData) -> Result<usize, String> {
    let info = map
        .info()
        .map_err(|e| format!("its map information: {e}"))?;
    let kind = info.map_type().map_err(|e| format!("a map of type {e}"))?;
    let shape = (kind, info.key_size(), info.value_size() as usize);
    if shape != (aya::maps::MapType::Array, 4, CHUNK) || info.max_entries() == 0 {
        return Err(format!(
            "a {kind:?} map of {}-byte keys, {}-byte values, {} entries",
            info.key_size(),
            info.value_size(),
            info.max_entries()
        ));
    }
    Ok(info.max_entries() as usize * CHUNK)
}

/// Creates `dir` (0700, whatever the umask) or checks it: it must be root's and
/// writable by nobody else. A directory of root's that others may only read (as an
/// older sockc made them) is closed to 0700.
fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    if !dir.exists() {
        point(&format!("mkdir {}", dir.display()));
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(dir)(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io_err(dir))?;
    let mode = meta.mode() & 0o7777;
    if !meta.is_dir() || meta.uid() != 0 || mode & 0o022 != 0 {
        return Err(StoreError::Unsafe {
            path: dir.to_path_buf(),
            uid: meta.uid(),
            mode,
        });
    }
    if mode != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(dir))?;
    }
    Ok(())
}

/// Refuses a `--bpffs` path that someone other than root (or the caller) could
/// change under sockc: every directory the lookup of `bpffs` passes through, from `/`
/// down — the directories of the path as written, and, where a component is a
/// symbolic link, those of where it leads — must be owned by root or the caller and
/// writable by nobody else, unless sticky (as `/tmp`, where others cannot rename
/// what they do not own). Otherwise a user who owns a parent could rename it away and
/// put a link to another bpffs in its place, and root's next command would act on
/// that one. The directories checked are all only root's to change, so what is
/// checked stays true while sockc runs.
pub fn check_path_owners(bpffs: &Path) -> Result<(), StoreError> {
    let absolute = if bpffs.is_absolute() {
        bpffs.to_path_buf()
    } else {
        std::env::current_dir().map_err(io_err(bpffs))?.join(bpffs)
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut checked = std::collections::HashSet::new();
    for prefix in absolute.ancestors().collect::<Vec<_>>().into_iter().rev() {
        // A missing path is for the bpffs check to report.
        let Ok(real) = std::fs::canonicalize(prefix) else {
            break;
        };
        for dir in real.ancestors() {
            if !checked.insert(dir.to_path_buf()) {
                continue;
            }
            let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
            let mode = meta.mode() & 0o7777;
            let owner_ok = meta.uid() == 0 || meta.uid() == me;
            let sticky = mode & 0o1000 != 0;
            if meta.is_dir() && (!owner_ok || (mode & 0o022 != 0 && !sticky)) {
                return Err(StoreError::UnsafePath {
                    path: dir.to_path_buf(),
                    bpffs: bpffs.to_path_buf(),
                    uid: meta.uid(),
                    mode,
                });
            }
        }
    }
    Ok(())
}

/// True when `path` is on a BPF filesystem (statfs magic `BPF_FS_MAGIC`).
fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct; c is NUL-terminated.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type == libc::BPF_FS_MAGIC
    }
}

/// The nearest ancestor process that runs in another mount namespace than this one:
/// what `ip netns exec` or `unshare -m` was started from. `None` when every ancestor
/// shares ours, or when one cannot be read (nothing is known then).
fn ancestor_outside_mount_namespace() -> Option<u32> {
    let ours = std::fs::read_link("/proc/self/ns/mnt").ok()?;
    // The usual case in one look: init's namespace (the host's, or a container's,
    // whose processes all share it) is ours, so no ancestor in between left it.
    if std::fs::read_link("/proc/1/ns/mnt").is_ok_and(|init| init == ours) {
        return None;
    }
    // SAFETY: getppid has no preconditions and cannot fail.
    let mut pid = unsafe { libc::getppid() } as u32;
    for _ in 0..64 {
        if pid == 0 {
            return None;
        }
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
        if theirs != ours {
            return Some(pid);
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `PID (COMM) STATE PPID ...`; COMM may hold spaces and parentheses.
        pid = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
    }
    None
}

/// True when this process runs in a mount namespace of its own (under `ip netns
/// exec`, `unshare -m`): one its nearest ancestor outside it does not share.
fn private_mount_namespace() -> bool {
    ancestor_outside_mount_namespace().is_some()
}

/// False when this process sees at `bpffs` another filesystem than the process it
/// was started from (outside its mount namespace) sees there: a bpffs mounted in a
/// private mount namespace, whose pins vanish with it.
fn same_bpffs_as_init(bpffs: &Path) -> bool {
    let Some(pid) = ancestor_outside_mount_namespace() else {
        return true;
    };
    let theirs =
        Path::new(&format!("/proc/{pid}/root")).join(bpffs.strip_prefix("/").unwrap_or(bpffs));
    match (std::fs::metadata(bpffs), std::fs::metadata(&theirs)) {
        (Ok(ours), Ok(theirs)) => ours.dev() == theirs.dev(),
        (Ok(_), Err(_)) => false,
        _ => true,
    }
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
fn lock_dir(lock: &File, root: &Path, timeout: Duration, wait: LockWait) -> Result<(), StoreError> {
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
mod lock_tests {
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
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(holder);
        });
        let next = File::open(&dir).unwrap();
        let start = Instant::now();
        lock_dir(&next, &dir, Duration::from_secs(30), LockWait::Quiet).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(150));
        release.join().unwrap();
        assert!(
            File::open(&dir).unwrap().try_lock().is_err(),
            "the lock is this file's now"
        );
        drop(next);
        std::fs::remove_dir(&dir).unwrap();
    }
}
