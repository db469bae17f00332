//! The compiler's stages form no import cycle: reading every source file of the crate
//! (test code left out), each `crate::MODULE` a top-level module names is an edge, and
//! the graph of top-level modules must be acyclic. The test prints the graph, one
//! module per line with what it uses, in an order where each module comes after
//! everything it uses (ARCHITECTURE.md shows the same). Inside the stages, the graph
//! of files has no cycle either (`sockc_testkit::modgraph`), the leaf files every
//! file of a stage shares use nothing above them, and no file uses an item `lib.rs`
//! defines (it holds the module declarations, re-exports and the crate's docs).

use crate::support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use sockc_testkit::modgraph::{ModGraph, ModPath};
use support::{production_code, rust_files};

/// The top-level modules named after `crate::` in `code`, including those inside a
/// `use crate::{a, b::c}` group (only names at the group's first level count).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(i) = code[at..].find("crate::") {
        let start = at + i + "crate::".len();
        at = start;
        if bytes.get(start) == Some(&b'{') {
            // The first word of each path at the group's first level.
            let mut depth = 0;
            let mut head = false;
            let mut word = String::new();
            for &b in &bytes[start..] {
                let ident = b.is_ascii_alphanumeric() || b == b'_';
                if depth == 1 && ident && head {
                    word.push(b as char);
                    continue;
                }
                if !word.is_empty() {
                    out.insert(std::mem::take(&mut word));
                    head = false;
                }
                match b {
                    b'{' => {
                        depth += 1;
                        head = depth == 1;
                    }
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b',' if depth == 1 => head = true,
                    _ if depth == 1 && ident => head = false,
                    _ => {}
                }
            }
        } else {
            let name: String = code[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out.retain(|n| !n.is_empty() && n != "self");
    out
}

#[test]
fn top_level_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        if first == "lib.rs" {
            continue;
        }
        let module = first.trim_end_matches(".rs").to_string();
        let text = std::fs::read_to_string(f).unwrap();
        let refs = crate_refs(&production_code(f, &text));
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(refs.into_iter().filter(|r| *r != module));
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for (m, uses) in &graph {
        for u in uses {
            assert!(modules.contains(u), "{m} names crate::{u}, not a module");
        }
    }
    // Kahn's algorithm: a module is placed once everything it uses is placed.
    let mut placed: Vec<String> = Vec::new();
    let mut left = graph.clone();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|(_, uses)| uses.iter().all(|u| placed.contains(u)))
            .map(|(m, _)| m.clone())
            .collect();
        assert!(
            !ready.is_empty(),
            "import cycle among the compiler's modules: {:#?}",
            left
        );
        for m in ready {
            left.remove(&m);
            placed.push(m);
        }
    }
    for m in &placed {
        let uses: Vec<&str> = graph[m].iter().map(String::as_str).collect();
        println!("{m:<9} uses {}", uses.join(", "));
    }
    // The pipeline's order: a stage may use the stages before it, never one after;
    // the optimizer and the back end only share the IR.
    let reaches = |from: &str, to: &str| {
        let mut stack = vec![from.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(m) = stack.pop() {
            if m == to {
                return true;
            }
            if seen.insert(m.clone()) {
                stack.extend(graph[&m].iter().cloned());
            }
        }
        false
    };
    let order = [
        "syntax", "ir", "sema", "opt", "bpf", "obj", "metadata", "driver",
    ];
    for (i, early) in order.iter().enumerate() {
        for late in &order[i + 1..] {
            assert!(!reaches(early, late), "{early} uses {late}, a later stage");
        }
    }
    assert!(!reaches("bpf", "opt"), "the back end uses the optimizer");
}

#[test]
fn crate_refs_reads_groups() {
    let code = "use crate::{\n    bpf::{insn::Insn, maps},\n    ir::Module,\n};\nlet x = crate::hooks::spec(k);";
    let refs: Vec<String> = crate_refs(code).into_iter().collect();
    assert_eq!(refs, ["bpf", "hooks", "ir"]);
}

