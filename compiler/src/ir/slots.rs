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

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::Module;
use crate::hooks::HookKind;
use crate::slot_set::SlotSet;

/// An installed program's slots: its rules' texts with their slots, in order, and
/// its default's slot. A text is shared with the installed manifest's rule it was
/// read from (`RuleMeta::text`), not copied: 100,000 of them in a re-apply's refit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledSlots {
    pub hook: HookKind,
    pub attach_to: String,
    pub rules: Vec<(std::sync::Arc<str>, u32)>,
    pub default: u32,
}

/// The installed programs by hook, attach point and occurrence among those of one
/// hook and attach point (the n-th program there meets the n-th of the module's).
fn by_occurrence(
    installed: &[InstalledSlots],
) -> HashMap<(HookKind, &str, usize), &InstalledSlots> {
    let mut seen: HashMap<(HookKind, &str), usize> = HashMap::new();
    installed
        .iter()
        .map(|p| {
            let n = seen.entry((p.hook, p.attach_to.as_str())).or_default();
            *n += 1;
            ((p.hook, p.attach_to.as_str(), *n - 1), p)
        })
        .collect()
}

/// Renumbers `module`'s counter slots to keep `installed`'s where rules match.
pub(crate) fn keep_slots(module: &mut Module, installed: &[InstalledSlots]) {
    let keyed = by_occurrence(installed);
    // One pass over the rules: each kept slot taken and given at once (a fresh slot
    // is the lowest no kept rule holds, so those are given after, in the same order:
    // program by program, rules before the default). The rules are large and
    // 100,000 of them: a second pass to write what the first matched was a tenth of
    // a re-apply's refit.
    let slots: usize = module.programs.values().map(|p| p.rules.len() + 1).sum();
    let mut used = Taken::for_slots(slots);
    let logs = std::mem::take(&mut module.logs);
    // The slots sema gave, to their new numbers: `log` rates are keyed by slot (only
    // those with a rate are looked up).
    let mut renumbered: HashMap<u32, u32> = HashMap::new();
    let mut give = |counter: &mut u32, new: u32| {
        if logs.contains_key(counter) {
            renumbered.insert(*counter, new);
        }
        *counter = new;
    };
    // Per program, the rules (by index; the default as the rules' count) left for a
    // fresh slot.
    let mut unkept: Vec<Vec<usize>> = Vec::new();
    let mut occurrence: HashMap<(HookKind, String), usize> = HashMap::new();
    for p in module.programs.values_mut() {
        let n = occurrence.entry((p.hook, p.attach_to.clone())).or_default();
        *n += 1;
        let old = keyed.get(&(p.hook, p.attach_to.as_str(), *n - 1));
        let mut left = Vec::new();
        let mut keep = |counter: &mut u32, slot: u32| {
            used.take(slot);
            give(counter, slot);
        };
        match old {
            Some(old) => {
                let mut matcher = Matcher::new(old);
                for (i, r) in p.rules.iter_mut().enumerate() {
                    match matcher.slot(&r.text) {
                        Some(slot) => keep(&mut r.counter, slot),
                        None => left.push(i),
                    }
                }
                keep(&mut p.default_counter, old.default);
            }
            None => left.extend(0..=p.rules.len()),
        }
        unkept.push(left);
    }
    let mut fresh = || used.fresh();
    for (p, left) in module.programs.values_mut().zip(&unkept) {
        for &i in left {
            let new = fresh();
            match p.rules.get_mut(i) {
                Some(r) => give(&mut r.counter, new),
                None => give(&mut p.default_counter, new),
            }
        }
    }
    module.logs = logs
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

/// Per rule of a program (by text, in order), the slot of the installed rule it keeps:
/// for each rule the first installed rule with its text after the last one kept (each
/// kept at most once, never out of order). Tried first where the last kept rule's
/// successor is: a small change leaves most rules where they were.
struct Matcher<'o> {
    old: &'o InstalledSlots,
    later: Later<'o>,
    after: usize,
}

