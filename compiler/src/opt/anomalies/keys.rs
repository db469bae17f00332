//! The index's keys: each address match of a rule as one prefix ([`Key`]) holding
//! everything it matches in a family (its literal prefix, `*`, or the smallest prefix
//! holding a set's members), so that the rules whose keys enclose or lie inside a
//! rule's keys are the ones that may cover or overlap it.
//!
//! Invariant: a match's key holds every address it matches in the family
//! ([`key`]); sorting keys by (network, length) puts every prefix right before the
//! prefixes inside it.

use crate::space::{family_width, Addr, AddrSets, Iv};

/// The network bits of a `len`-bit prefix in a `w`-bit space.
fn mask(w: u32, len: u8) -> u128 {
    let len = u32::from(len);
    if len == 0 {
        0
    } else {
        let all = if w == 128 {
            u128::MAX
        } else {
            (1u128 << w) - 1
        };
        (u128::MAX << (w - len)) & all
    }
}

/// A prefix as an index key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub(super) net: u128,
    pub(super) len: u8,
}

impl Key {
    pub(super) const ROOT: Key = Key { net: 0, len: 0 };

    pub(super) fn contains(self, other: Key, w: u32) -> bool {
        self.len <= other.len && other.net & mask(w, self.len) == self.net
    }
}

/// The smallest prefix of a `w`-bit space holding the intervals `ivs` (sorted).
fn hull(ivs: &[Iv], w: u32) -> Key {
    let (Some(first), Some(last)) = (ivs.first(), ivs.last()) else {
        return Key::ROOT;
    };
    let diff = first.0 ^ last.1;
    let len = if diff == 0 {
        w
    } else {
        diff.leading_zeros() - (128 - w)
    } as u8;
    Key {
        net: first.0 & mask(w, len),
        len,
    }
}

/// The index key of `a` in family index `f`: a prefix holding everything it matches
/// there.
pub(super) fn key(sets: &AddrSets, a: &Addr, f: usize) -> Key {
    match *a {
        Addr::Any => Key::ROOT,
        Addr::Prefix { len, .. } => Key {
            net: a.first().expect("a prefix"),
            len,
        },
        Addr::Set(s) => hull(sets.members(s as usize, f), family_width(f)),
    }
}
