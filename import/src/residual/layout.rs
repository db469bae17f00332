//! Which copies of each chain the residual holds, whatever its format:
//!
//! - a base chain at a place sockc shares becomes a *dispatcher*: its hook, priority
//!   and type as in the source, policy accept, and one rule that goes to a mode chain —
//!   `min` (the rules sockc does not run, then the policy if it stays in netfilter,
//!   else an accept that lets sockc decide) or `full` (every rule as in the source,
//!   after marking the packet so that sockc's block lets it through; then the source's
//!   policy). `sockc apply` switches between the two in one transaction.
//! - every chain such a base chain reaches (its own rules included) has two copies:
//!   *kept* (the `min` mode's: rules as the plan's [`Fate`]s say) and *whole* (the
//!   `full` mode's: every rule);
//! - every other chain — base chains at places netfilter runs alone (nat, other
//!   families, places not shared), the chains they reach, chains no base chain
//!   reaches — is kept *as it is*.
//!
//! Invariant: a jump in a copy leads to a chain of the same copy, so a packet in the
//! `min` mode never runs a rule of the `full` one and the reverse.

use super::plan::Plan;
use crate::{
    model::{Policy, Ruleset, Verdict},
    semantics::{netfilter_stages, Place, Placed},
};

/// The copies one chain has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copies {
    /// A base chain at a shared place: its dispatcher and mode chains.
    pub dispatch: bool,
    /// The kept and whole copies (reached from a dispatcher).
    pub split: bool,
    /// The chain as the source has it.
    pub same: bool,
}

/// The residual's layout.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Per table, per chain.
    pub copies: Vec<Vec<Copies>>,
}

/// What a dispatcher's mode chains end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policies {
    /// `min`: drop when the drop policy stays in netfilter; accept (sockc decides) else.
    pub min_drop: bool,
    /// `full`: the source's.
    pub full_drop: bool,
}

impl Layout {
    pub fn new(rs: &Ruleset, placed: &[Placed], plan: &Plan) -> Layout {
        let mut copies: Vec<Vec<Copies>> = rs
            .tables
            .iter()
            .map(|t| vec![Copies::default(); t.chains.len()])
            .collect();
        for (i, p) in placed.iter().enumerate() {
            let Place::Netfilter { hook, priority } = p.place else {
                continue;
            };
            if !plan.shared[i] {
                continue;
            }
            for s in netfilter_stages(rs, hook, priority).0 {
                copies[s.table][s.chain].dispatch = true;
            }
        }
        for (ti, t) in rs.tables.iter().enumerate() {
            let called = callees(rs, ti);
            let dispatchers: Vec<usize> = (0..t.chains.len())
                .filter(|&c| copies[ti][c].dispatch)
                .collect();
            let others: Vec<usize> = (0..t.chains.len())
                .filter(|&c| t.chains[c].base.is_some() && !copies[ti][c].dispatch)
                .collect();
            for c in reached(&called, &dispatchers) {
                copies[ti][c].split = true;
            }
            for c in reached(&called, &others) {
                copies[ti][c].same = true;
            }
            for c in copies[ti].iter_mut() {
                if !c.split && !c.dispatch {
                    // reached from no dispatcher: as it is (also when nothing reaches it)
                    c.same = true;
                }
            }
        }
        Layout { copies }
    }

    /// The mode chains' policies of dispatcher (table, chain).
    pub fn policies(rs: &Ruleset, plan: &Plan, table: usize, chain: usize) -> Policies {
        let full_drop = rs.tables[table].chains[chain]
            .base
            .as_ref()
            .is_some_and(|b| b.policy == Policy::Drop);
        let kept = plan
            .policy_kept
            .get(&(table, chain))
            .copied()
            .unwrap_or(false);
        Policies {
            min_drop: full_drop && kept,
            full_drop,
        }
    }

    /// Which copies verdict map `map` (of table `table`) needs: as it is, and kept and
    /// whole, each when every chain it jumps to has that copy (a map is used only from
    /// chains whose copies reach its targets).
    pub fn map_copies(&self, rs: &Ruleset, table: usize, map: &str) -> (bool, bool) {
        let t = &rs.tables[table];
        let Some(set) = rs
            .sets
            .iter()
            .find(|s| s.table == Some(table) && s.name == map)
        else {
            return (true, false);
        };
        let mut chains = Vec::new();
        for v in set.verdicts.iter().flatten() {
            targets(v, &mut |n| chains.extend(t.chain(n)));
        }
        let all = |f: &dyn Fn(&Copies) -> bool| chains.iter().all(|&c| f(&self.copies[table][c]));
        let any_split = self.copies[table].iter().any(|c| c.split);
        (
            all(&|c| c.same && !c.dispatch),
            any_split && all(&|c| c.split),
        )
    }

    /// Whether any chain is a dispatcher (a place is shared).
    pub fn dispatches(&self) -> bool {
        self.copies.iter().flatten().any(|c| c.dispatch)
    }
}

/// The chains reached from `from` (themselves included) through `called`.
fn reached(called: &[Vec<usize>], from: &[usize]) -> Vec<usize> {
    let mut seen = vec![false; called.len()];
    let mut todo: Vec<usize> = from.to_vec();
    let mut out = Vec::new();
    while let Some(c) = todo.pop() {
        if std::mem::replace(&mut seen[c], true) {
            continue;
        }
        out.push(c);
        todo.extend(&called[c]);
    }
    out
}

/// Per chain of table `ti`, the chains its rules jump or go to.
pub fn callees(rs: &Ruleset, ti: usize) -> Vec<Vec<usize>> {
    let t = &rs.tables[ti];
    t.chains
        .iter()
        .map(|c| {
            let mut out = Vec::new();
            for id in &c.rules {
                targets(&rs.rules[*id].verdict, &mut |name| {
                    if let Some(to) = t.chain(name) {
                        out.push(to);
                    }
                });
            }
            out
        })
        .collect()
}

/// Calls `f` with every chain name `v` jumps or goes to.
pub fn targets(v: &Verdict, f: &mut dyn FnMut(&str)) {
    match v {
        Verdict::Jump(n) | Verdict::Goto(n) => f(n),
        Verdict::Map { entries, .. } => {
            for (_, v) in entries {
                targets(v, f);
            }
        }
        _ => {}
    }
}
