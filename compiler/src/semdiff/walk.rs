//! The partition of the candidate region by both files' deciding rules at once
//! ([`decide`]), so that every piece ends with one decider per side; and the pieces
//! grouped, as they are made, into the reported regions ([`Groups`]).
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
//! The candidate boxes are disjoint, so each goes through the steps on its own
//! ([`decide`]), with the list of steps still ahead that may decide it: those whose
//! hull meets the box's bounds and that belong to a side the box is undecided at.
//! The first step of the list whose region meets the box exactly splits it; each part
//! keeps the rest of the list, filtered by its own (narrower) bounds and label: the
//! parts share it, and each reads it through that filter only as far as it goes
//! ([`Ahead`]); a part whose first entries there hold none of its steps finds them in
//! the steps' index by bounds instead ([`steps_meeting`]), since a narrow part of a
//! box that thousands of steps met would read them all. A step
//! therefore costs the boxes it may meet, and a box the steps it may meet, not every
//! step times every box; the exact tests and splits look only at the dimensions a
//! rule's box constrains ([`HeaderBox::split_on`]). The boxes waiting to be split
//! ([`Queue`]) are taken by their first step ahead, so they go through the steps
//! together, and two with the same label that agree off one dimension wait as one
//! (their union): the slabs that many narrow rules leave of a box, cut alike by the
//! broad rules after them, are then split once, not once each. A box with more than
//! [`MAX_INTERVALS`] intervals on a dimension and more steps than that ahead waits as
//! two halves ([`halves`]): a split copies a box, and what the steps leave of one
//! gains an interval at each. The order of the
//! pieces depends on the walk; [`Groups`] sorts each region's boxes, so the output
//! does not.
//!
//! Invariant: the pieces are pairwise disjoint; with the dropped parts, their union is
//! the region walked; every point of a piece is decided, at each side, by the piece's
//! decider for that side (the first deciding rule whose region holds it, or the
//! default); every dropped point is decided by one pair of equal rules at both sides.

use std::collections::{BTreeMap, HashSet};

use super::{
    ahead::{Ahead, Rest},
    align::{reach_test, Pairs, Rules, Term},
    change,
    hulls::{Bounds, Filter, Hulls, NEW, OLD},
    index,
    queue::{Queue, Waiting, MAX_INTERVALS},
    Budget, Change, Decider, NotCompared, OutOfWork,
};
use crate::space::{dims_of, Dim, HeaderBox, Region, TooFragmented, ValueSet, NDIMS};

/// A box and who decides it at OLD and at NEW.
pub(super) type Piece = (HeaderBox, Decider, Decider);

fn bounds(s: &ValueSet) -> (u128, u128) {
    let iv = s.intervals();
    (iv[0].0, iv[iv.len() - 1].1)
}

/// The bounds of `region`'s hull on the dimensions where it is not the whole domain;
/// `None` for an empty region.
fn constrained_hull(region: &Region) -> Option<Vec<(usize, u128, u128)>> {
    let (first, rest) = region.boxes().split_first()?;
    let mut lo_hi: Bounds = Dim::ALL.map(|d| bounds(first.get(d)));
    for b in rest {
        for (d, lh) in Dim::ALL.iter().zip(&mut lo_hi) {
            let (lo, hi) = bounds(b.get(*d));
            *lh = (lh.0.min(lo), lh.1.max(hi));
        }
    }
    let dims = lo_hi
        .iter()
        .enumerate()
        .filter(|&(d, &(lo, hi))| (lo, hi) != (0, Dim::ALL[d].max_value()))
        .map(|(d, &(lo, hi))| (d, lo, hi))
        .collect();
    Some(dims)
}

/// Who has decided a live box so far, per side (`None`: no rule of that side has
/// taken it yet).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Sides {
    old: Option<Decider>,
    new: Option<Decider>,
}

impl Sides {
    /// The sides not decided yet, as [`OLD`] and [`NEW`] bits.
    fn undecided(self) -> u8 {
        (if self.old.is_none() { OLD } else { 0 }) | (if self.new.is_none() { NEW } else { 0 })
    }
}

