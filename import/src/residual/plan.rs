//! Which rules sockc's programs run and which stay in netfilter: per place, whether
//! the place is shared (a sockc block beside a residual chain) or netfilter's alone;
//! per flat rule, whether sockc's block writes it; per source rule, what its copy in
//! the residual does ([`Fate`]).
//!
//! The construction (docs/import.md, "The residual", has the argument): at a shared
//! place the residual runs the place's base chains first, with
//! - every rule sockc does not run exactly kept as it is ([`Fate::Keep`]; its `accept`
//!   marks the packet, so that sockc's block lets it through untouched),
//! - every rule sockc runs that comes before a kept rule it may overlap kept with its
//!   verdict made "let sockc decide" ([`Fate::Defer`]: an accept that does not mark),
//! - every other rule sockc runs removed ([`Fate::Remove`]): no packet it matches can
//!   reach a kept rule after it, so removing it changes no kept rule's packets,
//! - jumps, gotos, returns and verdict maps that lead somewhere kept as structure.
//!
//! Invariant: for every packet, the first rule of the original it matches is kept
//! (then the residual decides it as the original does) or run by sockc (then the
//! residual lets it through unmarked and sockc's block, whose rules are the original's
//! in order, decides it by that same rule). Overlap is decided on the header-space
//! cubes of the flat lists, atoms the import does not decompose counting as
//! overlapping; past [`OVERLAP_BUDGET`] comparisons a rule is deferred rather than
//! removed, which is always exact.

use std::collections::HashMap;

use crate::{
    algebra::Dim,
    lower::{block_priority, Block},
    model::{IpVersion, Ruleset, Verdict},
    semantics::{
        atoms::{AtomKind, Atoms},
        flatten::{FlatAction, FlatRule, Origin},
        netfilter_stages,
        runtime_sets::writes_state,
        Place, Placed,
    },
    status::Status,
};

/// The most cube comparisons the removal check makes in one import; past it, rules
/// sockc runs are deferred (kept, letting sockc decide), never removed unchecked.
pub const OVERLAP_BUDGET: u64 = 50_000_000;

/// What the residual's copy of a rule does at the places sockc shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fate {
    /// Not in the residual's copy: sockc runs it and nothing it matches reaches a kept
    /// rule.
    Remove,
    /// Kept, its verdicts (accept and drop) made an unmarked accept: sockc decides.
    Defer,
    /// Kept as it is (its accept marks the packet for sockc's block).
    Keep,
}

/// The plan of one import.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Per place (as `Analysis::placed`): a sockc block runs beside the residual there.
    pub shared: Vec<bool>,
    /// Per place, per flat rule: sockc's block writes it.
    pub in_sockc: Vec<Vec<bool>>,
    /// Per source rule: what the residual's copy does with it at shared places.
    pub fate: Vec<Fate>,
    /// Base chains (table, chain) at shared places whose drop policy stays in
    /// netfilter (their flat rules are not all sockc's).
    pub policy_kept: HashMap<(usize, usize), bool>,
    /// Per place: why netfilter runs it alone, when it does.
    pub why_alone: Vec<Option<String>>,
    /// Per source rule: netfilter decides some of its packets (a piece sockc's block
    /// does not write, at a shared place or at one netfilter runs alone).
    pub netfilter_decides: Vec<bool>,
}

/// Whether sockc's block may write an entry of this status.
pub fn writable(status: Status, approximate: bool) -> bool {
    status == Status::Exact || (approximate && status == Status::Approximate)
}

