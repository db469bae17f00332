//! Many raw entries written into, or deleted from, one map: packed entries (the
//! metadata's, or a set change's) written in batches of [`BATCH`]
//! elements (`BPF_MAP_UPDATE_BATCH`, `BPF_MAP_DELETE_BATCH`), one syscall per batch
//! instead of one per element. A map kind whose kernel has no batch commands gets one
//! update or delete per element, decided once per map by the first batch's answer.
//!
//! Invariants: every element is checked against the map's key and value sizes (read
//! once per map) before anything is written; a delete of an absent key is not an
//! error, so a delete run again after a kill finishes what the first began; an error
//! names the element it stopped at, and every element before it is written.

use std::{io, os::fd::BorrowedFd};

use sockc_compiler::bpf::maps::Entries;

use crate::{fault::point, sys};

/// Elements per batch syscall: large enough that the syscalls cost nothing next to
/// the kernel's own work per element, small enough that a fault point between batches
/// still falls inside a large update.
pub const BATCH: usize = 65_536;

/// Entries for one map, packed: keys and values back to back ([`Entries`]).
pub type Packed = Entries;

/// Why an entry could not be written: the index of the element in the
/// list given, and what went wrong.
#[derive(Debug)]
pub enum WriteFault {
    /// The entry has other sizes (key, value) than the map's.
    Size {
        index: usize,
        got: (usize, usize),
        want: (usize, usize),
    },
    /// The kernel refused the element.
    Kernel { index: usize, source: io::Error },
}

/// `entries` checked against a map's key and value sizes.
pub fn check_sizes(entries: &Entries, key_len: usize, value_len: usize) -> Result<(), WriteFault> {
    if entries.is_empty() || (entries.key_len(), entries.value_len()) == (key_len, value_len) {
        return Ok(());
    }
    Err(WriteFault::Size {
        index: 0,
        got: (entries.key_len(), entries.value_len()),
        want: (key_len, value_len),
    })
}

/// Writes every entry of `p` into `map` (`BPF_ANY`); `what` names the step at each
/// fault point (one per batch).
pub fn update(map: BorrowedFd<'_>, p: &Packed, what: &str) -> Result<(), WriteFault> {
    update_range(map, p, 0, p.len(), what)
}

/// [`update`] split between up to [`WRITERS`] threads, each writing a contiguous part
/// of `p` (whole batches): for a map whose kernel side takes no map-wide lock, a hash
/// map, where the inserts of a million-element set then take each CPU's share of the
/// time (an LPM trie takes one lock per insert: a second writer only waits). Below two
/// batches, or when a test counts the fault points ([`crate::fault::counting`], which
/// wants the same numbering in every run), one thread writes all. On an error, the one
/// at the lowest index is returned: every element before it was written, as
/// [`update`] promises. A part whose thread the system refuses is written on the
/// calling thread.
pub fn update_parallel(map: BorrowedFd<'_>, p: &Packed, what: &str) -> Result<(), WriteFault> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let writers = cpus.min(WRITERS).min(p.len() / BATCH);
    if writers < 2 || crate::fault::counting() {
        return update(map, p, what);
    }
    let per = p.len().div_ceil(writers).next_multiple_of(BATCH);
    let results: Vec<Result<(), WriteFault>> = std::thread::scope(|s| {
        let part = move |at: usize| update_range(map, p, at, (at + per).min(p.len()), what);
        // A part whose thread cannot be made (a limit on threads) is written here.
        let parts: Vec<_> = (0..p.len())
            .step_by(per)
            .map(|at| {
                let writer = std::thread::Builder::new().spawn_scoped(s, move || part(at));
                (at, writer)
            })
            .collect();
        parts
            .into_iter()
            .map(|(at, h)| match h {
                Ok(h) => h.join().expect("a map writer does not panic"),
                Err(_) => part(at),
            })
            .collect()
    });
    // In index order: the first error is the lowest.
    results.into_iter().collect()
}

/// The most threads [`update_parallel`] writes with.
const WRITERS: usize = 4;

/// Writes entries `from..to` of `p` into `map`, as [`update`] writes them all.
fn update_range(
    map: BorrowedFd<'_>,
    p: &Packed,
    from: usize,
    to: usize,
    what: &str,
) -> Result<(), WriteFault> {
    let mut batched = true;
    let mut at = from;
    while at < to {
        let end = (at + BATCH).min(to);
        point(what);
        if batched {
            let (keys, values) = (p.keys(at, end), p.values(at, end));
            match sys::map_update_batch(map, keys, values, p.key_len()) {
                Ok(_) => {
                    at = end;
                    continue;
                }
                Err((0, e)) if sys::batch_unsupported(&e) => batched = false,
                Err((done, source)) => {
                    return Err(WriteFault::Kernel {
                        index: at + done,
                        source,
                    })
                }
            }
        }
        for i in at..end {
            sys::map_update(map, p.key(i), p.value(i), 0)
                .map_err(|source| WriteFault::Kernel { index: i, source })?;
        }
        at = end;
    }
    Ok(())
}

/// Deletes every key of `p` from `map`; absent keys are skipped.
pub fn delete(map: BorrowedFd<'_>, p: &Packed, what: &str) -> Result<(), WriteFault> {
    let mut batched = true;
    let mut at = 0;
    while at < p.len() {
        let end = (at + BATCH).min(p.len());
        point(what);
        if batched {
            let keys = p.keys(at, end);
            match sys::map_delete_batch(map, keys, p.key_len()) {
                Ok(_) => {
                    at = end;
                    continue;
                }
                // The kernel stops at an absent key: skip it and go on from the next.
                Err((done, e)) if e.raw_os_error() == Some(libc::ENOENT) => {
                    at += done + 1;
                    continue;
                }
                Err((0, e)) if sys::batch_unsupported(&e) => batched = false,
                Err((done, source)) => {
                    return Err(WriteFault::Kernel {
                        index: at + done,
                        source,
                    })
                }
            }
        }
        for i in at..end {
            sys::map_delete(map, p.key(i))
                .map_err(|source| WriteFault::Kernel { index: i, source })?;
        }
        at = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use aya_obj::generated::bpf_map_type;

    use super::*;

    /// A hash map written by several threads holds every entry, each with its own
    /// value, whatever part of the list its thread wrote (not a whole number of parts:
    /// the last one is short).
    #[test]
    fn a_parallel_update_writes_every_entry() {
        if !sys::tests_run_as_root() {
            return;
        }
        let n = 3 * BATCH + 7;
        let hash = bpf_map_type::BPF_MAP_TYPE_HASH as u32;
        let flags = crate::set_count::NO_PREALLOC;
        let map = sys::create_map_with_flags(hash, "sockc_test", 4, 4, n as u32, flags).unwrap();
        let keys: Vec<u8> = (0..n as u32).flat_map(u32::to_ne_bytes).collect();
        let values: Vec<u8> = (0..n as u32).flat_map(|i| (!i).to_ne_bytes()).collect();
        let p = Entries::from_parts(4, 4, keys, values).unwrap();
        update_parallel(map.as_fd(), &p, "test").unwrap();
        for i in (0..n as u32).rev() {
            let live = sys::map_lookup(map.as_fd(), &i.to_ne_bytes(), 4).unwrap();
            assert_eq!(live.as_deref(), Some(&(!i).to_ne_bytes()[..]), "key {i}");
        }
    }
}
