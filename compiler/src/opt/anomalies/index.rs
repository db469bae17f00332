//! The index of one program's rules, per family ([`FamIndex`]): each dimension's
//! distinct address keys, numbered so that the keys inside a key follow it
//! ([`Keys`]), and under every key the rules that may end the program, filed by their
//! other key, then by class, protocol and destination port ([`Dim`]).
//!
//! Invariant: every rule that may end the program and may match the family is filed
//! once, under its primary (longer) key, so the rules covering a rule are all on the
//! chain of keys enclosing its key, and the rules overlapping it there or among the
//! keys inside it (see [`FamIndex`]).

use super::{
    keys::Key,
    rules::{Entry, Prep, NO_CLASS},
};

/// No key, node or rule.
pub(super) const NIL: u32 = u32::MAX;

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
pub(super) struct Keys {
    parent: Vec<u32>,
    pub(super) end: Vec<u32>,
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
pub(super) struct Node {
    pub(super) sec: u32,
    pub(super) sec_end: u32,
    pub(super) parent: u32,
    start: u32,
    runs: u32,
}

/// The entries of a node with one class and protocol (a node of one entry has
/// none): first the ones with a single destination port, by (port, index), up to
/// `mid`; then the others, by index, up to `end`. A run starts where the previous
/// one ends (the first at the node's start).
#[derive(Clone, Copy, Debug)]
pub(super) struct Run {
    pub(super) class: u16,
    pub(super) proto: u16,
    pub(super) mid: u32,
    pub(super) end: u32,
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
pub(super) struct Dim {
    pub(super) first: Vec<u32>,
    pub(super) up: Vec<u32>,
    /// One more than there are nodes: the last only marks where entries and runs end.
    pub(super) nodes: Vec<Node>,
    runs: Vec<Run>,
    pub(super) entries: Vec<Entry>,
}

/// Nodes with more entries than this are searched run by run rather than scanned.
pub const SMALL_NODE: usize = 12;

impl Dim {
    /// The first key with nodes among `k` and the keys enclosing it.
    pub(super) fn chain_start(&self, k: u32) -> u32 {
        if self.first[k as usize] < self.first[k as usize + 1] {
            k
        } else {
            self.up[k as usize]
        }
    }

    /// The runs of `node`, each with where it starts.
    pub(super) fn runs(&self, node: u32) -> impl Iterator<Item = (u32, Run)> + '_ {
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

    pub(super) fn entries(&self, node: u32) -> &[Entry] {
        let (a, b) = (
            self.nodes[node as usize].start,
            self.nodes[node as usize + 1].start,
        );
        &self.entries[a as usize..b as usize]
    }

