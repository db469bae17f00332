//! A cube's owner tests (`-m owner --uid-owner`, `meta skuid`, and the gid forms) as
//! the language's `owner uid ...` / `owner gid ...`: at the netfilter output and
//! postrouting hooks, the two where sockc reads the owner exactly as xt_owner and
//! nft's `meta skuid` do (docs/language.md, "Owner").
//!
//! Invariant: words are written only when they admit exactly the cube's owners. A set
//! that admits packets no socket owns (a negated owner match: [`NO_OWNER`] is in its
//! complement) has no `owner` form, and a rule tests one owner kind, so a cube that
//! needs either, or sits at another hook, is refused with [`Feature::Owner`].

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
    let refuse = |why: &str| Err((Feature::Owner, why.to_string()));
    match tested.as_slice() {
        [] => Ok(Vec::new()),
        _ if !readable => {
            refuse("the sending socket's owner outside netfilter output and postrouting blocks")
        }
        [_, _] => refuse("both the user and the group owning the socket (one `owner` per rule)"),
        [(_, r)] if r.iter().any(|&(_, hi)| hi >= NO_OWNER) => {
            refuse("packets that no socket owns (a negated owner match)")
        }
        [(kind, r)] => {
            let item = |&(lo, hi): &(u128, u128)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            };
            let ids = match r.as_slice() {
                [one] => item(one),
                many => format!(
                    "{{ {} }}",
                    many.iter().map(item).collect::<Vec<_>>().join(", ")
                ),
            };
            Ok(vec!["owner".into(), (*kind).into(), ids])
        }
        _ => unreachable!("two owner dimensions at most"),
    }
}
