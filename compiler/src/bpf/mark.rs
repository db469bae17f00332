//! `mark VALUE/MASK` in netfilter programs: the packet's mark read through the
//! context's socket buffer, `ctx->skb->mark`, and compared under the mask.
//!
//! Invariant: only loads through BTF pointers (the netfilter context gives the skb as
//! a trusted pointer), no reference taken, nothing to release, nothing written: a
//! netfilter program cannot write the mark (the context is read-only and the kernel
//! gives netfilter programs no helper that sets it). The offset of `sk_buff.mark` is
//! not ABI and is a [`super::kernel_ref`] placeholder the runtime fills in from the
//! kernel's BTF. Clobbers `r1` and `r2`.

use super::{
    buffer::{CodeBuffer, Label},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::{hooks::NF_CTX, syntax::mark::MarkTest};

/// Jumps to `fail` unless the packet's mark matches `m` (context in `r6`).
pub(crate) fn emit_test(b: &mut CodeBuffer, m: &MarkTest, fail: Label) {
    let (r1, r2) = (Reg::R1, Reg::R2);
    b.emit(Insn::ldx(Size::DW, r1, Reg::R6, NF_CTX.skb));
    b.load_kernel_field(Size::W, r1, r1, "sk_buff", "mark");
    if m.mask != u32::MAX {
        // A 32-bit immediate is sign-extended by ALU64: mask in a register instead.
        for i in Insn::ld_imm64(r2, u64::from(m.mask)) {
            b.emit(i);
        }
        b.emit(Insn::alu64_reg(op::AND, r1, r2));
    }
    for i in Insn::ld_imm64(r2, u64::from(m.value)) {
        b.emit(i);
    }
    b.branch_reg(Cond::Ne, r1, r2, fail);
}
