//! A block's rules as keys ([`Rules`]), their alignment ([`pair`]: [`crate::align`] of
//! the deciding rules' keys, and of the `count` rules' separately), the candidate
//! region where verdicts may differ ([`candidates`]) and the counting changes the
//! alignment shows ([`counting`]).
//!
//! Invariant: two rules are paired only when their keys are equal — the same exact
//! region and the same outcome — and pairs keep the order of both sides, so a packet
//! that only paired rules match is decided by the same pair on both sides.

use std::collections::HashMap;

use super::{
    buckets::{rule_buckets, Buckets},
    index::{self, BoundsIndex},
    BlockSide, Budget, CountingChange, Decider, NotCompared, OutOfWork, Outcome, Side,
};
use crate::{
    align::common,
    hooks::HookKind,
    ir::{AddrMatch, Module, Program, Rule},
    space::{rule_region, AddrSets, HeaderBox, Region, TooFragmented},
    syntax::limit_fact::BucketKey,
};

/// A deciding rule: its index in the program, the fingerprint of its exact region,
/// its outcome and, once [`keep_reaching`] has run, its region when it may decide a
/// candidate box (`None` otherwise: at 100k rules and a small edit, nearly all).
pub(super) struct Term {
    pub(super) index: usize,
    key: u64,
    pub(super) region: Option<Region>,
    pub(super) outcome: Outcome,
}

/// The fingerprint of a region: equal regions have equal ones; two pairs found
/// through them are checked region against region ([`keep_reaching`]).
fn fingerprint(r: &Region) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    r.hash(&mut h);
    h.finish()
}

/// One side's block as the diff reads it.
pub(super) struct Rules<'m> {
    hook: HookKind,
    module: &'m Module,
    prog: Option<&'m Program>,
    sets: &'m AddrSets,
    buckets: &'m Buckets,
    /// Each rule's `limit` bucket (key and ordinal), by rule index.
    limits: Vec<Option<(BucketKey, u32)>>,
    /// The rules that decide when they match, in order.
    pub(super) deciding: Vec<Term>,
    /// The `count` rules: index and region.
    counts: Vec<(usize, Region)>,
}

impl<'m> Rules<'m> {
    /// The side's rules, the deciding ones by fingerprint only: every rule's region
    /// at once, on both sides, was the largest part of a 100k-rule diff's memory.
    pub(super) fn of(side: &BlockSide<'m>, buckets: &'m Buckets) -> Rules<'m> {
        let mut rules = Rules {
            hook: side.hook,
            module: side.module,
            prog: side.prog,
            sets: side.sets,
            buckets,
            limits: side.prog.map(rule_buckets).unwrap_or_default(),
            // Room for every rule at once (most decide).
            deciding: Vec::with_capacity(side.prog.map_or(0, |p| p.rules.len())),
            counts: Vec::new(),
        };
        for (index, r) in side.prog.iter().flat_map(|p| p.rules.iter().enumerate()) {
            let region = rules.region(index);
            match Outcome::of_action(side.module, r.action) {
                Some(outcome) => rules.deciding.push(Term {
                    index,
                    key: fingerprint(&region),
                    region: None,
                    outcome,
                }),
                None => rules.counts.push((index, region)),
            }
        }
        rules
    }

    /// The exact region of rule `index` (sets expanded, a `limit` as its bucket's
    /// bit), computed again each time.
    fn region(&self, index: usize) -> Region {
        let Some(r) = self.prog.map(|p| &p.rules[index]) else {
            return Region::empty();
        };
        let region = rule_region(self.sets, &r.m, r.cond);
        let room = r.m.limit().zip(self.limits[index]);
        match room.and_then(|(l, b)| self.buckets.rule_box(&l, b)) {
            Some(room) => Region::from_disjoint(
                region
                    .boxes()
                    .iter()
                    .filter_map(|x| x.intersect(&room, &mut 0)),
            ),
            None => region,
        }
    }

    /// The region of the deciding rule at position `at`: kept, or computed again.
    fn term_region(&self, at: usize) -> std::borrow::Cow<'_, Region> {
        let t = &self.deciding[at];
        match &t.region {
            Some(r) => std::borrow::Cow::Borrowed(r),
            None => std::borrow::Cow::Owned(self.region(t.index)),
        }
    }

    /// Whether the side has no block (the pair is compared with no block).
    pub(super) fn is_missing(&self) -> bool {
        self.prog.is_none()
    }

    /// The default's outcome; without a block, what the kernel does without one.
    pub(super) fn default_outcome(&self) -> Outcome {
        self.prog.map_or(Outcome::without_block(self.hook), |p| {
            Outcome::of_verdict(p.default)
        })
    }

    /// Who decides and what, for a decider of this side.
    pub(super) fn side(&self, d: Decider) -> Side {
        let (line, outcome) = match (d, self.prog) {
            (Decider::Rule(i), Some(p)) => (
                Some(p.rules[i].line),
                Outcome::of_action(self.module, p.rules[i].action)
                    .expect("a decider is a deciding rule"),
            ),
            (Decider::Default, Some(p)) => (Some(p.default_line), self.default_outcome()),
            _ => (None, self.default_outcome()),
        };
        Side {
            decider: if self.prog.is_some() {
                d
            } else {
                Decider::NoBlock
            },
            line,
            outcome,
        }
    }

    /// The text of a deciding rule (`None` for a default or no block).
    pub(super) fn text(&self, d: Decider) -> Option<&str> {
        match (d, self.prog) {
            (Decider::Rule(i), Some(p)) => Some(&p.rules[i].text),
            _ => None,
        }
    }

    /// The `log` rate of a rule's (or the default's) counter slot.
    fn log_rate(&self, slot: u32) -> Option<u32> {
        self.module.logs.get(&slot).copied()
    }
}

