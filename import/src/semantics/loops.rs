//! Jump loops: netfilter refuses to load a ruleset whose jumps (`jump`, `goto`,
//! verdict-map entries) lead from a chain back to itself — `iptables-restore` fails
//! with "Too many levels of symbolic links", `nft -f` likewise — so the import refuses
//! one too, at the jump that closes the loop, before anything is flattened.
//!
//! Invariant: every chain of every table is checked (nft checks a jump when it is
//! added, whether or not a base chain reaches it), in time linear in chains plus
//! jumps and without recursion (a chain of thousands of chains is not a deep stack).

use std::collections::HashMap;

use sockc_compiler::diag::Code;

use crate::{
    diag::Diagnostic,
    model::{RuleId, Ruleset, Table, Verdict},
};

/// The first loop found, as an error at the jump that closes it.
pub fn check(rs: &Ruleset) -> Result<(), Diagnostic> {
    for (ti, table) in rs.tables.iter().enumerate() {
        let edges = edges(rs, ti, table);
        if let Some((rule, cycle)) = find_loop(&edges) {
            let names: Vec<&str> = cycle
                .iter()
                .map(|c| table.chains[*c].name.as_str())
                .collect();
            // Shown as a syntax error: netfilter's own tools refuse it when reading.
            return Err(Diagnostic::new(
                Code::Syntax,
                format!(
                    "this jump closes a loop ({}): netfilter refuses to load jumps that loop",
                    names.join(" → ")
                ),
                rs.rules[rule].span,
            ));
        }
    }
    Ok(())
}

/// Each chain's jumps: (the rule, the chain it jumps to).
fn edges(rs: &Ruleset, ti: usize, table: &Table) -> Vec<Vec<(RuleId, usize)>> {
    let by_name: HashMap<&str, usize> = table
        .chains
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut out = vec![Vec::new(); table.chains.len()];
    for (ci, chain) in table.chains.iter().enumerate() {
        for id in &chain.rules {
            let mut targets = Vec::new();
            targets_of(&rs.rules[*id].verdict, &mut targets);
            debug_assert_eq!(rs.rules[*id].table, ti);
            for t in targets {
                if let Some(&to) = by_name.get(t) {
                    out[ci].push((*id, to));
                }
            }
        }
    }
    out
}

fn targets_of<'a>(v: &'a Verdict, out: &mut Vec<&'a str>) {
    match v {
        Verdict::Jump(c) | Verdict::Goto(c) => out.push(c),
        Verdict::Map { entries, .. } => {
            for (_, v) in entries {
                targets_of(v, out);
            }
        }
        _ => {}
    }
}

/// A loop of `edges`: the jump rule that closes it and the chains on it, from the
/// chain jumped to back to it.
fn find_loop(edges: &[Vec<(RuleId, usize)>]) -> Option<(RuleId, Vec<usize>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Color {
        New,
        OnPath,
        Done,
    }
    let mut color = vec![Color::New; edges.len()];
    for root in 0..edges.len() {
        if color[root] != Color::New {
            continue;
        }
        // the path from `root`: (chain, index of its next edge)
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        color[root] = Color::OnPath;
        while let Some(&mut (chain, ref mut next)) = path.last_mut() {
            let Some(&(rule, to)) = edges[chain].get(*next) else {
                color[chain] = Color::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match color[to] {
                Color::OnPath => {
                    let from = path.iter().position(|(c, _)| *c == to).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[from..].iter().map(|(c, _)| *c).collect();
                    cycle.push(to);
                    return Some((rule, cycle));
                }
                Color::New => {
                    color[to] = Color::OnPath;
                    path.push((to, 0));
                }
                Color::Done => {}
            }
        }
    }
    None
}
