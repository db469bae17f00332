//! The bench's files form no import cycle (a child using its parent `mod.rs`'s own
//! items aside): the tables use the leaf `measure.rs` and their cases, never each
//! other. The graph, one file module per line with what it uses, is printed by
//! `files_form_no_cycle` (`sockc_testkit::modgraph` says how it is read). No file uses
//! an item `lib.rs` defines (`BenchArgs` and the order of the tables, which only the
//! CLI calls). The files keep the layers [`LAYERS`] names, and ARCHITECTURE.md draws
//! the graph by them.
//!
//! The bench uses the compiler through its public API only, and
//! `compiler_items_are_the_listed_ones` keeps the list of what it names exact: the
//! compiler's items the bench needs public, and no more.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use sockc_testkit::modgraph::{
    assert_injected_cycle_is_found, assert_no_cycles,
    layers::{
        assert_injected_layer_breaches_are_found, assert_injected_root_use_is_found, assert_layers,
        assert_layers_drawn, assert_root_defines_nothing_used,
    },
};
use syn::visit::Visit;

/// The bench, top first: the crate root (`BenchArgs`, the order of the tables); the
/// tables built from cases (the peer head-to-head, the rule-set sizes); the cases and
/// the tables of one construct each; the leaves every table shares (measuring, plots,
/// the IPv6 cases).
const LAYERS: &[&[&str]] = &[
    &["crate"],
    &["control", "cgroup"],
    &["peer", "rule_sets", "reject_sets"],
    &[
        "cases",
        "constructs",
        "ext_headers",
        "sk_lookup",
        "socket_conditions",
        "sockmap",
    ],
    &["ipv6_cases", "plot", "measure"],
];

fn root() -> PathBuf {
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
    assert_layers_drawn(&root(), LAYERS, &doc, "sockc-bench");
}

#[test]
fn the_file_checks_find_what_is_injected() {
    assert_injected_cycle_is_found(&root());
    assert_injected_root_use_is_found(&root());
    assert_injected_layer_breaches_are_found(&root(), LAYERS);
}

/// Every `sockc_compiler` item the bench names, as a path from the crate root.
/// Methods and fields of these (`Compiled::to_elf`, `MapDef::key`, ...) are used too.
const COMPILER_ITEMS: &[&str] = &[
    "Compiled",
    "Options",
    "bpf::buffer::Code",
    "bpf::buffer::CodeBuffer",
    "bpf::buffer::Label",
    "bpf::classify::steps",
    "bpf::insn::Cond",
    "bpf::insn::Insn",
    "bpf::insn::Reg",
    "bpf::insn::Size",
    "bpf::insn::op::ADD",
    "bpf::insn::op::MOV",
    "bpf::insn::op::OR",
    "bpf::maps::BtfType",
    "bpf::maps::Entries",
    "bpf::maps::MapContents",
    "bpf::maps::MapDef",
    "bpf::maps::hex",
    "compile",
    "hooks::HOOKS",
    "hooks::HookKind",
    "ir::Step",
    "ir::port_range_text",
    "metadata::METADATA_FORMAT",
    "metadata::Metadata",
    "metadata::ProgramMeta",
    "obj::ObjectImage",
    "obj::ProgramImage",
    "obj::write_object",
    "opt::Lints",
    "opt::OptLevel",
    "output::replace_file",
    "syntax::ast::Verdict",
];

#[test]
fn compiler_items_are_the_listed_ones() {
    let mut named = BTreeSet::new();
    for file in rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        named.extend(compiler_items(&text));
    }
    let listed: BTreeSet<String> = COMPILER_ITEMS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        named, listed,
        "the bench names other compiler items than COMPILER_ITEMS lists: keep the list \
         exact (the compiler keeps these public)"
    );
}

#[test]
fn the_item_reader_sees_uses_and_paths() {
    let text = "use sockc_compiler::{bpf::{insn::{self, Reg}}, hooks};\n\
                fn f() { let _ = (insn::op::ADD, Reg::R1, hooks::spec, \
                sockc_compiler::bpf::refcheck::check_code); }";
    let items: Vec<String> = compiler_items(text).into_iter().collect();
    assert_eq!(
        items,
        [
            "bpf::insn::Reg",
            "bpf::insn::op::ADD",
            "bpf::refcheck::check_code",
            "hooks::spec",
        ]
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The compiler items a file names: `use sockc_compiler::...` (groups expanded, a
/// module kept as a module) and paths in code, through the names the uses bind. A
/// path is cut after its first capitalized segment (a type or constant: its variants
/// and associated functions are the type's use); a module whose items are named is
/// left out.
fn compiler_items(text: &str) -> BTreeSet<String> {
    let file = syn::parse_file(text).unwrap();
    let mut reader = Reader::default();
    reader.visit_file(&file);
    let mut items = BTreeSet::new();
    for path in &reader.paths {
        let full = match reader.bound.get(&path[0]) {
            Some(prefix) => prefix.iter().chain(&path[1..]).cloned().collect(),
            None if path[0] == "sockc_compiler" => path[1..].to_vec(),
            None => continue,
        };
        let cut = full
            .iter()
            .position(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
            .map_or(full.len(), |i| i + 1);
        if cut > 0 {
            items.insert(full[..cut].join("::"));
        }
    }
    // A module named only on the way to its items is not an item of its own.
    let modules: BTreeSet<String> = items
        .iter()
        .filter(|m| items.iter().any(|i| i.starts_with(&format!("{m}::"))))
        .cloned()
        .collect();
    &items - &modules
}

#[derive(Default)]
struct Reader {
    /// Names the file's uses bind to compiler paths (`Reg` → `bpf::insn::Reg`).
    bound: BTreeMap<String, Vec<String>>,
    /// Every path named, as segments; the uses' own under `sockc_compiler`.
    paths: Vec<Vec<String>>,
}

impl Reader {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.bind(prefix, &n.ident.to_string(), None),
            syn::UseTree::Rename(r) => {
                self.bind(prefix, &r.ident.to_string(), Some(r.rename.to_string()))
            }
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| self.use_tree(prefix, t)),
            syn::UseTree::Glob(_) => self.paths.push(prefix.clone()),
        }
    }

    fn bind(&mut self, prefix: &[String], name: &str, rename: Option<String>) {
        if prefix.first().map(String::as_str) != Some("sockc_compiler") {
            return;
        }
        let mut full: Vec<String> = prefix[1..].to_vec();
        let bound_as = if name == "self" {
            prefix.last().cloned().unwrap_or_default()
        } else {
            full.push(name.to_string());
            name.to_string()
        };
        self.paths.push(
            std::iter::once("sockc_compiler".to_string())
                .chain(full.iter().cloned())
                .collect(),
        );
        self.bound.insert(rename.unwrap_or(bound_as), full);
    }
}

impl<'ast> Visit<'ast> for Reader {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.paths
            .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }
}
