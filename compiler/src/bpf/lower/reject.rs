//! `reject` at XDP and TC ingress: the frame is rewritten in place into the answer and
//! sent back out of the interface it came in on (`XDP_TX`; `bpf_redirect` to the
//! ingress interface at TC). A TCP segment gets a reset (RFC 793 sequence numbers,
//! as the kernel's `nf_reject_ipv4.c` builds it); anything else gets ICMP (ICMPv6)
//! destination unreachable quoting the IP header and the 8 bytes after it.
//!
//! How it joins the rule walk: a rejecting rule leaves its kind's word
//! ([`RejectWith::mark`]) in the verdict register like any verdict, so the shared
//! tail counts and logs it as usual; [`Answer::before_exit`] then sends each word to
//! its kind's routine, emitted after the tail ([`Answer::finish`]).
//!
//! What is never answered (the kernel's `icmp_send` and `nf_send_reset` answer none
//! of it) is dropped instead, still counted as the reject rule's: a group (broadcast
//! or multicast) Ethernet destination, a VLAN-tagged frame, IPv4 with options, a
//! non-first IPv4 fragment, IPv6 with extension headers, a broadcast, multicast or
//! class E destination, a source that is unspecified, multicast or broadcast, an ICMP
//! or ICMPv6 error, a TCP segment with RST, and a frame too short for its headers
//! (plus 8 bytes, for an ICMP quote). `testkit::eval::reject` is the same list, read
//! from the frame by the evaluator.
//!
//! Invariant: every packet access follows a bounds check of the current `data` in the
//! verifier's form, redone after each helper that moves the packet (`adjust_*`,
//! `change_*`); every path ends in `exit` with the hook's drop code or the answer's
//! return code; checksums are computed over the answer's own bytes (never derived
//! from the original's, which veth leaves partial).

use std::mem::offset_of;

use aya_ebpf_bindings::bindings as uapi;
use aya_obj::generated::bpf_func_id;

use super::rules::Redirect;
use crate::{
    bpf::{
        buffer::{CodeBuffer, Label},
        flow::{self, at},
        insn::{Cond, Insn, Reg, Size},
    },
    hooks::{HookSpec, PacketCtx},
    ir::{Action, Module, Program, SockId},
    syntax::reject::{RejectWith, ICMPV6_DEST_UNREACH, ICMP_DEST_UNREACH},
};

const ETH: i16 = 14;
/// The answers' total lengths: Ethernet, IP header, TCP header (resets) or ICMP header
/// plus the quoted IP header and 8 bytes.
const RST4_LEN: i32 = 14 + 20 + 20;
const RST6_LEN: i32 = 14 + 40 + 20;
const ICMP4_LEN: i32 = 14 + 20 + 8 + 20 + 8;
const ICMP6_LEN: i32 = 14 + 40 + 8 + 40 + 8;
/// The TTL and hop limit of an answer (the kernel's default route hop limit).
const HOP_LIMIT: i32 = 64;
/// The IPv6 extension headers the prologue walks (`bpf::ext6`): a packet that has one
/// is not answered.
pub(crate) const EXT_HEADERS: [i32; 5] = [0, 43, 44, 51, 60];
/// `BPF_CSUM_LEVEL_RESET`: the redirected skb carries no stale checksum state.
const CSUM_LEVEL_RESET: i32 = 3;

/// A network-order 16-bit constant as a little-endian load of it reads.
const fn be16(v: u16) -> i32 {
    v.swap_bytes() as i32
}

/// The end of a packet-hook program's tail: verdicts exit, reject words go to their
/// kind's answer. Packet hooks have no redirect to a socket.
pub(super) struct Answer {
    ctx: PacketCtx,
    drop: i32,
    sent: Option<i32>,
    kinds: Vec<(RejectWith, Label)>,
}

