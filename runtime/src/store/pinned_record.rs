//! One record on bpffs: bytes in an array map of 16 KiB values (their length first),
//! pinned under a temporary name relative to the install's directory and renamed over
//! the record's name, and read back only from a pin of that shape.
//!
//! Invariants: a reader sees the old record or the new one, never a mix (one `rename`
//! of a fully written pin; a leftover `<name>_new` of a killed sockc is removed first,
//! so the pin never replaces anything); a pin is read as a record only if it has a
//! record's shape (an array map of 4-byte keys and 16 KiB values, its length within
//! them), since a lookup writes the map's own value size into the buffer it is given;
//! a record's digest is taken from its trailer without hashing it only when the map is
//! frozen and read-only to programs (`record_writer`'s sealed records: nothing can
//! have changed it since it was written) and the trailer is the digest expected; a
//! record's map is mapped into memory instead of copied out only when, for the same
//! reason, nothing can change it while it is read (frozen, read-only to programs).

use std::{
    ffi::CString,
    os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd},
    path::Path,
};

use aya::maps::MapData;
use serde::Deserialize;

use super::{
    error::{io_err, StoreError},
    pins::unlink,
    record_writer::{digest_bytes, sha256, Digesting, RecordWriter, CHUNK, TRAILER},
};
use crate::{fault::point, sys, sys::MapView};

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

/// Writes `parts`, one after the other, as the record `<name>` ([`filled_record`],
/// [`pin_record`]).
pub(super) fn write_record_at(
    dir: &Path,
    at: &std::os::fd::OwnedFd,
    name: &str,
    parts: &[&[u8]],
) -> Result<(), StoreError> {
    let fd = filled_record(parts).map_err(io_err(&dir.join(format!("{name}_new"))))?;
    pin_record(dir, at, name, fd)
}

/// Writes the `len` bytes `fill` writes, whose SHA-256 is `digest`, into a new array
/// map sealed with it ([`RecordWriter::seal`]) and pinned as `<name>_new` in the
/// directory `at` is open on (bpffs refuses names with dots; the pin never replaces
/// anything: a leftover of a killed sockc is removed first), then renames it over
/// `<name>`.
pub(super) fn write_sealed_with(
    dir: &Path,
    at: &std::os::fd::OwnedFd,
    (name, digest): (&str, &[u8; TRAILER]),
    len: usize,
    fill: impl FnOnce(&mut RecordWriter) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let fd = RecordWriter::create_sealable(len)
        .and_then(|mut w| fill(&mut w).and_then(|()| w.seal(digest)))
        .map_err(io_err(&dir.join(format!("{name}_new"))))?;
    pin_record(dir, at, name, fd)
}

/// A new record map holding `parts`, one after the other, to be sealed
/// ([`RecordWriter::seal`]) with their digest, then pinned ([`pin_record`]).
pub(super) fn sealable_record(parts: &[&[u8]]) -> std::io::Result<RecordWriter> {
    let mut w = RecordWriter::create_sealable(parts.iter().map(|p| p.len()).sum())?;
    parts
        .iter()
        .try_for_each(|p| std::io::Write::write_all(&mut w, p))?;
    Ok(w)
}

/// A new record map holding `parts`, one after the other, not pinned yet
/// ([`pin_record`]).
pub(super) fn filled_record(parts: &[&[u8]]) -> std::io::Result<OwnedFd> {
    let mut w = RecordWriter::create(parts.iter().map(|p| p.len()).sum())?;
    parts
        .iter()
        .try_for_each(|p| std::io::Write::write_all(&mut w, p))?;
    w.finish()
}

