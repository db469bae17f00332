//! The `limit` buckets of a block pair, numbered for [`Dim::Over`](crate::space::Dim):
//! whether a packet has room in a bucket depends on the traffic before it, which the
//! diff cannot know, so each bucket is a yes/no variable and the diff answers for
//! every state of the buckets at once.
//!
//! A bucket is what makes it ([`BucketKey`]: rate, burst, unit, bytes or packets, per
//! source or not) and, when one block has several rules with that key, which of them
//! (the `n`-th, [`ordinals`]): each rule has a bucket of its own in the kernel. OLD's
//! and NEW's `n`-th rule with one key share the variable, so a rule whose limit is
//! unchanged is the same region on both sides (and is paired), while a changed rate is
//! another variable: the packets whose verdict depends on it change.
//!
//! Invariant: bucket `i` is bit [`over::bit`]`(i)` of [`Dim::Over`]; [`Buckets::named`]
//! names it as `sockc test` reads it (`over-limit:SPEC`, with `#n` when a block of
//! either side has more than one rule with its key), so an example is confirmed by the
//! same text on both files.

use std::collections::BTreeMap;

use crate::{
    ir::{Program, RuleLimit},
    space::{limit_box, over, HeaderBox, Point},
    syntax::limit_fact::{ordinals, BucketKey, OverLimit},
};

/// The buckets of a block pair, in key order.
pub(super) struct Buckets {
    /// (key, ordinal) → its bucket number.
    slots: BTreeMap<(BucketKey, u32), usize>,
    /// Bucket number → its name.
    names: Vec<OverLimit>,
}

fn key(l: &RuleLimit) -> BucketKey {
    BucketKey::new(l.bucket, l.limit.per_source)
}

/// The key and ordinal of each rule of `p` (`None` without a limit).
pub(super) fn rule_buckets(p: &Program) -> Vec<Option<(BucketKey, u32)>> {
    let keys: Vec<Option<BucketKey>> = p
        .rules
        .iter()
        .map(|r| r.m.limit().map(|l| key(&l)))
        .collect();
    keys.iter()
        .zip(ordinals(keys.iter().copied()))
        .map(|(k, n)| k.map(|k| (k, n)))
        .collect()
}

impl Buckets {
    /// The buckets of `old` and `new`; `Err(n)` when there are more than the
    /// [`over::BUCKETS`] the dimension tells apart.
    pub(super) fn of(old: Option<&Program>, new: Option<&Program>) -> Result<Buckets, usize> {
        let mut written = BTreeMap::new();
        for p in [old, new].into_iter().flatten() {
            for (r, b) in p.rules.iter().zip(rule_buckets(p)) {
                if let (Some(b), Some(l)) = (b, r.m.limit()) {
                    written.entry(b).or_insert(l.limit);
                }
            }
        }
        if written.len() > over::BUCKETS {
            return Err(written.len());
        }
        let several = |k: BucketKey| written.keys().any(|&(o, n)| o == k && n > 1);
        let names = written
            .iter()
            .map(|(&(k, n), &w)| {
                let w = crate::syntax::limit::Limit { over: false, ..w };
                OverLimit::new(w, several(k).then_some(n)).expect("a rule's limit is a bucket")
            })
            .collect();
        let slots = written.keys().enumerate().map(|(i, &b)| (b, i)).collect();
        Ok(Buckets { slots, names })
    }

    /// What a rule's limit adds to its region (`None` when the bucket has no number:
    /// the table was not made, [`Buckets::of`] having found too many).
    pub(super) fn rule_box(&self, l: &RuleLimit, b: (BucketKey, u32)) -> Option<HeaderBox> {
        Some(limit_box(*self.slots.get(&b)?, l.limit.over))
    }

    /// The buckets with no room at point `p`, named as `sockc test` takes them.
    pub(super) fn named(&self, p: &Point) -> Vec<OverLimit> {
        let v = p[crate::space::Dim::Over];
        self.names
            .iter()
            .enumerate()
            .filter(|(i, _)| v & over::bit(*i) != 0)
            .map(|(_, n)| *n)
            .collect()
    }

    /// Every bucket's name, by number.
    pub(super) fn names(&self) -> &[OverLimit] {
        &self.names
    }
}
