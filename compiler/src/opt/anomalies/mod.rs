//! Rule anomalies, reported as warnings, per program:
//!
//! * **shadowed** (`sockc::shadowed`): an earlier rule that always ends the program
//!   (`allow`, `drop`, `pass` or `redirect`, without a socket condition) matches every
//!   packet the rule matches, so it never matches; a `count` rule too (it never
//!   counts). The warning names the earliest such rule.
//! * **redundant** (`sockc::redundant`): a rule that always ends the program and whose
//!   removal changes no verdict: the nearest later rule with the same action covers it
//!   and no rule in between that may decide otherwise (another action, a socket
//!   condition, a redirect) overlaps it; or no later rule that may decide otherwise
//!   overlaps it and the block's default has its verdict. A shadowed rule is not also
//!   called redundant. Removing a redundant rule can change counters, never verdicts.
//!
//! A rule that matches nothing (an address set with no element of its family) is
//! skipped: it is neither reported nor in anybody's way. The pass changes nothing.
//!
//! Invariant: only certainties are reported. "Covers" is exact for every field of a
//! [`RuleMatch`] (family, IP-only, protocol, addresses as per-family interval lists,
//! so a set covers a prefix exactly when its members do, port ranges, TCP flags,
//! ICMP type and code) or errs towards "does not cover"; "may overlap" errs towards
//! "overlaps". Nothing is reported about a rule whose search was cut short.
//!
//! Large programs are not compared pairwise. Every rule gets a key per family and
//! address (its prefix, `*`, or the smallest prefix holding a set's members); the rules
//! that always or may end the program are indexed under their keys ([`FamIndex`]),
//! so the rules covering a rule are found on the chains of prefixes enclosing its
//! keys, and the rules overlapping it there or among the prefixes inside its keys.
//! Each search has a budget of work ([`BUDGET`]); a rule whose search runs out is
//! counted in one `sockc::anomalies_partial` warning, never dropped silently. Past
//! [`MAX_LISTED`] rules of a kind in a program, one warning counts the rest.

mod geometry;
mod rules;

use self::{
    geometry::{Ctx, Key},
    rules::{decides_otherwise, same_as_default, terminates, Entry, Prep, ANY_PROTO, NO_CLASS},
};
use crate::{
    diag::Diagnostic,
    ir::{Module, Program},
};

/// Work units (index nodes visited plus candidate rules checked, plus the intervals
/// walked when a check compares two address sets) one rule's searches may spend.
pub const BUDGET: u32 = 1024;

/// Between a rule and its covering rule, up to this many rules are scanned one by
/// one instead of searching the index.
pub const LINEAR_SCAN: usize = 48;

/// How much searching one rule may take.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// See [`BUDGET`].
    budget: u32,
    /// See [`LINEAR_SCAN`].
    linear: usize,
    /// See [`SMALL_NODE`].
    small: usize,
}

const LIMITS: Limits = Limits {
    budget: BUDGET,
    linear: LINEAR_SCAN,
    small: SMALL_NODE,
};

const NIL: u32 = u32::MAX;

// ---- the index -------------------------------------------------------------------

/// Stable LSD radix sort of `items` by the low `bits` bits of `key`.
fn radix_sort<T: Copy>(items: &mut Vec<T>, bits: u32, key: impl Fn(&T) -> u64) {
    const DIGIT: u32 = 14;
    let mut tmp = items.clone();
    let mut shift = 0;
    while shift < bits {
        let mut count = vec![0u32; (1 << DIGIT) + 1];
        for it in items.iter() {
            count[((key(it) >> shift) & ((1 << DIGIT) - 1)) as usize + 1] += 1;
        }
        if count[1..].iter().any(|&c| c as usize == items.len()) {
            shift += DIGIT;
            continue;
        }
        for k in 1..count.len() {
            count[k] += count[k - 1];
        }
        for it in items.iter() {
            let at = &mut count[((key(it) >> shift) & ((1 << DIGIT) - 1)) as usize];
            tmp[*at as usize] = *it;
            *at += 1;
        }
        std::mem::swap(items, &mut tmp);
        shift += DIGIT;
    }
}

/// The distinct keys of one family and dimension, numbered in (network, length)
/// order, so that the keys inside a key come right after it: `parent` is the nearest
/// enclosing key, `end` the first key after the ones inside; `order` lists the rules
/// by key.
#[derive(Default)]
struct Keys {
    parent: Vec<u32>,
    end: Vec<u32>,
    order: Vec<u32>,
}