/// Pins the filled record map `fd` as `<name>_new` in the directory `at` is open on
/// (a leftover of a killed sockc is removed first), then renames it over `<name>`.
pub(super) fn pin_record(
    dir: &Path,
    at: &std::os::fd::OwnedFd,
    name: &str,
    fd: OwnedFd,
) -> Result<(), StoreError> {
    let tmp = format!("{name}_new");
    let tmp_path = dir.join(&tmp);
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
    #[cfg(test)]
    tests::READS.with(|n| n.set(n.get() + 1));
    Ok(read_record_digested(path, what, None)?.map(|(bytes, _)| bytes.into_vec()))
}

/// A record's bytes: copied out of its map, or the map's own pages mapped read-only
/// when nothing can change them ([`read_mapped`]).
pub(super) enum RecordBytes {
    Read(Vec<u8>),
    /// The map's value area and the record's length (its bytes start after the
    /// 8-byte length).
    Mapped(MapView, usize),
}

impl RecordBytes {
    /// The bytes as a vector of their own (a copy when they are mapped).
    pub(super) fn into_vec(self) -> Vec<u8> {
        match self {
            RecordBytes::Read(bytes) => bytes,
            mapped => mapped.to_vec(),
        }
    }
}

impl std::ops::Deref for RecordBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            RecordBytes::Read(bytes) => bytes,
            RecordBytes::Mapped(view, len) => &view.bytes()[8..8 + len],
        }
    }
}

/// A record's bytes and, when asked for, their SHA-256 (hex).
pub(super) type Digested = (RecordBytes, Option<String>);

/// [`read_record`] and, when `expected` names the digest its bytes should have, their
/// SHA-256 (hex): `expected` itself when the record is sealed with it (frozen,
/// read-only to programs, the trailer after its bytes that digest), else hashed on
/// another thread a piece at a time as the pieces are read (a set record of a million
/// entries is nine megabytes: reading it and hashing it take about as long each).
/// A record that can no longer change (frozen, read-only to programs) in a mappable
/// map is mapped, not copied ([`read_mapped`]).
pub(super) fn read_record_digested(
    path: &Path,
    what: &'static str,
    expected: Option<&str>,
) -> Result<Option<Digested>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let map = MapData::from_pin(path).map_err(|source| StoreError::OpenRecord {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    let (capacity, read_only, mappable) =
        record_shape(&map).map_err(|shape| StoreError::NotARecord {
            what,
            path: path.to_path_buf(),
            shape,
        })?;
    let fd = map.fd().as_fd();
    let unchanging = read_only && sys::map_frozen(fd).unwrap_or(false);
    if unchanging && mappable {
        if let Some(mapped) = read_mapped(fd, capacity, expected) {
            return mapped.map(Some).map_err(|shape| StoreError::NotARecord {
                what,
                path: path.to_path_buf(),
                shape,
            });
        }
    }
    // The trailer a sealed record keeps its digest in, when the map is one that cannot
    // have changed since it was sealed.
    let trailer = expected.and_then(digest_bytes).filter(|_| unchanging);
    let read = |chunk: u32, into: &mut [u8]| -> Result<(), StoreError> {
        match sys::map_lookup_into(fd, &chunk.to_ne_bytes(), into) {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::RecordChunkMissing {
                what,
                path: path.to_path_buf(),
                chunk,
            }),
            Err(source) => Err(StoreError::ReadRecord {
                what,
                path: path.to_path_buf(),
                chunk,
                source,
            }),
        }
    };
    let mut first = vec![0u8; CHUNK];
    read(0, &mut first)?;
    let len = u64::from_le_bytes(first[..8].try_into().expect("8 bytes")) as usize;
    if len > capacity - 8 {
        return Err(StoreError::NotARecord {
            what,
            path: path.to_path_buf(),
            shape: format!("its length, {len} bytes, is more than its {capacity} bytes hold"),
        });
    }
    // Each element after the first is looked up straight into its place (the buffer
    // ends where the last element the length reaches into ends), then the padding
    // after the length cut off: the record is not copied element by element.
    let read_up_to = match trailer {
        Some(_) => (8 + len + TRAILER).min(capacity),
        None => 8 + len,
    };
    let size = read_up_to.div_ceil(CHUNK).max(1) * CHUNK - 8;
    let mut bytes = vec![0u8; size];
    let (head, rest) = bytes.split_at_mut(CHUNK - 8);
    head.copy_from_slice(&first[8..]);
    let mut next = 1u32;
    let mut fill = |piece: &mut [u8]| {
        for element in piece.chunks_mut(CHUNK) {
            read(next, element)?;
            next += 1;
        }
        Ok::<(), StoreError>(())
    };
    let hex = if trailer.is_none() && expected.is_some() && rest.len() > HASHED_PIECE {
        Some(hashed_as_read(head, rest, len, &mut fill)?)
    } else {
        fill(rest)?;
        None
    };
    let sealed = trailer.is_some_and(|t| bytes.get(len..len + TRAILER) == Some(&t[..]));
    bytes.truncate(len);
    let hex = match (hex, expected) {
        (Some(hex), _) => Some(hex),
        (None, Some(e)) if sealed => Some(e.to_string()),
        (None, Some(_)) => Some(sha256(&[&bytes])),
        (None, None) => None,
    };
    Ok(Some((RecordBytes::Read(bytes), hex)))
}

