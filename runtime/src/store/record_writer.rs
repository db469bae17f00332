//! A record's bytes streamed into the array map that holds it: an 8-byte length, then
//! the bytes, in elements of [`CHUNK`] bytes, each written to the kernel as soon as it
//! is full. A record is never held whole in memory on its way out (the rules' JSON of
//! a 10k-rule file is a megabyte), and one that is serialized twice (once to learn its
//! digest and length, once into the map) can check it came out the same.
//!
//! A bulk record (named by its digest) is sealed ([`RecordWriter::seal`]): the 32
//! bytes of its SHA-256 follow its length's bytes (a trailer an older sockc, reading
//! up to the length, never sees), then the map is frozen, made read-only to programs
//! when created: nothing changes it afterwards, so a reader that finds it frozen and
//! its trailer the digest it expects need not hash it again (`pinned_record`), and
//! its map is made mappable, so that reader maps its pages instead of copying them.
//!
//! Invariant: [`RecordWriter::finish`] and [`RecordWriter::seal`] hand back the map
//! only when exactly the length given to [`RecordWriter::create`] was written (and,
//! sealed, the trailer after it); a write past it fails.

use std::{
    io::{self, Write},
    os::fd::{AsFd, OwnedFd},
};

use sha2::{Digest, Sha256};

use crate::sys;

/// Bytes per element of a record map.
pub(super) const CHUNK: usize = 16 * 1024;

/// Bytes of the trailer of a sealed record: its SHA-256, after its length's bytes.
pub(super) const TRAILER: usize = 32;

/// Fills a new record map of a known length.
pub(super) struct RecordWriter {
    fd: OwnedFd,
    value: Vec<u8>,
    filled: usize,
    index: u32,
    left: usize,
}

impl RecordWriter {
    /// A new record map for `len` bytes, its length already written.
    pub fn create(len: usize) -> io::Result<RecordWriter> {
        let chunks = (8 + len).div_ceil(CHUNK);
        let fd = sys::create_array("sockc_record", CHUNK as u32, chunks as u32)?;
        Ok(RecordWriter::over(fd, len))
    }

    /// [`RecordWriter::create`] of a record to be sealed ([`RecordWriter::seal`]): room
    /// for the trailer after the `len` bytes, read-only to programs, and mappable
    /// (`BPF_F_MMAPABLE`), so that once sealed a reader maps it rather than copying it
    /// out (`pinned_record`). A kernel that refuses the flag (before 5.5) gets the
    /// record without it, read as before.
    pub fn create_sealable(len: usize) -> io::Result<RecordWriter> {
        use aya_obj::generated::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};
        let chunks = (8 + len + TRAILER).div_ceil(CHUNK);
        let create = |flags| {
            sys::create_map_with_flags(
                aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
                "sockc_record",
                4,
                CHUNK as u32,
                chunks as u32,
                flags,
            )
        };
        let fd = match create(BPF_F_RDONLY_PROG | BPF_F_MMAPABLE) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => create(BPF_F_RDONLY_PROG)?,
            made => made?,
        };
        Ok(RecordWriter::over(fd, len))
    }

    /// A writer of `len` bytes into the new record map `fd`, its length written first.
    fn over(fd: OwnedFd, len: usize) -> RecordWriter {
        let mut value = vec![0u8; CHUNK];
        value[..8].copy_from_slice(&(len as u64).to_le_bytes());
        RecordWriter {
            fd,
            value,
            filled: 8,
            index: 0,
            left: len,
        }
    }

    /// The filled map of a record made by [`RecordWriter::create_sealable`], the
    /// `digest` of its bytes written after them and the map frozen. A freeze the
    /// kernel refuses leaves the map writable: a reader then hashes it, as one of an
    /// older sockc. (A kernel before 5.2 has no freeze, but it refuses the map's
    /// `BPF_F_RDONLY_PROG` at creation already, which came with it.)
    pub fn seal(self, digest: &[u8; TRAILER]) -> io::Result<OwnedFd> {
        let fd = self.finish_with_trailer(digest)?;
        // Not frozen, the record is still whole: read, it is hashed.
        let _ = sys::map_freeze(fd.as_fd());
        Ok(fd)
    }

    /// [`RecordWriter::finish`] with `digest` written after the bytes, not frozen.
    fn finish_with_trailer(mut self, digest: &[u8; TRAILER]) -> io::Result<OwnedFd> {
        if self.left != 0 {
            return self.finish();
        }
        self.left = TRAILER;
        self.write_all(digest)?;
        self.finish()
    }

    /// The filled map, once every byte of its length was written.
    pub fn finish(mut self) -> io::Result<OwnedFd> {
        if self.left != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("record {} bytes shorter than its length", self.left),
            ));
        }
        if self.filled > 0 {
            self.flush_chunk()?;
        }
        Ok(self.fd)
    }

    fn flush_chunk(&mut self) -> io::Result<()> {
        self.value[self.filled..].fill(0);
        sys::map_update(self.fd.as_fd(), &self.index.to_ne_bytes(), &self.value, 0)?;
        (self.filled, self.index) = (0, self.index + 1);
        Ok(())
    }
}

