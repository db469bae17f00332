//! The optimizer: IR → IR passes that keep each program's meaning (the first rule
//! that matches decides, `count` rules count and go on, the default decides
//! otherwise) and change only how lowering tests it.
//!
//! Passes run in this order (`-O2`, the default; `-O0` runs none of the rewriting
//! passes and lowers every rule on its own, the in-project baseline):
//!
//! 1. [`normalize`]: canonical address sets (covered prefixes dropped, sibling
//!    prefixes merged), so maps and later passes see the smallest equivalent form.
//! 2. [`anomalies`] (every level, it only reports): rules that never match because
//!    an earlier rule covers them, and rules whose removal changes no verdict.
//! 3. [`classify`]: runs of rules that a multi-field classifier can decide become one
//!    [`Step::Classify`](crate::ir::Step::Classify): decision trees in array maps,
//!    walked by code whose size does not depend on the number of rules. Shorter runs
//!    (fewer than [`classify::MIN_RULES`]) stay linear.
//!
//! 4. [`thread`]: the runs of rules that stay linear get a threaded layout (jump
//!    threading and shared header checks over their tests on the flow record).
//!
//! Invariant: after every pass, every program's `steps` cover its `rules` in order,
//! each rule exactly once (the IR check, [`crate::ir::verify`], runs after sema and
//! after each pass in debug and test builds); the reference evaluator (which reads
//! `rules`, never `steps`) therefore gives the same answers at every level. Passes
//! read and write the IR only: none depends on the back end.

pub mod anomalies;
pub mod classify;
pub mod normalize;
pub mod thread;

use std::time::{Duration, Instant};

use crate::{diag::Diagnostic, ir::Module};

/// How hard the compiler works on the code it emits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OptLevel {
    /// Every rule lowered on its own, in order: the baseline.
    O0,
    /// All passes.
    #[default]
    O2,
}

impl OptLevel {
    pub fn name(self) -> &'static str {
        match self {
            OptLevel::O0 => "-O0",
            OptLevel::O2 => "-O2",
        }
    }
}

/// Runs the passes of `level` over `module`; returns the warnings they found.
pub fn optimize(module: &mut Module, level: OptLevel) -> Vec<Diagnostic> {
    optimize_timed(module, level).0
}

/// [`optimize`], also returning how long each pass took, in order.
pub fn optimize_timed(
    module: &mut Module,
    level: OptLevel,
) -> (Vec<Diagnostic>, Vec<(&'static str, Duration)>) {
    let mut times = Vec::new();
    let mut timed = |name: &'static str, f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        times.push((name, start.elapsed()));
    };
    check(module, "sema");
    let mut diags = Vec::new();
    if level >= OptLevel::O2 {
        timed("normalize", &mut || normalize::run(module));
        check(module, "normalize");
    }
    timed("anomalies", &mut || diags.extend(anomalies::run(module)));
    if level >= OptLevel::O2 {
        timed("classify", &mut || classify::run(module));
        check(module, "classify");
        timed("thread", &mut || thread::run(module));
        check(module, "thread");
    }
    (diags, times)
}

/// The IR check after `pass`, in debug and test builds: a pass that breaks the IR's
/// invariants is a compiler bug, stopped where it happened.
fn check(module: &Module, pass: &str) {
    if cfg!(debug_assertions) {
        if let Err(e) = crate::ir::verify::verify(module) {
            panic!("after {pass}: {e}");
        }
    }
}
