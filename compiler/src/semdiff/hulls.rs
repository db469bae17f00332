//! The hulls of the walk's steps stored by dimension ([`Hulls`]), for the test the walk
//! makes most often: whether a step may decide a box, that is, it belongs to a side the
//! box is undecided at and its hull meets the box's bounds on the dimensions asked.
//!
//! The walk runs this test along long ascending runs of step numbers, most of which
//! fail it, so each column is a flat array indexed by step number: a run is a forward
//! scan of a few arrays, not a pointer chase per step.
//!
//! Invariant: [`Hulls::may_decide`] answers what testing the step's own hull would: a
//! dimension a step's hull leaves whole is not in its `dims` and always meets.

use crate::space::NDIMS;

/// A box's lowest and highest value on each dimension.
pub(super) type Bounds = [(u128, u128); NDIMS];

/// The side bits of a step or of a box's undecided sides.
pub(super) const OLD: u8 = 1;
pub(super) const NEW: u8 = 2;

/// The steps' sides and hulls, column by column.
pub(super) struct Hulls {
    /// The sides each step belongs to ([`OLD`], [`NEW`] bits).
    sides: Vec<u8>,
    /// The dimensions each step's hull constrains, as bits.
    dims: Vec<u32>,
    /// Per dimension, each step's lowest and highest value there (the whole domain
    /// where its hull does not constrain it); empty for a dimension no step constrains.
    lo: Vec<Vec<u128>>,
    hi: Vec<Vec<u128>>,
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
        };
        for (s, (sides, hull)) in steps.enumerate() {
            hulls.sides.push(sides);
            hulls.dims.push(hull.iter().fold(0, |m, h| m | 1 << h.0));
            for &(d, lo, hi) in hull {
                if hulls.lo[d].is_empty() {
                    hulls.lo[d] = vec![0; n];
                    hulls.hi[d] = vec![u128::MAX; n];
                }
                (hulls.lo[d][s], hulls.hi[d][s]) = (lo, hi);
            }
        }
        hulls
    }

    /// Whether step `s` belongs to a side of `undecided` (bits) and its hull meets
    /// `bounds` on every dimension of `unchecked` (bits; `bounds` is read only there).
    pub(super) fn may_decide(
        &self,
        s: u32,
        undecided: u8,
        unchecked: u32,
        bounds: &Bounds,
    ) -> bool {
        let s = s as usize;
        if self.sides[s] & undecided == 0 {
            return false;
        }
        let mut ask = self.dims[s] & unchecked;
        while ask != 0 {
            let d = ask.trailing_zeros() as usize;
            let (lo, hi) = bounds[d];
            if self.lo[d][s] > hi || lo > self.hi[d][s] {
                return false;
            }
            ask &= ask - 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_may_decide_a_box_of_its_side_whose_bounds_its_hull_meets() {
        let port = 5;
        let hulls = Hulls::new(
            [
                (OLD, &[(port, 10, 20)][..]),
                (NEW | OLD, &[(port, 30, 40), (1, 6, 6)][..]),
                (NEW, &[][..]),
            ]
            .into_iter(),
        );
        let mut bounds: Bounds = [(0, u128::MAX); NDIMS];
        bounds[port] = (15, 35);
        bounds[1] = (0, 5);
        let every = u32::MAX;
        assert!(hulls.may_decide(0, OLD, every, &bounds));
        assert!(!hulls.may_decide(0, NEW, every, &bounds), "OLD's step");
        // Step 1 meets the ports but not dimension 1, unless that is not asked.
        assert!(!hulls.may_decide(1, NEW, every, &bounds));
        assert!(hulls.may_decide(1, NEW, 1 << port, &bounds));
        bounds[port] = (21, 29);
        assert!(!hulls.may_decide(0, OLD, 1 << port, &bounds));
        assert!(hulls.may_decide(0, OLD, 1 << 1, &bounds), "ports not asked");
        assert!(
            hulls.may_decide(2, NEW | OLD, every, &bounds),
            "constrains nothing"
        );
    }
}