/// Numbers the keys of `pairs` (key, rule), sorted by key, into `ids` (per rule)
/// and links them; `contains(a, b)`: key `a` holds key `b`.
fn key_table<K: PartialEq + Copy>(
    pairs: &[(K, u32)],
    contains: impl Fn(K, K) -> bool,
    ids: &mut [u32],
) -> Keys {
    let mut keys = Keys {
        order: pairs.iter().map(|p| p.1).collect(),
        ..Keys::default()
    };
    let mut distinct: Vec<K> = Vec::new();
    let mut stack: Vec<u32> = Vec::new();
    for &(k, rule) in pairs {
        if distinct.last() != Some(&k) {
            let id = distinct.len() as u32;
            while let Some(&top) = stack.last() {
                if contains(distinct[top as usize], k) {
                    break;
                }
                keys.end[top as usize] = id;
                stack.pop();
            }
            keys.parent.push(stack.last().copied().unwrap_or(NIL));
            keys.end.push(NIL);
            stack.push(id);
            distinct.push(k);
        }
        ids[rule as usize] = distinct.len() as u32 - 1;
    }
    for top in stack {
        keys.end[top as usize] = distinct.len() as u32;
    }
    keys
}

/// One (primary key, secondary key) pair of a [`Dim`]: the secondary key id, the end
/// of the keys inside it, the nearest enclosing node of the same primary key, where
/// its entries start and where its [`Run`]s start (both end where the next node's
/// start).
#[derive(Clone, Copy, Debug)]
struct Node {
    sec: u32,
    sec_end: u32,
    parent: u32,
    start: u32,
    runs: u32,
}

/// The entries of a node with one class and protocol (a node of one entry has
/// none): first the ones with a single destination port, by (port, index), up to
/// `mid`; then the others, by index, up to `end`. A run starts where the previous
/// one ends (the first at the node's start).
#[derive(Clone, Copy, Debug)]
struct Run {
    class: u16,
    proto: u16,
    mid: u32,
    end: u32,
}

/// How a node sorts its entries (see [`Run`]).
fn run_order(e: &Entry) -> (u16, u16, bool, u16, u32) {
    let ranged = e.dport.0 != e.dport.1;
    (
        e.class,
        e.proto,
        ranged,
        if ranged { 0 } else { e.dport.0 },
        e.rule,
    )
}

/// The terminating rules whose primary dimension is this one, two levels deep: per
/// primary key id, its nodes (from `first[k]` to `first[k + 1]`) by secondary key
/// id; per node, its entries by (class, protocol, index). `up` skips from a key to
/// the nearest enclosing key that has nodes.
#[derive(Default)]
struct Dim {
    first: Vec<u32>,
    up: Vec<u32>,
    /// One more than there are nodes: the last only marks where entries and runs end.
    nodes: Vec<Node>,
    runs: Vec<Run>,
    entries: Vec<Entry>,
}

/// Nodes with more entries than this are searched run by run rather than scanned.
const SMALL_NODE: usize = 12;

impl Dim {
    /// The first key with nodes among `k` and the keys enclosing it.
    fn chain_start(&self, k: u32) -> u32 {
        if self.first[k as usize] < self.first[k as usize + 1] {
            k
        } else {
            self.up[k as usize]
        }
    }

