//! The lines of a set file read as fast as a million of them allow: a plain IPv4
//! address read straight from its bytes ([`leading_ipv4`]), a file's lines
//! ([`file_lines`]), a large file of plain addresses read as two halves of its text
//! ([`plain_file_addrs`]) or in pieces from the file itself, never held whole
//! ([`streamed_plain_addrs`]), and addresses sorted by radix ([`sort_addrs`]).
//! `sets/` decides what a set holds and reports; this reads.
//!
//! Invariant: every reader here gives what reading the whole text line by line gives
//! (the same addresses, or `None` for a file it leaves to that read); the read in
//! pieces reads each byte of the file once and gives `None` when the file's size is
//! not the one it was read as.

use std::fs::File;

/// Stable LSD radix sort of `keys` by the bits of `bits(key)` set in `differ` (the
/// others equal in every key, or left in the order given): passes over digits at
/// most 12 bits wide (4,096 buckets stay in cache), every digit counted in one pass.
pub(super) fn radix_sort<K: Copy + Default>(
    keys: &mut Vec<K>,
    differ: u64,
    bits: impl Fn(K) -> u64,
) {
    if differ == 0 {
        return;
    }
    let (lo, hi) = (differ.trailing_zeros(), 64 - differ.leading_zeros());
    let passes = (hi - lo).div_ceil(12);
    let width = (hi - lo).div_ceil(passes);
    let shifts: Vec<u32> = (0..passes).map(|p| lo + p * width).collect();
    let digit = |k: K, shift: u32| (bits(k) >> shift & ((1 << width) - 1)) as usize;
    let mut counts = vec![vec![0usize; 1 << width]; shifts.len()];
    for &k in keys.iter() {
        for (c, &shift) in counts.iter_mut().zip(&shifts) {
            c[digit(k, shift)] += 1;
        }
    }
    let mut other = vec![K::default(); keys.len()];
    for (starts, &shift) in counts.iter_mut().zip(&shifts) {
        let mut at = 0;
        for c in starts.iter_mut() {
            (*c, at) = (at, at + *c);
        }
        for &k in keys.iter() {
            let d = digit(k, shift);
            other[starts[d]] = k;
            starts[d] += 1;
        }
        std::mem::swap(keys, &mut other);
    }
}

/// Bytes of set file from which [`plain_file_addrs`] reads it on two threads: about
/// 70,000 addresses, where a thread's start costs under a hundredth of the work.
pub(super) const TWO_THREADS_FROM: usize = 1 << 20;

/// The addresses of a set file whose every line is a plain IPv4 address, as the two
/// halves of the file give them, each sorted (to be merged:
/// `Checker::uncovered_plain_v4` in `sets/mod.rs`); `None` when a line is anything else
/// (a comment, a blank, a prefix, an error), which the caller then reads line by line,
/// reporting what it must. The halves, split at a line end, are read and sorted on two threads
/// (here alone when the system will not start one). An address is 4 bytes, without
/// its line: the lines matter only for a repeated address, and are then read again
/// (`sets/mod.rs`, `repeated_lines`).
pub(super) fn plain_file_addrs(text: &str) -> Option<(Vec<u32>, Vec<u32>)> {
    let bytes = text.as_bytes();
    let mid = bytes.len() / 2;
    let split = memchr::memchr(b'\n', &bytes[mid..]).map_or(bytes.len(), |at| mid + at + 1);
    let (first, second) = text.split_at(split);
    let (a, b) = std::thread::scope(|s| {
        let other = std::thread::Builder::new().spawn_scoped(s, || plain_addrs(second));
        let a = plain_addrs(first);
        let b = match other {
            Ok(h) => h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => plain_addrs(second),
        };
        (a, b)
    });
    Some((a?, b?))
}

/// [`plain_file_addrs`] of one part of the file.
pub(super) fn plain_addrs(text: &str) -> Option<Vec<u32>> {
    let mut addrs = Vec::with_capacity(text.len() / 8);
    for line in file_lines(text) {
        let FileLine::Plain(a) = line else {
            return None;
        };
        addrs.push(a.to_bits());
    }
    sort_addrs(&mut addrs);
    Some(addrs)
}

/// Bytes [`streamed_plain_addrs`] reads at a time on each thread: the same buffer
/// again and again, which stays in the CPU's cache, instead of a fresh page of the
/// whole text faulted in (and zeroed by the kernel) every 4 KiB.
pub(super) const STREAM_BLOCK: usize = 1 << 17;

/// Pieces [`streamed_plain_addrs`] cuts a file into, which its threads take one after
/// another: a thread that waits for a CPU (another thread of the command has it)
/// leaves its share to the other, where halves would make the command wait for it.
pub(super) const STREAM_PIECES: u64 = 16;

