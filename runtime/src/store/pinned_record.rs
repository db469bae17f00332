//! One record on bpffs: bytes in an array map of 16 KiB values (their length first),
//! pinned under a temporary name relative to the install's directory and renamed over
//! the record's name, and read back only from a pin of that shape.
//!
//! Invariants: a reader sees the old record or the new one, never a mix (one `rename`
//! of a fully written pin; a leftover `<name>_new` of a killed sockc is removed first,
//! so the pin never replaces anything); a pin is read as a record only if it has a
//! record's shape (an array map of 4-byte keys and 16 KiB values, its length within
//! them), since a lookup writes the map's own value size into the buffer it is given.

use std::{
    ffi::CString,
    os::fd::{AsFd, FromRawFd, OwnedFd},
    path::Path,
};

use aya::maps::MapData;
use serde::Deserialize;

use super::{
    error::{io_err, StoreError},
    pins::unlink,
    record_writer::{RecordWriter, CHUNK},
};
use crate::{fault::point, sys};

pub(super) fn parse_record<'a, T: Deserialize<'a>>(
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
pub(super) fn write_record(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let at = open_dir(dir)?;
    write_record_at(dir, &at, name, &[bytes])
}

/// Writes `parts`, one after the other, as the record `<name>` ([`write_record_with`]).
pub(super) fn write_record_at(
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
pub(super) fn write_record_with(
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

/// The bytes of the record pinned at `path`, `None` when there is none.
pub(super) fn read_record(path: &Path, what: &'static str) -> Result<Option<Vec<u8>>, StoreError> {
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

/// The install's directory, opened to name records relative to it (not through a
/// symbolic link).
pub(super) fn open_dir(dir: &Path) -> Result<OwnedFd, StoreError> {
    let c = CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|e| io_err(dir)(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    // SAFETY: `c` is NUL-terminated; the descriptor returned is new and ours.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io_err(dir)(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
