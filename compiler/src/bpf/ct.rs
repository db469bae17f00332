//! `ct state ...` in packet hooks (XDP, TC), lowered to one conntrack lookup per
//! packet through the kernel's kfuncs (`bpf_xdp_ct_lookup`, `bpf_skb_ct_lookup`);
//! netfilter programs read the state conntrack already gave the packet instead
//! ([`super::nf_ct`]).
//!
//! The first `ct state` test a packet reaches derives its state and stores it as one
//! byte in the flow record ([`flow::CT`], a [`CtState`] value); every later test of
//! the same packet reads that byte. For TCP and UDP with a complete header the
//! packet's own tuple is looked up in its network namespace: an entry seen in the
//! reply direction, or in the original direction once a reply was seen
//! (`IPS_SEEN_REPLY`), is `established`; an expected one (`IPS_EXPECTED`, a helper's
//! data connection) is `related`; any other entry is `new`, as
//! `nf_conntrack_core.c:resolve_normal_ct` decides. Without an entry, and for every
//! other packet, the state is what [`without_entry`] says conntrack would give it,
//! computed here from the flow record: the bytes below mirror that function branch
//! for branch (the differential tests run both).
//!
//! Invariant: the `nf_conn` reference a lookup returns is released right after its
//! `status` is read, before anything that can end the program ([`super::refcheck`]
//! proves it). The kfunc ids and the offset of `nf_conn.status` are not ABI: they are
//! [`super::kernel_ref`] placeholders the runtime fills in from the kernel's BTF.
//!
//! [`without_entry`]: crate::syntax::ct::without_entry

use aya_ebpf_bindings::bindings as uapi;

use super::{
    buffer::{CodeBuffer, Label},
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
    socket::TUPLE,
};
use crate::{
    hooks::{HookKind, HookSpec, Target},
    syntax::{
        ast::Family,
        ct::{CtState, CtStates},
    },
};

/// Stack scratch for `struct bpf_ct_opts` (16 bytes on 6.x kernels), below the tuple.
const OPTS: i16 = TUPLE - 16;
const OPTS_SIZE: i32 = 16;
// `struct bpf_ct_opts`: `s32 netns_id; s32 error; u8 l4proto; u8 dir; u16 ct_zone_id;
// u8 ct_zone_dir; u8 reserved[3]` (checked against the kernel's BTF in the tests).
const OPTS_L4PROTO: i16 = 8;
const OPTS_DIR: i16 = 9;
const _: () = assert!(OPTS >= -512);

/// `enum ip_conntrack_status` bits (checked against the kernel's BTF in the tests).
pub(crate) const IPS_EXPECTED: i32 = 1;
pub(crate) const IPS_SEEN_REPLY: i32 = 2;
/// `enum ip_conntrack_dir`: the entry was found by its reply tuple.
const IP_CT_DIR_REPLY: i32 = 1;

/// Emits one `ct state` test; when the packet's state is not in `states`, control
/// goes to `fail`. The rule's earlier tests guarantee an IP packet (of `family` if
/// the rule names one). Clobbers `r0`–`r5` and `r7`.
pub(crate) fn emit_test(
    b: &mut CodeBuffer,
    spec: &HookSpec,
    states: CtStates,
    family: Option<Family>,
    fail: Label,
) {
    let r1 = Reg::R1;
    let known = b.new_label();
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::CT)));
    b.branch_imm(Cond::Ne, r1, 0, known);
    if spec.target == Target::Netfilter {
        super::nf_ct::emit_derive(b);
    } else {
        emit_derive(b, spec, family);
    }
    b.bind(known);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::CT)));
    let ok = b.new_label();
    for s in states.iter() {
        b.branch_imm(Cond::Eq, r1, i32::from(s.value()), ok);
    }
    b.goto(fail);
    b.bind(ok);
}

/// Derives the packet's state into `r7`, then stores it at [`flow::CT`].
fn emit_derive(b: &mut CodeBuffer, spec: &HookSpec, family: Option<Family>) {
    let (r1, r7) = (Reg::R1, Reg::R7);
    let store = b.new_label();
    let (lookup, icmp4, icmp6) = (b.new_label(), b.new_label(), b.new_label());
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::PROTO)));
    b.branch_imm(Cond::Eq, r1, 6, lookup);
    b.branch_imm(Cond::Eq, r1, 17, lookup);
    b.branch_imm(Cond::Eq, r1, 1, icmp4);
    b.branch_imm(Cond::Eq, r1, 58, icmp6);
    // A protocol the lookup cannot take: conntrack's generic tracker calls it new.
    set(b, r7, CtState::New);
    b.goto(store);
    b.bind(icmp4);
    emit_icmp(b, false, store);
    b.bind(icmp6);
    emit_icmp(b, true, store);
    b.bind(lookup);
    emit_lookup(b, spec, family, store);
    b.bind(store);
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::CT), r7));
}

