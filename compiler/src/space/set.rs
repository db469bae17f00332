//! The values of one dimension: a sorted list of disjoint, non-adjacent inclusive
//! intervals, as slices of any integer type (the IR keeps ports as `u16`) and as an
//! owned [`ValueSet`] of `u128`.
//!
//! Invariant: every list these functions take or make is sorted, disjoint and
//! non-adjacent (`a.1 + 1 < b.0` for neighbours), so equal sets have equal lists.
//! Every function adds the intervals it walks to `work` (saturating); a list of at
//! most [`SMALL`] intervals is compared by binary search in the other (one unit per
//! interval), longer ones by one merge walk over both (one unit per interval of
//! either).

use smallvec::{smallvec, SmallVec};

/// An inclusive interval of `u128` values.
pub type Iv = (u128, u128);

/// Lists up to this long are looked up by binary search instead of merged.
pub const SMALL: usize = 4;

fn charge(work: &mut u32, n: usize) {
    *work = work.saturating_add(n.min(u32::MAX as usize) as u32);
}

/// Whether `v` is in `a`.
pub fn contains<T: Copy + Ord>(a: &[(T, T)], v: T) -> bool {
    let j = a.partition_point(|x| x.1 < v);
    j < a.len() && a[j].0 <= v
}

/// Whether every value of `b` is in `a`.
pub fn covers<T: Copy + Ord>(a: &[(T, T)], b: &[(T, T)], work: &mut u32) -> bool {
    let inside = |j: usize, (lo, hi): (T, T)| j < a.len() && a[j].0 <= lo && hi <= a[j].1;
    if b.len() <= SMALL {
        charge(work, b.len());
        return b
            .iter()
            .all(|&x| inside(a.partition_point(|y| y.1 < x.0), x));
    }
    charge(work, a.len() + b.len());
    let mut j = 0;
    b.iter().all(|&x| {
        while j < a.len() && a[j].1 < x.0 {
            j += 1;
        }
        inside(j, x)
    })
}

/// Whether some value is in both.
pub fn overlaps<T: Copy + Ord>(a: &[(T, T)], b: &[(T, T)], work: &mut u32) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.len() <= SMALL {
        charge(work, small.len());
        return small.iter().any(|&(lo, hi)| {
            let j = large.partition_point(|x| x.1 < lo);
            j < large.len() && large[j].0 <= hi
        });
    }
    charge(work, a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].1 < b[j].0 {
            i += 1;
        } else if b[j].1 < a[i].0 {
            j += 1;
        } else {
            return true;
        }
    }
    false
}

/// A value set's intervals: one inline (most sets a rule makes are one interval: a
/// prefix, a port range, a protocol), so boxes are copied without allocating.
type Ivs = SmallVec<[Iv; 1]>;

/// A set of `u128` values; see the module docs for the invariant.
#[derive(Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueSet(Ivs);

impl Clone for ValueSet {
    /// A copy of the intervals as one block (the derived clone copies them one by one
    /// through an iterator, and boxes are cloned at every split).
    fn clone(&self) -> ValueSet {
        ValueSet(Ivs::from_slice(&self.0))
    }
}

impl ValueSet {
    pub fn empty() -> ValueSet {
        ValueSet(Ivs::new())
    }

    /// `0..=max`.
    pub fn full(max: u128) -> ValueSet {
        ValueSet(smallvec![(0, max)])
    }

    pub fn single(v: u128) -> ValueSet {
        ValueSet(smallvec![(v, v)])
    }

    /// `lo..=hi` (empty when `lo > hi`).
    pub fn range(lo: u128, hi: u128) -> ValueSet {
        ValueSet(if lo <= hi {
            smallvec![(lo, hi)]
        } else {
            Ivs::new()
        })
    }

