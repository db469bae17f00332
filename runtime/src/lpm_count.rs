//! How many entries an LPM trie holds, without walking it: the kernel accounts a
//! trie's memory as its entry count times the size of one entry (`trie_mem_usage`,
//! Linux 6.4 and later), and shows that figure as the map's `memlock` in
//! `/proc/self/fdinfo`. The size of one entry is the kernel's own (its node header
//! differs between versions), so it is measured on a scratch trie of the same key and
//! value sizes: its `memlock` empty, with one entry and with two.
//!
//! Invariant: a count is given only when the kernel's accounting is seen to follow
//! the entries exactly (the scratch trie's figure grows by the same non-zero step for
//! each entry, and the live map's figure is a whole number of steps); otherwise
//! `None`, and the caller walks the map. Walking a trie of a million entries costs
//! the kernel about half a second (each `get_next_key` starts again from the root).

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use aya_obj::generated::bpf_map_type;

use crate::sys;

/// `BPF_F_NO_PREALLOC`, which the kernel requires of an LPM trie.
const NO_PREALLOC: u32 = 1;

/// The number of entries of the LPM trie `map`, whose keys are `key_len` bytes
/// (a `u32` prefix length, then the address) and values `value_len`; `None` when
/// this kernel's accounting does not tell it ([`entry_size`]).
pub fn lpm_entries(map: BorrowedFd<'_>, key_len: u32, value_len: u32) -> Option<u64> {
    let (base, step) = entry_size(key_len, value_len).ok()??;
    let live = memlock(map).ok()?.checked_sub(base)?;
    (live % step == 0).then_some(live / step)
}

/// The `memlock` of an empty trie of these sizes and what each entry adds to it,
/// measured on a scratch trie; `None` when an entry adds nothing (a kernel that
/// accounts a trie by its maximum size, before 6.4) or not the same for each.
fn entry_size(key_len: u32, value_len: u32) -> io::Result<Option<(u64, u64)>> {
    let trie = sys::create_map_with_flags(
        bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32,
        "sockc_count",
        key_len,
        value_len,
        2,
        NO_PREALLOC,
    )?;
    let fd = trie.as_fd();
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

    /// The count follows entries added and removed one at a time.
    #[test]
    fn the_count_follows_the_entries() {
        if !sys::tests_run_as_root() {
            return;
        }
        let trie = sys::create_map_with_flags(
            bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32,
            "sockc_test",
            8,
            1,
            64,
            NO_PREALLOC,
        )
        .unwrap();
        let fd = trie.as_fd();
        let Some(0) = lpm_entries(fd, 8, 1) else {
            // A kernel before 6.4 accounts a trie by its maximum size.
            assert!(entry_size(8, 1).unwrap().is_none());
            return;
        };
        let key = |i: u8| [32, 0, 0, 0, 10, 0, 0, i];
        for i in 0..5 {
            sys::map_update(fd, &key(i), &[1], 0).unwrap();
        }
        assert_eq!(lpm_entries(fd, 8, 1), Some(5));
        sys::map_delete(fd, &key(3)).unwrap();
        assert_eq!(lpm_entries(fd, 8, 1), Some(4));
    }
}
