//! The steps still ahead of a box the walk has not finished with: the ascending list of
//! steps (indices into the walk's merged order) that may decide it, shared between the
//! parts of a split box and filtered only as far as the walk reads it.
//!
//! A part of a box meets only steps its parent met, so its list is the rest of the
//! parent's, less the steps that cannot decide the part (they belong only to sides it
//! is decided at, or their hull misses its bounds). Copying and filtering the whole
//! rest for every part was most of the walk's time, while a part mostly reads the
//! first few steps of its list before it is split again. So the parts of a box share
//! its list (an `Rc` slice) from the position after the step that split it, together
//! with the dimensions on which they may be narrower than the box the list was
//! filtered for (`unchecked`); an entry is tested against a part (by the caller's
//! `may_decide`, built from the part's box, label and `unchecked`) only when the walk
//! reaches it. A list that is mostly other boxes' steps is copied, filtered, once
//! ([`SKIPS_BEFORE_COPY`]), so a narrow part does not pass over them again and again.
//!
//! Invariant: the steps an [`Ahead`] yields (its first entry, then each later entry
//! `may_decide` accepts) are exactly those of the list filtered eagerly, generation by
//! generation, on the dimensions each split changed: a part lies inside its parent and
//! equals it off the dimensions the split changed, so a step that met every ancestor's
//! bounds on the dimensions tested then meets the part's there, and testing all the
//! unchecked dimensions at once keeps the same steps. The first entry of an `Ahead`
//! has passed that test, so the queue orders boxes by it as by the head of a copied
//! list.

use std::rc::Rc;

/// More entries than this passed over before the first step that may decide a box: the
/// shared list is mostly other boxes' steps, so the rest is copied, filtered, for this
/// box and its parts.
const SKIPS_BEFORE_COPY: usize = 16;

/// A list of steps not yet tested against its box past `start` (after a split).
#[derive(Clone, Debug)]
pub(super) struct Rest {
    list: Rc<[u32]>,
    start: usize,
    unchecked: u32,
}

/// A box's steps ahead, never empty: the first entry may decide the box.
#[derive(Clone, Debug)]
pub(super) struct Ahead {
    list: Rc<[u32]>,
    /// The position of the first step ahead; it has passed `may_decide`.
    start: usize,
    unchecked: u32,
}

impl Rest {
    /// Steps `0..n`, none tested yet on the dimensions of `unchecked` (as bits).
    pub(super) fn every(n: u32, unchecked: u32) -> Rest {
        Rest {
            list: (0..n).collect(),
            start: 0,
            unchecked,
        }
    }

    /// The dimensions (as bits) on which entries past the start are still to be
    /// tested.
    pub(super) fn unchecked(&self) -> u32 {
        self.unchecked
    }

    /// How many entries the list has from its start on.
    pub(super) fn left(&self) -> usize {
        self.list.len() - self.start
    }

    /// The same list for a part that may also be narrower on the dimensions of `cuts`.
    pub(super) fn narrowed(mut self, cuts: u32) -> Rest {
        self.unchecked |= cuts;
        self
    }

    /// The steps ahead from the first entry `may_decide` accepts; `None` when it
    /// accepts none (the box's undecided sides go to the defaults). `skip_to(s)` is
    /// `s`, or a later step number such that `may_decide` accepts no step from `s` up
    /// to it (those entries are passed over untested).
    #[cfg(test)]
    pub(super) fn settle(
        self,
        may_decide: impl Fn(u32) -> bool,
        skip_to: impl Fn(u32) -> u32,
    ) -> Option<Ahead> {
        self.settle_or_ask(may_decide, skip_to, |_, _| None)
    }

