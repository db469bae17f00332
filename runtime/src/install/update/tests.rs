//! The rule text a new manifest records: the caller's source itself when the caller
//! shares it (`ApplyRequest::shared_source`), a copy of anything else, and the same
//! text either way.

use std::sync::Arc;

use super::*;
use crate::store::MANIFEST_FORMAT;

fn compiled(src: &str) -> Compiled {
    let (c, d) = sockc_compiler::compile(src, &Default::default());
    c.unwrap_or_else(|| panic!("compiles: {d:?}\n{src}"))
}

#[test]
fn the_recorded_text_is_the_callers_source_shared_and_anything_else_copied() {
    let src = Arc::new(String::from(
        "xdp on lo {\n    drop tcp to *:22\n    default allow\n}\n",
    ));
    let c = compiled(&src);
    let mut req = ApplyRequest::new(&c, "t", "/nonexistent/t.sk", &src);
    req.shared_source = Some(&src);
    let shared = recorded_source(&req, MANIFEST_FORMAT);
    assert!(
        Arc::ptr_eq(&shared, &src),
        "the caller's source, not a copy"
    );
    // The same bytes somewhere else are not the source: copied, never that Arc.
    let elsewhere = Arc::new(src.to_string());
    req.shared_source = Some(&elsewhere);
    let copied = recorded_source(&req, MANIFEST_FORMAT);
    assert!(!Arc::ptr_eq(&copied, &elsewhere) && !Arc::ptr_eq(&copied, &src));
    req.shared_source = None;
    let unshared = recorded_source(&req, MANIFEST_FORMAT);
    assert!(!Arc::ptr_eq(&unshared, &src));
    for text in [&shared, &copied, &unshared] {
        assert_eq!(text.as_str(), src.as_str());
    }
}
