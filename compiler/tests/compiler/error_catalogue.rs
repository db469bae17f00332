//! The catalogue of codes (`sockc_compiler::diag::codes`) and the user's page of them
//! (`docs/errors.md`) agree both ways, and a code is written nowhere else:
//!
//! - every code has exactly one entry (`### `sockc::name``) in the section of its
//!   group, marked ` (warning)` when it is a warning and ` (exit N)` when it is a
//!   failure with exit code N, and nothing else; every entry names a code; the
//!   sections are the groups, in their order;
//! - no production file of the workspace holds a code's string (`sockc::name`) but
//!   the catalogue itself, so every diagnostic is built from a typed `Code`;
//! - every code is raised somewhere (named as `Code::Variant` outside the catalogue);
//! - the catalogue uses nothing of the crate (a leaf every crate can use).

use crate::support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use sockc_compiler::diag::{Code, Level};
use support::{production_code, rust_files};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The source directories of the workspace's crates (their production code).
const SOURCE_DIRS: &[&str] = &[
    "compiler/src",
    "import/src",
    "runtime/src",
    "src",
    "testkit/src",
    "testkit/peer/src",
    "bench/src",
];

const CATALOGUE: &str = "compiler/src/diag/codes.rs";

/// One `###` entry of the page.
#[derive(Debug)]
struct Entry {
    line: usize,
    section: String,
    code: String,
    mark: String,
}

/// The page's `## ` sections in order, and its `###` entries; an entry heading that
/// does not start with a code is an error.
fn read_page(text: &str) -> Result<(Vec<String>, Vec<Entry>), String> {
    let (mut sections, mut entries) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        if let Some(title) = line.strip_prefix("## ") {
            sections.push(title.trim().to_string());
        } else if let Some(head) = line.strip_prefix("### ") {
            let Some((code, mark)) = head
                .strip_prefix('`')
                .and_then(|h| h.split_once('`'))
                .filter(|(code, _)| code.starts_with("sockc::"))
            else {
                return Err(format!("line {}: an entry names no code: {line}", i + 1));
            };
            entries.push(Entry {
                line: i + 1,
                section: sections.last().cloned().unwrap_or_default(),
                code: code.to_string(),
                mark: mark.trim().to_string(),
            });
        }
    }
    Ok((sections, entries))
}

/// The mark an entry of `code` carries after its heading's code.
fn mark(code: Code) -> String {
    match code.level() {
        Level::Warning => "(warning)".into(),
        Level::Failure(exit) => format!("(exit {exit})"),
        Level::Error | Level::ErrorOrWarning => String::new(),
    }
}

/// Every way the page and the catalogue disagree, one line each.
fn disagreements(page: &str) -> Vec<String> {
    let (sections, entries) = match read_page(page) {
        Ok(x) => x,
        Err(e) => return vec![e],
    };
    let mut out = Vec::new();
    let groups: Vec<&str> = sockc_compiler::diag::Group::ALL
        .iter()
        .map(|g| g.title())
        .collect();
    let in_page: Vec<&str> = sections
        .iter()
        .map(String::as_str)
        .filter(|s| groups.contains(s))
        .collect();
    if in_page != groups {
        out.push(format!(
            "the page's sections {in_page:?} are not the groups {groups:?}"
        ));
    }
    let mut by_code: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in &entries {
        by_code.entry(&e.code).or_default().push(e);
        if Code::parse(&e.code).is_none() {
            out.push(format!(
                "line {}: `{}` is no code of the catalogue",
                e.line, e.code
            ));
        }
    }
    for &code in Code::ALL {
        match by_code.get(code.as_str()).map(Vec::as_slice) {
            None | Some([]) => out.push(format!("{code} has no entry")),
            Some([e]) => {
                if e.section != code.group().title() {
                    out.push(format!(
                        "line {}: {code} is under `{}`, its group is `{}`",
                        e.line,
                        e.section,
                        code.group().title()
                    ));
                }
                if e.mark != mark(code) {
                    out.push(format!(
                        "line {}: {code} is marked `{}`, the catalogue says `{}`",
                        e.line,
                        e.mark,
                        mark(code)
                    ));
                }
            }
            Some(many) => out.push(format!("{code} has {} entries", many.len())),
        }
    }
    out
}

