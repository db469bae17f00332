//! The hulls of the walk's steps stored by dimension ([`Hulls`]), for the test the walk
//! makes most often ([`Filter`]): whether a step may decide a box, that is, it belongs
//! to a side the box is undecided at and its hull meets the box's bounds on the
//! dimensions asked.
//!
//! The walk runs this test along long ascending runs of step numbers, most of which
//! fail it, so each column is a flat array indexed by step number: a run is a forward
//! scan of a few arrays, not a pointer chase per step. Beside the columns, each block
//! of [`BLOCK`] consecutive steps has a summary (the sides of any of its steps, and per
//! dimension the lowest and highest value of any of their hulls), so that a run can
//! pass over a block none of whose steps can meet the box ([`Filter::skip_to`]).
//!
//! Invariant: [`Filter::step`] answers what testing the step's own hull would (a
//! dimension a step's hull leaves whole is not in its `dims` and always meets), and
//! [`Filter::skip_to`] passes over only steps that [`Filter::step`] refuses: a block's
//! summary holds every hull of the block.

use std::cell::{Cell, OnceCell};

use super::index::{self, BoundsIndex};
use crate::space::{Dim, NDIMS};

/// A box's lowest and highest value on each dimension.
pub(super) type Bounds = [(u128, u128); NDIMS];

/// The side bits of a step or of a box's undecided sides.
pub(super) const OLD: u8 = 1;
pub(super) const NEW: u8 = 2;

/// Steps per block of [`Hulls`]' summaries.
const BLOCK: u32 = 64;

/// The steps' sides and hulls, column by column, with the blocks' summaries.
pub(super) struct Hulls {
    /// The sides each step belongs to ([`OLD`], [`NEW`] bits).
    sides: Vec<u8>,
    /// The dimensions each step's hull constrains, as bits.
    dims: Vec<u32>,
    /// Per dimension, each step's lowest and highest value there (the whole domain
    /// where its hull does not constrain it); empty for a dimension no step constrains.
    lo: Vec<Vec<u128>>,
    hi: Vec<Vec<u128>>,
    /// The dimensions that have columns, as bits.
    columns: u32,
    /// Per block of [`BLOCK`] steps, the sides of any of them.
    block_sides: Vec<u8>,
    /// Per dimension with a column, per block, the lowest `lo` and the highest `hi`.
    block_lo: Vec<Vec<u128>>,
    block_hi: Vec<Vec<u128>>,
    /// The tests made so far by every filter ([`Filter::step`], [`Filter::skip_to`]):
    /// the walk's work that no region operation counts.
    tests: Cell<u64>,
    /// The steps by their hulls' bounds, made when first asked ([`Hulls::meeting`]).
    index: OnceCell<BoundsIndex>,
}

/// The test of which steps may decide one box ([`Hulls::filter`]).
pub(super) struct Filter<'h> {
    hulls: &'h Hulls,
    undecided: u8,
    unchecked: u32,
    bounds: Bounds,
    /// One more than the last block whose summary met the box (0: none yet): its
    /// steps are tested one by one, without testing the block again.
    met_block: Cell<u32>,
}

impl Hulls {
    /// The columns of steps given as (sides, hull: (dimension, lowest, highest) for
    /// each dimension it constrains).
    pub(super) fn new<'h>(
        steps: impl ExactSizeIterator<Item = (u8, &'h [(usize, u128, u128)])>,
    ) -> Hulls {
        let n = steps.len();
        let mut hulls = Hulls {
            sides: Vec::with_capacity(n),
            dims: Vec::with_capacity(n),
            lo: vec![Vec::new(); NDIMS],
            hi: vec![Vec::new(); NDIMS],
            columns: 0,
            block_sides: Vec::new(),
            block_lo: vec![Vec::new(); NDIMS],
            block_hi: vec![Vec::new(); NDIMS],
            tests: Cell::new(0),
            index: OnceCell::new(),
        };
        for (s, (sides, hull)) in steps.enumerate() {
            hulls.sides.push(sides);
            hulls.dims.push(hull.iter().fold(0, |m, h| m | 1 << h.0));
            for &(d, lo, hi) in hull {
                if hulls.lo[d].is_empty() {
                    hulls.lo[d] = vec![0; n];
                    hulls.hi[d] = vec![u128::MAX; n];
                    hulls.columns |= 1 << d;
                }
                (hulls.lo[d][s], hulls.hi[d][s]) = (lo, hi);
            }
        }
        hulls.summarize();
        hulls
    }

