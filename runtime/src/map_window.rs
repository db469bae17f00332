//! Writing a `BPF_F_MMAPABLE` array map's value area a window at a time.
//!
//! Every page of a map mapped into this process counts toward its resident memory for
//! as long as it is mapped, and a classifier table map of 100,000 rules is tens of
//! megabytes (two halves of it): mapped whole, it was the peak of an `apply`. A
//! [`Windows`] maps at most [`WINDOW`] bytes, page-aligned, and moves on as the
//! writes do (sequential writes map each window once). The windows are laid from the
//! page that holds the first byte to be written ([`Windows::from`]), not from the
//! map's start: the half of a table map an update writes starts mid-map, and windows
//! aligned to the map mapped (the kernel filling in every page of a mapping) pages of
//! the other half, and one window more, for nothing.
//!
//! Invariant: a write lands at exactly the byte offsets it names in the value area
//! (the kernel's layout, values `round_up(value_size, 8)` apart); nothing outside the
//! ranges written is touched; at most one window is mapped at any time.

use std::{io, os::fd::BorrowedFd};

use crate::sys::MapMemory;

/// The most bytes mapped at once: a multiple of every page size Linux uses. A
/// megabyte: the half of a table map a 1,000-rule update writes (~600 KiB) is one
/// mapping, not four, and no map's pages held at once weigh on an apply's peak.
pub const WINDOW: usize = 1 << 20;

/// A map's value area, written through one mapped window at a time.
pub struct Windows<'f> {
    fd: BorrowedFd<'f>,
    /// The value area's length in bytes (what may be written).
    len: usize,
    /// Where the windows are laid from: a multiple of the page size.
    origin: usize,
    mapped: Option<(usize, MapMemory)>,
    /// Windows mapped so far (what the tests count).
    #[cfg(test)]
    maps: usize,
}

impl<'f> Windows<'f> {
    /// The value area of the map behind `fd`, `len` bytes long (its values times
    /// their stride).
    pub fn new(fd: BorrowedFd<'f>, len: usize) -> Windows<'f> {
        Windows::from(fd, len, 0)
    }

    /// [`Windows::new`] for writes at `first` and after: the windows are laid from the
    /// page that holds `first` (a write before it is refused).
    pub fn from(fd: BorrowedFd<'f>, len: usize, first: usize) -> Windows<'f> {
        Windows {
            fd,
            len,
            origin: first / page_size() * page_size(),
            mapped: None,
            #[cfg(test)]
            maps: 0,
        }
    }

    /// How many windows were mapped so far.
    #[cfg(test)]
    pub fn maps(&self) -> usize {
        self.maps
    }

    /// The bytes from `pos` to the end of the window that holds `pos` (at most
    /// `want`), that window mapped first if it is not.
    fn at(&mut self, pos: usize, want: usize) -> io::Result<&mut [u8]> {
        if pos >= self.len || pos < self.origin {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let start = self.origin + (pos - self.origin) / WINDOW * WINDOW;
        if self.mapped.as_ref().map(|(s, _)| *s) != Some(start) {
            // The old window goes first: never two mapped at once.
            self.mapped = None;
            let len = WINDOW.min(self.len - start);
            self.mapped = Some((start, MapMemory::map_at(self.fd, start, len)?));
            #[cfg(test)]
            {
                self.maps += 1;
            }
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

/// The system's page size: what a mapping's offset is a multiple of.
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; a page size is always configured.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;
    use crate::sys;

    /// An mmapable array map of two values of `value_size` bytes, the first all
    /// `0xAA`, the second all `0x55`.
    fn two_values(value_size: u32) -> std::os::fd::OwnedFd {
        use aya_obj::generated::{bpf_map_type::BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE};
        let fd = sys::create_map_with_flags(
            BPF_MAP_TYPE_ARRAY as u32,
            "unit_window",
            4,
            value_size,
            2,
            BPF_F_MMAPABLE,
        )
        .expect("an mmapable array");
        for (key, byte) in [(0u32, 0xAA), (1, 0x55)] {
            let value = vec![byte; value_size as usize];
            sys::map_update(fd.as_fd(), &key.to_ne_bytes(), &value, 0).expect("a value");
        }
        fd
    }

    fn value(fd: &std::os::fd::OwnedFd, key: u32, value_size: u32) -> Vec<u8> {
        let mut v = vec![0u8; value_size as usize];
        assert!(sys::map_lookup_into(fd.as_fd(), &key.to_ne_bytes(), &mut v).unwrap());
        v
    }

    /// Windows laid from the second value (mid-page, past a window's length from the
    /// map's start) write exactly its bytes, across a window's end, leave the first
    /// value as it was, map the second value's ~600 KiB once when it is that large,
    /// and refuse a write before the page they start at.
    #[test]
    fn windows_from_a_value_write_only_its_bytes() {
        if !sys::tests_run_as_root() {
            return;
        }
        for value_size in [659_448u32, WINDOW as u32 + 3_000] {
            let fd = two_values(value_size);
            let stride = (value_size as usize).next_multiple_of(8);
            let mut w = Windows::from(fd.as_fd(), 2 * stride, stride);
            let bytes: Vec<u8> = (0..stride - 20).map(|i| (i % 251) as u8).collect();
            w.write(stride + 7, &bytes).unwrap();
            w.fill(stride + 7 + bytes.len() - 3, 3, [1, 2, 3, 4])
                .unwrap();
            let first_page = stride / page_size() * page_size();
            assert!(w.write(first_page - 1, &[0]).is_err(), "before the windows");
            let windows = w.maps();
            drop(w);
            assert_eq!(value(&fd, 0, value_size), vec![0xAA; value_size as usize]);
            let mut want = vec![0x55u8; value_size as usize];
            want[7..7 + bytes.len()].copy_from_slice(&bytes);
            let filled = 7 + bytes.len() - 3;
            for w in want[filled..filled + 12].chunks_mut(4) {
                w.copy_from_slice(&[1, 2, 3, 4]);
            }
            assert!(value(&fd, 1, value_size) == want, "value {value_size}");
            let expected = (stride + value_size as usize - first_page).div_ceil(WINDOW);
            assert_eq!(windows, expected, "windows of a value of {value_size}");
        }
    }
}
