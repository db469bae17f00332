//! The module graph of a crate, file by file, for the architecture tests of every
//! crate in the workspace.
//!
//! [`ModGraph::read`] follows the `mod NAME;` declarations from a crate's root file
//! (test modules left out: `#[cfg(test)]` items, files named `tests.rs` or
//! `test_support.rs`), parses each file with `syn`, and resolves every path the file
//! names (`use` trees and paths in code) to the file module that defines the item:
//! `crate::`, `super::`, `self::`, a child module's name, or a name a `use` of the
//! same file brought in; through `pub use` re-exports, so that an item a `mod.rs`
//! only re-exports counts as a use of the file that defines it.
//!
//! The rule the tests enforce ([`ModGraph::cycles`]): a module may use items its
//! ancestors define while the ancestor calls into it (a `mod.rs` holding the types its
//! children share: the ordinary Rust layout), but apart from those edges the graph of
//! files has no cycle — no loop among siblings, and none through a parent that only
//! re-exports a sibling's item. Paths inside a macro invocation are seen when its
//! arguments are expressions (`format!`, `assert!`, ...); names a `use PATH::*` brings
//! in are not.
//!
//! [`layers`] adds the rules a crate may ask for beyond that: the crate root defines
//! nothing another file uses, and the crate's modules keep to layers. [`drawing`] draws
//! the graph by units for ARCHITECTURE.md and checks the document shows it.

pub mod drawing;
pub mod layers;

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    path::{Path, PathBuf},
};

use syn::{punctuated::Punctuated, visit::Visit};

/// A file module's path from the crate root, as segments (`["bpf", "lower", "rules"]`;
/// the root is empty).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModPath(pub Vec<String>);

impl ModPath {
    fn child(&self, name: &str) -> ModPath {
        let mut v = self.0.clone();
        v.push(name.to_string());
        ModPath(v)
    }

    fn parent(&self) -> Option<ModPath> {
        let mut v = self.0.clone();
        v.pop().map(|_| ModPath(v))
    }

    /// Whether `self` is a strict ancestor of `other`.
    pub fn is_ancestor_of(&self, other: &ModPath) -> bool {
        self.0.len() < other.0.len() && other.0.starts_with(&self.0)
    }
}

impl fmt::Display for ModPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("crate")
        } else {
            f.write_str(&self.0.join("::"))
        }
    }
}

impl fmt::Debug for ModPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One file module: where it is, and the raw paths it names, before resolution.
struct FileMod {
    file: PathBuf,
    children: BTreeSet<String>,
    /// Names a `use` of this file binds → the path it names (`as` renames applied).
    imports: BTreeMap<String, Vec<String>>,
    /// Names a `pub use` makes visible from this module → the path it names.
    reexports: BTreeMap<String, Vec<String>>,
    /// `pub use PATH::*`: paths whose items this module re-exports.
    glob_reexports: Vec<Vec<String>>,
    /// Every path named (use trees expanded), with the inline-module depth it sits at.
    paths: Vec<(Vec<String>, usize)>,
    /// The names of the items the file declares at its top level.
    items: BTreeSet<String>,
}

/// The resolved graph: every file module and the file modules it uses.
pub struct ModGraph {
    mods: BTreeMap<ModPath, FileMod>,
    /// Module → the modules whose items it names (itself left out).
    pub edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
    /// Module → the items of the crate root file it names ([`layers`]).
    root_uses: BTreeMap<ModPath, BTreeSet<String>>,
}

/// What a path names: the file module, and the item of it when the path goes past
/// the module (its first segment that is not a module; `None` for the module itself).
struct Found {
    module: ModPath,
    item: Option<String>,
}

impl Found {
    fn module(module: ModPath) -> Found {
        Found { module, item: None }
    }

    fn item(module: ModPath, name: &str) -> Found {
        Found {
            module,
            item: Some(name.to_string()),
        }
    }
}

/// A change to a file's text before it is parsed (the tests inject a cycle this way).
pub type Edit<'a> = &'a dyn Fn(&Path, String) -> String;

impl ModGraph {
    /// The graph of the crate whose root file is `root` (`src/lib.rs`, `src/main.rs`).
    pub fn read(root: &Path) -> Result<ModGraph, String> {
        Self::read_with(root, &|_, t| t)
    }

    /// As [`ModGraph::read`], with `edit` applied to each file's text first.
    pub fn read_with(root: &Path, edit: Edit) -> Result<ModGraph, String> {
        let mut mods = BTreeMap::new();
        load(root, ModPath(Vec::new()), true, edit, &mut mods)?;
        let mut g = ModGraph {
            mods,
            edges: BTreeMap::new(),
            root_uses: BTreeMap::new(),
        };
        g.resolve_all();
        Ok(g)
    }

