//! An index of items (boxes, or the walk's steps) by their bounds on the dimensions
//! that mostly tell rules apart, addresses and ports ([`BoundsIndex`]): for a query's
//! bounds, the items whose bounds meet them, without looking at the others. The
//! candidate union asks it which boxes a new box may meet, and the walk which steps
//! may decide a box, where both used to look at every box or step: a change that moves
//! the regions of thousands of rules cost their square.
//!
//! Per dimension, the items are kept by (width class, lowest value, item): an item of
//! class `L` spans less than `2^L` values, so it meets the query's `[lo, hi]` only if
//! its lowest value lies in `(lo - 2^L, hi]`, one range of an ordered set per class
//! present. A query reads the one dimension where it expects the fewest items (from
//! the count of each class), and tests the items found there on every dimension.
//!
//! Invariant: [`BoundsIndex::meeting`] yields, ascending, exactly the items whose
//! bounds meet the query's on every indexed dimension (or nothing, when it would read
//! more than it was allowed: then the caller looks the other way). The answer
//! depends only on the items and the query, and so does the work it counts.

use std::collections::BTreeSet;

use crate::space::{Dim, HeaderBox};

/// The dimensions indexed: most rules differ from each other on these.
pub(super) const INDEXED: [Dim; 6] = [
    Dim::Src4,
    Dim::Dst4,
    Dim::Src6,
    Dim::Dst6,
    Dim::Sport,
    Dim::Dport,
];

/// An item's lowest and highest value on each of [`INDEXED`] (`(1, 0)` for an empty
/// dimension, which meets nothing).
pub(super) type Key = [(u128, u128); INDEXED.len()];

/// The [`Key`] of a box.
pub(super) fn key(b: &HeaderBox) -> Key {
    INDEXED.map(|d| {
        let iv = b.get(d).intervals();
        (iv.first().map_or(1, |i| i.0), iv.last().map_or(0, |i| i.1))
    })
}

/// Whether two keys meet on every dimension.
pub(super) fn meet(a: &Key, b: &Key) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| x.0 <= x.1 && y.0 <= y.1 && x.0 <= y.1 && y.0 <= x.1)
}

/// The width classes: `hi - lo` below `2^L` is class `L`, 0 to 128.
const CLASSES: usize = 129;

fn class(lo: u128, hi: u128) -> u8 {
    (128 - (hi - lo).leading_zeros()) as u8
}

/// Items by their keys (see the module docs); items are numbered in the order they
/// are added.
#[derive(Default)]
pub(super) struct BoundsIndex {
    keys: Vec<Key>,
    /// Per indexed dimension: (class, lowest value, item) of the items that do not
    /// span the whole dimension.
    by_dim: [BTreeSet<(u8, u128, u32)>; INDEXED.len()],
    /// Per indexed dimension, the items that span it whole, ascending (most rules
    /// leave most of these dimensions whole: no ordered set for them).
    whole: [Vec<u32>; INDEXED.len()],
    /// Per indexed dimension, how many items each class holds, whole ones too.
    counts: Vec<[u32; CLASSES]>,
    /// Per indexed dimension, the classes that hold an item, ascending (a query reads
    /// only those: rules' widths are few).
    classes: [Vec<u8>; INDEXED.len()],
}

impl BoundsIndex {
    /// Adds an item with `key`; items are numbered from 0 in the order they come.
    pub(super) fn add(&mut self, key: Key) {
        if self.counts.is_empty() {
            self.counts = vec![[0; CLASSES]; INDEXED.len()];
        }
        let item = self.keys.len() as u32;
        // An empty dimension meets nothing: such an item is found by no query.
        if key.iter().all(|&(lo, hi)| lo <= hi) {
            for (d, &(lo, hi)) in key.iter().enumerate() {
                let c = class(lo, hi);
                if (lo, hi) == (0, INDEXED[d].max_value()) {
                    self.whole[d].push(item);
                } else {
                    self.by_dim[d].insert((c, lo, item));
                }
                self.counts[d][usize::from(c)] += 1;
                if let Err(at) = self.classes[d].binary_search(&c) {
                    self.classes[d].insert(at, c);
                }
            }
        }
        self.keys.push(key);
    }

