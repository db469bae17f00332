//! A cube's owner tests (`-m owner --uid-owner`, `meta skuid`, and the gid forms) as
//! the language's `owner uid ...` / `owner gid ...`: at the netfilter output and
//! postrouting hooks, the two where sockc reads the owner exactly as xt_owner and
//! nft's `meta skuid` do (docs/language.md, "Owner").
//!
//! Invariant: words are written only when they admit exactly the cube's owners: a set
//! that admits packets no socket owns (a negated owner match: [`NO_OWNER`] is in it)
//! is written as the negation of the other ids, `owner !uid ...`. A rule tests one
//! owner kind, so a cube that needs both, or sits at another hook, is refused with
//! [`Feature::Owner`].

use crate::{
    algebra::{Cube, Dim},
    features::Feature,
    model::NO_OWNER,
};

/// The `owner` words of `cube` (none when it tests no owner); `readable`: the block's
/// hook reads the owner.
pub fn words(cube: &Cube, readable: bool) -> Result<Vec<String>, (Feature, String)> {
    let tested: Vec<(&str, Vec<(u128, u128)>)> = [(Dim::Uid, "uid"), (Dim::Gid, "gid")]
        .into_iter()
        .filter_map(|(d, w)| Some((w, cube.get(d)?.ranges().to_vec())))
        .filter(|(_, r)| r.as_slice() != [(0, NO_OWNER)])
        .collect();
    let refuse = |why: String| Err((Feature::Owner, why));
    match tested.as_slice() {
        [] => Ok(Vec::new()),
        [(k, r)] | [(k, r), _] if !readable => refuse(format!(
            "`owner {k} {}` outside netfilter output and postrouting blocks",
            ids(r)
        )),
        [(k1, r1), (k2, r2)] => refuse(format!(
            "`owner {k1} {}` and `owner {k2} {}` in one rule (one `owner` per rule)",
            ids(r1),
            ids(r2)
        )),
        // Packets no socket owns pass: the complement of the other ids, negated.
        [(k, r)] if r.iter().any(|&(_, hi)| hi >= NO_OWNER) => {
            Ok(vec!["owner".into(), format!("!{k}"), ids(&complement(r))])
        }
        [(k, r)] => Ok(vec!["owner".into(), (*k).into(), ids(r)]),
        _ => unreachable!("two owner dimensions at most"),
    }
}

/// The ids (below [`NO_OWNER`]) that `r` does not hold.
fn complement(r: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    let mut next = 0;
    for &(lo, hi) in r {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next < NO_OWNER {
        out.push((next, NO_OWNER - 1));
    }
    out
}

/// Ranges of ids as the language writes them (`none`: no owner, in messages only).
fn ids(r: &[(u128, u128)]) -> String {
    let item = |&(lo, hi): &(u128, u128)| match (lo, hi) {
        (NO_OWNER, _) => "none".to_string(),
        _ if lo == hi => lo.to_string(),
        (_, NO_OWNER) => format!("{lo}-{}, none", NO_OWNER - 1),
        _ => format!("{lo}-{hi}"),
    };
    match r {
        [one] if one.0 == one.1 || one.1 < NO_OWNER => item(one),
        many => format!(
            "{{ {} }}",
            many.iter().map(item).collect::<Vec<_>>().join(", ")
        ),
    }
}
