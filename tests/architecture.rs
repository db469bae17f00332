//! The CLI's files and the testkit's form no import cycle (a child using its parent
//! `mod.rs`'s own items aside); each graph is printed, one file module per line with
//! what it uses (`sockc_testkit::modgraph`). The bench's files are checked in
//! `bench/tests/architecture.rs`.

use std::path::{Path, PathBuf};

use sockc_testkit::modgraph::{assert_injected_cycle_is_found, assert_no_cycles};

fn at(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn the_cli_files_form_no_cycle() {
    assert_no_cycles(&at("src/main.rs"), &[]);
}

#[test]
fn the_testkit_files_form_no_cycle() {
    assert_no_cycles(&at("testkit/src/lib.rs"), &[]);
}

#[test]
fn the_file_check_finds_an_injected_cycle() {
    assert_injected_cycle_is_found(&at("src/main.rs"));
    assert_injected_cycle_is_found(&at("testkit/src/lib.rs"));
}