    /// The items whose keys meet `q` on every dimension, ascending; `None` when that
    /// takes reading more than `max` items. Each item read, and each class present
    /// (looked at to choose the dimension), counts one to `work`.
    pub(super) fn meeting(&self, q: &Key, max: usize, work: &mut u64) -> Option<Vec<u32>> {
        if self.keys.is_empty() || q.iter().any(|&(lo, hi)| lo > hi) {
            return Some(Vec::new());
        }
        // Choosing the dimension reads each class once.
        *work += self.classes.iter().map(|c| c.len() as u64).sum::<u64>();
        let d = self.narrowest(q);
        let (qlo, qhi) = q[d];
        let mut out = Vec::new();
        let mut read = 0usize;
        let narrow = self.classes[d].iter().flat_map(|&c| {
            let span = if c == 128 {
                u128::MAX
            } else {
                (1u128 << c) - 1
            };
            let from = (c, qlo.saturating_sub(span), 0);
            self.by_dim[d].range(from..=(c, qhi, u32::MAX)).map(|e| e.2)
        });
        for item in self.whole[d].iter().copied().chain(narrow) {
            read += 1;
            if read > max {
                *work += max as u64;
                return None;
            }
            if meet(&self.keys[item as usize], q) {
                out.push(item);
            }
        }
        *work += read as u64;
        out.sort_unstable();
        Some(out)
    }

    /// The dimension on which a query with `q` expects to read the fewest items: per
    /// class, its count times the share of the domain its range of lowest values
    /// spans (as if they were spread evenly).
    fn narrowest(&self, q: &Key) -> usize {
        let expect = |d: usize| {
            let (lo, hi) = q[d];
            let domain = INDEXED[d].max_value() as f64 + 1.0;
            self.classes[d]
                .iter()
                .map(|&c| {
                    let span = (hi - lo) as f64 + 2f64.powi(i32::from(c));
                    f64::from(self.counts[d][usize::from(c)]) * (span / domain).min(1.0)
                })
                .sum::<f64>()
        };
        (0..INDEXED.len())
            .map(|d| (d, expect(d)))
            .fold(
                (0, f64::INFINITY),
                |best, (d, e)| {
                    if e < best.1 {
                        (d, e)
                    } else {
                        best
                    }
                },
            )
            .0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockc_testkit::rng::Rng;

    fn key_of(ranges: &[(usize, u128, u128)]) -> Key {
        let mut k: Key = std::array::from_fn(|d| (0, INDEXED[d].max_value()));
        for &(d, lo, hi) in ranges {
            k[d] = (lo, hi);
        }
        k
    }

    #[test]
    fn finds_exactly_the_items_that_meet_in_every_dimension() {
        let mut rng = Rng::seeded(7);
        let mut index = BoundsIndex::default();
        let mut keys = Vec::new();
        let random = |rng: &mut Rng| {
            let d = rng.below(INDEXED.len());
            let e = rng.below(INDEXED.len());
            let r = |rng: &mut Rng, d: usize| {
                let max = INDEXED[d].max_value().min(1 << 20) as usize;
                let lo = rng.below(max) as u128;
                let bits = rng.below(20);
                let w = rng.below(1 << bits) as u128;
                (d, lo, (lo + w).min(INDEXED[d].max_value()))
            };
            key_of(&[r(rng, d), r(rng, e)])
        };
        for _ in 0..500 {
            let k = random(&mut rng);
            index.add(k);
            keys.push(k);
        }
        for _ in 0..200 {
            let q = random(&mut rng);
            let want: Vec<u32> = (0..keys.len() as u32)
                .filter(|&i| meet(&keys[i as usize], &q))
                .collect();
            assert_eq!(index.meeting(&q, usize::MAX, &mut 0), Some(want));
        }
    }

    #[test]
    fn a_query_that_would_read_too_much_says_so_and_empty_keys_meet_nothing() {
        let mut index = BoundsIndex::default();
        for p in 0..100 {
            index.add(key_of(&[(5, p, p)]));
        }
        index.add(key_of(&[(5, 1, 0)]));
        let all = key_of(&[]);
        assert_eq!(index.meeting(&all, 10, &mut 0), None);
        assert_eq!(index.meeting(&all, 1000, &mut 0).unwrap().len(), 100);
        let mut work = 0;
        let one = index.meeting(&key_of(&[(5, 42, 42)]), 1000, &mut work);
        assert_eq!(one, Some(vec![42]));
        assert!(work < 10, "{work}");
    }
}
