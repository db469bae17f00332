//! The partition of the candidate region by both files' deciding rules at once
//! ([`decide`]), so that every piece ends with one decider per side; and the pieces
//! grouped into the reported regions ([`group`]).
//!
//! The two sides' rules are walked in one merged order ([`merged`]) that keeps each
//! side's order, a pair of equal rules (the alignment's common subsequence) being one
//! step. A step decides, in the boxes it meets, the sides it belongs to that have not
//! decided them yet; a part decided at both sides leaves the walk. A part a pair takes
//! while neither side has decided it is decided by that same rule before and after,
//! so it is dropped on the spot: the pieces decided the same way by a rule common to
//! both files, ahead of every edit that touches them, are never split by the rules
//! after them nor kept (they were most of the partition: a broad edited rule behind
//! many common ones).
//!
//! The undecided boxes carry their bounds per dimension in columns ([`Live`]): for
//! each step, a scan of those columns over the dimensions the step's region
//! constrains (the narrowest first) leaves the few boxes whose bounds meet the
//! region's hull, and only they are tested exactly and split. A split box's first
//! remnant takes its slot and the others are appended, so a step costs the boxes it
//! meets. The order of the pieces therefore depends on the walk; [`group`] sorts
//! each region's boxes, so the output does not.
//!
//! Invariant: the pieces are pairwise disjoint; with the dropped parts, their union is
//! the region walked; every point of a piece is decided, at each side, by the piece's
//! decider for that side (the first deciding rule whose region holds it, or the
//! default); every dropped point is decided by one pair of equal rules at both sides.

use std::collections::{BTreeMap, HashSet};

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

/// Who has decided a live box so far, per side (`None`: no rule of that side has
/// taken it yet).
#[derive(Clone, Copy)]
struct Sides {
    old: Option<Decider>,
    new: Option<Decider>,
}

/// One rule of the merged order: an OLD rule, a NEW rule, or a pair of equal rules
/// (one on each side), with the hull [`Live::meeting`] scans for.
struct Step<'t> {
    region: &'t Region,
    /// The decider this step is at each side it belongs to.
    takes: Sides,
    hull: Vec<(usize, u128, u128)>,
}

impl Step<'_> {
    /// Whether the step can decide a box labelled `l`: it belongs to a side that has
    /// not decided the box yet.
    fn applies(&self, l: Sides) -> bool {
        (self.takes.old.is_some() && l.old.is_none())
            || (self.takes.new.is_some() && l.new.is_none())
    }
}

/// Both sides' deciding rules in one order that keeps each side's order, paired rules
/// as one step: between two pairs, OLD's unpaired rules, then NEW's. A paired rule
/// whose partner is not where the order expects it (the pairs cross, which the
/// alignment does not make) is taken as two one-sided steps: still exact, only slower.
fn merged<'t>(old: &'t [Term], new: &'t [Term], pairs: &Pairs) -> Vec<Step<'t>> {
    let paired_new: HashSet<usize> = pairs.deciding.values().copied().collect();
    let step = |t: &'t Term, old: Option<&Term>, new: Option<&Term>| {
        let hull = constrained_hull(&t.region)?;
        let takes = Sides {
            old: old.map(|t| Decider::Rule(t.index)),
            new: new.map(|t| Decider::Rule(t.index)),
        };
        Some(Step {
            region: &t.region,
            takes,
            hull,
        })
    };
    let (mut i, mut j) = (0, 0);
    let mut steps = Vec::with_capacity(old.len().max(new.len()));
    while i < old.len() || j < new.len() {
        let (o, n) = (old.get(i), new.get(j));
        let made = match (o, n) {
            (Some(a), _) if !pairs.deciding.contains_key(&a.index) => {
                i += 1;
                step(a, Some(a), None)
            }
            (_, Some(b)) if !paired_new.contains(&b.index) => {
                j += 1;
                step(b, None, Some(b))
            }
            (Some(a), Some(b)) if pairs.deciding[&a.index] == b.index => {
                (i, j) = (i + 1, j + 1);
                step(a, Some(a), Some(b))
            }
            (Some(a), _) => {
                i += 1;
                step(a, Some(a), None)
            }
            (None, Some(b)) => {
                j += 1;
                step(b, None, Some(b))
            }
            (None, None) => unreachable!("the loop stops when both sides are walked"),
        };
        steps.extend(made);
    }
    steps
}

