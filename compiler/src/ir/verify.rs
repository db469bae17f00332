//! The IR's own check: what every stage after sema may assume of a module, tested
//! after sema and after each optimizer pass in debug and test builds (see
//! `opt::optimize`), so a pass that breaks it fails at the pass, not in the kernel.
//!
//! Checked: each program's steps cover its rules in order, each rule exactly once, no
//! step empty; a linear run's plan (if any) has one entry per rule it covers and one
//! node per test of each; a classifier's trees are non-empty and name only rules of
//! its range; counter slots are distinct; every set and socket a rule names exists.

use std::collections::HashSet;

use super::{flow::rule_tests, Action, AddrMatch, Module, Program, Step};

/// What is wrong with a module, naming the program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("IR check failed in program `{symbol}`: {what}")]
pub struct VerifyError {
    pub symbol: String,
    pub what: String,
}

/// Checks every program of `module`.
pub fn verify(module: &Module) -> Result<(), VerifyError> {
    let mut counters = HashSet::new();
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
                for t in &c.trees {
                    if t.entries.is_empty() {
                        return Err(format!("step {k}: a tree without entries"));
                    }
                    if let Some(e) = t
                        .entries
                        .iter()
                        .find(|e| !c.rules.contains(&(e.rule as usize)))
                    {
                        return Err(format!(
                            "step {k}: an entry of rule {} outside the run",
                            e.rule
                        ));
                    }
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
