//! The alignment's invariant on small and large lists, and its bounded work.

use super::*;
use similar::DiffTag;

/// Checks the invariant of `diff_ops` and of `common`, and that they keep the same
/// keys; returns the number of keys paired equal.
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
    let pairs = common(old, new);
    assert!(pairs.iter().all(|&(a, b)| old[a] == new[b]));
    assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    assert_eq!(pairs.len(), equal);
    equal
}

fn lines(range: std::ops::Range<usize>, tag: &str) -> Vec<String> {
    range.map(|k| format!("{tag} {k}")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The Myers work an alignment spends.
fn work(old: &[&str], new: &[&str]) -> u64 {
    align(&mut Capture::new(), old, new)
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
    let old = ["h", "a", "b", "c", "b", "d", "t"];
    let new = ["h", "b", "c", "a", "b", "d", "e", "t"];
    assert_eq!(check(&old, &new), 6);
    // The middle alone goes to Myers: the common head and tail are not searched.
    assert_eq!(work(&old, &new), 11 * 11);
}

#[test]
fn the_myers_work_is_bounded_whatever_the_lists() {
    // Gaps just under the Myers size between anchors, none of whose lines match: each
    // gap alone may be searched, all of them together may not.
    let gap = MYERS_MAX / 2 - 1;
    let (mut old, mut new) = (Vec::new(), Vec::new());
    for g in 0..40 {
        old.extend(lines(g * gap..(g + 1) * gap, "old"));
        new.extend(lines(g * gap..(g + 1) * gap, "new"));
        old.push(format!("anchor {g}"));
        new.push(format!("anchor {g}"));
    }
    let (o, n) = (refs(&old), refs(&new));
    assert_eq!(check(&o, &n), 40);
    let w = work(&o, &n);
    assert!(w > 0 && w <= MYERS_WORK, "{w}");
    // Unrelated lists of any length cost no Myers work past the bound either.
    let (a, b) = (lines(0..100_000, "a"), lines(0..90_000, "b"));
    assert!(work(&refs(&a), &refs(&b)) <= MYERS_WORK);
}

#[test]
fn the_longest_increasing_run_is_found() {
    let pairs = [(0, 5), (1, 1), (2, 2), (3, 9), (4, 3), (5, 4)];
    assert_eq!(
        longest_increasing(&pairs),
        vec![(1, 1), (2, 2), (4, 3), (5, 4)]
    );
}

/// A key that counts the comparisons made of it.
struct Counted<'a>(usize, &'a std::cell::Cell<usize>);

impl PartialEq for Counted<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.1.set(self.1.get() + 1);
        self.0 == other.0
    }
}

impl Eq for Counted<'_> {}

impl Hash for Counted<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// The pairs a caller names as compared at the ends are not compared again, and the
/// ops are `diff_ops`'s: with the ends named whole, in part (the alignment goes on
/// comparing), past the lists and overlapping (only what lies within both is taken),
/// and with a head that grows into the named tail.
#[test]
fn pairs_known_equal_at_the_ends_are_not_compared_again() {
    let base: Vec<usize> = (0..100_000).collect();
    let mut added = base.clone();
    added.insert(0, 7_000_000);
    let mut changed = base.clone();
    changed[50_000] = 7_000_001;
    let mut doubled = base.clone();
    doubled.insert(60_000, 60_000);
    let cases = [
        (
            &base,
            &added,
            Ends {
                head: 0,
                tail: 100_000,
            },
            true,
        ),
        (
            &base,
            &changed,
            Ends {
                head: 50_000,
                tail: 49_999,
            },
            true,
        ),
        (
            &base,
            &doubled,
            Ends {
                head: 60_001,
                tail: 40_000,
            },
            true,
        ),
        (&base, &changed, Ends { head: 10, tail: 20 }, false),
        (
            &base,
            &base,
            Ends {
                head: 100_000,
                tail: 100_000,
            },
            true,
        ),
        (
            &base,
            &base,
            Ends {
                head: 1_000_000,
                tail: 0,
            },
            true,
        ),
        (&base, &added, Ends { head: 0, tail: 0 }, false),
    ];
    for (old, new, known, whole) in cases {
        let count = std::cell::Cell::new(0);
        let keys = |v: &[usize]| -> Vec<usize> { v.to_vec() };
        let expected = diff_ops(&keys(old), &keys(new));
        let counted =
            |v: &[usize]| -> Vec<Counted> { v.iter().map(|&k| Counted(k, &count)).collect() };
        let got = diff_ops_around(&counted(old), &counted(new), known);
        assert_eq!(got, expected, "{known:?}");
        assert_eq!(
            whole,
            count.get() < 100,
            "{known:?}: {} comparisons",
            count.get()
        );
    }
}
