//! Multi-field classification: runs of rules become decision trees in array maps.
//!
//! Choice (figures in `bench/RESULTS.md`): decision trees with binary range splits
//! (HyperSplit), entries separated into up to four trees per family by which
//! addresses are wide (EffiCuts' separable trees). Each rule is expanded into
//! *entries*, boxes over the dimensions of one family (IPv4: source, destination,
//! source port, destination port, protocol; IPv6: the eight 32-bit address words
//! instead of two addresses), one per combination of set element and port range. An
//! inner node sends values `<= threshold` of one dimension left and the rest right; a
//! leaf lists at most [`LEAF_MAX`] entries in rule order. The BPF walk
//! (`bpf::classify`) is straight-line code whose length depends on the trees' depth
//! and leaf size, never on the number of rules: one array-map access per level plus
//! the leaf's entries, per tree. What was tried first and measured worse: multi-bit
//! cuts (HiCuts) copied wide entries into every child and did not finish on the fw1
//! and ipc1 sets; one tree for all entries copied them ~30x on fw1_1000 (21,912 leaf
//! references for 783 rules); linear tests cost ~2 µs per packet at 1,000 rules.
//!
//! Each entry keeps its full box, so a leaf re-checks every dimension: the tree only
//! has to be a superset filter. What keeps it small: an entry that covers a node's
//! whole region with no further condition ends that node's list (nothing after it can
//! be first), entries hidden behind an earlier one are dropped, split points minimize
//! "larger half + entries copied", and a run whose trees would grow past
//! [`MAX_WORK`] is classified as two halves instead (rule groups).
//!
//! Invariant: for every packet of a tree's family, the first entry (in rule order)
//! of the tree whose box, TCP flags and L4 requirement match it is in the leaf the
//! walk reaches; the walk takes the lowest rule over the family's trees, so the rule
//! it names is the first rule of the run that matches.

use std::{collections::HashMap, ops::Range};

use ipnet::IpNet;

use crate::{
    ir::{
        classifier::{Classifier, Dim, Entry, Node, Tree, MAX_DIMS},
        Action, AddrMatch, Module, PortMatch, Program, Rule, RuleMatch, Step,
    },
    syntax::ast::Family,
};

/// Fewer consecutive classifiable rules than this stay linear: for short runs the
/// rule tests cost less than the walk (see `bench/RESULTS.md`).
pub const MIN_RULES: usize = 32;
/// Most entries in one leaf (HiCuts' `binth`); the walk unrolls this many checks.
pub const LEAF_MAX: usize = 16;
/// Most inner levels; the walk unrolls one lookup per level.
pub const MAX_DEPTH: usize = 48;
/// A rule whose sets and port lists expand to more entries than this stays linear.
pub const MAX_EXPANSION: usize = 256;

/// Why a run could not be classified (it stays linear).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("more than {LEAF_MAX} entries cannot be told apart by addresses, ports and protocol")]
    Inseparable,
    #[error("the tree would be deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the tree would replicate entries more than {MAX_WORK}x")]
    TooLarge,
}

/// Work bound of one tree build: entries visited over all nodes, as a multiple of
/// the tree's entries. A run that needs more is split in two (see [`run`]).
pub const MAX_WORK: usize = 256;

/// Most maps one program may use: the verifier's `MAX_USED_MAPS`
/// (`include/linux/bpf_verifier.h`; not part of the UAPI bindings). Each tree costs
/// two (nodes and entries); the counters map and the set maps come first.
pub const MAX_PROGRAM_MAPS: usize = 64;

