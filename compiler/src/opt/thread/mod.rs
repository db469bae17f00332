//! Jump threading and shared header checks over the tests of the rules that stay
//! linear (`-O2`; libpcap's `opt_j` is the model).
//!
//! # Rules as test lists
//!
//! Lowering tests a rule as a chain of [`Test`](crate::ir::flow::Test)s on the flow
//! record that the prologue filled ([`rule_tests`](crate::ir::flow::rule_tests) lists them in the order `-O0` emits them): each test is one
//! decision (`L3 == 4`, `PROTO in {6, 17}`, `L4_OK != 0`, a masked compare of an
//! address, a set lookup, a port range test, a flag test, an ICMP test), and the first
//! one that fails sends control to the next rule. A rule's action runs when all of its
//! tests pass; a `count` rule then goes on with the next rule.
//!
//! # What threading does
//!
//! Every test position `(rule, test)` is a *node*; position `(rule, tests.len())` is
//! the rule's action. Control reaches a node along *edges*: the fall-through from the
//! previous test of the rule (it passed), a failing test of an earlier rule, or an
//! earlier `count` rule that went on. Along each edge we know `Knowledge` about the
//! packet: what the tests on that path said. At a node, the knowledge is the *meet*
//! of its incoming edges (what holds on every one of them). [`threaded`] walks the
//! nodes in program order (edges only go forward, so one pass sees every edge into a
//! node before the node) and decides for each:
//!
//! * a test known to pass on every path into it is not emitted ([`Node::Known`]);
//! * a test known to fail becomes a jump to where its failure leads ([`Node::Skip`]);
//! * otherwise it is emitted ([`Node::Test`]) and its failure is *threaded*: with the
//!   knowledge "everything known here, and this test failed", later rules that have
//!   a test known to fail are skipped whole (the reasoning goes on with the same
//!   knowledge), and control enters the first rule that can still match after its
//!   leading tests that are known to pass. Three rules that start `L3 == 4;
//!   PROTO == 6` thus test both once on the success path, and a failing
//!   `PROTO == 6` skips all three at once.
//!
//! (An edge looks at most `MAX_SKIP` rules ahead, which bounds planning time.)
//! A `count` rule's success is threaded the same way, with "all of its tests passed".
//! Nodes no edge reaches are [`Node::Dead`] and emit nothing, and so does everything
//! after an action that always ends the program: the kernel rejects unreachable
//! instructions, and a label nobody jumps to costs nothing.
//!
//! # What is known (exactly, never more)
//!
//! Knowledge is about flow-record fields on the stack, which nothing after the
//! prologue writes (counter updates and set lookups are calls that clobber `r0`–`r5`
//! but not the record), so it holds until the program exits:
//!
//! * each byte field (`L3`, `PROTO`, `L4_OK`, TCP flags, ICMP type and code) and each
//!   port keeps the set of values it can still have: a passed test intersects it with
//!   the test's values, a failed one removes them. A test is known to pass when the
//!   possible values are inside its values, known to fail when they are outside. So
//!   `L3 == 4` passed makes `L3 == 6` fail and `L3 != 0` pass; `PROTO == 6` failed
//!   makes `PROTO == 6` fail again and says nothing of `PROTO == 17`; port ranges and
//!   flag masks follow from set containment. At the start, `L3` is known to be 0,
//!   4 or 6 and `L4_OK` 0 or 1 (all the prologue ever stores there), so after
//!   `L3 != 0` and a failed `L3 == 4`, `L3 == 6` passes.
//! * each address field (source and destination, IPv4 and IPv6 are separate words of
//!   the record) keeps the most specific prefix it is known to be in and prefixes it
//!   is known not to be in. Prefixes are nested or disjoint, so a passed `10.0.0.0/8`
//!   makes `10.1.0.0/16` unknown, `11.0.0.0/8` fail and `0.0.0.0/1` pass; a failed
//!   `10.0.0.0/8` makes `10.1.0.0/16` fail and nothing else.
//! * a set lookup (same set, same side, same families) gives the same answer again.
//!   Maps are read, never written, by the program; should `sockc apply` replace set
//!   contents while a packet is in flight, reusing one answer is what the packet
//!   would have seen had it run entirely before or after the update.
//!
//! The meet keeps what holds on both sides: the union of possible values, the
//! smallest prefix holding both known prefixes, and only the exclusions the other
//! side also proves. Lists are capped (dropping knowledge is always safe).
//!
//! # Never larger, never slower
//!
//! Compare, for one packet, the `-O0` run (every reached rule tests from its first
//! test until one fails) with the threaded run. Invariant: whenever the threaded code
//! is at node `(r, j)`, tests `0..j` of rule `r` pass for this packet, and the actions
//! run so far are exactly the ones `-O0` runs before reaching rule `r` (induction: a
//! threaded edge skips only rules with a test that fails for this packet, which
//! `-O0` enters and leaves without an action, and tests that pass). So the threaded
//! run visits a subset of the test nodes the `-O0` run visits, in the same order,
//! and runs the same actions. Each visited node executes exactly the code `-O0`
//! executes for it (both levels emit a test with the same function; a failing
//! branch is one instruction whatever its target) or nothing at all
//! ([`Node::Known`]). The only instruction `-O0` lacks is a `goto` after a `count`
//! action (or in place of a [`Node::Skip`] test) when its target is not the next
//! emitted code. A skipped test's `goto` stands for a test `-O0` runs at that node;
//! a `count` rule's `goto` jumps over at least one test `-O0` runs for this packet
//! (the first test of the next rule: either the target is inside that rule, or that
//! rule was skipped for a test that fails, so it has one). Every test is at least one
//! instruction (a load; nearly always a load and a branch). Hence on every path,
//! threaded code executes at most as many instructions as `-O0`.
//!
//! Size: the threaded code emits a subset of the `-O0` nodes with the same code each,
//! plus those `goto`s; lowering keeps the `-O0` layout for a program where that sum
//! would come out larger, so `-O2` is never larger either (see
//! [`crate::bpf::lower`]).