/// The record in the map behind `fd` (`capacity` bytes of values, frozen, read-only
/// to programs, mappable) mapped read-only, and its SHA-256 when `expected` asks for
/// it: `expected` itself when the trailer after its bytes is that digest, else hashed
/// from the mapping. `None` when the kernel does not map it (the caller copies it
/// out instead); `Err` when its length is past what the map holds.
fn read_mapped(
    fd: BorrowedFd<'_>,
    capacity: usize,
    expected: Option<&str>,
) -> Option<Result<Digested, String>> {
    // SAFETY: the caller found the map frozen and read-only to programs: nothing
    // writes its values any more.
    let view = unsafe { MapView::map(fd, capacity) }.ok()?;
    let all = view.bytes();
    let len = u64::from_le_bytes(all[..8].try_into().expect("8 bytes")) as usize;
    if len > capacity - 8 {
        return Some(Err(format!(
            "its length, {len} bytes, is more than its {capacity} bytes hold"
        )));
    }
    let trailer = all.get(8 + len..8 + len + TRAILER);
    let hex = expected.map(|e| match (digest_bytes(e), trailer) {
        (Some(d), Some(t)) if t == d => e.to_string(),
        _ => sha256(&[&all[8..8 + len]]),
    });
    Some(Ok((RecordBytes::Mapped(view, len), hex)))
}

/// Bytes of a record read before the pieces read so far are handed to the hashing
/// thread ([`hashed_as_read`]): 64 elements, a megabyte.
const HASHED_PIECE: usize = 64 * CHUNK;

