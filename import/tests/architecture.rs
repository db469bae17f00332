//! The import's files form no import cycle (a child using its parent `mod.rs`'s own
//! items aside): the graph, one file module per line with what it uses, is printed
//! by `files_form_no_cycle` (`sockc_testkit::modgraph` says how it is read). No file
//! uses an item `lib.rs` defines (it holds the pipeline's entry points, which only
//! other crates call).

use std::path::Path;

use sockc_testkit::modgraph::{
    assert_injected_cycle_is_found, assert_no_cycles,
    layers::{assert_injected_root_use_is_found, assert_root_defines_nothing_used},
};

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
fn the_file_checks_find_what_is_injected() {
    assert_injected_cycle_is_found(&root());
    assert_injected_root_use_is_found(&root());
}
