//! iptables' `-f` (a later IPv4 fragment: offset not 0) in an input base chain. The
//! kernel reassembles an IPv4 packet for this host before the input hook runs
//! (`ip_local_deliver` calls `ip_defrag` before `NF_INET_LOCAL_IN`, conntrack or not),
//! so no packet a chain at input sees is a fragment: there `-f` is false and `! -f`
//! true, whatever else the ruleset does. Elsewhere (prerouting and forward without
//! conntrack's reassembly, output and postrouting for a raw socket's fragments) `-f`
//! can match, and stays what it is (a match the language does not have).
//!
//! Invariant: after [`decide`], a rule of an input base chain of an `ip` table has no
//! `-f` match; the rule's other matches and its verdict are unchanged. Chains reached
//! by jumps keep theirs (they may be reached from another hook too).

use crate::{
    features::Feature,
    model::{Family, Match, MatchKind, NfHook, RuleId, Ruleset},
};

/// Why such a rule never matches, for the report.
pub const REASON: &str = "never matches: IPv4 packets reach the input hook reassembled \
    (ip_local_deliver defragments before it, conntrack or not), so none is a later \
    fragment (-f)";

/// The key iptables' `-f` is read with (`iptables/rule.rs`, which is read first and
/// so cannot name this), and `transport_fragments`' "not a later fragment".
pub(super) const FRAGMENT: &str = "fragment";

/// Whether rule `id` is in an input base chain of an `ip` table.
fn at_input(rs: &Ruleset, id: RuleId) -> bool {
    let rule = &rs.rules[id];
    let table = &rs.tables[rule.table];
    let input = table.chains[rule.chain]
        .base
        .as_ref()
        .is_some_and(|b| b.hook == NfHook::Input);
    input && table.family == Family::Ip
}

/// Whether [`decide`] made rule `id` match nothing: it says `-f` where that is false.
pub fn never(rs: &Ruleset, id: RuleId) -> bool {
    let tokens = || rs.rules[id].source.split_whitespace();
    at_input(rs, id)
        && tokens().any(|t| t == "-f" || t == "--fragment")
        && !tokens()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w[0] == "!" && (w[1] == "-f" || w[1] == "--fragment"))
}

/// Replaces `-f` in input base chains by its value there.
pub fn decide(rs: &mut Ruleset) {
    for id in 0..rs.rules.len() {
        if !at_input(rs, id) {
            continue;
        }
        let rule = &mut rs.rules[id];
        let mut never = false;
        rule.matches.retain(|m| match later_fragment(m) {
            // `! -f`: true for every packet here.
            Some(true) => false,
            Some(false) => {
                never = true;
                false
            }
            None => true,
        });
        if never {
            rule.matches.push(no_packet());
        }
    }
}

/// `Some(negated)` when `m` is `-f` (`! -f`: `Some(true)`).
fn later_fragment(m: &Match) -> Option<bool> {
    match &m.kind {
        MatchKind::Opaque {
            feature: Feature::IpHeader,
            key,
        } if key == FRAGMENT => Some(m.negated),
        _ => None,
    }
}

/// A match no packet passes: the address families netfilter has none of.
fn no_packet() -> Match {
    Match::test(
        vec![crate::model::Key::NfProto],
        crate::model::Rhs::Elements(Vec::new()),
    )
}
