//! First-match partitions of a region ([`decide`]): the candidate boxes split by
//! OLD's deciding rules in order, then each piece by NEW's, so that every box ends
//! with one decider per side; and the pieces grouped into the reported regions
//! ([`group`]).
//!
//! The undecided boxes carry their bounds per dimension in columns ([`Live`]): for
//! each rule, a scan of those columns over the dimensions the rule constrains (the
//! narrowest first) leaves the few boxes whose bounds meet the rule's hull, and only
//! they are tested exactly and split. A split box's first remnant takes its slot and
//! the others are appended, so a rule costs the boxes it meets (shifting the boxes
//! after each split, as the walk once did, made it quadratic in the boxes). The
//! order of the pieces therefore depends on the walk; [`group`] sorts each region's
//! boxes, so the output does not.
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

    /// Puts `b` in slot `i` in place of the box there, with its bounds.
    fn replace(&mut self, i: usize, b: HeaderBox) {
        for d in Dim::ALL {
            let (lo, hi) = bounds(b.get(d));
            self.lo[d.index()][i] = lo;
            self.hi[d.index()][i] = hi;
        }
        self.boxes[i].0 = b;
    }

    /// Removes slot `i`, moving the last box into it (constant time; the order of the
    /// undecided boxes is not kept).
    fn swap_remove(&mut self, i: usize) {
        for d in 0..NDIMS {
            self.lo[d].swap_remove(i);
            self.hi[d].swap_remove(i);
        }
        self.boxes.swap_remove(i);
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
/// a rule's region holds is decided by that rule, the rest goes on; what no rule
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
        // Each met box is replaced in its slot by the first part the rule leaves of it
        // (the others are appended); a box the rule takes whole is removed afterwards,
        // highest slot first, so the slots still to remove do not move. Nothing is
        // shifted: the cost is the boxes the rule meets, not the boxes after them.
        let mut emptied = Vec::new();
        for &i in &touched {
            let label = live.boxes[i].1;
            let mut rest = vec![live.boxes[i].0.clone()];
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
            let mut rest = rest.into_iter();
            match rest.next() {
                Some(first) => live.replace(i, first),
                None => emptied.push(i),
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
        for &i in emptied.iter().rev() {
            live.swap_remove(i);
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
            .filter_map(|((od, nd), mut boxes)| {
                // The walk's order is an accident of its index; the lowest box first
                // gives the same regions and example whatever the index does.
                boxes.sort_unstable();
                change(boxes, o.side(od), n.side(nd))
            })
            .collect()
    };
    (changes(verdicts), changes(moved))
}
