//! The one comparison of what the kernel did with a frame against what the reference
//! evaluator says, shared by `sockc test` and the differential tests.
//!
//! Three things must agree: the program's return value with the evaluator's return
//! code for its outcome, the counter slots that moved with exactly the evaluator's —
//! the deciding rule's (or the default's) and every `count` rule passed, each one
//! packet and the frame's bytes, nothing else — and the answers `reject`'s answer
//! limits refused (one, when the evaluator says the limits dropped the answer). Invariant: [`compare`] answers `None`
//! exactly when both agree, and otherwise names every part that differs, counters by
//! their source lines.

use std::collections::BTreeMap;

use sockc_compiler::ir::{verdict_name, Program};

use crate::eval::{Evaluation, Outcome};

/// Counter slots with the (packets, bytes) they gained.
pub type Moves = BTreeMap<u32, (u64, u64)>;

/// What the kernel did with one frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelRun {
    /// The program's return value.
    pub retval: u32,
    /// The counter slots that moved, with what they gained.
    pub moved: Moves,
    /// The answers the limits of `reject`'s answers refused during the run: by the
    /// host-wide bucket, by a destination's.
    pub answers_limited: [u64; 2],
}

/// The slots that moved between two reads of the same counters, with what they
/// gained; a slot is its index in the reads.
pub fn moved_between(before: &[(u64, u64)], after: &[(u64, u64)]) -> Moves {
    before
        .iter()
        .zip(after)
        .enumerate()
        .filter(|(_, (b, a))| b != a)
        .map(|(slot, (b, a))| (slot as u32, (a.0 - b.0, a.1 - b.1)))
        .collect()
}

/// `None` when the kernel did with a frame of `frame_len` bytes what the evaluator
/// says `prog` does; otherwise what differs.
pub fn compare(prog: &Program, e: &Evaluation, k: &KernelRun, frame_len: usize) -> Option<String> {
    let mut problems = Vec::new();
    if e.return_code(prog).map(|c| c as u32) != Some(k.retval) {
        problems.push(format!(
            "the kernel returned {} ({}), the evaluator says {}",
            k.retval,
            retval_name(prog, k.retval),
            outcome_name(e.outcome)
        ));
    }
    let expected = e.counter_deltas(prog, frame_len);
    if expected != k.moved {
        let lines = |m: &Moves| -> String {
            m.iter()
                .map(|(s, (p, b))| format!("{} (+{p} pkt, +{b} B)", slot_label(prog, *s)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        problems.push(format!(
            "counters moved in the kernel: [{}]; the evaluator expects: [{}]",
            lines(&k.moved),
            lines(&expected)
        ));
    }
    let limited = [u64::from(e.answer_limited), 0];
    if limited != k.answers_limited {
        problems.push(format!(
            "answers refused by the answer limits (host-wide, per destination): {:?} in \
             the kernel, the evaluator expects {limited:?}",
            k.answers_limited
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// A counter slot by its source line: `line 4`, `line 9 default`, or `slot N` for
/// a slot no rule of `prog` owns.
pub fn slot_label(prog: &Program, slot: u32) -> String {
    if slot == prog.default_counter {
        return format!("line {} default", prog.default_line);
    }
    match prog.rules.iter().find(|r| r.counter == slot) {
        Some(r) => format!("line {}", r.line),
        None => format!("slot {slot}"),
    }
}

/// The verdict a return value of `prog`'s hook stands for.
pub fn retval_name(prog: &Program, retval: u32) -> &'static str {
    let spec = prog.hook.spec();
    match spec.verdict_of(retval as i32) {
        Some(v) => verdict_name(v),
        None if spec.reject_code() == Some(retval as i32) => "reject (answer sent)",
        None => "not a verdict of this hook",
    }
}

/// The evaluator's outcome as a word: the verdict, or the redirect.
pub fn outcome_name(o: Outcome) -> String {
    match o {
        Outcome::Verdict(v) => verdict_name(v).to_string(),
        Outcome::Redirect(a) => a.to_string(),
        Outcome::Reject(a) => format!("reject ({})", a.describe()),
    }
}

#[cfg(test)]
mod tests;
