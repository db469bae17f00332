//! `ct state` at xdp and tc (at a netfilter hook it is written as it is, [`exact`]). There the state comes from a lookup in conntrack's table
//! or, without an entry (a flow's first packet, which xdp and tc see before conntrack),
//! from the headers, as conntrack would classify it (docs/language.md, "Connection-
//! tracking state"). For TCP, UDP and other protocols that is conntrack's own state;
//! ICMP and ICMPv6 echo is never looked up: an echo reply or a repeated echo request
//! that conntrack calls `established` is `new` here; an ICMP error is looked up by the
//! flow it quotes, so one conntrack calls `related` is `related` here, or `invalid`
//! where the quote cannot be followed (too short, a non-first fragment, a protocol
//! other than TCP and UDP, IPv6 extension headers).
//!
//! So a flat rule's set of states is rewritten for the way its verdict errs:
//! - a rule that accepts keeps only the states sockc derives for nothing but states of
//!   the set (it then matches only packets whose netfilter state is in the set);
//! - a rule that drops takes, for its ICMP packets, every state sockc may derive for a
//!   state of the set, in rules of their own before it (it then matches every packet
//!   netfilter's rule matches);
//! - a rule without a verdict (count, log) keeps its set.
//!
//! Invariant: every rule written is approximate, and stricter than netfilter's, except
//! where docs/import.md says otherwise: it assumes conntrack runs in the namespace (the
//! original ruleset's ct matches keep it on) and no flow is exempted from tracking
//! (`notrack`); a packet conntrack calls `invalid` for its TCP window alone is
//! `established` here, and an unsolicited ICMP reply it calls `invalid` is `new` here
//! (widening `ct state invalid` to `new` for ICMP would drop every ping).

use crate::{
    algebra::{Cube, Dim, Ivs},
    model::{CT_ESTABLISHED, CT_INVALID, CT_NEW, CT_RELATED, CT_UNTRACKED},
    semantics::flatten::FlatAction,
};

/// A flat rule's conntrack states as written at xdp or tc.
pub enum CtWrite {
    /// Cubes without states, each with its `ct state` words, to be written in order;
    /// and why the rule is approximate.
    Written(Vec<(Cube, Vec<String>)>, String),
    /// No state sockc derives keeps the rule stricter: it is left out.
    LeftOut(String),
}

/// The states sockc may derive for a packet whose netfilter state is `s`.
fn derived(s: u128, icmp: bool) -> Vec<u128> {
    match (icmp, s) {
        (true, CT_ESTABLISHED) => vec![CT_ESTABLISHED, CT_NEW],
        (true, CT_RELATED) => vec![CT_RELATED, CT_INVALID],
        _ => vec![s],
    }
}

const ALL: [u128; 5] = [CT_NEW, CT_ESTABLISHED, CT_RELATED, CT_INVALID, CT_UNTRACKED];

fn name(s: u128) -> &'static str {
    match s {
        CT_NEW => "new",
        CT_ESTABLISHED => "established",
        CT_RELATED => "related",
        CT_INVALID => "invalid",
        _ => "untracked",
    }
}

fn list(states: &[u128]) -> String {
    states
        .iter()
        .map(|s| name(*s))
        .collect::<Vec<_>>()
        .join(",")
}

/// The match words for `states` (none for every state).
fn words(states: &[u128]) -> Vec<String> {
    if states.len() == ALL.len() {
        return Vec::new();
    }
    vec!["ct".into(), "state".into(), list(states)]
}

/// The states an accepting rule keeps: those sockc derives only for states of `set`.
fn for_accept(set: &[u128], icmp: bool) -> Vec<u128> {
    ALL.into_iter()
        .filter(|t| {
            set.contains(t)
                && [false, icmp].iter().all(|i| {
                    ALL.into_iter()
                        .filter(|s| derived(*s, *i).contains(t))
                        .all(|s| set.contains(&s))
                })
        })
        .collect()
}

/// The states a dropping rule takes for ICMP packets.
fn for_drop_icmp(set: &[u128]) -> Vec<u128> {
    ALL.into_iter()
        .filter(|t| set.iter().any(|s| derived(*s, true).contains(t)))
        .collect()
}

/// `cube`'s ICMP and ICMPv6 packets.
fn icmp_cubes(cube: &Cube) -> Vec<Cube> {
    [(4, 1), (6, 58)]
        .into_iter()
        .filter_map(|(family, proto)| {
            cube.clone()
                .with(Dim::Family, &Ivs::single(family))
                .and_then(|c| c.with(Dim::Proto, &Ivs::single(proto)))
        })
        .collect()
}

