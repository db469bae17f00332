//! The contents of a classifier's table half: the header, the nodes and the entry
//! records, in the layout the walk reads (see the parent module), encoded as [`Words`].
//! The records of a large classifier are written in two parts, one on a thread beside.
//!
//! Invariant: the bytes are the same however the records are cut between threads:
//! each record depends only on its entry and its rule.

use super::{
    counter_offset, flags_offset, record_size, redirect_mark, root_at, table_size, words::Words,
    FORMAT, HEADER, LEAF_BIT, NODE_SIZE,
};
use crate::{
    bpf::emit::verdict,
    hooks::HookSpec,
    ir::classifier::{Child, Classifier, Dim, Trie, MAX_DIMS},
    ir::{Action, Program},
    syntax::ast::Family,
};

/// Appends the contents of a half of classifier `c`'s table to `out`, encoded as
/// [`Words`] (decoded: [`table_size`] bytes, the rest of the capacity zero), in the
/// layout [`emit`](super::emit) reads.
pub(crate) fn tables(spec: &HookSpec, p: &Program, c: &Classifier, out: &mut Vec<u8>) {
    tables_halved_from(spec, p, c, out, RECORDS_HALVED_MIN);
}

/// [`tables`], the records written in two halves from `halved_min` bytes on. The
/// records are one literal run after the nodes' words: its head is counted up front,
/// so they are written in place, as [`Words::literal`] would have appended them.
pub(super) fn tables_halved_from(
    spec: &HookSpec,
    p: &Program,
    c: &Classifier,
    out: &mut Vec<u8>,
    halved_min: usize,
) {
    let mut w = header_and_nodes(c, out);
    let at = w.literal_in_place(records_bytes(c) / 4);
    w.finish();
    write_records(spec, p, c, &mut out[at..], halved_min);
}

/// Bytes of the entry records of all tries of `c`.
pub(super) fn records_bytes(c: &Classifier) -> usize {
    c.tries
        .iter()
        .map(|t| t.leaves.total() * record_size(t.dims.len()))
        .sum()
}

/// Starts the [`Words`] of `c`'s half in `out`: the header and the nodes, the
/// encoder left open for the records.
pub(super) fn header_and_nodes<'o>(c: &Classifier, out: &'o mut Vec<u8>) -> Words<'o> {
    let mut w = Words::new(out);
    let mut header = [0u32; HEADER / 4];
    header[0] = FORMAT;
    // Where each trie's nodes and leaf records start.
    let mut node_base = Vec::new();
    let mut next_node = 0usize;
    for t in &c.tries {
        node_base.push(next_node);
        next_node += t.nodes.len();
    }
    // Leaf references of every trie: the records of each leaf, in trie order.
    let mut record_at = HEADER + next_node * NODE_SIZE;
    let leaf_refs: Vec<Vec<u32>> = c
        .tries
        .iter()
        .map(|t| {
            let rec = record_size(t.dims.len());
            t.leaves
                .iter()
                .map(|leaf| {
                    let r = LEAF_BIT | ((leaf.len() as u32) << 28) | (record_at / 4) as u32;
                    record_at += leaf.len() * rec;
                    r
                })
                .collect()
        })
        .collect();
    debug_assert_eq!(record_at, table_size(c));
    let resolve = |k: usize, child: Child| match child {
        Child::Empty => LEAF_BIT,
        Child::Leaf(l) => leaf_refs[k][l as usize],
        Child::Node(n) => {
            let t = &c.tries[k];
            let byte = u32::from(t.nodes[n as usize].byte.index(t.family));
            (byte << 24) | (node_base[k] + n as usize) as u32
        }
    };
    for (k, t) in c.tries.iter().enumerate() {
        header[root_at(k) / 4] = resolve(k, t.root);
        header[root_at(k) / 4 + 1] = t.entries.rule(0);
    }
    w.literal(&header);
    for (k, t) in c.tries.iter().enumerate() {
        for node in &t.nodes {
            let mut from = 0u32;
            for &(last, child) in &node.runs {
                w.repeat(u32::from(last) + 1 - from, resolve(k, child));
                from = u32::from(last) + 1;
            }
        }
    }
    w
}

/// Records of at least this many bytes in all are written in two halves, the second
/// on a thread beside ([`write_records`]); below it a thread costs more than it saves
/// (acl1_100000's are 5.6 MB).
const RECORDS_HALVED_MIN: usize = 1 << 20;

/// Writes the entry records of every trie of `c`, trie after trie and in each in leaf
/// order, into `dst` (exactly their bytes). From `halved_min` bytes on, the
/// records are cut at the record nearest the middle byte and the second half is
/// written on a thread beside: each record depends only on its entry and its rule, so
/// the bytes are the same either way.
pub(super) fn write_records(
    spec: &HookSpec,
    p: &Program,
    c: &Classifier,
    dst: &mut [u8],
    halved_min: usize,
) {
    let (first, second) = record_halves(c, dst.len(), halved_min);
    if second.is_empty() {
        return write_parts(spec, p, c, &first, dst);
    }
    let (a, b) = dst.split_at_mut(parts_bytes(c, &first));
    std::thread::scope(|s| {
        let other = crate::beside::beside(s, move || write_parts(spec, p, c, &second, b));
        write_parts(spec, p, c, &first, a);
        other.join();
    });
}