/// The longest line of a plain address: 15 bytes and its line end.
pub(super) const PLAIN_LINE: usize = 16;

/// [`plain_file_addrs`] of the `size` bytes of `file`, cut into `pieces` and read with
/// `pread` in blocks of `block` bytes by two threads (here alone when the system will
/// not start one), each taking the next piece no thread has, without the text held
/// whole: the same addresses (as two sorted lists), or `None` where that gives `None`
/// (a line that is not a plain address, text that is not UTF-8, which a plain line
/// never is) and when the file is not `size` bytes long as it is read (it changed;
/// the caller then reads it whole). Each byte is read once: a line that spans two
/// pieces is put together from the end of one and the start of the next.
pub(super) fn streamed_plain_addrs(
    file: &File,
    size: u64,
    (block, pieces): (usize, u64),
) -> Option<(Vec<u32>, Vec<u32>)> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    let pieces = pieces.clamp(1, size.max(1));
    let (next, stop) = (AtomicU64::new(0), AtomicBool::new(false));
    let work = || {
        let mut addrs = Vec::with_capacity(usize::try_from(size / 8).ok()?);
        let mut edges = Vec::new();
        let mut buf = vec![0u8; block + PLAIN_LINE];
        loop {
            let i = next.fetch_add(1, Relaxed);
            if i >= pieces {
                break;
            }
            let range = (size * i / pieces, size * (i + 1) / pieces, i == 0);
            let read = streamed_lines(file, range, &mut buf, &mut addrs, &|| stop.load(Relaxed));
            let Some(e) = read else {
                stop.store(true, Relaxed);
                return None;
            };
            edges.push((i, e));
        }
        sort_addrs(&mut addrs);
        Some((addrs, edges))
    };
    let (a, b) = std::thread::scope(|s| {
        let other = std::thread::Builder::new().spawn_scoped(s, work);
        let a = work();
        let b = match other {
            Ok(h) => h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => work(),
        };
        (a, b)
    });
    let ((mut a, mut edges), (b, more)) = (a?, b?);
    // Nothing past `size`: the file did not grow while it was read.
    if file_longer_than(file, size) {
        return None;
    }
    edges.extend(more);
    edges.sort_unstable_by_key(|e| e.0);
    let extra = spanning_lines(edges.into_iter().map(|e| e.1))?;
    insert_all_sorted(&mut a, extra);
    Some((a, b))
}

/// What [`streamed_lines`] leaves of a piece: the bytes before its first line end
/// (`head`; all of its bytes when it holds no line end: `ended` false) and after its
/// last (`tail`), which the pieces around it end and begin.
pub(super) struct Edges {
    head: Vec<u8>,
    tail: Vec<u8>,
    ended: bool,
}

/// The addresses of the lines that span pieces, from the pieces' [`Edges`] in order:
/// each the tail of a piece, the whole of pieces without a line end, and the head of
/// the next; then the last line when no line end follows it. `None` when one is not a
/// plain address (an empty line is not).
pub(super) fn spanning_lines(edges: impl Iterator<Item = Edges>) -> Option<Vec<u32>> {
    let mut extra = Vec::new();
    let mut pending: Option<Vec<u8>> = None;
    for e in edges {
        match pending.as_mut() {
            None => pending = Some(e.tail),
            Some(p) if !e.ended => p.extend_from_slice(&e.head),
            Some(p) => {
                p.extend_from_slice(&e.head);
                extra.push(plain_line(p)?);
                pending = Some(e.tail);
            }
        }
        if pending.as_ref().is_some_and(|p| p.len() >= PLAIN_LINE) {
            return None;
        }
    }
    if let Some(last) = pending.filter(|p| !p.is_empty()) {
        extra.push(plain_line(&last)?);
    }
    Some(extra)
}

/// The address `line` (without its end) is, read as [`plain_ipv4`] reads one.
pub(super) fn plain_line(line: &[u8]) -> Option<u32> {
    let (a, used) = leading_ipv4(line)?;
    (used == line.len()).then_some(a.to_bits())
}

/// Puts the addresses of `extra` into the sorted `addrs` where they sort, moving each
/// address of `addrs` once (from its end).
pub(super) fn insert_all_sorted(addrs: &mut Vec<u32>, mut extra: Vec<u32>) {
    extra.sort_unstable();
    let (n, k) = (addrs.len(), extra.len());
    addrs.resize(n + k, 0);
    let (mut i, mut j) = (n, k);
    while j > 0 {
        if i > 0 && addrs[i - 1] > extra[j - 1] {
            addrs[i + j - 1] = addrs[i - 1];
            i -= 1;
        } else {
            addrs[i + j - 1] = extra[j - 1];
            j -= 1;
        }
    }
}