/// `cube`'s states as `action` must be written at xdp or tc; `None` when the cube does
/// not test the state.
pub fn write(cube: &Cube, action: &FlatAction) -> Option<CtWrite> {
    let states = cube.get(Dim::CtState)?;
    let set: Vec<u128> = ALL.into_iter().filter(|s| states.contains(*s)).collect();
    let rest = cube.clone().without_dim(Dim::CtState);
    let icmp = cube
        .get(Dim::Proto)
        .is_none_or(|p| p.contains(1) || p.contains(58));
    let icmp_note = if icmp {
        "; ICMP echo is not looked up (an echo reply is `new`), an ICMP error is `related` only when the flow it quotes is found (else `invalid`)"
    } else {
        ""
    };
    let mut cubes = Vec::new();
    let mut how = String::new();
    match action {
        FlatAction::Accept => {
            let keep = for_accept(&set, icmp);
            if keep.is_empty() {
                return Some(CtWrite::LeftOut(format!(
                    "`ct state {}` at xdp/tc: no state sockc derives implies it{icmp_note}",
                    list(&set)
                )));
            }
            if keep != set {
                how = format!(", written as `ct state {}`", list(&keep));
            }
            cubes.push((rest, words(&keep)));
        }
        a if a.is_terminal() => {
            let wider = for_drop_icmp(&set);
            if icmp && wider != set {
                cubes.extend(icmp_cubes(&rest).into_iter().map(|c| (c, words(&wider))));
                how = format!(", for ICMP `ct state {}`", list(&wider));
            }
            cubes.push((rest, words(&set)));
        }
        _ => cubes.push((rest, words(&set))),
    }
    Some(CtWrite::Written(
        cubes,
        format!(
            "`ct state {}` at xdp/tc{how}: the state comes from conntrack's table, or from the headers for a flow's first packet{icmp_note} (stricter)",
            list(&set)
        ),
    ))
}

/// `cube`'s states as a netfilter block writes them: as they are (the program reads
/// the packet's conntrack entry, as nftables does), the cube without them.
pub fn exact(cube: &Cube) -> (Cube, Vec<String>) {
    match cube.get(Dim::CtState) {
        None => (cube.clone(), Vec::new()),
        Some(states) => {
            let set: Vec<u128> = ALL.into_iter().filter(|s| states.contains(*s)).collect();
            (cube.clone().without_dim(Dim::CtState), words(&set))
        }
    }
}

/// The cubes `cube` is written as for `action`, each with the states it is written
/// with (for the tests' reference: what the written rules admit); `None` when the
/// cube does not test the state or is left out.
pub fn as_cubes(cube: &Cube, action: &FlatAction) -> Option<Vec<Cube>> {
    let CtWrite::Written(cubes, _) = write(cube, action)? else {
        return Some(Vec::new());
    };
    Some(
        cubes
            .into_iter()
            .filter_map(|(c, w)| {
                let states: Vec<(u128, u128)> = match w.get(2) {
                    None => return Some(c),
                    Some(names) => names
                        .split(',')
                        .filter_map(|n| ALL.into_iter().find(|s| name(*s) == n))
                        .map(|s| (s, s))
                        .collect(),
                };
                c.with(Dim::CtState, &Ivs::from_ranges(states))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every set of states, and every state netfilter may give a packet of each kind
    /// with every state sockc may derive for it: a written accept matches only if
    /// netfilter's rule does, a written drop whenever netfilter's rule does.
    #[test]
    fn written_states_err_on_the_strict_side() {
        for bits in 1u32..32 {
            let set: Vec<u128> = ALL.into_iter().filter(|s| bits & (1 << s) != 0).collect();
            for icmp in [false, true] {
                let keep = for_accept(&set, icmp);
                let wide = if icmp {
                    for_drop_icmp(&set)
                } else {
                    set.clone()
                };
                for s in ALL {
                    for t in derived(s, icmp) {
                        if keep.contains(&t) {
                            assert!(set.contains(&s), "accept {set:?} {icmp}: {s} → {t}");
                        }
                        if set.contains(&s) {
                            assert!(wide.contains(&t), "drop {set:?} {icmp}: {s} → {t}");
                        }
                    }
                }
            }
        }
        // the usual rules keep their sets
        let est_rel = [CT_ESTABLISHED, CT_RELATED];
        assert_eq!(for_accept(&est_rel, true), est_rel);
        assert_eq!(for_drop_icmp(&[CT_INVALID]), [CT_INVALID]);
        // `ct state new accept` with ICMP in it: a repeated ping is `new` here
        assert!(for_accept(&[CT_NEW], true).is_empty());
        assert_eq!(for_accept(&[CT_NEW], false), [CT_NEW]);
    }
}
