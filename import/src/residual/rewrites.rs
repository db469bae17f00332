//! Rules the residual keeps that change the packet or its conntrack entry (a TTL, DSCP
//! or ECN target, nft's `... set`, `notrack`, `CT`) at a place sockc would share. The
//! residual runs the place's kept rules before sockc's block, so the block reads every
//! packet as those rules left it; in the original, the rules before such a rule read
//! it unchanged. A rule sockc writes that comes before the rewrite and reads a field
//! it may change would then decide packets the original let reach the rewrite
//! (`ip ttl 1 drop` before `ip ttl 5 ip ttl set 1` dropped the packets of TTL 5 the
//! original accepted). Such a place is netfilter's alone ([`conflict`]).
//!
//! Invariant: at a shared place, no rule sockc writes that precedes a kept rewrite
//! reads a field ([`Dim`]) the rewrite may change; a rewrite of fields the import
//! cannot name counts as changing every field.

use crate::{
    algebra::Dim,
    features::Feature,
    model::{Effect, Ruleset},
    semantics::{
        atoms::{AtomKind, Atoms},
        flatten::Origin,
        Placed,
    },
};

/// Why the place cannot be shared: the first kept rewrite whose fields a rule sockc
/// writes before it reads (`writes[j]`: sockc writes flat rule `j`).
pub(super) fn conflict(
    rs: &Ruleset,
    placed: &Placed,
    writes: &[bool],
    atoms: &Atoms,
) -> Option<String> {
    let mut read: Vec<Dim> = Vec::new();
    for (r, &mine) in placed.list.rules.iter().zip(writes) {
        if mine {
            read.extend(r.cube.dims().iter().map(|(d, _)| *d));
            read.extend(
                r.cube
                    .atoms()
                    .iter()
                    .filter_map(|(id, _)| match atoms.kind(*id) {
                        AtomKind::InSet { dim, .. } => Some(*dim),
                        _ => None,
                    }),
            );
            continue;
        }
        let Origin::Rule(id) = r.origin else { continue };
        let rule = &rs.rules[id];
        for text in rewrites(&rule.effects) {
            let changed = changes(text);
            if read.iter().any(|d| changed.is_none_or(|c| c.contains(d))) {
                return Some(format!(
                    "the rule at line {} changes what earlier rules read (`{text}`): netfilter \
                     runs it before sockc's block, whose earlier rules would read the packet \
                     as it left it",
                    rule.span.line
                ));
            }
        }
    }
    None
}

/// The texts of the effects that may change the packet or its conntrack entry: also
/// an xtables target nft runs through its compat layer (`xt target "TTL"`), which
/// may be any of them.
fn rewrites(effects: &[Effect]) -> impl Iterator<Item = &str> {
    effects.iter().filter_map(|e| match e {
        Effect::Other {
            feature: Feature::Mangle | Feature::Conntrack,
            text,
        } => Some(text.as_str()),
        Effect::Other { text, .. } if text.contains("xt target") => Some(text.as_str()),
        _ => None,
    })
}

/// The fields a rewrite may change, by its text (iptables' target, nft's statement in
/// its text listing; from `nft -j` the text is JSON, and every rewrite changes every
/// field); `None` for every field.
fn changes(text: &str) -> Option<&'static [Dim]> {
    let t = text.to_ascii_lowercase();
    let has = |w: &str| t.contains(w);
    Some(match () {
        _ if has("-j ttl") || has("-j hl") || has("ip ttl set") || has("hoplimit set") => {
            &[Dim::HopLimit]
        }
        _ if has("-j dscp") || has("-j tos") || has("dscp set") => &[Dim::Dscp, Dim::Ecn],
        _ if has("-j ecn") => &[Dim::Ecn, Dim::TcpFlags],
        _ if has("ecn set") => &[Dim::Ecn],
        // The MSS option, added where a SYN has none: the length.
        _ if has("-j tcpmss") || has("-j tcpoptstrip") => &[Dim::Length],
        _ if has("-j checksum") || has("-j classify") || has("priority set") => &[],
        _ if has("notrack") || has("-j ct") || has("ct zone set") || has("ct helper set") => {
            &[Dim::CtState, Dim::CtStatus, Dim::CtDir, Dim::CtMark]
        }
        _ => return None,
    })
}
