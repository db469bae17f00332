//! The alignment of two lists of keys, with work bounded by the lists' length rather
//! than by the size of the change, and the same answer on every run (no deadline): the
//! semantic diff's rules (`semdiff`), and the plan's rule listings, bytecode listings
//! and carried counters (`sockc-runtime`'s plan) are aligned here.
//!
//! Myers' algorithm costs the lists' length times the number of edits: two unrelated
//! 100,000-line lists took minutes, and a deadline made the answer depend on the
//! machine's load. Here the common head and tail are kept first (pairs a caller has
//! compared already, at both ends, are taken as they are: `diff_ops_around`); a
//! middle of at most [`MYERS_MAX`] keys (both sides) goes to Myers (the shortest
//! diff). A larger one is anchored on the keys that occur once on each side, in the
//! longest run that keeps their order (patience diff, by longest increasing
//! subsequence: n log n); only the gaps between anchors go to Myers, each of at most
//! [`MYERS_MAX`] keys and all of them together within [`MYERS_WORK`] (Myers' worst
//! case is the square of a gap's length); any other gap keeps its common head and
//! tail and is replaced in between.
//!
//! Invariant: every `Equal` op pairs keys that are equal, in increasing order on both
//! sides, and the ops cover both lists exactly once, as `similar`'s own do; the work
//! is at most a constant times `MYERS_WORK` plus `(n + m) log(n + m)`.

use std::{collections::HashMap, convert::Infallible, hash::Hash, ops::Range};

use similar::algorithms::{myers, Capture, Compact, DiffHook, NoFinishHook, Replace};
pub use similar::DiffOp;

/// A range of at most this many keys, both sides together, may go to Myers.
pub const MYERS_MAX: usize = 4_096;

/// The squares of the lengths of all the ranges given to Myers, summed, stay within
/// this (a few times `MYERS_MAX` squared: a few hundred milliseconds at most).
pub const MYERS_WORK: u64 = 4 * (MYERS_MAX as u64).pow(2);

/// The ops that turn `old` into `new`, compacted (an edit next to equal keys is
/// shifted to join another where it can) and adjacent deletes and inserts joined
/// into replaces: what a listing's diff shows.
pub fn diff_ops<K: Hash + Eq>(old: &[K], new: &[K]) -> Vec<DiffOp> {
    diff_ops_around(old, new, Ends::default())
}

/// Pairs of keys a caller has already found equal, at both lists' ends: the first
/// `head` pairs (`old[k]`, `new[k]`) and the last `tail` pairs (`old[old.len() - 1 -
/// k]`, `new[new.len() - 1 - k]`). Either may overlap the other, or exceed a list: only
/// what lies within both lists is taken as compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ends {
    pub head: usize,
    pub tail: usize,
}

/// [`diff_ops`], the pairs `known` names not compared again (a caller that compared
/// them with a cheaper test than its keys' `==`, which they must pass too). The same
/// ops as [`diff_ops`] whenever `known`'s pairs are equal keys.
pub fn diff_ops_around<K: Hash + Eq>(old: &[K], new: &[K], known: Ends) -> Vec<DiffOp> {
    let mut d = Compact::new(Replace::new(Capture::new()), old, new);
    align_around(&mut d, old, new, known);
    d.finish().expect("capturing cannot fail");
    d.into_inner().into_inner().into_ops()
}

/// The pairs of equal keys an alignment of `old` and `new` keeps, in order.
pub fn common<K: Hash + Eq>(old: &[K], new: &[K]) -> Vec<(usize, usize)> {
    let mut d = Capture::new();
    align(&mut d, old, new);
    let mut out = Vec::new();
    for op in d.into_ops() {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        {
            out.extend((0..len).map(|k| (old_index + k, new_index + k)));
        }
    }
    out
}

/// The ops of the alignment, into `d` (without its `finish`); the Myers work spent.
fn align<K: Hash + Eq, D: DiffHook<Error = Infallible>>(d: &mut D, old: &[K], new: &[K]) -> u64 {
    align_around(d, old, new, Ends::default())
}

/// [`align`], the pairs `known` names taken as equal without a comparison.
fn align_around<K: Hash + Eq, D: DiffHook<Error = Infallible>>(
    d: &mut D,
    old: &[K],
    new: &[K],
    known: Ends,
) -> u64 {
    let mut a = Aligner {
        d,
        old,
        new,
        work: 0,
    };
    a.gap_from(0..old.len(), 0..new.len(), true, known);
    a.work
}

/// An alignment being made: where the ops go, the lists, the Myers work so far.
struct Aligner<'a, K, D> {
    d: &'a mut D,
    old: &'a [K],
    new: &'a [K],
    work: u64,
}

