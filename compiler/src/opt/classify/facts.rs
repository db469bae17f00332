//! What [`super::plan`] reads of a program's rules, read in one pass: each rule's
//! kind and entries ([`super::kind_of`]), and what the program's maps depend on (the
//! sets its rules use, a long port list, a redirect to a socket, an ICMP answer). A
//! long program is read in two halves, the second beside on the process's worker
//! (`beside::join`): read apart, five scans of acl1_100000's 16 MB of rules took
//! 5-7.5 ms of the calling thread alone while the other core idled (docs/benchmarks.md,
//! "The front end's serial tail, nineteenth pass").
//!
//! Invariant: [`Facts::of`] gives what reading the rules one by one in order gives:
//! the halves' kinds are put together in rule order, their sets joined (sorted, no
//! repeats) and their flags or-ed.

use super::{entries::Sets, kind_of, Kind, MAX_EXPANSION, MAX_PROGRAM_ENTRIES};
use crate::ir::{flow::PORT_CHAIN_MAX, Action, AddrMatch, PortMatch, Rule, SetId, Step};

/// Programs of at least this many rules are read in two halves (a half below it
/// costs less than handing it to the other thread).
const HALVES_MIN: usize = 8192;

// A classifiable rule has at most MAX_EXPANSION entries per family: its count fits.
const _: () = assert!(2 * MAX_EXPANSION <= u16::MAX as usize);

/// What [`super::plan`] needs of a program's rules.
pub(super) struct Facts {
    /// Each rule's kind and, unless [`Kind::Linear`], its entries (both families).
    pub kinds: Vec<(Kind, u16)>,
    /// What the program's maps depend on.
    pub uses: Uses,
}

/// What a program's maps depend on, of its rules.
#[derive(Default, Debug, PartialEq, Eq)]
pub(super) struct Uses {
    /// The sets the rules' addresses name, sorted, each once.
    pub sets: Vec<SetId>,
    /// Some rule tests a port list longer than a chain of tests ([`PORT_CHAIN_MAX`]).
    pub long_ports: bool,
    /// Some rule redirects to a socket.
    pub sockets: bool,
    /// Some rule may answer with an ICMP error ([`Rule::answers_icmp`]).
    pub answers_icmp: bool,
}

impl Facts {
    /// The facts of `rules`, a long list read in two halves on two threads.
    pub fn of(sets: &Sets, rules: &[Rule]) -> Facts {
        let mut kinds = vec![(Kind::Linear, 0); rules.len()];
        if rules.len() < HALVES_MIN {
            let uses = read(sets, rules, &mut kinds);
            return Facts { kinds, uses };
        }
        let mid = rules.len() / 2;
        let (first, second) = rules.split_at(mid);
        let (first_kinds, second_kinds) = kinds.split_at_mut(mid);
        let (later, earlier) = crate::beside::join(
            || read(sets, second, second_kinds),
            || read(sets, first, first_kinds),
        );
        let uses = earlier.then(later);
        Facts { kinds, uses }
    }

    /// Each rule's kind as the program's linear `steps` meet them, in order (a rule
    /// whose entries would take the program past [`MAX_PROGRAM_ENTRIES`] is
    /// [`Kind::Linear`], and so is a rule no linear step holds), and the uses; the
    /// counts are freed before the tries are built.
    pub fn budgeted(self, steps: &[Step]) -> (Vec<Kind>, Uses) {
        let counted = self.kinds;
        let mut kinds = vec![Kind::Linear; counted.len()];
        let mut entries_left = MAX_PROGRAM_ENTRIES;
        for step in steps {
            let Step::Linear { rules, .. } = step else {
                continue;
            };
            for i in rules.clone() {
                let (kind, n) = counted[i];
                let n = usize::from(n);
                if kind != Kind::Linear && n <= entries_left {
                    entries_left -= n;
                    kinds[i] = kind;
                }
            }
        }
        (kinds, self.uses)
    }
}

/// Reads `rules` one after another, each one's kind into `kinds` (as long).
fn read(sets: &Sets, rules: &[Rule], kinds: &mut [(Kind, u16)]) -> Uses {
    let mut uses = Uses::default();
    for (r, kind) in rules.iter().zip(kinds) {
        *kind = counted_kind(sets, r);
        uses.note(r);
    }
    uses.sets.sort_unstable();
    uses.sets.dedup();
    uses
}

