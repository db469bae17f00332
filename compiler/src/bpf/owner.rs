//! `owner ...`: the user or group owning the socket that sent the packet.
//!
//! In netfilter programs (output, postrouting) the chain `xt_owner` and nft's `meta
//! skuid` follow, read through BTF pointers from `ctx->skb`: `skb->sk` made a full
//! socket as `skb_to_full_sk` does (a request socket, a SYN-ACK's, stands for its
//! listener, `skc_listener`, cast back to a `struct sock` with `bpf_rdonly_cast`; a
//! time-wait socket is not full and owns nothing, as nft says), the socket's network
//! namespace equal to the hook's, then `sk_socket->file->f_cred->fsuid` (or `fsgid`).
//! A missing link anywhere is "no owner", which only a negated test (`owner !uid`)
//! matches. At TC egress,
//! `bpf_get_socket_uid(skb)`, which answers the kernel's overflow uid for a packet
//! without a full socket ([`crate::syntax::owner`] says what that means for a set).
//!
//! Invariant: loads only (nothing written, no reference taken: `bpf_rdonly_cast`
//! gives an untrusted pointer, which needs no release); every struct offset and the
//! type id are [`super::kernel_ref`] placeholders filled in from the running kernel's
//! BTF. Clobbers `r0`–`r5`. At the socket-call hooks the owner is the calling
//! process's (`bpf_get_current_uid_gid`, the real uid and gid): the hook runs in the
//! context of the process that makes the call.

use super::{
    buffer::{CodeBuffer, Label},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::{
    hooks::{HookSpec, OwnerCap, NF_CTX},
    syntax::{ids::IdKind, owner::OwnerMatch},
};
use aya_obj::generated::bpf_func_id;

/// `TCP_TIME_WAIT` and `TCP_NEW_SYN_RECV` (`include/net/tcp_states.h`): the states
/// of the sockets that are not full sockets.
const TCP_TIME_WAIT: i32 = 6;
const TCP_NEW_SYN_RECV: i32 = 12;

/// Jumps to `fail` unless the packet's owner is in `o` (context in `r6`).
pub(crate) fn emit_test(b: &mut CodeBuffer, spec: &HookSpec, o: &OwnerMatch, fail: Label) {
    let ok = b.new_label();
    match spec.caps.owner {
        OwnerCap::UidGid => {
            let none = if o.socketless { ok } else { fail };
            emit_netfilter_owner(b, o.kind(), none);
        }
        OwnerCap::Uid => {
            // No socket reads as the overflow uid, which `o.ids` holds exactly when
            // `o.socketless`.
            b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
            b.emit(Insn::call(bpf_func_id::BPF_FUNC_get_socket_uid as u32));
            b.emit(Insn::mov64_reg(Reg::R1, Reg::R0));
        }
        OwnerCap::Caller => {
            // `(u64)gid << 32 | uid` of the calling task (its real ids).
            b.emit(Insn::call(bpf_func_id::BPF_FUNC_get_current_uid_gid as u32));
            b.emit(Insn::mov64_reg(Reg::R1, Reg::R0));
            match o.kind() {
                IdKind::Uid => b.emit(Insn::alu32_reg(op::MOV, Reg::R1, Reg::R1)),
                IdKind::Gid => b.emit(Insn::alu64_imm(op::RSH, Reg::R1, 32)),
            }
        }
        OwnerCap::None => {
            // Sema refuses `owner` here; a program that got one anyway never matches.
            debug_assert!(false, "owner test at {}", spec.name);
            b.goto(fail);
            b.bind(ok);
            return;
        }
    }
    emit_in_ranges(b, Reg::R1, &o.ids.ranges, fail, ok);
}

/// Leaves the owner's id in `r1`, or jumps to `none` when the packet has none.
fn emit_netfilter_owner(b: &mut CodeBuffer, kind: IdKind, none: Label) {
    let (r0, r1, r2, r3) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3);
    let full = b.new_label();
    b.note("owner: skb->sk as a full socket");
    b.emit(Insn::ldx(Size::DW, r1, Reg::R6, NF_CTX.skb));
    b.load_kernel_field(Size::DW, r1, r1, "sk_buff", "sk");
    b.branch_imm(Cond::Eq, r1, 0, none);
    b.load_kernel_field(Size::B, r2, r1, "sock_common", "skc_state");
    b.branch_imm(Cond::Eq, r2, TCP_TIME_WAIT, none);
    b.branch_imm(Cond::Ne, r2, TCP_NEW_SYN_RECV, full);
    // A request socket's listener: a plain number to the verifier (the union's first
    // member is `skc_flags`), so cast it.
    b.load_kernel_field(Size::DW, r1, r1, "sock_common", "skc_listener");
    b.mov_kernel_type_id(r2, "sock");
    b.call_kfunc("bpf_rdonly_cast", false, false);
    b.emit(Insn::mov64_reg(r1, r0));
    b.branch_imm(Cond::Eq, r1, 0, none);
    b.bind(full);
    b.load_kernel_field(Size::DW, r2, r1, "sock_common", "skc_net");
    b.emit(Insn::ldx(Size::DW, r3, Reg::R6, NF_CTX.state));
    b.load_kernel_field(Size::DW, r3, r3, "nf_hook_state", "net");
    b.branch_reg(Cond::Ne, r2, r3, none);
    b.load_kernel_field(Size::DW, r1, r1, "sock", "sk_socket");
    b.branch_imm(Cond::Eq, r1, 0, none);
    b.load_kernel_field(Size::DW, r1, r1, "socket", "file");
    b.branch_imm(Cond::Eq, r1, 0, none);
    b.load_kernel_field(Size::DW, r1, r1, "file", "f_cred");
    b.branch_imm(Cond::Eq, r1, 0, none);
    let id = match kind {
        IdKind::Uid => "fsuid",
        IdKind::Gid => "fsgid",
    };
    b.load_kernel_field(Size::W, r1, r1, "cred", id);
}

/// Jumps to `fail` unless the 32-bit id in `r` is in one of `ranges`; binds `ok`
/// where it goes on.
fn emit_in_ranges(b: &mut CodeBuffer, r: Reg, ranges: &[(u32, u32)], fail: Label, ok: Label) {
    for &(lo, hi) in ranges {
        if lo == hi {
            b.branch32_imm(Cond::Eq, r, lo, ok);
            continue;
        }
        let next = b.new_label();
        b.branch32_imm(Cond::Lt, r, lo, next);
        b.branch32_imm(Cond::Le, r, hi, ok);
        b.bind(next);
    }
    b.goto(fail);
    b.bind(ok);
}