impl<K: Hash + Eq, D: DiffHook<Error = Infallible>> Aligner<'_, K, D> {
    /// Aligns two ranges: their common head and tail, then the middle by Myers when it
    /// is small and the work allows, else (`anchor`) on its unique keys, else replaced.
    fn gap(&mut self, o: Range<usize>, n: Range<usize>, anchor: bool) {
        self.gap_from(o, n, anchor, Ends::default());
    }

    /// [`Self::gap`], the first `known.head` and last `known.tail` pairs of the two
    /// ranges equal without a comparison (as far as they lie within both ranges: a
    /// tail pair is the same pair however long the head grew).
    fn gap_from(&mut self, o: Range<usize>, n: Range<usize>, anchor: bool, known: Ends) {
        let skip = known.head.min(o.len()).min(n.len());
        let head = skip
            + (self.old[o.start + skip..o.end].iter())
                .zip(&self.new[n.start + skip..n.end])
                .take_while(|(a, b)| a == b)
                .count();
        let (o, n) = ((o.start + head)..o.end, (n.start + head)..n.end);
        let skip = known.tail.min(o.len()).min(n.len());
        let tail = skip
            + (self.old[o.start..o.end - skip].iter().rev())
                .zip(self.new[n.start..n.end - skip].iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
        self.equal(o.start - head, n.start - head, head);
        let (o, n) = (o.start..o.end - tail, n.start..n.end - tail);
        let len = (o.len() + n.len()) as u64;
        if o.is_empty() || n.is_empty() {
            self.replace(o.clone(), n.clone());
        } else if len as usize <= MYERS_MAX && self.work + len * len <= MYERS_WORK {
            self.work += len * len;
            let mut d = NoFinishHook::new(&mut *self.d);
            myers::diff(&mut d, self.old, o.clone(), self.new, n.clone()).expect(DONE);
        } else if anchor {
            self.anchored(o.clone(), n.clone());
        } else {
            self.replace(o.clone(), n.clone());
        }
        self.equal(o.end, n.end, tail);
    }

    /// Patience: the anchors of the two ranges in order, the gaps between them aligned
    /// (without anchors of their own).
    fn anchored(&mut self, o: Range<usize>, n: Range<usize>) {
        let (mut i, mut j) = (o.start, n.start);
        for (ai, aj) in anchors(&self.old[o.clone()], &self.new[n.clone()]) {
            let (ai, aj) = (o.start + ai, n.start + aj);
            self.gap(i..ai, j..aj, false);
            self.equal(ai, aj, 1);
            (i, j) = (ai + 1, aj + 1);
        }
        self.gap(i..o.end, j..n.end, false);
    }

    fn equal(&mut self, i: usize, j: usize, len: usize) {
        if len > 0 {
            self.d.equal(i, j, len).expect(DONE);
        }
    }

    /// `o` deleted and `n` inserted in its place.
    fn replace(&mut self, o: Range<usize>, n: Range<usize>) {
        if !o.is_empty() {
            self.d.delete(o.start, o.len(), n.start).expect(DONE);
        }
        if !n.is_empty() {
            self.d.insert(o.end, n.start, n.len()).expect(DONE);
        }
    }
}

const DONE: &str = "capturing cannot fail";

/// Pairs `(i, j)` with `old[i] == new[j]`, each key once in `old` and once in `new`,
/// the longest such list increasing on both sides.
fn anchors<K: Hash + Eq>(old: &[K], new: &[K]) -> Vec<(usize, usize)> {
    // Per key: where it is in old and new, or usize::MAX once seen twice.
    let mut seen: HashMap<&K, (usize, usize)> = HashMap::with_capacity(old.len());
    const NONE: usize = usize::MAX - 1;
    for (i, k) in old.iter().enumerate() {
        seen.entry(k)
            .and_modify(|e| e.0 = usize::MAX)
            .or_insert((i, NONE));
    }
    for (j, k) in new.iter().enumerate() {
        if let Some(e) = seen.get_mut(k) {
            e.1 = if e.1 == NONE { j } else { usize::MAX };
        }
    }
    let mut pairs: Vec<(usize, usize)> = seen
        .into_values()
        .filter(|&(i, j)| i < NONE && j < NONE)
        .collect();
    pairs.sort_unstable();
    longest_increasing(&pairs)
}

/// The longest subsequence of `pairs` (sorted by their first) whose seconds increase.
fn longest_increasing(pairs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    // tails[k]: index into pairs of the smallest tail of an increasing run of k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev = vec![usize::MAX; pairs.len()];
    for (p, &(_, j)) in pairs.iter().enumerate() {
        let k = tails.partition_point(|&t| pairs[t].1 < j);
        if k > 0 {
            prev[p] = tails[k - 1];
        }
        if k == tails.len() {
            tails.push(p);
        } else {
            tails[k] = p;
        }
    }
    let mut run = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied().unwrap_or(usize::MAX);
    while at != usize::MAX {
        run.push(pairs[at]);
        at = prev[at];
    }
    run.reverse();
    run
}

#[cfg(test)]
#[path = "align_tests.rs"]
mod tests;
