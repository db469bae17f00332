//! Lowering of a [`Classifier`]: the decision-tree walk over array maps.
//!
//! For the packet's family: copy the tree's dimensions from the flow record into a
//! scratch area as host-order `u32`s, then one array lookup per level (`node =
//! nodes[idx]`; a leaf ends the walk; otherwise `idx = dim <= threshold ? left :
//! right`, the dimension read at a variable offset of the scratch area), then check the leaf's entries in
//! order: the first whose every (lo, hi), TCP flags and L4 requirement hold names the
//! rule; its counter slot and verdict come from the entry record, and the walk jumps
//! to the shared count-and-exit tail. A miss (no entry, a lookup out of range, a
//! packet of another family) falls through to the next step.
//!
//! The map contents are written here too ([`tables`]), so the record layout the walk
//! reads ([`NODE_SIZE`], [`entry_size`]) has one owner. Invariant: the code's length
//! depends on the tree's depth, leaf size and dimensions, never on the number of
//! rules.

use aya_obj::generated::bpf_func_id;

use super::{
    buffer::{CodeBuffer, Label},
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::{
    hooks::HookSpec,
    ir::classifier::{Classifier, Dim, Node, Tree},
    ir::Program,
    syntax::ast::Family,
};

/// Scratch area for the dimensions: 16 slots of 4 bytes below the flow record, all
/// written, so that a node's dimension offset masked to `0..=60` reads initialized
/// stack.
pub const DIMS: i16 = flow::FLOW - 64;

/// Map names of tree `k` of a classifier: (nodes, entries).
pub fn map_names(c: &Classifier, k: usize) -> (String, String) {
    (
        format!("c{}t{k}_nodes", c.id),
        format!("c{}t{k}_rules", c.id),
    )
}

/// Stack slots of the best match so far when a family has several trees: rule
/// index (`u32::MAX` for none), counter slot, verdict. Inside the scratch area, past
/// the largest family's dimensions.
const BEST_RULE: i16 = DIMS + 44;
const BEST_COUNTER: i16 = DIMS + 48;
const BEST_VERDICT: i16 = DIMS + 52;

/// Bytes of a node record: leaf marker (0 = inner, else entries + 1), then for an
/// inner node the dimension's byte offset in the scratch area, the threshold, the left
/// and right child; for a leaf its first entry.
pub const NODE_SIZE: usize = 24;

/// Bytes of an entry record of `t`: (lo, hi) per dimension, flags mask/value, L4 byte,
/// pad, counter slot, verdict, rule index (the order between trees).
pub fn entry_size(t: &Tree) -> usize {
    8 * t.dims.len() + 16
}

/// Offset of the counter slot in an entry record of `t` (the verdict follows it).
pub fn entry_counter_offset(t: &Tree) -> usize {
    8 * t.dims.len() + 4
}

/// Offset of the TCP flags mask in an entry record of `t` (value, then L4 byte).
pub fn entry_flags_offset(t: &Tree) -> usize {
    8 * t.dims.len()
}

/// The node and entry records of tree `k` of a classifier: `(map, value size,
/// bytes)`, in the layout [`emit`] reads.
pub fn tables(
    spec: &HookSpec,
    p: &Program,
    c: &Classifier,
    k: usize,
    t: &Tree,
) -> [(String, usize, Vec<u8>); 2] {
    let (nodes_map, rules_map) = map_names(c, k);
    let node_size = NODE_SIZE;
    let mut nodes = vec![0u8; node_size * t.nodes.len()];
    for (n, rec) in t.nodes.iter().zip(nodes.chunks_mut(node_size)) {
        let mut put = |at: usize, v: u32| rec[at..at + 4].copy_from_slice(&v.to_le_bytes());
        match n {
            Node::Leaf { start, len } => {
                put(0, len + 1);
                put(4, *start);
            }
            Node::Inner {
                dim,
                threshold,
                left,
                right,
            } => {
                put(4, 4 * *dim as u32);
                put(8, *threshold);
                put(12, *left);
                put(16, *right);
            }
        }
    }
    let entry_size = entry_size(t);
    let (flags_at, counter_at) = (entry_flags_offset(t), entry_counter_offset(t));
    let mut entries = vec![0u8; entry_size * t.leaf_entries.len()];
    for (&e, rec) in t.leaf_entries.iter().zip(entries.chunks_mut(entry_size)) {
        let e = &t.entries[e as usize];
        let rule = &p.rules[e.rule as usize];
        for d in 0..t.dims.len() {
            rec[8 * d..8 * d + 4].copy_from_slice(&e.lo[d].to_le_bytes());
            rec[8 * d + 4..8 * d + 8].copy_from_slice(&e.hi[d].to_le_bytes());
        }
        rec[flags_at] = e.tcp_flags.0;
        rec[flags_at + 1] = e.tcp_flags.1;
        rec[flags_at + 2] = u8::from(e.needs_l4);
        rec[counter_at..counter_at + 4].copy_from_slice(&rule.counter.to_le_bytes());
        let verdict = super::lower::verdict(spec, rule.action);
        rec[counter_at + 4..counter_at + 8].copy_from_slice(&verdict.to_le_bytes());
        rec[counter_at + 8..counter_at + 12].copy_from_slice(&e.rule.to_le_bytes());
    }
    [
        (nodes_map, node_size, nodes),
        (rules_map, entry_size, entries),
    ]
}

pub fn emit(b: &mut CodeBuffer, _spec: &HookSpec, prog: &Program, c: &Classifier, found: Label) {
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
    for family in [Family::V4, Family::V6] {
        let trees: Vec<(usize, &Tree)> = c
            .trees
            .iter()
            .enumerate()
            .filter(|(_, t)| t.family == family)
            .collect();
        let Some(&(_, first)) = trees.first() else {
            continue;
        };
        let other = b.new_label();
        b.emit(Insn::ldx(Size::B, Reg::R1, Reg::FP, at(flow::L3)));
        let l3 = if family == Family::V4 { 4 } else { 6 };
        b.branch_imm(Cond::Ne, Reg::R1, l3, other);
        emit_dims(b, first);
        if let [(k, t)] = trees.as_slice() {
            emit_tree(b, c, *k, t, Some(found), miss);
        } else {
            b.emit(Insn::st_imm(Size::W, Reg::FP, BEST_RULE, -1));
            for (k, t) in &trees {
                let done = b.new_label();
                // A tree whose first rule comes after the best match cannot beat it.
                b.emit(Insn::ldx(Size::W, Reg::R1, Reg::FP, BEST_RULE));
                b.branch_imm(Cond::Le, Reg::R1, t.entries[0].rule as i32, done);
                emit_tree(b, c, *k, t, None, done);
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

/// The verdict is an i32 (TC_ACT_UNSPEC is -1): sign-extend a loaded word.
fn sign_extend(b: &mut CodeBuffer, r: Reg) {
    b.emit(Insn::alu64_imm(op::LSH, r, 32));
    b.emit(Insn::alu64_imm(op::ARSH, r, 32));
}

/// Zeroes the scratch area and copies the family's dimensions into it.
fn emit_dims(b: &mut CodeBuffer, t: &Tree) {
    let r1 = Reg::R1;
    for slot in (0..64).step_by(8) {
        b.emit(Insn::st_imm(Size::DW, Reg::FP, DIMS + slot, 0));
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
        b.emit(Insn::stx(Size::W, Reg::FP, dim_at(d), r1));
    }
}

fn dim_at(d: usize) -> i16 {
    DIMS + 4 * d as i16
}

/// The walk of tree `k`. On a match: with `found`, set the counter key and verdict
/// and jump there; without, record the match as the best if it comes first. Every
/// other way out goes to `done`.
fn emit_tree(
    b: &mut CodeBuffer,
    c: &Classifier,
    k: usize,
    t: &Tree,
    found: Option<Label>,
    done: Label,
) {
    let miss = done;
    let (r0, r1, r2, r3, r7, r8, r9) = (
        Reg::R0,
        Reg::R1,
        Reg::R2,
        Reg::R3,
        Reg::R7,
        Reg::R8,
        Reg::R9,
    );
    let (nodes_map, rules_map) = map_names(c, k);
    let lookup = |b: &mut CodeBuffer, map: &str, key: Reg| {
        b.emit(Insn::stx(Size::W, Reg::FP, at(flow::COUNTER_KEY), key));
        b.ld_map(r1, map);
        b.emit(Insn::mov64_reg(r2, Reg::FP));
        b.emit(Insn::alu64_imm(op::ADD, r2, at(flow::COUNTER_KEY) as i32));
        b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
        b.branch_imm(Cond::Eq, r0, 0, miss);
    };
    // The walk: node index in r7; one binary decision per level.
    let leaf = b.new_label();
    b.emit(Insn::mov64_imm(r7, 0));
    for _level in 0..=t.depth {
        let left = b.new_label();
        lookup(b, &nodes_map, r7);
        b.emit(Insn::ldx(Size::W, r1, r0, 0));
        b.branch_imm(Cond::Ne, r1, 0, leaf);
        b.emit(Insn::ldx(Size::W, r2, r0, 4));
        b.emit(Insn::alu64_imm(op::AND, r2, 0x3c));
        b.emit(Insn::mov64_reg(r3, Reg::FP));
        b.emit(Insn::alu64_reg(op::ADD, r3, r2));
        b.emit(Insn::ldx(Size::W, r1, r3, DIMS));
        b.emit(Insn::ldx(Size::W, r2, r0, 8));
        b.emit(Insn::ldx(Size::W, r7, r0, 12));
        b.branch_reg(Cond::Le, r1, r2, left);
        b.emit(Insn::ldx(Size::W, r7, r0, 16));
        b.bind(left);
    }
    // Deeper than the tree: cannot happen for the tree's own maps.
    b.goto(miss);

    // Leaf: r8 = number of entries, r7 = first entry.
    b.bind(leaf);
    b.emit(Insn::mov64_reg(r8, r1));
    b.emit(Insn::alu64_imm(op::SUB, r8, 1));
    b.emit(Insn::ldx(Size::W, r7, r0, 4));
    let flags_at = entry_flags_offset(t) as i16;
    let counter_at = entry_counter_offset(t) as i16;
    // A tree whose entries check nothing (its rules match every packet of the family)
    // decides on a leaf's first entry: the rest would be unreachable code, which the
    // kernel rejects.
    let checks_nothing = t.checked_dims.is_empty() && !t.checks_flags && !t.checks_l4;
    let entries = if checks_nothing { 1 } else { t.max_leaf };
    for i in 0..entries {
        let next = b.new_label();
        b.branch_imm(Cond::Le, r8, i as i32, miss);
        b.emit(Insn::mov64_reg(r1, r7));
        b.emit(Insn::alu64_imm(op::ADD, r1, i as i32));
        lookup(b, &rules_map, r1);
        for &d in &t.checked_dims {
            b.emit(Insn::ldx(Size::W, r1, Reg::FP, dim_at(d)));
            b.emit(Insn::ldx(Size::W, r2, r0, 8 * d as i16));
            b.branch_reg(Cond::Lt, r1, r2, next);
            b.emit(Insn::ldx(Size::W, r2, r0, 8 * d as i16 + 4));
            b.branch_reg(Cond::Gt, r1, r2, next);
        }
        if t.checks_flags {
            b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::TCP_FLAGS)));
            b.emit(Insn::ldx(Size::B, r2, r0, flags_at));
            b.emit(Insn::alu64_reg(op::AND, r1, r2));
            b.emit(Insn::ldx(Size::B, r2, r0, flags_at + 1));
            b.branch_reg(Cond::Ne, r1, r2, next);
        }
        if t.checks_l4 {
            b.emit(Insn::ldx(Size::B, r1, r0, flags_at + 2));
            b.emit(Insn::ldx(Size::B, r2, Reg::FP, at(flow::L4_OK)));
            b.branch_reg(Cond::Gt, r1, r2, next);
        }
        match found {
            Some(found) => {
                b.emit(Insn::ldx(Size::W, r1, r0, counter_at));
                b.emit(Insn::stx(Size::W, Reg::FP, at(flow::COUNTER_KEY), r1));
                b.emit(Insn::ldx(Size::W, r9, r0, counter_at + 4));
                sign_extend(b, r9);
                b.goto(found);
            }
            None => {
                // Entries are in rule order, so no later entry of this leaf is better.
                b.emit(Insn::ldx(Size::W, r1, r0, counter_at + 8));
                b.emit(Insn::ldx(Size::W, r2, Reg::FP, BEST_RULE));
                b.branch_reg(Cond::Ge, r1, r2, done);
                b.emit(Insn::stx(Size::W, Reg::FP, BEST_RULE, r1));
                b.emit(Insn::ldx(Size::W, r1, r0, counter_at));
                b.emit(Insn::stx(Size::W, Reg::FP, BEST_COUNTER, r1));
                b.emit(Insn::ldx(Size::W, r1, r0, counter_at + 4));
                b.emit(Insn::stx(Size::W, Reg::FP, BEST_VERDICT, r1));
                b.goto(done);
            }
        }
        b.bind(next);
    }
    if !checks_nothing {
        b.goto(miss);
    }
}
