//! `comm ...`: the calling process's command name, copied by
//! `bpf_get_current_comm` (16 bytes, NUL-padded: `TASK_COMM_LEN`) into stack scratch
//! and compared, as two 8-byte words, with each name of the test.
//!
//! Invariant: only at hooks that run in the calling process's context (the
//! socket-call hooks: sema lets `comm` through nowhere else); the scratch is the route
//! lookup's ([`super::route::FIB`]), which those programs never use and which no value
//! lives in between two tests. Clobbers `r0`–`r5`.

use aya_obj::generated::bpf_func_id;

use super::{
    buffer::{CodeBuffer, Label},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::syntax::comm::{Comm, CommMatch, COMM_LEN};

/// Where the command is copied to.
const SCRATCH: i16 = super::route::FIB;

/// Jumps to `fail` unless the calling process's command matches `c`.
pub(crate) fn emit_test(b: &mut CodeBuffer, c: &CommMatch, fail: Label) {
    let (r1, r2, r3, r4) = (Reg::R1, Reg::R2, Reg::R3, Reg::R4);
    b.note(format!("{c}: the caller's command"));
    b.emit(Insn::mov64_reg(r1, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, r1, i32::from(SCRATCH)));
    b.emit(Insn::mov64_imm(r2, COMM_LEN as i32));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_get_current_comm as u32));
    b.emit(Insn::ldx(Size::DW, r1, Reg::FP, SCRATCH));
    b.emit(Insn::ldx(Size::DW, r2, Reg::FP, SCRATCH + 8));
    let matched = b.new_label();
    // One branch per name, on the two words' differences: a branch on `r1` or `r2`
    // themselves would teach the verifier their value on one side, and the paths
    // into the next name's test, one knowing `r1` and one not, would not prune.
    for name in &c.names {
        let [lo, hi] = words(name);
        for i in Insn::ld_imm64(r3, lo) {
            b.emit(i);
        }
        b.emit(Insn::alu64_reg(op::XOR, r3, r1));
        for i in Insn::ld_imm64(r4, hi) {
            b.emit(i);
        }
        b.emit(Insn::alu64_reg(op::XOR, r4, r2));
        b.emit(Insn::alu64_reg(op::OR, r3, r4));
        b.branch_imm(Cond::Eq, r3, 0, matched);
    }
    if c.negated {
        let unmatched = b.new_label();
        b.goto(unmatched);
        b.bind(matched);
        b.goto(fail);
        b.bind(unmatched);
    } else {
        b.goto(fail);
        b.bind(matched);
    }
}

/// The two words of `name` as 8-byte loads from the stack read them.
fn words(name: &Comm) -> [u64; 2] {
    let word = |i: usize| u64::from_ne_bytes(name[i..i + 8].try_into().expect("8 bytes"));
    [word(0), word(8)]
}