    /// The runs of `node`, each with where it starts.
    fn runs(&self, node: u32) -> impl Iterator<Item = (u32, Run)> + '_ {
        let (a, b) = (
            self.nodes[node as usize].runs,
            self.nodes[node as usize + 1].runs,
        );
        let mut start = self.nodes[node as usize].start;
        self.runs[a as usize..b as usize].iter().map(move |r| {
            let s = start;
            start = r.end;
            (s, *r)
        })
    }

    fn entries(&self, node: u32) -> &[Entry] {
        let (a, b) = (
            self.nodes[node as usize].start,
            self.nodes[node as usize + 1].start,
        );
        &self.entries[a as usize..b as usize]
    }

    /// The deepest node of key `k` whose secondary key holds `bs`; its `parent`s
    /// are the others.
    fn enclosing(&self, k: u32, bs: u32) -> u32 {
        let (a, b) = (self.first[k as usize], self.first[k as usize + 1]);
        let mut j = if b - a == 1 {
            if self.nodes[a as usize].sec > bs {
                return NIL;
            }
            a
        } else {
            let p = self.nodes[a as usize..b as usize].partition_point(|n| n.sec <= bs);
            if p == 0 {
                return NIL;
            }
            a + p as u32 - 1
        };
        while j != NIL && self.nodes[j as usize].sec_end <= bs {
            j = self.nodes[j as usize].parent;
        }
        j
    }

    /// The nodes of key `k` whose secondary key is strictly inside `bs` (ids in
    /// `(bs, be)`): a contiguous run, given as the run of their entries.
    fn inside(&self, k: u32, bs: u32, be: u32) -> &[Entry] {
        let (a, b) = (self.first[k as usize], self.first[k as usize + 1]);
        let run = &self.nodes[a as usize..b as usize];
        let lo = run.partition_point(|n| n.sec <= bs);
        let hi = lo + run[lo..].partition_point(|n| n.sec < be);
        let (x, y) = (
            self.nodes[a as usize + lo].start,
            self.nodes[a as usize + hi].start,
        );
        &self.entries[x as usize..y as usize]
    }
}

/// The rules of one family. Every rule with something in the family has a key id
/// per dimension (0: source, 1: destination). Every rule that may end the program is an
/// [`Entry`] of the [`Dim`] of its longer key (its primary dimension; the source on a
/// tie). A rule `a` whose keys both hold rule `b`'s keys is therefore under a key on
/// the chain enclosing `b`'s key in `a`'s primary dimension, in a node whose secondary
/// key holds `b`'s other key; a rule whose keys overlap `b`'s is under such a key or
/// a key inside `b`'s (one contiguous run of nodes), in a node whose secondary key
/// holds `b`'s other key or lies inside it.
#[derive(Default)]
struct FamIndex {
    keys: [Keys; 2],
    /// Per dimension, the rules of the family by key.
    walk: [Vec<Walk>; 2],
    dims: [Dim; 2],
}

