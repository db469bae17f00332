//! Marks the ruleset writes. A test of the packet mark or of the conntrack mark sees
//! what the rules before it wrote; in the pair, the residual of a place runs every
//! rule it keeps — a writer among them — before any rule of sockc's block there, so a
//! test that in the original runs *before* a writer of its place would see the written
//! mark in the pair. A test is therefore made opaque (kept in the residual, in source
//! order with the writers) unless every writer runs before the test's place on every
//! packet: a base chain at prerouting (a `mangle` chain setting `ct mark` or `mark`)
//! runs before every chain at a later hook and before the prerouting chains of
//! higher priority, and never on locally generated packets; a test in a table with no
//! prerouting chain at or below the writers' priority (jumps never leave a table) sees
//! the same mark in the original and in the pair.
//!
//! Invariant: after [`mark`], no rule tests [`Key::Mark`] or [`Key::CtMark`] while a
//! writer may run after it in its place; a statement or verdict that names a mark
//! counts as writing both marks (what it writes is not parsed: kept conservative).

use crate::{
    features::Feature,
    model::{Key, Match, MatchKind, NfHook, Rule, Ruleset},
};

/// Turns the mark tests a writer may run after into opaque matches.
pub fn mark(rs: &mut Ruleset) {
    let writers: Vec<&Rule> = rs.rules.iter().filter(|r| writes_mark(r)).collect();
    if writers.is_empty() {
        return;
    }
    // The highest priority of the writers, when every writer is in a prerouting base
    // chain; `None` when some writer may run elsewhere.
    let early = writers.iter().try_fold(i32::MIN, |hi, r| {
        let base = rs.tables[r.table].chains[r.chain].base.as_ref()?;
        (base.hook == NfHook::Prerouting).then_some(hi.max(base.priority))
    });
    let tainted: Vec<bool> =
        rs.tables
            .iter()
            .map(|t| match early {
                None => true,
                Some(p) => t.chains.iter().filter_map(|c| c.base.as_ref()).any(|b| {
                    matches!(b.hook, NfHook::Prerouting | NfHook::Ingress) && b.priority <= p
                }),
            })
            .collect();
    for rule in &mut rs.rules {
        if tainted[rule.table] {
            rule.matches.iter_mut().for_each(opaque_mark_tests);
        }
    }
}

/// Whether a statement or verdict of `r` names a mark.
fn writes_mark(r: &Rule) -> bool {
    r.statement_texts()
        .any(|t| t.to_ascii_lowercase().contains("mark"))
}

fn opaque_mark_tests(m: &mut Match) {
    match &mut m.kind {
        MatchKind::Test { keys, .. }
            if keys.iter().any(|k| matches!(k, Key::Mark | Key::CtMark)) =>
        {
            let names: Vec<String> = keys.iter().map(Key::describe).collect();
            m.kind = MatchKind::Opaque {
                feature: Feature::Mark,
                key: format!("{} (the ruleset also sets marks)", names.join(" . ")),
            };
        }
        MatchKind::Any(alts) => alts.iter_mut().flatten().for_each(opaque_mark_tests),
        _ => {}
    }
}
