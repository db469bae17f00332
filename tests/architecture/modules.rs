//! The CLI's files and the testkit's form no import cycle (a child using its parent
//! `mod.rs`'s own items aside), and no file of either uses an item its crate root
//! defines; each graph is printed, one file module per line with what it uses
//! (`sockc_testkit::modgraph`). The CLI's files also keep their layers
//! ([`CLI_LAYERS`], printed with their modules), and so do the testkit's
//! ([`TESTKIT_LAYERS`]); ARCHITECTURE.md draws both graphs by their layers. The bench's files are checked in
//! `bench/tests/architecture.rs`. And no source file of any crate is over 1,000
//! lines before its `#[cfg(test)]` part.

use std::path::{Path, PathBuf};

use sockc_testkit::modgraph::{
    assert_injected_cycle_is_found, assert_no_cycles,
    layers::{
        assert_injected_layer_breaches_are_found, assert_injected_root_use_is_found, assert_layers,
        assert_layers_drawn, assert_root_defines_nothing_used,
    },
};

fn at(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// `src/`, top first: `main.rs` parses and dispatches; `cli.rs` is the command line
/// it parses (the commands' `Args` in it); one module per command, none using another;
/// the helpers they share, which use no command.
const CLI_LAYERS: &[&[&str]] = &[&["crate"], &["cli"], &["commands::*"], &["shared"]];

/// The testkit, top first: the crate root; the tools built on the rest (the probe lab,
/// the ClassBench converter and the reader of its files, the comparison of a kernel run
/// with the evaluator, the module graph, the generators of rule sets and of pairs of
/// files that move thousands of regions); packets, socket fixtures and the seeded
/// generator; the evaluator.
const TESTKIT_LAYERS: &[&[&str]] = &[
    &["crate"],
    &[
        "probe_lab",
        "classbench",
        "classbench_data",
        "compare",
        "modgraph",
        "ruleset_gen",
        "mass_change",
    ],
    &["socket_fixture", "packet", "rng", "rule_files"],
    &["eval"],
];

#[test]
fn the_cli_files_form_no_cycle() {
    assert_no_cycles(&at("src/main.rs"), &[]);
}

#[test]
fn the_cli_files_keep_their_layers() {
    assert_layers(&at("src/main.rs"), CLI_LAYERS);
}

#[test]
fn the_testkit_files_form_no_cycle() {
    assert_no_cycles(&at("testkit/src/lib.rs"), &[]);
}

#[test]
fn the_testkit_files_keep_their_layers() {
    assert_layers(&at("testkit/src/lib.rs"), TESTKIT_LAYERS);
}

#[test]
fn architecture_md_draws_the_cli_and_the_testkit() {
    let doc = at("ARCHITECTURE.md");
    assert_layers_drawn(&at("src/main.rs"), CLI_LAYERS, &doc, "sockc");
    assert_layers_drawn(
        &at("testkit/src/lib.rs"),
        TESTKIT_LAYERS,
        &doc,
        "sockc-testkit",
    );
}

#[test]
fn no_file_uses_an_item_of_its_crate_root() {
    assert_root_defines_nothing_used(&at("src/main.rs"));
    assert_root_defines_nothing_used(&at("testkit/src/lib.rs"));
}

#[test]
fn the_file_checks_find_what_is_injected() {
    assert_injected_cycle_is_found(&at("src/main.rs"));
    assert_injected_cycle_is_found(&at("testkit/src/lib.rs"));
    assert_injected_root_use_is_found(&at("src/main.rs"));
    assert_injected_root_use_is_found(&at("testkit/src/lib.rs"));
    assert_injected_layer_breaches_are_found(&at("src/main.rs"), CLI_LAYERS);
    assert_injected_layer_breaches_are_found(&at("testkit/src/lib.rs"), TESTKIT_LAYERS);
}

/// The most lines a source file may have before its `#[cfg(test)]` part: a file
/// over it holds more than one thing, and is split by what it holds.
const MAX_LINES: usize = 1_000;

/// Files over [`MAX_LINES`] that are being taken apart elsewhere; one that no longer
/// is over must be taken off the list.
const KNOWN_LONG: &[&str] = &[];

/// The lines of `text` before its first `#[cfg(test)]` line (all of them without one).
fn lines_before_tests(text: &str) -> usize {
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .count()
}

/// Every `.rs` file under `dir`, test modules that are files of their own (`tests.rs`,
/// `test_support.rs`) left out.
fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            source_files(&p, out);
        } else if name.ends_with(".rs") && name != "tests.rs" && name != "test_support.rs" {
            out.push(p);
        }
    }
}

#[test]
fn no_source_file_is_over_1000_lines_before_its_tests() {
    assert_eq!(lines_before_tests("a\nb\n#[cfg(test)]\nmod tests;\n"), 2);
    assert_eq!(lines_before_tests("a\nb\n"), 2);
    let root = at("");
    let mut files = Vec::new();
    for dir in [
        "compiler/src",
        "runtime/src",
        "import/src",
        "testkit/src",
        "testkit/peer/src",
        "bench/src",
        "src",
    ] {
        source_files(&at(dir), &mut files);
    }
    assert!(files.len() > 100, "the crates' files were found: {files:?}");
    let mut long = Vec::new();
    for f in &files {
        let n = lines_before_tests(&std::fs::read_to_string(f).unwrap());
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if n > MAX_LINES {
            long.push((rel, n));
        }
    }
    let new: Vec<&(String, usize)> = long
        .iter()
        .filter(|(f, _)| !KNOWN_LONG.contains(&f.as_str()))
        .collect();
    assert!(
        new.is_empty(),
        "files over {MAX_LINES} lines before their #[cfg(test)] part (split each by \
         what it holds, ARCHITECTURE.md): {new:?}"
    );
    let gone: Vec<&&str> = KNOWN_LONG
        .iter()
        .filter(|k| !long.iter().any(|(f, _)| f == *k))
        .collect();
    assert!(
        gone.is_empty(),
        "no longer over {MAX_LINES} lines, take them off KNOWN_LONG: {gone:?}"
    );
}
