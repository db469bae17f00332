//! The evaluator's side of `sockc test`: every (packet, program) pair answered by the
//! reference evaluator ([`sockc_testkit::eval`]), on every core.
//!
//! Invariant: each packet is evaluated with the facts its own options give (`ct`,
//! `over-limit`, `route`, devices) over the command's (`--socket`), and tries only
//! the rules its addresses can match ([`eval::RuleIndex`], checked against trying
//! every rule in the testkit).

use sockc_compiler::ir::{Module, Program};
use sockc_testkit::eval::{self, Evaluation, Facts};

use super::inputs::Input;

/// The evaluator's answer for every (packet, program) pair, `[packet][program]`, on
/// every core, each packet trying only the rules its addresses can match
/// ([`eval::RuleIndex`]; a 100,000-rule program read rule by rule costs about a
/// millisecond a packet).
pub fn all(
    module: &Module,
    programs: &[&Program],
    inputs: &[Input],
    facts: &Facts,
) -> Vec<Vec<Evaluation>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = inputs.len().div_ceil(threads).max(1);
    // Each packet tries only the rules that can match its addresses.
    let indexes: Vec<eval::RuleIndex> = programs.iter().map(|p| eval::RuleIndex::new(p)).collect();
    let indexes = &indexes;
    std::thread::scope(|scope| {
        let workers: Vec<_> = inputs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|input| {
                            programs
                                .iter()
                                .zip(indexes)
                                .map(|(p, index)| {
                                    let facts = &Facts {
                                        ct: input.ct,
                                        over_limit: input.extra.over_limit,
                                        answers_over: input.extra.answers_over,
                                        over: input.extra.over.clone(),
                                        route: input.extra.route,
                                        iif: input.extra.iif,
                                        oif: input.extra.oif,
                                        iif_index: input.extra.iif_index,
                                        oif_index: input.extra.oif_index,
                                        mark: input.extra.mark,
                                        uid: input.extra.uid,
                                        gid: input.extra.gid,
                                        cgroup: input.extra.cgroup.clone(),
                                        ct_entry: input.extra.ct_entry,
                                        ..facts.clone()
                                    };
                                    eval::evaluate_indexed(module, p, index, &input.frame, facts)
                                })
                                .collect()
                        })
                        .collect::<Vec<Vec<Evaluation>>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("the evaluator does not panic"))
            .collect()
    })
}