    /// The deepest node of key `k` whose secondary key holds `bs`; its `parent`s
    /// are the others.
    pub(super) fn enclosing(&self, k: u32, bs: u32) -> u32 {
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
    pub(super) fn inside(&self, k: u32, bs: u32, be: u32) -> &[Entry] {
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
pub(super) struct FamIndex {
    pub(super) keys: [Keys; 2],
    /// Per dimension, the rules of the family by key.
    pub(super) walk: [Vec<Walk>; 2],
    pub(super) dims: [Dim; 2],
}

impl FamIndex {
    pub(super) fn build(prep: &Prep, f: usize) -> FamIndex {
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
            ix.keys[d] = family_keys(prep, f, d, &members, &mut ids[d], &mut lens[d]);
        }
        for d in 0..2 {
            ix.walk[d] = walk_by_key(prep, &ix.keys, d, &ids, &lens);
        }
        for d in 0..2 {
            ix.dims[d] = Dim::build(&ix.keys[d], &ix.walk[d]);
        }
        ix
    }
}

/// The key table of dimension `d` (0: source, 1: destination) of `members`, the rules
/// with something in family `f`; fills in each member's key id and key length.
fn family_keys(
    prep: &Prep,
    f: usize,
    d: usize,
    members: &[u32],
    ids: &mut [u32],
    lens: &mut [u8],
) -> Keys {
    if f == 0 {
        // IPv4 keys packed as (network << 8 | length): ordered as `Key` orders.
        let mut pairs: Vec<(u64, u32)> = members
            .iter()
            .map(|&i| (prep.keys4[i as usize][d], i))
            .collect();
        for p in &pairs {
            lens[p.1 as usize] = p.0 as u8;
        }
        radix_sort(&mut pairs, 40, |p| p.0);
        let unpack = |p: u64| Key {
            net: u128::from(p >> 8),
            len: p as u8,
        };
        key_table(&pairs, |a, b| unpack(a).contains(unpack(b), 32), ids)
    } else {
        let mut pairs: Vec<(Key, u32)> = members
            .iter()
            .map(|&i| (prep.keys6[i as usize][d], i))
            .collect();
        for p in &pairs {
            lens[p.1 as usize] = p.0.len;
        }
        pairs.sort_unstable();
        key_table(&pairs, |a, b| a.contains(b, 128), ids)
    }
}

/// The family's rules in the order of their key in dimension `d`, given every rule's
/// key ids and key lengths in both dimensions.
fn walk_by_key(
    prep: &Prep,
    keys: &[Keys; 2],
    d: usize,
    ids: &[Vec<u32>; 2],
    lens: &[Vec<u8>; 2],
) -> Vec<Walk> {
    keys[d]
        .order
        .iter()
        .map(|&i| {
            let sec = ids[1 - d][i as usize];
            let own = prep.terminating(i);
            Walk {
                q: prep.quick[i as usize],
                key: ids[d][i as usize],
                sec,
                sec_end: keys[1 - d].end[sec as usize],
                own,
                fams: prep.fams[i as usize],
                // The longer key is the primary one (the source on a tie).
                primary: usize::from(lens[0][i as usize] < lens[1][i as usize]) == d,
            }
        })
        .collect()
}

impl Dim {
    /// The dimension of `keys`: the rules of `walk` (in key order) that may end the
    /// program and have it as their primary dimension.
    fn build(keys: &Keys, walk: &[Walk]) -> Dim {
        let mut dim = Dim {
            first: vec![0; keys.parent.len() + 1],
            ..Dim::default()
        };
        dim.add_nodes(walk);
        dim.add_runs();
        dim.link_up(&keys.parent);
        dim
    }

    /// Files the entries key by key, one node per (key, secondary key), and sets
    /// `first`.
    fn add_nodes(&mut self, walk: &[Walk]) {
        // The walk is by key, then by rule: a key's entries are together.
        let mut w = 0;
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
                        if sec < self.nodes[top as usize].sec_end {
                            break;
                        }
                        stack.pop();
                    }
                    self.first[k as usize + 1] += 1;
                    self.nodes.push(Node {
                        sec,
                        sec_end,
                        parent: stack.last().copied().unwrap_or(NIL),
                        start: self.entries.len() as u32,
                        runs: 0,
                    });
                    stack.push(self.nodes.len() as u32 - 1);
                    prev = sec;
                }
                self.entries.push(e);
            }
        }
        self.nodes.push(Node {
            sec: NIL,
            sec_end: NIL,
            parent: NIL,
            start: self.entries.len() as u32,
            runs: 0,
        });
        for k in 1..self.first.len() {
            self.first[k] += self.first[k - 1];
        }
    }

    /// Sorts each node's entries into [`Run`]s.
    fn add_runs(&mut self) {
        for j in 0..self.nodes.len() {
            self.nodes[j].runs = self.runs.len() as u32;
            if j + 1 == self.nodes.len() {
                break;
            }
            let (a, b) = (
                self.nodes[j].start as usize,
                self.nodes[j + 1].start as usize,
            );
            if b - a > 1 {
                let g = &mut self.entries[a..b];
                g.sort_unstable_by_key(run_order);
                let mut k = 0;
                while k < g.len() {
                    let (class, proto) = (g[k].class, g[k].proto);
                    let same = g[k..].partition_point(|e| (e.class, e.proto) == (class, proto));
                    let run = &g[k..k + same];
                    let exact = run.partition_point(|e| e.dport.0 == e.dport.1);
                    self.runs.push(Run {
                        class,
                        proto,
                        mid: (a + k + exact) as u32,
                        end: (a + k + same) as u32,
                    });
                    k += same;
                }
            }
        }
    }

    /// Sets `up` from the keys' `parent`s.
    fn link_up(&mut self, parent: &[u32]) {
        // Keys come after the keys enclosing them, so `up` of a parent is known.
        self.up = vec![NIL; parent.len()];
        for (k, &p) in parent.iter().enumerate() {
            if p != NIL {
                self.up[k] = if self.first[p as usize] < self.first[p as usize + 1] {
                    p
                } else {
                    self.up[p as usize]
                };
            }
        }
    }
}

/// A rule in the order of its key in one dimension, with its key ids and what the
/// searches read of it (so that a walk in key order reads memory in order).
#[derive(Clone, Copy, Debug)]
pub(super) struct Walk {
    pub(super) q: Entry,
    pub(super) key: u32,
    /// Its key id in the other dimension, and the end of the keys inside that.
    pub(super) sec: u32,
    pub(super) sec_end: u32,
    /// Its class if it always ends the program when it matches, else [`NO_CLASS`].
    pub(super) own: u16,
    pub(super) fams: u8,
    /// True when this dimension is the rule's primary one (see [`FamIndex`]).
    primary: bool,
}
