//! The install's slot map: the socket map (a SOCKMAP; why in
//! [`sockc_compiler::bpf::maps::SOCKETS_MAP`]) that sk_lookup redirects steer to, one
//! slot per declared socket name; which name holds which slot is
//! `install::slot_registry`'s.
//!
//! One map per install, pinned beside the manifest (`sockc/NAME/sockets`), created by
//! the first apply that needs it and opened by every later generation's programs, so a
//! re-apply keeps what was registered. Invariant: a map sockc opens has exactly the
//! shape the compiler's programs assume (type, key and value size, capacity), checked
//! before any program is loaded against it. The kernel removes a socket from the map
//! by itself when the socket closes; the value read back from user space is the
//! socket's cookie.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
};

use aya::maps::MapData;
use aya_obj::generated::bpf_map_type;
use sockc_compiler::bpf::maps::{SOCKETS_MAP, SOCKETS_MAX};

use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum SlotMapError {
    #[error("create the socket map at {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("open the socket map at {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: aya::maps::MapError,
    },
    #[error(
        "{} is not a socket map of this sockc ({found}); remove it with `sockc flush` and apply again",
        path.display()
    )]
    Shape { path: PathBuf, found: String },
    #[error("socket map slot {key}")]
    Element {
        key: u32,
        #[source]
        source: io::Error,
    },
}

/// An open socket map.
pub struct SlotMap {
    fd: OwnedFd,
}

const KEY_SIZE: u32 = 4;
/// The kernel takes a socket fd (u32 or u64) on update and returns the socket's
/// cookie (u64) on lookup.
const VALUE_SIZE: u32 = 8;

impl SlotMap {
    /// Opens the map pinned at `path`, or creates and pins it there; `true` when it
    /// was created.
    pub fn open_or_create(path: &Path) -> Result<(SlotMap, bool), SlotMapError> {
        if path.exists() {
            return Ok((Self::open(path)?, false));
        }
        let create = |source| SlotMapError::Create {
            path: path.to_path_buf(),
            source,
        };
        let fd = sys::create_map(
            bpf_map_type::BPF_MAP_TYPE_SOCKMAP,
            SOCKETS_MAP,
            KEY_SIZE,
            VALUE_SIZE,
            SOCKETS_MAX,
        )
        .map_err(create)?;
        sys::obj_pin(fd.as_fd(), path).map_err(create)?;
        Ok((SlotMap { fd }, true))
    }

    /// Opens the map pinned at `path`, checking its shape.
    pub fn open(path: &Path) -> Result<SlotMap, SlotMapError> {
        let open = |source| SlotMapError::Open {
            path: path.to_path_buf(),
            source,
        };
        let data = MapData::from_pin(path).map_err(open)?;
        let info = data.info().map_err(open)?;
        let ty = info.map_type().map_err(open)?;
        let shape = (info.key_size(), info.value_size(), info.max_entries());
        if !matches!(ty, aya::maps::MapType::SockMap)
            || shape != (KEY_SIZE, VALUE_SIZE, SOCKETS_MAX)
        {
            return Err(SlotMapError::Shape {
                path: path.to_path_buf(),
                found: format!(
                    "{ty:?}, key {} bytes, value {} bytes, {} entries",
                    shape.0, shape.1, shape.2
                ),
            });
        }
        Ok(SlotMap {
            fd: sys::obj_get(path).map_err(|e| {
                open(aya::maps::MapError::SyscallError(aya::sys::SyscallError {
                    call: "bpf_obj_get",
                    io_error: e,
                }))
            })?,
        })
    }

    /// A map some other code opened (a loaded object's own map).
    pub fn from_fd(fd: OwnedFd) -> SlotMap {
        SlotMap { fd }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Puts `socket` in slot `key`, replacing what was there.
    pub fn insert(&self, key: u32, socket: BorrowedFd<'_>) -> Result<(), SlotMapError> {
        let value = u64::try_from(socket.as_raw_fd()).unwrap_or(u64::MAX);
        sys::map_update(self.fd(), &key.to_ne_bytes(), &value.to_ne_bytes(), 0)
            .map_err(|source| SlotMapError::Element { key, source })
    }

    /// Takes the socket under `key` out (nothing there is not an error).
    pub fn remove(&self, key: u32) -> Result<(), SlotMapError> {
        sys::map_delete(self.fd(), &key.to_ne_bytes())
            .map_err(|source| SlotMapError::Element { key, source })
    }

    /// The cookie of the socket under `key`, if one is registered.
    pub fn cookie(&self, key: u32) -> Result<Option<u64>, SlotMapError> {
        let v = sys::map_lookup(self.fd(), &key.to_ne_bytes(), VALUE_SIZE as usize)
            .map_err(|source| SlotMapError::Element { key, source })?;
        Ok(v.map(|b| u64::from_ne_bytes(b[..8].try_into().expect("8 bytes"))))
    }

    /// Every slot with a socket, and the socket's cookie.
    pub fn entries(&self) -> Result<Vec<(u32, u64)>, SlotMapError> {
        let mut out = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        loop {
            let next = sys::map_next_key(self.fd(), key.as_deref(), KEY_SIZE as usize)
                .map_err(|source| SlotMapError::Element { key: 0, source })?;
            let Some(next) = next else { break };
            let k = u32::from_ne_bytes(next[..4].try_into().expect("4 bytes"));
            if let Some(cookie) = self.cookie(k)? {
                out.push((k, cookie));
            }
            key = Some(next);
        }
        Ok(out)
    }
}

/// The cookie the kernel gave a socket (`SO_COOKIE`): what the socket map returns for
/// it, and what an sk_lookup test run reports as selected.
pub fn socket_cookie(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut v: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            &mut v as *mut u64 as *mut libc::c_void,
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}