/// Plans the residual for the netfilter places `placed` and their lowered blocks
/// (`blocks[i]` is place `i`'s).
pub fn plan(
    rs: &Ruleset,
    placed: &[Placed],
    blocks: &[&Block],
    atoms: &Atoms,
    approximate: bool,
) -> Plan {
    let mut p = Plan {
        shared: Vec::with_capacity(placed.len()),
        in_sockc: Vec::with_capacity(placed.len()),
        fate: vec![Fate::Remove; rs.rules.len()],
        policy_kept: HashMap::new(),
        why_alone: Vec::with_capacity(placed.len()),
        netfilter_decides: vec![false; rs.rules.len()],
    };
    // Jumps, gotos and returns are the residual's structure: kept, their own
    // accepts and drops (a verdict map's) deferred unless a piece stays below.
    for id in 0..rs.rules.len() {
        if structural(&rs.rules[id].verdict) {
            p.fate[id] = Fate::Defer;
        }
    }
    for (placed, block) in placed.iter().zip(blocks) {
        let writes: Vec<bool> = block
            .entries
            .iter()
            .map(|e| writable(e.status, approximate))
            .collect();
        let alone = alone(rs, placed, &writes, atoms);
        let in_sockc = if alone.is_some() {
            vec![false; writes.len()]
        } else {
            writes
        };
        p.shared.push(alone.is_none());
        p.in_sockc.push(in_sockc);
        p.why_alone.push(alone);
    }
    // Every source rule with a piece sockc does not write at a shared place stays as
    // it is (places netfilter runs alone keep the original chains, not these copies).
    for (i, placed) in placed.iter().enumerate().filter(|(i, _)| p.shared[*i]) {
        for (r, &mine) in placed.list.rules.iter().zip(&p.in_sockc[i]) {
            match r.origin {
                Origin::Rule(id) if !mine && decides(rs, r) => p.fate[id] = Fate::Keep,
                Origin::Policy { table, chain } => {
                    let kept = p.policy_kept.entry((table, chain)).or_insert(false);
                    *kept |= !mine;
                }
                _ => {}
            }
        }
    }
    for (i, placed) in placed.iter().enumerate() {
        for (r, &mine) in placed.list.rules.iter().zip(&p.in_sockc[i]) {
            if let (Origin::Rule(id), false) = (r.origin, mine) {
                p.netfilter_decides[id] |= decides(rs, r);
            }
        }
    }
    let mut budget = OVERLAP_BUDGET;
    for (i, placed) in placed.iter().enumerate() {
        if p.shared[i] {
            defer_where_needed(&mut p, rs, placed, i, &mut budget);
        }
    }
    p
}

/// Whether a flat rule's piece matters to the verdicts: it decides, or it writes
/// state (a set, a meter, a `recent` list) that a later lookup decides by.
fn decides(rs: &Ruleset, r: &FlatRule) -> bool {
    match (r.action != FlatAction::Count, r.origin) {
        (true, _) => true,
        (false, Origin::Rule(id)) => writes_state(&rs.rules[id]),
        (false, Origin::Policy { .. }) => false,
    }
}

/// Why netfilter must run place `placed` alone (no sockc block beside it), or `None`
/// when the two can share it: a place with no rule needs no block; a rule the
/// flattening could not follow (too complex, a jump that loops or nests too deep)
/// makes the place's list incomplete; and where two base chains that see the same
/// packets share a hook and priority, an accept of the first ends only its own chain,
/// so the second's kept rules would see packets whose fate sockc was to decide; a kept
/// rule that changes what an earlier rule of sockc's reads (`rewrites`) would change
/// it before sockc's block reads it.
fn alone(rs: &Ruleset, placed: &Placed, writes: &[bool], atoms: &Atoms) -> Option<String> {
    let Place::Netfilter { hook, priority } = placed.place else {
        return Some("not a netfilter place".into());
    };
    if placed.list.rules.is_empty() {
        return Some("no rule runs here".into());
    }
    if let Some(why) = crowded(rs, hook, priority) {
        return Some(why);
    }
    if let Some(why) = rerouted(rs, hook, priority) {
        return Some(why);
    }
    if let Some((id, _)) = placed.list.notes.first() {
        return Some(format!(
            "the rule at line {} could not be followed here",
            rs.rules[*id].span.line
        ));
    }
    if writes.iter().all(|w| *w) {
        return None;
    }
    if let Some(why) = super::rewrites::conflict(rs, placed, writes, atoms) {
        return Some(why);
    }
    let (stages, _) = netfilter_stages(rs, hook, priority);
    let families: Vec<&[crate::model::IpVersion]> = stages
        .iter()
        .map(|s| rs.tables[s.table].family.ip_versions())
        .collect();
    let shared_family = families.iter().enumerate().any(|(a, fa)| {
        families[a + 1..]
            .iter()
            .any(|fb| fa.iter().any(|v| fb.contains(v)))
    });
    shared_family.then(|| {
        format!(
            "several base chains at {hook} priority {priority} see the same packets, and an \
             accept in one ends only that chain"
        )
    })
}

