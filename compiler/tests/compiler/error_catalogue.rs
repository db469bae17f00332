//! The error catalogue (`docs/errors.md`) and the compiler agree: every diagnostic code
//! the compiler's production code can emit (`"sockc::..."` string literals outside test
//! code) has a section `### `sockc::...`` there, and every code the catalogue lists
//! still exists.

use crate::support;

use std::{collections::BTreeSet, path::Path};

use support::{production_code, rust_files};

/// Every `"sockc::name"` literal in `text`.
fn codes_in(text: &str, out: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(i) = rest.find("\"sockc::") {
        let after = &rest[i + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '-' || c == '_'))
            .unwrap_or(after.len());
        if after[end..].starts_with('"') {
            out.insert(after[..end].to_string());
        }
        rest = &after[end..];
    }
}

#[test]
fn every_diagnostic_code_is_in_the_catalogue_and_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut in_code = BTreeSet::new();
    for f in &files {
        codes_in(
            &production_code(f, &std::fs::read_to_string(f).unwrap()),
            &mut in_code,
        );
    }
    assert!(in_code.len() > 30, "codes found: {in_code:?}");

    let catalogue = std::fs::read_to_string(root.join("../docs/errors.md")).unwrap();
    let documented: BTreeSet<String> = catalogue
        .lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();

    let undocumented: Vec<_> = in_code.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&in_code).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "docs/errors.md lacks {undocumented:?}; it lists codes no longer emitted: {stale:?}"
    );
}
