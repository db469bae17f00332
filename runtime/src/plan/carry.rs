//! The counters a re-apply carries: the slots of the rules two versions of a program
//! share, aligned by their texts as rule ids compare them
//! ([`crate::rule_id::comparable_text`]: turning `log` on or off keeps the counters).
//!
//! The texts equal as written at both ends (a re-apply's common head and tail, all but
//! the rules that changed) are found in place first, by one pass of comparisons, and
//! handed to the alignment as compared (`align::diff_ops_around`). When what is left
//! between them is small ([`IN_PLACE_MIDDLE`]), the rule entries themselves are the
//! alignment's keys ([`InPlace`]), their comparable forms made at each comparison:
//! a re-apply that changed a few of 100,000 rules makes no list of keys (two lists of
//! 40-byte keys, 8 MB of fresh pages, were most of its counter carry). A larger
//! middle is aligned on keys that make each form once ([`Comparable`]), as Myers
//! compares a key many times.
//!
//! Invariant: both kinds of key are equal, and hashed, exactly as the comparable texts
//! are, and the pairs handed over as compared are equal as written (so equal as
//! comparable texts): the carry is the one of those texts' alignment, whichever keys
//! made it.

use std::{borrow::Cow, hash::Hash};

use similar::DiffTag;
use sockc_compiler::{
    align::{diff_ops_around, DiffOp, Ends},
    metadata::RuleMeta,
};

use super::{CounterCarry, ProgramSnapshot};

/// Up to this many rules between the texts equal at both ends (both sides together)
/// are aligned in place ([`InPlace`]): Myers' comparisons there, at most the square of
/// the middle, each make two comparable forms afresh (a scan of each text).
pub(super) const IN_PLACE_MIDDLE: usize = 128;

/// Counter slots of the rules two versions of a program share, aligned by text.
pub(super) fn carry_counters(old: &ProgramSnapshot, new: &ProgramSnapshot) -> Vec<CounterCarry> {
    let ops = carry_ops(&old.rules, &new.rules);
    let symbol: std::sync::Arc<str> = new.symbol.as_str().into();
    let equal = || ops.iter().filter(|op| op.tag() == DiffTag::Equal);
    // Sized once: 100,000 entries are not grown into (copied at every doubling).
    let mut carry = Vec::with_capacity(equal().map(|op| op.new_range().len()).sum());
    carry.extend(
        equal()
            .flat_map(|op| op.old_range().zip(op.new_range()))
            .map(|(i, j)| CounterCarry {
                symbol: symbol.clone(),
                old_slot: old.rules[i].counter,
                new_slot: new.rules[j].counter,
            }),
    );
    carry
}

/// The alignment of two rule listings by comparable text: the ends equal as written
/// found first, the middle's keys chosen by its size.
pub(super) fn carry_ops(old: &[RuleMeta], new: &[RuleMeta]) -> Vec<DiffOp> {
    let ends = ends_equal_as_written(old, new);
    let middle = (old.len() + new.len()) - 2 * (ends.head + ends.tail);
    if middle <= IN_PLACE_MIDDLE {
        return diff_ops_around(InPlace::slice(old), InPlace::slice(new), ends);
    }
    diff_ops_around(&Comparable::all(old), &Comparable::all(new), ends)
}

/// The rules equal as written at the head of both listings, and at their tail before
/// the head (the two never overlap).
fn ends_equal_as_written(old: &[RuleMeta], new: &[RuleMeta]) -> Ends {
    let head = old
        .iter()
        .zip(new)
        .take_while(|(a, b)| a.text == b.text)
        .count();
    let tail = old[head..]
        .iter()
        .rev()
        .zip(new[head..].iter().rev())
        .take_while(|(a, b)| a.text == b.text)
        .count();
    Ends { head, tail }
}

/// A rule entry as the counter carry compares it, its comparable form made at each
/// comparison or hash (none for two texts equal as written).
#[repr(transparent)]
struct InPlace(RuleMeta);

impl InPlace {
    fn slice(rules: &[RuleMeta]) -> &[InPlace] {
        // SAFETY: `InPlace` is `repr(transparent)` over `RuleMeta`: the same size,
        // alignment and layout, so a slice of one is a slice of the other, with the
        // same length and lifetime.
        unsafe { &*(rules as *const [RuleMeta] as *const [InPlace]) }
    }
}

impl PartialEq for InPlace {
    fn eq(&self, other: &Self) -> bool {
        self.0.text == other.0.text
            || crate::rule_id::comparable_text(&self.0.text)
                == crate::rule_id::comparable_text(&other.0.text)
    }
}

impl Eq for InPlace {}

impl Hash for InPlace {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `Comparable` hashes: the comparable text's `str`.
        crate::rule_id::comparable_text(&self.0.text)
            .as_ref()
            .hash(state);
    }
}

/// A rule's text as the counter carry compares it, that form made only when it is
/// asked for, at most once. Two texts equal as written are equal without it.
struct Comparable<'a> {
    text: &'a str,
    form: std::cell::OnceCell<Cow<'a, str>>,
}

impl<'a> Comparable<'a> {
    fn all(rules: &'a [RuleMeta]) -> Vec<Comparable<'a>> {
        rules
            .iter()
            .map(|r| Comparable {
                text: &r.text,
                form: std::cell::OnceCell::new(),
            })
            .collect()
    }

    fn form(&self) -> &str {
        self.form
            .get_or_init(|| crate::rule_id::comparable_text(self.text))
    }
}

impl PartialEq for Comparable<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text || self.form() == other.form()
    }
}

impl Eq for Comparable<'_> {}

impl Hash for Comparable<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As the `Cow` of the comparable text hashed (its `str`).
        self.form().hash(state);
    }
}

#[cfg(test)]
#[path = "carry_tests.rs"]
mod tests;
