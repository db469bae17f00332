//! The small emitters every lowering file shares: a map lookup keyed by a flow record
//! field, a `{packets, bytes}` counter bump, the rule counter bump of the shared
//! count-and-exit tail ([`emit_count`], on the [`COUNTERS_MAP`] it names, its slots
//! packed as `super::counters` lays them out), and the verdict code of an action
//! ([`verdict`]).
//!
//! A leaf of the back end: it uses the instruction encoding, the code buffer and the
//! flow record layout, nothing that lowers a rule, a classifier or a context, so every
//! one of those may use it without a loop between files.

use aya_obj::generated::bpf_func_id;

use super::{
    buffer::{CodeBuffer, Label},
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::{hooks::HookSpec, ir::Action};

/// Name of the per-CPU counters map (defined with the other maps in `maps/`).
pub const COUNTERS_MAP: &str = "counters";

/// The return code of an action that ends the program.
pub(crate) fn verdict(spec: &HookSpec, a: Action) -> i32 {
    let code = match a {
        Action::Allow => spec.verdicts.allow,
        Action::Drop => spec.verdicts.drop,
        Action::Pass => spec.verdicts.pass,
        // The tail tells a reject's word from a verdict and sends the answer.
        Action::Reject(w) => Some(w.mark()),
        Action::Count
        | Action::Redirect(_)
        | Action::RedirectIngress(_)
        | Action::RedirectCall(_) => None,
    };
    code.expect("sema only lets through actions the hook has")
}

/// Where the count tail puts the element of `COUNTERS_MAP` it looks up: just under the
/// flow record, in the classifier walk's scratch (`classify::DIMS`, the 64 bytes under
/// the record), which nothing reads once a packet is counted.
const COUNTER_ELEMENT: i16 = flow::FLOW - 8;

/// Adds 1 packet and the packet length in bytes to the counter slot whose index is
/// at `COUNTER_KEY`: slot `s` of the packed layout ([`super::counters`]), in element
/// `s >> ELEMENT_SHIFT` at byte `(s % SLOTS_PER_ELEMENT) * 16`. Clobbers r0-r5.
pub(crate) fn emit_count(b: &mut CodeBuffer) {
    use super::counters::{ELEMENT_SHIFT, SLOTS_PER_ELEMENT, SLOT_SHIFT};
    let skip = b.new_label();
    b.emit(Insn::ldx(Size::W, Reg::R1, Reg::FP, at(flow::COUNTER_KEY)));
    b.emit(Insn::alu64_imm(op::RSH, Reg::R1, ELEMENT_SHIFT as i32));
    b.emit(Insn::stx(Size::W, Reg::FP, COUNTER_ELEMENT, Reg::R1));
    b.ld_map(Reg::R1, COUNTERS_MAP);
    b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R2, COUNTER_ELEMENT as i32));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
    b.branch_imm(Cond::Eq, Reg::R0, 0, skip);
    b.emit(Insn::ldx(Size::W, Reg::R1, Reg::FP, at(flow::COUNTER_KEY)));
    b.emit(Insn::alu64_imm(
        op::AND,
        Reg::R1,
        (SLOTS_PER_ELEMENT - 1) as i32,
    ));
    b.emit(Insn::alu64_imm(op::LSH, Reg::R1, SLOT_SHIFT as i32));
    b.emit(Insn::alu64_reg(op::ADD, Reg::R0, Reg::R1));
    emit_add_packet(b);
    b.bind(skip);
}

/// `r0 = bpf_map_lookup_elem(map, &flow[key])`: the value of `map` whose key is at
/// flow record field `key`, or a jump to `miss` when there is none. Clobbers r0-r5.
pub(crate) fn emit_map_lookup(b: &mut CodeBuffer, map: &str, key: i16, miss: Label) {
    b.ld_map(Reg::R1, map);
    b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R2, at(key) as i32));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
    b.branch_imm(Cond::Eq, Reg::R0, 0, miss);
}

/// Adds 1 and the packet length to the `{u64, u64}` slot of the per-CPU array `map`
/// whose index is the `u32` at flow record field `key`. Clobbers r0-r5.
pub(crate) fn emit_bump(b: &mut CodeBuffer, map: &str, key: i16) {
    let skip = b.new_label();
    emit_map_lookup(b, map, key, skip);
    emit_add_packet(b);
    b.bind(skip);
}

/// Adds 1 and the packet length to the `{u64 packets, u64 bytes}` at `r0`.
fn emit_add_packet(b: &mut CodeBuffer) {
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R1, 1));
    b.emit(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8));
    b.emit(Insn::ldx(Size::W, Reg::R2, Reg::FP, at(flow::PKT_LEN)));
    b.emit(Insn::alu64_reg(op::ADD, Reg::R1, Reg::R2));
    b.emit(Insn::stx(Size::DW, Reg::R0, 8, Reg::R1));
}

/// Zeroes the flow record and, when the program looks addresses up in sets, writes the
/// LPM keys' prefix lengths in front of the addresses (the start of every packet
/// prologue, whatever the context).
pub(crate) fn reset_flow_record(b: &mut CodeBuffer, uses_sets: bool) {
    for off in (0..flow::SIZE).step_by(8) {
        b.emit(Insn::st_imm(Size::DW, Reg::FP, flow::FLOW + off, 0));
    }
    if uses_sets {
        write_lpm_prefix_lengths(b);
    }
}

/// Writes the LPM keys' prefix lengths in front of the flow record's addresses, so an
/// address is a whole key for the set maps' longest-prefix lookups.
pub(crate) fn write_lpm_prefix_lengths(b: &mut CodeBuffer) {
    for (plen, bits) in [
        (flow::SRC4_PLEN, 32),
        (flow::DST4_PLEN, 32),
        (flow::SRC6_PLEN, 128),
        (flow::DST6_PLEN, 128),
    ] {
        b.emit(Insn::st_imm(Size::W, Reg::FP, at(plen), bits));
    }
}