    /// The file of a module.
    pub fn file(&self, m: &ModPath) -> Option<&Path> {
        self.mods.get(m).map(|f| f.file.as_path())
    }

    /// Every module of the crate, in path order.
    pub fn modules(&self) -> impl Iterator<Item = &ModPath> {
        self.mods.keys()
    }

    /// The groups of files that form a cycle, once a module's uses of its ancestors'
    /// own items are left out (see the module docs). Each group is sorted; empty when
    /// the crate keeps the rule.
    pub fn cycles(&self) -> Vec<Vec<ModPath>> {
        let nodes: Vec<&ModPath> = self.mods.keys().collect();
        let index: BTreeMap<&ModPath, usize> =
            nodes.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        let adj: Vec<Vec<usize>> = nodes
            .iter()
            .map(|m| {
                self.edges
                    .get(*m)
                    .into_iter()
                    .flatten()
                    .filter(|t| !t.is_ancestor_of(m))
                    .map(|t| index[t])
                    .collect()
            })
            .collect();
        let mut out: Vec<Vec<ModPath>> = strongly_connected(&adj)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| {
                let mut v: Vec<ModPath> = c.into_iter().map(|i| nodes[i].clone()).collect();
                v.sort();
                v
            })
            .collect();
        out.sort();
        out
    }

    /// A module's path, its file's path from `base`, and what it uses, one module per
    /// line (for a test to print).
    pub fn render(&self, base: &Path) -> String {
        let mut s = String::new();
        for (m, f) in &self.mods {
            let file = f.file.strip_prefix(base).unwrap_or(&f.file);
            let uses: Vec<String> = self
                .edges
                .get(m)
                .into_iter()
                .flatten()
                .map(|t| t.to_string())
                .collect();
            s += &format!("{m} ({}) uses {}\n", file.display(), uses.join(", "));
        }
        s
    }

    fn resolve_all(&mut self) {
        let keys: Vec<ModPath> = self.mods.keys().cloned().collect();
        let root = ModPath(Vec::new());
        for m in keys {
            let mut targets = BTreeSet::new();
            let mut root_items = BTreeSet::new();
            for (p, depth) in &self.mods[&m].paths {
                let Some(found) = self.resolve(&m, *depth, p, 0) else {
                    continue;
                };
                if found.module == m {
                    continue;
                }
                if let Some(name) = found
                    .item
                    .filter(|n| found.module == root && self.is_own_item(&root, n))
                {
                    root_items.insert(name);
                }
                targets.insert(found.module);
            }
            self.edges.insert(m.clone(), targets);
            self.root_uses.insert(m, root_items);
        }
    }

    /// Whether `name` is an item the file of module `m` itself defines: not a file
    /// module, not a re-export.
    fn is_own_item(&self, m: &ModPath, name: &str) -> bool {
        self.mods
            .get(m)
            .is_some_and(|f| f.items.contains(name) && !f.children.contains(name))
    }

    /// The file module defining what `path`, named in module `m` at inline depth
    /// `depth`, refers to; `None` for another crate's item or a local one.
    fn resolve(&self, m: &ModPath, depth: usize, path: &[String], hops: u32) -> Option<Found> {
        if hops > 16 || path.is_empty() {
            return None;
        }
        let (mut at, rest) = match self.start(m, depth, path, hops)? {
            Start::At(at, rest) => (at, rest),
            // An imported item: what follows is the item's (a variant, a method).
            Start::Item(found) => return Some(found),
        };
        let mut i = rest;
        while i < path.len() {
            let f = self.mods.get(&at)?;
            let seg = &path[i];
            if f.children.contains(seg) {
                at = at.child(seg);
                i += 1;
                continue;
            }
            // An item of `at`: follow a re-export to where it is defined.
            if let Some(target) = f.reexports.get(seg) {
                let mut p = target.clone();
                p.extend_from_slice(&path[i + 1..]);
                return self
                    .resolve(&at, 0, &p, hops + 1)
                    .or_else(|| Some(Found::item(at, seg)));
            }
            for g in &f.glob_reexports {
                let mut p = g.clone();
                p.extend_from_slice(&path[i..]);
                if let Some(t) = self.resolve(&at, 0, &p, hops + 1) {
                    if self.defines(&t.module, seg) {
                        return Some(Found::item(t.module, seg));
                    }
                }
            }
            return Some(Found::item(at, seg));
        }
        Some(Found::module(at))
    }

    /// Where resolution of `path` starts: a module and the index of the first segment
    /// still to follow, or the item a `use` brought in under the path's first name.
    fn start(&self, m: &ModPath, depth: usize, path: &[String], hops: u32) -> Option<Start> {
        let first = path[0].as_str();
        match first {
            "crate" => Some(Start::At(ModPath(Vec::new()), 1)),
            "self" => Some(Start::At(m.clone(), 1)),
            "super" => {
                let supers = path.iter().take_while(|s| *s == "super").count();
                let mut at = m.clone();
                for _ in 0..supers.saturating_sub(depth) {
                    at = at.parent()?;
                }
                Some(Start::At(at, supers))
            }
            _ => {
                let f = self.mods.get(m)?;
                if depth == 0 && f.children.contains(first) {
                    return Some(Start::At(m.child(first), 1));
                }
                let target = f.imports.get(first)?;
                if target.first().map(String::as_str) == Some(first) && target.len() == 1 {
                    return None;
                }
                let t = self.resolve(m, depth, target, hops + 1)?;
                Some(match t.item {
                    Some(_) => Start::Item(t),
                    None => Start::At(t.module, 1),
                })
            }
        }
    }

    /// Whether module `m` defines or re-exports a name `name` (by its raw paths: an
    /// item declared there, or a re-export).
    fn defines(&self, m: &ModPath, name: &str) -> bool {
        self.mods.get(m).is_some_and(|f| {
            f.reexports.contains_key(name) || f.children.contains(name) || f.items.contains(name)
        })
    }
}