/// Rule `r`'s kind and, unless [`Kind::Linear`], its entries.
fn counted_kind(sets: &Sets, r: &Rule) -> (Kind, u16) {
    let (kind, n) = kind_of(sets, r);
    let counted = match kind {
        Kind::Linear => None,
        _ => u16::try_from(n).ok().map(|n| (kind, n)),
    };
    counted.unwrap_or((Kind::Linear, 0))
}

impl Uses {
    /// Adds rule `r`, the next one.
    fn note(&mut self, r: &Rule) {
        for a in [&r.m.src, &r.m.dst] {
            if let AddrMatch::Set(s) = a {
                self.sets.push(*s);
            }
        }
        self.long_ports |= [&r.m.sport, &r.m.dport]
            .iter()
            .any(|p| matches!(p, PortMatch::Ranges(l) if l.len() > PORT_CHAIN_MAX));
        self.sockets |= matches!(r.action, Action::Redirect(Some(_)));
        self.answers_icmp |= r.answers_icmp();
    }

    /// These uses with those of the rules right after them.
    fn then(mut self, later: Uses) -> Uses {
        self.sets.extend(later.sets);
        self.sets.sort_unstable();
        self.sets.dedup();
        self.long_ports |= later.long_ports;
        self.sockets |= later.sockets;
        self.answers_icmp |= later.answers_icmp;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ir::{Module, SockId},
        syntax::reject::RejectWith,
    };
    use cranelift_entity::EntityRef;

    /// A file of `n` classifiable rules and two sets, checked.
    fn module_of(n: usize) -> Module {
        let mut src = String::from("set s = { 192.0.2.0/24 }\nset t = { 198.51.100.0/24 }\n");
        src.push_str("xdp on eth0 {\n    drop tcp from @s to @t\n");
        for i in 0..n {
            let (a, b) = (i / 250, i % 250);
            src.push_str(&format!(
                "    allow tcp from 10.{a}.{b}.0/24 to *:{}\n",
                1 + i % 999
            ));
        }
        src.push_str("    default drop\n}\n");
        crate::test_module::module(&src)
    }

    /// The uses as plan read them before this pass: a scan of the rules for each.
    fn scanned(rules: &[Rule]) -> Uses {
        let mut sets: Vec<SetId> = rules
            .iter()
            .flat_map(|r| [&r.m.src, &r.m.dst])
            .filter_map(|a| match a {
                AddrMatch::Set(s) => Some(*s),
                _ => None,
            })
            .collect();
        sets.sort();
        sets.dedup();
        Uses {
            sets,
            long_ports: rules.iter().any(|r| {
                [&r.m.sport, &r.m.dport]
                    .iter()
                    .any(|p| matches!(p, PortMatch::Ranges(l) if l.len() > PORT_CHAIN_MAX))
            }),
            sockets: rules
                .iter()
                .any(|r| matches!(r.action, Action::Redirect(Some(_)))),
            answers_icmp: rules.iter().any(Rule::answers_icmp),
        }
    }

    /// Read in halves (a program past [`HALVES_MIN`]), the facts are those of the
    /// rules read one by one, in order: with a set, a long port list, a redirect to a
    /// socket, an ICMP answer, a `count` rule or a rule that stays linear in either
    /// half, or in none.
    #[test]
    fn the_facts_read_in_halves_are_those_read_one_by_one() {
        let module = module_of(HALVES_MIN + 100);
        let base = &module.programs.values().next().expect("one program").rules;
        let long: Box<[(u16, u16)]> = (0..=PORT_CHAIN_MAX as u16)
            .map(|p| (2 * p, 2 * p))
            .collect();
        let changes: [&dyn Fn(&mut Rule); 7] = [
            &|_| {},
            &|r| r.m.src = AddrMatch::Set(SetId::new(1)),
            &|r| r.m.dport = PortMatch::Ranges(long.clone()),
            &|r| r.action = Action::Redirect(Some(SockId::new(0))),
            &|r| r.action = Action::Reject(RejectWith::AdminProhibited),
            &|r| r.action = Action::Count,
            &|r| r.m.frag = true,
        ];
        for (c, change) in changes.iter().enumerate() {
            for at in [1, 7, base.len() / 2 + 3, base.len() - 1] {
                let mut rules = base.clone();
                change(&mut rules[at]);
                let facts = Facts::of(&module.sets, &rules);
                let one_by_one: Vec<_> = rules
                    .iter()
                    .map(|r| counted_kind(&module.sets, r))
                    .collect();
                assert!(
                    facts.kinds == one_by_one,
                    "change {c} at rule {at}: kinds differ"
                );
                assert_eq!(facts.uses, scanned(&rules), "change {c} at rule {at}");
            }
        }
    }
}
