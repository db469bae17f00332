//! Lowering of a [`Classifier`]: the byte-trie walks over one array map, and the
//! map's contents.
//!
//! Each classifier has one table map of two equal halves (array elements 0 and 1);
//! the program reads which half is live once per packet, from the module's
//! [`LIVE_MAP`] ([`emit_select`], right after the prologue), so a table update writes
//! the other half and then flips that one word: every packet sees the old tables or
//! the new ones, never a mix, across all classifiers of the module.
//!
//! The walk, for the packet's family: copy the family's dimensions from the flow
//! record into a scratch area as host-order `u32`s (the two words of an IPv6 address
//! half swapped, so that the half is one host-order `u64`), and the TCP flags and L4
//! bytes after them (the key: byte `k` of the key is scratch byte `k`, see
//! [`KeyByte::index`](crate::ir::classifier::KeyByte::index)); then per trie, starting from the root
//! reference in the half's header, one step per key byte at most: a node reference
//! names the key byte and the node; the child reference is word `byte` of the node's
//! 256. A leaf reference gives at most [`LEAF_MAX`] entry records, checked in order:
//! the first whose every (lo, hi) (an IPv6 address half's as one 64-bit range), TCP
//! flags and L4 requirement hold names the rule;
//! its counter slot and verdict come from the record, and the walk jumps to the shared
//! count-and-exit tail. A miss (empty leaf, no entry matching, a reference out of
//! range, a packet of another family) falls through to the next step.
//!
//! Layout of a half (little-endian `u32` words): a [`HEADER`]-byte header (word 0 a
//! format mark, word `1 + 2k` the root of trie `k`, word `2 + 2k` its first rule),
//! then 1 KiB nodes, then leaf records. References: bit 31 set is a leaf (bits 28..31 its entry count, bits
//! 0..28 the word offset of its first record; count 0 is the empty leaf), clear is a
//! node (bits 24..30 the key byte, bits 0..24 the node's number).
//!
//! Invariant: the code depends on the family, the trie groups, which dimensions and
//! conditions the entries check, the node reads unrolled per trie ([`steps`]: its
//! depth and [`STEP_SLACK`] more, or the installed code's on a re-apply when the trie
//! is no deeper) and the table capacity, never on the number of rules: every trie
//! gets that many node reads and [`LEAF_MAX`] entry checks, and every bound checked
//! is derived from the capacity. So tables of the same shape can replace each other in a live map
//! without new code.

use cranelift_entity::EntityRef as _;