    /// [`Rest::settle`], where a list whose first [`SKIPS_BEFORE_COPY`] entries hold
    /// no step for the box is replaced by `ask(s, n)`: the ascending steps from `s` on
    /// that may decide the box (a superset of the list's entries there that
    /// `may_decide` accepts, which the walk's exact test then sorts out), or `None`
    /// when that costs more than the `n` entries left (the list is then copied,
    /// filtered). A narrow part of a box split early would otherwise read the rest of
    /// its parent's list, which at thousands of rules that all meet the parent is the
    /// square of their number.
    pub(super) fn settle_or_ask(
        self,
        may_decide: impl Fn(u32) -> bool,
        skip_to: impl Fn(u32) -> u32,
        ask: impl FnOnce(u32, usize) -> Option<Vec<u32>>,
    ) -> Option<Ahead> {
        let list = Rc::clone(&self.list);
        let near = (self.start + SKIPS_BEFORE_COPY + 1).min(list.len());
        if let Some(head) = accepted(&list[..near], self.start, &may_decide, &skip_to).next() {
            return Some(Ahead {
                list: self.list,
                start: head,
                unchecked: self.unchecked,
            });
        }
        let left = list.get(near..).filter(|l| !l.is_empty())?;
        let own: Rc<[u32]> = match ask(left[0], left.len()) {
            Some(steps) => steps.into(),
            None => accepted(&list, near, may_decide, skip_to)
                .map(|i| list[i])
                .collect(),
        };
        (!own.is_empty()).then(|| Ahead::exactly(own))
    }
}

/// The positions, from `start` on, of the entries of `list` that `may_decide` accepts
/// (see [`Rest::settle`] for `skip_to`).
fn accepted<'a>(
    list: &'a [u32],
    start: usize,
    may_decide: impl Fn(u32) -> bool + 'a,
    skip_to: impl Fn(u32) -> u32 + 'a,
) -> impl Iterator<Item = usize> + 'a {
    let mut i = start;
    std::iter::from_fn(move || {
        while let Some(&s) = list.get(i) {
            let to = skip_to(s);
            if to > s {
                i += list[i..].partition_point(|&t| t < to);
                continue;
            }
            i += 1;
            if may_decide(s) {
                return Some(i - 1);
            }
        }
        None
    })
}

impl Ahead {
    /// `list` as it is: ascending, not empty, every entry already tested.
    fn exactly(list: Rc<[u32]>) -> Ahead {
        debug_assert!(!list.is_empty() && list.is_sorted());
        Ahead {
            list,
            start: 0,
            unchecked: 0,
        }
    }

    /// The steps of an ascending, non-empty list, all of which may decide the box (for
    /// the queue's tests).
    #[cfg(test)]
    pub(super) fn of(list: &[u32]) -> Ahead {
        Ahead::exactly(list.into())
    }

    /// The first step ahead.
    pub(super) fn first(&self) -> u32 {
        self.list[self.start]
    }

    /// See [`Rest::unchecked`].
    pub(super) fn unchecked(&self) -> u32 {
        self.unchecked
    }