/// One rule of the merged order: an OLD rule, a NEW rule, or a pair of equal rules
/// (one on each side), with the hull that [`may_decide`] tests (through [`Hulls`]).
struct Step<'t> {
    region: &'t Region,
    /// The decider this step is at each side it belongs to.
    takes: Sides,
    hull: Vec<(usize, u128, u128)>,
    /// For each box of `region`, the dimensions where it is not whole: the only ones
    /// a split by it looks at.
    dims: Vec<Vec<usize>>,
    /// The dimensions some box of `region` constrains, as bits: the only ones where the
    /// parts of a box this step splits differ from it.
    cuts: u32,
}

impl Step<'_> {
    /// The boxes of the step's region, each with the dimensions it constrains.
    fn boxes(&self) -> impl Iterator<Item = (&HeaderBox, &[usize])> {
        self.region
            .boxes()
            .iter()
            .zip(self.dims.iter().map(Vec::as_slice))
    }

    /// The sides the step belongs to, as [`OLD`] and [`NEW`] bits: it can decide a box
    /// at those of them the box is undecided at.
    fn sides(&self) -> u8 {
        (if self.takes.old.is_some() { OLD } else { 0 })
            | (if self.takes.new.is_some() { NEW } else { 0 })
    }
}

/// Both sides' deciding rules in one order that keeps each side's order, paired rules
/// as one step: between two pairs, OLD's unpaired rules, then NEW's. A paired rule
/// whose partner is not where the order expects it (the pairs cross, which the
/// alignment does not make) is taken as two one-sided steps: still exact, only slower.
/// A rule whose region misses `within` (every box the walk splits is inside it) can
/// decide no box and makes no step: at 100k rules and a two-rule edit, nearly all.
fn merged<'t>(old: &'t [Term], new: &'t [Term], pairs: &Pairs, within: &Region) -> Vec<Step<'t>> {
    let paired_new: HashSet<usize> = pairs.deciding.values().copied().collect();
    let reaches = reach_test(within);
    let step = |t: &'t Term, old: Option<&Term>, new: Option<&Term>| {
        // A rule whose region was not kept misses `within` (`align::keep_reaching`).
        let region = t.region.as_ref().filter(|r| reaches(r))?;
        let hull = constrained_hull(region)?;
        let takes = Sides {
            old: old.map(|t| Decider::Rule(t.index)),
            new: new.map(|t| Decider::Rule(t.index)),
        };
        let dims: Vec<Vec<usize>> = region
            .boxes()
            .iter()
            .map(HeaderBox::constrained_dims)
            .collect();
        Some(Step {
            region,
            takes,
            hull,
            cuts: dim_bits(dims.iter().flatten().copied()),
            dims,
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

/// A box some side has not decided yet, who has decided it so far, and the steps
/// still ahead that may decide it (ascending indices into the merged order): those
/// whose hull meets the box's bounds and that belong to a side still undecided there.
type Pending = Waiting<Sides>;

/// The test of whether a step may decide `b` labelled `sides`: it applies to the label
/// and its hull meets the box's bounds. A part of a box only meets steps its whole
/// met, so its list is its parent's, filtered by this.
///
/// `unchecked` has a bit per dimension on which `b` may be narrower than the box its
/// list was filtered for ([`Rest::unchecked`]): a step met that box's bounds on every
/// other dimension, so only those are tested again.
fn may_decide<'s>(b: &HeaderBox, sides: Sides, hulls: &'s Hulls, unchecked: u32) -> Filter<'s> {
    let mut bounds: Bounds = [(0, 0); NDIMS];
    for (d, lh) in bounds.iter_mut().enumerate() {
        if unchecked & (1 << d) != 0 {
            *lh = self::bounds(b.get(Dim::ALL[d]));
        }
    }
    hulls.filter(sides.undecided(), unchecked, bounds)
}

/// A box with more intervals than [`MAX_INTERVALS`] on a dimension, cut there into
/// two of half as many (the first such dimension; `None` when there is none).
///
/// A split copies the box's sets, and the part a step leaves of a box keeps all of
/// its intervals and one more: what thousands of narrow rules leave of a broad edit
/// grew by one interval at each, and each split cost their number (the square of the
/// rules in all). Halves of a box with many steps ahead keep each split small, and
/// each half meets only the steps within its own bounds.
fn halves(b: &HeaderBox) -> Option<(usize, HeaderBox, HeaderBox)> {
    let d = dims_of(b.constrained_bits()).find(|&d| b.dim(d).intervals().len() > MAX_INTERVALS)?;
    let iv = b.dim(d).intervals();
    let (low, high) = iv.split_at(iv.len() / 2);
    let half = |part: &[(u128, u128)]| {
        b.clone()
            .with(Dim::ALL[d], ValueSet::from_intervals(part.iter().copied()))
    };
    Some((d, half(low), half(high)))
}

/// Fewer steps than this left in a box's list are read, not looked up in the index.
const ASK_MIN: usize = 256;

/// The steps from `from` on that may decide `b` labelled `sides`, ascending, found by
/// their bounds ([`Hulls::meeting`]); `None` when the `left` entries of the box's list
/// are fewer than [`ASK_MIN`] or than the index would read.
fn steps_meeting(
    hulls: &Hulls,
    b: &HeaderBox,
    sides: Sides,
    from: u32,
    left: usize,
) -> Option<Vec<u32>> {
    if left < ASK_MIN {
        return None;
    }
    let found = hulls.meeting(&index::key(b), left)?;
    let may = may_decide(b, sides, hulls, EVERY_DIM);
    let from = found.partition_point(|&s| s < from);
    Some(
        found[from..]
            .iter()
            .copied()
            .filter(|&s| may.step(s))
            .collect(),
    )
}

/// Every dimension, as the bits of [`may_decide`]'s `unchecked`.
const EVERY_DIM: u32 = u32::MAX >> (32 - NDIMS);
const _: () = assert!(NDIMS <= 32, "a dimension is a bit of a u32");

/// The bits of `dims`.
fn dim_bits(dims: impl IntoIterator<Item = usize>) -> u32 {
    dims.into_iter().fold(0, |m, d| m | 1 << d)
}

/// The state of the walk: the boxes still to decide (by first step ahead, joined
/// where they can be), where the pieces both sides have decided go (`out`, and
/// how many went), and the work done so far.
struct Walk<'s, 't, F> {
    steps: &'s [Step<'t>],
    hulls: &'s Hulls,
    pending: Queue<Sides>,
    out: F,
    decided: usize,
    /// Two empty lists for [`Walk::advance`] (their room is reused).
    buffers: (Vec<HeaderBox>, Vec<HeaderBox>),
    budget: Budget,
    /// What the region operations counted since [`Walk::spent`] last took it.
    work: u32,
    /// The region operations' work before that.
    spent: u64,
    /// The rules the alignment left unpaired, per side (for [`OutOfWork`]).
    changed: [usize; 2],
}