#[test]
fn every_code_has_its_entry_and_every_entry_a_code() {
    let page = std::fs::read_to_string(workspace().join("docs/errors.md")).unwrap();
    let found = disagreements(&page);
    assert!(
        found.is_empty(),
        "docs/errors.md and the catalogue ({CATALOGUE}) disagree:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_page_check_finds_what_is_wrong() {
    let page = std::fs::read_to_string(workspace().join("docs/errors.md")).unwrap();
    let cut = |from: &str| page.replacen(from, "", 1);
    let one = |p: String| disagreements(&p).join("\n");
    assert!(one(cut("### `sockc::lockout` (warning)\n")).contains("sockc::lockout has no entry"));
    assert!(one(cut(" (warning)")).contains("is marked ``, the catalogue says `(warning)`"));
    assert!(one(cut(" (exit 2)")).contains("the catalogue says `(exit 2)`"));
    assert!(one(page.clone() + "\n### `sockc::nothing`\n").contains("no code of the catalogue"));
    assert!(one(page.clone() + "\n### An entry\n").contains("an entry names no code"));
    assert!(one(page.replacen("## Syntax\n", "## Syntax errors\n", 1)).contains("not the groups"));
    assert!(one(page.clone() + "\n### `sockc::syntax`\n").contains("sockc::syntax has 2 entries"));
}

/// Every `sockc::name` in `code` (a code's string, wherever it is written).
fn code_strings(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("sockc::") {
        let after = &rest[i + "sockc::".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(after.len());
        if after.starts_with(|c: char| c.is_ascii_lowercase()) {
            out.push(format!("sockc::{}", &after[..end]));
        }
        rest = &after[end..];
    }
    out
}

/// The production code of every source file of the workspace but the catalogue.
fn production_sources() -> Vec<(PathBuf, String)> {
    let root = workspace();
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        rust_files(&root.join(dir), &mut files);
    }
    files
        .into_iter()
        .filter(|f| !f.ends_with(CATALOGUE))
        .map(|f| {
            let text = production_code(&f, &std::fs::read_to_string(&f).unwrap());
            (f, text)
        })
        .collect()
}

#[test]
fn no_code_is_written_outside_the_catalogue() {
    let sources = production_sources();
    assert!(sources.len() > 300, "{} files", sources.len());
    let written: Vec<String> = sources
        .iter()
        .flat_map(|(f, text)| {
            code_strings(text)
                .into_iter()
                .map(move |c| format!("{}: {c}", f.display()))
        })
        .collect();
    assert!(
        written.is_empty(),
        "codes written as strings (name the catalogue's `Code` instead; see {CATALOGUE}):\n{}",
        written.join("\n")
    );
    // The check sees a code in a literal, wherever it is.
    assert_eq!(
        code_strings("Diagnostic::error(\"sockc::lockout\", m); f(\"a sockc::x-y_z\")"),
        ["sockc::lockout", "sockc::x-y_z"]
    );
    assert!(code_strings("use sockc::{a, b}; sockc::Cli").is_empty());
}

#[test]
fn every_code_is_raised_somewhere() {
    let sources = production_sources();
    let catalogue = std::fs::read_to_string(workspace().join(CATALOGUE)).unwrap();
    let unused: Vec<Code> = Code::ALL
        .iter()
        .copied()
        .filter(|c| {
            let variant = variant_name(&catalogue, *c);
            let named = format!("Code::{variant}");
            !sources.iter().any(|(_, text)| {
                text.match_indices(&named).any(|(i, _)| {
                    !text[i + named.len()..].starts_with(|x: char| x.is_ascii_alphanumeric())
                })
            })
        })
        .collect();
    assert!(
        unused.is_empty(),
        "codes nothing raises (remove them and their entries): {unused:?}"
    );
}

/// The variant of `code`, read from its row of the catalogue (`Variant = "sockc::..."`).
fn variant_name(catalogue: &str, code: Code) -> String {
    let row = format!(" = \"{}\",", code.as_str());
    let at = catalogue
        .find(&row)
        .unwrap_or_else(|| panic!("no row for {code}"));
    let line_start = catalogue[..at].rfind('\n').map_or(0, |i| i + 1);
    catalogue[line_start..at].trim().to_string()
}

#[test]
fn the_catalogue_is_a_leaf() {
    let path = workspace().join(CATALOGUE);
    let text = production_code(&path, &std::fs::read_to_string(&path).unwrap());
    for used in ["crate::", "super::", "sockc_"] {
        assert!(!text.contains(used), "{CATALOGUE} uses {used}");
    }
}