/// Which rules of the two sides are the same rule.
pub(super) struct Pairs {
    /// Program rule index in OLD → in NEW, for paired deciding rules.
    pub(super) deciding: HashMap<usize, usize>,
    /// Positions in `deciding` of the rules that are not paired, per side.
    unpaired: [Vec<usize>; 2],
    /// Positions in `deciding` (OLD's, NEW's) of the paired rules, in order.
    positions: Vec<(usize, usize)>,
    /// Positions in `counts` of the `count` rules that are not paired, per side.
    unpaired_counts: [Vec<usize>; 2],
}

impl Pairs {
    /// How many deciding rules of OLD and of NEW are not paired.
    pub(super) fn changed(&self) -> [usize; 2] {
        self.unpaired.clone().map(|u| u.len())
    }

    /// Whether OLD's decider `a` and NEW's `b` are the same rule (or both defaults):
    /// paired, or written the same (a rule whose set changed keeps its counter).
    pub(super) fn same(&self, o: &Rules, n: &Rules, a: Decider, b: Decider) -> bool {
        if o.text(a).is_some() && o.text(a) == n.text(b) {
            return true;
        }
        match (a, b) {
            (Decider::Rule(i), Decider::Rule(j)) => self.deciding.get(&i) == Some(&j),
            (Decider::Default, Decider::Default) => true,
            _ => false,
        }
    }
}

/// The positions of `0..n` not in `paired`.
fn rest(n: usize, paired: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut taken = vec![false; n];
    paired.for_each(|i| taken[i] = true);
    (0..n).filter(|&i| !taken[i]).collect()
}

pub(super) fn pair(o: &Rules, n: &Rules) -> Pairs {
    fn key(t: &Term) -> (u64, &Outcome) {
        (t.key, &t.outcome)
    }
    let (ko, kn): (Vec<_>, Vec<_>) = (
        o.deciding.iter().map(key).collect(),
        n.deciding.iter().map(key).collect(),
    );
    let same = common(&ko, &kn);
    fn count_keys<'r>(r: &'r Rules) -> Vec<&'r Region> {
        r.counts.iter().map(|c| &c.1).collect()
    }
    let same_counts = common(&count_keys(o), &count_keys(n));
    Pairs {
        deciding: same
            .iter()
            .map(|&(a, b)| (o.deciding[a].index, n.deciding[b].index))
            .collect(),
        unpaired: [
            rest(o.deciding.len(), same.iter().map(|p| p.0)),
            rest(n.deciding.len(), same.iter().map(|p| p.1)),
        ],
        positions: same,
        unpaired_counts: [
            rest(o.counts.len(), same_counts.iter().map(|p| p.0)),
            rest(n.counts.len(), same_counts.iter().map(|p| p.1)),
        ],
    }
}