impl FamIndex {
    fn build(prep: &Prep, f: usize) -> FamIndex {
        let n = prep.rules.len();
        let members: Vec<u32> = (0..n as u32)
            .filter(|&i| prep.fams[i as usize] & (1 << f) != 0)
            .collect();
        if members.is_empty() {
            return FamIndex::default();
        }
        let mut ix = FamIndex::default();
        let mut ids = [vec![NIL; n], vec![NIL; n]];
        let mut lens = [vec![0u8; n], vec![0u8; n]];
        for d in 0..2 {
            ix.keys[d] = if f == 0 {
                // IPv4 keys packed as (network << 8 | length): ordered as `Key` orders.
                let mut pairs: Vec<(u64, u32)> = members
                    .iter()
                    .map(|&i| (prep.keys4[i as usize][d], i))
                    .collect();
                for p in &pairs {
                    lens[d][p.1 as usize] = p.0 as u8;
                }
                radix_sort(&mut pairs, 40, |p| p.0);
                let unpack = |p: u64| Key {
                    net: u128::from(p >> 8),
                    len: p as u8,
                };
                key_table(
                    &pairs,
                    |a, b| unpack(a).contains(unpack(b), 32),
                    &mut ids[d],
                )
            } else {
                let mut pairs: Vec<(Key, u32)> = members
                    .iter()
                    .map(|&i| (prep.keys6[i as usize][d], i))
                    .collect();
                for p in &pairs {
                    lens[d][p.1 as usize] = p.0.len;
                }
                pairs.sort_unstable();
                key_table(&pairs, |a, b| a.contains(b, 128), &mut ids[d])
            };
        }
        for d in 0..2 {
            ix.walk[d] = ix.keys[d]
                .order
                .iter()
                .map(|&i| {
                    let sec = ids[1 - d][i as usize];
                    let own = prep.terminating(i);
                    Walk {
                        q: prep.quick[i as usize],
                        key: ids[d][i as usize],
                        sec,
                        sec_end: ix.keys[1 - d].end[sec as usize],
                        own,
                        fams: prep.fams[i as usize],
                        // The longer key is the primary one (the source on a tie).
                        primary: usize::from(lens[0][i as usize] < lens[1][i as usize]) == d,
                    }
                })
                .collect();
        }
        for d in 0..2 {
            let nkeys = ix.keys[d].parent.len();
            let dim = &mut ix.dims[d];
            dim.first = vec![0; nkeys + 1];
            // The walk is by key, then by rule: a key's entries are together.
            let mut w = 0;
            let walk = &ix.walk[d];
            let mut items: Vec<(u32, u32, Entry)> = Vec::new();
            let mut stack: Vec<u32> = Vec::new();
            while w < walk.len() {
                let k = walk[w].key;
                let mut group = w + 1;
                while group < walk.len() && walk[group].key == k {
                    group += 1;
                }
                items.clear();
                items.extend(
                    walk[w..group]
                        .iter()
                        .filter(|x| x.primary && x.q.class != NO_CLASS)
                        .map(|x| (x.sec, x.sec_end, x.q)),
                );
                w = group;
                if items.is_empty() {
                    continue;
                }
                // By secondary key, then rule.
                if items.len() > 1 {
                    items.sort_unstable_by_key(|t| (t.0, t.2.rule));
                }
                stack.clear();
                let mut prev = NIL;
                for &(sec, sec_end, e) in &items {
                    if sec != prev {
                        while let Some(&top) = stack.last() {
                            if sec < dim.nodes[top as usize].sec_end {
                                break;
                            }
                            stack.pop();
                        }
                        dim.first[k as usize + 1] += 1;
                        dim.nodes.push(Node {
                            sec,
                            sec_end,
                            parent: stack.last().copied().unwrap_or(NIL),
                            start: dim.entries.len() as u32,
                            runs: 0,
                        });
                        stack.push(dim.nodes.len() as u32 - 1);
                        prev = sec;
                    }
                    dim.entries.push(e);
                }
            }
            dim.nodes.push(Node {
                sec: NIL,
                sec_end: NIL,
                parent: NIL,
                start: dim.entries.len() as u32,
                runs: 0,
            });
            for k in 1..dim.first.len() {
                dim.first[k] += dim.first[k - 1];
            }
            for j in 0..dim.nodes.len() {
                dim.nodes[j].runs = dim.runs.len() as u32;
                if j + 1 == dim.nodes.len() {
                    break;
                }
                let (a, b) = (dim.nodes[j].start as usize, dim.nodes[j + 1].start as usize);
                if b - a > 1 {
                    let g = &mut dim.entries[a..b];
                    g.sort_unstable_by_key(run_order);
                    let mut k = 0;
                    while k < g.len() {
                        let (class, proto) = (g[k].class, g[k].proto);
                        let same = g[k..].partition_point(|e| (e.class, e.proto) == (class, proto));
                        let run = &g[k..k + same];
                        let exact = run.partition_point(|e| e.dport.0 == e.dport.1);
                        dim.runs.push(Run {
                            class,
                            proto,
                            mid: (a + k + exact) as u32,
                            end: (a + k + same) as u32,
                        });
                        k += same;
                    }
                }
            }
            // Keys come after the keys enclosing them, so `up` of a parent is known.
            dim.up = vec![NIL; nkeys];
            for k in 0..nkeys {
                let p = ix.keys[d].parent[k];
                if p != NIL {
                    dim.up[k] = if dim.first[p as usize] < dim.first[p as usize + 1] {
                        p
                    } else {
                        dim.up[p as usize]
                    };
                }
            }
        }
        ix
    }
}

// ---- the pass --------------------------------------------------------------------

/// Per program, at most this many rules of each kind are listed one by one; the
/// others are counted in one more warning (a list of thousands helps nobody, and
/// each listed warning costs time to build and to print).
pub const MAX_LISTED: usize = 100;

/// Finds shadowed and redundant rules in every program of `module`.
pub fn run(module: &Module) -> Vec<Diagnostic> {
    let ctx = Ctx::new(module);
    let mut diags = Vec::new();
    let mut partial = 0usize;
    let mut first_partial = None;
    for prog in module.programs.values() {
        let found = check_program(&ctx, prog, LIMITS);
        report(prog, &found, MAX_LISTED, &mut diags);
        if let Some(&first) = found.unchecked.first() {
            partial += found.unchecked.len();
            first_partial.get_or_insert(prog.rules[first].span);
        }
    }
    if let Some(span) = first_partial {
        diags.push(
            Diagnostic::warning(
                "sockc::anomalies_partial",
                format!(
                    "anomaly check incomplete: {partial} rule{} not fully checked \
                     (search budget of {BUDGET} per rule exceeded)",
                    if partial == 1 { " was" } else { "s were" }
                ),
            )
            .label(span, "the first of them")
            .help("shadowed or redundant rules among them are not reported"),
        );
    }
    diags
}

