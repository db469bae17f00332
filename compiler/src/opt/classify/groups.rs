//! The regions of the trie builder ([`Region`]: a node's part of the key space) and
//! the groups of byte values one split makes ([`Groups`]), each with its entry list.
//!
//! Invariant: group `k`'s region is the split region with the byte read fixed to the
//! group's first value (the L4 and flags splits: the region with that byte marked
//! read), and its list is, in the order of the split's list, the entries that meet
//! it; the groups' first values increase from 0.

use smallvec::SmallVec;

use crate::ir::classifier::{Bounds, MAX_DIMS};

/// The part of the key space a node stands for: per dimension the values `lo..=hi`
/// and how many of its bytes (most significant first) are fixed; whether the TCP
/// flags and the L4 byte are fixed (to values every entry of the region's list
/// accepts: the split keeps only those).
#[derive(Clone, Copy)]
pub(super) struct Region {
    pub(super) lo: [u32; MAX_DIMS],
    pub(super) hi: [u32; MAX_DIMS],
    pub(super) used: [u8; MAX_DIMS],
    pub(super) flags: bool,
    pub(super) l4: bool,
}

/// The range of an entry of bounds `x` in dimension `d` of region `r`.
#[inline(always)]
pub(super) fn clipped<const N: usize>(x: &Bounds<N>, r: &Region, d: usize) -> (u32, u32) {
    (x.lo[d].max(r.lo[d]), x.hi[d].min(r.hi[d]))
}

/// The groups of byte values a split makes: each with its first value, their entry
/// lists one after another in `entries`, and the region they are cut from: a group's
/// region is made when asked ([`Groups::region`]), where a copy of the 104-byte region
/// per group, kept in the list, was a fifth of the splits' instructions.
/// The buffers are reused from split to split ([`Groups::clear`]): two allocations
/// per split were a tenth of them at 1k.
pub(super) struct Groups {
    /// The split region, and the byte read as (dimension, shift) if it is a
    /// dimension's (the flags' and L4 splits mark theirs read in `base` itself).
    base: Region,
    cut: Option<(usize, u32)>,
    /// (first byte value, end of its list in `entries`).
    groups: Vec<(u32, usize)>,
    pub(super) entries: Vec<u32>,
}

impl Groups {
    /// No groups yet, of a split of `base` reading byte `cut` of a dimension.
    pub(super) fn new(base: Region, cut: Option<(usize, u32)>) -> Groups {
        Groups {
            base,
            cut,
            groups: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Emptied for a split of `base` reading `cut`, its buffers kept.
    pub(super) fn clear(&mut self, base: Region, cut: Option<(usize, u32)>) {
        (self.base, self.cut) = (base, cut);
        self.groups.clear();
        self.entries.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.groups.len()
    }

    /// Group `k`'s region: the split's with the byte read fixed to the first value.
    #[inline]
    pub(super) fn region(&self, k: usize) -> Region {
        let mut r = self.base;
        if let Some((d, shift)) = self.cut {
            let a = self.groups[k].0;
            r.used[d] += 1;
            r.lo[d] |= a << shift;
            r.hi[d] = (r.hi[d] & !(0xff << shift)) | (a << shift);
        }
        r
    }

    fn first_value(&self, k: usize) -> Option<u32> {
        self.groups.get(k).map(|g| g.0)
    }

    /// The last byte value of group `k` (the one before the next group's first).
    pub(super) fn last_value(&self, k: usize) -> u8 {
        self.first_value(k + 1).map_or(255, |n| n - 1) as u8
    }

    /// Where to cut the groups (at least two) in two with about as many entries on
    /// either side: the first group of the second half.
    pub(super) fn half(&self) -> usize {
        let total = self.entries.len();
        let at = self
            .groups
            .iter()
            .position(|g| 2 * g.1 >= total)
            .unwrap_or(0);
        (at + 1).min(self.len() - 1)
    }

    pub(super) fn list(&self, k: usize) -> &[u32] {
        let start = k.checked_sub(1).map_or(0, |p| self.groups[p].1);
        &self.entries[start..self.groups[k].1]
    }

    /// Adds the group of byte values from `first` on, of the entries `list`.
    pub(super) fn push(&mut self, first: u32, list: impl Iterator<Item = u32>) {
        self.entries.extend(list);
        self.groups.push((first, self.entries.len()));
    }

    /// Takes the last group back into the one before when their lists are equal (the
    /// values of both then go to one child).
    pub(super) fn merge_last_if_same(&mut self) {
        let k = self.groups.len() - 1;
        if k > 0 && self.list(k) == self.list(k - 1) {
            self.entries.truncate(self.groups[k - 1].1);
            self.groups.pop();
        }
    }

    /// Fills the groups of `starts` (each interval's first byte value, increasing
    /// from 0), entry `i` of `list` in the intervals `spans[i]` (first and last,
    /// inclusive), in order.
    pub(super) fn fill_spans(&mut self, starts: &[u32], list: &[u32], spans: &[(u32, u32)]) {
        let groups = &mut self.groups;
        groups.extend(starts.iter().map(|&a| (a, 0)));
        // Sizes (entries starting at an interval less those that ended before it,
        // summed in each group's second field, wrapping: the sums are never below
        // zero), then where each list ends.
        for &(i, j) in spans {
            let g = &mut groups[i as usize].1;
            *g = g.wrapping_add(1);
            if let Some(after) = groups.get_mut(j as usize + 1) {
                after.1 = after.1.wrapping_sub(1);
            }
        }
        let (mut open, mut end) = (0usize, 0usize);
        let mut next: SmallVec<[usize; 64]> = SmallVec::with_capacity(groups.len());
        for g in groups.iter_mut() {
            open = open.wrapping_add(g.1);
            next.push(end);
            end += open;
            g.1 = end;
        }
        self.entries.resize(end, 0);
        for (&e, &(i, j)) in list.iter().zip(spans) {
            for at in &mut next[i as usize..=j as usize] {
                self.entries[*at] = e;
                *at += 1;
            }
        }
    }
}
