//! The packet prologue shared by XDP, TC and cgroup_skb: parse Ethernet (+ one
//! 802.1Q/802.1ad tag), IPv4 (with options) or IPv6 (with its extension headers,
//! [`super::ext6`]), then TCP/UDP/ICMP, into the flow record ([`super::flow`]) on the
//! stack; for programs with frame matches also the EtherType and the outer VLAN tag (at
//! TC first from `skb->vlan_tci`, where the stack may have put it). A cgroup_skb
//! packet starts at its network header: the EtherType comes from `skb->protocol`, and
//! the packet pointer starts `ETH_HLEN` bytes before the data
//! ([`emit_network_start`]), so the IP and upper-layer parts read the same offsets
//! for both.
//!
//! Invariant: every packet load is preceded, on every path, by a bounds check against
//! `data_end` covering it, in the form the verifier tracks (`rX = pkt + N; if rX >
//! data_end goto out`). A field that cannot be read (truncated packet, non-first
//! fragment, unknown EtherType) is left zero and its "valid" byte says so; rules test
//! validity before the value, so a short packet never matches a rule that needs the
//! missing part.
//!
//! Verifier cost: the kernel verifier walks each path of the prologue to its end
//! (`done`) and would go on to verify the rules once per distinct state it arrives
//! with. It skips a path whose state is covered by one it has finished, and (loaded
//! with CAP_PERFMON, as sockc is) a stack byte it knows only as "some data" covers
//! any value. So the first path it walks, a frame too short for Ethernet
//! ([`emit_runt_exit`]), makes every byte of the record "some data" before `done`:
//! the rules are verified once with a record that covers what every other path
//! brings, and every later path stops at `done`. Before `done`, paths that differ
//! only in where the packet pointer points merge where that offset is a number the
//! verifier does not know: the IPv6 extension headers' ([`super::ext6`]).