/// Fills `rest` a piece at a time with `fill` while another thread hashes `head`
/// and each piece filled, in order, up to `len` bytes in all; the SHA-256 (hex).
fn hashed_as_read(
    head: &mut [u8],
    rest: &mut [u8],
    len: usize,
    fill: &mut impl FnMut(&mut [u8]) -> Result<(), StoreError>,
) -> Result<String, StoreError> {
    std::thread::scope(|s| {
        let (send, receive) = std::sync::mpsc::channel::<&[u8]>();
        let hasher = s.spawn(move || {
            let mut d = Digesting::new(std::io::sink());
            let mut left = len;
            for piece in receive {
                let take = piece.len().min(left);
                std::io::Write::write_all(&mut d, &piece[..take]).expect("a sink takes every byte");
                left -= take;
            }
            d.hex()
        });
        let head: &[u8] = head;
        let _ = send.send(head);
        for piece in rest.chunks_mut(HASHED_PIECE) {
            fill(piece)?;
            let piece: &[u8] = piece;
            let _ = send.send(piece);
        }
        drop(send);
        Ok(hasher
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// The bytes record `map` holds, whether it is read-only to programs and whether it is
/// mappable (`BPF_F_MMAPABLE`), when it has
/// the shape of one the store writes (the kernel copies a map's own value size, times
/// the CPUs for a per-CPU map, into the buffer a lookup gives it, and reads its own
/// key size from the key: any other shape would be a read or a write past a buffer);
/// otherwise what shape it has.
fn record_shape(map: &MapData) -> Result<(usize, bool, bool), String> {
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
    let flags = info.map_flags();
    let read_only = flags & aya_obj::generated::BPF_F_RDONLY_PROG != 0;
    let mappable = flags & aya_obj::generated::BPF_F_MMAPABLE != 0;
    Ok((info.max_entries() as usize * CHUNK, read_only, mappable))
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

#[cfg(test)]
pub(super) mod tests {
    thread_local! {
        /// Records this thread read with [`super::read_record`].
        pub(in crate::store) static READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    use std::io::Write;

    use super::*;
    use crate::store::{pins::remove_tree, record_writer::tests::unfrozen_with_trailer};

    /// `bytes` in a sealable record map finished by `finish`, pinned as `<dir>/<name>`.
    fn pinned(dir: &Path, name: &str, bytes: &[u8], finish: impl FnOnce(RecordWriter) -> OwnedFd) {
        let mut w = RecordWriter::create_sealable(bytes.len()).unwrap();
        w.write_all(bytes).unwrap();
        pin_record(dir, &open_dir(dir).unwrap(), name, finish(w)).unwrap();
    }

    /// Whether the record `<dir>/<name>` was mapped, whether its bytes are `want`, and
    /// the digest read for it when `expected` is asked for.
    fn read(dir: &Path, name: &str, want: &[u8], expected: &str) -> (bool, bool, String) {
        let (bytes, hex) = read_record_digested(&dir.join(name), "bulk", Some(expected))
            .unwrap()
            .unwrap();
        let mapped = matches!(bytes, RecordBytes::Mapped(..));
        (mapped, *bytes == *want, hex.unwrap())
    }

    /// A sealed record is read through a mapping of its map, its bytes and digest
    /// what a copy gives; the digest is the trailer only when the trailer is the one
    /// expected, else hashed (a record sealed with another digest is found out); a
    /// record not frozen (its trailer not trusted), or of a map not mappable, is
    /// copied out and hashed.
    #[test]
    fn a_sealed_record_is_mapped_and_reads_as_a_copy_does() {
        if !sys::tests_run_as_root() {
            return;
        }
        let dir = Path::new("/sys/fs/bpf").join(format!("sockc-pinned-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let len = 2 * CHUNK + 100;
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let digest = sha256(&[&bytes]);
        let trailer = digest_bytes(&digest).unwrap();
        pinned(&dir, "sealed", &bytes, |w| w.seal(&trailer).unwrap());
        let read_as = |name: &str, expected: &str| read(&dir, name, &bytes, expected);
        assert_eq!(read_as("sealed", &digest), (true, true, digest.clone()));
        let wrong = digest_bytes(&sha256(&[b"wrong"])).unwrap();
        let claimed = sockc_compiler::bpf::maps::hex(&wrong);
        assert_eq!(read_as("sealed", &claimed), (true, true, digest.clone()));
        pinned(&dir, "other", &bytes, |w| w.seal(&wrong).unwrap());
        assert_eq!(read_as("other", &digest), (true, true, digest.clone()));
        pinned(&dir, "unfrozen", &bytes, |w| {
            unfrozen_with_trailer(w, &wrong)
        });
        assert_eq!(read_as("unfrozen", &claimed), (false, true, digest.clone()));
        let fd = filled_record(&[&bytes]).unwrap();
        pin_record(&dir, &open_dir(&dir).unwrap(), "plain", fd).unwrap();
        assert_eq!(read_as("plain", &digest), (false, true, digest));
        remove_tree(&dir).unwrap();
    }
}
