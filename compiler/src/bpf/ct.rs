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
//! `nf_conntrack_core.c:resolve_normal_ct` decides. An ICMP or ICMPv6 error quoting
//! a TCP or UDP packet is looked up by the quoted packet's tuple, inverted, and is
//! `related` when found, as `nf_conntrack_inet_error` decides ([`emit_icmp_error`];
//! the prologue records where the ICMP header is, [`flow::L4_OFF`]). Without an
//! entry, and for every other packet, the state is what [`without_entry`] says
//! conntrack would give it, computed here from the flow record: the bytes below
//! mirror that function branch for branch (the differential tests run both).
//!
//! Invariant: the `nf_conn` reference a lookup returns is released right after its
//! `status` is read, before anything that can end the program ([`super::refcheck`]
//! proves it). The kfunc ids and the offset of `nf_conn.status` are not ABI: they are
//! [`super::kernel_ref`] placeholders the runtime fills in from the kernel's BTF.
//!
//! [`without_entry`]: crate::syntax::ct::without_entry

use core::mem::size_of;

use aya_ebpf_bindings::bindings as uapi;
use aya_obj::generated::bpf_func_id;

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
    emit_icmp(b, spec, false, store);
    b.bind(icmp6);
    emit_icmp(b, spec, true, store);
    b.bind(lookup);
    emit_lookup(b, spec, family, store);
    b.bind(store);
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::CT), r7));
}

fn set(b: &mut CodeBuffer, r: Reg, s: CtState) {
    b.emit(Insn::mov64_imm(r, i32::from(s.value())));
}

/// ICMP (`v6`: ICMPv6): no lookup can take a query, so its state is the one without
/// an entry, by type; an error is looked up by the flow it quotes
/// ([`emit_icmp_error`]). Falls through nowhere: every path goes to `store`.
fn emit_icmp(b: &mut CodeBuffer, spec: &HookSpec, v6: bool, store: Label) {
    let (r1, r7) = (Reg::R1, Reg::R7);
    let error = b.new_label();
    set(b, r7, CtState::Invalid);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L4_OK)));
    b.branch_imm(Cond::Eq, r1, 0, store);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::ICMP_TYPE)));
    // `r7` is still `invalid` on every branch to `error`.
    if v6 {
        b.branch_imm(Cond::Lt, r1, 128, error);
        set(b, r7, CtState::Untracked);
        b.branch_imm(Cond::Eq, r1, 143, store);
        let not_nd = b.new_label();
        b.branch_imm(Cond::Lt, r1, 130, not_nd);
        b.branch_imm(Cond::Le, r1, 136, store);
        b.bind(not_nd);
    } else {
        for t in ICMP_ERRORS {
            b.branch_imm(Cond::Eq, r1, t, error);
        }
        b.branch_imm(Cond::Gt, r1, 18, store);
    }
    set(b, r7, CtState::New);
    b.goto(store);
    b.bind(error);
    emit_icmp_error(b, spec, v6, store);
}

/// The ICMP types conntrack treats as errors (`icmp_is_err`): destination
/// unreachable, source quench, redirect, time exceeded, parameter problem. For
/// ICMPv6 every type below 128 is one.
const ICMP_ERRORS: [i32; 5] = [3, 4, 5, 11, 12];

/// Stack scratch for the quoted packet: its IP header (40 bytes for IPv6), then its
/// first 4 transport bytes (the ports). It lies in the route lookup's scratch, which
/// is dead while a state is derived (each derivation ends with its byte stored).
const QUOTE: i16 = OPTS - 48;
const _: () = assert!(QUOTE >= -512 && QUOTE + 48 <= OPTS);