impl Answer {
    /// The tail end of `prog` (at a hook whose packet context is `ctx`).
    pub(super) fn new(b: &mut CodeBuffer, prog: &Program, spec: &HookSpec, ctx: PacketCtx) -> Self {
        let mut kinds: Vec<RejectWith> = prog
            .rules
            .iter()
            .filter_map(|r| match r.action {
                Action::Reject(w) => Some(w),
                _ => None,
            })
            .collect();
        kinds.sort();
        kinds.dedup();
        Answer {
            ctx,
            drop: spec.verdicts.drop.expect("packet hooks drop"),
            sent: spec.reject_code(),
            kinds: kinds.into_iter().map(|k| (k, b.new_label())).collect(),
        }
    }

    fn xdp(&self) -> bool {
        self.ctx.len.is_none()
    }
}

impl Redirect for Answer {
    fn redirect(&mut self, _: &mut CodeBuffer, _: &Module, _: SockId, _: Label) {
        unreachable!("sema lets `redirect ... to sock` through only in sk_lookup blocks")
    }

    fn before_exit(&mut self, b: &mut CodeBuffer) {
        for (kind, label) in &self.kinds {
            b.branch_imm(Cond::Eq, Reg::R9, kind.mark(), *label);
        }
    }

    fn finish(&mut self, b: &mut CodeBuffer, _count_exit: Label) {
        if self.kinds.is_empty() {
            return;
        }
        self.sent
            .expect("sema lets `reject` through only where the hook answers");
        let refuse = b.new_label();
        let common = b.new_label();
        for (kind, label) in &self.kinds {
            b.bind(*label);
            b.note(format!(
                "reject {}: answer, or drop what is never answered",
                kind.text()
            ));
            // r7: the ICMP codes (v4 in the low byte, v6 above), r8: whether TCP is reset.
            let codes = i32::from(kind.icmp_code(false)) | i32::from(kind.icmp_code(true)) << 8;
            b.emit(Insn::mov64_imm(Reg::R7, codes));
            b.emit(Insn::mov64_imm(Reg::R8, i32::from(kind.resets(6))));
            b.goto(common);
        }
        b.bind(common);
        self.emit_dispatch(b, refuse);
        b.bind(refuse);
        b.note("reject: not answered, dropped");
        b.emit(Insn::mov64_imm(Reg::R0, self.drop));
        b.emit(Insn::exit());
    }
}

