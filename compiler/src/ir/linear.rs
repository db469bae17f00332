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

    /// Which positions emit code, worked out once: see [`Layout`]. Callers with many
    /// questions take it once.
    pub fn layout(&self) -> Layout {
        Layout::of(self)
    }

    /// Whether position `(rule, test)` emits any code.
    pub fn emits(&self, rule: usize, test: usize) -> bool {
        self.layout().emits(rule, test)
    }

    /// True when no code is emitted from position `from` up to `to`, so control at
    /// `from` reaches `to` without a jump.
    pub fn falls_through(&self, from: Target, to: Target) -> bool {
        self.layout().falls_through(from, to)
    }

    /// Whether control leaving position `(rule, test)` for `to` needs a `goto`.
    pub fn needs_goto(&self, rule: usize, test: usize, to: Target) -> bool {
        self.layout().needs_goto(rule, test, to)
    }

    /// Number of `goto`s the plan adds (after `count` actions and for skipped tests).
    pub fn gotos(&self) -> usize {
        let layout = self.layout();
        let mut n = 0;
        for (r, rp) in self.rules.iter().enumerate() {
            for (j, node) in rp.tests.iter().enumerate() {
                if let Node::Skip(to) = node {
                    n += usize::from(layout.needs_goto(r, j, *to));
                }
            }
            if let (true, Some(to)) = (rp.action, rp.then) {
                n += usize::from(layout.needs_goto(r, rp.tests.len(), to));
            }
        }
        n
    }
}

/// Which positions of a [`Plan`] emit code, in layout order (each rule's tests, then
/// its action). A skipped test emits a jump only when code lies between it and its
/// target, which depends on later positions only; so one pass from the end answers
/// every position, and a count of emitting positions from each one on answers any
/// "does control fall through from here to there". (Asking each skip anew walked the
/// positions in between recursively: minutes for 20,000 repeated rules, found by
/// the fuzz test.)
#[derive(Clone, Debug)]
pub struct Layout {
    /// Index of each rule's first position.
    starts: Vec<usize>,
    /// For each position index (and one past the last, the run's end): how many
    /// positions from there on emit code.
    emitting_from: Vec<usize>,
}

impl Layout {
    fn of(plan: &Plan) -> Layout {
        let mut starts = Vec::with_capacity(plan.rules.len());
        let mut total = 0;
        for r in &plan.rules {
            starts.push(total);
            total += r.tests.len() + 1;
        }
        let mut layout = Layout {
            starts,
            emitting_from: vec![0; total + 1],
        };
        for (r, rp) in plan.rules.iter().enumerate().rev() {
            for j in (0..=rp.tests.len()).rev() {
                let emits = match rp.tests.get(j) {
                    Some(Node::Dead | Node::Known) => false,
                    Some(Node::Test { .. }) => true,
                    // Targets lie after the position: already known.
                    Some(Node::Skip(to)) => layout.needs_goto(r, j, *to),
                    None => rp.action,
                };
                let at = layout.starts[r] + j;
                layout.emitting_from[at] = layout.emitting_from[at + 1] + usize::from(emits);
            }
        }
        layout
    }

    fn index(&self, t: Target) -> usize {
        match t {
            Target::Node { rule, test } => self.starts[rule] + test,
            Target::End => self.emitting_from.len() - 1,
        }
    }

    /// Whether position `(rule, test)` emits any code.
    pub fn emits(&self, rule: usize, test: usize) -> bool {
        let at = self.starts[rule] + test;
        self.emitting_from[at] > self.emitting_from[at + 1]
    }

    /// True when no code is emitted from position `from` up to `to`, so control at
    /// `from` reaches `to` without a jump.
    pub fn falls_through(&self, from: Target, to: Target) -> bool {
        let (a, b) = (self.index(from), self.index(to));
        a <= b && self.emitting_from[a] == self.emitting_from[b]
    }

    /// Whether control leaving position `(rule, test)` for `to` needs a `goto`.
    pub fn needs_goto(&self, rule: usize, test: usize, to: Target) -> bool {
        let next = self.starts[rule] + test + 1;
        let b = self.index(to);
        !(next <= b && self.emitting_from[next] == self.emitting_from[b])
    }
}

/// The `-O0` plan: every reached rule runs all of its tests, a failing test goes to
/// the next rule's first test; nothing follows a rule that always ends the program.
pub(crate) fn linear(rules: &[RuleTests]) -> Plan {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition [`Layout`] computes in one pass: a position emits when it tests,
    /// holds a reachable action, or skips to a target with emitting code in between.
    fn emits_by_definition(plan: &Plan, rule: usize, test: usize) -> bool {
        let r = &plan.rules[rule];
        match r.tests.get(test) {
            Some(Node::Dead | Node::Known) => false,
            Some(Node::Test { .. }) => true,
            Some(Node::Skip(to)) => !falls_through_by_definition(plan, plan.next(rule, test), *to),
            None => r.action,
        }
    }

    fn falls_through_by_definition(plan: &Plan, mut from: Target, to: Target) -> bool {
        while from < to {
            let Target::Node { rule, test } = from else {
                return false;
            };
            if emits_by_definition(plan, rule, test) {
                return false;
            }
            from = plan.next(rule, test);
        }
        from == to
    }

    /// Random plans of up to 12 rules: every answer of the layout is the definition's.
    #[test]
    fn the_layout_answers_as_the_definition() {
        let mut rng = sockc_testkit::rng::Rng::seeded(0x2545_f491_4f6c_dd1d);
        let mut below = |n: usize| rng.below(n);
        for _ in 0..2000 {
            let n = 1 + below(12);
            let lens: Vec<usize> = (0..n).map(|_| below(4)).collect();
            let mut targets = Vec::new();
            for (r, &len) in lens.iter().enumerate() {
                for t in 0..=len {
                    targets.push(Target::Node { rule: r, test: t });
                }
            }
            targets.push(Target::End);
            let mut rules = Vec::new();
            for (r, &len) in lens.iter().enumerate() {
                // Index of the rule's first position among `targets`.
                let first: usize = lens[..r].iter().map(|l| l + 1).sum();
                let tests = (0..len)
                    .map(|t| {
                        let forward = &targets[first + t + 1..];
                        let to = forward[below(forward.len())];
                        match below(4) {
                            0 => Node::Dead,
                            1 => Node::Known,
                            2 => Node::Skip(to),
                            _ => Node::Test { fail: to },
                        }
                    })
                    .collect();
                rules.push(RulePlan {
                    tests,
                    action: below(3) > 0,
                    then: None,
                });
            }
            let plan = Plan {
                entry: targets[0],
                rules,
                end: true,
            };
            let layout = plan.layout();
            for (i, &from) in targets.iter().enumerate() {
                if let Target::Node { rule, test } = from {
                    assert_eq!(
                        layout.emits(rule, test),
                        emits_by_definition(&plan, rule, test)
                    );
                }
                for &to in &targets[i..] {
                    assert_eq!(
                        layout.falls_through(from, to),
                        falls_through_by_definition(&plan, from, to),
                        "{plan:?} {from:?} {to:?}"
                    );
                }
            }
        }
    }
}