/// Whether `file` holds a byte at offset `size`.
pub(super) fn file_longer_than(file: &File, size: u64) -> bool {
    use std::os::unix::fs::FileExt;
    !matches!(file.read_at(&mut [0u8; 1], size), Ok(0))
}

/// One piece of [`streamed_plain_addrs`]: the bytes `from..to` of `file`, read into
/// `buf` (a block and a plain line) a block at a time, the address of each line that
/// ends in it pushed onto `addrs`; its [`Edges`] (the `first` piece's head is empty).
/// `None` when a line that ends in it is not a plain address, a read fails or comes
/// short, or `stopped()`.
pub(super) fn streamed_lines(
    file: &File,
    (from, to, first): (u64, u64, bool),
    buf: &mut [u8],
    addrs: &mut Vec<u32>,
    stopped: &dyn Fn() -> bool,
) -> Option<Edges> {
    use std::os::unix::fs::FileExt;
    let block = buf.len() - PLAIN_LINE;
    let (mut carry, mut at) = (0, from);
    let mut head = first.then(Vec::new);
    let mut ended = true;
    while at < to {
        if stopped() {
            return None;
        }
        let n = usize::try_from(to - at).map_or(block, |left| left.min(block));
        file.read_exact_at(&mut buf[carry..carry + n], at).ok()?;
        at += n as u64;
        let end = carry + n;
        let data = &buf[..end];
        let mut start = 0;
        if head.is_none() {
            // The end of a line an earlier piece begins: up to the first line end, or
            // the whole piece when it holds none.
            let first = &data[..end.min(PLAIN_LINE)];
            let (line, after) = match memchr::memchr(b'\n', first) {
                Some(line_end) => (&first[..line_end], line_end + 1),
                // Too little read yet to tell (blocks smaller than a line).
                None if at < to && end < PLAIN_LINE => {
                    carry = end;
                    continue;
                }
                None if end < PLAIN_LINE => {
                    ended = false;
                    (first, end)
                }
                None => return None,
            };
            (head, start) = (Some(line.to_vec()), after);
        }
        carry = plain_lines(&data[start..], addrs)?.len();
        buf.copy_within(end - carry..end, 0);
    }
    let head = head.unwrap_or_default();
    Some(Edges {
        head,
        tail: buf[..carry].to_vec(),
        ended,
    })
}

/// Pushes the address of each whole line of `data` onto `addrs`; the bytes after the
/// last line end (at most a plain line's, without its end), or `None` when a whole line
/// is not a plain address.
pub(super) fn plain_lines<'a>(data: &'a [u8], addrs: &mut Vec<u32>) -> Option<&'a [u8]> {
    let mut at = 0;
    loop {
        let rest = &data[at..];
        match leading_ipv4(rest) {
            Some((a, used)) if rest.get(used) == Some(&b'\n') => {
                addrs.push(a.to_bits());
                at += used + 1;
            }
            _ if rest.len() < PLAIN_LINE && memchr::memchr(b'\n', rest).is_none() => {
                return Some(rest)
            }
            _ => return None,
        }
    }
}

/// Sorts addresses as `sort_unstable` does; addresses already sorted (a set file kept
/// sorted) are only checked, others take [`radix_sort_bytes`] on the bytes that differ
/// between them: the addresses of a /8 take three passes, any others at most four.
pub(super) fn sort_addrs(addrs: &mut Vec<u32>) {
    if addrs.is_sorted() {
        return;
    }
    let (any, all) = addrs
        .iter()
        .fold((0u32, !0u32), |(any, all), &a| (any | a, all & a));
    radix_sort_bytes(addrs, any ^ all);
}

/// Stable LSD radix sort of `keys` by their bytes (least significant first), skipping
/// a byte no bit of `differ` is in (the same in every key). A byte's 256 buckets write
/// at 256 places at a time, whose lines stay in the first-level cache, where
/// [`radix_sort`]'s 4,096 buckets of 12 bits scattered over far more lines: half
/// a million addresses of a /8 sort in 3.4-4.3 ms against 5.8-9.0 ms in two passes of
/// 12 bits (docs/benchmarks.md, "One element of a million-element set, eighteenth pass").
/// Every byte is counted in one pass over the keys.
pub(super) fn radix_sort_bytes(keys: &mut Vec<u32>, differ: u32) {
    let bytes: Vec<u32> = (0..4).filter(|b| differ >> (8 * b) & 0xff != 0).collect();
    if bytes.is_empty() {
        return;
    }
    let mut counts = [[0usize; 256]; 4];
    for &k in keys.iter() {
        for (c, &b) in counts.iter_mut().zip(&bytes) {
            c[(k >> (8 * b) & 0xff) as usize] += 1;
        }
    }
    let mut other = vec![0u32; keys.len()];
    for (starts, &b) in counts.iter_mut().zip(&bytes) {
        let mut at = 0;
        for c in starts.iter_mut() {
            (*c, at) = (at, at + *c);
        }
        for &k in keys.iter() {
            let d = (k >> (8 * b) & 0xff) as usize;
            other[starts[d]] = k;
            starts[d] += 1;
        }
        std::mem::swap(keys, &mut other);
    }
    // After an odd number of passes the keys are in the list as long as they are; put
    // back into the one given, they keep its room, into which a streamed read's
    // spanning lines are inserted ([`insert_all_sorted`]) where a full list would be
    // reallocated and copied whole (a copy into pages already touched, against 2 MB
    // of fresh pages for half a million addresses).
    if bytes.len() % 2 == 1 {
        other.copy_from_slice(keys);
        std::mem::swap(keys, &mut other);
    }
}