impl Answer {
    /// The family's checks, then the answer the packet gets.
    fn emit_dispatch(&self, b: &mut CodeBuffer, refuse: Label) {
        let (v6, rst4, rst6) = (b.new_label(), b.new_label(), b.new_label());
        let r1 = Reg::R1;
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L3)));
        b.branch_imm(Cond::Eq, r1, 6, v6);
        b.branch_imm(Cond::Ne, r1, 4, refuse);
        self.emit_checks(b, false, refuse);
        emit_resets(b, rst4);
        self.emit_icmp4(b, refuse);
        b.bind(rst4);
        self.emit_rst4(b, refuse);
        b.bind(v6);
        self.emit_checks(b, true, refuse);
        emit_resets(b, rst6);
        self.emit_icmp6(b, refuse);
        b.bind(rst6);
        self.emit_rst6(b, refuse);
    }

    /// `r2` = data, `r3` = data_end, and a check that `len` bytes are there.
    fn emit_load(&self, b: &mut CodeBuffer, len: i32, refuse: Label) {
        let (r1, r2, r3) = (Reg::R1, Reg::R2, Reg::R3);
        b.emit(Insn::ldx(Size::W, r2, Reg::R6, self.ctx.data));
        b.emit(Insn::ldx(Size::W, r3, Reg::R6, self.ctx.data_end));
        b.emit(Insn::mov64_reg(r1, r2));
        b.emit(Insn::alu64_imm(crate::bpf::insn::op::ADD, r1, len));
        b.branch_reg(Cond::Gt, r1, r3, refuse);
    }

    /// What is never answered goes to `refuse` (see the module's list).
    fn emit_checks(&self, b: &mut CodeBuffer, v6: bool, refuse: Label) {
        let (r1, r2, r4) = (Reg::R1, Reg::R2, Reg::R4);
        let fp = Reg::FP;
        self.emit_load(
            b,
            if v6 { ETH as i32 + 40 } else { ETH as i32 + 20 },
            refuse,
        );
        b.emit(Insn::ldx(Size::B, r1, r2, 0));
        b.branch_imm(Cond::Set, r1, 1, refuse);
        b.emit(Insn::ldx(Size::H, r1, r2, 12));
        b.branch_imm(Cond::Ne, r1, be16(if v6 { 0x86dd } else { 0x0800 }), refuse);
        if let Some((vlan_present, _)) = self.ctx.vlan_meta {
            b.emit(Insn::ldx(Size::W, r1, Reg::R6, vlan_present));
            b.branch_imm(Cond::Ne, r1, 0, refuse);
        }
        let proto_byte = |b: &mut CodeBuffer, r| b.emit(Insn::ldx(Size::B, r, fp, at(flow::PROTO)));
        if v6 {
            // The next header right after the fixed header is the upper layer's.
            b.emit(Insn::ldx(Size::B, r1, r2, ETH + 6));
            proto_byte(b, r4);
            b.branch_reg(Cond::Ne, r1, r4, refuse);
            // (equal also when the walk stopped at a header it could not pass)
            for ext in EXT_HEADERS {
                b.branch_imm(Cond::Eq, r1, ext, refuse);
            }
            for field in [flow::DST6, flow::SRC6] {
                b.emit(Insn::ldx(Size::B, r1, fp, at(field)));
                b.branch_imm(Cond::Eq, r1, 0xff, refuse);
            }
            // the record's IPv6 addresses are 4-byte aligned
            b.emit(Insn::ldx(Size::W, r1, fp, at(flow::SRC6)));
            for w in 1..4 {
                b.emit(Insn::ldx(Size::W, r4, fp, at(flow::SRC6) + 4 * w));
                b.emit(Insn::alu64_reg(crate::bpf::insn::op::OR, r1, r4));
            }
            b.branch_imm(Cond::Eq, r1, 0, refuse);
        } else {
            b.emit(Insn::ldx(Size::B, r1, r2, ETH));
            b.branch_imm(Cond::Ne, r1, 0x45, refuse);
            b.emit(Insn::ldx(Size::H, r1, r2, ETH + 6));
            b.branch_imm(Cond::Set, r1, be16(0x1fff), refuse);
            for field in [flow::DST4, flow::SRC4] {
                b.emit(Insn::ldx(Size::B, r1, fp, at(field)));
                b.branch_imm(Cond::Ge, r1, 224, refuse);
            }
            b.emit(Insn::ldx(Size::W, r1, fp, at(flow::SRC4)));
            b.branch_imm(Cond::Eq, r1, 0, refuse);
        }
        emit_l4_checks(b, v6, refuse);
    }

    /// Trims the frame to `len` bytes (`grow`: then opens that many bytes in front),
    /// reloads `r9` = data and checks `total` bytes are there.
    fn emit_reshape(&self, b: &mut CodeBuffer, len: i32, grow: i32, refuse: Label) {
        let (r0, r1, r2, r3) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3);
        let sub = crate::bpf::insn::op::SUB;
        if self.xdp() {
            b.emit(Insn::ldx(Size::W, r2, Reg::R6, self.ctx.data));
            b.emit(Insn::ldx(Size::W, r3, Reg::R6, self.ctx.data_end));
            b.emit(Insn::alu64_reg(sub, r3, r2));
            b.emit(Insn::mov64_imm(r2, len));
            b.emit(Insn::alu64_reg(sub, r2, r3));
            b.emit(Insn::mov64_reg(r1, Reg::R6));
            b.emit(Insn::call(bpf_func_id::BPF_FUNC_xdp_adjust_tail as u32));
            b.branch_imm(Cond::Ne, r0, 0, refuse);
            if grow > 0 {
                b.emit(Insn::mov64_reg(r1, Reg::R6));
                b.emit(Insn::mov64_imm(r2, -grow));
                b.emit(Insn::call(bpf_func_id::BPF_FUNC_xdp_adjust_head as u32));
                b.branch_imm(Cond::Ne, r0, 0, refuse);
            }
        } else {
            b.emit(Insn::mov64_reg(r1, Reg::R6));
            b.emit(Insn::mov64_imm(r2, len));
            b.emit(Insn::mov64_imm(r3, 0));
            b.emit(Insn::call(bpf_func_id::BPF_FUNC_skb_change_tail as u32));
            b.branch_imm(Cond::Ne, r0, 0, refuse);
            if grow > 0 {
                b.emit(Insn::mov64_reg(r1, Reg::R6));
                b.emit(Insn::mov64_imm(r2, grow));
                b.emit(Insn::mov64_imm(r3, 0));
                b.emit(Insn::call(bpf_func_id::BPF_FUNC_skb_change_head as u32));
                b.branch_imm(Cond::Ne, r0, 0, refuse);
            }
        }
        self.emit_load(b, len + grow, refuse);
        b.emit(Insn::mov64_reg(Reg::R9, r2));
    }

    /// The answer in place: out of the interface it came in on.
    fn emit_send(&self, b: &mut CodeBuffer) {
        let sent = self.sent.expect("checked in finish");
        if self.xdp() {
            b.emit(Insn::mov64_imm(Reg::R0, sent));
        } else {
            b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
            b.emit(Insn::mov64_imm(Reg::R2, CSUM_LEVEL_RESET));
            b.emit(Insn::call(bpf_func_id::BPF_FUNC_csum_level as u32));
            let ifindex = offset_of!(uapi::__sk_buff, ingress_ifindex) as i16;
            b.emit(Insn::ldx(Size::W, Reg::R1, Reg::R6, ifindex));
            b.emit(Insn::mov64_imm(Reg::R2, 0));
            b.emit(Insn::call(bpf_func_id::BPF_FUNC_redirect as u32));
        }
        b.emit(Insn::exit());
    }

    /// ICMP destination unreachable (code in `r7`'s low byte) quoting the IPv4 header
    /// and 8 bytes: the original moves 28 bytes back to make room for the new IP and
    /// ICMP headers.
    fn emit_icmp4(&self, b: &mut CodeBuffer, refuse: Label) {
        b.note("reject: ICMP destination unreachable");
        self.emit_load(b, ETH as i32 + 28, refuse);
        self.emit_reshape(b, ETH as i32 + 28, 28, refuse);
        let d = Reg::R9;
        // the original Ethernet header is now at 28, its IP header at 42
        emit_copy(
            b,
            &[
                (Size::W, 34, 0),
                (Size::H, 38, 4),
                (Size::W, 28, 6),
                (Size::H, 32, 10),
            ],
        );
        b.emit(Insn::st_imm(Size::H, d, 12, be16(0x0800)));
        b.emit(Insn::st_imm(Size::B, d, ETH, 0x45));
        b.emit(Insn::st_imm(Size::B, d, ETH + 1, 0xc0));
        b.emit(Insn::st_imm(
            Size::H,
            d,
            ETH + 2,
            be16(ICMP4_LEN as u16 - 14),
        ));
        b.emit(Insn::st_imm(Size::W, d, ETH + 4, 0));
        b.emit(Insn::st_imm(Size::B, d, ETH + 8, HOP_LIMIT));
        b.emit(Insn::st_imm(Size::B, d, ETH + 9, 1));
        b.emit(Insn::st_imm(Size::H, d, ETH + 10, 0));
        emit_copy(
            b,
            &[(Size::W, 42 + 16, ETH + 12), (Size::W, 42 + 12, ETH + 16)],
        );
        b.emit(Insn::st_imm(Size::B, d, 34, i32::from(ICMP_DEST_UNREACH)));
        b.emit(Insn::stx(Size::B, d, 35, Reg::R7));
        b.emit(Insn::st_imm(Size::H, d, 36, 0));
        b.emit(Insn::st_imm(Size::W, d, 38, 0));
        emit_csum(b, ETH, 20, 0, ETH + 10);
        emit_csum(b, 34, ICMP4_LEN - 34, 0, 36);
        self.emit_send(b);
    }

    /// ICMPv6 destination unreachable (code in `r7`'s second byte) quoting the IPv6
    /// header and 8 bytes.
    fn emit_icmp6(&self, b: &mut CodeBuffer, refuse: Label) {
        b.note("reject: ICMPv6 destination unreachable");
        self.emit_load(b, ETH as i32 + 48, refuse);
        self.emit_reshape(b, ETH as i32 + 48, 48, refuse);
        let d = Reg::R9;
        // the original Ethernet header is now at 48, its IPv6 header at 62
        emit_copy(
            b,
            &[
                (Size::W, 54, 0),
                (Size::H, 58, 4),
                (Size::W, 48, 6),
                (Size::H, 52, 10),
            ],
        );
        b.emit(Insn::st_imm(Size::H, d, 12, be16(0x86dd)));
        b.emit(Insn::st_imm(Size::W, d, ETH, 0x60));
        b.emit(Insn::st_imm(
            Size::H,
            d,
            ETH + 4,
            be16(ICMP6_LEN as u16 - 54),
        ));
        b.emit(Insn::st_imm(Size::B, d, ETH + 6, 58));
        b.emit(Insn::st_imm(Size::B, d, ETH + 7, HOP_LIMIT));
        emit_copy(
            b,
            &[
                (Size::DW, 62 + 24, 22),
                (Size::DW, 62 + 32, 30),
                (Size::DW, 62 + 8, 38),
                (Size::DW, 62 + 16, 46),
            ],
        );
        b.emit(Insn::st_imm(Size::B, d, 54, i32::from(ICMPV6_DEST_UNREACH)));
        b.emit(Insn::mov64_reg(Reg::R1, Reg::R7));
        b.emit(Insn::alu64_imm(crate::bpf::insn::op::RSH, Reg::R1, 8));
        b.emit(Insn::stx(Size::B, d, 55, Reg::R1));
        b.emit(Insn::st_imm(Size::H, d, 56, 0));
        b.emit(Insn::st_imm(Size::W, d, 58, 0));
        // pseudo header: both addresses (in place, just before the ICMPv6 message),
        // then the upper-layer length and next header as the seed
        let len = (ICMP6_LEN - 54) as u32;
        emit_csum(b, 22, ICMP6_LEN - 22, (len << 24) + (58 << 24), 56);
        self.emit_send(b);
    }

    /// A TCP reset answering an IPv4 segment.
    fn emit_rst4(&self, b: &mut CodeBuffer, refuse: Label) {
        b.note("reject: TCP reset");
        self.emit_load(b, RST4_LEN, refuse);
        self.emit_reshape(b, RST4_LEN, 0, refuse);
        let (d, r1) = (Reg::R9, Reg::R1);
        // the segment's length: IP total length - IP header - TCP header
        b.emit(Insn::ldx(Size::H, r1, d, ETH + 2));
        b.emit(Insn::be(r1, 16));
        b.emit(Insn::alu64_imm(crate::bpf::insn::op::SUB, r1, 20));
        emit_tcp(b, 34);
        b.emit(Insn::st_imm(Size::B, d, ETH + 1, 0));
        b.emit(Insn::st_imm(Size::H, d, ETH + 2, be16(40)));
        // id 0, DF
        b.emit(Insn::st_imm(Size::W, d, ETH + 4, 0x0040_0000));
        b.emit(Insn::st_imm(Size::B, d, ETH + 8, HOP_LIMIT));
        b.emit(Insn::st_imm(Size::H, d, ETH + 10, 0));
        emit_swap(b, Size::W, ETH + 12, ETH + 16);
        emit_swap_macs(b);
        emit_csum(b, ETH, 20, 0, ETH + 10);
        // pseudo header: both addresses (in place, just before the TCP header), then
        // zero, protocol 6 and TCP length 20 as the seed
        emit_csum(b, ETH + 12, 8 + 20, (20 << 24) + (6 << 8), 34 + 16);
        self.emit_send(b);
    }

    /// A TCP reset answering an IPv6 segment (no extension headers).
    fn emit_rst6(&self, b: &mut CodeBuffer, refuse: Label) {
        b.note("reject: TCP reset");
        self.emit_load(b, RST6_LEN, refuse);
        self.emit_reshape(b, RST6_LEN, 0, refuse);
        let (d, r1) = (Reg::R9, Reg::R1);
        // the segment's length: IPv6 payload length - TCP header
        b.emit(Insn::ldx(Size::H, r1, d, ETH + 4));
        b.emit(Insn::be(r1, 16));
        emit_tcp(b, 54);
        b.emit(Insn::st_imm(Size::W, d, ETH, 0x60));
        b.emit(Insn::st_imm(Size::H, d, ETH + 4, be16(20)));
        b.emit(Insn::st_imm(Size::B, d, ETH + 7, HOP_LIMIT));
        emit_swap(b, Size::DW, ETH + 8, ETH + 24);
        emit_swap(b, Size::DW, ETH + 16, ETH + 32);
        emit_swap_macs(b);
        emit_csum(b, ETH + 8, 32 + 20, (20 << 24) + (6 << 24), 54 + 16);
        self.emit_send(b);
    }
}

