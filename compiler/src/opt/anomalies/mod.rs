//! Rule anomalies, reported as warnings, per program:
//!
//! * **shadowed** (`sockc::shadowed`): an earlier rule that always ends the program
//!   (`allow`, `drop`, `pass` or `redirect`, without a socket condition) matches every
//!   packet the rule matches, so it never matches; a `count` rule too (it never
//!   counts). The warning names the earliest such rule.
//! * **redundant** (`sockc::redundant`): a rule that always ends the program and whose
//!   removal changes no verdict: the nearest later rule with the same action covers it
//!   and no rule in between that may decide otherwise (another action, a socket
//!   condition, a redirect) overlaps it; or no later rule that may decide otherwise
//!   overlaps it and the block's default has its verdict. A shadowed rule is not also
//!   called redundant. Removing a redundant rule can change counters, never verdicts.
//!
//! A rule that matches nothing (an address set with no element of its family) is
//! skipped: it is neither reported nor in anybody's way. The pass changes nothing.
//!
//! Invariant: only certainties are reported. Whether one rule covers or overlaps
//! another is decided in the header space ([`crate::space`]): exactly, for every field
//! of a [`RuleMatch`](crate::ir::RuleMatch) (a set covers a prefix exactly when its
//! members do). A socket condition is not part of a rule's shape: a rule with one never
//! covers (it is not terminating), and it overlaps where its match does, which can
//! only make it block more (the safe direction). Nothing is reported about a rule
//! whose search was cut short.
//!
//! Large programs are not compared pairwise. Every rule gets a key per family and
//! address (its prefix, `*`, or the smallest prefix holding a set's members); the rules
//! that always or may end the program are indexed under their keys (`FamIndex`),
//! so the rules covering a rule are found on the chains of prefixes enclosing its
//! keys, and the rules overlapping it there or among the prefixes inside its keys.
//! Each search has a budget of work ([`BUDGET`]); a rule whose search runs out is
//! counted in one `sockc::anomalies_partial` warning, never dropped silently. Past
//! [`MAX_LISTED`] rules of a kind in a program, one warning counts the rest.
//!
//! The files, each with its own invariant:
//!
//! * `mod.rs` (this file): the entry point [`run`], which checks and reports program
//!   by program, and the limits of a search.
//! * `keys.rs`: the index keys (a prefix holding each address match); what a rule
//!   matches, and the covering and overlap tests, are [`crate::space`]'s
//!   [`MatchShape`](crate::space::MatchShape) comparisons.
//! * `rules.rs`: each rule as the searches read it (class, index keys, quick form),
//!   and what actions mean for anomalies.
//! * `index.rs`: a program's rules that may end it, indexed by address keys per
//!   family (`FamIndex`).
//! * `search.rs`: the per-rule searches of one program (`check_program`).
//! * `report.rs`: the warnings for what the searches found.
//! * `test_support.rs`, `tests.rs`: test support (programs from source) and the tests
//!   of the pass as a whole. The properties over random programs and packets, which
//!   need the reference evaluator, are `tests/differential/anomalies.rs`, through [`probe`].

mod index;
mod keys;
mod report;
mod rules;
mod search;

use self::{
    index::SMALL_NODE,
    report::{partial_warning, report},
    search::check_program,
};
use crate::{diag::Diagnostic, ir::Module, space::AddrSets};

/// Work units (index nodes visited plus candidate rules checked, plus the intervals
/// walked when a check compares two address sets) one rule's searches may spend.
pub const BUDGET: u32 = 1024;

/// Between a rule and its covering rule, up to this many rules are scanned one by
/// one instead of searching the index.
pub const LINEAR_SCAN: usize = 48;

/// How much searching one rule may take.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// See [`BUDGET`].
    budget: u32,
    /// See [`LINEAR_SCAN`].
    linear: usize,
    /// See [`SMALL_NODE`].
    small: usize,
}

const LIMITS: Limits = Limits {
    budget: BUDGET,
    linear: LINEAR_SCAN,
    small: SMALL_NODE,
};

