//! A record's bytes streamed into the array map that holds it: an 8-byte length, then
//! the bytes, in elements of [`CHUNK`] bytes, each written to the kernel as soon as it
//! is full. A record is never held whole in memory on its way out (the rules' JSON of
//! a 10k-rule file is a megabyte), and one that is serialized twice (once to learn its
//! digest and length, once into the map) can check it came out the same.
//!
//! Invariant: [`RecordWriter::finish`] hands back the map only when exactly the length
//! given to [`RecordWriter::create`] was written; a write past it fails.

use std::{
    io::{self, Write},
    os::fd::{AsFd, OwnedFd},
};

use sha2::{Digest, Sha256};

use crate::sys;

/// Bytes per element of a record map.
pub(super) const CHUNK: usize = 16 * 1024;

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
        let mut value = vec![0u8; CHUNK];
        value[..8].copy_from_slice(&(len as u64).to_le_bytes());
        Ok(RecordWriter {
            fd,
            value,
            filled: 8,
            index: 0,
            left: len,
        })
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

/// The SHA-256 (hex) of `parts`, one after the other.
pub(super) fn sha256(parts: &[&[u8]]) -> String {
    let mut d = Digesting::new(std::io::sink());
    for p in parts {
        std::io::Write::write_all(&mut d, p).expect("a sink takes every byte");
    }
    d.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

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
