//! The import's files form no import cycle (a child using its parent `mod.rs`'s own
//! items aside): the graph, one file module per line with what it uses, is printed
//! by `files_form_no_cycle` (`sockc_testkit::modgraph` says how it is read). No file
//! uses an item `lib.rs` defines (it holds the pipeline's entry points, which only
//! other crates call). The files keep the layers [`LAYERS`] names, and ARCHITECTURE.md
//! draws the graph by them.

use std::path::Path;

use sockc_testkit::modgraph::{
    assert_injected_cycle_is_found, assert_no_cycles,
    layers::{
        assert_injected_layer_breaches_are_found, assert_injected_root_use_is_found, assert_layers,
        assert_layers_drawn, assert_root_defines_nothing_used,
    },
};

/// The import, top first: the crate root (the entry points other crates call); what
/// callers read (the report, the import's own evaluator); the lowering to rule text;
/// netfilter's meaning and the three readers of the input; the shared pieces they build
/// on; the model of a ruleset; the table of what the language can say.
const LAYERS: &[&[&str]] = &[
    &["crate"],
    &["report", "eval"],
    &["lower"],
    &["semantics", "iptables", "nft", "detect"],
    &["algebra", "names", "values", "status", "diag"],
    &["model"],
    &["features"],
];

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")
}

#[test]
fn files_form_no_cycle() {
    assert_no_cycles(&root(), &[]);
}

#[test]
fn no_file_uses_an_item_of_the_crate_root() {
    assert_root_defines_nothing_used(&root());
}

#[test]
fn files_keep_their_layers() {
    assert_layers(&root(), LAYERS);
}

#[test]
fn architecture_md_draws_the_graph() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md");
    assert_layers_drawn(&root(), LAYERS, &doc, "sockc-import");
}

#[test]
fn the_file_checks_find_what_is_injected() {
    assert_injected_cycle_is_found(&root());
    assert_injected_root_use_is_found(&root());
    assert_injected_layer_breaches_are_found(&root(), LAYERS);
}