/// Whether rule `i` of `o` and rule `j` of `n` have equal regions, known without making
/// them: the same match (`limit` and all), condition and bucket, and no set (a set's
/// members are all a region is made of besides these).
fn same_without_sets(o: &Rules, i: usize, n: &Rules, j: usize) -> bool {
    let (Some(po), Some(pn)) = (o.prog, n.prog) else {
        return false;
    };
    let (a, b) = (&po.rules[i], &pn.rules[j]);
    let set = matches!(a.m.src, AddrMatch::Set(_)) || matches!(a.m.dst, AddrMatch::Set(_));
    !set && a.m == b.m && a.cond == b.cond && o.limits[i] == n.limits[j]
}

/// Past this many boxes, the candidate region is not tested against every rule (the
/// test would cost more than the steps it saves): every rule is kept, and makes a
/// step of the walk.
pub(super) const REACH_TEST_MAX: usize = 64;

/// Whether a rule's region meets `within` (always yes when `within` has more than
/// [`REACH_TEST_MAX`] boxes).
pub(super) fn reach_test(within: &Region) -> impl Fn(&Region) -> bool + '_ {
    let test = within.boxes().len() <= REACH_TEST_MAX;
    // Boxes whose bounds miss each other do not meet: the bounds first, as a rule of a
    // large file meets few of the boxes.
    let keys: Vec<index::Key> = match test {
        true => within.boxes().iter().map(index::key).collect(),
        false => Vec::new(),
    };
    move |r: &Region| {
        !test
            || r.boxes().iter().any(|rb| {
                let k = index::key(rb);
                let mut near = within.boxes().iter().zip(&keys);
                near.any(|(c, ck)| index::meet(ck, &k) && c.overlaps(rb, &mut 0))
            })
    }
}

/// Keeps the region of each deciding rule that meets `within` (the candidate region),
/// on both sides, and checks every pair region against region: a pair whose regions
/// differ (their fingerprints collided) is taken apart, and `false` says the
/// candidate region must be made again with its rules. `true`: every pair is two
/// rules of equal regions, and every rule that may decide a candidate box has its
/// region.
pub(super) fn keep_reaching<'m>(
    o: &mut Rules<'m>,
    n: &mut Rules<'m>,
    pairs: &mut Pairs,
    within: &Region,
) -> bool {
    let reaches = reach_test(within);
    for (side, rules) in [&mut *o, &mut *n].into_iter().enumerate() {
        for &at in &pairs.unpaired[side] {
            let r = rules.term_region(at).into_owned();
            rules.deciding[at].region = reaches(&r).then_some(r);
        }
    }
    let mut apart = Vec::new();
    for (k, &(a, b)) in pairs.positions.iter().enumerate() {
        let (i, j) = (o.deciding[a].index, n.deciding[b].index);
        let ra = o.region(i);
        if !same_without_sets(o, i, n, j) && ra != n.region(j) {
            apart.push(k);
            continue;
        }
        let keep = reaches(&ra);
        n.deciding[b].region = keep.then(|| ra.clone());
        o.deciding[a].region = keep.then_some(ra);
    }
    for &k in apart.iter().rev() {
        let (a, b) = pairs.positions.remove(k);
        pairs.deciding.remove(&o.deciding[a].index);
        pairs.unpaired[0].push(a);
        pairs.unpaired[1].push(b);
    }
    pairs.unpaired.iter_mut().for_each(|u| u.sort_unstable());
    apart.is_empty()
}