impl Write for RecordWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "record longer than its length",
            ));
        }
        let take = (CHUNK - self.filled).min(buf.len());
        self.value[self.filled..self.filled + take].copy_from_slice(&buf[..take]);
        self.filled += take;
        self.left -= take;
        if self.filled == CHUNK {
            self.flush_chunk()?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer that hashes (SHA-256) and counts what goes through it to `inner`.
pub(super) struct Digesting<W> {
    pub inner: W,
    sha: Sha256,
    pub len: usize,
}

impl<W: Write> Digesting<W> {
    pub fn new(inner: W) -> Digesting<W> {
        Digesting {
            inner,
            sha: Sha256::new(),
            len: 0,
        }
    }

    /// The digest of what went through, in hex.
    pub fn hex(self) -> String {
        sockc_compiler::bpf::maps::hex(&self.sha.finalize())
    }

    /// The writer it passed on to, and the digest of what went through, in hex.
    pub fn into_parts(self) -> (W, String) {
        let hex = sockc_compiler::bpf::maps::hex(&self.sha.finalize());
        (self.inner, hex)
    }
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The 32 bytes the SHA-256 `hex` spells in lowercase, as the store names records;
/// `None` when it is not one (no other spelling names the same record).
pub(super) fn digest_bytes(hex: &str) -> Option<[u8; TRAILER]> {
    let hex = hex.as_bytes();
    if hex.len() != 2 * TRAILER {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; TRAILER];
    for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// The SHA-256 (hex) of `parts`, one after the other.
pub(super) fn sha256(parts: &[&[u8]]) -> String {
    let mut d = Digesting::new(std::io::sink());
    for p in parts {
        std::io::Write::write_all(&mut d, p).expect("a sink takes every byte");
    }
    d.hex()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// `w` finished with `digest` after its bytes but not frozen: a record that looks
    /// sealed to a reader that does not check.
    pub(in crate::store) fn unfrozen_with_trailer(
        w: RecordWriter,
        digest: &[u8; TRAILER],
    ) -> OwnedFd {
        w.finish_with_trailer(digest).unwrap()
    }

    /// Element `index` of the record map `fd`.
    fn element(fd: &OwnedFd, index: u32) -> Vec<u8> {
        sys::map_lookup(fd.as_fd(), &index.to_ne_bytes(), CHUNK)
            .unwrap()
            .expect("an array has every element")
    }

    #[test]
    fn a_record_is_its_length_then_its_bytes_across_elements() {
        if !sys::tests_run_as_root() {
            return;
        }
        let bytes: Vec<u8> = (0..CHUNK * 2).map(|i| (i % 251) as u8).collect();
        let mut w = RecordWriter::create(bytes.len()).unwrap();
        // In uneven pieces, as a serializer writes.
        for piece in bytes.chunks(1000) {
            w.write_all(piece).unwrap();
        }
        let fd = w.finish().unwrap();
        let mut read: Vec<u8> = (0..3).flat_map(|i| element(&fd, i)).collect();
        assert_eq!(read[..8], (bytes.len() as u64).to_le_bytes());
        assert!(
            read[8 + bytes.len()..].iter().all(|&b| b == 0),
            "padded with zeroes"
        );
        read.truncate(8 + bytes.len());
        assert_eq!(read[8..], bytes[..]);
    }

    #[test]
    fn a_record_longer_or_shorter_than_its_length_is_refused() {
        if !sys::tests_run_as_root() {
            return;
        }
        let mut longer = RecordWriter::create(10).unwrap();
        longer.write_all(&[1; 6]).unwrap();
        let err = longer.write_all(&[1; 5]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        let mut shorter = RecordWriter::create(10).unwrap();
        shorter.write_all(&[1; 9]).unwrap();
        let err = shorter.finish().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }

    /// A sealed record: its length, its bytes, then the digest it was given; frozen,
    /// so a write of any element is refused; read-only to programs.
    #[test]
    fn a_sealed_record_keeps_its_digest_after_its_bytes_and_is_frozen() {
        if !sys::tests_run_as_root() {
            return;
        }
        // The trailer across the first element's end.
        let bytes: Vec<u8> = (0..CHUNK - 8 - 10).map(|i| (i % 251) as u8).collect();
        let digest: [u8; TRAILER] = std::array::from_fn(|i| i as u8 + 1);
        let mut w = RecordWriter::create_sealable(bytes.len()).unwrap();
        w.write_all(&bytes).unwrap();
        let fd = w.seal(&digest).unwrap();
        let read: Vec<u8> = (0..2).flat_map(|i| element(&fd, i)).collect();
        assert_eq!(read[..8], (bytes.len() as u64).to_le_bytes());
        assert_eq!(read[8..8 + bytes.len()], bytes[..]);
        assert_eq!(read[8 + bytes.len()..8 + bytes.len() + TRAILER], digest);
        assert!(sys::map_frozen(fd.as_fd()).unwrap(), "not frozen");
        let err = sys::map_update(fd.as_fd(), &0u32.to_ne_bytes(), &[0; CHUNK], 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
        let info = sys::map_info(fd.as_fd()).unwrap();
        assert_ne!(info.map_flags & aya_obj::generated::BPF_F_RDONLY_PROG, 0);
        // One not sealed is not frozen.
        let plain = RecordWriter::create(3).unwrap();
        let mut plain = plain;
        plain.write_all(b"abc").unwrap();
        assert!(!sys::map_frozen(plain.finish().unwrap().as_fd()).unwrap());
    }

    #[test]
    fn digest_bytes_reads_the_store_s_spelling_only() {
        let hex = sha256(&[b"abc"]);
        let bytes = digest_bytes(&hex).unwrap();
        assert_eq!(sockc_compiler::bpf::maps::hex(&bytes), hex);
        assert_eq!(digest_bytes(&hex.to_uppercase()), None);
        assert_eq!(digest_bytes(&hex[1..]), None);
        assert_eq!(digest_bytes(&format!("{}g", &hex[1..])), None);
    }

    #[test]
    fn digesting_hashes_and_counts_what_it_passes_on() {
        let mut d = Digesting::new(Vec::new());
        d.write_all(b"ab").unwrap();
        d.write_all(b"c").unwrap();
        assert_eq!(d.len, 3);
        assert_eq!(d.inner, b"abc");
        // SHA-256("abc"), FIPS 180-2's example.
        assert_eq!(
            d.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
