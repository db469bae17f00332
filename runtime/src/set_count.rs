//! How many entries a set map holds, without walking it: the kernel accounts the
//! memory of an LPM trie (`trie_mem_usage`, Linux 6.4 and later) and of a hash map that
//! is not preallocated (`htab_map_mem_usage`) as a fixed part plus the entry count times
//! the size of one entry, and shows that figure as the map's `memlock` in
//! `/proc/self/fdinfo`. The sizes are the kernel's own (its node and element headers
//! differ between versions), so they are measured on scratch maps of the same key and
//! value sizes: `memlock` empty, with one entry and with two; a hash map's fixed part
//! grows with its buckets (a power of two at least its capacity), so it is measured
//! at 2, 4 and 8 buckets and taken at the live map's count.
//!
//! Invariant: a count is given only when the kernel's accounting is seen to follow
//! the entries exactly (the scratch map's figure grows by the same non-zero step for
//! each entry, a hash map's fixed part by the same step for each doubling of buckets
//! from 2 to 4 to 8, and the live map's figure is a whole number of steps above the
//! fixed part); otherwise `None`, and the caller walks the map. Walking a trie of a
//! million entries costs the kernel about half a second (each `get_next_key` starts
//! again from the root); reading a hash map of a million in batches, a third of one.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use aya_obj::generated::bpf_map_type;

use crate::sys;

/// `BPF_F_NO_PREALLOC`, which the kernel requires of an LPM trie and sockc gives
/// every set map.
pub(crate) const NO_PREALLOC: u32 = 1;

/// Which kind of set map is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// An LPM trie.
    Trie,
    /// A hash map that is not preallocated, of this capacity (`max_entries`).
    Hash { capacity: u32 },
}

/// The number of entries of the set map `map`, of `kind`, whose keys are `key_len`
/// bytes (a `u32` prefix length, then the address) and values `value_len`; `None`
/// when this kernel's accounting does not tell it ([`entry_size`]).
pub fn set_entries(
    map: BorrowedFd<'_>,
    kind: SetKind,
    key_len: u32,
    value_len: u32,
) -> Option<u64> {
    let (base, step) = entry_size(kind, key_len, value_len).ok()??;
    let live = memlock(map).ok()?.checked_sub(base)?;
    (live % step == 0).then_some(live / step)
}

/// The `memlock` of an empty map of `kind` and these sizes and what each entry adds
/// to it, measured on scratch maps; `None` when an entry adds nothing (a kernel that
/// accounts a trie by its maximum size, before 6.4; a preallocated hash map) or not
/// the same for each, or a hash map's buckets do not add the same for each doubling.
fn entry_size(kind: SetKind, key_len: u32, value_len: u32) -> io::Result<Option<(u64, u64)>> {
    let SetKind::Hash { capacity } = kind else {
        return scratch(bpf_map_type::BPF_MAP_TYPE_LPM_TRIE, key_len, value_len, 2);
    };
    let hash = |buckets| scratch(bpf_map_type::BPF_MAP_TYPE_HASH, key_len, value_len, buckets);
    let (Some((b2, step)), Some((b4, s4)), Some((b8, s8))) = (hash(2)?, hash(4)?, hash(8)?) else {
        return Ok(None);
    };
    // From 2 buckets to 4 adds 2 buckets' bytes, from 4 to 8 four.
    let Some(two_buckets) = b4.checked_sub(b2) else {
        return Ok(None);
    };
    if s4 != step
        || s8 != step
        || two_buckets % 2 != 0
        || b8.checked_sub(b4) != Some(2 * two_buckets)
    {
        return Ok(None);
    }
    let per_bucket = two_buckets / 2;
    let buckets = u64::from(capacity.max(1).next_power_of_two());
    // The fixed part without buckets, then the live map's buckets.
    let base = b2
        .checked_sub(two_buckets)
        .and_then(|fixed| fixed.checked_add(per_bucket * buckets));
    Ok(base.map(|base| (base, step)))
}

/// The `memlock` of an empty scratch map of `map_type`, capacity `capacity`, and what
/// each of its first two entries adds; `None` when they add nothing or not the same.
fn scratch(
    map_type: bpf_map_type,
    key_len: u32,
    value_len: u32,
    capacity: u32,
) -> io::Result<Option<(u64, u64)>> {
    let map = sys::create_map_with_flags(
        map_type as u32,
        "sockc_count",
        key_len,
        value_len,
        capacity,
        NO_PREALLOC,
    )?;
    let fd = map.as_fd();
    let value = vec![0u8; value_len as usize];
    let mut key = vec![0u8; key_len as usize];
    let empty = memlock(fd)?;
    // Two distinct entries: prefix lengths 0 and 1 of the same address.
    sys::map_update(fd, &key, &value, 0)?;
    let one = memlock(fd)?;
    key[0] = 1;
    sys::map_update(fd, &key, &value, 0)?;
    let two = memlock(fd)?;
    let step = one.saturating_sub(empty);
    Ok((step > 0 && two.checked_sub(one) == Some(step)).then_some((empty, step)))
}

/// The `memlock` figure the kernel shows for the map `fd` in `/proc/self/fdinfo`.
fn memlock(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("memlock:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no memlock in the map's fdinfo"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count follows entries added and removed one at a time, in a trie and in
    /// hash maps of several capacities (buckets 64 and 2^21, a million elements' map).
    #[test]
    fn the_count_follows_the_entries() {
        if !sys::tests_run_as_root() {
            return;
        }
        let hash = bpf_map_type::BPF_MAP_TYPE_HASH;
        for (map_type, kind, capacity) in [
            (bpf_map_type::BPF_MAP_TYPE_LPM_TRIE, SetKind::Trie, 64),
            (hash, SetKind::Hash { capacity: 64 }, 64),
            (hash, SetKind::Hash { capacity: 33 }, 33),
            (hash, SetKind::Hash { capacity: 1 << 21 }, 1 << 21),
        ] {
            counts(map_type, kind, capacity);
        }
    }

    fn counts(map_type: bpf_map_type, kind: SetKind, capacity: u32) {
        let map =
            sys::create_map_with_flags(map_type as u32, "sockc_test", 8, 1, capacity, NO_PREALLOC)
                .unwrap();
        let fd = map.as_fd();
        let Some(0) = set_entries(fd, kind, 8, 1) else {
            // A kernel before 6.4 accounts a trie by its maximum size.
            assert!(entry_size(kind, 8, 1).unwrap().is_none(), "{kind:?}");
            return;
        };
        let key = |i: u8| [32, 0, 0, 0, 10, 0, 0, i];
        for i in 0..5 {
            sys::map_update(fd, &key(i), &[1], 0).unwrap();
        }
        assert_eq!(set_entries(fd, kind, 8, 1), Some(5), "{kind:?}");
        sys::map_delete(fd, &key(3)).unwrap();
        assert_eq!(set_entries(fd, kind, 8, 1), Some(4), "{kind:?}");
    }
}