/// Replaces every long enough run of classifiable rules by a [`Step::Classify`], as
/// long as the program's maps stay within [`MAX_PROGRAM_MAPS`]; a classifier that
/// would pass it leaves its rules linear.
pub fn run(module: &mut Module) {
    let mut next_id = 0u32;
    let sets = &module.sets;
    for (_, prog) in module.programs.iter_mut() {
        // The counters map, and both family maps of every set the program uses.
        let mut used_sets: Vec<crate::ir::SetId> = prog
            .rules
            .iter()
            .flat_map(|r| [&r.m.src, &r.m.dst])
            .filter_map(|a| match a {
                AddrMatch::Set(s) => Some(*s),
                _ => None,
            })
            .collect();
        used_sets.sort();
        used_sets.dedup();
        let mut maps = 1 + 2 * used_sets.len();
        let mut steps = Vec::with_capacity(prog.steps.len());
        for step in std::mem::take(&mut prog.steps) {
            let Step::Linear { rules, .. } = step else {
                steps.push(step);
                continue;
            };
            // Maximal runs of classifiable rules, and the rules between them.
            let mut i = rules.start;
            while i < rules.end {
                let start = i;
                let runs = classifiable(sets, &prog.rules[i]);
                while i < rules.end && classifiable(sets, &prog.rules[i]) == runs {
                    i += 1;
                }
                if !runs || i - start < MIN_RULES {
                    push_linear(&mut steps, start..i);
                    continue;
                }
                for step in classify_range(sets, prog, start..i, &mut next_id) {
                    match step {
                        Step::Classify(c) if maps + 2 * c.trees.len() > MAX_PROGRAM_MAPS => {
                            push_linear(&mut steps, c.rules);
                        }
                        Step::Classify(c) => {
                            maps += 2 * c.trees.len();
                            steps.push(Step::Classify(c));
                        }
                        Step::Linear { rules, .. } => push_linear(&mut steps, rules),
                    }
                }
            }
        }
        prog.steps = steps;
    }
}

/// Appends rules decided one after another, joining them to a linear run just before
/// (lowering treats consecutive linear rules as one run).
fn push_linear(steps: &mut Vec<Step>, rules: Range<usize>) {
    if rules.is_empty() {
        return;
    }
    if let Some(Step::Linear { rules: last, plan }) = steps.last_mut() {
        if last.end == rules.start {
            last.end = rules.end;
            *plan = None;
            return;
        }
    }
    steps.push(Step::Linear { rules, plan: None });
}

/// Steps deciding `rules[range]`: one classifier if its trees build, else the two
/// halves on their own (rule groups), down to [`MIN_RULES`], below which rules stay
/// linear.
fn classify_range(sets: &Sets, prog: &Program, range: Range<usize>, id: &mut u32) -> Vec<Step> {
    if range.len() < MIN_RULES {
        return vec![Step::Linear {
            rules: range,
            plan: None,
        }];
    }
    match build(sets, prog, range.clone()) {
        Ok(trees) => {
            *id += 1;
            vec![Step::Classify(Classifier {
                id: *id - 1,
                rules: range,
                trees,
            })]
        }
        Err(_) => {
            let mid = range.start + range.len() / 2;
            let mut steps = classify_range(sets, prog, range.start..mid, id);
            steps.extend(classify_range(sets, prog, mid..range.end, id));
            steps
        }
    }
}

/// A rule the classifier can decide: it ends the program when it matches, has no
/// socket condition, tests only addresses, ports, protocol and TCP flags, applies to
/// IP packets only, and expands to few enough entries.
fn classifiable(
    sets: &cranelift_entity::PrimaryMap<crate::ir::SetId, crate::ir::AddrSet>,
    r: &Rule,
) -> bool {
    let m = &r.m;
    matches!(r.action, Action::Allow | Action::Drop | Action::Pass)
        && r.cond.is_none()
        && m.icmp_type.is_none()
        && m.icmp_code.is_none()
        && (m.ip_only || m.family.is_some())
        && [Family::V4, Family::V6]
            .into_iter()
            .all(|f| expansion(sets, m, f) <= MAX_EXPANSION)
}

type Sets = cranelift_entity::PrimaryMap<crate::ir::SetId, crate::ir::AddrSet>;

fn applies_to(m: &RuleMatch, f: Family) -> bool {
    m.family.is_none_or(|fam| fam == f)
}

