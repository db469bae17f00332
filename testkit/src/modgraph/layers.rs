//! The rules beyond "no cycle" that a crate's architecture test can ask of its files.
//!
//! - **The crate root defines nothing another file uses** ([`ModGraph::root_item_uses`]):
//!   `lib.rs` and `main.rs` hold module declarations, re-exports and docs (and, in
//!   `main.rs`, the parse and the dispatch), so no arrow runs up to them.
//! - **Layers** ([`ModGraph::layer_breaches`]): the crate's modules are sorted into
//!   layers, top first, and a file uses only files of the layers below its own, or
//!   files of its own unit. A layer is a list of patterns: `"crate"` is the root file;
//!   `"a::b"` is module `a::b` with everything under it, and the plain patterns of one
//!   layer form one unit (its files use each other freely, cycles aside); `"a::*"` is
//!   module `a` with everything under it, where each child of `a` is a unit of its own
//!   (so `a::x` never uses `a::y`: the commands of a CLI, which share only what lies
//!   below them). A module no pattern covers is an error, so a new top-level module
//!   has to be given its place.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use super::{
    drawing::{assert_architecture_md_shows, draw},
    ModGraph, ModPath,
};

/// Which layer a module is in and which unit of it.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Place {
    layer: usize,
    /// The unit within the layer: empty for the layer's plain patterns, the child's
    /// path for one under an `a::*` pattern (`a` itself is the unit `a`).
    unit: Vec<String>,
}

/// How well `pattern` covers `m`: the length of the module path it names, or `None`.
fn covers(pattern: &str, m: &ModPath) -> Option<(usize, Vec<String>)> {
    if pattern == "crate" {
        return m.0.is_empty().then(|| (0, Vec::new()));
    }
    let (base, each_child) = match pattern.strip_suffix("::*") {
        Some(b) => (b, true),
        None => (pattern, false),
    };
    let base: Vec<String> = base.split("::").map(String::from).collect();
    if !m.0.starts_with(&base) {
        return None;
    }
    let unit = if !each_child {
        Vec::new()
    } else {
        m.0[..m.0.len().min(base.len() + 1)].to_vec()
    };
    Some((base.len(), unit))
}

impl ModGraph {
    /// Every module that names an item the crate root file defines (a function, type,
    /// constant, static, macro or inline module of `lib.rs`/`main.rs`; its re-exports
    /// and file modules are not its own), with the items' names.
    pub fn root_item_uses(&self) -> BTreeMap<ModPath, BTreeSet<String>> {
        self.root_uses
            .iter()
            .filter(|(_, names)| !names.is_empty())
            .map(|(m, names)| (m.clone(), names.clone()))
            .collect()
    }

    /// The place of `m` in `layers`: the pattern naming the longest module path wins.
    fn place(&self, layers: &[&[&str]], m: &ModPath) -> Option<Place> {
        let mut best: Option<(usize, Place)> = None;
        for (layer, patterns) in layers.iter().enumerate() {
            for p in *patterns {
                if let Some((len, unit)) = covers(p, m) {
                    if best.as_ref().is_none_or(|(l, _)| len > *l) {
                        best = Some((len, Place { layer, unit }));
                    }
                }
            }
        }
        best.map(|(_, p)| p)
    }

    /// The uses (`from`, `to`) that break `layers` (see the module docs): `to` is in
    /// `from`'s layer but another unit, or in a layer above. `Err` names the modules
    /// no pattern covers.
    pub fn layer_breaches(&self, layers: &[&[&str]]) -> Result<Vec<(ModPath, ModPath)>, String> {
        let mut places = BTreeMap::new();
        let mut unplaced = Vec::new();
        for m in self.modules() {
            match self.place(layers, m) {
                Some(p) => {
                    places.insert(m.clone(), p);
                }
                None => unplaced.push(m.to_string()),
            }
        }
        if !unplaced.is_empty() {
            return Err(format!("modules in no layer: {}", unplaced.join(", ")));
        }
        let mut out = Vec::new();
        for (from, targets) in &self.edges {
            let a = &places[from];
            // A path through the root (`use crate::{a, b}`) is no use of it; a use of
            // an item the root defines is the root rule's to find.
            for to in targets.iter().filter(|t| !t.0.is_empty()) {
                let b = &places[to];
                let allowed = b.layer > a.layer || (b.layer == a.layer && b.unit == a.unit);
                if !allowed {
                    out.push((from.clone(), to.clone()));
                }
            }
        }
        Ok(out)
    }

    /// The unit `m` is drawn as: its path down to the child of an `a::*` pattern, else
    /// the pattern that places it (`None`: no pattern covers it).
    pub fn layer_unit_name(&self, layers: &[&[&str]], m: &ModPath) -> Option<String> {
        let mut best: Option<(usize, String)> = None;
        for patterns in layers {
            for p in *patterns {
                if let Some((len, unit)) = covers(p, m) {
                    let name = if unit.is_empty() {
                        p.to_string()
                    } else {
                        unit.join("::")
                    };
                    if best.as_ref().is_none_or(|(l, _)| len > *l) {
                        best = Some((len, name));
                    }
                }
            }
        }
        best.map(|(_, n)| n)
    }

    /// The layers and their modules, one layer per line (for a test to print).
    fn render_layers(&self, layers: &[&[&str]]) -> String {
        let mut s = String::new();
        for (i, patterns) in layers.iter().enumerate() {
            let in_layer: Vec<String> = self
                .modules()
                .filter(|m| self.place(layers, m).is_some_and(|p| p.layer == i))
                .map(|m| m.to_string())
                .collect();
            s += &format!(
                "layer {i} ({}): {}\n",
                patterns.join(", "),
                in_layer.join(", ")
            );
        }
        s
    }
}

