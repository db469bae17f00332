//! `ct state ...` in netfilter programs: read, not looked up. A netfilter hook runs
//! after conntrack (a priority above -200), which has already put the packet's entry
//! and its `ip_conntrack_info` into `sk_buff._nfct`, so the program reads that word
//! through `ctx->skb` and classifies it exactly as `nft_ct_get_eval` does
//! ([`crate::syntax::ct::from_nfct`], which the bytes below mirror branch for branch).
//! The state goes into the flow record's [`flow::CT`] byte in the encoding the XDP/TC
//! derivation ([`super::ct`]) uses, so the rule walk reads it the same way.
//!
//! Invariant: no reference is taken (the word is a number, never dereferenced), so
//! nothing needs releasing; the offset of `sk_buff._nfct` is not ABI and is a
//! [`super::kernel_ref`] placeholder the runtime fills in from the kernel's BTF.
//! Reading through the BTF pointer needs CAP_PERFMON at load.

use super::{
    buffer::CodeBuffer,
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::{
    hooks::NF_CTX,
    syntax::ct::{CtState, IP_CT_IS_REPLY, IP_CT_UNTRACKED},
};

/// Derives the packet's state from `ctx->skb->_nfct` (context in `r6`) into `r7`,
/// then stores it at [`flow::CT`]. Clobbers `r1`, `r2` and `r7`.
pub(crate) fn emit_derive(b: &mut CodeBuffer) {
    let (r1, r2, r7) = (Reg::R1, Reg::R2, Reg::R7);
    let (tracked, store) = (b.new_label(), b.new_label());
    b.emit(Insn::ldx(Size::DW, r1, Reg::R6, NF_CTX.skb));
    b.load_kernel_field(Size::DW, r1, r1, "sk_buff", "_nfct");
    b.emit(Insn::mov64_reg(r2, r1));
    b.emit(Insn::alu64_imm(op::AND, r2, 7)); // ip_conntrack_info
    b.emit(Insn::alu64_imm(op::AND, r1, !7)); // the nf_conn pointer
    b.branch_imm(Cond::Ne, r1, 0, tracked);
    set(b, CtState::Untracked);
    b.branch_imm(Cond::Eq, r2, IP_CT_UNTRACKED as i32, store);
    set(b, CtState::Invalid);
    b.goto(store);
    b.bind(tracked);
    b.emit(Insn::alu64_imm(op::MOD, r2, IP_CT_IS_REPLY as i32));
    for (info, s) in [(0, CtState::Established), (1, CtState::Related)] {
        set(b, s);
        b.branch_imm(Cond::Eq, r2, info, store);
    }
    set(b, CtState::New);
    b.bind(store);
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::CT), r7));
}

fn set(b: &mut CodeBuffer, s: CtState) {
    b.emit(Insn::mov64_imm(Reg::R7, i32::from(s.value())));
}
