//! IP header field tests (`ttl`, `hoplimit`, `dscp`, `ecn`, `length`; `syntax::ipfield`): where
//! each field lives in the flow record, the copies the packet and netfilter prologues
//! make when a rule of the program tests a field ([`Copies`]), and the compares a
//! rule's test becomes.
//!
//! Invariant: a field test runs after its rule's family (or IP) test
//! (`ir::flow::rule_tests` lists it first), so the byte it reads is the header field
//! of the packet's IP header, copied by the prologue of every program that tests it;
//! the test passes exactly when the value is in one of the test's ranges, and a test
//! sema lets through (never one every value passes) always has a branch to `fail`,
//! which the rule walk's layout counts on. Clobbers `r1`.

use super::{
    buffer::{CodeBuffer, Label},
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::syntax::ipfield::{Field, FieldTest};

/// Which IP header bytes a program's prologue copies into the flow record: only those
/// its rules test, so programs without such tests keep their code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Copies {
    /// The TTL or hop limit ([`flow::HOP_LIMIT`]).
    pub hop_limit: bool,
    /// The TOS byte or traffic class ([`flow::TOS`]), for `dscp` and `ecn`.
    pub tos: bool,
    /// The packet's length ([`flow::LENGTH`]).
    pub length: bool,
}

impl Copies {
    /// The copies the tests `fields` need.
    pub(crate) fn of<'a>(fields: impl IntoIterator<Item = &'a FieldTest>) -> Copies {
        let mut c = Copies::default();
        for t in fields {
            match t.field {
                Field::Ttl | Field::HopLimit => c.hop_limit = true,
                Field::Dscp | Field::Ecn => c.tos = true,
                Field::Length => c.length = true,
            }
        }
        c
    }

    /// Every copy (for the prologue tests).
    #[cfg(test)]
    pub(crate) const ALL: Copies = Copies {
        hop_limit: true,
        tos: true,
        length: true,
    };
}

/// Copies the tested fields of the IPv4 header at `ip + base` (20 bytes readable there)
/// into the flow record. Clobbers `r1`.
pub(crate) fn emit_copy_v4(b: &mut CodeBuffer, c: Copies, ip: Reg, base: i16) {
    if c.hop_limit {
        b.emit(Insn::ldx(Size::B, Reg::R1, ip, base + 8));
        b.emit(Insn::stx(Size::B, Reg::FP, at(flow::HOP_LIMIT), Reg::R1));
    }
    if c.tos {
        b.emit(Insn::ldx(Size::B, Reg::R1, ip, base + 1));
        b.emit(Insn::stx(Size::B, Reg::FP, at(flow::TOS), Reg::R1));
    }
    if c.length {
        // The total length, big-endian at byte 2.
        b.emit(Insn::ldx(Size::H, Reg::R1, ip, base + 2));
        b.emit(Insn::be(Reg::R1, 16));
        b.emit(Insn::stx(Size::W, Reg::FP, at(flow::LENGTH), Reg::R1));
    }
}

/// Copies the tested fields of the IPv6 header at `ip + base` (40 bytes readable there)
/// into the flow record. Clobbers `r1`.
pub(crate) fn emit_copy_v6(b: &mut CodeBuffer, c: Copies, ip: Reg, base: i16) {
    if c.hop_limit {
        b.emit(Insn::ldx(Size::B, Reg::R1, ip, base + 7));
        b.emit(Insn::stx(Size::B, Reg::FP, at(flow::HOP_LIMIT), Reg::R1));
    }
    if c.tos {
        // The traffic class straddles the first two bytes (after the 4-bit version):
        // as a big-endian half word, bits 4 to 11.
        b.emit(Insn::ldx(Size::H, Reg::R1, ip, base));
        b.emit(Insn::be(Reg::R1, 16));
        b.emit(Insn::alu64_imm(op::RSH, Reg::R1, 4));
        b.emit(Insn::stx(Size::B, Reg::FP, at(flow::TOS), Reg::R1));
    }
    if c.length {
        // The payload length, big-endian at byte 4, plus the fixed header.
        b.emit(Insn::ldx(Size::H, Reg::R1, ip, base + 4));
        b.emit(Insn::be(Reg::R1, 16));
        b.emit(Insn::alu64_imm(op::ADD, Reg::R1, 40));
        b.emit(Insn::stx(Size::W, Reg::FP, at(flow::LENGTH), Reg::R1));
    }
}

/// Where the field is kept in the flow record, its width there, and the shift and
/// mask that take it out of the byte it shares (`None`: it has the slot alone).
pub(crate) fn slot(field: Field) -> (i16, Size, i32, Option<i32>) {
    match field {
        Field::Ttl | Field::HopLimit => (flow::HOP_LIMIT, Size::B, 0, None),
        Field::Dscp => (flow::TOS, Size::B, 2, Some(0x3f)),
        Field::Ecn => (flow::TOS, Size::B, 0, Some(0x03)),
        Field::Length => (flow::LENGTH, Size::W, 0, None),
    }
}

/// Jumps to `fail` unless the packet's field is in one of `t`'s ranges.
pub(crate) fn emit_test(b: &mut CodeBuffer, t: &FieldTest, fail: Label) {
    let r1 = Reg::R1;
    let (off, size, shift, mask) = slot(t.field);
    b.emit(Insn::ldx(size, r1, Reg::FP, at(off)));
    if shift != 0 {
        b.emit(Insn::alu64_imm(op::RSH, r1, shift));
    }
    if let Some(mask) = mask {
        b.emit(Insn::alu64_imm(op::AND, r1, mask));
    }
    let pass = b.new_label();
    let last = t.ranges.len() - 1;
    for (i, &(lo, hi)) in t.ranges.iter().enumerate() {
        // The last range fails the rule; an earlier one tries the next range.
        let miss = if i == last { fail } else { b.new_label() };
        let (lo, hi) = (lo as i32, hi as i32);
        if lo == hi {
            b.branch_imm(Cond::Ne, r1, lo, miss);
        } else {
            if lo > 0 {
                b.branch_imm(Cond::Lt, r1, lo, miss);
            }
            if hi < t.field.max() as i32 {
                b.branch_imm(Cond::Gt, r1, hi, miss);
            }
        }
        if i != last {
            b.goto(pass);
            b.bind(miss);
        }
    }
    b.bind(pass);
}