/// What the search found in one program.
#[derive(Debug, Default)]
struct Found {
    /// (rule, the earlier rule covering it).
    shadowed: Vec<(usize, usize)>,
    /// (rule, the later rule deciding the same, or `None` for the default).
    redundant: Vec<(usize, Option<usize>)>,
    /// Rules whose search ran out of budget.
    unchecked: Vec<usize>,
}

/// The warnings for what was found, in rule order; past `max` of a kind, one
/// warning counts the rest.
fn report(prog: &Program, found: &Found, max: usize, diags: &mut Vec<Diagnostic>) {
    let rules = &prog.rules;
    let shadowed = found.shadowed.iter().take(max).map(|&(i, a)| {
        let (r, a) = (&rules[i], &rules[a]);
        let d = Diagnostic::warning(
            "sockc::shadowed",
            format!("rule never matches: covered by line {}", a.line),
        )
        .label(r.span, "never matches")
        .label(a.span, "this rule matches every packet it would")
        .help(format!(
            "remove it, or move it above line {} if it should take effect",
            a.line
        ));
        (i, d)
    });
    let redundant = found.redundant.iter().take(max).map(|&(i, c)| {
        let r = &rules[i];
        let d = match c {
            Some(c) => {
                let c = &rules[c];
                Diagnostic::warning(
                    "sockc::redundant",
                    format!(
                        "rule is redundant: line {} decides the same for every packet it matches",
                        c.line
                    ),
                )
                .label(r.span, "removing this rule changes no verdict")
                .label(c.span, "this rule decides the same")
            }
            None => Diagnostic::warning(
                "sockc::redundant",
                format!(
                    "rule is redundant: the default (line {}) decides the same for every \
                     packet it matches",
                    prog.default_line
                ),
            )
            .label(r.span, "removing this rule changes no verdict")
            .label(prog.default_span, "the default decides the same"),
        };
        (i, d.help("remove it (only its counter would change)"))
    });
    let mut listed: Vec<(usize, Diagnostic)> = shadowed.chain(redundant).collect();
    listed.sort_by_key(|x| x.0);
    diags.extend(listed.into_iter().map(|x| x.1));
    let more = |code: &'static str, what: &str, first: usize, count: usize| {
        Diagnostic::warning(
            code,
            format!(
                "{count} more rule{} {what} (not listed one by one)",
                if count == 1 { "" } else { "s" }
            ),
        )
        .label(rules[first].span, "the first of them")
    };
    if found.shadowed.len() > max {
        let first = found.shadowed[max].0;
        diags.push(more(
            "sockc::shadowed",
            "never match",
            first,
            found.shadowed.len() - max,
        ));
    }
    if found.redundant.len() > max {
        let first = found.redundant[max].0;
        diags.push(more(
            "sockc::redundant",
            "are redundant",
            first,
            found.redundant.len() - max,
        ));
    }
}

/// A rule in the order of its key in one dimension, with its key ids and what the
/// searches read of it (so that a walk in key order reads memory in order).
#[derive(Clone, Copy, Debug)]
struct Walk {
    q: Entry,
    key: u32,
    /// Its key id in the other dimension, and the end of the keys inside that.
    sec: u32,
    sec_end: u32,
    /// Its class if it always ends the program when it matches, else [`NO_CLASS`].
    own: u16,
    fams: u8,
    /// True when this dimension is the rule's primary one (see [`FamIndex`]).
    primary: bool,
}

/// The search state of one rule.
#[derive(Clone, Copy, Debug)]
struct State {
    shadow: u32,
    cover: u32,
    /// The earliest later rule found that overlaps it and decides otherwise.
    blocker: u32,
    /// The covering walk did not look at every rule that decides otherwise.
    partial: bool,
    work: u32,
    done: Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    Searching,
    /// Redundant: nothing in between decides otherwise.
    Redundant,
    /// Shadowed, not a candidate for redundancy, or decided either way.
    Yes,
    OutOfBudget,
}