/// The state of the merged walk: the boxes some side has not decided yet, and the
/// pieces both sides have decided.
struct Walk {
    live: Live<Sides>,
    out: Vec<Piece>,
    max_boxes: usize,
    work: u32,
}

impl Walk {
    /// Where a part of a box that `step` took goes: decided at both sides, it is a
    /// piece, unless one pair of equal rules decided both sides at once (the same rule
    /// decides it before and after: nothing to report, dropped); else it stays live.
    fn taken(&mut self, part: HeaderBox, before: Sides, step: &Step) {
        let after = Sides {
            old: before.old.or(step.takes.old),
            new: before.new.or(step.takes.new),
        };
        match (after.old, after.new) {
            (Some(_), Some(_)) if before.old.is_none() && before.new.is_none() => {}
            (Some(od), Some(nd)) => self.out.push((part, od, nd)),
            _ => self.live.push(part, after),
        }
    }

    /// Splits the live boxes `step` applies to by its region.
    fn apply(&mut self, step: &Step) -> Result<(), TooFragmented> {
        let mut touched = self.live.meeting(&step.hull);
        touched.retain(|&i| {
            let (b, l) = &self.live.boxes[i];
            step.applies(*l)
                && step
                    .region
                    .boxes()
                    .iter()
                    .any(|rb| b.overlaps(rb, &mut self.work))
        });
        // Each met box is replaced in its slot by the first part the step leaves of it
        // (the others are appended); a box the step takes whole is removed afterwards,
        // highest slot first, so the slots still to remove do not move. Nothing is
        // shifted: the cost is the boxes the step meets, not the boxes after them.
        let mut emptied = Vec::new();
        for &i in &touched {
            let label = self.live.boxes[i].1;
            let mut rest = vec![self.live.boxes[i].0.clone()];
            for rb in step.region.boxes() {
                let mut left = Vec::with_capacity(rest.len());
                for x in rest {
                    match x.intersect(rb, &mut self.work) {
                        Some(inside) => {
                            self.taken(inside, label, step);
                            left.extend(x.subtract(rb, &mut self.work));
                        }
                        None => left.push(x),
                    }
                }
                rest = left;
            }
            let mut rest = rest.into_iter();
            match rest.next() {
                Some(first) => self.live.replace(i, first),
                None => emptied.push(i),
            }
            for x in rest {
                self.live.push(x, label);
            }
            let boxes = self.live.boxes.len() + self.out.len();
            if boxes > self.max_boxes {
                return Err(TooFragmented { boxes });
            }
        }
        for &i in emptied.iter().rev() {
            self.live.swap_remove(i);
        }
        Ok(())
    }
}

/// The candidate region cut into pieces with one decider per side, leaving out the
/// pieces that one pair of equal rules decides at both sides.
///
/// The walk goes through both sides' rules at once, in the [`merged`] order; each
/// step decides, in the boxes it meets, the sides it belongs to that are still
/// undecided there. A side's rules come in that side's order, so each side's decider
/// of a point is its first rule holding the point: the walk is both first-match
/// partitions at once. A part that a pair `(o, n)` takes while neither side has
/// decided it is decided by `o` before and `n` after: no rule before `o` in OLD holds
/// it (OLD's earlier rules, paired or not, are earlier steps), nor any before `n` in
/// NEW, and `o`, `n` are the same rule with the same outcome. Nothing changes there,
/// so it is dropped at once instead of being split further by the rules after: that
/// is what keeps the partition small where the edited rules are shadowed by, or
/// overlap, many common ones.
pub(super) fn decide(
    candidates: &Region,
    o: &Rules,
    n: &Rules,
    pairs: &Pairs,
    max_boxes: usize,
) -> Result<Vec<Piece>, TooFragmented> {
    let undecided = Sides {
        old: None,
        new: None,
    };
    let mut walk = Walk {
        live: Live::with_capacity(candidates.boxes().len()),
        out: Vec::new(),
        max_boxes,
        work: 0,
    };
    for b in candidates.boxes() {
        walk.live.push(b.clone(), undecided);
    }
    for step in merged(&o.deciding, &n.deciding, pairs) {
        if walk.live.boxes.is_empty() {
            break;
        }
        walk.apply(&step)?;
    }
    let Walk { live, mut out, .. } = walk;
    out.extend(live.boxes.into_iter().map(|(b, l)| {
        let or_default = |d: Option<Decider>| d.unwrap_or(Decider::Default);
        (b, or_default(l.old), or_default(l.new))
    }));
    Ok(out)
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

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
