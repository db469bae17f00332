//! The boxes the walk has still to decide ([`Queue`]): each with its label (who has
//! decided it so far) and the ascending list of steps still ahead that may decide it
//! ([`Ahead`]).
//! The box whose first step ahead comes first is taken first, so the live boxes go
//! through the steps together, and a box put in is joined with a waiting one of the
//! same label that agrees with it on every dimension but one.
//!
//! Why the join is exact: a box with a label holds no point that a step before its
//! first step ahead, applying to that label, would have taken (that step would have
//! decided the point, changing its label). So two boxes with the same label can wait
//! as one, their union (one box, as they agree off one dimension), with the union of
//! their lists: a step in one list only meets the other's points never, or only
//! where its own list would have met them. Without the join, a broad rule after a
//! thousand narrow ones took one piece from each of the thousand slabs the narrow
//! ones left; joined, slabs cut alike wait as one box and give one piece.
//!
//! A join that would hold more than [`MAX_INTERVALS`] intervals on its dimension is not
//! made (each split of a box costs its intervals).
//!
//! Invariant: the boxes in the queue are pairwise disjoint, and each is joined only
//! with boxes of its own label.

use std::{
    cmp::Reverse,
    collections::{hash_map::Entry, BinaryHeap, HashMap},
    hash::{BuildHasher, BuildHasherDefault, Hash, Hasher},
};

use foldhash::fast::FixedState;

use super::ahead::Ahead;
use crate::space::{dims_of, HeaderBox, NDIMS};

/// A waiting box, its label and the steps ahead of it.
pub(super) struct Waiting<L> {
    pub(super) b: HeaderBox,
    pub(super) label: L,
    pub(super) ahead: Ahead,
}

/// The waiting boxes, by first step ahead, with an index of them by label and
/// dimensions for the joins.
pub(super) struct Queue<L> {
    slots: Vec<Option<Waiting<L>>>,
    free: Vec<usize>,
    /// (first step ahead, slot, the slot's generation when pushed); an entry whose
    /// slot has changed since is stale and skipped.
    order: BinaryHeap<Reverse<(u32, usize, u32)>>,
    generation: Vec<u32>,
    /// A hash of (label, dimension `d`, the box off `d`) → the slot of the box last put
    /// in with that key, while it waits (checked before use: hashes may collide).
    index: HashMap<u64, usize, BuildHasherDefault<KeyHasher>>,
    /// Per slot, the keys its box was put in `index` with, to take them out with it:
    /// the index then holds only waiting boxes (it stays small enough to be fast).
    keys: Vec<Vec<u64>>,
    /// [`dim_hash`] of each dimension's whole domain, which most dimensions of a box
    /// hold (hashed once here, not at every push).
    whole: [u64; NDIMS],
    len: usize,
}

impl<L: Copy + Eq + Hash> Queue<L> {
    pub(super) fn new() -> Queue<L> {
        Queue {
            slots: Vec::new(),
            free: Vec::new(),
            order: BinaryHeap::new(),
            generation: Vec::new(),
            index: HashMap::default(),
            keys: Vec::new(),
            whole: whole_hashes(),
            len: 0,
        }
    }

    /// How many boxes wait.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Puts `w` in, joined with every waiting box it can be (see the module docs);
    /// `join` gives the steps ahead of two boxes joined into one.
    pub(super) fn push(
        &mut self,
        mut w: Waiting<L>,
        work: &mut u32,
        join: impl Fn(&Waiting<L>, &Waiting<L>) -> Ahead,
    ) {
        let mut hashes = dim_hashes(&w.b, &self.whole);
        'join: loop {
            let keys = join_keys(w.label, w.b.constrained_bits(), &hashes);
            for d in dims_of(w.b.constrained_bits()) {
                let Some(&slot) = self.index.get(&keys[d]) else {
                    continue;
                };
                let joins = self.slots[slot].as_ref().is_some_and(|o| {
                    o.label == w.label && small_join(&o.b, &w.b, d) && o.b.agrees_off(&w.b, d)
                });
                if joins {
                    let other = self.take(slot);
                    // The lists first: each is read against its own box.
                    w.ahead = join(&w, &other);
                    w.b = w.b.join_on(&other.b, d, work);
                    hashes[d] = dim_hash(&w.b, d);
                    continue 'join;
                }
            }
            return self.insert(w, &keys);
        }
    }

    /// The waiting box whose first step ahead comes first.
    pub(super) fn pop(&mut self) -> Option<Waiting<L>> {
        while let Some(Reverse((_, slot, generation))) = self.order.pop() {
            if self.generation[slot] == generation && self.slots[slot].is_some() {
                return Some(self.take(slot));
            }
        }
        None
    }

    /// Puts `w` in a free slot, indexed by its `keys` (see [`join_keys`]).
    fn insert(&mut self, w: Waiting<L>, keys: &[u64; NDIMS]) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.generation.push(0);
            self.keys.push(Vec::new());
            self.slots.len() - 1
        });
        for d in dims_of(w.b.constrained_bits()) {
            self.index.insert(keys[d], slot);
            self.keys[slot].push(keys[d]);
        }
        self.order
            .push(Reverse((w.ahead.first(), slot, self.generation[slot])));
        self.slots[slot] = Some(w);
        self.len += 1;
    }

    fn take(&mut self, slot: usize) -> Waiting<L> {
        let w = self.slots[slot].take().expect("a live slot");
        // A key a later box took over stays: it is that box's now.
        for key in self.keys[slot].drain(..) {
            if let Entry::Occupied(e) = self.index.entry(key) {
                if *e.get() == slot {
                    e.remove();
                }
            }
        }
        self.generation[slot] += 1;
        self.free.push(slot);
        self.len -= 1;
        w
    }
}

