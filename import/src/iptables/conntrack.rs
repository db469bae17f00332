//! `-m conntrack` (`--ctstate`, `--ctstatus`, `--ctdir`), `-m state`, `-m connmark
//! --mark` and `-m mark --mark` as `xt_conntrack`, `xt_connmark` and `xt_mark`
//! evaluate them
//! (`net/netfilter/xt_conntrack.c`, `xt_connmark.c`).
//!
//! `--ctstate` takes the packet's state bit and, when it has an entry, the `SNAT` and
//! `DNAT` bits of its status: it matches when any named bit is there, so `DNAT` is an
//! alternative (an entry with the status bit), never a state. `--ctstatus` matches
//! when the entry has any of the named status bits, `--ctdir` by the packet's
//! direction, `--mark V[/M]` by the entry's mark; each needs an entry (a packet
//! without one fails them), which the match says with [`ct_tracked`] beside it.
//!
//! Invariant: exact or opaque. `xt_conntrack` returns "matched" for a packet without
//! an entry as soon as its `--ctstate` passed, skipping `--ctstatus` and `--ctdir`;
//! when the state test can pass without an entry (it names `INVALID` or `UNTRACKED`,
//! or is negated) those two are kept opaque instead of read as a conjunction.

use super::args::{Opt, RuleError};
use crate::{
    features::Feature,
    model::{ct_status_packed, ct_tracked, Key, Match, MatchKind, Rhs, Value},
    names,
};
use sockc_compiler::syntax::{ct_entry::status_bit, mark::MarkTest};

/// The matches of one option of `-m conntrack` / `-m state` (`opts`: all of the
/// module's options, which decide the `--ctstate` shortcut).
pub fn conntrack_option(o: &Opt, opts: &[Opt]) -> Result<Vec<Match>, RuleError> {
    let opaque = || {
        vec![Match::opaque(
            Feature::Conntrack,
            format!("-m conntrack {}", o.text()),
        )]
    };
    Ok(match o.name.as_str() {
        "--ctstate" | "--state" => vec![ct_states(o)?],
        "--ctstatus" | "--ctdir" if state_passes_without_entry(opts) => opaque(),
        "--ctstatus" => match status_mask(o.arg(0)?) {
            Some(mask) => entry_test(Match::test(vec![Key::CtStatus], Rhs::AnyBit(mask)), o),
            None => opaque(),
        },
        "--ctdir" => match o.arg(0)?.to_ascii_uppercase().as_str() {
            "ORIGINAL" => entry_test(Match::one(Key::CtDirection, 0, 0), o),
            "REPLY" => entry_test(Match::one(Key::CtDirection, 1, 1), o),
            _ => opaque(),
        },
        _ => opaque(),
    })
}

/// `-m mark --mark V[/M]`: the packet's mark, as `xt_mark` compares it.
pub fn mark_option(o: &Opt) -> Result<Vec<Match>, RuleError> {
    Ok(vec![marked(o, "mark", Key::Mark)?.negate(o.negated)])
}

/// `-m connmark --mark V[/M]`.
pub fn connmark_option(o: &Opt) -> Result<Vec<Match>, RuleError> {
    let m = marked(o, "connmark", Key::CtMark)?;
    Ok(match m.kind {
        MatchKind::Opaque { .. } => vec![m.negate(o.negated)],
        _ => entry_test(m, o),
    })
}

/// `--mark V[/M]` of module `module` as a test of `key` (not negated), or opaque.
fn marked(o: &Opt, module: &str, key: Key) -> Result<Match, RuleError> {
    let opaque = || Match::opaque(Feature::Mark, format!("-m {module} {}", o.text()));
    if o.name != "--mark" {
        return Ok(opaque());
    }
    let text = o.arg(0)?;
    let (v, m) = text.split_once('/').unwrap_or((text, "0xffffffff"));
    let num = |t: &str| crate::values::number(t).and_then(|n| u32::try_from(n).ok());
    let (Some(value), Some(mask)) = (num(v), num(m)) else {
        return Ok(opaque());
    };
    // xt_mark and xt_connmark compare `(mark & mask) == value`: a value with bits
    // outside the mask never matches.
    let t = MarkTest { value, mask };
    let elems = if value & !mask != 0 {
        Vec::new()
    } else {
        let Some(iv) = t.intervals() else {
            return Ok(opaque());
        };
        iv.into_iter()
            .map(|(lo, hi)| vec![Value::Range(lo.into(), hi.into())])
            .collect()
    };
    Ok(Match::test(vec![key], Rhs::Elements(elems)))
}

/// A test of the entry (negated as the option is), with the entry it needs.
fn entry_test(m: Match, o: &Opt) -> Vec<Match> {
    vec![ct_tracked(), m.negate(o.negated)]
}

/// The packed status bits of `--ctstatus NAME[,NAME...]` (`NONE` is no bit).
fn status_mask(list: &str) -> Option<u128> {
    let mut kernel = 0u128;
    for name in list.split(',') {
        let lower = name.to_ascii_lowercase().replace('_', "-");
        if lower == "none" {
            continue;
        }
        kernel |= u128::from(status_bit(&lower)?);
    }
    ct_status_packed(kernel)
}

/// Whether the module's `--ctstate` can pass for a packet without an entry.
fn state_passes_without_entry(opts: &[Opt]) -> bool {
    opts.iter()
        .filter(|o| matches!(o.name.as_str(), "--ctstate" | "--state"))
        .any(|o| {
            let names = o.args.first().map(String::as_str).unwrap_or("");
            let no_entry = names
                .split(',')
                .any(|s| matches!(s.to_ascii_uppercase().as_str(), "INVALID" | "UNTRACKED"));
            o.negated || no_entry
        })
}

/// `--ctstate LIST`: the states named, or (`SNAT`, `DNAT`) an entry with that status.
fn ct_states(o: &Opt) -> Result<Match, RuleError> {
    let mut states = Vec::new();
    let mut nat = 0u128;
    for s in o.arg(0)?.split(',') {
        match (names::ct_state(s), s.to_ascii_uppercase().as_str()) {
            (Some(x), _) => states.push(vec![Value::Range(x, x)]),
            (None, "SNAT") => nat |= u128::from(status_bit("snat").expect("named")),
            (None, "DNAT") => nat |= u128::from(status_bit("dnat").expect("named")),
            _ => {
                return Ok(Match::opaque(
                    Feature::Conntrack,
                    format!("-m conntrack {}", o.text()),
                ))
            }
        }
    }
    let by_state = Match::test(vec![Key::CtState], Rhs::Elements(states));
    if nat == 0 {
        return Ok(by_state.negate(o.negated));
    }
    let mask = ct_status_packed(nat).expect("snat and dnat are named");
    let by_nat = vec![
        ct_tracked(),
        Match::test(vec![Key::CtStatus], Rhs::AnyBit(mask)),
    ];
    let either = Match {
        kind: MatchKind::Any(vec![vec![by_state], by_nat]),
        negated: false,
    };
    Ok(either.negate(o.negated))
}
