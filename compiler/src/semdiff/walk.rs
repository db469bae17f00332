//! First-match partitions of a region ([`decide`]): the candidate boxes split by
//! OLD's deciding rules in order, then each piece by NEW's, so that every box ends
//! with one decider per side; and the pieces grouped into the reported regions
//! ([`group`]).
//!
//! The undecided boxes carry their bounds per dimension in columns ([`Live`]): for
//! each rule, a scan of those columns over the dimensions the rule constrains (the
//! narrowest first) leaves the few boxes whose bounds meet the rule's hull, and only
//! they are tested exactly and split. A split box's remnants take its place, so the
//! pieces come out in the order the plain rule-by-box walk gives.
//!
//! Invariant: the pieces are pairwise disjoint, their union is the region walked,
//! and every point of a piece is decided, at each side, by the piece's decider for
//! that side (the first deciding rule whose region holds it, or the default).

use std::collections::BTreeMap;

use super::{
    align::{Pairs, Rules, Term},
    change, Change, Decider,
};
use crate::space::{Dim, HeaderBox, Region, TooFragmented, ValueSet, NDIMS};

/// A box and who decides it at OLD and at NEW.
pub(super) type Piece = (HeaderBox, Decider, Decider);

fn bounds(s: &ValueSet) -> (u128, u128) {
    let iv = s.intervals();
    (iv[0].0, iv[iv.len() - 1].1)
}

/// A box's lowest and highest value on each dimension.
type Bounds = [(u128, u128); NDIMS];

/// The boxes not decided yet, in order, each with its bounds per dimension kept
/// column by column (`lo[d][i]`, `hi[d][i]`): the index [`Live::meeting`] scans to
/// find, for one rule, the few boxes whose bounds meet the rule's before any exact
/// test.
struct Live<L> {
    boxes: Vec<(HeaderBox, L)>,
    lo: [Vec<u128>; NDIMS],
    hi: [Vec<u128>; NDIMS],
}

impl<L: Copy> Live<L> {
    fn with_capacity(n: usize) -> Live<L> {
        Live {
            boxes: Vec::with_capacity(n),
            lo: std::array::from_fn(|_| Vec::with_capacity(n)),
            hi: std::array::from_fn(|_| Vec::with_capacity(n)),
        }
    }

    /// Takes the boxes from index `at` on out, in order, with their bounds.
    fn split_off(&mut self, at: usize) -> Vec<(HeaderBox, L, Bounds)> {
        let mut lo: [std::vec::IntoIter<u128>; NDIMS] =
            std::array::from_fn(|d| self.lo[d].split_off(at).into_iter());
        let mut hi: [std::vec::IntoIter<u128>; NDIMS] =
            std::array::from_fn(|d| self.hi[d].split_off(at).into_iter());
        self.boxes
            .split_off(at)
            .into_iter()
            .map(|(b, l)| {
                let bounds = std::array::from_fn(|d| {
                    (
                        lo[d].next().expect("one bound per box"),
                        hi[d].next().expect("one bound per box"),
                    )
                });
                (b, l, bounds)
            })
            .collect()
    }

    /// Puts back a box [`Live::split_off`] took, with its bounds.
    fn push_with(&mut self, b: HeaderBox, label: L, bounds: &Bounds) {
        for (d, &(lo, hi)) in bounds.iter().enumerate() {
            self.lo[d].push(lo);
            self.hi[d].push(hi);
        }
        self.boxes.push((b, label));
    }

    fn push(&mut self, b: HeaderBox, label: L) {
        for d in Dim::ALL {
            let (lo, hi) = bounds(b.get(d));
            self.lo[d.index()].push(lo);
            self.hi[d.index()].push(hi);
        }
        self.boxes.push((b, label));
    }

    /// Indices, in order, of the boxes whose bounds meet `hull` on every dimension it
    /// constrains (a superset of the boxes the rule's region overlaps), narrowed one
    /// dimension at a time, the first over every box.
    fn meeting(&self, hull: &[(usize, u128, u128)]) -> Vec<usize> {
        let mut dims = hull.iter();
        let Some(&(d, lo, hi)) = dims.next() else {
            return (0..self.boxes.len()).collect();
        };
        let (los, his) = (&self.lo[d], &self.hi[d]);
        let mut hits: Vec<usize> = (0..los.len())
            .filter(|&i| los[i] <= hi && lo <= his[i])
            .collect();
        for &(d, lo, hi) in dims {
            if hits.is_empty() {
                break;
            }
            let (los, his) = (&self.lo[d], &self.hi[d]);
            hits.retain(|&i| los[i] <= hi && lo <= his[i]);
        }
        hits
    }
}