/// Why the residual's mark bit would reach a routing decision at `hook` `priority`:
/// a route chain (nft `type route`, iptables' `mangle OUTPUT`) routes the packet again
/// when the chain leaves it with another mark (`nf_route_table_hook4`,
/// `ipt_mangle_out`), and the residual's accept sets its bit before that.
fn rerouted(rs: &Ruleset, hook: crate::model::NfHook, priority: i32) -> Option<String> {
    let (stages, _) = netfilter_stages(rs, hook, priority);
    let route = stages.iter().find(|s| {
        let chain = &rs.tables[s.table].chains[s.chain];
        chain
            .base
            .as_ref()
            .is_some_and(|b| b.kind == crate::model::ChainType::Route)
    })?;
    Some(format!(
        "chain {} is a route chain: the kernel routes a packet again when the chain changed \
         its mark, so the residual's mark bit would reach that routing decision",
        rs.tables[route.table].chains[route.chain].name
    ))
}

/// The priorities of the kernel's own functions at the IP hooks (defrag, SELinux,
/// conntrack, NAT, conntrack helpers: `include/uapi/linux/netfilter_ipv4.h`), where a
/// BPF netfilter hook is refused (`EBUSY`) when they are registered.
const KERNEL_PRIORITIES: [i32; 7] = [-400, -225, -200, -100, 100, 225, 300];

/// Why sockc's block for the base chains at `hook` `priority` has no room, or `None`:
/// it runs at [`block_priority`] and the glue that clears the residual's mark one
/// after. The kernel refuses a BPF hook at a priority another function holds, so the
/// block must not meet a kernel function or a base chain of the original (which stays
/// in the pair: its residual dispatcher, its glue, or the chain itself); and a chain
/// of the original at the glue's priority could run before the glue, seeing the mark
/// bit or setting it for its own block to read after the glue cleared it.
fn crowded(rs: &Ruleset, hook: crate::model::NfHook, priority: i32) -> Option<String> {
    let block = block_priority(priority);
    let glue = block.saturating_add(1);
    if KERNEL_PRIORITIES.contains(&block) {
        return Some(format!(
            "sockc's block would run at {hook} priority {block}, where a function of the \
             kernel runs (a BPF hook cannot share its priority)"
        ));
    }
    let meets = rs.tables.iter().flat_map(|t| {
        let ip = !t.family.ip_versions().is_empty();
        t.chains
            .iter()
            .filter_map(move |c| c.base.as_ref().filter(|_| ip))
    });
    meets
        .filter(|b| b.hook == hook && (b.priority == block || b.priority == glue))
        .map(|b| {
            format!(
                "sockc's block would run at {hook} priority {block} and clear its mark at \
                 {glue}, where the base chain at line {} runs (priority {})",
                b.span.line, b.priority
            )
        })
        .next()
}

/// Whether a rule's verdict leads into other chains or out of its own (kept as the
/// residual's structure wherever it is).
fn structural(v: &Verdict) -> bool {
    match v {
        Verdict::Jump(_) | Verdict::Goto(_) | Verdict::Return => true,
        Verdict::Map { entries, .. } => entries.iter().any(|(_, v)| structural(v)),
        _ => false,
    }
}

