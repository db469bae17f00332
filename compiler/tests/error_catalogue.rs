//! The error catalogue (`docs/errors.md`) and the compiler agree: every diagnostic code
//! the compiler's production code can emit (`"sockc::..."` string literals outside test
//! code) has a section `### `sockc::...`` there, and every code the catalogue lists
//! still exists.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text of a source file without test code: `tests.rs` and `test_support.rs`
/// files whole, and everything from an inline `#[cfg(test)]` module to the end of the
/// file (the crate's convention, checked by tests/architecture.rs).
fn production_code(path: &Path) -> String {
    let name = path.file_name().unwrap().to_str().unwrap();
    if name == "tests.rs" || name == "test_support.rs" {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod "))
        .unwrap_or(lines.len());
    lines[..end].join("\n")
}

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
        codes_in(&production_code(f), &mut in_code);
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
