//! The CLI's files and the testkit's form no import cycle (a child using its parent
//! `mod.rs`'s own items aside), and no file of either uses an item its crate root
//! defines; each graph is printed, one file module per line with what it uses
//! (`sockc_testkit::modgraph`). The CLI's files also keep their layers
//! ([`CLI_LAYERS`], printed with their modules). The bench's files are checked in
//! `bench/tests/architecture.rs`.

use std::path::{Path, PathBuf};

use sockc_testkit::modgraph::{
    assert_injected_cycle_is_found, assert_no_cycles,
    layers::{
        assert_injected_layer_breaches_are_found, assert_injected_root_use_is_found, assert_layers,
        assert_root_defines_nothing_used,
    },
};

fn at(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// `src/`, top first: `main.rs` parses and dispatches; `cli.rs` is the command line
/// it parses (the commands' `Args` in it); one module per command, none using another;
/// the helpers they share, which use no command.
const CLI_LAYERS: &[&[&str]] = &[&["crate"], &["cli"], &["commands::*"], &["shared"]];

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
}
