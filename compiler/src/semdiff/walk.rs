//! First-match partitions of a region ([`decide`]): the candidate boxes split by
//! OLD's deciding rules in order, then each piece by NEW's, so that every box ends
//! with one decider per side; and the pieces grouped into the reported regions
//! ([`group`]).
//!
//! Invariant: the pieces are pairwise disjoint, their union is the region walked,
//! and every point of a piece is decided, at each side, by the piece's decider for
//! that side (the first deciding rule whose region holds it, or the default).

use std::collections::BTreeMap;

use super::{
    align::{Pairs, Rules, Term},
    change, Change, Decider,
};
use crate::space::{Dim, HeaderBox, Region, TooFragmented, ValueSet};

/// A box and who decides it at OLD and at NEW.
pub(super) type Piece = (HeaderBox, Decider, Decider);

/// The smallest box holding every box of `boxes` (`None` for none).
fn hull<'a>(mut boxes: impl Iterator<Item = &'a HeaderBox>) -> Option<HeaderBox> {
    let first = boxes.next()?;
    let mut lo_hi: Vec<(u128, u128)> = Dim::ALL.iter().map(|&d| bounds(first.get(d))).collect();
    for b in boxes {
        for (d, lh) in Dim::ALL.iter().zip(&mut lo_hi) {
            let (lo, hi) = bounds(b.get(*d));
            *lh = (lh.0.min(lo), lh.1.max(hi));
        }
    }
    let mut out = HeaderBox::full();
    for (d, (lo, hi)) in Dim::ALL.iter().zip(lo_hi) {
        out = out.with(*d, ValueSet::from_intervals([(lo, hi)]));
    }
    Some(out)
}

fn bounds(s: &ValueSet) -> (u128, u128) {
    let iv = s.intervals();
    (iv[0].0, iv[iv.len() - 1].1)
}

/// Splits `live` (boxes with a label) by `rules` in first-match order: each box part
/// a rule's region holds is decided by that rule, the rest goes on; what no rule
/// holds is decided by the default.
fn first_match<L: Copy>(
    mut live: Vec<(HeaderBox, L)>,
    rules: &[Term],
    max_boxes: usize,
) -> Result<Vec<(HeaderBox, L, Decider)>, TooFragmented> {
    let mut work = 0u32;
    let mut out = Vec::new();
    let Some(all) = hull(live.iter().map(|l| &l.0)) else {
        return Ok(out);
    };
    for t in rules {
        if live.is_empty() {
            break;
        }
        let near = |rb: &HeaderBox| all.overlaps(rb, &mut 0);
        if !t.region.boxes().iter().any(near) {
            continue;
        }
        let mut next = Vec::with_capacity(live.len());
        for (b, label) in live {
            if !t.region.boxes().iter().any(|rb| b.overlaps(rb, &mut work)) {
                next.push((b, label));
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
            next.extend(rest.into_iter().map(|x| (x, label)));
            if next.len() + out.len() > max_boxes {
                return Err(TooFragmented {
                    boxes: next.len() + out.len(),
                });
            }
        }
        live = next;
    }
    out.extend(live.into_iter().map(|(b, l)| (b, l, Decider::Default)));
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
