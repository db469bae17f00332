//! The emission of a classifier's walk: the live half's selection, the key copied to
//! the scratch area, per trie the unrolled node reads and the leaf's entry checks, and
//! what a match does.
//!
//! Invariant: the code depends on the table's shape and capacity, never on the number
//! of rules (see the parent module), and every bound it checks comes from the capacity.

use super::{
    counter_offset, flags_offset, map_name, record_size, root_at, BEST_COUNTER, BEST_RULE,
    BEST_VERDICT, DIMS, HEADER, LEAF_BIT, LIVE_MAP, NODE_SIZE,
};
use crate::{
    bpf::{
        buffer::{CodeBuffer, Label},
        emit::{emit_count, emit_map_lookup},
        flow::{self, at},
        insn::{op, Cond, Insn, Reg, Size},
    },
    ir::classifier::{Classifier, Dim, Trie, FLAGS_BYTE, L4_BYTE, LEAF_MAX},
    ir::Program,
    syntax::ast::Family,
};

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

/// What a leaf compares of an entry record: one dimension's word, or an IPv6 address
/// half (dimensions `d` and `d + 1`, `d` even) as one `u64`, the key's 64-bit word at
/// [`dim_at`]`(d)` (see [`Dim::slot`]). A half holds an entry's values exactly when
/// they are a 64-bit range, which every IPv6 entry's are (the IR check makes sure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Check {
    Word(usize),
    Half(usize),
}

/// The comparisons a leaf of `t` makes per entry, in dimension order: every checked
/// dimension, an IPv6 address's words by halves.
pub(super) fn checks(t: &Trie) -> Vec<Check> {
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
