//! The optimizer: IR → IR passes that keep each program's meaning (the first rule
//! that matches decides, `count` rules count and go on, the default decides
//! otherwise) and change only how lowering tests it.
//!
//! Passes run in this order (`-O2`, the default; `-O0` runs none of the rewriting
//! passes and lowers every rule on its own, the in-project baseline):
//!
//! 1. [`normalize`]: canonical address sets (covered prefixes dropped, sibling
//!    prefixes merged), so maps and later passes see the smallest equivalent form.
//! 2. [`anomalies`] (every level, it only reports; skipped on request, [`Lints`]):
//!    rules that never match because an earlier rule covers them, and rules whose
//!    removal changes no verdict. It runs on its own thread, beside `classify` (which only plans from the module
//!    until both are done), so a large file pays for the slower of the two.
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
pub(crate) mod normalize;
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

/// Runs the passes of `level` over `module`, the lints too when `lints` says so;
/// returns the warnings they found and how long each pass took, in order.
pub(crate) fn optimize_timed(
    module: &mut Module,
    level: OptLevel,
    lints: Lints,
) -> (Vec<Diagnostic>, Vec<(&'static str, Duration)>) {
    let mut times = normalize_timed(module, level);
    // The lints only read the module and classify only plans from it: they run at
    // once, each on its own thread (a 100k-rule file spends ~60 ms in each).
    let shared: &Module = module;
    let (found, planned) = std::thread::scope(|s| {
        let linted = (lints == Lints::Run).then(|| {
            beside(s, || {
                let start = Instant::now();
                (anomalies::run(shared), start.elapsed())
            })
        });
        let start = Instant::now();
        let planned = (level >= OptLevel::O2).then(|| (classify::plan(shared), start.elapsed()));
        (linted.map(Beside::join), planned)
    });
    let (diags, lint_time) = found.unzip();
    let diags = diags.unwrap_or_default();
    if let Some((planned, took)) = planned {
        if let Some(lint_time) = lint_time {
            times.push(("anomalies (beside classify)", lint_time));
        }
        let start = Instant::now();
        classify::apply(module, planned);
        times.push(("classify", took + start.elapsed()));
        check(module, "classify");
        let start = Instant::now();
        thread::run(module);
        times.push(("thread", start.elapsed()));
        check(module, "thread");
    } else if let Some(lint_time) = lint_time {
        times.push(("anomalies", lint_time));
    }
    (diags, times)
}

/// Checks sema's module and, at `-O2`, normalizes it: the start both
/// [`optimize_timed`] and [`analyze_timed`] share. Returns the pass's time.
fn normalize_timed(module: &mut Module, level: OptLevel) -> Vec<(&'static str, Duration)> {
    let mut times = Vec::new();
    check(module, "sema");
    if level >= OptLevel::O2 {
        let start = Instant::now();
        normalize::run(module);
        times.push(("normalize", start.elapsed()));
        check(module, "normalize");
    }
    times
}

/// The passes a semantic reading of `module` needs, without planning its code:
/// `normalize` at `-O2` (the IR every later reader sees) and the lints when `lints`
/// says so, whose warnings are those [`optimize_timed`] gives, as they read the same
/// normalized module. `classify` and `thread` only plan steps for lowering (the rules
/// stay as they are), so a reader of the rules (`semdiff`) skips them.
pub(crate) fn analyze_timed(
    module: &mut Module,
    level: OptLevel,
    lints: Lints,
) -> (Vec<Diagnostic>, Vec<(&'static str, Duration)>) {
    let mut times = normalize_timed(module, level);
    let mut diags = Vec::new();
    if lints == Lints::Run {
        let start = Instant::now();
        diags = anomalies::run(module);
        times.push(("anomalies", start.elapsed()));
    }
    (diags, times)
}

/// Whether a compile runs the optimizer's lints ([`anomalies`]). They only report:
/// skipping them changes no byte of the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lints {
    /// Run them and return their warnings (every command that shows warnings).
    #[default]
    Run,
    /// Leave them out: `apply`, which leaves lints to `check` (at 100k rules they
    /// are about an eighth of its CPU time).
    Skip,
}

pub(crate) use crate::beside::{beside, Beside};

/// The IR check after `pass`, in debug and test builds: a pass that breaks the IR's
/// invariants is a compiler bug, stopped where it happened.
fn check(module: &Module, pass: &str) {
    if cfg!(debug_assertions) {
        if let Err(e) = crate::ir::verify::verify(module) {
            panic!("after {pass}: {e}");
        }
    }
}