/// To `to` when the rule's kind resets (`r8`) and the packet is TCP.
fn emit_resets(b: &mut CodeBuffer, to: Label) {
    let next = b.new_label();
    b.branch_imm(Cond::Eq, Reg::R8, 0, next);
    b.emit(Insn::ldx(Size::B, Reg::R1, Reg::FP, at(flow::PROTO)));
    b.branch_imm(Cond::Eq, Reg::R1, 6, to);
    b.bind(next);
}

/// No answer to an ICMP or ICMPv6 error, to a TCP reset, or to a packet whose ICMP or
/// TCP header is cut short.
fn emit_l4_checks(b: &mut CodeBuffer, v6: bool, refuse: Label) {
    let (r1, r2) = (Reg::R1, Reg::R2);
    let (tcp, icmp, done) = (b.new_label(), b.new_label(), b.new_label());
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::PROTO)));
    b.emit(Insn::ldx(Size::B, r2, Reg::FP, at(flow::L4_OK)));
    b.branch_imm(Cond::Eq, r1, 6, tcp);
    b.branch_imm(Cond::Eq, r1, if v6 { 58 } else { 1 }, icmp);
    b.goto(done);
    b.bind(tcp);
    b.branch_imm(Cond::Eq, r2, 0, refuse);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::TCP_FLAGS)));
    b.branch_imm(Cond::Set, r1, 0x04, refuse);
    b.goto(done);
    b.bind(icmp);
    b.branch_imm(Cond::Eq, r2, 0, refuse);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::ICMP_TYPE)));
    if v6 {
        // types below 128 are ICMPv6 errors
        b.branch_imm(Cond::Lt, r1, 128, refuse);
    } else {
        for error in [3, 4, 5, 11, 12] {
            b.branch_imm(Cond::Eq, r1, error, refuse);
        }
    }
    b.bind(done);
}

