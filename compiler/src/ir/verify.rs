//! The IR's own check: what every stage after sema may assume of a module, tested
//! after sema and after each optimizer pass in debug and test builds (see
//! `opt::optimize_timed`), so a pass that breaks it fails at the pass, not in the kernel.
//!
//! Checked: each program's steps cover its rules in order, each rule exactly once, no
//! step empty; a linear run's plan (if any) has one entry per rule it covers and one
//! node per test of each; a classifier's tries are non-empty, name only rules of its
//! range and are well-formed DAGs no deeper than their key; counter slots are distinct; every set and socket a rule names exists.

use super::{classifier, flow::rule_tests, Action, AddrMatch, Module, Program, Step};
use crate::slot_set::SlotSet;
use crate::syntax::ast::Family;

/// What is wrong with a module, naming the program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("IR check failed in program `{symbol}`: {what}")]
pub struct VerifyError {
    pub symbol: String,
    pub what: String,
}

/// Checks every program of `module`.
pub(crate) fn verify(module: &Module) -> Result<(), VerifyError> {
    let mut counters = seen_slots(module);
    for (_, p) in &module.programs {
        let fail = |what: String| VerifyError {
            symbol: p.symbol.clone(),
            what,
        };
        check_steps(module, p).map_err(fail)?;
        for (i, r) in p.rules.iter().enumerate() {
            if !counters.insert(r.counter) {
                return Err(fail(format!("rule {i} reuses counter slot {}", r.counter)));
            }
            for a in [&r.m.src, &r.m.dst] {
                if let AddrMatch::Set(s) = a {
                    if module.sets.get(*s).is_none() {
                        return Err(fail(format!("rule {i} names a missing {s}")));
                    }
                }
            }
            if let Action::Redirect(Some(s)) | Action::RedirectIngress(s) = r.action {
                if module.sockets.get(s).is_none() {
                    return Err(fail(format!("rule {i} names a missing {s}")));
                }
            }
        }
        if !counters.insert(p.default_counter) {
            return Err(fail(format!(
                "the default reuses counter slot {}",
                p.default_counter
            )));
        }
    }
    Ok(())
}

/// Checks what [`super::slots::keep_slots`] changes in `module`, a module that was
/// checked whole before it ([`verify`] after sema and each pass in debug and test
/// builds; a release build checks it nowhere, a first apply included): that its
/// programs' counter slots are distinct, with [`verify`]'s errors. A re-apply's
/// refit checked the whole module again here, tries and all (20 M instructions at
/// 100,000 rules, work a first apply does not do); a debug or test build still does.
pub(crate) fn renumbered(module: &Module) -> Result<(), VerifyError> {
    if cfg!(debug_assertions) {
        return verify(module);
    }
    counter_slots(module)
}

/// [`verify`]'s check of counter slots alone: distinct over the programs' rules and
/// defaults.
fn counter_slots(module: &Module) -> Result<(), VerifyError> {
    let mut counters = seen_slots(module);
    for (_, p) in &module.programs {
        let fail = |what: String| VerifyError {
            symbol: p.symbol.clone(),
            what,
        };
        for (i, r) in p.rules.iter().enumerate() {
            if !counters.insert(r.counter) {
                return Err(fail(format!("rule {i} reuses counter slot {}", r.counter)));
            }
        }
        if !counters.insert(p.default_counter) {
            return Err(fail(format!(
                "the default reuses counter slot {}",
                p.default_counter
            )));
        }
    }
    Ok(())
}

/// An empty set of the counter slots of `module`: a bit for each slot below twice
/// its rules and defaults.
fn seen_slots(module: &Module) -> SlotSet {
    let slots: usize = module.programs.values().map(|p| p.rules.len() + 1).sum();
    SlotSet::below(2 * slots)
}

fn check_steps(module: &Module, p: &Program) -> Result<(), String> {
    let mut next = 0;
    for (k, step) in p.steps.iter().enumerate() {
        let range = step.rules();
        if range.start != next || range.is_empty() {
            return Err(format!(
                "step {k} decides rules {range:?}, expected a non-empty range from {next}"
            ));
        }
        next = range.end;
        match step {
            Step::Linear { plan: None, .. } => {}
            Step::Linear {
                rules,
                plan: Some(plan),
            } => {
                let planned = p.planned_rules(module, rules.clone());
                if plan.rules.len() != planned.len() {
                    return Err(format!(
                        "step {k} plans {} rules of {}",
                        plan.rules.len(),
                        planned.len()
                    ));
                }
                for (rp, &i) in plan.rules.iter().zip(&planned) {
                    let r = &p.rules[i];
                    if rp.tests.len() != rule_tests(&r.m, r.cond).len() {
                        return Err(format!("step {k}: the plan of rule {i} has wrong tests"));
                    }
                }
            }
            Step::Classify(c) => {
                for t in &c.tries {
                    check_trie(c, t).map_err(|e| format!("step {k}: {e}"))?;
                }
                let counting = |r: &super::Rule| r.action == Action::Count;
                if p.rules[c.rules.clone()]
                    .iter()
                    .any(|r| counting(r) != c.counts)
                {
                    return Err(format!(
                        "step {k}: a classifier mixes count and other rules"
                    ));
                }
                if c.counts
                    && [Family::V4, Family::V6]
                        .iter()
                        .any(|f| c.tries.iter().filter(|t| t.family == *f).count() > 1)
                {
                    return Err(format!(
                        "step {k}: a counting classifier with two tries of one family"
                    ));
                }
            }
        }
    }
    if next != p.rules.len() {
        return Err(format!(
            "the steps decide rules 0..{next} of {}",
            p.rules.len()
        ));
    }
    Ok(())
}

