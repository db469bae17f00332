//! Devices as values of [`Dim::InDev`](super::Dim) and [`Dim::OutDev`](super::Dim):
//! a device's 16-byte name (`name[16]`, NUL-padded, as the kernel keeps it) read as one
//! big-endian number, so that "no device" (sixteen zero bytes, what the kernel's load
//! of a NULL device reads) is 0, and every name a match compares — its bytes and NUL,
//! or a prefix's bytes alone ([`IfaceName::words`]) — is one interval: the numbers
//! whose leading bytes are those. A match (`in on !lo,wg*`) is then a union of
//! intervals, negated or not, over every possible device: the names both files mention
//! and every other device at once, with no table of names.
//!
//! A device's index (`in index`) is not a dimension: the diff does not compare it
//! (`semdiff::NotCompared::DevIndex`), and [`of_match`] of an index match holds every
//! device.
//!
//! Invariant: [`of_match`] of a name match holds exactly the values whose name
//! [`IfaceMatch::matches`] accepts, and [`readable`] picks from a set a value that is
//! 0 or the value of a printable name of 1 to 15 bytes (what `sockc test` takes as
//! `in NAME` / `out NAME`) whenever the set holds one.

use super::set::ValueSet;
use crate::syntax::iface::{DevName, Devices, IfaceMatch, IfaceName, IFNAMSIZ};

/// The value of a device name (0: no device).
pub fn value(name: Option<&DevName>) -> u128 {
    name.map_or(0, |n| u128::from_be_bytes(n.0))
}

/// The device a value stands for: `None` for 0 (no device) and for values that are
/// not the name of a device `sockc test` can be given.
pub fn name(v: u128) -> Option<DevName> {
    let bytes = v.to_be_bytes();
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
    let text = std::str::from_utf8(&bytes[..len]).ok()?;
    let tail_clear = bytes[len..].iter().all(|&b| b == 0);
    (tail_clear && text.bytes().all(printable))
        .then(|| DevName::new(text))
        .flatten()
}

/// The values whose leading bytes are the ones `n` compares.
fn interval(n: &IfaceName) -> (u128, u128) {
    let mut lo = [0u8; IFNAMSIZ];
    let b = n.name.as_bytes();
    lo[..b.len()].copy_from_slice(b);
    let compared = b.len() + usize::from(!n.prefix);
    let mut hi = lo;
    hi[compared..].fill(0xff);
    (u128::from_be_bytes(lo), u128::from_be_bytes(hi))
}

/// The devices `m` accepts by name (an index match: every device).
pub fn of_match(m: &IfaceMatch) -> ValueSet {
    let Devices::Names(names) = &m.devices else {
        return ValueSet::full(u128::MAX);
    };
    let named = ValueSet::from_intervals(names.iter().map(interval));
    if m.negated {
        ValueSet::full(u128::MAX).subtract(&named, &mut 0)
    } else {
        named
    }
}

/// The bytes a readable example name is made of, in order.
const ALPHABET: &[u8] = b"-.0123456789_abcdefghijklmnopqrstuvwxyz";

fn printable(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'*' | b'+' | b'/' | b':' | b',')
}

/// The least readable value (0, or a name of [`ALPHABET`] bytes) in `lo..=hi`.
fn least_in(lo: u128, hi: u128) -> Option<u128> {
    if lo == 0 || name(lo).is_some() {
        return Some(lo);
    }
    let bytes = lo.to_be_bytes();
    // The least name above `lo`: `lo`'s first `p` bytes (all name bytes), then the
    // least alphabet byte above `lo[p]`, then NULs; the longest such prefix is least.
    let valid = bytes.iter().take_while(|&&b| printable(b)).count();
    (0..=valid.min(IFNAMSIZ - 2)).rev().find_map(|p| {
        let c = ALPHABET.iter().find(|&&c| c > bytes[p])?;
        let mut out = [0u8; IFNAMSIZ];
        out[..p].copy_from_slice(&bytes[..p]);
        out[p] = *c;
        let v = u128::from_be_bytes(out);
        (v <= hi).then_some(v)
    })
}

/// A value of `set` that `sockc test` can name: `prefer` when the set holds it, else
/// no device, else the least readable name; `None` when the set holds none.
pub fn readable(set: &ValueSet, prefer: Option<u128>) -> Option<u128> {
    prefer.filter(|&v| set.contains(v)).or_else(|| {
        set.intervals()
            .iter()
            .find_map(|&(lo, hi)| least_in(lo, hi))
    })
}

/// `lo`: the device a `sockc test` run gives a netfilter program as the outgoing one.
pub fn loopback() -> u128 {
    value(DevName::new("lo").as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::iface::Dir;

    fn m(negated: bool, names: &[&str]) -> IfaceMatch {
        IfaceMatch {
            dir: Dir::In,
            negated,
            devices: Devices::Names(names.iter().map(|n| IfaceName::parse(n).unwrap()).collect()),
        }
    }

    #[test]
    fn a_match_holds_exactly_the_names_it_accepts() {
        let devs = ["eth0", "eth01", "eth", "wg0", "lo", "br-lan", "e", "ethz"];
        for mm in [
            m(false, &["eth0"]),
            m(false, &["eth*", "lo"]),
            m(true, &["lo", "wg+"]),
            m(true, &["*"]),
            m(false, &["abcdefghijklmno"]),
        ] {
            let set = of_match(&mm);
            for d in devs.iter().map(|d| DevName::new(d)).chain([None]) {
                assert_eq!(
                    set.contains(value(d.as_ref())),
                    mm.matches(d.as_ref(), 0),
                    "{mm} {d:?}"
                );
            }
        }
    }

    #[test]
    fn readable_values_are_names_of_the_set() {
        for mm in [
            m(true, &["eth0"]),
            m(false, &["eth*"]),
            m(true, &["*"]),
            m(true, &["a*", "b*", "-*", ".*", "0*"]),
            m(false, &["x"]),
        ] {
            let set = of_match(&mm);
            let v = readable(&set, None);
            if set.is_empty() {
                assert_eq!(v, None);
                continue;
            }
            let v = v.expect("a readable value");
            assert!(set.contains(v), "{mm}");
            assert!(v == 0 || name(v).is_some(), "{mm}: {v:#x}");
            assert!(mm.matches(name(v).as_ref(), 0), "{mm}");
        }
        let not_lo = of_match(&m(true, &["lo"]));
        assert_eq!(readable(&not_lo, Some(loopback())), Some(0));
        let eth = of_match(&m(false, &["eth+"]));
        assert_eq!(name(readable(&eth, None).unwrap()).unwrap().as_str(), "eth");
    }
}
