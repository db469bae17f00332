use std::path::{Path, PathBuf};

use super::{ModGraph, ModPath};

/// A throw-away crate: `files` as (path under src/, text).
fn crate_of(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockc-modgraph-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (p, text) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn m(s: &str) -> ModPath {
    ModPath(s.split("::").map(String::from).collect())
}

fn cycles(dir: &Path) -> Vec<Vec<ModPath>> {
    let g = ModGraph::read(&dir.join("lib.rs")).unwrap();
    let c = g.cycles();
    std::fs::remove_dir_all(dir).unwrap();
    c
}

#[test]
fn siblings_that_use_each_other_are_a_cycle() {
    let dir = crate_of(
        "siblings",
        &[
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use crate::b::f;\npub fn g() { f() }\n"),
            ("b.rs", "pub fn f() { crate::c::h() }\n"),
            ("c.rs", "pub fn h() { super::a::g() }\n"),
        ],
    );
    assert_eq!(cycles(&dir), vec![vec![m("a"), m("b"), m("c")]]);
}

#[test]
fn a_child_using_its_parents_types_is_no_cycle() {
    let dir = crate_of(
        "parent",
        &[
            ("lib.rs", "pub mod p;\n"),
            (
                "p/mod.rs",
                "mod c;\npub struct T;\npub fn run() { c::f(T) }\n",
            ),
            ("p/c.rs", "use super::T;\npub fn f(_: T) {}\n"),
        ],
    );
    assert_eq!(cycles(&dir), Vec::<Vec<ModPath>>::new());
}

#[test]
fn a_loop_through_a_parents_reexport_is_a_cycle() {
    let dir = crate_of(
        "reexport",
        &[
            ("lib.rs", "pub mod p;\n"),
            ("p/mod.rs", "mod x;\nmod y;\npub use x::Thing;\n"),
            (
                "p/x.rs",
                "pub struct Thing;\npub fn g() { super::y::f() }\n",
            ),
            (
                "p/y.rs",
                "use super::Thing;\npub fn f() { let _ = Thing; }\n",
            ),
        ],
    );
    assert_eq!(cycles(&dir), vec![vec![m("p::x"), m("p::y")]]);
}

#[test]
fn test_modules_and_other_crates_are_left_out() {
    let dir = crate_of(
        "tests",
        &[
            ("lib.rs", "mod a;\nmod b;\n"),
            (
                "a.rs",
                "use std::fmt;\npub fn g() {}\n#[cfg(test)]\nmod tests;\n",
            ),
            ("a/tests.rs", "use crate::b::f;\n"),
            (
                "b.rs",
                "pub fn f() { crate::a::g() }\n#[cfg(test)]\nfn t() { crate::b::f() }\n",
            ),
        ],
    );
    assert_eq!(cycles(&dir), Vec::<Vec<ModPath>>::new());
}

#[test]
fn inline_modules_belong_to_their_file() {
    let dir = crate_of(
        "inline",
        &[
            ("lib.rs", "mod a;\nmod b;\n"),
            (
                "a.rs",
                "pub mod op { pub const X: u8 = super::Y; }\npub const Y: u8 = 1;\n",
            ),
            ("b.rs", "pub const Z: u8 = crate::a::op::X;\n"),
        ],
    );
    let g = ModGraph::read(&dir.join("lib.rs")).unwrap();
    assert_eq!(
        g.edges[&m("b")].iter().cloned().collect::<Vec<_>>(),
        vec![m("a")]
    );
    assert!(g.edges[&m("a")].is_empty(), "{:?}", g.edges[&m("a")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn uses_of_the_roots_own_items_are_found_and_its_reexports_are_not() {
    let dir = crate_of(
        "root-items",
        &[
            (
                "lib.rs",
                "mod a;\nmod b;\npub use b::Thing;\npub fn helper() {}\npub struct Settings;\n",
            ),
            (
                "a.rs",
                "use crate::helper;\npub fn f() { helper(); let _ = crate::Thing; }\n",
            ),
            (
                "b.rs",
                "pub struct Thing;\npub fn g() { let _ = super::Settings::default(); }\n",
            ),
        ],
    );
    let g = ModGraph::read(&dir.join("lib.rs")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let uses: Vec<(String, Vec<String>)> = g
        .root_item_uses()
        .into_iter()
        .map(|(m, names)| (m.to_string(), names.into_iter().collect()))
        .collect();
    assert_eq!(
        uses,
        [
            ("a".to_string(), vec!["helper".to_string()]),
            ("b".to_string(), vec!["Settings".to_string()]),
        ]
    );
}

const LAYERS: &[&[&str]] = &[&["crate"], &["cli"], &["commands::*"], &["shared"]];

/// A CLI's shape: main, its command line, commands, and what they share.
fn layered_crate(name: &str) -> PathBuf {
    crate_of(
        name,
        &[
            (
                "main.rs",
                "mod cli;\nmod commands;\nmod shared;\nfn main() {}\n",
            ),
            ("cli.rs", "use crate::commands::x::XArgs;\n"),
            ("commands/mod.rs", "pub mod x;\npub mod y;\n"),
            (
                "commands/x.rs",
                "mod part;\npub struct XArgs;\n\
                 pub fn run() { crate::shared::s::f(); crate::commands::y::g(); part::p(); }\n",
            ),
            (
                "commands/x/part.rs",
                "pub fn p() { crate::shared::t::h() }\n",
            ),
            ("commands/y.rs", "pub fn g() {}\n"),
            ("shared/mod.rs", "pub mod s;\npub mod t;\n"),
            (
                "shared/s.rs",
                "pub fn f() { super::t::h(); crate::cli::z(); }\n",
            ),
            ("shared/t.rs", "pub fn h() {}\n"),
        ],
    )
}

#[test]
fn layers_refuse_uses_upward_and_between_units() {
    let dir = layered_crate("layers");
    let g = ModGraph::read(&dir.join("main.rs")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        g.layer_breaches(LAYERS).unwrap(),
        [
            (m("commands::x"), m("commands::y")),
            (m("shared::s"), m("cli")),
        ]
    );
    let err = g.layer_breaches(&[&["crate"], &["cli", "commands::*"]]);
    assert_eq!(
        err,
        Err("modules in no layer: shared, shared::s, shared::t".into())
    );
}
