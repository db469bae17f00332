//! Counter slots kept across re-applies: a module's rules take the slots an installed
//! generation gave the same rules, so that a change confined to classifier tables
//! compiles to the installed code (slots are immediates in linear code and the
//! defaults') and every unchanged rule's live counter stays where it is.
//!
//! Programs are matched by hook, attach point and occurrence (as plans match them);
//! within a program, rules by text in order (each installed rule at most once, never
//! out of order: a greedy common subsequence, exact for one rule added, removed or
//! changed). The default keeps its slot. Every other rule gets the lowest slot no kept
//! rule holds. Invariant: slots stay distinct over the module (the IR check), and a
//! `log` rate stays with its rule (`Module::logs` is keyed by slot and renumbered too).

use std::collections::{HashMap, HashSet, VecDeque};

use super::Module;
use crate::hooks::HookKind;

/// An installed program's slots: its rules' texts with their slots, in order, and
/// its default's slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledSlots {
    pub hook: HookKind,
    pub attach_to: String,
    pub rules: Vec<(String, u32)>,
    pub default: u32,
}

/// Renumbers `module`'s counter slots to keep `installed`'s where rules match.
pub(crate) fn keep_slots(module: &mut Module, installed: &[InstalledSlots]) {
    let mut seen: HashMap<(HookKind, &str), usize> = HashMap::new();
    let keyed: HashMap<(HookKind, &str, usize), &InstalledSlots> = installed
        .iter()
        .map(|p| {
            let n = seen.entry((p.hook, p.attach_to.as_str())).or_default();
            *n += 1;
            ((p.hook, p.attach_to.as_str(), *n - 1), p)
        })
        .collect();
    // Per program and rule (the default last): the kept slot, if any.
    let mut kept: Vec<Vec<Option<u32>>> = Vec::new();
    let mut used = HashSet::new();
    let mut occurrence: HashMap<(HookKind, String), usize> = HashMap::new();
    for p in module.programs.values() {
        let n = occurrence.entry((p.hook, p.attach_to.clone())).or_default();
        *n += 1;
        let old = keyed.get(&(p.hook, p.attach_to.as_str(), *n - 1));
        let mut slots = vec![None; p.rules.len() + 1];
        if let Some(old) = old {
            let mut by_text: HashMap<&str, VecDeque<usize>> = HashMap::new();
            for (j, (text, _)) in old.rules.iter().enumerate() {
                by_text.entry(text.as_str()).or_default().push_back(j);
            }
            let mut after = 0usize;
            for (i, r) in p.rules.iter().enumerate() {
                let Some(queue) = by_text.get_mut(&*r.text) else {
                    continue;
                };
                while queue.front().is_some_and(|&j| j < after) {
                    queue.pop_front();
                }
                if let Some(j) = queue.pop_front() {
                    slots[i] = Some(old.rules[j].1);
                    after = j + 1;
                }
            }
            slots[p.rules.len()] = Some(old.default);
        }
        for s in slots.iter().flatten() {
            used.insert(*s);
        }
        kept.push(slots);
    }
    let mut next = 0u32;
    let mut fresh = || {
        while used.contains(&next) {
            next += 1;
        }
        used.insert(next);
        next
    };
    // The slots sema gave, to their new numbers: `log` rates are keyed by slot.
    let mut renumbered: HashMap<u32, u32> = HashMap::new();
    for (p, slots) in module.programs.values_mut().zip(kept) {
        for (r, slot) in p.rules.iter_mut().zip(&slots) {
            let new = slot.unwrap_or_else(&mut fresh);
            renumbered.insert(r.counter, new);
            r.counter = new;
        }
        let new = slots[p.rules.len()].unwrap_or_else(&mut fresh);
        renumbered.insert(p.default_counter, new);
        p.default_counter = new;
    }
    module.logs = std::mem::take(&mut module.logs)
        .into_iter()
        .map(|(slot, rate)| (renumbered.get(&slot).copied().unwrap_or(slot), rate))
        .collect();
    // The counters of what sockc adds around sockmap blocks and of sk_lookup
    // registrars are not kept (plans carry them over by what they count); they take
    // fresh slots so no kept rule slot is given twice.
    for g in &mut module.sockmaps {
        for c in &mut g.companions {
            for (slot, _) in &mut c.counters {
                *slot = fresh();
            }
        }
        for (_, slot) in &mut g.stack_counters {
            *slot = fresh();
        }
    }
    for r in &mut module.registrars {
        for slot in &mut r.counters {
            *slot = fresh();
        }
    }
}

/// Every counter slot of a module as sema gave it, and its `log` rates keyed by them:
/// what [`keep_slots`] renumbers, kept so that a module compiled fitted to an
/// installed generation can be lowered again as it would have been without it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbering {
    programs: Vec<(Vec<u32>, u32)>,
    companions: Vec<(Vec<Vec<u32>>, Vec<u32>)>,
    registrars: Vec<[u32; 2]>,
    logs: std::collections::BTreeMap<u32, u32>,
}

impl Numbering {
    /// `module`'s slots as they are now.
    pub(crate) fn of(module: &Module) -> Numbering {
        Numbering {
            programs: module
                .programs
                .values()
                .map(|p| {
                    (
                        p.rules.iter().map(|r| r.counter).collect(),
                        p.default_counter,
                    )
                })
                .collect(),
            companions: module
                .sockmaps
                .iter()
                .map(|g| {
                    let companions = g.companions.iter();
                    let slots = companions.map(|c| c.counters.iter().map(|(s, _)| *s).collect());
                    (
                        slots.collect(),
                        g.stack_counters.iter().map(|(_, s)| *s).collect(),
                    )
                })
                .collect(),
            registrars: module.registrars.iter().map(|r| r.counters).collect(),
            logs: module.logs.clone(),
        }
    }

    /// Puts these slots back into `module` (the module they were taken [`of`](Self::of),
    /// renumbered since).
    pub(crate) fn restore(&self, module: &mut Module) {
        for (p, (rules, default)) in module.programs.values_mut().zip(&self.programs) {
            for (r, slot) in p.rules.iter_mut().zip(rules) {
                r.counter = *slot;
            }
            p.default_counter = *default;
        }
        for (g, (companions, stack)) in module.sockmaps.iter_mut().zip(&self.companions) {
            for (c, slots) in g.companions.iter_mut().zip(companions) {
                for ((slot, _), kept) in c.counters.iter_mut().zip(slots) {
                    *slot = *kept;
                }
            }
            for ((_, slot), kept) in g.stack_counters.iter_mut().zip(stack) {
                *slot = *kept;
            }
        }
        for (r, kept) in module.registrars.iter_mut().zip(&self.registrars) {
            r.counters = *kept;
        }
        module.logs = self.logs.clone();
    }
}
