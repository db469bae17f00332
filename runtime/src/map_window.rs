//! Writing a `BPF_F_MMAPABLE` array map's value area a window at a time.
//!
//! Every page of a map mapped into this process counts toward its resident memory for
//! as long as it is mapped, and a classifier table map of 100,000 rules is tens of
//! megabytes (two halves of it): mapped whole, it was the peak of an `apply`. A
//! [`Windows`] maps at most [`WINDOW`] bytes, page-aligned, and moves on as the
//! writes do (sequential writes map each window once).
//!
//! Invariant: a write lands at exactly the byte offsets it names in the value area
//! (the kernel's layout, values `round_up(value_size, 8)` apart); nothing outside the
//! ranges written is touched; at most one window is mapped at any time.

use std::{io, os::fd::BorrowedFd};

use crate::sys::MapMemory;

/// The most bytes mapped at once: a multiple of every page size Linux uses.
pub const WINDOW: usize = 1 << 18;

/// A map's value area, written through one mapped window at a time.
pub struct Windows<'f> {
    fd: BorrowedFd<'f>,
    /// The value area's length in bytes (what may be written).
    len: usize,
    mapped: Option<(usize, MapMemory)>,
}

impl<'f> Windows<'f> {
    /// The value area of the map behind `fd`, `len` bytes long (its values times
    /// their stride).
    pub fn new(fd: BorrowedFd<'f>, len: usize) -> Windows<'f> {
        Windows {
            fd,
            len,
            mapped: None,
        }
    }

    /// The bytes from `pos` to the end of the window that holds `pos` (at most
    /// `want`), that window mapped first if it is not.
    fn at(&mut self, pos: usize, want: usize) -> io::Result<&mut [u8]> {
        if pos >= self.len {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let start = pos / WINDOW * WINDOW;
        if self.mapped.as_ref().map(|(s, _)| *s) != Some(start) {
            // The old window goes first: never two mapped at once.
            self.mapped = None;
            let len = WINDOW.min(self.len - start);
            self.mapped = Some((start, MapMemory::map_at(self.fd, start, len)?));
        }
        let (start, mem) = self.mapped.as_mut().expect("mapped just above");
        let from = pos - *start;
        let bytes = mem.bytes_mut();
        let to = bytes.len().min(from + want);
        Ok(&mut bytes[from..to])
    }

    /// Copies `bytes` to `pos`.
    pub fn write(&mut self, mut pos: usize, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let dst = self.at(pos, bytes.len())?;
            let n = dst.len();
            dst.copy_from_slice(&bytes[..n]);
            (pos, bytes) = (pos + n, &bytes[n..]);
        }
        Ok(())
    }

    /// Writes `count` copies of the 4-byte `word` from `pos` (a multiple of 4, as
    /// every window is).
    pub fn fill(&mut self, mut pos: usize, count: usize, word: [u8; 4]) -> io::Result<()> {
        debug_assert!(pos.is_multiple_of(4));
        let mut left = 4 * count;
        while left > 0 {
            let dst = self.at(pos, left)?;
            let n = dst.len();
            for w in dst.chunks_exact_mut(4) {
                w.copy_from_slice(&word);
            }
            (pos, left) = (pos + n, left - n);
        }
        Ok(())
    }

    /// Zeroes `len` bytes from `pos`.
    pub fn zero(&mut self, mut pos: usize, mut len: usize) -> io::Result<()> {
        while len > 0 {
            let dst = self.at(pos, len)?;
            let n = dst.len();
            dst.fill(0);
            (pos, len) = (pos + n, len - n);
        }
        Ok(())
    }
}
