//! Test support shared by the unit tests of the IR's consumers: a rule file parsed
//! and checked into a [`Module`], failing the test (with the diagnostics and the
//! source) on any parse diagnostic or any error.

use crate::ir::Module;

/// `src` parsed and checked with the default options; warnings are allowed.
pub(crate) fn module(src: &str) -> Module {
    let (ast, diags) = crate::syntax::parse(src);
    assert!(diags.is_empty(), "{diags:?}\n{src}");
    let (m, diags) = crate::sema::check(ast, src, &Default::default());
    assert!(!crate::diag::has_errors(&diags), "{diags:?}\n{src}");
    m.expect("a source without errors checks to a module")
}