/// No two files of the compiler use each other, directly or through other files
/// (a child using its parent `mod.rs`'s own items aside): `sockc_testkit::modgraph`.
#[test]
fn files_form_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    sockc_testkit::modgraph::assert_no_cycles(&root, &[]);
}

/// ARCHITECTURE.md's drawing of the stage graph ("Module graphs") is the code's.
#[test]
fn architecture_md_draws_the_stage_graph() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md");
    sockc_testkit::modgraph::drawing::assert_top_level_drawn(&root, &doc, "sockc-compiler");
}

/// The leaf files of a stage: each uses no other file of its stage but the ones listed
/// with it, so every file of the stage may use it without a loop (ARCHITECTURE.md
/// draws the layers).
const LEAVES: &[(&str, &[&str])] = &[
    ("bpf::insn", &[]),
    ("bpf::flow", &[]),
    ("bpf::buffer", &["bpf::insn", "bpf::kernel_ref"]),
    ("bpf::kernel_ref", &[]),
    ("bpf::counters", &[]),
    (
        "bpf::emit",
        &["bpf::buffer", "bpf::counters", "bpf::flow", "bpf::insn"],
    ),
    (
        "syntax::ast",
        &[
            "syntax::ct",
            "syntax::ct_entry",
            "syntax::limit",
            "syntax::reject",
            "syntax::route",
            "syntax::iface",
            "syntax::ids",
            "syntax::answers",
            "syntax::mark",
            "syntax::ipfield",
        ],
    ),
    ("syntax::answers", &["syntax::limit"]),
    ("syntax::ct", &[]),
    ("syntax::mark", &[]),
    ("syntax::ct_entry", &["syntax::mark"]),
    ("syntax::ipfield", &[]),
    ("syntax::ids", &[]),
    ("syntax::iface", &[]),
    ("syntax::limit", &[]),
    ("syntax::reject", &[]),
    ("syntax::route", &[]),
    ("syntax::grammar", &[]),
    ("syntax::decode", &["syntax::ast"]),
    ("syntax::hints", &["syntax::grammar"]),
    ("diag::codes", &[]),
];

/// The files of `leaf`'s stage it uses beyond what [`LEAVES`] allows it (its
/// ancestors' own items aside).
fn leaf_breaches(g: &ModGraph, leaf: &str, may: &[&str]) -> Vec<String> {
    let path = ModPath(leaf.split("::").map(String::from).collect());
    let stage = &path.0[0];
    g.edges
        .get(&path)
        .unwrap_or_else(|| panic!("no module {leaf}"))
        .iter()
        .filter(|t| t.0.first() == Some(stage) && !t.is_ancestor_of(&path))
        .map(|t| t.to_string())
        .filter(|t| !may.contains(&t.as_str()))
        .collect()
}

#[test]
fn leaves_use_nothing_above_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let g = ModGraph::read(&root).unwrap();
    for (leaf, may) in LEAVES {
        let breaches = leaf_breaches(&g, leaf, may);
        assert!(
            breaches.is_empty(),
            "{leaf} is a leaf of its stage but uses {breaches:?}"
        );
    }
    // The check can fail: the emitters using the maps is a breach.
    let edit = |p: &Path, t: String| {
        if p.ends_with("bpf/emit.rs") {
            t + "\nuse super::maps::Sizing as _;\n"
        } else {
            t
        }
    };
    let injected = ModGraph::read_with(&root, &edit).unwrap();
    assert_eq!(
        leaf_breaches(
            &injected,
            "bpf::emit",
            &["bpf::buffer", "bpf::counters", "bpf::flow", "bpf::insn"]
        ),
        ["bpf::maps"]
    );
}

#[test]
fn no_file_uses_an_item_of_the_crate_root() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    sockc_testkit::modgraph::layers::assert_root_defines_nothing_used(&root);
}

#[test]
fn the_file_checks_find_what_is_injected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    sockc_testkit::modgraph::assert_injected_cycle_is_found(&root);
    sockc_testkit::modgraph::layers::assert_injected_root_use_is_found(&root);
}