/// The anomalies of one program. Each rule's searches go through the index one
/// dimension at a time, the rules taken in the order of their key in that
/// dimension, so that neighbours share the keys and nodes they walk.
fn check_program(ctx: &Ctx, prog: &Program, limits: Limits) -> Found {
    let budget = limits.budget;
    let rules = &prog.rules;
    let n = rules.len();
    let prep = Prep::new(ctx, rules);
    let shape = |i: u32| ctx.shape(&rules[i as usize].m).expect("indexed");
    let index = [FamIndex::build(&prep, 0), FamIndex::build(&prep, 1)];
    let mut state: Vec<State> = (0..n)
        .map(|i| State {
            shadow: i as u32,
            cover: n as u32,
            blocker: n as u32,
            partial: false,
            work: 0,
            done: if prep.fams[i] == 0 {
                Done::Yes
            } else {
                Done::Searching
            },
        })
        .collect();

    // Covering rules: the earliest terminating one before (shadowed) and the nearest
    // later one with the same action (redundant if nothing in between decides
    // otherwise), among the rules whose keys hold the rule's keys (in its first
    // family: a covering rule covers every family). The same walk notes the
    // earliest later rule among them that decides otherwise (they all overlap it).
    for (f, ix) in index.iter().enumerate() {
        for (d, dim) in ix.dims.iter().enumerate() {
            for w in &ix.walk[d] {
                let (i, q, own) = (w.q.rule, w.q, w.own);
                if usize::from(w.fams & 1 == 0) != f {
                    continue;
                }
                let mut st = state[i as usize];
                let st = &mut st;
                let blocks = |c: u16| own != NO_CLASS && prep.blocks(own, c);
                let block = |e: &Entry, st: &mut State| {
                    if e.rule > i && e.rule < st.blocker && blocks(e.class) && e.may_meet(&q) {
                        st.work += 1;
                        if e.plain(&q) || {
                            st.work += 4;
                            ctx.may_overlap(&shape(e.rule), &shape(i), &mut st.work)
                        } {
                            st.blocker = e.rule;
                        }
                    }
                };
                let covers = |e: &Entry, st: &mut State| {
                    st.work += 1;
                    e.plain(&q) || {
                        st.work += 4;
                        ctx.covers(&shape(e.rule), &shape(i), &mut st.work)
                    }
                };
                let visit = |e: &Entry, st: &mut State| {
                    if e.rule < i {
                        if e.rule < st.shadow
                            && !prep.classes[e.class as usize].1
                            && e.may_cover(&q)
                            && covers(e, st)
                        {
                            st.shadow = e.rule;
                        }
                        return;
                    }
                    if e.rule == i {
                        return;
                    }
                    if e.class == own && e.rule < st.cover && e.may_cover(&q) && covers(e, st) {
                        st.cover = e.rule;
                        return;
                    }
                    block(e, st);
                };
                let bs = w.sec;
                let mut k = dim.chain_start(w.key);
                while k != NIL {
                    let mut node = dim.enclosing(k, bs);
                    while node != NIL {
                        let g = dim.entries(node);
                        st.work += 1;
                        if g.len() <= limits.small.max(1) {
                            st.work += g.len() as u32 / 4;
                            for e in g {
                                visit(e, st);
                            }
                        } else {
                            // Run by run: earlier rules ascend from the start of a
                            // part, later ones from just after this rule.
                            for (start, run) in dim.runs(node) {
                                let p = run.proto;
                                // Overlapping needs compatible protocols, covering a
                                // protocol that holds this rule's.
                                if !(p == ANY_PROTO || q.proto == ANY_PROTO || p == q.proto) {
                                    continue;
                                }
                                let blocking = blocks(run.class);
                                let holds = p == ANY_PROTO || p == q.proto;
                                let shadows = holds && !prep.classes[run.class as usize].1;
                                let covers = holds && run.class == own;
                                if !(blocking || shadows || covers) {
                                    continue;
                                }
                                st.work += 1;
                                // Single ports, by port: those inside this rule's ports
                                // may overlap it; only its own port may cover it.
                                let exact = &dim.entries[start as usize..run.mid as usize];
                                let (lo, hi) = if q.dport == (0, u16::MAX) {
                                    (0, exact.len())
                                } else {
                                    let lo = exact.partition_point(|e| e.dport.0 < q.dport.0);
                                    (
                                        lo,
                                        lo + exact[lo..]
                                            .partition_point(|e| e.dport.0 <= q.dport.1),
                                    )
                                };
                                let single = q.dport.0 == q.dport.1;
                                // The others, by index: earlier rules from the start,
                                // later ones from just after this rule.
                                let ranged = &dim.entries[run.mid as usize..run.end as usize];
                                let from = ranged.partition_point(|e| e.rule <= i);
                                if blocking {
                                    // Many: left for the search of rules in between.
                                    if hi - lo > 16 {
                                        st.partial = true;
                                    } else {
                                        for e in &exact[lo..hi] {
                                            block(e, st);
                                        }
                                    }
                                    for e in &ranged[from..] {
                                        if e.rule >= st.blocker {
                                            break;
                                        }
                                        block(e, st);
                                    }
                                }
                                let own_port: &[Entry] = if single { &exact[lo..hi] } else { &[] };
                                for part in [own_port, ranged] {
                                    if shadows {
                                        let mut j = 0;
                                        while j < part.len() && part[j].rule < st.shadow {
                                            st.work += 1;
                                            visit(&part[j], st);
                                            j += 1;
                                        }
                                    }
                                }
                                if covers {
                                    for e in own_port {
                                        if e.rule > i && e.rule < st.cover {
                                            st.work += 1;
                                            visit(e, st);
                                        }
                                    }
                                    for e in &ranged[from..] {
                                        if e.rule >= st.cover {
                                            break;
                                        }
                                        st.work += 1;
                                        visit(e, st);
                                    }
                                }
                            }
                        }
                        node = dim.nodes[node as usize].parent;
                    }
                    k = dim.up[k as usize];
                }
                state[i as usize] = *st;
            }
        }
    }

    let mut found = Found::default();
    for (i, r) in rules.iter().enumerate() {
        let st = &mut state[i];
        if st.done != Done::Searching {
            continue;
        }
        if st.work > budget {
            st.done = Done::OutOfBudget;
            continue;
        }
        if (st.shadow as usize) < i {
            found.shadowed.push((i, st.shadow as usize));
            st.done = Done::Yes;
            continue;
        }
        let cover = st.cover as usize;
        if !terminates(r)
            || (cover == n && !same_as_default(r.action, prog.default))
            || st.blocker < st.cover
        {
            st.done = Done::Yes;
            continue;
        }
        // Few rules in between: look at each.
        if cover - i - 1 <= limits.linear {
            let b = shape(i as u32);
            let blocked = (i + 1..cover).any(|j| {
                st.work += 1;
                let x = &rules[j];
                decides_otherwise(x.action, x.cond.is_some(), r.action)
                    && prep.fams[j] != 0
                    && prep.quick[j].may_meet(&prep.quick[i])
                    && ctx.may_overlap(&shape(j as u32), &b, &mut st.work)
            });
            st.done = if blocked {
                Done::Yes
            } else if st.work > budget {
                Done::OutOfBudget
            } else {
                Done::Searching
            };
            // Searching still: nothing decides otherwise.
            if st.done == Done::Searching {
                st.done = Done::Redundant;
            }
        }
    }

    // Rules that may decide otherwise in between (or after, for the default): among
    // the rules whose keys overlap the rule's keys, in every family it has.
    let mut pending: Vec<u64> = vec![0; n.div_ceil(64)];
    for (i, st) in state.iter().enumerate() {
        if st.done == Done::Searching {
            pending[i / 64] |= 1 << (i % 64);
        }
    }
    // Stage 0: the keys holding the rule's key (few, and the most likely to overlap);
    // stage 1: the keys inside it, in the dimension with fewer of them; stage 2: in
    // the other dimension.
    for stage in 0..3 {
        for (f, ix) in index.iter().enumerate() {
            for (d, dim) in ix.dims.iter().enumerate() {
                for w in &ix.walk[d] {
                    let (i, q) = (w.q.rule, w.q);
                    if pending[i as usize / 64] & (1 << (i % 64)) == 0 {
                        continue;
                    }
                    let (bs, be, own_key) = (w.sec, w.sec_end, w.key);
                    let end = ix.keys[d].end[own_key as usize];
                    let inside = dim.first[own_key as usize + 1]..dim.first[end as usize];
                    if stage > 0 {
                        let other = &ix.dims[1 - d];
                        let theirs = other.first[be as usize] - other.first[bs as usize + 1];
                        let mine = inside.len() as u32;
                        // Ties: the source first.
                        let smaller = mine < theirs || (mine == theirs && d == 0);
                        if smaller != (stage == 1) {
                            continue;
                        }
                    }
                    let st = &mut state[i as usize];
                    let blocks = |c: u16| prep.blocks(q.class, c);
                    let hit = |e: &Entry, st: &mut State| -> bool {
                        if e.rule <= i || e.rule >= st.cover || !blocks(e.class) || !e.may_meet(&q)
                        {
                            return false;
                        }
                        st.work += 1;
                        // `may_meet` was exact (the index found their addresses nested).
                        e.plain(&q) || {
                            st.work += 4;
                            ctx.may_overlap(&shape(e.rule), &shape(i), &mut st.work)
                        }
                    };
                    // Entries of several nodes (not in index order).
                    let scan_any = |g: &[Entry], st: &mut State| -> bool {
                        st.work = st.work.saturating_add(1 + g.len() as u32 / 8);
                        g.iter().any(|e| hit(e, st))
                    };
                    // One node's entries: by class and protocol, within the index window.
                    let scan_node = |node: u32, st: &mut State| -> bool {
                        let g = dim.entries(node);
                        if g.len() <= limits.small.max(1) {
                            return scan_any(g, st);
                        }
                        for (start, run) in dim.runs(node) {
                            let p = run.proto;
                            if !blocks(run.class)
                                || !(p == ANY_PROTO || q.proto == ANY_PROTO || p == q.proto)
                            {
                                continue;
                            }
                            st.work += 1;
                            // Single ports inside this rule's ports, by port.
                            let exact = &dim.entries[start as usize..run.mid as usize];
                            let lo = exact.partition_point(|e| e.dport.0 < q.dport.0);
                            let hi = lo + exact[lo..].partition_point(|e| e.dport.0 <= q.dport.1);
                            st.work = st.work.saturating_add((hi - lo) as u32 / 8);
                            for e in &exact[lo..hi] {
                                if hit(e, st) {
                                    return true;
                                }
                            }
                            // The others, by index.
                            let ranged = &dim.entries[run.mid as usize..run.end as usize];
                            let from = ranged.partition_point(|e| e.rule <= i);
                            for e in &ranged[from..] {
                                if e.rule >= st.cover {
                                    break;
                                }
                                if hit(e, st) {
                                    return true;
                                }
                            }
                        }
                        false
                    };
                    let mut blocked = false;
                    // Keys holding its key: nodes holding its other key (the covering
                    // walk looked at those in the rule's first family) or inside it
                    // (none when nothing is inside its other key).
                    let walked = usize::from(w.fams & 1 == 0) == f && !st.partial;
                    let mut k = if stage == 0 && (!walked || be > bs + 1) {
                        dim.chain_start(own_key)
                    } else {
                        NIL
                    };
                    'keys: while k != NIL {
                        let mut node = if walked { NIL } else { dim.enclosing(k, bs) };
                        while node != NIL {
                            if scan_node(node, st) {
                                blocked = true;
                                break 'keys;
                            }
                            node = dim.nodes[node as usize].parent;
                        }
                        if be > bs + 1 && scan_any(dim.inside(k, bs, be), st) {
                            blocked = true;
                            break 'keys;
                        }
                        if st.work > budget {
                            break 'keys;
                        }
                        k = dim.up[k as usize];
                    }
                    // Keys inside its key: every node whose other key is nested with its.
                    if stage > 0 && !blocked && st.work <= budget {
                        for j in inside {
                            st.work += 1;
                            let nd = dim.nodes[j as usize];
                            let nested =
                                (nd.sec <= bs && bs < nd.sec_end) || (bs <= nd.sec && nd.sec < be);
                            if nested && scan_node(j, st) {
                                blocked = true;
                                break;
                            }
                            if st.work > budget {
                                break;
                            }
                        }
                    }
                    if blocked {
                        st.done = Done::Yes;
                    } else if st.work > budget {
                        st.done = Done::OutOfBudget;
                    }
                    if st.done != Done::Searching {
                        pending[i as usize / 64] &= !(1 << (i % 64));
                    }
                }
            }
        }
    }
    for (i, st) in state.iter().enumerate() {
        match st.done {
            Done::Searching | Done::Redundant => found
                .redundant
                .push((i, (st.cover < n as u32).then_some(st.cover as usize))),
            Done::OutOfBudget => found.unchecked.push(i),
            Done::Yes => {}
        }
    }
    found
}

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