use super::header::Copies;
use super::{
    buffer::{CodeBuffer, Label},
    emit,
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::hooks::PacketCtx;

use super::flow::{self, at};

const ETH_HLEN: i32 = 14;
const VLAN_HLEN: i32 = 4;
const IPV4_HLEN: i32 = 20;
const IPV6_HLEN: i32 = 40;
const TCP_HLEN: i32 = 20;
const UDP_HLEN: i32 = 8;
/// type, code, checksum: the part of the ICMP header rules can look at, plus checksum.
const ICMP_MIN: i32 = 4;

/// A network-order 16-bit constant as a little-endian load of it reads.
const fn be16(v: u16) -> i32 {
    v.swap_bytes() as i32
}

/// Emits the prologue. On exit `r6` holds the context and the flow record is filled;
/// `r7`–`r9` are free. With `frames` (a rule of the program tests the frame), the
/// EtherType and the outer VLAN tag are recorded too; with `l4_offset` (a rule tests
/// `ct state` or rejects), where the upper-layer header starts ([`flow::L4_OFF`]);
/// with `copies`, the IP header fields the rules test (`super::header::Copies`).
pub(crate) fn emit_prologue(
    b: &mut CodeBuffer,
    ctx: &PacketCtx,
    uses_sets: bool,
    frames: bool,
    l4_offset: bool,
    copies: Copies,
) {
    let done = b.new_label();
    b.note("prologue: parse headers into the flow record");
    emit_start(b, ctx, uses_sets);
    let (ipv4, ipv6) = match ctx.protocol {
        Some(protocol) => emit_network_start(b, protocol, frames, done),
        None => emit_ethernet(b, ctx, frames, done),
    };
    let l4 = b.new_label();
    b.bind(ipv4);
    emit_ipv4(b, copies, done);
    b.goto(l4);
    b.bind(ipv6);
    emit_ipv6(b, copies, done);
    b.bind(l4);
    emit_l4(b, ctx, l4_offset, done);
    b.bind(done);
}

/// The context to `r6`, the flow record zeroed (and its set lookup keys' prefix
/// lengths set when the program looks sets up), `r7` = data, `r8` = data_end, and the
/// packet length.
fn emit_start(b: &mut CodeBuffer, ctx: &PacketCtx, uses_sets: bool) {
    let (r1, r6, r7, r8) = (Reg::R1, Reg::R6, Reg::R7, Reg::R8);
    b.emit(Insn::mov64_reg(r6, Reg::R1));
    emit::reset_flow_record(b, uses_sets);
    b.emit(Insn::ldx(Size::W, r7, r6, ctx.data));
    b.emit(Insn::ldx(Size::W, r8, r6, ctx.data_end));
    match ctx.len {
        Some(len) => b.emit(Insn::ldx(Size::W, r1, r6, len)),
        None => {
            b.emit(Insn::mov64_reg(r1, r8));
            b.emit(Insn::alu64_reg(op::SUB, r1, r7));
        }
    }
    b.emit(Insn::stx(Size::W, Reg::FP, at(flow::PKT_LEN), r1));
}

/// Ethernet, optionally one VLAN tag; returns the labels of the IPv4 and IPv6 parts
/// (another EtherType goes to `done`), entered with the L3 header at `r7 + ETH_HLEN`
/// and the EtherType in `r1`.
fn emit_ethernet(b: &mut CodeBuffer, ctx: &PacketCtx, frames: bool, done: Label) -> (Label, Label) {
    let (r1, r2, r7) = (Reg::R1, Reg::R2, Reg::R7);
    emit_runt_exit(b, done);
    if frames {
        emit_vlan_meta(b, ctx);
    }
    b.emit(Insn::ldx(Size::H, r1, r7, 12));
    let untagged = b.new_label();
    let tagged = b.new_label();
    b.branch_imm(Cond::Eq, r1, be16(0x8100), tagged);
    b.branch_imm(Cond::Ne, r1, be16(0x88a8), untagged);
    b.bind(tagged);
    bounds(b, ETH_HLEN + VLAN_HLEN, done);
    if frames {
        // The tag in the frame is the outer one unless the stack took one out first.
        let inner = b.new_label();
        b.emit(Insn::ldx(Size::H, r2, Reg::FP, at(flow::VLAN)));
        b.branch_imm(Cond::Ne, r2, 0, inner);
        b.emit(Insn::ldx(Size::H, r2, r7, 14));
        b.emit(Insn::be(r2, 16));
        store_tag(b);
        b.bind(inner);
    }
    b.emit(Insn::ldx(Size::H, r1, r7, 16));
    b.emit(Insn::alu64_imm(op::ADD, r7, VLAN_HLEN));
    b.bind(untagged);
    if frames {
        b.emit(Insn::mov64_reg(r2, r1));
        b.emit(Insn::be(r2, 16));
        b.emit(Insn::stx(Size::H, Reg::FP, at(flow::ETHER_TYPE), r2));
    }
    let ipv4 = b.new_label();
    let ipv6 = b.new_label();
    b.branch_imm(Cond::Eq, r1, be16(0x0800), ipv4);
    b.branch_imm(Cond::Eq, r1, be16(0x86dd), ipv6);
    b.goto(done);
    (ipv4, ipv6)
}

/// A packet that starts at its network header (cgroup_skb): `r7` moves `ETH_HLEN`
/// bytes before the data, so the IP header is at `r7 + ETH_HLEN` as after an
/// Ethernet header (the verifier accepts a packet pointer with a negative fixed offset
/// as long as every access through it lands at or after the data); the EtherType is
/// the `u32` context field at `protocol`, in network order like the frame's. Returns
/// the labels of the IPv4 and IPv6 parts, as [`emit_ethernet`] does.
fn emit_network_start(
    b: &mut CodeBuffer,
    protocol: i16,
    frames: bool,
    done: Label,
) -> (Label, Label) {
    let (r1, r2, r7) = (Reg::R1, Reg::R2, Reg::R7);
    b.emit(Insn::alu64_imm(op::ADD, r7, -ETH_HLEN));
    // The runt check is against the data itself: never taken at run time, and still
    // the first path the verifier walks (see [`emit_runt_exit`]).
    emit_runt_exit(b, done);
    b.emit(Insn::ldx(Size::W, r1, Reg::R6, protocol));
    if frames {
        b.emit(Insn::mov64_reg(r2, r1));
        b.emit(Insn::be(r2, 16));
        b.emit(Insn::stx(Size::H, Reg::FP, at(flow::ETHER_TYPE), r2));
    }
    let ipv4 = b.new_label();
    let ipv6 = b.new_label();
    b.branch_imm(Cond::Eq, r1, be16(0x0800), ipv4);
    b.branch_imm(Cond::Eq, r1, be16(0x86dd), ipv6);
    b.goto(done);
    (ipv4, ipv6)
}

/// The first bounds check, whose failing side (a frame shorter than an Ethernet
/// header) is the first path the verifier walks: it leaves every byte of the flow
/// record unknown to the verifier and goes to `done`, so the rules after the prologue
/// are verified once with a record that covers every other path's (see the module's
/// doc). At run time it rewrites zeros with zeros: the value stored is `FRAG`, which
/// nothing has written yet but which the verifier reads as any byte, because
/// `PKT_LEN`'s store made its slot plain data. Frames that pass go on at no extra cost
/// (the check jumps instead of falling through).
fn emit_runt_exit(b: &mut CodeBuffer, done: Label) {
    let (r1, r9) = (Reg::R1, Reg::R9);
    let header = b.new_label();
    b.emit(Insn::mov64_reg(r9, Reg::R7));
    b.emit(Insn::alu64_imm(op::ADD, r9, ETH_HLEN));
    b.branch_reg(Cond::Le, r9, Reg::R8, header);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::FRAG)));
    for slot in (0..flow::SIZE).step_by(8) {
        // One byte past the slot's start: a store the verifier cannot take for a
        // spill of the slot, so it forgets what the slot held.
        b.emit(Insn::stx(Size::B, Reg::FP, flow::FLOW + slot + 1, r1));
    }
    b.goto(done);
    b.bind(header);
}