/// An ICMP error (`r7` = invalid): `related` when the packet it quotes belongs to a
/// tracked TCP or UDP flow, as `nf_conntrack_inet_error` decides. The quoted packet
/// is the one sent, so the lookup takes its tuple inverted (source and destination
/// swapped) and finds the flow in whichever direction the quoted packet went; the
/// error's destination must be the quoted packet's source (conntrack compares it with
/// the found direction's destination, which is that address). `invalid` when
/// anything is missing: a quote too short for the header and the ports, a quoted
/// IPv4 fragment that is not the first, a quoted protocol other than TCP and UDP (the
/// kfuncs take no other), a quoted IPv6 packet with extension headers (not walked),
/// another destination, no entry.
fn emit_icmp_error(b: &mut CodeBuffer, spec: &HookSpec, v6: bool, store: Label) {
    let (r0, r1, r2) = (Reg::R0, Reg::R1, Reg::R2);
    let header: i16 = if v6 { 40 } else { 20 };
    // The quoted IP header: it starts after the 8-byte ICMP header.
    b.emit(Insn::ldx(Size::H, r2, Reg::FP, at(flow::L4_OFF)));
    b.emit(Insn::alu64_imm(op::ADD, r2, 8));
    emit_load_bytes(b, spec, QUOTE, header);
    b.branch_imm(Cond::Ne, r0, 0, store);
    let (proto, src, dst) = if v6 { (6, 8, 24) } else { (9, 12, 16) };
    let tracked = b.new_label();
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, QUOTE + proto));
    b.branch_imm(Cond::Eq, r1, 6, tracked);
    b.branch_imm(Cond::Ne, r1, 17, store);
    b.bind(tracked);
    // The error goes to the quoted packet's source.
    let (outer_dst, words) = if v6 { (flow::DST6, 4) } else { (flow::DST4, 1) };
    for w in 0..words {
        b.emit(Insn::ldx(Size::W, r1, Reg::FP, at(outer_dst) + 4 * w));
        b.emit(Insn::ldx(Size::W, r2, Reg::FP, QUOTE + src + 4 * w));
        b.branch_reg(Cond::Ne, r1, r2, store);
    }
    // The ports, after the quoted IP header (IPv4: its IHL says where).
    b.emit(Insn::ldx(Size::H, r2, Reg::FP, at(flow::L4_OFF)));
    b.emit(Insn::alu64_imm(op::ADD, r2, 8));
    if v6 {
        b.emit(Insn::alu64_imm(op::ADD, r2, 40));
    } else {
        b.emit(Insn::ldx(Size::H, r1, Reg::FP, QUOTE + 6));
        b.branch_imm(Cond::Set, r1, be16(0x1fff), store);
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, QUOTE));
        b.emit(Insn::alu64_imm(op::AND, r1, 0x0f));
        b.emit(Insn::alu64_imm(op::LSH, r1, 2));
        b.emit(Insn::alu64_reg(op::ADD, r2, r1));
    }
    emit_load_bytes(b, spec, QUOTE + header, 4);
    b.branch_imm(Cond::Ne, r0, 0, store);
    emit_quoted_tuple(b, v6, header, src, dst);
    emit_opts(b);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, QUOTE + proto));
    b.emit(Insn::stx(Size::B, Reg::FP, OPTS + OPTS_L4PROTO, r1));
    emit_call_lookup(b, spec);
    b.branch_imm(Cond::Eq, r0, 0, store);
    set(b, Reg::R7, CtState::Related);
    b.emit(Insn::mov64_reg(r1, r0));
    b.call_kfunc("bpf_ct_release", false, true);
    b.goto(store);
}

/// A network-order 16-bit constant as a little-endian load of it reads.
const fn be16(v: u16) -> i32 {
    v.swap_bytes() as i32
}

/// `len` bytes of the frame from offset `r2` to `fp + to` (`bpf_xdp_load_bytes`,
/// `bpf_skb_load_bytes`: both refuse a range past the end, then `r0` is not 0).
fn emit_load_bytes(b: &mut CodeBuffer, spec: &HookSpec, to: i16, len: i16) {
    b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    b.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R3, i32::from(to)));
    b.emit(Insn::mov64_imm(Reg::R4, i32::from(len)));
    let helper = if spec.kind == HookKind::Xdp {
        bpf_func_id::BPF_FUNC_xdp_load_bytes
    } else {
        bpf_func_id::BPF_FUNC_skb_load_bytes
    };
    b.emit(Insn::call(helper as u32));
}

