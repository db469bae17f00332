//! The import's report as data: for every rule of the input, its status (exact,
//! approximate, unsupported), why, and the lines of the imported file it became.
//!
//! Invariant: every rule of the input has exactly one entry, in input order; a rule's
//! status is the worst of everything that happened to it (each place it was reached
//! in, every feature it brought into a rule that could not be written), and an
//! unsupported rule's reason names what the language needs.

use serde::Serialize;

use crate::{
    features::Feature,
    lower::Block,
    model::{ChainType, Key, Match, MatchKind, NfHook, RuleId, Ruleset, Verdict},
    semantics::{flatten::Note, Place, Placed},
};

pub use crate::status::Status;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleReport {
    pub line: u32,
    /// Where on its line the rule starts (JSON listings are one line).
    pub column: u32,
    pub source: String,
    pub status: Status,
    pub reason: String,
    pub sk_lines: Vec<u32>,
    /// What the language would need for the parts of the rule that were left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Rules sockc runs exactly (not counting the ones that never run or never match).
    pub exact: usize,
    /// Rules that stay in netfilter, in the residual beside sockc's programs.
    pub residual: usize,
    pub approximate: usize,
    pub unsupported: usize,
    /// Rules that never run (no base chain reaches them) or never match where they
    /// run (earlier rules decide every packet they match): exact, counted apart.
    pub never: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub rules: Vec<RuleReport>,
    pub summary: Summary,
    /// What the report says about the whole input (chains at equal priority, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remarks: Vec<String>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes")
    }

    /// The features the unsupported rules need, with how many rules need each.
    pub fn needs(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = Vec::new();
        for what in self.rules.iter().flat_map(|r| &r.needs) {
            match v.iter_mut().find(|(w, _)| w == what) {
                Some((_, n)) => *n += 1,
                None => v.push((what.clone(), 1)),
            }
        }
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// What happened to one rule, gathered over every place.
#[derive(Clone, Debug)]
struct Acc {
    status: Status,
    reasons: Vec<String>,
    lines: Vec<u32>,
    touched: bool,
    needs: Vec<Feature>,
}

impl Acc {
    fn need(&mut self, f: Feature) {
        if !self.needs.contains(&f) {
            self.needs.push(f);
        }
    }

    fn add(&mut self, status: Status, reason: impl Into<String>) {
        self.touched = true;
        self.status = self.status.max(status);
        let reason = reason.into();
        if !reason.is_empty() && !self.reasons.contains(&reason) && self.reasons.len() < 8 {
            self.reasons.push(reason);
        }
    }
}

/// The features a rule's own matches, effects and verdict use.
pub fn rule_features(rs: &Ruleset, id: RuleId) -> Vec<Feature> {
    fn walk(m: &Match, out: &mut Vec<Feature>) {
        match &m.kind {
            MatchKind::Opaque { feature, .. } => out.push(*feature),
            MatchKind::Cgroup(_) => {}
            MatchKind::Test { keys, .. } => {
                for k in keys {
                    match k {
                        Key::CtState => out.push(Feature::CtState),
                        Key::Iifname | Key::Oifname | Key::Iif | Key::Oif => {
                            out.push(Feature::Interface)
                        }
                        _ => {}
                    }
                }
            }
            MatchKind::Any(alts) => alts.iter().flatten().for_each(|m| walk(m, out)),
        }
    }
    let rule = &rs.rules[id];
    let mut out = Vec::new();
    rule.matches.iter().for_each(|m| walk(m, &mut out));
    if let Verdict::Map { keys, .. } = &rule.verdict {
        walk(
            &Match::test(keys.clone(), crate::model::Rhs::AnyBit(0)),
            &mut out,
        );
    }
    out.sort();
    out.dedup();
    out
}

/// Builds the report from every place's list and what became of it; what sockc's
/// programs leave out has status `left` (unsupported, or residual when the residual
/// keeps it in netfilter).
pub fn build(
    rs: &Ruleset,
    placed: &[(&Placed, &Block)],
    placed_hooks: &[NfHook],
    remarks: Vec<String>,
    left: Status,
) -> Report {
    let mut acc = vec![
        Acc {
            status: Status::Exact,
            reasons: Vec::new(),
            lines: Vec::new(),
            touched: false,
            needs: Vec::new(),
        };
        rs.rules.len()
    ];
    let features: Vec<Vec<Feature>> = (0..rs.rules.len())
        .map(|id| rule_features(rs, id))
        .collect();
    let mut reached = vec![0usize; rs.rules.len()];
    for (p, block) in placed {
        for (i, n) in p.list.reached.iter().enumerate() {
            reached[i] += n;
        }
        gather_place(rs, p, block, &features, &mut acc, left);
    }
    let mut reach = Reach::new(rs);
    let mut never = vec![false; rs.rules.len()];
    for (id, a) in acc.iter_mut().enumerate() {
        if !a.touched {
            never[id] = explain_untouched(rs, id, reached[id], placed_hooks, &mut reach, a, left);
        }
    }
    let rules: Vec<RuleReport> = rs
        .rules
        .iter()
        .zip(acc)
        .map(|(r, mut a)| {
            a.lines.sort_unstable();
            a.lines.dedup();
            RuleReport {
                line: r.span.line,
                column: r.span.column,
                source: r.source.clone(),
                status: a.status,
                reason: a.reasons.join("; "),
                sk_lines: a.lines,
                needs: a.needs.iter().map(|f| f.to_string()).collect(),
            }
        })
        .collect();
    let mut summary = Summary::default();
    for (r, never) in rules.iter().zip(never) {
        match r.status {
            Status::Exact if never => summary.never += 1,
            Status::Exact => summary.exact += 1,
            Status::Residual => summary.residual += 1,
            Status::Approximate => summary.approximate += 1,
            Status::Unsupported => summary.unsupported += 1,
        }
    }
    Report {
        rules,
        summary,
        remarks,
    }
}

fn gather_place(
    rs: &Ruleset,
    p: &Placed,
    block: &Block,
    features: &[Vec<Feature>],
    acc: &mut [Acc],
    left: Status,
) {
    let place = match &p.place {
        Place::Netfilter { hook, priority } => format!("netfilter {hook} priority {priority}"),
        Place::Ingress(i) => format!("ingress on {i}"),
        Place::Egress(i) => format!("egress on {i}"),
    };
    for (r, e) in p.list.rules.iter().zip(&block.entries) {
        let (leaf, path) = crate::lower::flat_sources(r);
        for id in path {
            acc[*id].lines.extend(&e.lines);
        }
        // Blame each needed feature on the rules that brought it in.
        let mut blamed_elsewhere = Vec::new();
        for f in &e.needs {
            for id in path.iter().chain(&r.after) {
                if features[*id].contains(f) && Some(*id) != leaf {
                    acc[*id].add(left, format!("needs {f} ({place})"));
                    acc[*id].need(*f);
                    blamed_elsewhere.push(format!("line {} needs {f}", rs.rules[*id].span.line));
                }
            }
        }
        if leaf.is_none() && matches!(e.status, Status::Unsupported | Status::Residual) {
            // A drop policy left out (in part) is no rule of its own: it is blamed
            // on the rules whose exclusions split it, so the report never calls
            // exact a place that lets through what the policy drops.
            let why = format!(
                "the drop policy after it, split by what it lets go on, cannot be written there ({place}): {}",
                e.reasons.join("; ")
            );
            for id in &r.after {
                acc[*id].add(left, why.clone());
                e.needs.iter().for_each(|f| acc[*id].need(*f));
            }
        }
        if let Some(id) = leaf {
            let a = &mut acc[id];
            a.lines.extend(&e.lines);
            let mut reason = e.reasons.join("; ");
            if !blamed_elsewhere.is_empty() {
                blamed_elsewhere.dedup();
                reason = format!("{reason} [{}]", blamed_elsewhere.join(", "));
            }
            a.add(e.status, reason);
            if matches!(e.status, Status::Unsupported | Status::Residual) {
                e.needs.iter().for_each(|f| a.need(*f));
            }
        }
    }
    for (id, note) in &p.list.notes {
        let why = match note {
            Note::TooComplex(w) => format!("cannot be decomposed: {w}"),
            Note::BadJump(w) => w.clone(),
        };
        acc[*id].add(left, format!("{why}: needs {}", Feature::Other));
        acc[*id].need(Feature::Other);
    }
    for (id, f, why) in &p.left_out {
        acc[*id].add(left, format!("{why}: needs {f}"));
        acc[*id].need(*f);
    }
}

/// Why a rule no place used: its table or chain is out of scope, its hook is not
/// placed, or nothing reaches it; returns whether it never runs or never matches.
fn explain_untouched(
    rs: &Ruleset,
    id: RuleId,
    reached: usize,
    placed_hooks: &[NfHook],
    reach: &mut Reach,
    a: &mut Acc,
    left: Status,
) -> bool {
    let rule = &rs.rules[id];
    let table = &rs.tables[rule.table];
    let whole = if left == Status::Residual {
        ": netfilter runs it, in the residual"
    } else {
        ""
    };
    if table.family.ip_versions().is_empty() {
        a.add(
            left,
            format!(
                "a {} table{whole}: needs {}",
                table.family.name(),
                Feature::LinkLayer
            ),
        );
        a.need(Feature::LinkLayer);
        return false;
    }
    let bases = reach.base_chains(rs, rule.table, rule.chain);
    if bases.iter().any(|b| matches!(b.kind, ChainType::Nat)) && reached == 0 {
        a.add(
            left,
            format!("in a nat chain{whole}: needs {}", Feature::Nat),
        );
        a.need(Feature::Nat);
        return false;
    }
    if let Some(b) = bases.iter().find(|b| !placed_hooks.contains(&b.hook)) {
        let why = match b.hook {
            NfHook::Output | NfHook::Postrouting => {
                "xdp sees only incoming packets (--hook tc places it at tc egress)"
            }
            _ => "the import places no block there",
        };
        a.add(left, format!("runs at {}: {why}", b.hook));
        return false;
    }
    if bases.is_empty() {
        a.add(Status::Exact, "never runs: no base chain reaches its chain");
        return true;
    }
    let why = match &rule.verdict {
        Verdict::Jump(c) | Verdict::Goto(c) if reached > 0 => format!("its chain {c} is inlined where it jumps"),
        Verdict::Return if reached > 0 => "the rules after it leave out what it returns".to_string(),
        Verdict::Accept if reached > 0 => "accepted packets go on to the next base chain".to_string(),
        _ if reached > 0 => "folded into the rules around it".to_string(),
        _ if crate::semantics::input_fragments::never(rs, id) => {
            crate::semantics::input_fragments::REASON.to_string()
        }
        _ => "never matches where it is placed: earlier rules decide every packet it matches, or its interface names exclude the interface".to_string(),
    };
    a.add(Status::Exact, why);
    reached == 0
}

/// Which base chains reach which chain, by jumps and gotos: each table's callers
/// computed once, each chain's answer kept (linear in chains and jumps per chain, so
/// thousands of chains do not make the report quadratic in rules).
struct Reach {
    /// Per table, per chain: the chains with a rule that jumps or goes to it.
    callers: Vec<Vec<Vec<usize>>>,
    known: std::collections::HashMap<(usize, usize), Vec<crate::model::BaseChain>>,
}

impl Reach {
    fn new(rs: &Ruleset) -> Reach {
        let callers = rs
            .tables
            .iter()
            .map(|t| {
                let by_name: std::collections::HashMap<&str, usize> = t
                    .chains
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name.as_str(), i))
                    .collect();
                let mut callers = vec![Vec::new(); t.chains.len()];
                for (ci, caller) in t.chains.iter().enumerate() {
                    for r in &caller.rules {
                        for name in called(&rs.rules[*r].verdict) {
                            if let Some(&to) = by_name.get(name) {
                                callers[to].push(ci);
                            }
                        }
                    }
                }
                callers
            })
            .collect();
        Reach {
            callers,
            known: std::collections::HashMap::new(),
        }
    }

    /// The base chains from which chain (table, chain) is reached.
    fn base_chains(
        &mut self,
        rs: &Ruleset,
        table: usize,
        chain: usize,
    ) -> Vec<crate::model::BaseChain> {
        if let Some(b) = self.known.get(&(table, chain)) {
            return b.clone();
        }
        let t = &rs.tables[table];
        let mut seen = vec![false; t.chains.len()];
        let mut todo = vec![chain];
        let mut out = Vec::new();
        while let Some(c) = todo.pop() {
            if std::mem::replace(&mut seen[c], true) {
                continue;
            }
            if let Some(b) = &t.chains[c].base {
                out.push(b.clone());
            }
            todo.extend(&self.callers[table][c]);
        }
        self.known.insert((table, chain), out.clone());
        out
    }
}

/// The chains `v` jumps or goes to.
fn called(v: &Verdict) -> Vec<&str> {
    match v {
        Verdict::Jump(n) | Verdict::Goto(n) => vec![n.as_str()],
        Verdict::Map { entries, .. } => entries.iter().flat_map(|(_, v)| called(v)).collect(),
        _ => Vec::new(),
    }
}
