//! Where an applied rule set lives on bpffs, and its manifest.
//!
//! ```text
//! <bpffs>/sockc/                       locked (flock) by every sockc that changes or reads state
//! <bpffs>/sockc/<name>/manifest        array map holding the manifest (JSON, chunked)
//! <bpffs>/sockc/<name>/link_<symbol>   one bpf_link per hook: the attachment itself
//! <bpffs>/sockc/<name>/g<N>/prog_<symbol>, map_<map>   generation N's programs and maps
//! ```
//!
//! Invariants: the links are the only attachment, so a generation is live exactly when
//! the links point at its programs; the manifest is replaced by one `rename`, so a
//! reader sees the old or the new one, never a mix; one lock on the `sockc` directory
//! serializes every invocation, so two applies never interleave.

use std::{
    fs::File,
    os::fd::{AsFd, AsRawFd},
    path::{Path, PathBuf},
};

use aya::{maps::MapData, pin::PinError};
use serde::{Deserialize, Serialize};
use sockc_compiler::hooks::HookKind;

use crate::{
    attach::{AttachMode, AttachPoint, Attachment, TcFilter},
    plan::Snapshot,
    sys,
};

/// Version of the manifest format.
pub const MANIFEST_FORMAT: u32 = 1;
/// Bytes per element of the manifest map.
const CHUNK: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not on a BPF filesystem (mount one: mount -t bpf bpf {path})")]
    NotBpffs { path: PathBuf },
    #[error("manifest {path}")]
    OpenManifest {
        path: PathBuf,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("manifest {path}: chunk {chunk}")]
    ReadManifest {
        path: PathBuf,
        chunk: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest {path}: chunk {chunk} missing")]
    ManifestChunkMissing { path: PathBuf, chunk: u32 },
    #[error("manifest {path}")]
    ManifestJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("manifest {path}: format {found} (this sockc reads {MANIFEST_FORMAT})")]
    ManifestFormat { path: PathBuf, found: u32 },
    #[error("manifest {path}")]
    PinManifest {
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
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    pub programs: Vec<InstalledProgram>,
    /// Rules (with counter slots), bytecode, map shapes and set contents as applied.
    pub snapshot: Snapshot,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstalledProgram {
    pub symbol: String,
    pub hook: HookKind,
    pub attach_to: String,
    pub prog_id: u32,
    /// The kernel's program tag (hex), as bpftool shows it.
    pub tag: String,
    pub attach_mode: AttachMode,
    /// For `clsact`: the netlink filter that holds the program (there is no link).
    #[serde(default)]
    pub tc_filter: Option<TcFilter>,
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
        match self.tc_filter {
            Some(f) => Attachment::TcFilter(f),
            None => Attachment::Link(store.link_path(install, &self.symbol)),
        }
    }
}

/// The locked `sockc` directory on bpffs.
pub struct Store {
    root: PathBuf,
    /// Held for the life of the value: the flock.
    _lock: File,
}

impl Store {
    /// Creates `<bpffs>/sockc` if needed and takes the exclusive lock, waiting for any
    /// other sockc to finish.
    pub fn lock(bpffs: &Path) -> Result<Store, StoreError> {
        if !is_bpffs(bpffs) {
            return Err(StoreError::NotBpffs {
                path: bpffs.to_path_buf(),
            });
        }
        let root = bpffs.join("sockc");
        std::fs::create_dir_all(&root).map_err(io_err(&root))?;
        let lock = File::open(&root).map_err(io_err(&root))?;
        // SAFETY: flock on a descriptor we own; blocks until the lock is ours.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io_err(&root)(std::io::Error::last_os_error()));
        }
        Ok(Store { root, _lock: lock })
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn objects_dir(&self, name: &str, dir: &str) -> PathBuf {
        self.dir(name).join(dir)
    }

    pub fn link_path(&self, name: &str, symbol: &str) -> PathBuf {
        self.dir(name).join(format!("link_{symbol}"))
    }

    /// Names with a manifest, sorted.
    pub fn names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(io_err(&self.root))? {
            let entry = entry.map_err(io_err(&self.root))?;
            if entry.path().join("manifest").exists() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    pub fn manifest(&self, name: &str) -> Result<Option<Manifest>, StoreError> {
        let path = self.dir(name).join("manifest");
        if !path.exists() {
            return Ok(None);
        }
        let map = MapData::from_pin(&path).map_err(|source| StoreError::OpenManifest {
            path: path.clone(),
            source,
        })?;
        let fd = map.fd().as_fd();
        let read = |chunk: u32| -> Result<Vec<u8>, StoreError> {
            sys::map_lookup(fd, &chunk.to_ne_bytes(), CHUNK)
                .map_err(|source| StoreError::ReadManifest {
                    path: path.clone(),
                    chunk,
                    source,
                })?
                .ok_or_else(|| StoreError::ManifestChunkMissing {
                    path: path.clone(),
                    chunk,
                })
        };
        let first = read(0)?;
        let len = u64::from_le_bytes(first[..8].try_into().expect("8 bytes")) as usize;
        let mut bytes = first[8..].to_vec();
        let mut i = 1;
        while bytes.len() < len {
            bytes.extend(read(i)?);
            i += 1;
        }
        bytes.truncate(len);
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::ManifestJson {
                path: path.clone(),
                source,
            })?;
        if m.format != MANIFEST_FORMAT {
            return Err(StoreError::ManifestFormat {
                path,
                found: m.format,
            });
        }
        Ok(Some(m))
    }

    /// Writes the manifest into a new map pinned beside the live one (as
    /// `manifest_new`; bpffs refuses names with dots). [`Store::commit_manifest`] then
    /// renames it over the live one.
    pub fn prepare_manifest(&self, m: &Manifest) -> Result<(), StoreError> {
        let dir = self.dir(&m.name);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let tmp = dir.join("manifest_new");
        let json = serde_json::to_vec(m).expect("manifest serializes");
        let mut blob = (json.len() as u64).to_le_bytes().to_vec();
        blob.extend(json);
        let chunks: Vec<&[u8]> = blob.chunks(CHUNK).collect();
        let fd = sys::create_array("sockc_manifest", CHUNK as u32, chunks.len() as u32)
            .map_err(io_err(&tmp))?;
        for (i, chunk) in chunks.iter().enumerate() {
            let mut value = chunk.to_vec();
            value.resize(CHUNK, 0);
            sys::map_update(fd.as_fd(), &(i as u32).to_ne_bytes(), &value, 0)
                .map_err(io_err(&tmp))?;
        }
        let map = MapData::from_fd(fd).map_err(|source| StoreError::OpenManifest {
            path: tmp.clone(),
            source,
        })?;
        let _ = std::fs::remove_file(&tmp);
        map.pin(&tmp)
            .map_err(|source| StoreError::PinManifest { path: tmp, source })
    }

    /// Makes the prepared manifest the live one, in one `rename`.
    pub fn commit_manifest(&self, name: &str) -> Result<(), StoreError> {
        let dir = self.dir(name);
        let path = dir.join("manifest");
        std::fs::rename(dir.join("manifest_new"), &path).map_err(io_err(&path))
    }

    /// Removes a prepared manifest that will not be committed.
    pub fn discard_manifest(&self, name: &str) {
        let _ = std::fs::remove_file(self.dir(name).join("manifest_new"));
    }

    pub fn write_manifest(&self, m: &Manifest) -> Result<(), StoreError> {
        self.prepare_manifest(m)?;
        self.commit_manifest(&m.name)
    }
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