/// Where the resolution of a path starts ([`ModGraph::start`]).
enum Start {
    /// At a module, with the index of the first segment still to follow.
    At(ModPath, usize),
    /// At an item a `use` brought in.
    Item(Found),
}

/// Fails, printing the graph, unless the crate whose root file is `root` keeps the
/// rule; `known` lists the cycles that are still being taken apart (each as sorted
/// module paths, `"a::b"`): one that no longer exists must be taken off the list.
pub fn assert_no_cycles(root: &Path, known: &[&[&str]]) {
    let g = ModGraph::read(root).unwrap_or_else(|e| panic!("{e}"));
    let base = root.parent().unwrap();
    println!("{}", g.render(base));
    let known: Vec<Vec<String>> = known
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect();
    let found: Vec<Vec<String>> = g
        .cycles()
        .iter()
        .map(|c| c.iter().map(|m| m.to_string()).collect())
        .collect();
    let new: Vec<&Vec<String>> = found.iter().filter(|c| !known.contains(c)).collect();
    let gone: Vec<&Vec<String>> = known.iter().filter(|c| !found.contains(c)).collect();
    assert!(
        new.is_empty(),
        "{}: files that use each other (a cycle; move what they share into a leaf \
         module both use): {new:?}",
        root.display()
    );
    assert!(
        gone.is_empty(),
        "cycles no longer there, take them off the list: {gone:?}"
    );
}

/// Fails unless adding one `use` that closes a loop between two files of the crate
/// at `root` is reported as a cycle: the check above can fail on this crate.
pub fn assert_injected_cycle_is_found(root: &Path) {
    let g = ModGraph::read(root).unwrap_or_else(|e| panic!("{e}"));
    let (from, to) = g
        .edges
        .iter()
        .flat_map(|(m, ts)| ts.iter().map(move |t| (m, t)))
        .find(|(m, t)| !m.0.is_empty() && !m.is_ancestor_of(t) && !t.is_ancestor_of(m))
        .expect("the crate has an edge between two unrelated files");
    let target = g.file(to).unwrap().to_path_buf();
    let line = format!("\nuse crate::{}::*;\n", from.0.join("::"));
    let injected = ModGraph::read_with(root, &|p, t| if p == target { t + &line } else { t })
        .unwrap_or_else(|e| panic!("{e}"));
    let cycles = injected.cycles();
    assert!(
        cycles.iter().any(|c| c.contains(from) && c.contains(to)),
        "a `use crate::{from}::*` in {} went unnoticed: {cycles:?}",
        target.display()
    );
}

fn item_name(item: &syn::Item) -> Option<String> {
    use syn::Item::*;
    let id = match item {
        Const(i) => &i.ident,
        Enum(i) => &i.ident,
        Fn(i) => &i.sig.ident,
        Static(i) => &i.ident,
        Struct(i) => &i.ident,
        Trait(i) => &i.ident,
        Type(i) => &i.ident,
        Union(i) => &i.ident,
        Mod(i) => &i.ident,
        Macro(i) => i.ident.as_ref()?,
        _ => return None,
    };
    Some(id.to_string())
}

/// Whether attributes mark an item as test-only.
fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().split_whitespace().any(|t| t == "test"))
    })
}

