//! Port sets in plans. Address sets live in maps and show as map entry changes; port
//! sets (`set web = { 80, 443, 8000-8080 }`) are inlined into the code of every rule
//! that uses them, so no map changes when one does: without this module a plan would
//! say `sets: unchanged` while only the bytecode diff showed the new ports.
//!
//! A snapshot records each port set a rule uses as the ranges the compiled rule tests
//! (`@NAME` after `to ADDR:` is the destination port match, after `from ADDR:` the
//! source port match). A set no rule uses changes nothing installed and is not listed.

use std::collections::BTreeMap;

use sockc_compiler::{
    ir::{port_range_text, PortMatch, Rule},
    Compiled,
};

/// Which side of a rule `@NAME` at byte `at` of its text stands on: the nearest
/// `from`/`to` keyword before it.
fn side(text: &str, at: usize) -> Option<bool> {
    let before = &text[..at];
    let words: Vec<&str> = before.split_whitespace().collect();
    words.iter().rev().find_map(|w| match *w {
        "to" => Some(true),
        "from" => Some(false),
        _ => None,
    })
}

fn ranges(m: &PortMatch) -> Option<Vec<String>> {
    match m {
        PortMatch::Any => None,
        PortMatch::Ranges(r) => Some(r.iter().map(|&(lo, hi)| port_range_text(lo, hi)).collect()),
    }
}

fn of_rule(r: &Rule, out: &mut BTreeMap<String, Vec<String>>) {
    let text = &r.text;
    let mut i = 0;
    // Each `@` (found with memchr; most rules have none), then whether `:` is before
    // it: a substring search of every rule for `:@` was a quarter of a plan's work.
    while let Some(pos) = text[i..].find('@') {
        let at = i + pos + 1;
        i = at;
        if !text[..at - 1].ends_with(':') {
            continue;
        }
        let name: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if name.is_empty() {
            continue;
        }
        let m = match side(text, at) {
            Some(true) => &r.m.dport,
            Some(false) => &r.m.sport,
            None => continue,
        };
        if let Some(v) = ranges(m) {
            out.entry(name).or_insert(v);
        }
    }
}

/// Every port set the rules of `c` use, with the ranges they test.
pub fn of(c: &Compiled) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for p in c.module.programs.values() {
        for r in &p.rules {
            of_rule(r, &mut out);
        }
    }
    out
}

/// (set, added, removed) for every port set whose ranges differ; sets only one side
/// uses are listed whole.
pub fn changes(
    old: &BTreeMap<String, Vec<String>>,
    new: &BTreeMap<String, Vec<String>>,
) -> Vec<(String, Vec<String>, Vec<String>)> {
    let empty = Vec::new();
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| {
            let o = old.get(n).unwrap_or(&empty);
            let w = new.get(n).unwrap_or(&empty);
            let added: Vec<String> = w.iter().filter(|x| !o.contains(x)).cloned().collect();
            let removed: Vec<String> = o.iter().filter(|x| !w.contains(x)).cloned().collect();
            (!added.is_empty() || !removed.is_empty()).then(|| (n.clone(), added, removed))
        })
        .collect()
}

#[cfg(test)]
#[path = "port_sets_tests.rs"]
mod tests;
