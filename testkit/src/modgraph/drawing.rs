//! The module graph drawn for ARCHITECTURE.md, and the check that the document shows it.
//!
//! A crate's file modules are grouped into units — the pattern of its layer table that
//! places each module (`commands::*` gives one unit per command), or its top-level
//! module for a crate that is layered by its stage graph — and the drawing has one line
//! per unit with the units it uses, top first: every unit comes before the units it
//! uses. [`assert_architecture_md_shows`] fails when the block ARCHITECTURE.md keeps
//! for a crate differs from the drawing of the code, and `SOCKC_BLESS=1` rewrites the
//! block. The invariant: the drawing is a function of the source and the layer table
//! alone, so the document's module graph cannot drift from the code without a test
//! failing.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    path::Path,
};

use super::{ModGraph, ModPath};

/// Unit → the other units it uses.
pub type UnitGraph = BTreeMap<String, BTreeSet<String>>;

/// The widest line of a drawing before it wraps.
const WIDTH: usize = 88;

impl ModGraph {
    /// The edges between units: `unit_of` names the unit of a module (`None`: the module
    /// is left out of the drawing). A unit's uses of itself are left out, and so are
    /// paths through the crate root (`use crate::{a, b}`): that the root defines nothing
    /// another file uses is a rule of its own ([`super::layers`]).
    pub fn unit_graph(&self, unit_of: &dyn Fn(&ModPath) -> Option<String>) -> UnitGraph {
        let mut out = UnitGraph::new();
        for m in self.modules() {
            let Some(from) = unit_of(m) else { continue };
            let uses = out.entry(from.clone()).or_default();
            for to in self.edges.get(m).into_iter().flatten() {
                if to.0.is_empty() {
                    continue;
                }
                match unit_of(to) {
                    Some(to) if to != from => {
                        uses.insert(to);
                    }
                    _ => {}
                }
            }
        }
        out
    }
}

/// The unit of a module in a crate layered by its top-level modules: `crate` for the
/// root file, else the first segment of its path.
pub fn top_level_unit(m: &ModPath) -> Option<String> {
    Some(m.0.first().cloned().unwrap_or_else(|| "crate".to_string()))
}

/// Fails unless ARCHITECTURE.md (`doc`) draws the crate at `root` by its top-level
/// modules, under `key`.
pub fn assert_top_level_drawn(root: &Path, doc: &Path, key: &str) {
    let g = ModGraph::read(root).unwrap_or_else(|e| panic!("{e}"));
    let units = g.unit_graph(&top_level_unit);
    assert_architecture_md_shows(doc, key, &draw(&units, &|_| 0));
}

/// The units in drawing order: a unit comes before every unit it uses, and among the
/// units free to come next, the lowest `rank` first (its layer), then by name; on a
/// loop (a `mod.rs` and its children), the unit of lowest rank and fewest users left.
fn top_first<'a>(units: &'a UnitGraph, rank: &dyn Fn(&str) -> usize) -> Vec<&'a str> {
    let mut users: BTreeMap<&str, usize> = units.keys().map(|u| (u.as_str(), 0)).collect();
    for uses in units.values() {
        for u in uses {
            *users.entry(u.as_str()).or_default() += 1;
        }
    }
    let mut order = Vec::with_capacity(users.len());
    while !users.is_empty() {
        let next = users
            .iter()
            .min_by_key(|(u, n)| (**n > 0, rank(u), **n, **u))
            .map(|(u, _)| *u)
            .expect("a unit is left");
        users.remove(next);
        for u in units.get(next).into_iter().flatten() {
            if let Some(n) = users.get_mut(u.as_str()) {
                *n = n.saturating_sub(1);
            }
        }
        order.push(next);
    }
    order
}

/// The drawing: one line per unit, `unit → used, used, ...`, top first (`rank`: see
/// [`top_first`]), wrapped under its first use at [`WIDTH`] columns.
pub fn draw(units: &UnitGraph, rank: &dyn Fn(&str) -> usize) -> String {
    let order = top_first(units, rank);
    let name_width = order.iter().map(|u| u.chars().count()).max().unwrap_or(0);
    let mut s = String::new();
    for unit in order {
        let uses: Vec<&str> = units
            .get(unit)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let head = format!("{unit:name_width$}");
        if uses.is_empty() {
            s += head.trim_end();
            s.push('\n');
            continue;
        }
        let indent = " ".repeat(name_width + 3);
        let mut line = format!("{head} → ");
        for (i, u) in uses.iter().enumerate() {
            let piece = if i + 1 < uses.len() {
                format!("{u},")
            } else {
                u.to_string()
            };
            let fresh = line.chars().count() <= name_width + 3;
            if !fresh && line.chars().count() + 1 + piece.chars().count() > WIDTH {
                s += line.trim_end();
                s.push('\n');
                line = indent.clone();
            } else if !fresh {
                line.push(' ');
            }
            line += &piece;
        }
        s += &line;
        s.push('\n');
    }
    s
}