impl<'o> Matcher<'o> {
    fn new(old: &'o InstalledSlots) -> Matcher<'o> {
        Matcher {
            old,
            later: Later::new(old),
            after: 0,
        }
    }

    /// The slot the next rule, of text `text`, keeps.
    fn slot(&mut self, text: &str) -> Option<u32> {
        let found = match self.old.rules.get(self.after) {
            Some((t, _)) if **t == *text => Some(self.after),
            _ => self.later.find(text, self.after),
        };
        found.map(|j| {
            self.after = j + 1;
            self.old.rules[j].1
        })
    }
}

/// [`Matcher`]'s slots of a whole program's rules.
#[cfg(test)]
fn matched_slots<'a>(
    old: &InstalledSlots,
    rules: impl ExactSizeIterator<Item = &'a str>,
) -> Vec<Option<u32>> {
    let mut m = Matcher::new(old);
    rules.map(|text| m.slot(text)).collect()
}

/// Finds the first installed rule at or after an index with a given text: by a scan
/// while the scans so far have compared fewer texts than the program has rules, then
/// by an index of the texts built once. A one-rule change misses the successor once
/// or twice, so the scan spares hashing every installed text (100,000 of them, a
/// tenth of a re-apply's refit); many misses cost at most one pass more than the
/// index alone. Either way the answer is the same.
struct Later<'o> {
    old: &'o InstalledSlots,
    scan_left: usize,
    index: Option<TextIndex<'o>>,
}

/// Per text its first installed rule not passed yet, and per installed rule the next
/// with the same text: a queue per text without one allocation each.
struct TextIndex<'o> {
    first: HashMap<&'o str, usize, FixedState>,
    next_same: Vec<usize>,
}

impl<'o> Later<'o> {
    fn new(old: &'o InstalledSlots) -> Later<'o> {
        Later {
            old,
            scan_left: old.rules.len(),
            index: None,
        }
    }

    /// The first installed rule at `after` or later whose text is `text`.
    fn find(&mut self, text: &str, after: usize) -> Option<usize> {
        let rules = &self.old.rules;
        if self.index.is_none() {
            let rest = rules.get(after..).unwrap_or_default();
            let scanned = &rest[..rest.len().min(self.scan_left)];
            let found = scanned.iter().position(|(t, _)| **t == *text);
            self.scan_left -= found.map_or(scanned.len(), |k| k + 1);
            if found.is_some() || scanned.len() == rest.len() {
                return found.map(|k| after + k);
            }
            self.index = Some(TextIndex::of(self.old));
        }
        self.index.as_mut().expect("built above").find(text, after)
    }
}

impl<'o> TextIndex<'o> {
    fn of(old: &'o InstalledSlots) -> TextIndex<'o> {
        let mut first: HashMap<&str, usize, FixedState> = HashMap::default();
        let mut next_same = vec![usize::MAX; old.rules.len()];
        for (j, (text, _)) in old.rules.iter().enumerate().rev() {
            if let Some(later) = first.insert(&**text, j) {
                next_same[j] = later;
            }
        }
        TextIndex { first, next_same }
    }

    /// The first installed rule at `after` or later whose text is `text`; `after`
    /// never decreases between calls (the heads passed are dropped).
    fn find(&mut self, text: &str, after: usize) -> Option<usize> {
        let head = self.first.get_mut(text)?;
        while *head < after {
            *head = self.next_same[*head];
        }
        (*head != usize::MAX).then_some(*head)
    }
}

/// The slots given so far, and the lowest one not given: a bit per slot below a
/// bound, a set beyond it ([`SlotSet`]: the installed slots are read from a
/// manifest, and one slot of 4 billion must not cost half a gigabyte; a hashed set
/// of 100,000 slots was a fifth of `keep_slots`).
struct Taken {
    taken: SlotSet,
    next: u32,
}

impl Taken {
    /// For a module of `slots` rules and defaults (a bit for each of twice as many).
    fn for_slots(slots: usize) -> Taken {
        Taken {
            taken: SlotSet::below(2 * slots),
            next: 0,
        }
    }

    fn take(&mut self, slot: u32) {
        self.taken.insert(slot);
    }