/// Part of one trie's records: trie `.0`, its leaves' entry indexes `.1` (ranges of
/// [`Leaves::ids`](crate::ir::classifier::Leaves::ids)).
pub(super) type Part = (usize, std::ops::Range<usize>);

/// The tries' records cut in two at the record nearest the middle of `bytes` (their
/// total), in order; the second list empty below `halved_min` bytes.
pub(super) fn record_halves(
    c: &Classifier,
    bytes: usize,
    halved_min: usize,
) -> (Vec<Part>, Vec<Part>) {
    let whole = |k: usize, t: &Trie| (k, 0..t.leaves.total());
    if bytes < halved_min {
        return (
            c.tries
                .iter()
                .enumerate()
                .map(|(k, t)| whole(k, t))
                .collect(),
            Vec::new(),
        );
    }
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut before = 0usize;
    for (k, t) in c.tries.iter().enumerate() {
        let size = record_size(t.dims.len());
        let n = t.leaves.total();
        let cut = (bytes / 2).saturating_sub(before).div_ceil(size).min(n);
        if cut > 0 {
            first.push((k, 0..cut));
        }
        if cut < n {
            second.push((k, cut..n));
        }
        before += n * size;
    }
    (first, second)
}

/// Bytes of the records of `parts`.
pub(super) fn parts_bytes(c: &Classifier, parts: &[Part]) -> usize {
    parts
        .iter()
        .map(|(k, r)| r.len() * record_size(c.tries[*k].dims.len()))
        .sum()
}

/// Writes the records of `parts`, in order, into `dst`.
pub(super) fn write_parts(
    spec: &HookSpec,
    p: &Program,
    c: &Classifier,
    parts: &[Part],
    mut dst: &mut [u8],
) {
    for (k, ids) in parts {
        let t = &c.tries[*k];
        let (here, rest) = dst.split_at_mut(ids.len() * record_size(t.dims.len()));
        trie_records(t, &outcomes(spec, p, t), &t.leaves.ids()[ids.clone()], here);
        dst = rest;
    }
}

/// The records of entries `ids` of `t` into `dst` (one record each, in order), given
/// `outcomes` (the counter slot and verdict word of every entry of `t`).
fn trie_records(t: &Trie, outcomes: &[[u32; 2]], ids: &[u32], dst: &mut [u8]) {
    let nd = t.dims.len();
    let size = record_size(nd);
    let (fl, ct) = (flags_offset(nd) / 4, counter_offset(nd) / 4);
    let mut words = [0u32; record_size(MAX_DIMS) / 4];
    let rec = &mut words[..size / 4];
    for (&i, out) in ids.iter().zip(dst.chunks_exact_mut(size)) {
        let e = &t.entries.get(i as usize);
        write_ranges(t.family, e, rec);
        rec[fl] = u32::from_le_bytes([e.tcp_flags.0, e.tcp_flags.1, u8::from(e.needs_l4), 0]);
        [rec[ct], rec[ct + 1]] = outcomes[i as usize];
        rec[ct + 2] = e.rule;
        for (o, w) in out.chunks_exact_mut(4).zip(rec.iter()) {
            o.copy_from_slice(&w.to_le_bytes());
        }
    }
}

/// The counter slot and verdict word of each entry of `t`, in entry order. Read from
/// the rules once, in rule order (the entries'): the leaves name entries out of that
/// order, and a rule read per record (an IR rule is a few hundred bytes, tens of MB at
/// 100k rules) missed the cache on nearly every record, most of the encoding's time.
pub(super) fn outcomes(spec: &HookSpec, p: &Program, t: &Trie) -> Vec<[u32; 2]> {
    let outcome = |r: u32| {
        let rule = &p.rules[r as usize];
        // A counting classifier's rules have no verdict: the program goes on.
        let verdict = match rule.action {
            Action::Count => 0,
            Action::Redirect(Some(sock)) => redirect_mark(sock),
            action => verdict(spec, action) as u32,
        };
        [rule.counter, verdict]
    };
    (0..t.entries.len())
        .map(|i| outcome(t.entries.rule(i)))
        .collect()
}

/// The (lo, hi) of every dimension of entry `e` into the first words of its record:
/// two words per dimension, in dimension order; an IPv6 address half (dimensions `d`
/// and `d + 1`, `d` even and below 8) as two little-endian `u64`s instead, lo then hi,
/// word `d` the more significant (what the walk's `Check::Half` compares).
pub(super) fn write_ranges(family: Family, e: &crate::ir::classifier::Entry, rec: &mut [u32]) {
    let nd = Dim::of(family).len();
    for d in 0..nd {
        rec[2 * d] = e.lo[d];
        rec[2 * d + 1] = e.hi[d];
    }
    if family == Family::V6 {
        debug_assert!(e.halves_are_ranges());
        for d in (0..8).step_by(2) {
            rec[2 * d..2 * d + 4].copy_from_slice(&[e.lo[d + 1], e.lo[d], e.hi[d + 1], e.hi[d]]);
        }
    }
}