/// A trie's shape: entries of the run, leaves within `LEAF_MAX` and in rule order,
/// nodes with increasing runs ending at 255 that name existing children, and no path
/// longer than the family's key (each node below its parent reads a later byte of
/// some dimension, so children are built first: a child's index is lower), and IPv6
/// entries whose address halves are 64-bit ranges (what the leaf checks compare).
fn check_trie(c: &classifier::Classifier, t: &classifier::Trie) -> Result<(), String> {
    use classifier::Child;
    if t.entries.is_empty() {
        return Err("a trie without entries".into());
    }
    if let Some(e) = t
        .entries
        .iter()
        .find(|e| !c.rules.contains(&(e.rule as usize)))
    {
        return Err(format!("an entry of rule {} outside the run", e.rule));
    }
    let max_leaf = classifier::LEAF_MAX;
    for leaf in &t.leaves {
        if leaf.is_empty() || leaf.len() > max_leaf {
            return Err(format!("a leaf of {} entries", leaf.len()));
        }
        if leaf.iter().any(|&e| e as usize >= t.entries.len())
            || leaf.windows(2).any(|w| w[0] >= w[1])
        {
            return Err("a leaf not in entry order".into());
        }
    }
    let child_ok = |child: Child, below: usize| match child {
        Child::Empty => true,
        Child::Leaf(l) => (l as usize) < t.leaves.len(),
        Child::Node(n) => (n as usize) < below,
    };
    let mut depth = vec![0usize; t.nodes.len()];
    for (i, n) in t.nodes.iter().enumerate() {
        let ends_ok = n
            .runs
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 != w[1].1)
            && n.runs.last().is_some_and(|r| r.0 == 255)
            && n.runs.len() >= 2;
        if !ends_ok || !n.runs.iter().all(|r| child_ok(r.1, i)) {
            return Err(format!("node {i} has malformed runs"));
        }
        depth[i] = 1 + n
            .runs
            .iter()
            .map(|r| match r.1 {
                Child::Node(c) => depth[c as usize],
                _ => 0,
            })
            .max()
            .unwrap_or(0);
    }
    if !child_ok(t.root, t.nodes.len()) {
        return Err("the root names no node or leaf".into());
    }
    if t.family == Family::V6 {
        if let Some(e) = t.entries.iter().find(|e| !e.halves_are_ranges()) {
            return Err(format!(
                "an entry of rule {} whose address halves are not ranges",
                e.rule
            ));
        }
    }
    let longest = depth.iter().copied().max().unwrap_or(0);
    if longest > t.key_bytes() || longest != t.depth {
        return Err(format!("depth {longest} (recorded {})", t.depth));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    use crate::test_module::module;

    /// The slots seen answer as a hashed set does, below the bound and beyond it
    /// (slots far past the rules' count go to the set).
    #[test]
    fn seen_slots_answer_as_a_set_does() {
        let m = module("xdp on eth0 {\n  drop udp to *:1\n  drop udp to *:2\n  default allow\n}\n");
        let mut seen = seen_slots(&m);
        let mut set = HashSet::new();
        let slots = [
            0,
            5,
            63,
            64,
            5,
            65,
            1 << 20,
            u32::MAX,
            64,
            u32::MAX,
            1 << 20,
            0,
            7,
        ];
        for s in slots {
            assert_eq!(seen.insert(s), set.insert(s), "slot {s}");
        }
    }

    /// A slot used twice is the IR check's failure, naming the rule or the default
    /// that reuses it, whether the slot is below the bound or far past it.
    #[test]
    fn a_reused_counter_slot_fails_the_check() {
        let src = "xdp on eth0 {\n  drop udp to *:1\n  drop udp to *:2\n  default allow\n}\n";
        assert_eq!(verify(&module(src)), Ok(()));
        assert_eq!(counter_slots(&module(src)), Ok(()));
        for (slot, rule) in [(1u32, true), (1 << 30, true), (9, false)] {
            let mut m = module(src);
            let p = m.programs.values_mut().next().unwrap();
            p.rules[0].counter = slot;
            if rule {
                p.rules[1].counter = slot;
            } else {
                p.default_counter = slot;
            }
            let expected = match rule {
                true => format!("rule 1 reuses counter slot {slot}"),
                false => format!("the default reuses counter slot {slot}"),
            };
            assert_eq!(verify(&m).unwrap_err().what, expected);
            assert_eq!(counter_slots(&m).unwrap_err().what, expected);
            assert_eq!(renumbered(&m).unwrap_err().what, expected);
        }
    }
}
