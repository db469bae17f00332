//! `mark VALUE/MASK`: the packet's mark compared under the mask, read in netfilter
//! programs through the context's socket buffer, `ctx->skb->mark`, and in TC programs
//! from the context, `__sk_buff.mark` (the kernel rewrites that load to `skb->mark`).
//!
//! Invariant: only loads (at netfilter through BTF pointers: the context gives the skb
//! as a trusted pointer), no reference taken, nothing to release, nothing written: a
//! netfilter program cannot write the mark (the context is read-only and the kernel
//! gives netfilter programs no helper that sets it). The offset of `sk_buff.mark` is
//! not ABI and is a [`super::kernel_ref`] placeholder the runtime fills in from the
//! kernel's BTF. Clobbers `r1` and `r2`.

use super::{
    buffer::{CodeBuffer, Label},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::{
    hooks::{Context, HookSpec, NF_CTX},
    syntax::mark::MarkTest,
};

/// `__sk_buff.mark`, the mark in a TC program's context.
const SKB_MARK: i16 = std::mem::offset_of!(aya_ebpf_bindings::bindings::__sk_buff, mark) as i16;

/// Jumps to `fail` unless the packet's mark matches `m` (context in `r6`).
pub(crate) fn emit_test(b: &mut CodeBuffer, spec: &HookSpec, m: &MarkTest, fail: Label) {
    let (r1, r2) = (Reg::R1, Reg::R2);
    if matches!(spec.context, Context::Netfilter) {
        b.emit(Insn::ldx(Size::DW, r1, Reg::R6, NF_CTX.skb));
        b.load_kernel_field(Size::W, r1, r1, "sk_buff", "mark");
    } else {
        b.emit(Insn::ldx(Size::W, r1, Reg::R6, SKB_MARK));
    }
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
