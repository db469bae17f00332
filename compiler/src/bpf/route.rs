//! `route local|forward` at XDP and TC ingress, lowered to one `bpf_fib_lookup` per
//! packet. The lookup reads the kernel's FIB as it is when the packet arrives (so
//! addresses and routes added or removed after `apply` count at once; sockc keeps no
//! address table of its own), for the packet's addresses and its ingress device, with
//! `BPF_FIB_LOOKUP_SKIP_NEIGH` (an unresolved next hop still counts as forwarded) and
//! `tot_len` 0 (no MTU check).
//!
//! The first `route` test a packet reaches looks it up and stores the class
//! ([`RouteClass`] value) in the flow record at [`flow::ROUTE`]; every later test of
//! the same packet reads that byte, so a program looks up at most once per packet, and
//! only programs with a `route` test contain the call. `RouteClass::of_fib_result`
//! sorts the answer; the bytes below mirror it.
//!
//! Invariant: the lookup runs only for IP packets (a `route` match is an IP match, so
//! the rule's earlier tests saw `L3` 4 or 6). Clobbers `r0`–`r5` and `r7`.

use aya_obj::generated::bpf_func_id;

use super::{
    buffer::{CodeBuffer, Label},
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
    socket::TUPLE,
};
use crate::{
    hooks::{HookKind, HookSpec},
    syntax::route::RouteClass,
};

/// Stack scratch for `struct bpf_fib_lookup` (64 bytes), below the conntrack options.
pub(crate) const FIB: i16 = TUPLE - 16 - FIB_SIZE;
const FIB_SIZE: i16 = 64;
// `struct bpf_fib_lookup` (uapi): family @0, ifindex @8, addresses @16 and @32.
const FIB_FAMILY: i16 = 0;
const FIB_IFINDEX: i16 = 8;
const FIB_SRC: i16 = 16;
const FIB_DST: i16 = 32;
const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
/// `xdp_md.ingress_ifindex` and `__sk_buff.ingress_ifindex`.
const XDP_INGRESS_IFINDEX: i16 = 12;
const SKB_INGRESS_IFINDEX: i16 = 36;

/// Emits one `route` test: a packet of another class goes to `fail`.
pub(crate) fn emit_test(b: &mut CodeBuffer, spec: &HookSpec, class: RouteClass, fail: Label) {
    let r1 = Reg::R1;
    let known = b.new_label();
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::ROUTE)));
    b.branch_imm(Cond::Ne, r1, 0, known);
    emit_lookup(b, spec);
    b.bind(known);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::ROUTE)));
    b.branch_imm(Cond::Ne, r1, i32::from(class.value()), fail);
}

/// Looks the packet up and stores its class at [`flow::ROUTE`].
fn emit_lookup(b: &mut CodeBuffer, spec: &HookSpec) {
    let (r0, r1, r7) = (Reg::R0, Reg::R1, Reg::R7);
    let (v6, call, store) = (b.new_label(), b.new_label(), b.new_label());
    b.note("route: one FIB lookup for the packet's class");
    for off in (0..FIB_SIZE).step_by(8) {
        b.emit(Insn::st_imm(Size::DW, Reg::FP, FIB + off, 0));
    }
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L3)));
    b.branch_imm(Cond::Eq, r1, 6, v6);
    b.emit(Insn::st_imm(Size::B, Reg::FP, FIB + FIB_FAMILY, AF_INET));
    copy_words(b, flow::SRC4, FIB + FIB_SRC, 1);
    copy_words(b, flow::DST4, FIB + FIB_DST, 1);
    b.goto(call);
    b.bind(v6);
    b.emit(Insn::st_imm(Size::B, Reg::FP, FIB + FIB_FAMILY, AF_INET6));
    copy_words(b, flow::SRC6, FIB + FIB_SRC, 4);
    copy_words(b, flow::DST6, FIB + FIB_DST, 4);
    b.bind(call);
    let ifindex = if spec.kind == HookKind::Xdp {
        XDP_INGRESS_IFINDEX
    } else {
        SKB_INGRESS_IFINDEX
    };
    b.emit(Insn::ldx(Size::W, r1, Reg::R6, ifindex));
    b.emit(Insn::stx(Size::W, Reg::FP, FIB + FIB_IFINDEX, r1));
    b.emit(Insn::mov64_reg(r1, Reg::R6));
    b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R2, i32::from(FIB)));
    b.emit(Insn::mov64_imm(Reg::R3, i32::from(FIB_SIZE)));
    b.emit(Insn::mov64_imm(
        Reg::R4,
        aya_obj::generated::BPF_FIB_LOOKUP_SKIP_NEIGH as i32,
    ));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_fib_lookup as u32));
    // As `RouteClass::of_fib_result`.
    set(b, r7, RouteClass::Forward);
    for ret in [0, 6, 7, 8] {
        b.branch_imm(Cond::Eq, r0, ret, store);
    }
    set(b, r7, RouteClass::Unroutable);
    b.branch_imm(Cond::Eq, r0, 1, store);
    b.branch_imm(Cond::Eq, r0, 2, store);
    b.branch_imm(Cond::Eq, r0, 3, store);
    set(b, r7, RouteClass::Local);
    b.bind(store);
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::ROUTE), r7));
}

fn set(b: &mut CodeBuffer, r: Reg, c: RouteClass) {
    b.emit(Insn::mov64_imm(r, i32::from(c.value())));
}

fn copy_words(b: &mut CodeBuffer, field: i16, to: i16, words: i16) {
    for w in 0..words {
        b.emit(Insn::ldx(Size::W, Reg::R1, Reg::FP, at(field) + 4 * w));
        b.emit(Insn::stx(Size::W, Reg::FP, to + 4 * w, Reg::R1));
    }
}
