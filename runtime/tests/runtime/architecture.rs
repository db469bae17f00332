//! The runtime's files form no import cycle (a child using its parent `mod.rs`'s own
//! items aside), and they keep the layers ARCHITECTURE.md draws ("Code map: the
//! runtime"): no file uses a file of a higher layer, and no file uses an item that
//! `lib.rs` defines (it only declares the modules and re-exports; a re-exported item
//! counts as a use of the file that defines it). The graph, one file module per line
//! with its layer and what it uses, is printed by `files_keep_their_layers`
//! (`sockc_testkit::modgraph` says how it is read).

use std::path::{Path, PathBuf};

use sockc_testkit::modgraph::{
    assert_injected_cycle_is_found, assert_no_cycles, drawing, ModGraph, ModPath,
};

/// The layers, top down, each with the modules in it (a module path covers the files
/// below it unless a longer path names them): a file may use files of its own layer
/// or of layers below it. A new file goes into the layer of what it does; a module no
/// line names fails the test.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "commands",
        &[
            "install::update",
            "install::repair",
            "install::register",
            "install::status",
            "install::counters",
            "install::shown",
            "trace",
        ],
    ),
    ("mechanics", &["install", "conntrack_anchor", "residual"]),
    ("records", &["store", "plan"]),
    ("attach", &["attach"]),
    (
        "kernel",
        &[
            "loaded",
            "raw_load",
            "kernel_btf",
            "table_update",
            "map_write",
            "counter_map",
            "slot_map",
            "discovery",
            "cgroup_refs",
            "set_count",
        ],
    ),
    (
        "leaves",
        &[
            "sys",
            "map_window",
            "netlink",
            "nft",
            "netns",
            "cgroup",
            "kernel_error",
            "error_text",
            "fault",
            "table",
            "ahead",
            "stages",
            "rule_id",
            "icmp_limits",
        ],
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")
}

/// The crate's graph, with restricted visibilities read as `pub`: `pub(crate)` names
/// the crate root as a path, which is no use of an item of `lib.rs`.
fn graph(extra: &dyn Fn(&Path, String) -> String) -> ModGraph {
    let edit = |p: &Path, text: String| {
        extra(p, text)
            .replace("pub(crate)", "pub")
            .replace("pub(super)", "pub")
    };
    ModGraph::read_with(&root(), &edit).unwrap_or_else(|e| panic!("{e}"))
}

/// The layer of module `m`: the index in [`LAYERS`] of the longest path naming it.
fn layer_of(m: &ModPath) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, (_, mods)) in LAYERS.iter().enumerate() {
        for path in mods.iter() {
            let segs: Vec<&str> = path.split("::").collect();
            let covers = m.0.len() >= segs.len() && m.0.iter().zip(&segs).all(|(a, b)| a == b);
            if covers && best.is_none_or(|(len, _)| segs.len() > len) {
                best = Some((segs.len(), i));
            }
        }
    }
    best.map(|(_, i)| i)
}

/// Every way the graph breaks the layering, one line each (empty when it keeps it).
fn layer_violations(g: &ModGraph) -> Vec<String> {
    let crate_root = ModPath(Vec::new());
    let mut out = Vec::new();
    for m in g.modules().filter(|m| **m != crate_root) {
        let Some(from) = layer_of(m) else {
            out.push(format!("{m} is in no layer: add it to LAYERS"));
            continue;
        };
        for t in g.edges.get(m).into_iter().flatten() {
            if *t == crate_root {
                out.push(format!("{m} uses an item defined in lib.rs"));
                continue;
            }
            // A `mod.rs` declares and re-exports its children, and a child uses the
            // items its parent holds for it: the ordinary Rust layout.
            if m.is_ancestor_of(t) || t.is_ancestor_of(m) {
                continue;
            }
            match layer_of(t) {
                Some(to) if to < from => out.push(format!(
                    "{m} ({}) uses {t} ({}), a higher layer",
                    LAYERS[from].0, LAYERS[to].0
                )),
                _ => {}
            }
        }
    }
    out
}

/// ARCHITECTURE.md draws the graph by the paths [`LAYERS`] names ("Module graphs").
#[test]
fn architecture_md_draws_the_graph() {
    let paths: Vec<&str> = LAYERS.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let g = graph(&|_, t| t);
    let units = g.unit_graph(&|m| g.layer_unit_name(&[&paths], m));
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md");
    let rank = |unit: &str| {
        LAYERS
            .iter()
            .position(|(_, paths)| paths.contains(&unit))
            .unwrap_or(LAYERS.len())
    };
    let drawn = drawing::draw(&units, &rank);
    drawing::assert_architecture_md_shows(&doc, "sockc-runtime", &drawn);
}

#[test]
fn files_form_no_cycle() {
    assert_no_cycles(&root(), &[]);
}

#[test]
fn the_file_check_finds_an_injected_cycle() {
    assert_injected_cycle_is_found(&root());
}

#[test]
fn files_keep_their_layers() {
    let g = graph(&|_, t| t);
    for m in g.modules() {
        let layer = layer_of(m).map_or("-", |i| LAYERS[i].0);
        let uses: Vec<String> = g
            .edges
            .get(m)
            .into_iter()
            .flatten()
            .map(|t| t.to_string())
            .collect();
        println!("{layer:<9} {m} uses {}", uses.join(", "));
    }
    let broken = layer_violations(&g);
    assert!(
        broken.is_empty(),
        "files that use a file above them, or an item of lib.rs (move what they share \
         down, into a module of their layer or a lower one):\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn the_layer_check_finds_an_upward_use_and_a_use_of_lib_rs() {
    let sys = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sys.rs");
    let lib = root();
    let g = graph(&|p, t| {
        if p == sys {
            t + "\nfn upward(_: crate::install::InstallError) {}\n"
        } else if p == lib {
            t + "\npub fn defined_here() {}\n"
        } else if p.ends_with("src/netns.rs") {
            t + "\nfn uses_lib() { crate::defined_here(); }\n"
        } else {
            t
        }
    });
    let broken = layer_violations(&g);
    for wanted in [
        "sys (leaves) uses install (mechanics), a higher layer",
        "netns uses an item defined in lib.rs",
    ] {
        assert!(
            broken.iter().any(|b| b == wanted),
            "`{wanted}` not reported: {broken:?}"
        );
    }
}

/// The rule every crate's architecture test states in the same words
/// (`sockc_testkit::modgraph::layers`): the crate root defines nothing another file uses.
#[test]
fn lib_rs_defines_nothing_another_file_uses() {
    sockc_testkit::modgraph::layers::assert_root_defines_nothing_used(&root());
}