impl<F: FnMut(Piece)> Walk<'_, '_, F> {
    /// Where a part of a box that `step` took goes: decided at both sides, it is a
    /// piece, unless one pair of equal rules decided both sides at once (the same rule
    /// decides it before and after: nothing to report, dropped); else it waits for
    /// the steps in `rest` that may decide its other side.
    fn taken(&mut self, part: HeaderBox, before: Sides, step: &Step, rest: Rest) {
        let after = Sides {
            old: before.old.or(step.takes.old),
            new: before.new.or(step.takes.new),
        };
        match (after.old, after.new) {
            (Some(_), Some(_)) if before.old.is_none() && before.new.is_none() => {}
            (Some(od), Some(nd)) => self.decided((part, od, nd)),
            _ => self.wait(part, after, rest),
        }
    }

    /// Puts `b` in the queue with the steps of `rest` that may decide it; with none
    /// left, its undecided sides go to the defaults.
    fn wait(&mut self, b: HeaderBox, sides: Sides, rest: Rest) {
        if rest.left() > MAX_INTERVALS {
            if let Some((d, low, high)) = halves(&b) {
                let rest = rest.narrowed(1 << d);
                self.wait(low, sides, rest.clone());
                return self.wait(high, sides, rest);
            }
        }
        let hulls = self.hulls;
        let may = may_decide(&b, sides, self.hulls, rest.unchecked());
        let ask = |from, left| steps_meeting(hulls, &b, sides, from, left);
        let Some(ahead) = rest.settle_or_ask(|s| may.step(s), |s| may.skip_to(s), ask) else {
            return self.decided_by_defaults(b, sides);
        };
        let w = Pending {
            b,
            label: sides,
            ahead,
        };
        let join = |x: &Pending, y: &Pending| {
            let of = |p: &Pending| may_decide(&p.b, p.label, hulls, p.ahead.unchecked());
            let (fx, fy) = (of(x), of(y));
            Ahead::joined(&x.ahead, |s| fx.step(s), &y.ahead, |s| fy.step(s))
        };
        self.pending.push(w, &mut self.work, join);
    }