/// Reads the file module `m` at `file` and, recursively, the file modules it declares.
fn load(
    file: &Path,
    m: ModPath,
    is_root_or_mod_rs: bool,
    edit: Edit,
    out: &mut BTreeMap<ModPath, FileMod>,
) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let text = edit(file, text);
    let ast = syn::parse_file(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut v = Collector::default();
    for item in &ast.items {
        v.visit_item(item);
    }
    let dir = if is_root_or_mod_rs {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    let mut children = BTreeSet::new();
    for name in &v.file_mods {
        let flat = dir.join(format!("{name}.rs"));
        let nested = dir.join(name).join("mod.rs");
        let (path, nested_layout) = if flat.is_file() {
            (flat, false)
        } else if nested.is_file() {
            (nested, true)
        } else {
            return Err(format!("{}: no file for `mod {name};`", file.display()));
        };
        if matches!(name.as_str(), "tests" | "test_support") {
            continue;
        }
        children.insert(name.clone());
        load(&path, m.child(name), nested_layout, edit, out)?;
    }
    out.insert(
        m,
        FileMod {
            file: file.to_path_buf(),
            children,
            imports: v.imports,
            reexports: v.reexports,
            glob_reexports: v.glob_reexports,
            paths: v.paths,
            items: ast.items.iter().filter_map(item_name).collect(),
        },
    );
    Ok(())
}

/// Gathers a file's `mod NAME;` declarations, imports, re-exports and named paths.
#[derive(Default)]
struct Collector {
    file_mods: Vec<String>,
    imports: BTreeMap<String, Vec<String>>,
    reexports: BTreeMap<String, Vec<String>>,
    glob_reexports: Vec<Vec<String>>,
    paths: Vec<(Vec<String>, usize)>,
    inline_depth: usize,
}

impl Collector {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, public: bool) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, public);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                let full = full_path(prefix, &name);
                self.bind(&full, name, public);
            }
            syn::UseTree::Rename(r) => {
                let full = full_path(prefix, &r.ident.to_string());
                self.bind(&full, r.rename.to_string(), public);
            }
            syn::UseTree::Glob(_) => {
                self.paths.push((prefix.clone(), self.inline_depth));
                if public && self.inline_depth == 0 {
                    self.glob_reexports.push(prefix.clone());
                }
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t, public);
                }
            }
        }
    }

    fn bind(&mut self, full: &[String], name: String, public: bool) {
        self.paths.push((full.to_vec(), self.inline_depth));
        if self.inline_depth > 0 || name == "_" {
            return;
        }
        if public {
            self.reexports.insert(name.clone(), full.to_vec());
        }
        self.imports.insert(name, full.to_vec());
    }
}

/// `prefix::name`, where `name` may be `self` (the prefix itself).
fn full_path(prefix: &[String], name: &str) -> Vec<String> {
    let mut p = prefix.to_vec();
    if name != "self" {
        p.push(name.to_string());
    }
    p
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item(&mut self, i: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match i {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(x) => &x.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Static(s) => &s.attrs,
            syn::Item::Trait(t) => &t.attrs,
            syn::Item::Type(t) => &t.attrs,
            syn::Item::Macro(m) => &m.attrs,
            _ => &[],
        };
        if is_test_only(attrs) {
            return;
        }
        syn::visit::visit_item(self, i);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.content.is_none() {
            if self.inline_depth == 0 {
                self.file_mods.push(m.ident.to_string());
            }
            return;
        }
        self.inline_depth += 1;
        syn::visit::visit_item_mod(self, m);
        self.inline_depth -= 1;
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let public = !matches!(u.vis, syn::Visibility::Inherited);
        self.use_tree(&mut Vec::new(), &u.tree, public);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.segments.len() > 1 || p.leading_colon.is_none() {
            let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
            self.paths.push((segs, self.inline_depth));
        }
        syn::visit::visit_path(self, p);
    }

    /// A macro's arguments when they are expressions (`format!`, `eprintln!`, `vec!`,
    /// `assert!`, a crate's own `sockc_error!`...): the paths in them are uses too.
    /// Other bodies (`json!`'s, `macro_rules!`) are left unread.
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        syn::visit::visit_macro(self, m);
        let args = m.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated);
        for e in args.iter().flatten() {
            Visit::visit_expr(self, e);
        }
    }
}

/// Tarjan's strongly connected components of a graph given by adjacency lists.
fn strongly_connected(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        adj: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.adj[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut c = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                c.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(c);
        }
    }
    let n = adj.len();
    let mut s = State {
        adj,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

#[cfg(test)]
mod tests;