/// The TCP header of a reset at `tcp` (over the segment's own), with `r1` = the
/// segment's length after the IP header minus the TCP header's: if the segment had
/// ACK, `seq` = its ack and only RST; otherwise `seq` 0, `ack` = its seq + its data
/// length + SYN + FIN, and RST|ACK (RFC 793, as `nf_reject_ip_tcphdr_put`).
fn emit_tcp(b: &mut CodeBuffer, tcp: i16) {
    use crate::bpf::insn::op;
    let (d, r1, r2, r3) = (Reg::R9, Reg::R1, Reg::R2, Reg::R3);
    let (no_ack, header) = (b.new_label(), b.new_label());
    b.emit(Insn::ldx(Size::B, r2, d, tcp + 12));
    b.emit(Insn::alu64_imm(op::AND, r2, 0xf0));
    b.emit(Insn::alu64_imm(op::RSH, r2, 2));
    b.emit(Insn::alu64_reg(op::SUB, r1, r2));
    b.emit(Insn::ldx(Size::B, r2, d, tcp + 13));
    // FIN and SYN take one sequence number each
    b.emit(Insn::mov64_reg(r3, r2));
    b.emit(Insn::alu64_imm(op::AND, r3, 0x01));
    b.emit(Insn::alu64_reg(op::ADD, r1, r3));
    b.emit(Insn::mov64_reg(r3, r2));
    b.emit(Insn::alu64_imm(op::AND, r3, 0x02));
    b.emit(Insn::alu64_imm(op::RSH, r3, 1));
    b.emit(Insn::alu64_reg(op::ADD, r1, r3));
    emit_swap(b, Size::H, tcp, tcp + 2);
    b.emit(Insn::alu64_imm(op::AND, r2, 0x10));
    b.branch_imm(Cond::Eq, r2, 0, no_ack);
    b.emit(Insn::ldx(Size::W, r3, d, tcp + 8));
    b.emit(Insn::stx(Size::W, d, tcp + 4, r3));
    b.emit(Insn::st_imm(Size::W, d, tcp + 8, 0));
    b.emit(Insn::st_imm(Size::B, d, tcp + 13, 0x04));
    b.goto(header);
    b.bind(no_ack);
    b.emit(Insn::ldx(Size::W, r3, d, tcp + 4));
    b.emit(Insn::be(r3, 32));
    b.emit(Insn::alu64_reg(op::ADD, r3, r1));
    b.emit(Insn::be(r3, 32));
    b.emit(Insn::stx(Size::W, d, tcp + 8, r3));
    b.emit(Insn::st_imm(Size::W, d, tcp + 4, 0));
    b.emit(Insn::st_imm(Size::B, d, tcp + 13, 0x14));
    b.bind(header);
    b.emit(Insn::st_imm(Size::B, d, tcp + 12, 0x50));
    b.emit(Insn::st_imm(Size::W, d, tcp + 14, 0));
    b.emit(Insn::st_imm(Size::H, d, tcp + 18, 0));
}

