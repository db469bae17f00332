//! How a run of rules that stay linear is laid out: a [`Plan`] says, for every test
//! position of every rule, whether lowering emits the test, skips it or jumps over
//! it, and where a failing test goes. [`linear`] is the `-O0` layout (every rule tests
//! on its own); the threading pass (`opt::thread`) makes better ones. Lowering follows
//! whichever plan the IR holds.
//!
//! Invariant: a plan has one entry per rule of its run and one node per test of each
//! rule ([`super::flow::rule_tests`]), and every jump goes forward.

use std::ops::Range;

use super::{
    flow::{rule_tests, Test},
    Action, Module, Program,
};

/// A rule as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleTests {
    pub tests: Vec<Test>,
    /// True for a `count` rule: when its tests pass it counts and the next rule runs.
    pub continues: bool,
}

impl RuleTests {
    /// The rules of `prog`'s linear run `range` that can match (their indices: the
    /// rules a plan of the run covers), and their tests.
    pub fn of_run(
        module: &Module,
        prog: &Program,
        range: Range<usize>,
    ) -> (Vec<usize>, Vec<RuleTests>) {
        let planned = prog.planned_rules(module, range);
        let tests = planned
            .iter()
            .map(|&i| {
                let r = &prog.rules[i];
                RuleTests {
                    tests: rule_tests(&r.m, r.cond),
                    continues: r.action == Action::Count,
                }
            })
            .collect();
        (planned, tests)
    }
}

/// Where control goes: a node, or the end of the rule run (what follows the rules:
/// the default, or the next step of the program). Ordered as laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Test `test` of rule `rule`; `test == tests.len()` is the rule's action.
    Node {
        rule: usize,
        test: usize,
    },
    End,
}

/// What lowering emits for one test position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// No path reaches it: nothing.
    Dead,
    /// Every path reaching it knows it passes: nothing (control goes on).
    Known,
    /// Every path reaching it knows it fails: a jump to where the failure leads
    /// (nothing when that is the next emitted code).
    Skip(Target),
    /// The test; when it fails, control goes to `fail`.
    Test { fail: Target },
}

/// The plan of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulePlan {
    /// One entry per test.
    pub tests: Vec<Node>,
    /// Whether any path reaches the action (all tests passed).
    pub action: bool,
    /// For a `count` rule whose action is reachable: where control goes on.
    pub then: Option<Target>,
}

/// How a run of rules is lowered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Where control enters the run (always the first emitted code).
    pub entry: Target,
    pub rules: Vec<RulePlan>,
    /// Whether any path leaves the run at its end.
    pub end: bool,
}

impl Plan {
    /// The position after `(rule, test)` in layout order.
    pub fn next(&self, rule: usize, test: usize) -> Target {
        if test < self.rules[rule].tests.len() {
            Target::Node {
                rule,
                test: test + 1,
            }
        } else if rule + 1 < self.rules.len() {
            Target::Node {
                rule: rule + 1,
                test: 0,
            }
        } else {
            Target::End
        }
    }

    /// Whether position `(rule, test)` emits any code.
    pub fn emits(&self, rule: usize, test: usize) -> bool {
        let r = &self.rules[rule];
        match r.tests.get(test) {
            Some(Node::Dead | Node::Known) => false,
            Some(Node::Test { .. }) => true,
            Some(Node::Skip(to)) => self.needs_goto(rule, test, *to),
            None => r.action,
        }
    }

    /// True when no code is emitted from position `from` up to `to`, so control at
    /// `from` reaches `to` without a jump.
    pub fn falls_through(&self, mut from: Target, to: Target) -> bool {
        while from < to {
            let Target::Node { rule, test } = from else {
                return false;
            };
            if self.emits(rule, test) {
                return false;
            }
            from = self.next(rule, test);
        }
        from == to
    }

    /// Whether control leaving position `(rule, test)` for `to` needs a `goto`.
    pub fn needs_goto(&self, rule: usize, test: usize, to: Target) -> bool {
        !self.falls_through(self.next(rule, test), to)
    }

    /// Number of `goto`s the plan adds (after `count` actions and for skipped tests).
    pub fn gotos(&self) -> usize {
        let mut n = 0;
        for (r, rp) in self.rules.iter().enumerate() {
            for (j, node) in rp.tests.iter().enumerate() {
                if let Node::Skip(to) = node {
                    n += usize::from(self.needs_goto(r, j, *to));
                }
            }
            if let (true, Some(to)) = (rp.action, rp.then) {
                n += usize::from(self.needs_goto(r, rp.tests.len(), to));
            }
        }
        n
    }
}

/// The `-O0` plan: every reached rule runs all of its tests, a failing test goes to
/// the next rule's first test; nothing follows a rule that always ends the program.
pub fn linear(rules: &[RuleTests]) -> Plan {
    let n = rules.len();
    let first = |r: usize| {
        if r < n {
            Target::Node { rule: r, test: 0 }
        } else {
            Target::End
        }
    };
    let mut reached = true;
    let mut plans = Vec::with_capacity(n);
    for (r, rule) in rules.iter().enumerate() {
        let node = if reached {
            Node::Test { fail: first(r + 1) }
        } else {
            Node::Dead
        };
        plans.push(RulePlan {
            tests: vec![node; rule.tests.len()],
            action: reached,
            then: (reached && rule.continues).then(|| first(r + 1)),
        });
        reached = reached && (rule.continues || !rule.tests.is_empty());
    }
    Plan {
        entry: first(0),
        rules: plans,
        end: reached,
    }
}