/// Why the candidate region was not made to the end, and the part of it made when it
/// stopped (disjoint boxes of the region, where verdicts may differ): the walk can
/// still list the changes inside that part.
#[derive(Debug)]
pub(super) struct Unfinished {
    pub(super) why: NotCompared,
    pub(super) so_far: Region,
}

/// The packets whose verdict may differ: what the unpaired deciding rules match, or
/// the whole hook when the defaults differ; within `universe`. The work it takes (the
/// region operations' count, and the boxes looked at) is added to `spent`; it stops
/// when `spent` passes the budget's, or its boxes the budget's, with the first `keep`
/// boxes of the part made (those of the first unpaired rules).
pub(super) fn candidates(
    o: &Rules,
    n: &Rules,
    pairs: &Pairs,
    universe: &Region,
    budget: Budget,
    spent: &mut u64,
    keep: usize,
) -> Result<Region, Unfinished> {
    if o.default_outcome() != n.default_outcome() {
        return Ok(universe.clone());
    }
    let mut c = Union::default();
    // Only the boxes kept are moved into a region: the part made can be 50,000 boxes,
    // and a copy of them all was 46 MiB more at a 100k diff's peak.
    let unfinished = |why, c: Union| Unfinished {
        why,
        so_far: Region::from_disjoint(c.boxes.into_iter().take(keep)),
    };
    let fragmented = |boxes| NotCompared::Fragmented(TooFragmented { boxes });
    for (side, rules) in [o, n].into_iter().enumerate() {
        for &i in &pairs.unpaired[side] {
            let mut work = 0;
            let within = rules
                .term_region(i)
                .intersect(universe, budget.boxes, &mut work);
            let within = match within {
                Ok(w) => w,
                Err(e) => return Err(unfinished(fragmented(e.boxes), c)),
            };
            for b in within.into_boxes() {
                // What is left of the budget, as the u32 the region operations count in.
                let left = budget.work.saturating_sub(*spent + u64::from(work));
                let left = u32::try_from(left).unwrap_or(u32::MAX - 1);
                if !add_outside(&mut c, b, &mut work, left) {
                    *spent += u64::from(work);
                    let out_of_work = OutOfWork {
                        changed: pairs.changed(),
                        boxes: c.boxes.len(),
                        max: budget.work,
                    };
                    return Err(unfinished(NotCompared::Work(out_of_work), c));
                }
                if c.boxes.len() > budget.boxes {
                    return Err(unfinished(fragmented(c.boxes.len()), c));
                }
            }
            *spent += u64::from(work);
        }
    }
    Ok(Region::from_disjoint(c.boxes))
}

/// The work a piece of a new box costs when the pieces are moved, and when it is
/// indexed, in the units of the region operations (an interval walked): set so that
/// the budget bounds the union's time as it bounds the walk's (unrelated ClassBench
/// files of 10,000 rules took 1.1 s of a release build to reach it at one unit each).
const MOVE_COST: usize = 8;
const INDEX_COST: usize = 32;

/// Disjoint boxes, indexed by their bounds.
#[derive(Default)]
struct Union {
    boxes: Vec<HeaderBox>,
    index: BoundsIndex,
}