    /// The lowest slot not given yet, given now.
    fn fresh(&mut self) -> u32 {
        while !self.taken.insert(self.next) {
            self.next += 1;
        }
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed(texts: &[&str]) -> InstalledSlots {
        InstalledSlots {
            hook: HookKind::Xdp,
            attach_to: "eth0".into(),
            rules: texts
                .iter()
                .zip(10..)
                .map(|(t, s)| (std::sync::Arc::from(*t), s))
                .collect(),
            default: 99,
        }
    }

    /// Each rule keeps the slot of the first installed rule with its text after the
    /// last kept one: one added, removed, changed or moved, and repeated texts.
    #[test]
    fn rules_keep_the_slots_of_the_installed_rules_they_match_in_order() {
        let old = installed(&["a", "b", "c", "b", "d"]);
        let matched = |new: &[&str]| matched_slots(&old, new.iter().copied());
        assert_eq!(
            matched(&["x", "a", "b", "c", "b", "d"]),
            [None, Some(10), Some(11), Some(12), Some(13), Some(14)]
        );
        assert_eq!(
            matched(&["a", "c", "b", "d"]),
            [Some(10), Some(12), Some(13), Some(14)]
        );
        assert_eq!(
            matched(&["a", "b", "y", "b", "d"]),
            [Some(10), Some(11), None, Some(13), Some(14)]
        );
        // Moved ahead of others: kept, and the ones it passed are not kept again.
        assert_eq!(matched(&["d", "a", "b"]), [Some(14), None, None]);
        assert_eq!(
            matched(&["b", "b", "b", "a"]),
            [Some(11), Some(13), None, None]
        );
        assert_eq!(matched(&[]), Vec::<Option<u32>>::new());
    }

    /// The index alone, as every lookup was made before the scan (the reference).
    fn matched_by_index(old: &InstalledSlots, rules: &[&str]) -> Vec<Option<u32>> {
        let mut index = TextIndex::of(old);
        let mut after = 0usize;
        let mut slots = Vec::new();
        for text in rules {
            let found = index.find(text, after);
            slots.push(found.map(|j| {
                after = j + 1;
                old.rules[j].1
            }));
        }
        slots
    }

    /// The scan finds what the index finds, before its budget is spent, as it runs
    /// out (the index built midway) and after: one rule added, removed or changed in
    /// 300, and lists of few texts, repeated, shuffled and cut, with many misses.
    #[test]
    fn the_scan_and_the_index_find_the_same_rules() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let base: Vec<String> = (0..300).map(|i| format!("drop udp to *:{i}")).collect();
        let mut cases: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        let mut added = base.clone();
        added.insert(0, "drop tcp to *:1".into());
        cases.push((base.clone(), added));
        let mut removed = base.clone();
        removed.remove(150);
        cases.push((base.clone(), removed));
        let mut changed = base.clone();
        changed[299] = "allow udp to *:299".into();
        cases.push((base.clone(), changed));
        for _ in 0..200 {
            let words = ["a", "b", "c", "d", "e"];
            let len = |n: &mut dyn FnMut(u64) -> usize| n(40);
            let (n_old, n_new) = (len(&mut next), len(&mut next));
            let old = (0..n_old).map(|_| words[next(5)].to_string()).collect();
            let new = (0..n_new).map(|_| words[next(5)].to_string()).collect();
            cases.push((old, new));
        }
        for (old, new) in &cases {
            let texts: Vec<&str> = old.iter().map(String::as_str).collect();
            let old = installed(&texts);
            let new: Vec<&str> = new.iter().map(String::as_str).collect();
            let scanned = matched_slots(&old, new.iter().copied());
            assert_eq!(scanned, matched_by_index(&old, &new), "{texts:?} {new:?}");
        }
    }

    /// A xorshift generator from `seed`: each call a number below `n`.
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> usize {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as usize
        }
    }

    use crate::test_module::module;