/// At shared place `i`: every rule sockc writes that precedes an overlapping kept
/// piece (a piece of a rule the residual keeps as it is, or a drop policy kept there)
/// is deferred rather than removed.
fn defer_where_needed(p: &mut Plan, rs: &Ruleset, placed: &Placed, i: usize, budget: &mut u64) {
    let rules = &placed.list.rules;
    let kept: Vec<usize> = (0..rules.len())
        .filter(|&j| match rules[j].origin {
            Origin::Rule(id) => p.fate[id] == Fate::Keep && decides(rs, &rules[j]),
            Origin::Policy { table, chain } => {
                p.policy_kept.get(&(table, chain)).copied().unwrap_or(false)
            }
        })
        .collect();
    for (at, r) in rules.iter().enumerate() {
        let Origin::Rule(id) = r.origin else { continue };
        if p.fate[id] != Fate::Remove || !r.action.is_terminal() || !p.in_sockc[i][at] {
            continue;
        }
        let later = &kept[kept.partition_point(|&j| j <= at)..];
        let overlaps = if *budget < later.len() as u64 {
            true
        } else {
            *budget -= later.len() as u64;
            later.iter().any(|&j| rules[j].cube.intersects(&r.cube))
        };
        if overlaps {
            p.fate[id] = Fate::Defer;
        }
    }
}

/// The fields past the IPv6 extension headers: sockc's programs find them by walking
/// at most [`sockc_compiler::bpf::ext6::EXT_MAX`] headers, netfilter behind any number.
const UPPER_LAYER: [Dim; 6] = [
    Dim::Proto,
    Dim::SrcPort,
    Dim::DstPort,
    Dim::TcpFlags,
    Dim::IcmpType,
    Dim::IcmpCode,
];

/// Whether flat rule `r` may read a field of the upper layer of an IPv6 packet: its
/// cube admits IPv6 and constrains a field of [`UPPER_LAYER`], or holds an atom that
/// may read one (a set lookup keyed on such a field, a match the import does not
/// decompose). Interfaces and cgroups read none.
fn reads_ipv6_upper_layer(r: &FlatRule, atoms: &Atoms) -> bool {
    let v6 = r.cube.get(Dim::Family).is_none_or(|f| f.contains(6));
    let field = UPPER_LAYER.iter().any(|d| r.cube.get(*d).is_some());
    let atom = r.cube.atoms().iter().any(|(id, _)| match atoms.kind(*id) {
        AtomKind::InSet { dim, .. } => UPPER_LAYER.contains(dim),
        AtomKind::Opaque { .. } => true,
        _ => false,
    });
    v6 && (field || atom)
}

impl Plan {
    /// Whether some place sockc shares with netfilter sees IPv6 (a table of family ip6
    /// or inet runs there) and sockc's block there runs a rule that may read the
    /// upper layer of an IPv6 packet: then only the residual, which sends every IPv6
    /// packet with an extension header to netfilter's own rules (docs/import.md, "The
    /// residual"), keeps the import exact behind chains longer than sockc's walk.
    pub fn walks_ipv6_headers(&self, rs: &Ruleset, placed: &[Placed], atoms: &Atoms) -> bool {
        placed.iter().enumerate().any(|(i, pl)| {
            let Place::Netfilter { hook, priority } = pl.place else {
                return false;
            };
            let v6 = netfilter_stages(rs, hook, priority).0.iter().any(|s| {
                rs.tables[s.table]
                    .family
                    .ip_versions()
                    .contains(&IpVersion::V6)
            });
            self.shared[i]
                && v6
                && pl
                    .list
                    .rules
                    .iter()
                    .zip(&self.in_sockc[i])
                    .any(|(r, &mine)| mine && reads_ipv6_upper_layer(r, atoms))
        })
    }

    /// Whether netfilter decides anything sockc does not: a place it runs alone, or a
    /// piece sockc's block does not write at a shared one.
    pub fn keeps_anything(&self, placed: &[Placed]) -> bool {
        placed.iter().enumerate().any(|(i, pl)| {
            !self.shared[i] && !pl.list.rules.is_empty()
                || pl.list.rules.iter().zip(&self.in_sockc[i]).any(|(r, w)| {
                    !w && (r.action != FlatAction::Count
                        || matches!(r.origin, Origin::Rule(id) if self.fate[id] == Fate::Keep))
                })
        })
    }
}