/// The markers around a crate's block in ARCHITECTURE.md.
fn markers(key: &str) -> (String, String) {
    (
        format!("<!-- module graph of {key}: generated, see testkit/src/modgraph/drawing.rs -->"),
        format!("<!-- end of the module graph of {key} -->"),
    )
}

/// The block as it stands in the document: the fenced text between the markers.
fn block_in<'a>(doc: &'a str, key: &str) -> Option<(usize, usize, &'a str)> {
    let (begin, end) = markers(key);
    let start = doc.find(&begin)? + begin.len();
    let stop = start + doc[start..].find(&end)?;
    let inner = &doc[start..stop];
    let text = inner
        .trim()
        .strip_prefix("```text")?
        .strip_suffix("```")?
        .trim_start_matches('\n');
    Some((start, stop, text))
}

/// Fails unless ARCHITECTURE.md (`doc`) holds, for crate `key`, a block that is
/// exactly `drawing`; with `SOCKC_BLESS=1` in the environment, writes it there instead
/// (the markers must exist: a new crate's block is placed by hand once).
pub fn assert_architecture_md_shows(doc: &Path, key: &str, drawing: &str) {
    let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
    let (begin, _) = markers(key);
    let Some((start, stop, shown)) = block_in(&text, key) else {
        panic!(
            "{} has no module graph block for {key}: add the line `{begin}`, a ```text \
             fence and the end marker, then run the test with SOCKC_BLESS=1",
            doc.display()
        );
    };
    if shown == drawing {
        return;
    }
    if std::env::var_os("SOCKC_BLESS").is_some() {
        let new = format!(
            "{}\n```text\n{drawing}```\n{}",
            &text[..start],
            &text[stop..]
        );
        write_replacing(doc, &new);
        return;
    }
    panic!(
        "{}'s module graph of {key} differs from the code (run the test with SOCKC_BLESS=1 \
         to rewrite it, then check the prose around it still holds).\n--- shown\n{shown}\
         --- code\n{drawing}",
        doc.display()
    );
}

/// Writes `text` to `path` through a temporary file beside it and a rename.
fn write_replacing(path: &Path, text: &str) {
    let tmp = path.with_extension("md.bless");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .unwrap_or_else(|e| panic!("{}: {e}", tmp.display()));
    f.write_all(text.as_bytes()).unwrap();
    f.sync_all().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(pairs: &[(&str, &[&str])]) -> UnitGraph {
        pairs
            .iter()
            .map(|(u, uses)| (u.to_string(), uses.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn users_come_before_what_they_use() {
        let g = graph(&[
            ("shared", &[]),
            ("crate", &["cli", "shared"]),
            ("cli", &["shared"]),
        ]);
        assert_eq!(
            draw(&g, &|_| 0),
            "crate  → cli, shared\ncli    → shared\nshared\n"
        );
    }

    #[test]
    fn a_loop_is_broken_at_the_lowest_rank() {
        let g = graph(&[
            ("install", &["install::update"]),
            ("install::update", &["install"]),
        ]);
        let rank = |u: &str| usize::from(u != "install::update");
        assert_eq!(
            draw(&g, &rank),
            "install::update → install\ninstall         → install::update\n"
        );
    }

    #[test]
    fn long_lines_wrap_under_the_first_use() {
        let many: Vec<String> = (0..20).map(|i| format!("module_{i:02}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let g = graph(&[("a", &refs)]);
        let d = draw(&g, &|_| 0);
        assert!(d.lines().count() > 1, "{d}");
        assert!(d.lines().all(|l| l.chars().count() <= WIDTH), "{d}");
        let first = d.lines().next().unwrap();
        let column = first[..first.find("module_").unwrap()].chars().count();
        assert_eq!(
            d.lines().nth(1).unwrap().find("module_"),
            Some(column),
            "{d}"
        );
    }

    #[test]
    fn the_block_is_found_between_its_markers() {
        let (b, e) = markers("x");
        let doc = format!("intro\n{b}\n```text\na → b\nb\n```\n{e}\nafter\n");
        assert_eq!(block_in(&doc, "x").unwrap().2, "a → b\nb\n");
        assert!(block_in(&doc, "y").is_none());
    }
}