/// Most intervals a box joined on a dimension may have there (and, when many steps
/// are ahead of it, any box: the walk halves a larger one). Each split of a box
/// copies its sets, so a box that every step cuts must stay small: the disjoint
/// candidates of twenty thousand rules joined as one box of as many intervals made
/// every split cost their number (the square of the rules in all). Past it, the box
/// waits apart and the next ones join each other.
pub(super) const MAX_INTERVALS: usize = 64;

/// Whether `a` and `b` joined on dimension `d` hold at most [`MAX_INTERVALS`] intervals
/// there.
fn small_join(a: &HeaderBox, b: &HeaderBox, d: usize) -> bool {
    a.dim(d).intervals().len() + b.dim(d).intervals().len() <= MAX_INTERVALS
}

/// The hasher of the index, whose keys are hashes already: a `u64` is its own hash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }

    /// (Not called for `u64` keys; other bytes are folded in.)
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

/// A hash of dimension `d`'s values (fixed, so the joins do not vary from run to run).
fn dim_hash(b: &HeaderBox, d: usize) -> u64 {
    FixedState::default().hash_one((d, b.dim(d)))
}

/// [`dim_hash`] of each dimension's whole domain.
fn whole_hashes() -> [u64; NDIMS] {
    let full = HeaderBox::full();
    std::array::from_fn(|d| dim_hash(&full, d))
}

/// [`dim_hash`] of every dimension of `b`, taken from `whole` (see [`whole_hashes`])
/// where the box holds the whole domain.
fn dim_hashes(b: &HeaderBox, whole: &[u64; NDIMS]) -> [u64; NDIMS] {
    let mut hashes = *whole;
    for d in dims_of(b.constrained_bits()) {
        hashes[d] = dim_hash(b, d);
    }
    hashes
}

/// The index keys of a box with `hashes`, labelled `label`, off each dimension `d`
/// of `dims` (bits; the others are left 0): the (wrapping) sum of the other
/// dimensions' hashes, with the label and `d`.
fn join_keys<L: Hash + Copy>(label: L, dims: u32, hashes: &[u64; NDIMS]) -> [u64; NDIMS] {
    let all = hashes.iter().fold(0u64, |acc, &h| acc.wrapping_add(h));
    let mut keys = [0; NDIMS];
    for d in dims_of(dims) {
        keys[d] = FixedState::default().hash_one((label, d, all.wrapping_sub(hashes[d])));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Dim, ValueSet};

    fn port_box(lo: u128, hi: u128, src: u128) -> HeaderBox {
        HeaderBox::full()
            .with(Dim::Dport, ValueSet::range(lo, hi))
            .with(Dim::Src4, ValueSet::single(src))
    }

    fn waiting(b: HeaderBox, label: u8, ahead: &[u32]) -> Waiting<u8> {
        Waiting {
            b,
            label,
            ahead: Ahead::of(ahead),
        }
    }

    /// Joins as the walk does, every step of either list kept.
    fn union(a: &Waiting<u8>, b: &Waiting<u8>) -> Ahead {
        Ahead::joined(&a.ahead, |_| true, &b.ahead, |_| true)
    }

    #[test]
    fn a_whole_dimension_hashes_as_when_hashed_on_its_own() {
        let b = port_box(0, 9, 1);
        let each: [u64; NDIMS] = std::array::from_fn(|d| dim_hash(&b, d));
        assert_eq!(dim_hashes(&b, &whole_hashes()), each);
    }

    #[test]
    fn boxes_of_one_label_that_agree_off_one_dimension_wait_as_one() {
        let mut q = Queue::new();
        q.push(waiting(port_box(0, 9, 1), 0, &[3, 7]), &mut 0, union);
        q.push(waiting(port_box(20, 29, 1), 0, &[2, 7, 9]), &mut 0, union);
        // The same ports from another source: joins the first two, on the source.
        q.push(
            waiting(
                port_box(0, 9, 2).with(Dim::Dport, ValueSet::from_intervals([(0, 9), (20, 29)])),
                0,
                &[5],
            ),
            &mut 0,
            union,
        );
        assert_eq!(q.len(), 1);
        let w = q.pop().unwrap();
        assert_eq!(w.b.get(Dim::Dport).intervals(), [(0, 9), (20, 29)]);
        assert_eq!(w.b.get(Dim::Src4).intervals(), [(1, 2)]);
        assert_eq!(w.ahead.iter(|_| true).collect::<Vec<_>>(), [2, 3, 5, 7, 9]);
        assert!(q.pop().is_none());
    }

    #[test]
    fn other_labels_and_boxes_differing_twice_stay_apart_and_leave_by_first_step() {
        let mut q = Queue::new();
        q.push(waiting(port_box(0, 9, 1), 0, &[8]), &mut 0, union);
        q.push(waiting(port_box(20, 29, 1), 1, &[4]), &mut 0, union);
        q.push(waiting(port_box(40, 49, 2), 0, &[6]), &mut 0, union);
        assert_eq!(q.len(), 3);
        let order: Vec<u32> = std::iter::from_fn(|| q.pop())
            .map(|w| w.ahead.first())
            .collect();
        assert_eq!(order, [4, 6, 8]);
    }
}