/// The bounds of `region`'s hull on the dimensions where it is not the whole domain,
/// the narrowest first (they rule out the most boxes); `None` for an empty region.
fn constrained_hull(region: &Region) -> Option<Vec<(usize, u128, u128)>> {
    let (first, rest) = region.boxes().split_first()?;
    let mut lo_hi: Bounds = Dim::ALL.map(|d| bounds(first.get(d)));
    for b in rest {
        for (d, lh) in Dim::ALL.iter().zip(&mut lo_hi) {
            let (lo, hi) = bounds(b.get(*d));
            *lh = (lh.0.min(lo), lh.1.max(hi));
        }
    }
    let mut dims: Vec<(usize, u128, u128)> = lo_hi
        .iter()
        .enumerate()
        .filter(|&(d, &(lo, hi))| (lo, hi) != (0, Dim::ALL[d].max_value()))
        .map(|(d, &(lo, hi))| (d, lo, hi))
        .collect();
    let share =
        |&(d, lo, hi): &(usize, u128, u128)| (hi - lo) as f64 / Dim::ALL[d].max_value() as f64;
    dims.sort_by(|a, b| share(a).total_cmp(&share(b)));
    Some(dims)
}

/// Splits `live` (boxes with a label) by `rules` in first-match order: each box part
/// a rule's region holds is decided by that rule, the rest goes on (in the box's
/// place, so the order of the pieces does not depend on the index); what no rule
/// holds is decided by the default. For each rule only the boxes whose bounds meet
/// the rule's hull ([`Live::meeting`]) are tested exactly.
fn first_match<L: Copy>(
    start: Vec<(HeaderBox, L)>,
    rules: &[Term],
    max_boxes: usize,
) -> Result<Vec<(HeaderBox, L, Decider)>, TooFragmented> {
    let mut work = 0u32;
    let mut out = Vec::new();
    let mut live = Live::with_capacity(start.len());
    for (b, l) in start {
        live.push(b, l);
    }
    for t in rules {
        if live.boxes.is_empty() {
            break;
        }
        let Some(hull) = constrained_hull(&t.region) else {
            continue;
        };
        let mut touched = live.meeting(&hull);
        touched.retain(|&i| {
            let b = &live.boxes[i].0;
            t.region.boxes().iter().any(|rb| b.overlaps(rb, &mut work))
        });
        if touched.is_empty() {
            continue;
        }
        // The boxes before the first one the rule meets stay where they are; the rest
        // are put back in order, each met one replaced by what the rule leaves of it.
        let first = touched[0];
        let tail = live.split_off(first);
        let mut touched = touched.into_iter().peekable();
        for (i, (b, label, kept)) in (first..).zip(tail) {
            if touched.next_if_eq(&i).is_none() {
                live.push_with(b, label, &kept);
                continue;
            }
            let mut rest = vec![b];
            for rb in t.region.boxes() {
                let mut left = Vec::with_capacity(rest.len());
                for x in rest {
                    if !x.overlaps(rb, &mut work) {
                        left.push(x);
                        continue;
                    }
                    match x.intersect(rb, &mut work) {
                        Some(inside) => {
                            out.push((inside, label, Decider::Rule(t.index)));
                            left.extend(x.subtract(rb, &mut work));
                        }
                        None => left.push(x),
                    }
                }
                rest = left;
            }
            for x in rest {
                live.push(x, label);
            }
            if live.boxes.len() + out.len() > max_boxes {
                return Err(TooFragmented {
                    boxes: live.boxes.len() + out.len(),
                });
            }
        }
    }
    out.extend(
        live.boxes
            .into_iter()
            .map(|(b, l)| (b, l, Decider::Default)),
    );
    Ok(out)
}

/// The candidate region cut into pieces with one decider per side.
pub(super) fn decide(
    candidates: &Region,
    old: &[Term],
    new: &[Term],
    max_boxes: usize,
) -> Result<Vec<Piece>, TooFragmented> {
    let live = candidates.boxes().iter().map(|b| (b.clone(), ())).collect();
    let by_old = first_match(live, old, max_boxes)?;
    let live = by_old.into_iter().map(|(b, (), d)| (b, d)).collect();
    first_match(live, new, max_boxes)
}

/// The pieces as regions: those whose outcome differs, and those with the same
/// outcome but another deciding rule (counter moves), each grouped by (old decider,
/// new decider).
pub(super) fn group(
    pieces: Vec<Piece>,
    o: &Rules,
    n: &Rules,
    pairs: &Pairs,
) -> (Vec<Change>, Vec<Change>) {
    let mut verdicts: BTreeMap<(Decider, Decider), Vec<HeaderBox>> = BTreeMap::new();
    let mut moved: BTreeMap<(Decider, Decider), Vec<HeaderBox>> = BTreeMap::new();
    for (b, od, nd) in pieces {
        if o.side(od).outcome != n.side(nd).outcome {
            verdicts.entry((od, nd)).or_default().push(b);
        } else if !pairs.same(o, n, od, nd) {
            moved.entry((od, nd)).or_default().push(b);
        }
    }
    let changes = |m: BTreeMap<(Decider, Decider), Vec<HeaderBox>>| {
        m.into_iter()
            .filter_map(|((od, nd), boxes)| change(boxes, o.side(od), n.side(nd)))
            .collect()
    };
    (changes(verdicts), changes(moved))
}