    /// The blocks' summaries, from the columns.
    fn summarize(&mut self) {
        let block = BLOCK as usize;
        let sides = self.sides.chunks(block);
        self.block_sides = sides.map(|c| c.iter().fold(0, |m, s| m | s)).collect();
        for d in (0..NDIMS).filter(|d| self.columns & (1 << d) != 0) {
            let lo = self.lo[d].chunks(block);
            self.block_lo[d] = lo.map(|c| c.iter().copied().min().unwrap_or(0)).collect();
            let hi = self.hi[d].chunks(block);
            self.block_hi[d] = hi.map(|c| c.iter().copied().max().unwrap_or(0)).collect();
        }
    }

    /// The tests every filter of these hulls has made so far.
    pub(super) fn tests(&self) -> u64 {
        self.tests.get()
    }

    /// The steps whose hulls meet `key` on the indexed dimensions, ascending (`None`
    /// when finding them reads more than `max` steps); what it reads counts as tests.
    pub(super) fn meeting(&self, key: &index::Key, max: usize) -> Option<Vec<u32>> {
        let index = self.index.get_or_init(|| {
            let mut index = BoundsIndex::default();
            for s in 0..self.sides.len() {
                index.add(index::INDEXED.map(|d| {
                    let d = d.index();
                    match self.dims[s] & (1 << d) {
                        0 => (0, Dim::ALL[d].max_value()),
                        _ => (self.lo[d][s], self.hi[d][s]),
                    }
                }));
            }
            index
        });
        let mut work = 0;
        let found = index.meeting(key, max, &mut work);
        self.tests.set(self.tests.get() + work);
        found
    }

    /// The test for a box undecided at the sides of `undecided` (bits) whose bounds
    /// are `bounds` on the dimensions of `unchecked` (bits; read only there).
    pub(super) fn filter(&self, undecided: u8, unchecked: u32, bounds: Bounds) -> Filter<'_> {
        Filter {
            hulls: self,
            undecided,
            unchecked,
            bounds,
            met_block: Cell::new(0),
        }
    }
}

impl Filter<'_> {
    /// Whether step `s` belongs to an undecided side of the box and its hull meets the
    /// box's bounds on every unchecked dimension.
    pub(super) fn step(&self, s: u32) -> bool {
        let (h, s) = (self.hulls, s as usize);
        h.tests.set(h.tests.get() + 1);
        h.sides[s] & self.undecided != 0
            && meets(h.dims[s] & self.unchecked, &self.bounds, |d| {
                (h.lo[d][s], h.hi[d][s])
            })
    }

    /// `s`, or the first step of the next block when no step of `s`'s block passes
    /// [`Filter::step`] (as the block's summary shows).
    pub(super) fn skip_to(&self, s: u32) -> u32 {
        let (h, b) = (self.hulls, s / BLOCK);
        h.tests.set(h.tests.get() + 1);
        if self.met_block.get() == b + 1 {
            return s;
        }
        let i = b as usize;
        let met = h.block_sides[i] & self.undecided != 0
            && meets(h.columns & self.unchecked, &self.bounds, |d| {
                (h.block_lo[d][i], h.block_hi[d][i])
            });
        if met {
            self.met_block.set(b + 1);
            s
        } else {
            (b + 1) * BLOCK
        }
    }
}