/// A line of a set file ([`file_lines`]).
#[derive(Debug, PartialEq)]
pub(super) enum FileLine<'a> {
    /// A dotted-quad address alone on its line, read as [`plain_ipv4`] reads one.
    Plain(std::net::Ipv4Addr),
    /// Any other line, without its line end.
    Text(&'a str),
}

/// The lines of `text` as `str::lines` gives them (split at `\n`, a `\r` before it
/// dropped, no empty line after a final `\n`). A line that is a plain address and
/// nothing else, the bulk of a large set file, is read in the same pass that finds
/// its end; only other lines are searched for their end with `memchr`.
pub(super) fn file_lines(text: &str) -> impl Iterator<Item = FileLine<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = text.as_bytes().get(at..).filter(|r| !r.is_empty())?;
        if let Some((a, used)) = leading_ipv4(rest) {
            if matches!(rest.get(used), None | Some(b'\n')) {
                at += used + 1;
                return Some(FileLine::Plain(a));
            }
        }
        let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let line = &text[at..at + len];
        at += len + 1;
        Some(FileLine::Text(line.strip_suffix('\r').unwrap_or(line)))
    })
}

/// A dotted-quad IPv4 address as `Ipv4Addr`'s parser reads one (four decimal
/// octets of one to three digits, no leading zeros, each at most 255), read straight
/// from the bytes; `None` for anything else, which then goes through the full parsers
/// (they decide what it is, or that it is an error).
pub(super) fn plain_ipv4(text: &str) -> Option<std::net::Ipv4Addr> {
    leading_ipv4(text.as_bytes()).and_then(|(a, used)| (used == text.len()).then_some(a))
}

/// The dotted-quad address `b` starts with, as [`plain_ipv4`] reads one, and how many
/// bytes it takes; `None` when `b` does not start with one.
pub(super) fn leading_ipv4(b: &[u8]) -> Option<(std::net::Ipv4Addr, usize)> {
    match b.first_chunk() {
        Some(head) => leading_ipv4_in(head),
        None => leading_ipv4_bytewise(b),
    }
}

/// [`leading_ipv4`] of a line with 16 bytes in view, the longest address and the byte
/// after it: each octet's up to four bytes are read at fixed offsets from a fixed-size
/// array, with no loop per digit and no bounds to check (this runs once per line of a
/// million-line set file; a third faster than byte by byte).
pub(super) fn leading_ipv4_in(b: &[u8; 16]) -> Option<(std::net::Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, o) in octets.iter_mut().enumerate() {
        if n > 0 {
            if b[i] != b'.' {
                return None;
            }
            i += 1;
        }
        // At most 12 bytes before the last octet: its fourth byte is in view.
        let digit = |at: usize| Some(b[at].wrapping_sub(b'0')).filter(|d| *d < 10);
        let first = digit(i)?;
        let Some(second) = digit(i + 1) else {
            (*o, i) = (first, i + 1);
            continue;
        };
        if first == 0 {
            return None;
        }
        let Some(third) = digit(i + 2) else {
            (*o, i) = (first * 10 + second, i + 2);
            continue;
        };
        let value = u32::from(first) * 100 + u32::from(second) * 10 + u32::from(third);
        if digit(i + 3).is_some() {
            return None;
        }
        (*o, i) = (u8::try_from(value).ok()?, i + 3);
    }
    Some((std::net::Ipv4Addr::from(octets), i))
}

/// [`leading_ipv4`] of a line near the end of the text, byte by byte.
pub(super) fn leading_ipv4_bytewise(b: &[u8]) -> Option<(std::net::Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, o) in octets.iter_mut().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v = 0u32;
        while i < b.len() && i - start < 4 && b[i].is_ascii_digit() {
            v = v * 10 + u32::from(b[i] - b'0');
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 3 || (digits > 1 && b[start] == b'0') {
            return None;
        }
        *o = u8::try_from(v).ok()?;
    }
    Some((std::net::Ipv4Addr::from(octets), i))
}
