//! Test support for the pass's unit tests: programs from source, and the codes of the
//! two warnings. (Random programs and packets are in `tests/differential/anomalies.rs`, which checks
//! the findings against the reference evaluator of `sockc-testkit`.)

use crate::ir::Module;

pub(super) fn module(src: &str) -> Module {
    let (ast, diags) = crate::syntax::parse(src);
    assert!(diags.is_empty(), "{diags:?}");
    let (m, diags) = crate::sema::check(ast, src, &Default::default());
    assert!(!crate::diag::has_errors(&diags), "{diags:?}");
    m.unwrap()
}

pub(super) const SHADOWED: &str = "sockc::shadowed";
pub(super) const REDUNDANT: &str = "sockc::redundant";