    /// The union of any intervals (empty ones, `lo > hi`, are dropped).
    pub fn from_intervals(ivs: impl IntoIterator<Item = Iv>) -> ValueSet {
        let ivs = ivs.into_iter();
        // Sized once: a million set prefixes are not copied from one growth to the next.
        let mut out = Ivs::with_capacity(ivs.size_hint().0);
        let mut ivs = ivs.filter(|x| x.0 <= x.1);
        // Often given sorted (a set's prefixes are kept in address order): merged as
        // they come, without a list of a million intervals to sort first.
        while let Some((lo, hi)) = ivs.next() {
            match out.last_mut() {
                Some(last) if lo < last.0 => {
                    // Out of order: the union so far, this one and the rest, sorted.
                    let mut list: Vec<Iv> = out.into_iter().chain([(lo, hi)]).chain(ivs).collect();
                    list.sort_unstable();
                    return ValueSet(merged(list));
                }
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        if out.len() < out.capacity() / 2 {
            out.shrink_to_fit();
        }
        ValueSet(out)
    }

    /// The intervals, taken out of the set (not copied).
    pub fn into_intervals(self) -> Vec<Iv> {
        self.0.into_vec()
    }

    /// The values of `0..=max` whose bits under `mask` are `value` (TCP flags: `syn
    /// !ack` is mask `0x12`, value `0x02`). For small domains (it walks every value):
    /// `max` is at most `u16::MAX`.
    pub fn masked(mask: u128, value: u128, max: u128) -> ValueSet {
        assert!(
            max <= u128::from(u16::MAX),
            "masked sets are for small domains"
        );
        ValueSet::from_intervals((0..=max).filter(|v| v & mask == value).map(|v| (v, v)))
    }

    pub fn intervals(&self) -> &[Iv] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the set is all of `0..=max`.
    pub fn is_full(&self, max: u128) -> bool {
        self.0[..] == [(0, max)]
    }

    pub fn contains(&self, v: u128) -> bool {
        contains(&self.0, v)
    }

    /// The lowest value.
    pub fn lowest(&self) -> Option<u128> {
        self.0.first().map(|x| x.0)
    }

    pub fn covers(&self, other: &ValueSet, work: &mut u32) -> bool {
        covers(&self.0, &other.0, work)
    }

    pub fn overlaps(&self, other: &ValueSet, work: &mut u32) -> bool {
        overlaps(&self.0, &other.0, work)
    }

    pub fn intersect(&self, other: &ValueSet, work: &mut u32) -> ValueSet {
        let (a, b) = (&self.0, &other.0);
        charge(work, a.len() + b.len());
        let mut out = Ivs::new();
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let lo = a[i].0.max(b[j].0);
            let hi = a[i].1.min(b[j].1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a[i].1 < b[j].1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        ValueSet(out)
    }

    /// The values of `self` not in `other`.
    pub fn subtract(&self, other: &ValueSet, work: &mut u32) -> ValueSet {
        let b = &other.0;
        charge(work, self.0.len() + b.len());
        let mut out = Ivs::new();
        let mut j = 0;
        for &(lo, hi) in &self.0 {
            while j < b.len() && b[j].1 < lo {
                j += 1;
            }
            // `cur..=hi` is what is left of this interval; `b[k]` may cut it.
            let mut cur = Some(lo);
            let mut k = j;
            while let Some(c) = cur {
                if k >= b.len() || b[k].0 > hi {
                    out.push((c, hi));
                    break;
                }
                if b[k].0 > c {
                    out.push((c, b[k].0 - 1));
                }
                cur = b[k].1.checked_add(1).filter(|&n| n <= hi);
                k += 1;
            }
        }
        ValueSet(out)
    }

    /// The values of either: one merge walk over both lists (the walk joins boxes
    /// with this at every queue join).
    pub fn union(&self, other: &ValueSet, work: &mut u32) -> ValueSet {
        let (a, b) = (&self.0, &other.0);
        charge(work, a.len() + b.len());
        let mut out = Ivs::new();
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let next = if j == b.len() || (i < a.len() && a[i].0 <= b[j].0) {
                i += 1;
                a[i - 1]
            } else {
                j += 1;
                b[j - 1]
            };
            match out.last_mut() {
                Some(last) if next.0 <= last.1.saturating_add(1) => last.1 = last.1.max(next.1),
                _ => out.push(next),
            }
        }
        ValueSet(out)
    }
}

/// Sorted intervals merged where they overlap or touch.
fn merged(list: Vec<Iv>) -> Ivs {
    let mut out = Ivs::with_capacity(list.len());
    for (lo, hi) in list {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ivs: &[Iv]) -> ValueSet {
        ValueSet::from_intervals(ivs.iter().copied())
    }

    #[test]
    fn normalizes_to_disjoint_non_adjacent_intervals() {
        assert_eq!(
            set(&[(5, 9), (1, 2), (3, 3), (8, 12)]).intervals(),
            [(1, 3), (5, 12)]
        );
        assert_eq!(set(&[(4, 4), (1, 3)]).intervals(), [(1, 4)]);
        assert_eq!(set(&[(5, 4)]), ValueSet::empty());
        assert_eq!(set(&[(0, u128::MAX), (7, 7)]).intervals(), [(0, u128::MAX)]);
    }

    proptest::proptest! {
        /// Merged as they come or sorted first, the union is the one of the list
        /// sorted and merged.
        #[test]
        fn the_union_does_not_depend_on_the_order_given(
            ivs in proptest::collection::vec((0u128..64, 0u128..6), 0..24),
            sort in proptest::bool::ANY,
        ) {
            let mut ivs: Vec<Iv> = ivs.into_iter().map(|(lo, n)| (lo, lo + n)).collect();
            if sort {
                ivs.sort_unstable();
            }
            let mut sorted = ivs.clone();
            sorted.sort_unstable();
            let expected: Vec<u128> = (0..80).filter(|v| sorted.iter().any(|iv| iv.0 <= *v && *v <= iv.1)).collect();
            let got = set(&ivs);
            proptest::prop_assert_eq!(got.intervals(), &merged(sorted)[..]);
            let members: Vec<u128> = (0..80).filter(|v| got.contains(*v)).collect();
            proptest::prop_assert_eq!(members, expected);
        }
    }

    proptest::proptest! {
        /// The union of two sets holds the values of either, as one normalized list.
        #[test]
        fn the_union_holds_the_values_of_either(
            a in proptest::collection::vec((0u128..64, 0u128..6), 0..8),
            b in proptest::collection::vec((0u128..64, 0u128..6), 0..8),
        ) {
            let to_set = |ivs: Vec<(u128, u128)>| set(&ivs.into_iter().map(|(lo, n)| (lo, lo + n)).collect::<Vec<_>>());
            let (a, b) = (to_set(a), to_set(b));
            let got = a.union(&b, &mut 0);
            let both: Vec<Iv> = a.intervals().iter().chain(b.intervals()).copied().collect();
            proptest::prop_assert_eq!(&got, &set(&both));
            proptest::prop_assert!((0..80).all(|v| got.contains(v) == (a.contains(v) || b.contains(v))));
        }
    }

    #[test]
    fn subtraction_cuts_at_both_ends_and_inside() {
        let w = &mut 0;
        let a = set(&[(0, 10), (20, 30)]);
        let b = set(&[(0, 2), (5, 6), (10, 21), (30, 40)]);
        assert_eq!(a.subtract(&b, w).intervals(), [(3, 4), (7, 9), (22, 29)]);
        let full = ValueSet::full(u128::MAX);
        assert_eq!(
            full.subtract(&ValueSet::single(u128::MAX), w).intervals(),
            [(0, u128::MAX - 1)]
        );
        assert!(full.subtract(&full, w).is_empty());
    }

    #[test]
    fn masks_become_intervals() {
        // syn !ack: bit 1 set, bit 4 clear.
        let s = ValueSet::masked(0x12, 0x02, 255);
        assert!((0..=255u128).all(|v| s.contains(v) == (v & 0x12 == 0x02)));
        assert_eq!(s.lowest(), Some(2));
        assert!(ValueSet::masked(0, 0, 255).is_full(255));
        assert!(ValueSet::masked(0x01, 0x02, 255).is_empty());
    }

    #[test]
    fn comparisons_charge_what_they_walk() {
        let a: Vec<Iv> = (0..10).map(|i| (i * 10, i * 10 + 5)).collect();
        let mut w = 0;
        assert!(covers(&a, &[(10, 12)], &mut w));
        assert_eq!(w, 1);
        assert!(!overlaps(
            &a,
            &a[..6]
                .iter()
                .map(|x| (x.1 + 1, x.1 + 2))
                .collect::<Vec<_>>(),
            &mut w
        ));
        assert_eq!(w, 1 + 16);
    }
}