/// Per program, at most this many rules of each kind are listed one by one; the
/// others are counted in one more warning (a list of thousands helps nobody, and
/// each listed warning costs time to build and to print).
pub const MAX_LISTED: usize = 100;

/// Finds shadowed and redundant rules in every program of `module`.
pub fn run(module: &Module) -> Vec<Diagnostic> {
    let sets = AddrSets::new(module);
    let mut diags = Vec::new();
    let mut partial = 0usize;
    let mut first_partial = None;
    // A socket-call block's IPv6 program has its IPv4 program's rules over the same
    // universe (`space::hook_universe`): the same findings, reported once.
    for prog in module.programs.values().filter(|p| !p.hook.is_ipv6_twin()) {
        let mut found = check_program(&sets, prog, LIMITS);
        // A rule with `log` that decides as the default still traces what it
        // decides: removing it changes what `sockc trace` shows, so it is no anomaly.
        found
            .redundant
            .retain(|&(i, _)| !module.logs.contains_key(&prog.rules[i].counter));
        report(prog, &found, MAX_LISTED, &mut diags);
        if let Some(&first) = found.unchecked.first() {
            partial += found.unchecked.len();
            first_partial.get_or_insert(prog.rules[first].span);
        }
    }
    if let Some(span) = first_partial {
        diags.push(partial_warning(span, partial));
    }
    diags
}

/// The pass's predicates and search, opened for the property tests in
/// `tests/differential/anomalies.rs`: they check them against the reference evaluator, which lives
/// in `sockc-testkit` (a crate this one does not depend on). Not for other uses.
#[doc(hidden)]
pub mod probe {
    use super::{
        check_program,
        report::report,
        rules::{decides_otherwise, same_as_default, terminates},
        Limits,
    };
    use crate::{
        diag::Diagnostic,
        ir::{Action, Module, Program, Rule, RuleMatch},
        space::{AddrSets, MatchShape},
        syntax::ast::Verdict,
    };

    pub use super::index::SMALL_NODE;

    /// The header space of one module's rules.
    pub struct Probe(AddrSets);

    impl Probe {
        pub fn new(module: &Module) -> Probe {
            Probe(AddrSets::new(module))
        }

        /// False for a rule that matches no packet (it has no shape).
        pub fn matches_something(&self, m: &RuleMatch) -> bool {
            self.0.shape(m).is_some()
        }

        /// Whether `a` matches every packet `b` matches (both must match something).
        pub fn covers(&self, a: &RuleMatch, b: &RuleMatch) -> bool {
            let (a, b) = (self.shape(a), self.shape(b));
            self.0.covers(&a, &b, &mut 0)
        }

        /// Whether some packet may match both (both must match something).
        pub fn may_overlap(&self, a: &RuleMatch, b: &RuleMatch) -> bool {
            let (a, b) = (self.shape(a), self.shape(b));
            self.0.overlaps(&a, &b, &mut 0)
        }

        fn shape<'m>(&self, m: &'m RuleMatch) -> MatchShape<'m> {
            self.0.shape(m).expect("the rule matches something")
        }
    }

    /// [`run`](super::run)'s warnings for one program, searched with these limits and
    /// an unbounded budget, and whether every rule was fully checked.
    pub fn findings_with_limits(
        module: &Module,
        prog: &Program,
        linear: usize,
        small: usize,
    ) -> (Vec<Diagnostic>, bool) {
        let limits = Limits {
            budget: u32::MAX - 1,
            linear,
            small,
        };
        let found = check_program(&AddrSets::new(module), prog, limits);
        let mut diags = Vec::new();
        report(prog, &found, usize::MAX, &mut diags);
        (diags, found.unchecked.is_empty())
    }

    /// A rule that always ends the program when it matches.
    pub fn ends_the_program(r: &Rule) -> bool {
        terminates(r)
    }

    /// A rule with this action and condition may end the program otherwise than
    /// `action` would.
    pub fn may_decide_otherwise(a: Action, cond: bool, action: Action) -> bool {
        decides_otherwise(a, cond, action)
    }

    /// The action ends the program as the default `v` would.
    pub fn decides_as_default(a: Action, v: Verdict) -> bool {
        same_as_default(a, v)
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