fn set(b: &mut CodeBuffer, r: Reg, s: CtState) {
    b.emit(Insn::mov64_imm(r, i32::from(s.value())));
}

/// ICMP (`v6`: ICMPv6): no lookup can take it, so the state is the one without an
/// entry, by type. Falls through nowhere: every path goes to `store`.
fn emit_icmp(b: &mut CodeBuffer, v6: bool, store: Label) {
    let (r1, r7) = (Reg::R1, Reg::R7);
    set(b, r7, CtState::Invalid);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L4_OK)));
    b.branch_imm(Cond::Eq, r1, 0, store);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::ICMP_TYPE)));
    if v6 {
        b.branch_imm(Cond::Lt, r1, 128, store);
        set(b, r7, CtState::Untracked);
        b.branch_imm(Cond::Eq, r1, 143, store);
        let not_nd = b.new_label();
        b.branch_imm(Cond::Lt, r1, 130, not_nd);
        b.branch_imm(Cond::Le, r1, 136, store);
        b.bind(not_nd);
    } else {
        for t in [3, 4, 5, 11, 12] {
            b.branch_imm(Cond::Eq, r1, t, store);
        }
        b.branch_imm(Cond::Gt, r1, 18, store);
    }
    set(b, r7, CtState::New);
    b.goto(store);
}

/// TCP or UDP (protocol in `r1`): look the packet's tuple up; the state from the
/// entry, or from the flags without one.
fn emit_lookup(b: &mut CodeBuffer, spec: &HookSpec, family: Option<Family>, store: Label) {
    let (r0, r1, r2, r7) = (Reg::R0, Reg::R1, Reg::R2, Reg::R7);
    let (none, release) = (b.new_label(), b.new_label());
    set(b, r7, CtState::Invalid);
    b.emit(Insn::ldx(Size::B, r2, Reg::FP, at(flow::L4_OK)));
    b.branch_imm(Cond::Eq, r2, 0, store);
    // opts: the current namespace, no zone, the protocol; error and dir are outputs.
    b.emit(Insn::st_imm(
        Size::W,
        Reg::FP,
        OPTS,
        uapi::BPF_F_CURRENT_NETNS,
    ));
    for off in [4, 8, 12] {
        b.emit(Insn::st_imm(Size::W, Reg::FP, OPTS + off, 0));
    }
    b.emit(Insn::stx(Size::B, Reg::FP, OPTS + OPTS_L4PROTO, r1));
    // The packet's own tuple as it is on the wire, at every hook: conntrack finds
    // the entry by either direction's tuple and says which in `dir`.
    super::socket::emit_tuple(b, false, family);
    b.emit(Insn::mov64_reg(r1, Reg::R6));
    b.emit(Insn::mov64_reg(r2, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, r2, i32::from(TUPLE)));
    b.emit(Insn::mov64_reg(Reg::R4, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R4, i32::from(OPTS)));
    b.emit(Insn::mov64_imm(Reg::R5, OPTS_SIZE));
    let lookup = if spec.kind == HookKind::Xdp {
        "bpf_xdp_ct_lookup"
    } else {
        "bpf_skb_ct_lookup"
    };
    b.call_kfunc(lookup, true, false);
    b.branch_imm(Cond::Eq, r0, 0, none);
    set(b, r7, CtState::Established);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, OPTS + OPTS_DIR));
    b.branch_imm(Cond::Eq, r1, IP_CT_DIR_REPLY, release);
    b.load_kernel_field(Size::DW, r1, r0, "nf_conn", "status");
    b.branch_imm(Cond::Set, r1, IPS_SEEN_REPLY, release);
    set(b, r7, CtState::Related);
    b.branch_imm(Cond::Set, r1, IPS_EXPECTED, release);
    set(b, r7, CtState::New);
    b.bind(release);
    b.emit(Insn::mov64_reg(r1, r0));
    b.call_kfunc("bpf_ct_release", false, true);
    b.goto(store);
    b.bind(none);
    emit_without_entry(b, store);
}

/// TCP or UDP without an entry: UDP is new; TCP by its flags, as
/// [`crate::syntax::ct::without_entry`].
fn emit_without_entry(b: &mut CodeBuffer, store: Label) {
    let (r1, r7) = (Reg::R1, Reg::R7);
    set(b, r7, CtState::New);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::PROTO)));
    b.branch_imm(Cond::Eq, r1, 17, store);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::TCP_FLAGS)));
    set(b, r7, CtState::Invalid);
    b.branch_imm(Cond::Set, r1, 0x05, store); // RST or FIN
    b.emit(Insn::alu64_imm(op::AND, r1, 0x12)); // SYN | ACK
    set(b, r7, CtState::New);
    b.branch_imm(Cond::Eq, r1, 0x02, store);
    b.branch_imm(Cond::Eq, r1, 0x10, store);
    set(b, r7, CtState::Invalid);
    b.goto(store);
}
