//! `in on NAME` / `out on NAME` in netfilter programs: the device's name read through
//! the hook state, `ctx->state->in` (or `->out`) `->name`, and compared as two
//! little-endian words under the masks [`crate::syntax::iface::IfaceName::words`] gives,
//! the bytes iptables' `-i` and nft's `iifname` compare; `in index`/`out index`
//! read `net_device.ifindex` (32 bits) instead, what nft's `iif`/`oif` compare.
//!
//! Invariant: only loads through BTF pointers, no reference taken, nothing to
//! release; a NULL device (a hook without it, or a test run, whose `in` is NULL) reads
//! as sixteen zero bytes (and index 0), which is what the evaluator assumes for "no
//! device". The offsets of `nf_hook_state.in/out`, `net_device.name` and `.ifindex`
//! are not ABI and are
//! [`super::kernel_ref`] placeholders the runtime fills in from the kernel's BTF.
//! Clobbers `r1`–`r5`.

use super::{
    buffer::{CodeBuffer, Label},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::{
    hooks::NF_CTX,
    syntax::iface::{Devices, IfaceMatch, IfaceName},
};

/// Jumps to `fail` unless the packet's device matches `m` (context in `r6`).
pub(crate) fn emit_test(b: &mut CodeBuffer, m: &IfaceMatch, fail: Label) {
    let (r1, r2, r3) = (Reg::R1, Reg::R2, Reg::R3);
    b.emit(Insn::ldx(Size::DW, r1, Reg::R6, NF_CTX.state));
    b.load_kernel_field(Size::DW, r1, r1, "nf_hook_state", m.dir.state_member());
    let names = match &m.devices {
        Devices::Names(names) => names,
        Devices::Indexes(ixs) => {
            b.load_kernel_field(Size::W, r2, r1, "net_device", "ifindex");
            return emit_any(b, ixs, m.negated, fail, |b, ix, next| {
                b.branch_imm(Cond::Ne, r2, *ix as i32, next)
            });
        }
    };
    b.load_kernel_field(Size::DW, r2, r1, "net_device", "name");
    let second_word = names.iter().any(|n| n.words()[1].0 != 0);
    if second_word {
        b.load_kernel_field_at(Size::DW, r3, r1, ("net_device", "name"), 8);
    }
    emit_any(b, names, m.negated, fail, emit_name);
}

/// Falls through when one of `items` passes `test` (with `negated`: none does), else
/// jumps to `fail`; `test` falls through on a pass and jumps to its label otherwise.
fn emit_any<T>(
    b: &mut CodeBuffer,
    items: &[T],
    negated: bool,
    fail: Label,
    test: impl Fn(&mut CodeBuffer, &T, Label),
) {
    if negated {
        // Any item passing fails the rule.
        for item in items {
            let next = b.new_label();
            test(b, item, next);
            b.goto(fail);
            b.bind(next);
        }
        return;
    }
    let matched = b.new_label();
    for (i, item) in items.iter().enumerate() {
        if i + 1 == items.len() {
            test(b, item, fail);
            break;
        }
        let next = b.new_label();
        test(b, item, next);
        b.goto(matched);
        b.bind(next);
    }
    b.bind(matched);
}

/// Falls through when the name in `r2` (first word) and `r3` (second) is `name`,
/// jumps to `next` when not.
fn emit_name(b: &mut CodeBuffer, name: &IfaceName, next: Label) {
    for ((mask, value), word) in name.words().into_iter().zip([Reg::R2, Reg::R3]) {
        if mask == 0 {
            continue;
        }
        let (r4, r5) = (Reg::R4, Reg::R5);
        let compared = if mask == u64::MAX {
            word
        } else {
            b.emit(Insn::mov64_reg(r4, word));
            for i in Insn::ld_imm64(r5, mask) {
                b.emit(i);
            }
            b.emit(Insn::alu64_reg(op::AND, r4, r5));
            r4
        };
        for i in Insn::ld_imm64(r5, value) {
            b.emit(i);
        }
        b.branch_reg(Cond::Ne, compared, r5, next);
    }
}
