//! A cube's tests of the conntrack entry (`ct status`, `ct direction`, `ct mark` in nft;
//! `--ctstatus`, `--ctdir`, `--ctstate SNAT,DNAT`, `-m connmark --mark` in iptables)
//! as the language's `ct status`, `ct direction` and `ct mark` words, in netfilter
//! blocks, which read the entry as nft does (docs/language.md, "Conntrack entry").
//!
//! The import gives a packet without an entry the canonical values 0 in the three
//! fields, while the language's tests never match it; [`split`] therefore writes a
//! cube's states with an entry and those without apart: the first with the entry's
//! words, the second without them, and only when the canonical values are inside
//! the cube (else that part admits nothing).
//!
//! Invariant: words are written only when they admit exactly the cube's entries;
//! a status set that is neither "any of these bits" nor "none of these bits" is
//! refused with [`Feature::Conntrack`], and so is any test outside netfilter blocks.

use crate::{
    algebra::{Cube, Dim, Ivs},
    features::Feature,
    model::{CT_INVALID, CT_NEW, CT_RELATED, CT_UNTRACKED},
};
use sockc_compiler::syntax::ct_entry::{status_names, STATUS_BITS};

const ENTRY_DIMS: [Dim; 3] = [Dim::CtStatus, Dim::CtDir, Dim::CtMark];

/// `cube` as the cubes it is written as: its states with an entry, and its states
/// without one (with the entry's fields left out), each `None`-free and non-empty.
pub fn split(cube: &Cube) -> Vec<Cube> {
    if ENTRY_DIMS.iter().all(|d| cube.get(*d).is_none()) {
        return vec![cube.clone()];
    }
    let tracked = cube
        .clone()
        .with(Dim::CtState, &Ivs::range(CT_NEW, CT_RELATED));
    let canonical = ENTRY_DIMS
        .iter()
        .all(|d| cube.get(*d).is_none_or(|v| v.contains(0)));
    let untracked = canonical
        .then(|| {
            let c = ENTRY_DIMS
                .iter()
                .fold(cube.clone(), |c, d| c.without_dim(*d));
            c.with(Dim::CtState, &Ivs::range(CT_INVALID, CT_UNTRACKED))
        })
        .flatten();
    tracked.into_iter().chain(untracked).collect()
}

/// Whether `cube` tests a field of the entry (not every value of it).
pub fn tests_entry(cube: &Cube) -> bool {
    ENTRY_DIMS.iter().any(|d| {
        cube.get(*d)
            .is_some_and(|v| *v != Ivs::range(d.lowest(), d.highest()))
    })
}

/// Whether `states` (a cube's `ct state`, `None`: any) is exactly the states with an
/// entry, which the entry's words imply (so `ct state` need not be written).
pub fn implied(states: Option<&Ivs>) -> bool {
    states.is_some_and(|s| *s == Ivs::range(CT_NEW, CT_RELATED))
}

/// The entry's words of `cube` (none when it tests no field of the entry);
/// `readable`: the block's hook reads the entry.
pub fn words(cube: &Cube, readable: bool) -> Result<Vec<String>, (Feature, String)> {
    let full = |d: Dim, v: &Ivs| *v == Ivs::range(d.lowest(), d.highest());
    let tested: Vec<(Dim, &Ivs)> = ENTRY_DIMS
        .iter()
        .filter_map(|d| Some((*d, cube.get(*d)?)))
        .filter(|(d, v)| !full(*d, v))
        .collect();
    if tested.is_empty() {
        return Ok(Vec::new());
    }
    if !readable {
        let what = "the conntrack entry's status, direction or mark outside netfilter blocks";
        return Err((Feature::Conntrack, what.into()));
    }
    let mut out = Vec::new();
    for (d, v) in tested {
        let w = match d {
            Dim::CtStatus => status_words(v).ok_or_else(|| {
                let what = "a set of ct status bits that is neither any nor none of a list";
                (Feature::Conntrack, what.to_string())
            })?,
            Dim::CtDir if v.contains(1) => "ct direction reply".into(),
            Dim::CtDir => "ct direction original".into(),
            _ => mark_words(v),
        };
        out.push(w);
    }
    Ok(out)
}

/// `ct status [!=] NAMES` for the packed statuses `v`, if some list says it.
fn status_words(v: &Ivs) -> Option<String> {
    let top = (1u128 << STATUS_BITS.len()) - 1;
    for mask in 1..=top {
        let any: Vec<(u128, u128)> = (0..=top)
            .filter(|s| s & mask != 0)
            .map(|s| (s, s))
            .collect();
        let any = Ivs::from_ranges(any);
        let kernel = STATUS_BITS
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .fold(0u32, |w, (_, (_, b))| w | b);
        if *v == any {
            return Some(format!("ct status {}", status_names(kernel)));
        }
        if *v == any.complement_within(0, top) {
            return Some(format!("ct status != {}", status_names(kernel)));
        }
    }
    None
}

/// `ct mark [!=] LIST` for the marks `v`, the shorter of the two.
fn mark_words(v: &Ivs) -> String {
    let rest = v.complement_within(0, u32::MAX as u128);
    let (neg, shown) = if rest.ranges().len() < v.ranges().len() {
        ("!= ", &rest)
    } else {
        ("", v)
    };
    let items: Vec<String> = shown
        .ranges()
        .iter()
        .map(|&(lo, hi)| match lo == hi {
            true => format!("{lo:#x}"),
            false => format!("{lo:#x}-{hi:#x}"),
        })
        .collect();
    format!("ct mark {neg}{}", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_read_back_as_lists() {
        let dnat = 1u128 << 5;
        let any: Vec<(u128, u128)> = (0..128u128)
            .filter(|s| s & dnat != 0)
            .map(|s| (s, s))
            .collect();
        let any = Ivs::from_ranges(any);
        assert_eq!(status_words(&any).as_deref(), Some("ct status dnat"));
        let none = any.complement_within(0, 127);
        assert_eq!(status_words(&none).as_deref(), Some("ct status != dnat"));
        assert_eq!(status_words(&Ivs::single(3)), None);
    }

    #[test]
    fn a_cube_without_entries_admits_the_canonical_values_only() {
        let c = Cube::all().with(Dim::CtMark, &Ivs::single(0x10)).unwrap();
        let parts = split(&c);
        assert_eq!(parts.len(), 1, "mark 0x10 is not the canonical 0");
        let c = Cube::all().with(Dim::CtMark, &Ivs::range(0, 5)).unwrap();
        let parts = split(&c);
        assert_eq!(parts.len(), 2);
        assert!(parts[1].get(Dim::CtMark).is_none());
        let but5 = Ivs::from_ranges(vec![(0, 4), (6, u32::MAX as u128)]);
        assert_eq!(mark_words(&but5), "ct mark != 0x5");
        assert_eq!(mark_words(&Ivs::range(1, 9)), "ct mark 0x1-0x9");
    }
}