/// Copies `(size, from, to)` within the frame at `r9`, in order.
fn emit_copy(b: &mut CodeBuffer, moves: &[(Size, i16, i16)]) {
    for &(size, from, to) in moves {
        b.emit(Insn::ldx(size, Reg::R1, Reg::R9, from));
        b.emit(Insn::stx(size, Reg::R9, to, Reg::R1));
    }
}

/// Swaps two fields of the frame at `r9`.
fn emit_swap(b: &mut CodeBuffer, size: Size, x: i16, y: i16) {
    b.emit(Insn::ldx(size, Reg::R4, Reg::R9, x));
    b.emit(Insn::ldx(size, Reg::R5, Reg::R9, y));
    b.emit(Insn::stx(size, Reg::R9, x, Reg::R5));
    b.emit(Insn::stx(size, Reg::R9, y, Reg::R4));
}

/// Destination and source MAC addresses swapped.
fn emit_swap_macs(b: &mut CodeBuffer) {
    emit_swap(b, Size::W, 0, 6);
    emit_swap(b, Size::H, 4, 10);
}

/// The Internet checksum of `len` bytes at `r9 + off` (a multiple of 4) with `seed`
/// (the pseudo header's words as memory-order sums), stored at `r9 + store`.
fn emit_csum(b: &mut CodeBuffer, off: i16, len: i32, seed: u32, store: i16) {
    use crate::bpf::insn::op;
    let (r0, r1) = (Reg::R0, Reg::R1);
    b.emit(Insn::mov64_imm(r1, 0));
    b.emit(Insn::mov64_imm(Reg::R2, 0));
    b.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R3, i32::from(off)));
    b.emit(Insn::mov64_imm(Reg::R4, len));
    b.emit(Insn::mov64_imm(Reg::R5, seed as i32));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_csum_diff as u32));
    for _ in 0..2 {
        b.emit(Insn::mov64_reg(r1, r0));
        b.emit(Insn::alu64_imm(op::RSH, r1, 16));
        b.emit(Insn::alu64_imm(op::AND, r0, 0xffff));
        b.emit(Insn::alu64_reg(op::ADD, r0, r1));
    }
    b.emit(Insn::alu64_imm(op::XOR, r0, 0xffff));
    b.emit(Insn::stx(Size::H, Reg::R9, store, r0));
}