/// The prefixes an address match allows in family `f`, as (network bytes, length);
/// `None` for "any".
fn prefixes(sets: &Sets, a: &AddrMatch, f: Family) -> Option<Vec<IpNet>> {
    match a {
        AddrMatch::Any => None,
        AddrMatch::Prefix(n) => Some(match (n, f) {
            (IpNet::V4(_), Family::V4) | (IpNet::V6(_), Family::V6) => vec![*n],
            _ => vec![],
        }),
        AddrMatch::Set(s) => Some(match f {
            Family::V4 => sets[*s].v4.iter().map(|n| IpNet::V4(*n)).collect(),
            Family::V6 => sets[*s].v6.iter().map(|n| IpNet::V6(*n)).collect(),
        }),
    }
}

fn ranges(p: &PortMatch) -> Vec<(u16, u16)> {
    match p {
        PortMatch::Any => vec![(0, u16::MAX)],
        PortMatch::Ranges(r) => r.clone(),
    }
}

fn protos(m: &RuleMatch) -> Vec<(u32, u32)> {
    match m.proto {
        Some(p) => vec![(p.into(), p.into())],
        None if m.needs_ports() => vec![(6, 6), (17, 17)],
        None => vec![(0, 255)],
    }
}

fn expansion(sets: &Sets, m: &RuleMatch, f: Family) -> usize {
    if !applies_to(m, f) {
        return 0;
    }
    let addr = |a| prefixes(sets, a, f).map_or(1, |v| v.len());
    [
        addr(&m.src),
        addr(&m.dst),
        ranges(&m.sport).len(),
        ranges(&m.dport).len(),
        protos(m).len(),
    ]
    .into_iter()
    .fold(1usize, |acc, n| acc.saturating_mul(n))
}

/// The per-word ranges of a prefix over `words` 32-bit words.
fn prefix_words(net: &IpNet) -> Vec<(u32, u32)> {
    let (bytes, plen): (Vec<u8>, u32) = match net {
        IpNet::V4(n) => (n.network().octets().to_vec(), n.prefix_len().into()),
        IpNet::V6(n) => (n.network().octets().to_vec(), n.prefix_len().into()),
    };
    bytes
        .chunks(4)
        .enumerate()
        .map(|(w, c)| {
            let v = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let fixed = plen.saturating_sub(32 * w as u32).min(32);
            let host = if fixed == 32 { 0 } else { u32::MAX >> fixed };
            (v & !host, v | host)
        })
        .collect()
}