    /// `keep_slots` as it was made before it kept slots in one pass over the rules:
    /// every program's matches first, then every slot given, program by program
    /// (the reference the one pass is checked against).
    fn keep_slots_in_two_passes(module: &mut Module, installed: &[InstalledSlots]) {
        let keyed = by_occurrence(installed);
        let mut kept: Vec<Vec<Option<u32>>> = Vec::new();
        let mut occurrence: HashMap<(HookKind, String), usize> = HashMap::new();
        for p in module.programs.values() {
            let n = occurrence.entry((p.hook, p.attach_to.clone())).or_default();
            *n += 1;
            let old = keyed.get(&(p.hook, p.attach_to.as_str(), *n - 1));
            let mut slots = match old {
                Some(old) => {
                    matched_by_index(old, &p.rules.iter().map(|r| &*r.text).collect::<Vec<_>>())
                }
                None => vec![None; p.rules.len()],
            };
            slots.push(old.map(|o| o.default));
            kept.push(slots);
        }
        let mut used = Taken::for_slots(kept.iter().map(Vec::len).sum());
        for s in kept.iter().flatten().flatten() {
            used.take(*s);
        }
        let mut fresh = || used.fresh();
        let mut renumbered: HashMap<u32, u32> = HashMap::new();
        let logs = std::mem::take(&mut module.logs);
        for (p, slots) in module.programs.values_mut().zip(kept) {
            for (r, slot) in p.rules.iter_mut().zip(&slots) {
                let new = slot.unwrap_or_else(&mut fresh);
                if logs.contains_key(&r.counter) {
                    renumbered.insert(r.counter, new);
                }
                r.counter = new;
            }
            let new = slots[p.rules.len()].unwrap_or_else(&mut fresh);
            if logs.contains_key(&p.default_counter) {
                renumbered.insert(p.default_counter, new);
            }
            p.default_counter = new;
        }
        module.logs = logs
            .into_iter()
            .map(|(slot, rate)| (renumbered.get(&slot).copied().unwrap_or(slot), rate))
            .collect();
    }

    /// Every counter slot of a module, in order, and its log rates.
    fn slots_of(m: &Module) -> (Vec<Vec<u32>>, Vec<(u32, u32)>) {
        let programs = m.programs.values();
        let slots = programs.map(|p| {
            let rules = p.rules.iter().map(|r| r.counter);
            rules.chain([p.default_counter]).collect()
        });
        (
            slots.collect(),
            m.logs.iter().map(|(s, r)| (*s, *r)).collect(),
        )
    }

    /// The one pass gives every rule, default and `log` rate the slot the two passes
    /// gave: programs on two hooks and a second program on one of them (matched by
    /// occurrence), one installed program missing, rules added, removed, repeated and
    /// moved, installed slots in any order, logging rules kept and given fresh slots.
    #[test]
    fn slots_kept_in_one_pass_are_those_of_two() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let texts = [
            "drop udp to *:1",
            "drop udp to *:2",
            "allow tcp to *:3",
            "drop udp to *:4 log",
            "allow udp to *:5 log 7/s",
        ];
        for case in 0..300 {
            let block = |head: &str, next: &mut dyn FnMut(u64) -> usize| {
                let rules: Vec<&str> = (0..next(9)).map(|_| texts[next(5)]).collect();
                format!("{head} {{\n  {}\n  default allow\n}}\n", rules.join("\n  "))
                    .replace("{\n  \n", "{\n")
            };
            let mut src = block("xdp on eth0", &mut next);
            src += &block("tc ingress on eth1", &mut next);
            if case % 3 == 0 {
                src += &block("xdp on eth2", &mut next);
            }
            let m = module(&src);
            let hooks: Vec<(HookKind, String)> = (m.programs.values())
                .map(|p| (p.hook, p.attach_to.clone()))
                .collect();
            // Installed programs: the file's hooks (one left out now and then), each
            // with rules of the same texts and slots drawn from a shuffled range.
            let mut pool: Vec<u32> = (0..40).collect();
            for k in (1..pool.len()).rev() {
                pool.swap(k, next(k as u64 + 1));
            }
            let mut pool = pool.into_iter();
            let mut installed: Vec<InstalledSlots> = Vec::new();
            for (hook, at) in &hooks {
                if case % 5 == 0 && next(2) == 0 {
                    continue;
                }
                let rules = (0..next(9))
                    .map(|_| (std::sync::Arc::from(texts[next(5)]), pool.next().unwrap()))
                    .collect();
                installed.push(InstalledSlots {
                    hook: *hook,
                    attach_to: at.clone(),
                    rules,
                    default: pool.next().unwrap(),
                });
            }
            let (mut one, mut two) = (m.clone(), m);
            keep_slots(&mut one, &installed);
            keep_slots_in_two_passes(&mut two, &installed);
            assert_eq!(slots_of(&one), slots_of(&two), "{src}\n{installed:?}");
        }
    }

    #[test]
    fn fresh_slots_are_the_lowest_not_kept() {
        for bound in [0, 3, 4, 100] {
            let mut t = Taken::for_slots(bound);
            for s in [0, 1, 3, 4_000_000_000] {
                t.take(s);
            }
            let given = [t.fresh(), t.fresh(), t.fresh()];
            assert_eq!(given, [2, 4, 5], "bound {bound}");
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
