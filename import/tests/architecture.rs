//! The import's files form no import cycle (a child using its parent `mod.rs`'s own
//! items aside): the graph, one file module per line with what it uses, is printed
//! by `files_form_no_cycle` (`sockc_testkit::modgraph` says how it is read).

use std::path::Path;

use sockc_testkit::modgraph::{assert_injected_cycle_is_found, assert_no_cycles};

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")
}

#[test]
fn files_form_no_cycle() {
    assert_no_cycles(&root(), &[]);
}

#[test]
fn the_file_check_finds_an_injected_cycle() {
    assert_injected_cycle_is_found(&root());
}