/// Fails unless no file of the crate whose root file is `root` uses an item the root
/// file defines (see the module docs); `root` is `src/lib.rs` or `src/main.rs`.
pub fn assert_root_defines_nothing_used(root: &Path) {
    let g = ModGraph::read(root).unwrap_or_else(|e| panic!("{e}"));
    let uses = g.root_item_uses();
    let listed: Vec<String> = uses
        .iter()
        .map(|(m, names)| {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            format!("{m} uses {}", names.join(", "))
        })
        .collect();
    assert!(
        uses.is_empty(),
        "{}: files use items the crate root defines (the root holds module declarations, \
         re-exports and docs, and in main.rs the parse and dispatch; move the items into a \
         module of their own): {listed:#?}",
        root.display()
    );
}

/// Fails unless the crate at `root` keeps `layers` (see the module docs); prints the
/// layers with their modules.
pub fn assert_layers(root: &Path, layers: &[&[&str]]) {
    let g = ModGraph::read(root).unwrap_or_else(|e| panic!("{e}"));
    println!("{}", g.render_layers(layers));
    let breaches = g
        .layer_breaches(layers)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let listed: Vec<String> = breaches
        .iter()
        .map(|(from, to)| format!("{from} uses {to}"))
        .collect();
    assert!(
        breaches.is_empty(),
        "{}: files use a file of a layer above theirs, or of another unit of their layer \
         (move what two of them share down into a lower layer): {listed:#?}",
        root.display()
    );
}

/// Fails unless one added use of a root item, in a file of the crate at `root`, is
/// found: [`assert_root_defines_nothing_used`] can fail on this crate.
pub fn assert_injected_root_use_is_found(root: &Path) {
    let g = ModGraph::read(root).unwrap_or_else(|e| panic!("{e}"));
    let target = g
        .modules()
        .find(|m| !m.0.is_empty())
        .and_then(|m| g.file(m))
        .expect("the crate has a module besides its root")
        .to_path_buf();
    const ITEM: &str = "injected_root_item";
    let edit = |p: &Path, t: String| {
        if p == root {
            t + &format!("\npub fn {ITEM}() {{}}\n")
        } else if p == target {
            t + &format!("\nuse crate::{ITEM} as _;\n")
        } else {
            t
        }
    };
    let injected = ModGraph::read_with(root, &edit).unwrap_or_else(|e| panic!("{e}"));
    let found = injected.root_item_uses();
    assert!(
        found.values().any(|names| names.contains(ITEM)),
        "a `use crate::{ITEM}` in {} went unnoticed: {found:?}",
        target.display()
    );
}

/// Fails unless a use added from a file to one of a layer above it, and (where a layer
/// has several units) to one of another unit of its layer, are found: the check of
/// [`assert_layers`] can fail on this crate.
pub fn assert_injected_layer_breaches_are_found(root: &Path, layers: &[&[&str]]) {
    let g = ModGraph::read(root).unwrap_or_else(|e| panic!("{e}"));
    let placed: Vec<(&ModPath, Place)> = g
        .modules()
        .filter(|m| !m.0.is_empty())
        .filter_map(|m| g.place(layers, m).map(|p| (m, p)))
        .collect();
    let pair = |wanted: &dyn Fn(&Place, &Place) -> bool| {
        placed.iter().find_map(|(a, pa)| {
            placed
                .iter()
                .find(|(b, pb)| !b.is_ancestor_of(a) && wanted(pa, pb))
                .map(|(b, _)| ((*a).clone(), (*b).clone()))
        })
    };
    let upward = pair(&|a, b| b.layer < a.layer).expect("a module below another's layer");
    let sideways = pair(&|a, b| b.layer == a.layer && b.unit != a.unit);
    for (from, to) in std::iter::once(upward).chain(sideways) {
        let file = g.file(&from).unwrap().to_path_buf();
        let line = format!("\nuse crate::{}::*;\n", to.0.join("::"));
        let edit = |p: &Path, t: String| if p == file { t + &line } else { t };
        let injected = ModGraph::read_with(root, &edit).unwrap_or_else(|e| panic!("{e}"));
        let breaches = injected.layer_breaches(layers).unwrap();
        assert!(
            breaches.contains(&(from.clone(), to.clone())),
            "a `use crate::{to}::*` in {} went unnoticed: {breaches:?}",
            file.display()
        );
    }
}

/// Fails unless ARCHITECTURE.md (`doc`) draws the crate at `root` as its `layers` group
/// it, under `key` (see [`super::drawing`]).
pub fn assert_layers_drawn(root: &Path, layers: &[&[&str]], doc: &Path, key: &str) {
    let g = ModGraph::read(root).unwrap_or_else(|e| panic!("{e}"));
    let units = g.unit_graph(&|m| g.layer_unit_name(layers, m));
    let rank = |unit: &str| layer_rank(layers, unit);
    assert_architecture_md_shows(doc, key, &draw(&units, &rank));
}

/// The index of the layer whose pattern names `unit` (a unit drawn by
/// [`ModGraph::layer_unit_name`]); past the last layer when none does.
pub fn layer_rank(layers: &[&[&str]], unit: &str) -> usize {
    layers
        .iter()
        .position(|patterns| {
            patterns.iter().any(|p| match p.strip_suffix("::*") {
                Some(base) => unit == base || unit.starts_with(&format!("{base}::")),
                None => *p == unit,
            })
        })
        .unwrap_or(layers.len())
}