use super::{
    buffer::{CodeBuffer, Label},
    emit::{emit_count, emit_map_lookup, verdict},
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::{
    hooks::HookSpec,
    ir::classifier::{Child, Classifier, Dim, Trie, FLAGS_BYTE, L4_BYTE, LEAF_MAX, MAX_DIMS},
    ir::{Action, Program, SockId},
    syntax::ast::Family,
};

/// Scratch area for the key: 16 slots of 4 bytes below the flow record, all written,
/// so that a key byte index masked to `0..=63` reads initialized stack.
pub(crate) const DIMS: i16 = flow::FLOW - 64;

/// The map that says which half of every table is live (element 0, `0` or `1`).
pub const LIVE_MAP: &str = "tables_live";

/// Bytes before the first node of a half.
pub(crate) const HEADER: usize = 64;
/// Bytes of a node: one `u32` reference per byte value.
pub(crate) const NODE_SIZE: usize = 1024;
/// Format mark in word 0 of a half ("sk" 1).
const FORMAT: u32 = 0x736b_0001;
/// Most tries per classifier: three groups, two families.
pub(crate) const MAX_TRIES: usize = 6;
const _: () = assert!(4 * (1 + 2 * MAX_TRIES) <= HEADER);

/// Byte offset in a half of trie `k`'s root reference (its first rule follows).
fn root_at(k: usize) -> usize {
    4 * (1 + 2 * k)
}
const _: () = assert!(LEAF_MAX < 8);

const LEAF_BIT: u32 = 1 << 31;
/// The largest table (one half) whose leaf records a reference can reach: a leaf
/// reference holds the records' offset in 28 bits of 4-byte words. A larger table is
/// refused before lowering (`sockc::table-limit`), never encoded with wrapped offsets.
pub(crate) const MAX_TABLE_BYTES: usize = 4 << 28;

/// The refusal of a classifier whose table is over [`MAX_TABLE_BYTES`], if it is.
pub(crate) fn table_limit(p: &Program, c: &Classifier) -> Option<crate::diag::Diagnostic> {
    let size = table_size(c);
    if size <= MAX_TABLE_BYTES {
        return None;
    }
    let (first, last) = (&p.rules[c.rules.start], &p.rules[c.rules.end - 1]);
    Some(
        crate::diag::Diagnostic::new(
            crate::diag::Code::TableLimit,
            format!(
                "the classifier of lines {}-{} needs a table of {size} bytes, more than \
                 the {MAX_TABLE_BYTES} its references can reach",
                first.line, last.line
            ),
        )
        .label(first.span, "its first rule")
        .help(
            "split the rules between other rules, or use sets with fewer elements and \
             fewer port ranges in them",
        ),
    )
}

/// Map name of a classifier's tables.
pub(crate) fn map_name(c: &Classifier) -> String {
    format!("c{}_tables", c.id)
}

/// Stack slots of the best match so far when a family has several tries: rule index
/// (`u32::MAX` for none), counter slot, verdict. Inside the scratch area, past the
/// largest family's dimensions.
const BEST_RULE: i16 = DIMS + 44;
const BEST_COUNTER: i16 = DIMS + 48;
const BEST_VERDICT: i16 = DIMS + 52;

/// Bytes of an entry record of a family with `dims` dimensions: (lo, hi) per
/// dimension, flags mask/value, L4 byte, pad, counter slot, verdict, rule index (the
/// order between tries).
pub(crate) const fn record_size(dims: usize) -> usize {
    8 * dims + 16
}

/// Offset of the TCP flags mask in a record (value, then L4 byte).
fn flags_offset(dims: usize) -> usize {
    8 * dims
}

/// Offset of the counter slot in a record (the verdict, then the rule follow it).
fn counter_offset(dims: usize) -> usize {
    8 * dims + 4
}

/// Bytes one half of a classifier's table takes before rounding up.
pub(crate) fn table_size(c: &Classifier) -> usize {
    let nodes: usize = c.tries.iter().map(|t| t.nodes.len()).sum();
    let records: usize = c
        .tries
        .iter()
        .map(|t| t.leaves.total() * record_size(t.dims.len()))
        .sum();
    HEADER + nodes * NODE_SIZE + records
}

/// The size a half gets for `used` bytes: an eighth more (so that tables of a slightly
/// changed rule file still fit), in whole pages.
pub(crate) fn table_capacity(used: usize) -> usize {
    (used + used / 8 + 4096).next_multiple_of(4096)
}

/// Appends the contents of a half of classifier `c`'s table to `out`, encoded as
/// [`Words`] (decoded: [`table_size`] bytes, the rest of the capacity zero), in the
/// layout [`emit`] reads.
pub(crate) fn tables(spec: &HookSpec, p: &Program, c: &Classifier, out: &mut Vec<u8>) {
    tables_halved_from(spec, p, c, out, RECORDS_HALVED_MIN);
}

/// [`tables`], the records written in two halves from `halved_min` bytes on. The
/// records are one literal run after the nodes' words: its head is counted up front,
/// so they are written in place, as [`Words::literal`] would have appended them.
fn tables_halved_from(
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
fn records_bytes(c: &Classifier) -> usize {
    c.tries
        .iter()
        .map(|t| t.leaves.total() * record_size(t.dims.len()))
        .sum()
}

/// Starts the [`Words`] of `c`'s half in `out`: the header and the nodes, the
/// encoder left open for the records.
fn header_and_nodes<'o>(c: &Classifier, out: &'o mut Vec<u8>) -> Words<'o> {
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
fn write_records(spec: &HookSpec, p: &Program, c: &Classifier, dst: &mut [u8], halved_min: usize) {
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
type Part = (usize, std::ops::Range<usize>);

/// The tries' records cut in two at the record nearest the middle of `bytes` (their
/// total), in order; the second list empty below `halved_min` bytes.
fn record_halves(c: &Classifier, bytes: usize, halved_min: usize) -> (Vec<Part>, Vec<Part>) {
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
fn parts_bytes(c: &Classifier, parts: &[Part]) -> usize {
    parts
        .iter()
        .map(|(k, r)| r.len() * record_size(c.tries[*k].dims.len()))
        .sum()
}

/// Writes the records of `parts`, in order, into `dst`.
fn write_parts(spec: &HookSpec, p: &Program, c: &Classifier, parts: &[Part], mut dst: &mut [u8]) {
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
fn outcomes(spec: &HookSpec, p: &Program, t: &Trie) -> Vec<[u32; 2]> {
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
/// word `d` the more significant (what [`Check::Half`] compares).
fn write_ranges(family: Family, e: &crate::ir::classifier::Entry, rec: &mut [u32]) {
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

/// What a leaf compares of an entry record: one dimension's word, or an IPv6 address
/// half (dimensions `d` and `d + 1`, `d` even) as one `u64`, the key's 64-bit word at
/// [`dim_at`]`(d)` (see [`Dim::slot`]). A half holds an entry's values exactly when
/// they are a 64-bit range, which every IPv6 entry's are (the IR check makes sure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Word(usize),
    Half(usize),
}

/// The comparisons a leaf of `t` makes per entry, in dimension order: every checked
/// dimension, an IPv6 address's words by halves.
fn checks(t: &Trie) -> Vec<Check> {
    let mut out: Vec<Check> = Vec::new();
    for &d in &t.checked_dims {
        if t.family == Family::V6 && d < 8 {
            let half = Check::Half(d & !1);
            if out.last() != Some(&half) {
                out.push(half);
            }
        } else {
            out.push(Check::Word(d));
        }
    }
    out
}

/// The encoding of table contents in `.sockc.tables` (a table is mostly node words
/// repeated across byte values): little-endian `u32` words in runs, each headed by
/// one word. A head with bit 31 set repeats the next word `head & 0x7fff_ffff` times;
/// otherwise the next `head` words are copied as they are.
pub(crate) struct Words<'a> {
    out: &'a mut Vec<u8>,
    /// Byte offset of the head of the literal run being written, and its length.
    literal: Option<(usize, u32)>,
}

impl<'a> Words<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Words<'a> {
        Words { out, literal: None }
    }

    pub fn literal(&mut self, words: &[u32]) {
        if words.is_empty() {
            return;
        }
        let (at, n) = match self.literal {
            Some(l) => l,
            None => {
                self.out.extend_from_slice(&0u32.to_le_bytes());
                (self.out.len() - 4, 0)
            }
        };
        for w in words {
            self.out.extend_from_slice(&w.to_le_bytes());
        }
        self.literal = Some((at, n + words.len() as u32));
    }

    /// Extends the literal run by `words` zero words, to be written in place
    /// afterwards: the byte offset in the output of the first.
    pub fn literal_in_place(&mut self, words: usize) -> usize {
        let (at, n) = match self.literal {
            Some(l) => l,
            None if words == 0 => return self.out.len(),
            None => {
                self.out.extend_from_slice(&0u32.to_le_bytes());
                (self.out.len() - 4, 0)
            }
        };
        let start = self.out.len();
        self.out.resize(start + 4 * words, 0);
        self.literal = Some((at, n + words as u32));
        start
    }

    pub fn repeat(&mut self, count: u32, word: u32) {
        if count <= 2 {
            for _ in 0..count {
                self.literal(&[word]);
            }
            return;
        }
        self.close();
        self.out
            .extend_from_slice(&(0x8000_0000 | count).to_le_bytes());
        self.out.extend_from_slice(&word.to_le_bytes());
    }

    fn close(&mut self) {
        if let Some((at, n)) = self.literal.take() {
            self.out[at..at + 4].copy_from_slice(&n.to_le_bytes());
        }
    }

    pub fn finish(mut self) {
        self.close();
    }
}

/// One run of a [`Words`] encoding: a word repeated, or words as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordRun<'a> {
    /// `words` copies of `value`.
    Fill { words: usize, value: [u8; 4] },
    /// These bytes (a whole number of words).
    Copy(&'a [u8]),
}

impl WordRun<'_> {
    /// The run's length once decoded, in bytes.
    pub fn len(&self) -> usize {
        match self {
            WordRun::Fill { words, .. } => 4 * words,
            WordRun::Copy(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The runs of a [`Words`] encoding, in order: a writer can decode it piece by piece
/// (a table of 100k rules into a map's memory a window at a time). An item is `None`
/// where the encoding is malformed, and the iteration ends there.
pub fn word_runs(encoded: &[u8]) -> impl Iterator<Item = Option<WordRun<'_>>> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            encoded.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let mut at = Some(0usize);
    std::iter::from_fn(move || {
        let here = at.filter(|&a| a < encoded.len())?;
        let run = (|| {
            let head = word(here)?;
            let n = (head & 0x7fff_ffff) as usize;
            if head & 0x8000_0000 != 0 {
                let value = word(here + 4)?.to_le_bytes();
                Some((WordRun::Fill { words: n, value }, here + 8))
            } else {
                let end = (here + 4).checked_add(n.checked_mul(4)?)?;
                Some((WordRun::Copy(encoded.get(here + 4..end)?), end))
            }
        })();
        at = run.map(|(_, next)| next);
        Some(run.map(|(r, _)| r))
    })
}

/// Decodes [`Words`] into `out` (whose length is the decoded size); `None` if the
/// encoding is malformed or does not fill `out` exactly.
pub fn decode_words(encoded: &[u8], out: &mut [u8]) -> Option<()> {
    let mut to = 0usize;
    for run in word_runs(encoded) {
        let run = run?;
        let dst = out.get_mut(to..to.checked_add(run.len())?)?;
        match run {
            WordRun::Fill { value, .. } => {
                for w in dst.chunks_exact_mut(4) {
                    w.copy_from_slice(&value);
                }
            }
            WordRun::Copy(b) => dst.copy_from_slice(b),
        }
        to += run.len();
    }
    (to == out.len()).then_some(())
}

/// Loads which table half is live into the flow record (`TABLE_HALF`), for a program
/// with classifiers: once per packet, so every classifier of the packet reads the same
/// half. Clobbers `r0`–`r5`.
pub(crate) fn emit_select(b: &mut CodeBuffer) {
    let none = b.new_label();
    b.note("which half of the classifier tables is live");
    b.emit(Insn::st_imm(Size::W, Reg::FP, at(flow::COUNTER_KEY), 0));
    emit_map_lookup(b, LIVE_MAP, flow::COUNTER_KEY, none);
    b.emit(Insn::ldx(Size::W, Reg::R1, Reg::R0, 0));
    b.emit(Insn::alu64_imm(op::AND, Reg::R1, 1));
    b.emit(Insn::stx(Size::W, Reg::FP, at(flow::TABLE_HALF), Reg::R1));
    b.bind(none);
}

/// The walk of classifier `c`; `capacity` is the byte size of a table half, `steps`
/// the node reads unrolled per trie (`bpf::maps::Sizing::steps`, which sizes every
/// classifier of the module).
pub(crate) fn emit(
    b: &mut CodeBuffer,
    prog: &Program,
    c: &Classifier,
    capacity: usize,
    steps: &[u32],
    found: Label,
) {
    let lines = (
        prog.rules[c.rules.start].line,
        prog.rules[c.rules.end - 1].line,
    );
    b.note(format!(
        "lines {}-{}: {} rules by one classifier lookup",
        lines.0,
        lines.1,
        c.rules.len()
    ));
    let miss = b.new_label();
    if c.tries.is_empty() {
        return;
    }
    let steps_of = |k: usize| steps[k] as usize;
    // r8: the live half of this classifier's table, for the whole walk.
    emit_map_lookup(b, &map_name(c), flow::TABLE_HALF, miss);
    b.emit(Insn::mov64_reg(Reg::R8, Reg::R0));
    for family in [Family::V4, Family::V6] {
        let tries: Vec<(usize, &Trie)> = c
            .tries
            .iter()
            .enumerate()
            .filter(|(_, t)| t.family == family)
            .collect();
        let Some(&(_, first)) = tries.first() else {
            continue;
        };
        let other = b.new_label();
        b.emit(Insn::ldx(Size::B, Reg::R1, Reg::FP, at(flow::L3)));
        let l3 = if family == Family::V4 { 4 } else { 6 };
        b.branch_imm(Cond::Ne, Reg::R1, l3, other);
        emit_dims(b, first);
        if c.counts {
            // One trie per family, its entries disjoint: count the match, go on.
            for (k, t) in &tries {
                emit_trie(b, *k, t, capacity, steps_of(*k), OnMatch::Count, miss);
            }
        } else if let [(k, t)] = tries.as_slice() {
            emit_trie(b, *k, t, capacity, steps_of(*k), OnMatch::Exit(found), miss);
        } else {
            b.emit(Insn::st_imm(Size::W, Reg::FP, BEST_RULE, -1));
            for (k, t) in &tries {
                let done = b.new_label();
                // A trie whose first rule (from the table, so that tables of the same
                // shape share this code) comes after the best match cannot beat it.
                b.emit(Insn::ldx(Size::W, Reg::R1, Reg::FP, BEST_RULE));
                b.emit(Insn::ldx(
                    Size::W,
                    Reg::R2,
                    Reg::R8,
                    (root_at(*k) + 4) as i16,
                ));
                b.branch_reg(Cond::Le, Reg::R1, Reg::R2, done);
                emit_trie(b, *k, t, capacity, steps_of(*k), OnMatch::Best, done);
                b.bind(done);
            }
            b.emit(Insn::ldx(Size::W, Reg::R1, Reg::FP, BEST_RULE));
            b.branch32_imm(Cond::Eq, Reg::R1, u32::MAX, miss);
            b.emit(Insn::ldx(Size::W, Reg::R1, Reg::FP, BEST_COUNTER));
            b.emit(Insn::stx(Size::W, Reg::FP, at(flow::COUNTER_KEY), Reg::R1));
            b.emit(Insn::ldx(Size::W, Reg::R9, Reg::FP, BEST_VERDICT));
            sign_extend(b, Reg::R9);
            b.goto(found);
        }
        b.bind(other);
    }
    b.bind(miss);
}

/// The verdict word of a record whose rule redirects to a socket (sk_lookup): this
/// bit with the socket's index in the module. No hook's verdict has it, and it stays
/// positive when sign-extended, so the walk hands it on like a verdict and the
/// program's dispatch (`lower::rules`) sends it to that socket's redirect, which sets
/// the real verdict.
pub(crate) const REDIRECT_MARK: u32 = 0x4000_0000;

/// [`REDIRECT_MARK`] for socket `sock`.
pub(crate) fn redirect_mark(sock: SockId) -> u32 {
    REDIRECT_MARK | sock.index() as u32
}

/// The sockets the rules of `c` redirect to, in first-use order (none outside
/// sk_lookup).
pub(crate) fn redirect_targets(prog: &Program, c: &Classifier) -> Vec<SockId> {
    let mut out = Vec::new();
    for r in &prog.rules[c.rules.clone()] {
        if let Action::Redirect(Some(s)) = r.action {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// The verdict is an i32 (TC_ACT_UNSPEC is -1): sign-extend a loaded word.
fn sign_extend(b: &mut CodeBuffer, r: Reg) {
    b.emit(Insn::alu64_imm(op::LSH, r, 32));
    b.emit(Insn::alu64_imm(op::ARSH, r, 32));
}

/// Zeroes the scratch area and copies the key into it: the family's dimensions, the
/// TCP flags and the L4 byte.
fn emit_dims(b: &mut CodeBuffer, t: &Trie) {
    let r1 = Reg::R1;
    for slot in (0..64).step_by(8) {
        b.emit(Insn::st_imm(Size::DW, Reg::FP, DIMS + slot, 0));
    }
    for (field, byte) in [(flow::TCP_FLAGS, FLAGS_BYTE), (flow::L4_OK, L4_BYTE)] {
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(field)));
        b.emit(Insn::stx(Size::B, Reg::FP, DIMS + i16::from(byte), r1));
    }
    for d in 0..t.dims.len() {
        let (size, off, swap) = match t.dims[d] {
            Dim::Src4 => (Size::W, at(flow::SRC4), true),
            Dim::Dst4 => (Size::W, at(flow::DST4), true),
            Dim::Src6(w) => (Size::W, at(flow::SRC6) + 4 * i16::from(w), true),
            Dim::Dst6(w) => (Size::W, at(flow::DST6) + 4 * i16::from(w), true),
            Dim::Sport => (Size::H, at(flow::SPORT), false),
            Dim::Dport => (Size::H, at(flow::DPORT), false),
            Dim::Proto => (Size::B, at(flow::PROTO), false),
        };
        b.emit(Insn::ldx(size, r1, Reg::FP, off));
        if swap {
            b.emit(Insn::be(r1, 32));
        }
        b.emit(Insn::stx(
            Size::W,
            Reg::FP,
            dim_at(Dim::slot(t.family, d)),
            r1,
        ));
    }
}

/// Stack offset of the key's word `slot` ([`Dim::slot`]).
fn dim_at(slot: usize) -> i16 {
    DIMS + 4 * slot as i16
}

/// Inner nodes the walk of `t` reads at most: the trie's depth and [`STEP_SLACK`]
/// more (so that tables a little deeper still fit this code), never more than its
/// key has bytes.
pub fn steps(t: &Trie) -> usize {
    (t.depth + STEP_SLACK).min(t.key_bytes())
}

/// Steps the walk unrolls past a trie's depth: a changed rule that deepens the trie
/// by up to this much keeps the installed code (its tables switch in place), since
/// a re-apply unrolls the installed number of steps where the trie is no deeper
/// (`bpf::maps::Sizing::steps`).
pub(crate) const STEP_SLACK: usize = 2;

/// What the walk of a trie does with a matching entry.
#[derive(Clone, Copy)]
enum OnMatch {
    /// Set the counter key and verdict, and jump to the count-and-exit tail.
    Exit(Label),
    /// Record it as the best match of the family's tries if it comes first.
    Best,
    /// Count it and go on (a counting classifier).
    Count,
}

/// The walk of trie `k` (its half base in `r8`); every way out but [`OnMatch::Exit`]
/// goes to `done`.
fn emit_trie(
    b: &mut CodeBuffer,
    k: usize,
    t: &Trie,
    capacity: usize,
    steps: usize,
    on: OnMatch,
    done: Label,
) {
    let leaf = b.new_label();
    emit_node_reads(b, k, capacity, steps, leaf, done);
    b.bind(leaf);
    emit_leaf(b, t, capacity, on, done);
}

/// From trie `k`'s root, `steps` node reads, each a key byte deeper; a leaf reference
/// (in `r7`) goes to `leaf`, a reference out of range or a node after the last read to
/// `miss`.
fn emit_node_reads(
    b: &mut CodeBuffer,
    k: usize,
    capacity: usize,
    steps: usize,
    leaf: Label,
    miss: Label,
) {
    let (r1, r2, r7, r8) = (Reg::R1, Reg::R2, Reg::R7, Reg::R8);
    // Largest node number whose reads stay inside the half.
    let node_max = (capacity - HEADER) / NODE_SIZE - 1;
    b.emit(Insn::ldx(Size::W, r7, r8, root_at(k) as i16));
    for _ in 0..steps {
        b.branch_imm(Cond::Set, r7, LEAF_BIT as i32, leaf);
        // r2 = the key byte the node reads.
        b.emit(Insn::mov64_reg(r1, r7));
        b.emit(Insn::alu64_imm(op::RSH, r1, 24));
        b.emit(Insn::alu64_imm(op::AND, r1, 63));
        b.emit(Insn::mov64_reg(r2, Reg::FP));
        b.emit(Insn::alu64_reg(op::ADD, r2, r1));
        b.emit(Insn::ldx(Size::B, r2, r2, DIMS));
        // r7 = the node's reference for that byte.
        b.emit(Insn::alu64_imm(op::AND, r7, 0x00ff_ffff));
        b.branch_imm(Cond::Gt, r7, node_max as i32, miss);
        b.emit(Insn::alu64_imm(op::LSH, r7, 8));
        b.emit(Insn::alu64_reg(op::ADD, r7, r2));
        b.emit(Insn::alu64_imm(op::LSH, r7, 2));
        b.emit(Insn::alu64_reg(op::ADD, r7, r8));
        b.emit(Insn::ldx(Size::W, r7, r7, HEADER as i16));
    }
    // Every key byte read: what is left is a leaf (or the table is not this code's).
    b.branch_imm(Cond::Set, r7, LEAF_BIT as i32, leaf);
    b.goto(miss);
}

/// A leaf reference in `r7`: its entries checked in order, the first that holds
/// handled as `on` says; no entry holding (or a reference out of range) goes to `done`.
fn emit_leaf(b: &mut CodeBuffer, t: &Trie, capacity: usize, on: OnMatch, done: Label) {
    let miss = done;
    let (r7, r8, r9) = (Reg::R7, Reg::R8, Reg::R9);
    let rec = record_size(t.dims.len());
    // Largest leaf word offset whose reads stay inside the half.
    let leaf_max = (capacity - LEAF_MAX * rec) / 4;
    // r9 = number of entries, r7 = its first record.
    b.emit(Insn::mov64_reg(r9, r7));
    b.emit(Insn::alu64_imm(op::RSH, r9, 28));
    b.emit(Insn::alu64_imm(op::AND, r9, 7));
    b.emit(Insn::alu64_imm(op::AND, r7, 0x0fff_ffff));
    b.branch_imm(Cond::Gt, r7, leaf_max as i32, miss);
    b.emit(Insn::alu64_imm(op::LSH, r7, 2));
    b.emit(Insn::alu64_reg(op::ADD, r7, r8));
    // A trie whose entries check nothing (its rules match every packet of the family)
    // decides on a leaf's first entry: the rest would be unreachable code, which the
    // kernel rejects.
    let checks_nothing = t.checked_dims.is_empty() && !t.checks_flags && !t.checks_l4;
    let entries = if checks_nothing { 1 } else { LEAF_MAX };
    for i in 0..entries {
        let next = b.new_label();
        let base = (i * rec) as i16;
        b.branch_imm(Cond::Le, r9, i as i32, miss);
        emit_entry_checks(b, t, base, next);
        emit_on_match(b, t.dims.len(), base, on, done);
        b.bind(next);
    }
    if !checks_nothing {
        b.goto(miss);
    }
}

/// The checks of the entry record at `r7 + base`: each checked dimension (or IPv6
/// address half, [`checks`]) in its (lo, hi), the TCP flags under their mask, the L4
/// requirement; a failing one goes to `next`.
fn emit_entry_checks(b: &mut CodeBuffer, t: &Trie, base: i16, next: Label) {
    let (r1, r2, r7) = (Reg::R1, Reg::R2, Reg::R7);
    let flags_at = flags_offset(t.dims.len()) as i16;
    for check in checks(t) {
        // The key's word, the record's (lo, hi) of it, and their size.
        let (key, at, size, width) = match check {
            Check::Word(d) => (dim_at(Dim::slot(t.family, d)), 8 * d as i16, Size::W, 4),
            Check::Half(d) => (dim_at(d), 8 * d as i16, Size::DW, 8),
        };
        b.emit(Insn::ldx(size, r1, Reg::FP, key));
        b.emit(Insn::ldx(size, r2, r7, base + at));
        b.branch_reg(Cond::Lt, r1, r2, next);
        b.emit(Insn::ldx(size, r2, r7, base + at + width));
        b.branch_reg(Cond::Gt, r1, r2, next);
    }
    if t.checks_flags {
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::TCP_FLAGS)));
        b.emit(Insn::ldx(Size::B, r2, r7, base + flags_at));
        b.emit(Insn::alu64_reg(op::AND, r1, r2));
        b.emit(Insn::ldx(Size::B, r2, r7, base + flags_at + 1));
        b.branch_reg(Cond::Ne, r1, r2, next);
    }
    if t.checks_l4 {
        b.emit(Insn::ldx(Size::B, r1, r7, base + flags_at + 2));
        b.emit(Insn::ldx(Size::B, r2, Reg::FP, at(flow::L4_OK)));
        b.branch_reg(Cond::Gt, r1, r2, next);
    }
}

/// A matching entry (record at `r7 + base` of a family with `dims` dimensions),
/// handled as `on` says.
fn emit_on_match(b: &mut CodeBuffer, dims: usize, base: i16, on: OnMatch, done: Label) {
    let (r1, r2, r7, r9) = (Reg::R1, Reg::R2, Reg::R7, Reg::R9);
    let counter_at = counter_offset(dims) as i16;
    match on {
        OnMatch::Exit(found) => {
            b.emit(Insn::ldx(Size::W, r1, r7, base + counter_at));
            b.emit(Insn::stx(Size::W, Reg::FP, at(flow::COUNTER_KEY), r1));
            b.emit(Insn::ldx(Size::W, r9, r7, base + counter_at + 4));
            sign_extend(b, r9);
            b.goto(found);
        }
        OnMatch::Count => {
            b.emit(Insn::ldx(Size::W, r1, r7, base + counter_at));
            b.emit(Insn::stx(Size::W, Reg::FP, at(flow::COUNTER_KEY), r1));
            emit_count(b);
            b.goto(done);
        }
        OnMatch::Best => {
            // Entries are in rule order, so no later entry of this leaf is better.
            b.emit(Insn::ldx(Size::W, r1, r7, base + counter_at + 8));
            b.emit(Insn::ldx(Size::W, r2, Reg::FP, BEST_RULE));
            b.branch_reg(Cond::Ge, r1, r2, done);
            b.emit(Insn::stx(Size::W, Reg::FP, BEST_RULE, r1));
            b.emit(Insn::ldx(Size::W, r1, r7, base + counter_at));
            b.emit(Insn::stx(Size::W, Reg::FP, BEST_COUNTER, r1));
            b.emit(Insn::ldx(Size::W, r1, r7, base + counter_at + 4));
            b.emit(Insn::stx(Size::W, Reg::FP, BEST_VERDICT, r1));
            b.goto(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs of repeated words and literal words come back as written; short repeats
    /// join the literal around them; an encoding that does not fill the output, or
    /// runs past its end, is refused.
    #[test]
    fn words_round_trip() {
        let mut enc = Vec::new();
        let mut w = Words::new(&mut enc);
        w.literal(&[1, 2]);
        w.repeat(2, 7);
        w.repeat(300, 9);
        w.literal(&[3]);
        w.repeat(0, 5);
        w.finish();
        let mut expect: Vec<u32> = vec![1, 2, 7, 7];
        expect.extend(std::iter::repeat_n(9, 300));
        expect.push(3);
        let bytes: Vec<u8> = expect.iter().flat_map(|v| v.to_le_bytes()).collect();
        // literal(4) + 4 words, repeat(2 words), literal(1) + 1 word.
        assert_eq!(enc.len(), 4 * (1 + 4 + 2 + 1 + 1));
        let mut out = vec![0u8; bytes.len()];
        assert_eq!(decode_words(&enc, &mut out), Some(()));
        assert_eq!(out, bytes);
        let mut short = vec![0u8; bytes.len() + 4];
        assert_eq!(decode_words(&enc, &mut short), None);
        let mut long = vec![0u8; bytes.len() - 4];
        assert_eq!(decode_words(&enc, &mut long), None);
        assert_eq!(decode_words(&enc[..enc.len() - 2], &mut out), None);
    }

    /// The tables as they were encoded before the records were written in place: a
    /// literal word at a time after the header and nodes.
    fn tables_word_by_word(spec: &HookSpec, p: &Program, c: &Classifier) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = header_and_nodes(c, &mut out);
        for t in &c.tries {
            let nd = t.dims.len();
            let mut rec = vec![0u32; record_size(nd) / 4];
            let (fl, ct) = (flags_offset(nd) / 4, counter_offset(nd) / 4);
            let outcomes = outcomes(spec, p, t);
            for &i in t.leaves.ids() {
                let e = &t.entries.get(i as usize);
                write_ranges(t.family, e, &mut rec);
                rec[fl] =
                    u32::from_le_bytes([e.tcp_flags.0, e.tcp_flags.1, u8::from(e.needs_l4), 0]);
                [rec[ct], rec[ct + 1]] = outcomes[i as usize];
                rec[ct + 2] = e.rule;
                w.literal(&rec);
            }
        }
        w.finish();
        out
    }

    /// The records written in place, whole or in halves cut anywhere, give the bytes
    /// the encoder gave a word at a time: on the ClassBench 1k files (three tries,
    /// the cut inside each of them and between), with both families, and with a
    /// counting classifier.
    #[test]
    fn records_in_place_and_in_halves_encode_as_word_by_word() {
        let mut srcs: Vec<String> = ["acl1", "fw1", "ipc1"]
            .iter()
            .map(|set| sockc_testkit::classbench::vendored_1k_sk(set, usize::MAX))
            .collect();
        srcs.push(forty_src(
            "xdp on eth0",
            "    drop ip6 udp to 2001:db8::/32\n",
        ));
        srcs.push(forty_src("xdp on eth0", "").replace("drop tcp", "count tcp"));
        let mut halved = 0;
        for src in &srcs {
            let (c, d) = crate::compile(src, &Default::default());
            let c = c.unwrap_or_else(|| panic!("{d:?}"));
            for p in c.module.programs.values() {
                let spec = crate::hooks::spec(p.hook);
                for cl in p.steps.iter().filter_map(|s| match s {
                    crate::ir::Step::Classify(cl) => Some(cl),
                    _ => None,
                }) {
                    let expect = tables_word_by_word(spec, p, cl);
                    let records = records_bytes(cl);
                    // Whole, then halved at once (the cut at the middle), then with the
                    // tries' sizes made to move the middle across each trie's records.
                    for min in [usize::MAX, 0] {
                        let mut out = Vec::new();
                        tables_halved_from(spec, p, cl, &mut out, min);
                        assert_eq!(out, expect, "halved from {min}");
                        let (first, second) = record_halves(cl, records, min);
                        if min == 0 && !second.is_empty() {
                            halved += 1;
                            let cut = parts_bytes(cl, &first);
                            assert!(cut.abs_diff(records / 2) <= record_size(MAX_DIMS));
                            assert_eq!(cut + parts_bytes(cl, &second), records);
                        }
                    }
                }
            }
        }
        assert!(halved >= 4, "only {halved} classifiers halved");
    }

    /// The halves of a classifier's records (an IPv4 and an IPv6 trie, records of
    /// two sizes) cut at every record boundary put each record in exactly one half, in
    /// order, and write the same bytes.
    #[test]
    fn records_cut_anywhere_write_the_same_bytes() {
        let src = forty_src("xdp on eth0", "    drop ip6 udp to 2001:db8::/32\n");
        let (c, d) = crate::compile(&src, &Default::default());
        let c = c.unwrap_or_else(|| panic!("{d:?}"));
        let p = c.module.programs.values().next().unwrap();
        let spec = crate::hooks::spec(p.hook);
        let crate::ir::Step::Classify(cl) = &p.steps[0] else {
            panic!("not classified: {:?}", p.steps);
        };
        let records = records_bytes(cl);
        let mut whole = vec![0u8; records];
        write_records(spec, p, cl, &mut whole, usize::MAX);
        assert!(cl.tries.len() >= 2, "{} tries", cl.tries.len());
        for bytes in (0..=2 * records).step_by(4) {
            let (first, second) = record_halves(cl, bytes, 0);
            let ids = |parts: &[Part]| -> Vec<(usize, usize)> {
                parts
                    .iter()
                    .flat_map(|(k, r)| r.clone().map(move |i| (*k, i)))
                    .collect()
            };
            let mut all = ids(&first);
            all.extend(ids(&second));
            let expect: Vec<(usize, usize)> = cl
                .tries
                .iter()
                .enumerate()
                .flat_map(|(k, t)| (0..t.leaves.total()).map(move |i| (k, i)))
                .collect();
            assert_eq!(all, expect, "cut for {bytes} bytes");
            let mut out = vec![0u8; records];
            let (a, b) = out.split_at_mut(parts_bytes(cl, &first));
            write_parts(spec, p, cl, &first, a);
            write_parts(spec, p, cl, &second, b);
            assert_eq!(out, whole, "cut for {bytes} bytes");
        }
    }

    /// A block of 40 classifiable rules (one run), then `more` lines, compiled.
    fn forty_rules(more: &str) -> crate::Compiled {
        forty_rules_at("xdp on eth0", more)
    }

    fn forty_rules_at(head: &str, more: &str) -> crate::Compiled {
        let src = forty_src(head, more);
        let (c, d) = crate::compile(&src, &Default::default());
        c.unwrap_or_else(|| panic!("{d:?}"))
    }

    /// [`forty_rules_at`]'s source.
    fn forty_src(head: &str, more: &str) -> String {
        let mut src = format!("{head} {{\n");
        for i in 0..40 {
            src.push_str(&format!(
                "    drop tcp from 10.0.{i}.0/24 to *:{}\n",
                1000 + i
            ));
        }
        src.push_str(more);
        src.push_str("    default allow\n}\n");
        src
    }

    /// A classified match goes straight to the count tail only where the kernel takes
    /// any return code (XDP, TC); a cgroup_skb program's is checked at exit, so there
    /// the verdict word read from the table goes through the dispatch that turns it
    /// into its constant (the verifier refused 1,000 ClassBench rules at cgroup egress:
    /// "R0 has smin=-2147483648 smax=2147483647 should have been in [0, 3]").
    #[test]
    fn a_classified_verdict_is_a_constant_where_the_verifier_checks_it() {
        let dispatched = |c: &crate::Compiled| {
            c.programs[0]
                .code
                .notes
                .iter()
                .any(|(_, n)| n.starts_with("classified match"))
        };
        assert!(!dispatched(&forty_rules("")));
        assert!(!dispatched(&forty_rules_at("tc egress on eth0", "")));
        for head in [
            "cgroup egress \"/sys/fs/cgroup/a\"",
            "cgroup ingress \"/sys/fs/cgroup/a\"",
        ] {
            let c = forty_rules_at(head, "");
            let prog = c.module.programs.values().next().unwrap();
            assert!(
                prog.steps
                    .iter()
                    .any(|s| matches!(s, crate::ir::Step::Classify(_))),
                "{head}"
            );
            assert!(dispatched(&c), "{head}");
        }
    }

    /// An IPv6 trie's leaves compare address halves as 64-bit ranges: the checks of
    /// a run of `/64` sources with ports are the source's first half, the port and
    /// the protocol, and a record holds each half as (lo, hi) little-endian `u64`s
    /// with the half's first word the more significant.
    #[test]
    fn ipv6_leaves_compare_address_halves() {
        let mut src = String::from("xdp on eth0 {\n");
        for i in 0..40 {
            src.push_str(&format!(
                "    drop ip6 tcp from 2001:db8:0:{i:x}::/64 to *:{}\n",
                1000 + i
            ));
        }
        src.push_str("    default allow\n}\n");
        let (c, d) = crate::compile(&src, &Default::default());
        let c = c.unwrap_or_else(|| panic!("{d:?}"));
        let prog = c.module.programs.values().next().unwrap();
        let crate::ir::Step::Classify(cl) = &prog.steps[0] else {
            panic!("not classified: {:?}", prog.steps);
        };
        let t = &cl.tries[0];
        assert_eq!(t.family, Family::V6);
        assert_eq!(checks(t), [Check::Half(0), Check::Word(9), Check::Word(10)]);
        let e = &t.entries.get(0);
        let mut rec = vec![0u32; record_size(t.dims.len()) / 4];
        write_ranges(t.family, e, &mut rec);
        let u64_at = |w: usize| u64::from(rec[w]) | u64::from(rec[w + 1]) << 32;
        let half = 0x2001_0db8_0000_0000u64 | u64::from(e.lo[1]);
        assert_eq!((u64_at(0), u64_at(2)), (half, half), "source half 0");
        assert_eq!((u64_at(4), u64_at(6)), (0, u64::MAX), "source half 1: any");
        assert_eq!((rec[18], rec[19]), (e.lo[9], e.hi[9]), "port as a word");
        // The key keeps each half's words swapped, so its u64 is the same number.
        assert_eq!((Dim::slot(Family::V6, 0), Dim::slot(Family::V6, 1)), (1, 0));
        assert_eq!(Dim::slot(Family::V6, 9), 9);
        assert_eq!(Dim::slot(Family::V4, 1), 1);
    }

    /// A table past [`MAX_TABLE_BYTES`] is refused by name (its leaf references would
    /// wrap), one at the bound is not: a real classifier with its first trie's node
    /// list padded to the size.
    #[test]
    fn a_table_over_the_reference_range_is_refused() {
        let c = forty_rules("");
        let prog = c.module.programs.values().next().unwrap();
        let crate::ir::Step::Classify(cl) = &prog.steps[0] else {
            panic!("not classified: {:?}", prog.steps);
        };
        assert!(table_limit(prog, cl).is_none());
        let mut big = cl.clone();
        let pad = (MAX_TABLE_BYTES - table_size(cl)) / NODE_SIZE;
        let node = big.tries[0].nodes[0].clone();
        let node_copy = node.clone();
        big.tries[0].nodes.extend(std::iter::repeat_n(node, pad));
        assert!(table_size(&big) <= MAX_TABLE_BYTES);
        assert!(table_limit(prog, &big).is_none(), "at the bound");
        big.tries[0].nodes.push(node_copy);
        let d = table_limit(prog, &big).expect("refused past the bound");
        assert_eq!(d.code, "sockc::table-limit");
        assert!(d.message.contains("lines 2-41"), "{}", d.message);
    }

    /// The table of a classified run decodes to `table_size` bytes whose header
    /// carries the format mark and a root per trie, and whose references stay inside
    /// the table.
    #[test]
    fn tables_decode_to_their_layout() {
        let c = forty_rules("    drop ip6 udp to 2001:db8::/32\n");
        let t = &c.metadata.tables[0];
        let mut out = vec![0u8; t.len as usize];
        let stored = &c.tables[t.offset as usize..(t.offset + t.stored) as usize];
        assert_eq!(decode_words(stored, &mut out), Some(()));
        let word = |at: usize| u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
        assert_eq!(word(0), FORMAT);
        let prog = c.module.programs.values().next().unwrap();
        let crate::ir::Step::Classify(cl) = &prog.steps[0] else {
            panic!("not classified: {:?}", prog.steps);
        };
        assert_eq!(t.len as usize, table_size(cl));
        for (k, trie) in cl.tries.iter().enumerate() {
            assert_eq!(word(root_at(k) + 4), trie.entries.rule(0));
            let root = word(root_at(k));
            let inside = if root & LEAF_BIT != 0 {
                4 * (root & 0x0fff_ffff) as usize <= out.len()
            } else {
                HEADER + NODE_SIZE * (root & 0x00ff_ffff) as usize + NODE_SIZE <= out.len()
            };
            assert!(inside, "root {root:#x} of trie {k}");
        }
    }
}