    /// `b` with its undecided sides decided by the defaults, as a piece.
    fn decided_by_defaults(&mut self, b: HeaderBox, sides: Sides) {
        let or_default = |d: Option<Decider>| d.unwrap_or(Decider::Default);
        self.decided((b, or_default(sides.old), or_default(sides.new)));
    }

    fn decided(&mut self, piece: Piece) {
        (self.out)(piece);
        self.decided += 1;
    }

    /// Follows `p` to the first step of its list whose region meets it exactly, and
    /// splits it there: the parts the step takes and the rest, each with the steps
    /// after that one.
    fn advance(&mut self, p: Pending) -> Result<(), NotCompared> {
        let Pending {
            b,
            label: sides,
            ahead,
        } = p;
        let steps = self.steps;
        let work = &mut self.work;
        let may = may_decide(&b, sides, self.hulls, ahead.unchecked());
        let first = ahead.find(
            |s| may.step(s),
            |s| {
                steps[s as usize]
                    .boxes()
                    .any(|(rb, dims)| b.overlaps_on(rb, dims, work))
            },
        );
        let Some((s, rest)) = first else {
            self.decided_by_defaults(b, sides);
            return Ok(());
        };
        let step = &steps[s as usize];
        let rest = rest.narrowed(step.cuts);
        // The lists of the parts not taken yet, kept from one split to the next.
        let (mut left, mut next) = std::mem::take(&mut self.buffers);
        left.push(b);
        for (rb, dims) in step.boxes() {
            for x in left.drain(..) {
                match x.split_on(rb, dims, &mut self.work, &mut next) {
                    Some(inside) => self.taken(inside, sides, step, rest.clone()),
                    None => next.push(x),
                }
            }
            std::mem::swap(&mut left, &mut next);
        }
        for x in left.drain(..) {
            self.wait(x, sides, rest.clone());
        }
        self.buffers = (left, next);
        self.within_budget()
    }

    /// Puts the candidate boxes in, undecided at both sides, and splits them until
    /// every part is decided (or the budget is spent).
    fn run(&mut self, candidates: &Region, every: Rest) -> Result<(), NotCompared> {
        let undecided = Sides {
            old: None,
            new: None,
        };
        for b in candidates.boxes().iter().rev() {
            self.wait(b.clone(), undecided, every.clone());
            self.within_budget()?;
        }
        while let Some(p) = self.pending.pop() {
            self.advance(p)?;
        }
        Ok(())
    }

    /// The work so far: the region operations' and the hull tests'.
    fn spent(&mut self) -> u64 {
        self.spent += u64::from(std::mem::take(&mut self.work));
        self.spent + self.hulls.tests()
    }

    /// Stops the walk past its budget of boxes or of work.
    fn within_budget(&mut self) -> Result<(), NotCompared> {
        let boxes = self.pending.len() + self.decided;
        if boxes > self.budget.boxes {
            return Err(NotCompared::Fragmented(TooFragmented { boxes }));
        }
        if self.spent() > self.budget.work {
            return Err(NotCompared::Work(OutOfWork {
                changed: self.changed,
                boxes,
                max: self.budget.work,
            }));
        }
        Ok(())
    }
}