/// Adds the part of `b` outside the disjoint boxes `c` to them (only the boxes `b`
/// meets are subtracted: a union of many rules that rarely overlap stays linear in
/// allocations, and the index finds those boxes without looking at the others). Each
/// box of `c` the index reads counts one to `work`, each piece moved when one of them
/// cuts `b`'s pieces [`MOVE_COST`] and each piece indexed [`INDEX_COST`], besides what
/// the region operations count; past `max` more, it stops and says `false` (`c` is then
/// as it was).
fn add_outside(c: &mut Union, b: HeaderBox, work: &mut u32, max: u32) -> bool {
    let stop = work.saturating_add(max);
    let mut looked = 0;
    // The pieces lie inside `b`: a box whose bounds miss `b`'s misses them.
    let Some(near) = c.index.meeting(&index::key(&b), max as usize, &mut looked) else {
        return false;
    };
    *work = work.saturating_add(u32::try_from(looked).unwrap_or(u32::MAX));
    let mut pieces = vec![b];
    for &e in &near {
        let e = &c.boxes[e as usize];
        if *work > stop {
            return false;
        }
        let Some(first) = pieces.iter().position(|p| p.overlaps(e, work)) else {
            continue;
        };
        // Every piece is moved (a few hundred bytes each): counted, as a broad box cut
        // by many others has many.
        let moved = pieces.len().saturating_mul(MOVE_COST);
        *work = work.saturating_add(u32::try_from(moved).unwrap_or(u32::MAX));
        let mut next = Vec::with_capacity(pieces.len() + 4);
        next.extend(pieces.drain(..first));
        for p in pieces.drain(..) {
            if p.overlaps(e, work) {
                next.extend(p.subtract(e, work));
            } else {
                next.push(p);
            }
        }
        pieces = next;
        if pieces.is_empty() {
            return true;
        }
    }
    // Each piece goes into the index's ordered sets: counted too.
    let added = pieces.len() * INDEX_COST;
    *work = work.saturating_add(u32::try_from(added).unwrap_or(u32::MAX));
    for p in pieces {
        c.index.add(index::key(&p));
        c.boxes.push(p);
    }
    true
}

/// The `i`th `count` rule of a side.
fn count_rule<'m>(r: &Rules<'m>, i: usize) -> Option<&'m Rule> {
    r.prog.map(|p| &p.rules[r.counts[i].0])
}

