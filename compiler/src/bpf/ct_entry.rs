//! `ct status`, `ct direction` and `ct mark` in netfilter programs: read from the
//! entry conntrack gave the packet, as nft's `ct` expression reads it. `skb->_nfct`
//! holds the `nf_conn` pointer with the `ip_conntrack_info` in its low 3 bits
//! (`nf_ct_get`); no pointer means no entry, and then no test matches (nft breaks the
//! rule). The direction is the info's (`CTINFO2DIR`: reply from `IP_CT_IS_REPLY` up);
//! the status word and the mark are loads from the entry, made a BTF pointer with
//! `bpf_rdonly_cast` (research/nat-cgroup.md, A1).
//!
//! Invariant: loads only, no reference taken (`bpf_rdonly_cast` gives an untrusted
//! pointer, nothing to release); the offsets of `sk_buff._nfct`, `nf_conn.status` and
//! `nf_conn.mark` and the id of `struct nf_conn` are [`super::kernel_ref`] placeholders
//! the runtime fills in from the kernel's BTF. Clobbers `r0`–`r5`.

use super::{
    buffer::{CodeBuffer, Label},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::{
    hooks::NF_CTX,
    syntax::{
        ct::IP_CT_IS_REPLY,
        ct_entry::{CtDir, CtEntryTests, CtMarkTest, MarkValues},
    },
};

/// Jumps to `fail` unless the packet's entry passes every test of `t` (context in
/// `r6`).
pub(crate) fn emit_test(b: &mut CodeBuffer, t: &CtEntryTests, fail: Label) {
    let (r1, r2) = (Reg::R1, Reg::R2);
    b.note("ct entry: skb->_nfct");
    b.emit(Insn::ldx(Size::DW, r1, Reg::R6, NF_CTX.skb));
    b.load_kernel_field(Size::DW, r1, r1, "sk_buff", "_nfct");
    b.emit(Insn::mov64_reg(r2, r1));
    b.emit(Insn::alu64_imm(op::AND, r1, !7)); // the nf_conn pointer
    b.branch_imm(Cond::Eq, r1, 0, fail);
    if let Some(d) = t.direction {
        b.emit(Insn::alu64_imm(op::AND, r2, 7)); // ip_conntrack_info
        let cond = match d {
            CtDir::Original => Cond::Ge,
            CtDir::Reply => Cond::Lt,
        };
        b.branch_imm(cond, r2, IP_CT_IS_REPLY as i32, fail);
    }
    if t.status.is_none() && t.mark.is_none() {
        return;
    }
    b.mov_kernel_type_id(r2, "nf_conn");
    b.call_kfunc("bpf_rdonly_cast", false, false);
    // The untrusted pointer stays in r0 for the loads below.
    if let Some(s) = t.status {
        b.load_kernel_field(Size::DW, r1, Reg::R0, "nf_conn", "status");
        b.emit(Insn::alu64_imm(op::AND, r1, s.bits as i32));
        let cond = if s.negated { Cond::Ne } else { Cond::Eq };
        b.branch_imm(cond, r1, 0, fail);
    }
    if let Some(m) = &t.mark {
        b.load_kernel_field(Size::W, r1, Reg::R0, "nf_conn", "mark");
        emit_mark(b, m, fail);
    }
}

/// Jumps to `fail` unless the mark in `r1` passes `m`. Clobbers `r2`.
fn emit_mark(b: &mut CodeBuffer, m: &CtMarkTest, fail: Label) {
    let (hit, miss) = match m.negated {
        false => (b.new_label(), fail),
        true => (fail, b.new_label()),
    };
    match &m.values {
        MarkValues::Masked(t) => {
            if t.mask != u32::MAX {
                // A 32-bit immediate is sign-extended by ALU64: mask in a register.
                for i in Insn::ld_imm64(Reg::R2, u64::from(t.mask)) {
                    b.emit(i);
                }
                b.emit(Insn::alu64_reg(op::AND, Reg::R1, Reg::R2));
            }
            b.branch32_imm(Cond::Eq, Reg::R1, t.value, hit);
        }
        MarkValues::Ranges(ranges) => {
            for &(lo, hi) in ranges {
                if lo == hi {
                    b.branch32_imm(Cond::Eq, Reg::R1, lo, hit);
                    continue;
                }
                let next = b.new_label();
                b.branch32_imm(Cond::Lt, Reg::R1, lo, next);
                b.branch32_imm(Cond::Le, Reg::R1, hi, hit);
                b.bind(next);
            }
        }
    }
    b.goto(miss);
    b.bind(if m.negated { miss } else { hit });
}
