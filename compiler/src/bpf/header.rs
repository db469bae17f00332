//! IP header field tests (`ttl`, `hoplimit`; `syntax::ipfield`): where each field
//! lives in the flow record, which the packet and netfilter prologues fill when a
//! rule of the program tests a field, and the compares a rule's test becomes.
//!
//! Invariant: a field test runs after its rule's family test (`ir::flow::rule_tests`
//! lists the family first), so the byte it reads is the header field of that family;
//! the test passes exactly when the value is in one of the test's ranges, and a test
//! sema lets through (never one every value passes) always has a branch to `fail`,
//! which the rule walk's layout counts on. Clobbers `r1`.

use super::{
    buffer::{CodeBuffer, Label},
    flow::{self, at},
    insn::{Cond, Insn, Reg, Size},
};
use crate::syntax::ipfield::{Field, FieldTest};

/// Where the field is kept in the flow record, and its width there.
pub(crate) fn slot(field: Field) -> (i16, Size) {
    match field {
        Field::Ttl | Field::HopLimit => (flow::HOP_LIMIT, Size::B),
    }
}

/// Jumps to `fail` unless the packet's field is in one of `t`'s ranges.
pub(crate) fn emit_test(b: &mut CodeBuffer, t: &FieldTest, fail: Label) {
    let r1 = Reg::R1;
    let (off, size) = slot(t.field);
    b.emit(Insn::ldx(size, r1, Reg::FP, at(off)));
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
