//! The alignment of two lists of lines that the plan's diffs are made from (the rule
//! listing, the bytecode listing, the counters carried across a re-apply), with work
//! bounded by the size of the lists rather than by the size of the change.
//!
//! Myers' algorithm costs the lists' length times the number of edits: a re-apply of a
//! 10,000-rule file over a 100,000-rule install spent 8 s in the plan, each diff
//! waiting out its deadline. The common head and tail are kept first; a small middle
//! keeps Myers (the shortest diff). A large one is anchored on the lines that occur
//! once on each side, in the longest run that keeps their order (patience diff, by
//! longest increasing subsequence: n log n); only the gaps between anchors go to
//! Myers, and a gap too large for it is aligned on its common head and tail and
//! replaced in between.
//!
//! Invariant: every `Equal` op pairs lines that are equal, in increasing order on
//! both sides, and the ops cover both lists exactly once, as `similar`'s own do.

use std::{collections::HashMap, ops::Range, time::Instant};

use similar::{
    algorithms::{myers, Capture, Compact, DiffHook, NoFinishHook, Replace},
    DiffOp,
};

/// Lists up to this long together go to Myers whole (its worst case, length squared,
/// stays a few hundred milliseconds at most: a deadline still bounds it).
const WHOLE_MYERS: usize = 4_096;

/// A gap between anchors whose lengths multiply to more than this is not searched.
const GAP_WORK: usize = 4_000_000;

/// The deadline of a Myers search of a whole small list.
const DEADLINE: std::time::Duration = std::time::Duration::from_millis(500);

/// The ops that turn `old` into `new`.
pub(super) fn diff_ops(old: &[&str], new: &[&str]) -> Vec<DiffOp> {
    let mut d = Compact::new(Replace::new(Capture::new()), old, new);
    let head = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let tail = old[head..]
        .iter()
        .rev()
        .zip(new[head..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old_mid, new_mid) = (head..old.len() - tail, head..new.len() - tail);
    if old_mid.len() + new_mid.len() <= WHOLE_MYERS {
        let deadline = Some(Instant::now() + DEADLINE);
        myers::diff_deadline(&mut d, old, 0..old.len(), new, 0..new.len(), deadline)
            .expect("capturing cannot fail");
    } else {
        let done = "capturing cannot fail";
        if head > 0 {
            d.equal(0, 0, head).expect(done);
        }
        anchored(&mut d, old, old_mid, new, new_mid);
        if tail > 0 {
            d.equal(old.len() - tail, new.len() - tail, tail)
                .expect(done);
        }
        d.finish().expect(done);
    }
    d.into_inner().into_inner().into_ops()
}

/// Patience: the anchors of the two ranges in order, Myers (or head and tail) in the
/// gaps between them.
fn anchored<D: DiffHook<Error = std::convert::Infallible>>(
    d: &mut D,
    old: &[&str],
    old_range: Range<usize>,
    new: &[&str],
    new_range: Range<usize>,
) {
    let (mut i, mut j) = (old_range.start, new_range.start);
    for (ai, aj) in anchors(&old[old_range.clone()], &new[new_range.clone()]) {
        let (ai, aj) = (old_range.start + ai, new_range.start + aj);
        gap(d, old, i..ai, new, j..aj);
        d.equal(ai, aj, 1).expect("capturing cannot fail");
        (i, j) = (ai + 1, aj + 1);
    }
    gap(d, old, i..old_range.end, new, j..new_range.end);
}

fn gap<D: DiffHook<Error = std::convert::Infallible>>(
    d: &mut D,
    old: &[&str],
    old_range: Range<usize>,
    new: &[&str],
    new_range: Range<usize>,
) {
    // An expired deadline: Myers keeps the common head and tail, replaces the rest.
    let searched = old_range.len().saturating_mul(new_range.len()) <= GAP_WORK;
    let deadline = (!searched).then(Instant::now);
    let mut d = NoFinishHook::new(d);
    myers::diff_deadline(&mut d, old, old_range, new, new_range, deadline)
        .expect("capturing cannot fail");
}

/// Pairs `(i, j)` with `old[i] == new[j]`, each line once in `old` and once in
/// `new`, the longest such list increasing on both sides.
fn anchors(old: &[&str], new: &[&str]) -> Vec<(usize, usize)> {
    // Per line: where it is in old and new, or usize::MAX once seen twice.
    let mut seen: HashMap<&str, (usize, usize)> = HashMap::with_capacity(old.len());
    const NONE: usize = usize::MAX - 1;
    for (i, l) in old.iter().enumerate() {
        seen.entry(l)
            .and_modify(|e| e.0 = usize::MAX)
            .or_insert((i, NONE));
    }
    for (j, l) in new.iter().enumerate() {
        if let Some(e) = seen.get_mut(l) {
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
mod tests {
    use super::*;
    use similar::DiffTag;

    /// Checks the invariant and returns the number of lines paired equal.
    fn check(old: &[&str], new: &[&str]) -> usize {
        let ops = diff_ops(old, new);
        let (mut i, mut j, mut equal) = (0, 0, 0);
        for op in &ops {
            let (tag, o, n) = op.as_tag_tuple();
            assert_eq!((o.start, n.start), (i, j), "{ops:?}");
            if tag == DiffTag::Equal {
                assert!(o.clone().zip(n.clone()).all(|(a, b)| old[a] == new[b]));
                equal += o.len();
            }
            (i, j) = (o.end, n.end);
        }
        assert_eq!((i, j), (old.len(), new.len()));
        equal
    }

    fn lines(range: std::ops::Range<usize>, tag: &str) -> Vec<String> {
        range.map(|k| format!("{tag} {k}")).collect()
    }

    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    #[test]
    fn a_small_edit_to_a_large_list_keeps_every_other_line() {
        let old = lines(0..50_000, "rule");
        let mut new = old.clone();
        new.insert(0, "added".into());
        new.remove(30_000);
        new[40_000] = "changed".into();
        assert_eq!(check(&refs(&old), &refs(&new)), 50_000 - 2);
    }

    #[test]
    fn a_list_replaced_by_another_pairs_the_lines_they_share() {
        let old = lines(0..100_000, "old");
        let mut new = lines(0..10_000, "new");
        // A few lines the two share, and duplicates on both sides.
        new.extend(lines(500..600, "old"));
        new.extend(vec!["dup".to_string(); 50]);
        let mut old = old;
        old.extend(vec!["dup".to_string(); 70]);
        // The 100 shared lines occur once on each side, in order: all anchors.
        assert!(check(&refs(&old), &refs(&new)) >= 100);
    }

    #[test]
    fn a_reversed_list_pairs_some_lines_and_ends() {
        let old = lines(0..20_000, "r");
        let new: Vec<String> = old.iter().rev().cloned().collect();
        assert!(check(&refs(&old), &refs(&new)) >= 1);
    }

    #[test]
    fn small_lists_are_diffed_whole() {
        let old = ["a", "b", "c", "b", "d"];
        let new = ["b", "c", "a", "b", "d", "e"];
        assert_eq!(check(&old, &new), 4);
    }

    #[test]
    fn the_longest_increasing_run_is_found() {
        let pairs = [(0, 5), (1, 1), (2, 2), (3, 9), (4, 3), (5, 4)];
        assert_eq!(
            longest_increasing(&pairs),
            vec![(1, 1), (2, 2), (4, 3), (5, 4)]
        );
    }
}