    /// The steps ahead, in order (`may_decide` as the box's, see the module docs).
    pub(super) fn iter<'a>(
        &'a self,
        may_decide: impl Fn(u32) -> bool + 'a,
    ) -> impl Iterator<Item = u32> + 'a {
        let later = self.list[self.start + 1..].iter().copied();
        std::iter::once(self.first()).chain(later.filter(move |&s| may_decide(s)))
    }

    /// The first step ahead that `hits`, and the list after it.
    pub(super) fn find(
        &self,
        may_decide: impl Fn(u32) -> bool,
        mut hits: impl FnMut(u32) -> bool,
    ) -> Option<(u32, Rest)> {
        let at = (self.start..self.list.len()).find(|&i| {
            let s = self.list[i];
            (i == self.start || may_decide(s)) && hits(s)
        })?;
        let rest = Rest {
            list: Rc::clone(&self.list),
            start: at + 1,
            unchecked: self.unchecked,
        };
        Some((self.list[at], rest))
    }

    /// The steps ahead of either of two boxes (their sorted union), for the box the two
    /// are joined into.
    pub(super) fn joined(
        a: &Ahead,
        may_decide_a: impl Fn(u32) -> bool,
        b: &Ahead,
        may_decide_b: impl Fn(u32) -> bool,
    ) -> Ahead {
        // Room for both lists whole, so the list does not grow step by step.
        let room = |x: &Ahead| x.list.len() - x.start;
        let mut out = Vec::with_capacity(room(a) + room(b));
        let (mut a, mut b) = (
            a.iter(may_decide_a).peekable(),
            b.iter(may_decide_b).peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&x), Some(&y)) if x < y => a.next(),
                (Some(&x), Some(&y)) if y < x => b.next(),
                (Some(_), Some(_)) => {
                    b.next();
                    a.next()
                }
                (Some(_), None) => a.next(),
                (None, _) => b.next(),
            };
            match next {
                Some(s) => out.push(s),
                None => return Ahead::exactly(out.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(a: &Ahead, may_decide: impl Fn(u32) -> bool) -> Vec<u32> {
        a.iter(may_decide).collect()
    }

    #[test]
    fn settle_starts_at_the_first_accepted_step_and_filters_lazily() {
        let even = |s: u32| s.is_multiple_of(2);
        let a = Rest::every(10, 1)
            .settle(|s| s > 2 && even(s), |s| s)
            .unwrap();
        assert_eq!(a.first(), 4);
        assert_eq!(all(&a, |s| s > 2 && even(s)), [4, 6, 8]);
        assert!(Rest::every(10, 1).settle(|s| s > 9, |s| s).is_none());
    }

    #[test]
    fn find_gives_the_first_hit_and_the_list_after_it_for_the_parts() {
        let a = Rest::every(10, 0).settle(|_| true, |s| s).unwrap();
        let (hit, rest) = a.find(|s| s != 5, |s| s >= 4).unwrap();
        assert_eq!(hit, 4);
        let rest = rest.narrowed(0b100);
        assert_eq!(rest.unchecked(), 0b100);
        let part = rest.settle(|s| s != 5, |s| s).unwrap();
        assert_eq!(all(&part, |s| s != 5), [6, 7, 8, 9]);
        assert!(a.find(|_| true, |s| s > 9).is_none());
    }

    #[test]
    fn a_list_mostly_of_other_steps_is_copied_filtered() {
        let rare = |s: u32| s.is_multiple_of(50) && s > 0;
        let a = Rest::every(1000, 1).settle(rare, |s| s).unwrap();
        assert_eq!(a.first(), 50);
        // Copied: entries past the start are no longer tested.
        assert_eq!(a.unchecked(), 0);
        assert_eq!(all(&a, |_| true).len(), 19);
        // Near its start: shared, still tested.
        let b = Rest::every(1000, 1).settle(|s| s > 3, |s| s).unwrap();
        assert_eq!((b.first(), b.unchecked()), (4, 1));
    }

    #[test]
    fn joined_lists_are_the_sorted_union_of_what_each_box_accepts() {
        let a = Rest::every(20, 1)
            .settle(|s| s.is_multiple_of(3), |s| s)
            .unwrap();
        let b = Rest::every(20, 1)
            .settle(|s| s.is_multiple_of(4), |s| s)
            .unwrap();
        let j = Ahead::joined(&a, |s| s.is_multiple_of(3), &b, |s| s.is_multiple_of(4));
        let want: Vec<u32> = (0..20)
            .filter(|s: &u32| s.is_multiple_of(3) || s.is_multiple_of(4))
            .collect();
        assert_eq!(all(&j, |_| true), want);
    }

    /// Lazily narrowing a shared list gives, generation by generation, what filtering
    /// a copy each time gave (the module's invariant), for nested intervals of steps.
    #[test]
    fn lazy_lists_agree_with_eager_filtering() {
        // Step s "meets" a box [lo, hi] when s % 97 lies in it; each part narrows it.
        let meets = |lo: u32, hi: u32| move |s: u32| (lo..=hi).contains(&(s % 97));
        let mut eager: Vec<u32> = (0..500).collect();
        let mut rest = Rest::every(500, 1);
        let (mut lo, mut hi) = (0, 96);
        for round in 0..12 {
            (lo, hi) = if round % 2 == 0 {
                (lo + 3, hi)
            } else {
                (lo, hi - 5)
            };
            eager.retain(|&s| meets(lo, hi)(s));
            let Some(a) = rest.settle(meets(lo, hi), |s| s) else {
                assert!(eager.is_empty());
                return;
            };
            assert_eq!(all(&a, meets(lo, hi)), eager);
            let Some((hit, after)) = a.find(meets(lo, hi), |s| s.is_multiple_of(7)) else {
                break;
            };
            eager.retain(|&s| s > hit);
            rest = after.narrowed(1);
        }
    }
}