mod knowledge;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use knowledge::{Knowledge, View};

use crate::ir::{
    linear::{Node, Plan, RulePlan, RuleTests, Target},
    Module, Step,
};

/// Lays out every linear run of every program with its threaded plan (`-O2`). The
/// driver still lowers each program both ways and keeps the smaller code, so this
/// pass never makes a program larger (see the module docs).
pub fn run(module: &mut Module) {
    let plans: Vec<Vec<Option<Plan>>> = module
        .programs
        .values()
        .map(|p| {
            p.steps
                .iter()
                .map(|s| match s {
                    Step::Linear { rules, .. } => {
                        let (_, tests) = RuleTests::of_run(module, p, rules.clone());
                        let top = Knowledge::for_context(p.hook.spec().context);
                        Some(threaded_from(&tests, &top))
                    }
                    Step::Classify(_) => None,
                })
                .collect()
        })
        .collect();
    for ((_, p), plans) in module.programs.iter_mut().zip(plans) {
        for (step, threaded) in p.steps.iter_mut().zip(plans) {
            if let Step::Linear { plan, .. } = step {
                *plan = threaded;
            }
        }
    }
}

/// The threaded plan (see the module docs) of rules whose program starts from what
/// every flow record holds.
pub fn threaded(rules: &[RuleTests]) -> Plan {
    threaded_from(rules, &Knowledge::flow_record())
}

/// The threaded plan of rules entered knowing `top`.
pub fn threaded_from(rules: &[RuleTests], top: &Knowledge) -> Plan {
    let views: Vec<Vec<View>> = rules
        .iter()
        .map(|r| r.tests.iter().map(View::of).collect())
        .collect();
    // The meet of the edges seen so far into each node not reached yet (taken out
    // when the walk gets there, so only pending edges take memory).
    let mut incoming: HashMap<(usize, usize), Knowledge> = HashMap::new();
    let mut end = false;
    let mut edge = |to: Target, k: Knowledge, incoming: &mut HashMap<_, _>| match to {
        Target::End => end = true,
        Target::Node { rule, test } => {
            let met = match incoming.remove(&(rule, test)) {
                None => k,
                Some(old) => k.meet(&old),
            };
            incoming.insert((rule, test), met);
        }
    };
    let entry = thread_from(&views, top, 0);
    edge(entry, top.clone(), &mut incoming);
    let mut plans = Vec::with_capacity(rules.len());
    for (r, rule) in rules.iter().enumerate() {
        let mut nodes = Vec::with_capacity(rule.tests.len());
        let mut fall: Option<Knowledge> = None;
        for j in 0..rule.tests.len() {
            let here = match (fall.take(), incoming.remove(&(r, j))) {
                (None, None) => None,
                (Some(k), None) | (None, Some(k)) => Some(k),
                (Some(a), Some(b)) => Some(a.meet(&b)),
            };
            let Some(k) = here else {
                nodes.push(Node::Dead);
                continue;
            };
            let view = &views[r][j];
            match k.decide(view) {
                Some(true) => {
                    nodes.push(Node::Known);
                    fall = Some(k);
                }
                Some(false) => {
                    let to = thread_from(&views, &k, r + 1);
                    edge(to, k, &mut incoming);
                    nodes.push(Node::Skip(to));
                }
                None => {
                    let failed = k.assume(view, false);
                    let to = thread_from(&views, &failed, r + 1);
                    edge(to, failed, &mut incoming);
                    nodes.push(Node::Test { fail: to });
                    fall = Some(k.assume(view, true));
                }
            }
        }
        let here = match (fall, incoming.remove(&(r, rule.tests.len()))) {
            (None, None) => None,
            (Some(k), None) | (None, Some(k)) => Some(k),
            (Some(a), Some(b)) => Some(a.meet(&b)),
        };
        let then = match (&here, rule.continues) {
            (Some(k), true) => {
                let to = thread_from(&views, k, r + 1);
                edge(to, k.clone(), &mut incoming);
                Some(to)
            }
            _ => None,
        };
        plans.push(RulePlan {
            tests: nodes,
            action: here.is_some(),
            then,
        });
    }
    Plan {
        entry,
        rules: plans,
        end,
    }
}

/// How many rules one threaded edge may skip. Past that, the edge enters the rule
/// it stopped at (after its leading tests known to pass), whose code then fails as
/// `-O0`'s would (or, when every way in knows that, skips on): still exact, and it
/// bounds planning to `O(tests × MAX_SKIP)` for any number of rules. (On the
/// ClassBench 10k sets it cuts planning time about threefold, and the code size moves
/// by a few percent either way: a long skip can make one more rule entry live.)
const MAX_SKIP: usize = 1024;

/// Where control goes from rule `from` on, knowing `k`: the first rule none of whose
/// tests is known to fail, entered after its leading tests known to pass.
fn thread_from(views: &[Vec<View>], k: &Knowledge, from: usize) -> Target {
    'rules: for (r, tests) in views.iter().enumerate().skip(from) {
        let mut lead = None;
        for (j, v) in tests.iter().enumerate() {
            match k.decide(v) {
                Some(false) if r - from < MAX_SKIP => continue 'rules,
                Some(false) => {
                    return Target::Node {
                        rule: r,
                        test: lead.unwrap_or(j),
                    }
                }
                Some(true) => {}
                None => {
                    lead.get_or_insert(j);
                }
            }
        }
        return Target::Node {
            rule: r,
            test: lead.unwrap_or(tests.len()),
        };
    }
    Target::End
}