/// The lookup tuple at [`TUPLE`] from the quote at [`QUOTE`] (IP header of `header`
/// bytes, addresses at `src` and `dst`, then the ports), inverted: the quoted
/// destination as the source; its size in `r3`.
fn emit_quoted_tuple(b: &mut CodeBuffer, v6: bool, header: i16, src: i16, dst: i16) {
    let r1 = Reg::R1;
    let words: i16 = if v6 { 4 } else { 1 };
    for (k, from) in [dst, src].into_iter().enumerate() {
        for w in 0..words {
            b.emit(Insn::ldx(Size::W, r1, Reg::FP, QUOTE + from + 4 * w));
            b.emit(Insn::stx(
                Size::W,
                Reg::FP,
                TUPLE + 4 * (k as i16 * words + w),
                r1,
            ));
        }
    }
    // Ports stay in network order; the tuple's follow its addresses.
    let ports = TUPLE + 8 * words;
    b.emit(Insn::ldx(Size::H, r1, Reg::FP, QUOTE + header + 2));
    b.emit(Insn::stx(Size::H, Reg::FP, ports, r1));
    b.emit(Insn::ldx(Size::H, r1, Reg::FP, QUOTE + header));
    b.emit(Insn::stx(Size::H, Reg::FP, ports + 2, r1));
    let size = if v6 {
        size_of::<uapi::bpf_sock_tuple__bindgen_ty_1__bindgen_ty_2>()
    } else {
        size_of::<uapi::bpf_sock_tuple__bindgen_ty_1__bindgen_ty_1>()
    };
    b.emit(Insn::mov64_imm(Reg::R3, size as i32));
}

/// `struct bpf_ct_opts` at [`OPTS`]: the current namespace, no zone; the protocol is
/// the caller's to store; error and dir are outputs.
fn emit_opts(b: &mut CodeBuffer) {
    b.emit(Insn::st_imm(
        Size::W,
        Reg::FP,
        OPTS,
        uapi::BPF_F_CURRENT_NETNS,
    ));
    for off in [4, 8, 12] {
        b.emit(Insn::st_imm(Size::W, Reg::FP, OPTS + off, 0));
    }
}

/// The hook's conntrack lookup on the tuple at [`TUPLE`] (its size in `r3`) and the
/// options at [`OPTS`]: the entry or null in `r0`.
fn emit_call_lookup(b: &mut CodeBuffer, spec: &HookSpec) {
    b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R2, i32::from(TUPLE)));
    b.emit(Insn::mov64_reg(Reg::R4, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R4, i32::from(OPTS)));
    b.emit(Insn::mov64_imm(Reg::R5, OPTS_SIZE));
    let lookup = if spec.kind == HookKind::Xdp {
        "bpf_xdp_ct_lookup"
    } else {
        "bpf_skb_ct_lookup"
    };
    b.call_kfunc(lookup, true, false);
}

/// TCP or UDP (protocol in `r1`): look the packet's tuple up; the state from the
/// entry, or from the flags without one.
fn emit_lookup(b: &mut CodeBuffer, spec: &HookSpec, family: Option<Family>, store: Label) {
    let (r0, r1, r2, r7) = (Reg::R0, Reg::R1, Reg::R2, Reg::R7);
    let (none, release) = (b.new_label(), b.new_label());
    set(b, r7, CtState::Invalid);
    b.emit(Insn::ldx(Size::B, r2, Reg::FP, at(flow::L4_OK)));
    b.branch_imm(Cond::Eq, r2, 0, store);
    emit_opts(b);
    b.emit(Insn::stx(Size::B, Reg::FP, OPTS + OPTS_L4PROTO, r1));
    // The packet's own tuple as it is on the wire, at every hook: conntrack finds
    // the entry by either direction's tuple and says which in `dir`.
    super::socket::emit_tuple(b, false, family);
    emit_call_lookup(b, spec);
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