/// `count` rules added and removed, and `log` added, removed or re-rated on rules
/// (and defaults) that are the same on both sides.
pub(super) fn counting(o: &Rules, n: &Rules, pairs: &Pairs) -> Vec<CountingChange> {
    let mut out = Vec::new();
    // A block on one side only: its counters start (or stop) counting.
    match (o.prog, n.prog) {
        (None, Some(p)) => out.push(CountingChange {
            old_line: None,
            new_line: Some(p.default_line),
            what: "block added (compared with no block)".into(),
        }),
        (Some(p), None) => out.push(CountingChange {
            old_line: Some(p.default_line),
            new_line: None,
            what: "block removed (compared with no block)".into(),
        }),
        _ => {}
    }
    let mut added: Vec<usize> = pairs.unpaired_counts[1].clone();
    for &i in &pairs.unpaired_counts[0] {
        let old = count_rule(o, i);
        // The same text on the other side: the rule stayed, its sets changed.
        let same = added
            .iter()
            .position(|&j| count_rule(n, j).map(|r| &r.text) == old.map(|r| &r.text));
        let (new_line, what) = match same {
            Some(k) => (
                count_rule(n, added.remove(k)).map(|r| r.line),
                "count rule counts other packets (its sets changed)",
            ),
            None => (None, "count rule removed"),
        };
        out.push(CountingChange {
            old_line: old.map(|r| r.line),
            new_line,
            what: what.into(),
        });
    }
    for j in added {
        out.push(CountingChange {
            old_line: None,
            new_line: count_rule(n, j).map(|r| r.line),
            what: "count rule added".into(),
        });
    }
    let (Some(po), Some(pn)) = (o.prog, n.prog) else {
        return out;
    };
    let mut same: Vec<(Option<usize>, Option<usize>)> = pairs
        .deciding
        .iter()
        .map(|(&a, &b)| (Some(a), Some(b)))
        .collect();
    same.sort_unstable();
    same.push((None, None));
    for (a, b) in same {
        let slot =
            |p: &Program, i: Option<usize>| i.map_or(p.default_counter, |i| p.rules[i].counter);
        let lines = |p: &Program, i: Option<usize>| i.map_or(p.default_line, |i| p.rules[i].line);
        let (ro, rn) = (o.log_rate(slot(po, a)), n.log_rate(slot(pn, b)));
        let what = match (ro, rn) {
            (None, Some(r)) => format!("log added ({r}/s)"),
            (Some(_), None) => "log removed".to_string(),
            (Some(x), Some(y)) if x != y => format!("log rate {x}/s → {y}/s"),
            _ => continue,
        };
        out.push(CountingChange {
            old_line: Some(lines(po, a)),
            new_line: Some(lines(pn, b)),
            what,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    //! Pairs found through fingerprints are checked region against region.

    use super::*;
    use crate::{semdiff::BlockSide, space::hook_universe};

    use crate::test_module::module;

    fn side<'m>(m: &'m Module, sets: &'m AddrSets) -> BlockSide<'m> {
        let prog = m.programs.values().next();
        BlockSide {
            hook: prog.unwrap().hook,
            module: m,
            prog,
            sets,
        }
    }

    #[test]
    fn a_pair_whose_fingerprints_collided_is_taken_apart() {
        let old = module("xdp on lo {\n    drop tcp to *:22\n    default allow\n}\n");
        let new = module("xdp on lo {\n    drop tcp to *:23\n    default allow\n}\n");
        collided_apart(&old, &new);
    }

    #[test]
    fn a_collided_pair_of_rules_written_alike_is_taken_apart_when_a_set_differs() {
        let file = |a| {
            format!("set s = {{ {a} }}\nxdp on lo {{\n    drop from @s\n    default allow\n}}\n")
        };
        let (old, new) = (module(&file("10.0.0.1")), module(&file("10.0.0.2")));
        let m = |f: &Module| f.programs.values().next().unwrap().rules[0].m.clone();
        assert_eq!(m(&old), m(&new));
        collided_apart(&old, &new);
    }

    /// The only rules of `old` and `new`, whose regions differ, paired as if their
    /// fingerprints were equal, are taken apart by [`keep_reaching`].
    fn collided_apart(old: &Module, new: &Module) {
        let (os, ns) = (AddrSets::new(old), AddrSets::new(new));
        let buckets = Buckets::of(None, None).expect("no buckets");
        let (mut o, mut n) = (
            Rules::of(&side(old, &os), &buckets),
            Rules::of(&side(new, &ns), &buckets),
        );
        assert_ne!(o.deciding[0].key, n.deciding[0].key);
        // As if the two regions' fingerprints were equal.
        n.deciding[0].key = o.deciding[0].key;
        let mut pairs = pair(&o, &n);
        assert_eq!(pairs.positions, [(0, 0)]);
        let universe = hook_universe(o.hook);
        assert!(!keep_reaching(&mut o, &mut n, &mut pairs, &universe));
        assert!(pairs.deciding.is_empty() && pairs.positions.is_empty());
        assert_eq!(pairs.unpaired, [vec![0], vec![0]]);
        // Apart, both rules are candidates, and keep their regions.
        let c = candidates(&o, &n, &pairs, &universe, Budget::UNLIMITED, &mut 0, 0).unwrap();
        assert!(keep_reaching(&mut o, &mut n, &mut pairs, &c));
        assert_eq!(o.deciding[0].region, Some(o.region(0)));
        assert_eq!(n.deciding[0].region, Some(n.region(0)));
    }

    #[test]
    fn only_the_rules_that_meet_the_candidates_keep_their_regions() {
        let text = |port| {
            format!("xdp on lo {{\n    drop udp to *:53\n    drop tcp to *:{port}\n    default allow\n}}\n")
        };
        let (old, new) = (module(&text(22)), module(&text(23)));
        let (os, ns) = (AddrSets::new(&old), AddrSets::new(&new));
        let buckets = Buckets::of(None, None).expect("no buckets");
        let (mut o, mut n) = (
            Rules::of(&side(&old, &os), &buckets),
            Rules::of(&side(&new, &ns), &buckets),
        );
        let mut pairs = pair(&o, &n);
        assert_eq!(pairs.positions, [(0, 0)]);
        let universe = hook_universe(o.hook);
        let c = candidates(&o, &n, &pairs, &universe, Budget::UNLIMITED, &mut 0, 0).unwrap();
        assert!(keep_reaching(&mut o, &mut n, &mut pairs, &c));
        // The udp rule meets no tcp packet: no step of the walk needs it.
        assert!(o.deciding[0].region.is_none() && n.deciding[0].region.is_none());
        assert!(o.deciding[1].region.is_some() && n.deciding[1].region.is_some());
    }
}