/// At TC: the tag the stack took out of the frame (`skb->vlan_tci`), if any, is the
/// outer one. Clobbers r2.
fn emit_vlan_meta(b: &mut CodeBuffer, ctx: &PacketCtx) {
    let Some((present, tci)) = ctx.vlan_meta else {
        return;
    };
    let r2 = Reg::R2;
    let none = b.new_label();
    b.emit(Insn::ldx(Size::W, r2, Reg::R6, present));
    b.branch_imm(Cond::Eq, r2, 0, none);
    b.emit(Insn::ldx(Size::W, r2, Reg::R6, tci));
    store_tag(b);
    b.bind(none);
}

/// `VLAN = 0x1000 | (r2 & 0xfff)`: the id of a tag control word in r2.
fn store_tag(b: &mut CodeBuffer) {
    let r2 = Reg::R2;
    b.emit(Insn::alu64_imm(op::AND, r2, 0x0fff));
    b.emit(Insn::alu64_imm(op::OR, r2, 0x1000));
    b.emit(Insn::stx(Size::H, Reg::FP, at(flow::VLAN), r2));
}

/// IPv4: version 4, IHL >= 5; addresses and protocol; L4 only for the first
/// fragment (falls through with `r7` moved past the options).
fn emit_ipv4(b: &mut CodeBuffer, copies: Copies, done: Label) {
    let (r1, r2, r7) = (Reg::R1, Reg::R2, Reg::R7);
    bounds(b, ETH_HLEN + IPV4_HLEN, done);
    b.emit(Insn::ldx(Size::B, r2, r7, ETH_HLEN as i16));
    b.emit(Insn::mov64_reg(r1, r2));
    b.emit(Insn::alu64_imm(op::RSH, r1, 4));
    b.branch_imm(Cond::Ne, r1, 4, done);
    super::header::emit_copy_v4(b, copies, r7, ETH_HLEN as i16);
    b.emit(Insn::alu64_imm(op::AND, r2, 0x0f));
    b.branch_imm(Cond::Lt, r2, 5, done);
    b.emit(Insn::ldx(Size::W, r1, r7, (ETH_HLEN + 12) as i16));
    b.emit(Insn::stx(Size::W, Reg::FP, at(flow::SRC4), r1));
    b.emit(Insn::ldx(Size::W, r1, r7, (ETH_HLEN + 16) as i16));
    b.emit(Insn::stx(Size::W, Reg::FP, at(flow::DST4), r1));
    b.emit(Insn::ldx(Size::B, r1, r7, (ETH_HLEN + 9) as i16));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::PROTO), r1));
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 4));
    b.emit(Insn::ldx(Size::H, r1, r7, (ETH_HLEN + 6) as i16));
    // FRAG = (MF or offset) ? 1 : 0 without a branch, stored from a register so the
    // verifier sees one unknown byte (not a 0 and a 1 that split its states).
    b.emit(Insn::mov64_reg(Reg::R9, r1));
    b.emit(Insn::alu64_imm(op::AND, Reg::R9, be16(0x3fff)));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R9, 0xffff));
    b.emit(Insn::alu64_imm(op::RSH, Reg::R9, 16));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::FRAG), Reg::R9));
    b.emit(Insn::alu64_imm(op::AND, r1, be16(0x1fff)));
    b.branch_imm(Cond::Ne, r1, 0, done);
    // IHL is 5..15 words here, so r7 moves by 20..60 bytes: a bounded variable offset.
    b.emit(Insn::alu64_imm(op::LSH, r2, 2));
    b.emit(Insn::alu64_reg(op::ADD, r7, r2));
}

