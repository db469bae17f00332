//! Transport matches that test every value, and later fragments. netfilter's tcp, udp
//! and icmp matches never match a later fragment (xt's return false where the fragment
//! offset is not 0; nft's transport payload loads break), whatever values they test;
//! so do sockc's port, flag and type matches (docs/language.md). A match that admits
//! every value of its key (`--sport 0:65535`, `--icmp-type any`, nft's `udp sport
//! 0-65535`, `tcp flags & 0x0 == 0x0`) says nothing else: read as the values it tests,
//! it was dropped, and the rule then matched the later fragments it never matched.
//! [`guard`] writes what is left of it: its protocol (which its key implies), and
//! "not a later fragment" (iptables' `! -f`), which keeps the rule in netfilter
//! where fragments reach it; `input_fragments::decide` drops it at an `ip` input
//! chain, where none do.
//!
//! Invariant: after [`guard`], no rule holds a one-key test of a transport field of
//! one protocol (not nft's `th`, which reads any protocol's header) that admits every
//! value of that field; every rule admits the packets it admitted, less the later
//! fragments.

use super::input_fragments::FRAGMENT;
use crate::{
    features::Feature,
    model::{IpVersion, Key, Match, MatchKind, Rhs, Ruleset, Value},
};

/// Replaces every transport test that admits every value by its protocol and "not a
/// later fragment".
pub fn guard(rs: &mut Ruleset) {
    for rule in &mut rs.rules {
        let mut added = Vec::new();
        rule.matches.retain(|m| match vacuous(m) {
            Some(implied) => {
                added.extend(implied);
                false
            }
            None => true,
        });
        if !added.is_empty() {
            let mut not_fragment = Match::opaque(Feature::IpHeader, FRAGMENT);
            not_fragment.negated = true;
            added.push(not_fragment);
            rule.matches.extend(added);
        }
    }
}

/// What a transport test that admits every value of its field implies (its protocol,
/// its family), or `None` for any other match. A disjunction (multiport's `--ports`:
/// source or destination) is one when an alternative is only such tests.
fn vacuous(m: &Match) -> Option<Vec<Match>> {
    if let MatchKind::Any(alternatives) = &m.kind {
        if m.negated {
            return None;
        }
        return alternatives.iter().find_map(|all| {
            let each: Option<Vec<Vec<Match>>> = all.iter().map(vacuous).collect();
            each.filter(|e| !e.is_empty()).map(|e| e.concat())
        });
    }
    let MatchKind::Test { keys, rhs } = &m.kind else {
        return None;
    };
    let [key] = keys.as_slice() else {
        return None;
    };
    let (max, implied) = transport(key)?;
    let every = match rhs {
        Rhs::Elements(els) => covers(els, max),
        Rhs::Masked { mask: 0, value: 0 } => true,
        _ => false,
    };
    (every && !m.negated).then_some(implied)
}

/// A transport field's largest value and the matches its key implies.
fn transport(key: &Key) -> Option<(u128, Vec<Match>)> {
    let proto = |p: u128| Match::one(Key::L4Proto, p, p);
    Some(match key {
        Key::Sport(Some(p)) | Key::Dport(Some(p)) => (65535, vec![proto(*p as u128)]),
        // nft's `th`: any transport header, ICMP's too (`cond::other_transport`), which
        // a protocol list would leave out: not guarded, read as it was.
        Key::TcpFlags => (255, vec![proto(6)]),
        Key::IcmpType(v) | Key::IcmpCode(v) => {
            let (family, p) = match v {
                IpVersion::V4 => (4, 1),
                IpVersion::V6 => (6, 58),
            };
            (
                255,
                vec![Match::one(Key::NfProto, family, family), proto(p)],
            )
        }
        _ => return None,
    })
}

/// Whether elements of one value each cover `0..=max`.
fn covers(els: &[Vec<Value>], max: u128) -> bool {
    let mut ranges: Vec<(u128, u128)> = Vec::with_capacity(els.len());
    for e in els {
        let [Value::Range(lo, hi)] = e.as_slice() else {
            return false;
        };
        ranges.push((*lo, *hi));
    }
    ranges.sort_unstable();
    let mut next = 0u128;
    for (lo, hi) in ranges {
        if lo > next {
            return false;
        }
        next = next.max(hi.saturating_add(1));
    }
    next > max
}