/// The entries of `rules[range]` for family `f`, in rule order.
fn entries(sets: &Sets, prog: &Program, range: Range<usize>, f: Family) -> Vec<Entry> {
    let dims = Dim::of(f);
    let full_addr = |words: usize| vec![(0u32, u32::MAX); words];
    let words = if f == Family::V4 { 1 } else { 4 };
    let mut out = Vec::new();
    for i in range {
        let m = &prog.rules[i].m;
        if !applies_to(m, f) {
            continue;
        }
        let addr = |a| match prefixes(sets, a, f) {
            None => vec![full_addr(words)],
            Some(nets) => nets.iter().map(prefix_words).collect(),
        };
        let (srcs, dsts) = (addr(&m.src), addr(&m.dst));
        for s in &srcs {
            for d in &dsts {
                for sp in ranges(&m.sport) {
                    for dp in ranges(&m.dport) {
                        for pr in protos(m) {
                            let mut e = Entry {
                                rule: i as u32,
                                lo: [0; MAX_DIMS],
                                hi: [0; MAX_DIMS],
                                tcp_flags: m.tcp_flags.unwrap_or((0, 0)),
                                needs_l4: m.needs_l4(),
                            };
                            let boxes = s.iter().chain(d).copied().chain([
                                (sp.0.into(), sp.1.into()),
                                (dp.0.into(), dp.1.into()),
                                pr,
                            ]);
                            for (k, (lo, hi)) in boxes.enumerate() {
                                e.lo[k] = lo;
                                e.hi[k] = hi;
                            }
                            debug_assert!(dims.iter().enumerate().all(|(k, d)| e.hi[k] <= d.max()));
                            out.push(e);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Builds the trees of `rules[range]`.
///
/// Entries are first separated by which of their addresses are wide (shorter than
/// half the address): splitting on a dimension copies every entry that is wide in it
/// into both halves, so specific and wide entries do best in different trees (the
/// idea of EffiCuts). Each family has up to four trees, ordered by their first rule.
fn build(sets: &Sets, prog: &Program, range: Range<usize>) -> Result<Vec<Tree>, BuildError> {
    let mut trees = Vec::new();
    for f in [Family::V4, Family::V6] {
        let mut groups: [Vec<Entry>; 4] = Default::default();
        for e in entries(sets, prog, range.clone(), f) {
            let wide = |first_dim: usize| match f {
                Family::V4 => e.hi[first_dim] - e.lo[first_dim] > 0xffff,
                Family::V6 => {
                    e.hi[first_dim + 1] != e.lo[first_dim + 1] || e.hi[first_dim] != e.lo[first_dim]
                }
            };
            let words = if f == Family::V4 { 1 } else { 4 };
            groups[usize::from(wide(0)) * 2 + usize::from(wide(words))].push(e);
        }
        for g in groups.into_iter().filter(|g| !g.is_empty()) {
            trees.push(build_tree(f, g)?);
        }
    }
    trees.sort_by_key(|t| (t.family == Family::V6, t.entries[0].rule));
    Ok(trees)
}

/// The values of each dimension a node covers: `lo[d] ..= hi[d]`.
#[derive(Clone, Copy)]
struct Region {
    lo: [u32; MAX_DIMS],
    hi: [u32; MAX_DIMS],
}

impl Region {
    /// An entry's part of the region in dimension `d`.
    fn span(&self, e: &Entry, d: usize) -> (u32, u32) {
        (e.lo[d].max(self.lo[d]), e.hi[d].min(self.hi[d]))
    }
    fn covered_by(&self, e: &Entry, dims: usize) -> bool {
        (0..dims).all(|d| e.lo[d] <= self.lo[d] && e.hi[d] >= self.hi[d])
    }
}

struct Work {
    slot: usize,
    list: Vec<u32>,
    region: Region,
    depth: usize,
}

fn build_tree(family: Family, entries: Vec<Entry>) -> Result<Tree, BuildError> {
    let dims = Dim::of(family);
    let nd = dims.len();
    let mut region = Region {
        lo: [0; MAX_DIMS],
        hi: [0; MAX_DIMS],
    };
    for (d, dim) in dims.iter().enumerate() {
        region.hi[d] = dim.max();
    }
    let mut tree = Tree {
        family,
        dims: dims.clone(),
        nodes: vec![Node::Leaf { start: 0, len: 0 }],
        leaf_entries: Vec::new(),
        depth: 0,
        max_leaf: 0,
        checked_dims: (0..nd)
            .filter(|&d| {
                entries
                    .iter()
                    .any(|e| e.lo[d] != 0 || e.hi[d] != dims[d].max())
            })
            .collect(),
        checks_flags: entries.iter().any(|e| e.tcp_flags.0 != 0),
        checks_l4: entries.iter().any(|e| e.needs_l4),
        entries,
    };
    let mut leaves: HashMap<Vec<u32>, (u32, u32)> = HashMap::new();
    let mut work_done = 0usize;
    let mut work = vec![Work {
        slot: 0,
        list: (0..tree.entries.len() as u32).collect(),
        region,
        depth: 0,
    }];
    while let Some(Work {
        slot,
        mut list,
        region,
        depth,
    }) = work.pop()
    {
        // Nothing after an entry that matches every packet of the region can be first.
        if let Some(k) = list.iter().position(|&e| {
            let e = &tree.entries[e as usize];
            e.tcp_flags.0 == 0 && !e.needs_l4 && region.covered_by(e, nd)
        }) {
            list.truncate(k + 1);
        }
        if list.len() > LEAF_MAX && list.len() <= PRUNE_MAX {
            prune_covered(&tree.entries, &mut list, &region, nd);
        }
        work_done += list.len();
        if work_done > MAX_WORK * tree.entries.len() + 4096 {
            return Err(BuildError::TooLarge);
        }
        if list.len() <= LEAF_MAX {
            tree.max_leaf = tree.max_leaf.max(list.len());
            let (start, len) = match leaves.get(&list) {
                Some(&at) => at,
                None => {
                    let at = (tree.leaf_entries.len() as u32, list.len() as u32);
                    tree.leaf_entries.extend(&list);
                    leaves.insert(list, at);
                    at
                }
            };
            tree.nodes[slot] = Node::Leaf { start, len };
            continue;
        }
        let (d, threshold) =
            choose_split(&tree.entries, &list, &region, nd).ok_or(BuildError::Inseparable)?;
        if depth >= MAX_DEPTH {
            return Err(BuildError::TooDeep);
        }
        tree.depth = tree.depth.max(depth + 1);
        let (left, right) = (tree.nodes.len(), tree.nodes.len() + 1);
        tree.nodes.push(Node::Leaf { start: 0, len: 0 });
        tree.nodes.push(Node::Leaf { start: 0, len: 0 });
        tree.nodes[slot] = Node::Inner {
            dim: d,
            threshold,
            left: left as u32,
            right: right as u32,
        };
        let (mut lr, mut rr) = (region, region);
        lr.hi[d] = threshold;
        rr.lo[d] = threshold + 1;
        let (mut ll, mut rl) = (Vec::new(), Vec::new());
        for &e in &list {
            let (a, b) = region.span(&tree.entries[e as usize], d);
            if a <= threshold {
                ll.push(e);
            }
            if b > threshold {
                rl.push(e);
            }
        }
        for (slot, list, region) in [(right, rl, rr), (left, ll, lr)] {
            work.push(Work {
                slot,
                list,
                region,
                depth: depth + 1,
            });
        }
    }
    Ok(tree)
}

/// Lists at most this long are searched for entries hidden behind earlier ones.
const PRUNE_MAX: usize = 256;

/// Drops every entry whose part of the region lies inside the part of an earlier
/// entry that has no further condition (or exactly the same ones): it is never first.
fn prune_covered(entries: &[Entry], list: &mut Vec<u32>, region: &Region, nd: usize) {
    let mut kept: Vec<u32> = Vec::with_capacity(list.len());
    for &e in list.iter() {
        let x = &entries[e as usize];
        let hidden = kept.iter().any(|&k| {
            let y = &entries[k as usize];
            let conds = (y.tcp_flags.0 == 0 && !y.needs_l4)
                || (y.tcp_flags == x.tcp_flags && y.needs_l4 == x.needs_l4);
            conds
                && (0..nd).all(|d| {
                    let (xa, xb) = region.span(x, d);
                    let (ya, yb) = region.span(y, d);
                    ya <= xa && xb <= yb
                })
        });
        if !hidden {
            kept.push(e);
        }
    }
    *list = kept;
}

/// Longer lists choose their split on an evenly strided sample of this many entries.
const SAMPLE: usize = 1024;

/// The split `(dim, threshold)` with the least `larger half + entries copied into
/// both halves` (balance against replication), or `None` when no entry boundary lies
/// inside the region.
fn choose_split(
    entries: &[Entry],
    list: &[u32],
    region: &Region,
    nd: usize,
) -> Option<(usize, u32)> {
    let step = list.len().div_ceil(SAMPLE);
    let sample: Vec<&Entry> = list
        .iter()
        .step_by(step)
        .map(|&e| &entries[e as usize])
        .collect();
    let n = sample.len();
    let mut best: Option<(usize, usize, u32)> = None;
    let mut los = Vec::with_capacity(n);
    let mut his = Vec::with_capacity(n);
    for d in 0..nd {
        if region.lo[d] == region.hi[d] {
            continue;
        }
        los.clear();
        his.clear();
        for e in &sample {
            let (a, b) = region.span(e, d);
            los.push(a);
            his.push(b);
        }
        los.sort_unstable();
        his.sort_unstable();
        // Candidate thresholds: just below a low end, at a high end; inside the region.
        let candidates = los
            .iter()
            .filter(|&&a| a > region.lo[d])
            .map(|&a| a - 1)
            .chain(his.iter().copied())
            .filter(|&t| t < region.hi[d]);
        let mut last = None;
        for t in candidates {
            if last == Some(t) {
                continue;
            }
            last = Some(t);
            // left: entries starting at or below t; right: entries ending above t.
            let left = los.partition_point(|&a| a <= t);
            let right = n - his.partition_point(|&b| b <= t);
            let score = left.max(right) + (left + right - n);
            if best.is_none_or(|(s, _, _)| score < s) {
                best = Some((score, d, t));
            }
        }
    }
    best.map(|(_, d, t)| (d, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Classifiers stop at the verifier's per-program map limit: a program with many
    /// runs, each making several trees, keeps its maps (counters, sets, two per tree)
    /// within [`MAX_PROGRAM_MAPS`], and the runs past the budget stay linear.
    #[test]
    fn classifiers_stay_within_the_map_limit() {
        let mut src = String::from("set s = { 192.0.2.0/24, 2001:db8:99::/48 }\nxdp on eth0 {\n");
        for g in 0..30 {
            src.push_str("    drop tcp from @s\n");
            for i in 0..16 {
                src.push_str(&format!(
                    "    allow tcp from {g}.{i}.0.0/16 to 10.{i}.0.0/16:{}\n",
                    1000 + i
                ));
                src.push_str(
                    &format!("    drop udp to 10.{i}.0.0/8:{}\n", 2000 + i)
                        .replace(&format!("10.{i}.0.0/8"), "10.0.0.0/8"),
                );
                src.push_str(&format!(
                    "    drop ip6 udp from 2001:db8:{g}:{i}::/64 to [2001:db8::]:{}\n",
                    3000 + i
                ));
            }
            src.push_str("    count icmp type 8\n");
        }
        src.push_str("    default allow\n}\n");
        let (ast, d) = crate::syntax::parse(&src);
        assert!(d.is_empty(), "{d:?}");
        let (module, d) = crate::sema::check(&ast, &src, &Default::default());
        let mut module = module.unwrap_or_else(|| panic!("{d:?}"));
        run(&mut module);
        let p = module.programs.values().next().unwrap();
        let classifiers: Vec<&Classifier> = p
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Classify(c) => Some(c),
                _ => None,
            })
            .collect();
        let tree_maps: usize = classifiers.iter().map(|c| 2 * c.trees.len()).sum();
        assert!(!classifiers.is_empty());
        assert!(
            1 + 2 + tree_maps <= MAX_PROGRAM_MAPS,
            "{tree_maps} tree maps"
        );
        // The budget ran out: some runs of 49 classifiable rules stayed linear.
        let linear = p
            .steps
            .iter()
            .map(|s| match s {
                Step::Linear { rules, .. } => rules.len(),
                Step::Classify(_) => 0,
            })
            .sum::<usize>();
        assert!(linear > 30 * 2, "only {linear} linear rules");
        assert!(classifiers.len() < 30);
    }

    /// Build time and shape on the ClassBench files in `SOCKC_CLASSIFY_FILES`
    /// (whitespace-separated .sk paths); prints, asserts only that the trees build.
    #[test]
    #[ignore = "timing probe; set SOCKC_CLASSIFY_FILES"]
    fn probe_build_times() {
        let files = std::env::var("SOCKC_CLASSIFY_FILES").unwrap_or_default();
        for f in files.split_whitespace() {
            let src = std::fs::read_to_string(f).unwrap();
            let (ast, _) = crate::syntax::parse(&src);
            let (module, _) = crate::sema::check(&ast, &src, &Default::default());
            let mut module = module.unwrap();
            let t = std::time::Instant::now();
            run(&mut module);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            for (_, p) in &module.programs {
                let cls: Vec<String> = p
                    .steps
                    .iter()
                    .filter_map(|s| match s {
                        Step::Classify(c) => Some(c.to_string()),
                        _ => None,
                    })
                    .collect();
                let linear = p
                    .steps
                    .iter()
                    .map(|s| match s {
                        Step::Linear { rules, .. } => rules.len(),
                        Step::Classify(_) => 0,
                    })
                    .sum::<usize>();
                println!(
                    "{f}: {ms:.1} ms, {} classifiers, {linear} linear",
                    cls.len()
                );
                for c in cls.iter().take(4) {
                    println!("  {c}");
                }
            }
        }
    }
}