/// IPv6: the fixed header, then the extension-header walk ([`super::ext6`]), which
/// falls through at the upper layer.
fn emit_ipv6(b: &mut CodeBuffer, copies: Copies, done: Label) {
    let (r1, r7) = (Reg::R1, Reg::R7);
    bounds(b, ETH_HLEN + IPV6_HLEN, done);
    b.emit(Insn::ldx(Size::B, r1, r7, ETH_HLEN as i16));
    b.emit(Insn::alu64_imm(op::RSH, r1, 4));
    b.branch_imm(Cond::Ne, r1, 6, done);
    super::header::emit_copy_v6(b, copies, r7, ETH_HLEN as i16);
    // FRAG = 0 (the version's top bit), stored from a register for the same reason as
    // in IPv4: every IPv6 path, with a fragment header or not, leaves it unknown to the
    // verifier.
    b.emit(Insn::ldx(Size::B, Reg::R2, r7, ETH_HLEN as i16));
    b.emit(Insn::alu64_imm(op::RSH, Reg::R2, 7));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::FRAG), Reg::R2));
    for (pkt, field) in [(8, flow::SRC6), (24, flow::DST6)] {
        for w in 0..4 {
            b.emit(Insn::ldx(Size::W, r1, r7, (ETH_HLEN + pkt + 4 * w) as i16));
            b.emit(Insn::stx(Size::W, Reg::FP, at(field) + 4 * w as i16, r1));
        }
    }
    b.emit(Insn::ldx(Size::B, r1, r7, (ETH_HLEN + 6) as i16));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::PROTO), r1));
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 6));
    b.emit(Insn::alu64_imm(op::ADD, r7, IPV6_HLEN));
    super::ext6::emit_walk(b, done);
}

/// L4 at `r7 + ETH_HLEN`: ICMP type and code, TCP flags, TCP and UDP ports, each only
/// when the header is there in full (then `L4_OK`); with `l4_offset`, the header's
/// offset in the frame first, whatever the protocol (so it is 0 only where the upper
/// layer was not reached: a non-first fragment, an extension-header chain the walk
/// could not pass).
fn emit_l4(b: &mut CodeBuffer, ctx: &PacketCtx, l4_offset: bool, done: Label) {
    let (r1, r7) = (Reg::R1, Reg::R7);
    let (tcp, udp, icmp, ports) = (b.new_label(), b.new_label(), b.new_label(), b.new_label());
    if l4_offset {
        // A difference of two packet pointers is a plain number to the verifier (it
        // allows it where pointers may leak, with CAP_PERFMON, as for the XDP
        // prologue's `data_end - data` above).
        b.emit(Insn::ldx(Size::W, Reg::R2, Reg::R6, ctx.data));
        b.emit(Insn::mov64_reg(r1, r7));
        b.emit(Insn::alu64_reg(op::SUB, r1, Reg::R2));
        b.emit(Insn::alu64_imm(op::ADD, r1, ETH_HLEN));
        b.emit(Insn::stx(Size::H, Reg::FP, at(flow::L4_OFF), r1));
    }
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::PROTO)));
    b.branch_imm(Cond::Eq, r1, 6, tcp);
    b.branch_imm(Cond::Eq, r1, 17, udp);
    b.branch_imm(Cond::Eq, r1, 1, icmp);
    b.branch_imm(Cond::Ne, r1, 58, done);
    b.bind(icmp);
    bounds(b, ETH_HLEN + ICMP_MIN, done);
    b.emit(Insn::ldx(Size::B, r1, r7, ETH_HLEN as i16));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::ICMP_TYPE), r1));
    b.emit(Insn::ldx(Size::B, r1, r7, (ETH_HLEN + 1) as i16));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::ICMP_CODE), r1));
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L4_OK), 1));
    b.goto(done);
    b.bind(tcp);
    bounds(b, ETH_HLEN + TCP_HLEN, done);
    b.emit(Insn::ldx(Size::B, r1, r7, (ETH_HLEN + 13) as i16));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::TCP_FLAGS), r1));
    b.goto(ports);
    b.bind(udp);
    bounds(b, ETH_HLEN + UDP_HLEN, done);
    b.bind(ports);
    for (pkt, field) in [(0, flow::SPORT), (2, flow::DPORT)] {
        b.emit(Insn::ldx(Size::H, r1, r7, (ETH_HLEN + pkt) as i16));
        b.emit(Insn::be(r1, 16));
        b.emit(Insn::stx(Size::H, Reg::FP, at(field), r1));
    }
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L4_OK), 1));
}

/// `r9 = r7 + len; if r9 > r8 (data_end) goto out`.
fn bounds(b: &mut CodeBuffer, len: i32, out: Label) {
    b.emit(Insn::mov64_reg(Reg::R9, Reg::R7));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R9, len));
    b.branch_reg(Cond::Gt, Reg::R9, Reg::R8, out);
}