/// The dimensions by which steps mostly miss a box (addresses, ports): tested first,
/// so that a step that misses is mostly refused at its first test, not after the
/// frame, protocol and transport header that most steps share.
const SELECTIVE: u32 = 1 << Dim::Src4 as u32
    | 1 << Dim::Dst4 as u32
    | 1 << Dim::Src6 as u32
    | 1 << Dim::Dst6 as u32
    | 1 << Dim::Sport as u32
    | 1 << Dim::Dport as u32;

/// Whether the ranges `range(d)` meet `bounds` on every dimension of `ask` (bits).
fn meets(ask: u32, bounds: &Bounds, range: impl Fn(usize) -> (u128, u128)) -> bool {
    meets_each(ask & SELECTIVE, bounds, &range) && meets_each(ask & !SELECTIVE, bounds, &range)
}

/// [`meets`] on the dimensions of `ask`, in ascending order.
fn meets_each(mut ask: u32, bounds: &Bounds, range: impl Fn(usize) -> (u128, u128)) -> bool {
    while ask != 0 {
        let d = ask.trailing_zeros() as usize;
        let ((lo, hi), (min, max)) = (bounds[d], range(d));
        if min > hi || lo > max {
            return false;
        }
        ask &= ask - 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: usize = 5;

    #[test]
    fn a_step_may_decide_a_box_of_its_side_whose_bounds_its_hull_meets() {
        let hulls = Hulls::new(
            [
                (OLD, &[(PORT, 10, 20)][..]),
                (NEW | OLD, &[(PORT, 30, 40), (1, 6, 6)][..]),
                (NEW, &[][..]),
            ]
            .into_iter(),
        );
        let mut bounds: Bounds = [(0, u128::MAX); NDIMS];
        bounds[PORT] = (15, 35);
        bounds[1] = (0, 5);
        let every = u32::MAX;
        assert!(hulls.filter(OLD, every, bounds).step(0));
        assert!(!hulls.filter(NEW, every, bounds).step(0), "OLD's step");
        // Step 1 meets the ports but not dimension 1, unless that is not asked.
        assert!(!hulls.filter(NEW, every, bounds).step(1));
        assert!(hulls.filter(NEW, 1 << PORT, bounds).step(1));
        bounds[PORT] = (21, 29);
        assert!(!hulls.filter(OLD, 1 << PORT, bounds).step(0));
        assert!(hulls.filter(OLD, 1 << 1, bounds).step(0), "ports not asked");
        assert!(
            hulls.filter(NEW | OLD, every, bounds).step(2),
            "constrains nothing"
        );
    }

    /// Step `s` holds port `s`: a box of ports 150-160 skips the first two blocks.
    #[test]
    fn skip_to_passes_over_blocks_no_step_of_which_meets_the_box() {
        let hull: Vec<[(usize, u128, u128); 1]> =
            (0..4 * u128::from(BLOCK)).map(|s| [(PORT, s, s)]).collect();
        let hulls = Hulls::new(hull.iter().map(|h| (OLD, &h[..])));
        let mut bounds: Bounds = [(0, u128::MAX); NDIMS];
        bounds[PORT] = (150, 160);
        let f = hulls.filter(OLD, 1 << PORT, bounds);
        assert_eq!(f.skip_to(3), BLOCK);
        assert_eq!(f.skip_to(BLOCK), 2 * BLOCK);
        assert_eq!(f.skip_to(2 * BLOCK), 2 * BLOCK);
        assert_eq!(f.skip_to(2 * BLOCK + 5), 2 * BLOCK + 5);
        assert!(f.step(150) && !f.step(149));
        // Not asked about ports: nothing to go on; for NEW: nothing at all.
        assert_eq!(hulls.filter(OLD, 0, bounds).skip_to(3), 3);
        assert_eq!(hulls.filter(NEW, 1 << PORT, bounds).skip_to(3), BLOCK);
        // Every step passed over is one `step` refuses.
        let f = hulls.filter(OLD, 1 << PORT, bounds);
        let mut s = 0;
        while s < 4 * BLOCK {
            let to = f.skip_to(s);
            assert!((s..to).all(|t| !f.step(t)));
            s = to.max(s + 1);
        }
    }
}