/// The candidate region cut into pieces with one decider per side, leaving out the
/// pieces that one pair of equal rules decides at both sides.
///
/// The walk goes through both sides' rules in the [`merged`] order; each step
/// decides, in the boxes it meets, the sides it belongs to that are still undecided
/// there. A side's rules come in that side's order, so each side's decider of a point
/// is its first rule holding the point: the walk is both first-match partitions at
/// once. A part that a pair `(o, n)` takes while neither side has decided it is
/// decided by `o` before and `n` after: no rule before `o` in OLD holds it (OLD's
/// earlier rules, paired or not, are earlier steps), nor any before `n` in NEW, and
/// `o`, `n` are the same rule with the same outcome. Nothing changes there, so it is
/// dropped at once instead of being split further by the rules after: that is what
/// keeps the partition small where the edited rules are shadowed by, or overlap, many
/// common ones.
///
/// The boxes are disjoint, so each can go through the steps on its own: each part of
/// a box inherits the rest of its parent's list, filtered by its own bounds as far as
/// it is read ([`Ahead`]), and
/// waits in the [`Queue`] (where it may join another of its label) for its first
/// step ahead. The cost is the steps each box may meet, not every step times every
/// box.
///
/// Each piece goes to `out` as it is made (to [`Groups::add`]: a hundred thousand
/// pieces are not first gathered in one list). The walk stops past `budget` (boxes
/// made, or work: what the region operations count, and each test of whether a step
/// may decide a box) added to `work`, which holds what was spent before the walk.
pub(super) fn decide(
    candidates: &Region,
    (o, n): (&Rules, &Rules),
    pairs: &Pairs,
    budget: Budget,
    work: &mut u64,
    out: impl FnMut(Piece),
) -> Result<(), NotCompared> {
    let steps = merged(&o.deciding, &n.deciding, pairs, candidates);
    let every = Rest::every(steps.len() as u32, EVERY_DIM);
    let hulls = Hulls::new(steps.iter().map(|s| (s.sides(), &s.hull[..])));
    let mut walk = Walk {
        steps: &steps,
        hulls: &hulls,
        pending: Queue::new(),
        out,
        decided: 0,
        buffers: Default::default(),
        budget,
        work: 0,
        spent: *work,
        changed: pairs.changed(),
    };
    let done = walk.run(candidates, every);
    *work = walk.spent();
    done
}

/// Whether a (old decider, new decider) pair's pieces are reported.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The outcome differs.
    Verdict,
    /// The same outcome, but another deciding rule (counters move).
    Moved,
    /// The same rule decides before and after: not reported.
    Same,
}

/// The pieces as regions: those whose outcome differs, and those with the same
/// outcome but another deciding rule (counter moves), each grouped by (old decider,
/// new decider); pieces decided by the same rule at both sides are left out.
pub(super) struct Groups<'r> {
    o: &'r Rules<'r>,
    n: &'r Rules<'r>,
    pairs: &'r Pairs,
    /// Per decider pair, its kind (found once) and its boxes.
    by_deciders: BTreeMap<(Decider, Decider), (Kind, Vec<HeaderBox>)>,
}

impl<'r> Groups<'r> {
    pub(super) fn new(o: &'r Rules<'r>, n: &'r Rules<'r>, pairs: &'r Pairs) -> Groups<'r> {
        Groups {
            o,
            n,
            pairs,
            by_deciders: BTreeMap::new(),
        }
    }

    pub(super) fn add(&mut self, (b, od, nd): Piece) {
        let (o, n, pairs) = (self.o, self.n, self.pairs);
        let (kind, boxes) = self.by_deciders.entry((od, nd)).or_insert_with(|| {
            let kind = if o.side(od).outcome != n.side(nd).outcome {
                Kind::Verdict
            } else if !pairs.same(o, n, od, nd) {
                Kind::Moved
            } else {
                Kind::Same
            };
            (kind, Vec::new())
        });
        if *kind != Kind::Same {
            boxes.push(b);
        }
    }

    /// The (verdict changes, counter moves), each by (old decider, new decider).
    pub(super) fn changes(self) -> (Vec<Change>, Vec<Change>) {
        let (mut verdicts, mut moved) = (Vec::new(), Vec::new());
        let mut merge_work = super::MERGE_WORK;
        for ((od, nd), (kind, mut boxes)) in self.by_deciders {
            let list = match kind {
                Kind::Verdict => &mut verdicts,
                Kind::Moved => &mut moved,
                Kind::Same => continue,
            };
            // The walk's order is an accident of its index; the lowest box first
            // gives the same regions and example whatever the index does.
            boxes.sort_unstable();
            let (before, after) = (self.o.side(od), self.n.side(nd));
            list.extend(change(boxes, before, after, &mut merge_work));
        }
        (verdicts, moved)
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
