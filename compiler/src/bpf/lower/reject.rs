//! `reject` at XDP and TC ingress: the frame is rewritten in place into the answer and
//! sent back out of the interface it came in on (`XDP_TX`; `bpf_redirect` to the
//! ingress interface at TC). A TCP segment gets a reset (RFC 793 sequence numbers,
//! as the kernel's `nf_reject_ipv4.c` builds it, without IP options or extension
//! headers); anything else gets ICMP (ICMPv6) destination unreachable quoting the IP
//! header with its options (IPv6: its extension headers, at most [`QUOTE6_MAX`] bytes
//! of quote in all) and the 8 bytes after them. Where the upper-layer header is comes
//! from the prologue ([`flow::L4_OFF`]): a reset moves the TCP header up behind a
//! plain IP header before trimming the frame; an ICMP answer quotes up to that header
//! plus 8 and checksums the quote through a zero-padded stack copy (the verifier
//! allows no checksum of a packet range whose length it does not know).
//!
//! How it joins the rule walk: a rejecting rule leaves its kind's word
//! ([`RejectWith::mark`]) in the verdict register like any verdict, so the shared
//! tail counts and logs it as usual; [`Answer::before_exit`] then sends each word to
//! its kind's routine, emitted after the tail ([`Answer::finish`]).
//!
//! An ICMP answer the file's limits refuse (`reject answers`, by default the kernel's
//! own: [`answers`]) is dropped and counted instead, once every check below has said
//! it would be sent; resets are never limited, as the kernel's are not.
//!
//! What is never answered (the kernel's `icmp_send` and `nf_send_reset` answer none
//! of it) is dropped instead, still counted as the reject rule's: a group (broadcast
//! or multicast) Ethernet destination, a frame with two VLAN tags (one is answered,
//! and the answer carries it: XDP takes it out of the frame and puts it back on the
//! answer, [`Answer::emit_untag`]; before tc ingress the kernel has taken it out into
//! the skb, which the answer keeps), a non-first IPv4
//! fragment, IPv6 whose upper layer the prologue did not reach (a non-first fragment,
//! an extension-header chain it could not pass), an ICMPv6 answer whose quote would
//! pass [`QUOTE6_MAX`], a broadcast, multicast or class E destination, a source that is unspecified, multicast or broadcast, an ICMP
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
        answers,
        buffer::{CodeBuffer, Label},
        flow::{self, at},
        insn::{op, Cond, Insn, Reg, Size},
    },
    hooks::{HookSpec, PacketCtx},
    ir::{Action, Module, Program, SockId},
    syntax::reject::{RejectWith, ICMPV6_DEST_UNREACH, ICMP_DEST_UNREACH},
};

const ETH: i16 = 14;
/// The resets' total lengths: Ethernet, IP header, TCP header (an ICMP answer's
/// depends on its quote).
const RST4_LEN: i32 = 14 + 20 + 20;
const RST6_LEN: i32 = 14 + 40 + 20;
/// The TTL and hop limit of an answer (the kernel's default route hop limit).
const HOP_LIMIT: i32 = 64;
/// The longest ICMPv6 quote answered: the IPv6 header, 80 bytes of extension headers
/// and 8 bytes (the kernel quotes up to 1,232; the stack copy the checksum is taken
/// over bounds this one).
pub(crate) const QUOTE6_MAX: i32 = 128;
/// The longest ICMP quote: an IPv4 header with 40 bytes of options, and 8 bytes.
const QUOTE4_MAX: i32 = 68;
/// Stack scratch for the quote's zero-padded copy (and a moved TCP header): the
/// packet tests' scratch, dead once a verdict is reached.
const QUOTE_BUF: i16 = crate::bpf::socket::TUPLE - QUOTE6_MAX as i16;
const _: () = assert!(QUOTE_BUF >= -512 && QUOTE_BUF % 8 == 0);
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
    /// ICMP answers pass the limits first ([`answers::emit_check`]).
    limited: bool,
}

impl Answer {
    /// The tail end of `prog` (at a hook whose packet context is `ctx`); `limited`:
    /// its ICMP answers pass the answer limits.
    pub(super) fn new(
        b: &mut CodeBuffer,
        prog: &Program,
        spec: &HookSpec,
        ctx: PacketCtx,
        limited: bool,
    ) -> Self {
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
            limited,
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
        if self.xdp() {
            self.emit_untag(b, refuse);
        }
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
        b.emit(Insn::alu64_imm(op::ADD, r1, len));
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
        // An EtherType other than IP's here is a tag still in the frame (a second
        // tag): not answered. A tag the kernel took out of the frame before tc
        // ingress (`skb->vlan_tci`) stays with the skb, and so with the answer
        // redirected out of the same interface.
        b.branch_imm(Cond::Ne, r1, be16(if v6 { 0x86dd } else { 0x0800 }), refuse);
        // The prologue reached the upper layer (not a non-first fragment, not an
        // extension-header chain it could not pass).
        b.emit(Insn::ldx(Size::H, r1, fp, at(flow::L4_OFF)));
        b.branch_imm(Cond::Eq, r1, 0, refuse);
        if v6 {
            for field in [flow::DST6, flow::SRC6] {
                b.emit(Insn::ldx(Size::B, r1, fp, at(field)));
                b.branch_imm(Cond::Eq, r1, 0xff, refuse);
            }
            // the record's IPv6 addresses are 4-byte aligned
            b.emit(Insn::ldx(Size::W, r1, fp, at(flow::SRC6)));
            for w in 1..4 {
                b.emit(Insn::ldx(Size::W, r4, fp, at(flow::SRC6) + 4 * w));
                b.emit(Insn::alu64_reg(op::OR, r1, r4));
            }
            b.branch_imm(Cond::Eq, r1, 0, refuse);
        } else {
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

    /// Trims the frame to `keep` (`grow`: then opens that many bytes in front),
    /// reloads `r9` = data and checks the shortest such answer is there.
    fn emit_reshape(&self, b: &mut CodeBuffer, keep: Keep, grow: i32, refuse: Label) {
        let (r0, r1, r2, r3) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3);
        let sub = op::SUB;
        if self.xdp() {
            b.emit(Insn::ldx(Size::W, r2, Reg::R6, self.ctx.data));
            b.emit(Insn::ldx(Size::W, r3, Reg::R6, self.ctx.data_end));
            b.emit(Insn::alu64_reg(sub, r3, r2));
            keep.emit_to(b, r2);
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
            keep.emit_to(b, r2);
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
        self.emit_load(b, keep.shortest() + grow, refuse);
        b.emit(Insn::mov64_reg(Reg::R9, r2));
    }

    /// At XDP, before the checks: one VLAN tag in front of an IP header is taken out of
    /// the frame (the addresses move up 4 bytes, the head moves past them) and kept at
    /// [`TAG`], so the answer is built as for an untagged frame and gets the tag back
    /// when it is sent ([`Self::emit_retag`]). A frame whose upper layer the prologue did not
    /// reach keeps its tag and is refused by the checks.
    fn emit_untag(&self, b: &mut CodeBuffer, refuse: Label) {
        let (r0, r1, r2) = (Reg::R0, Reg::R1, Reg::R2);
        let (tagged, plain) = (b.new_label(), b.new_label());
        b.emit(Insn::st_imm(Size::W, Reg::FP, TAG, 0));
        b.emit(Insn::ldx(Size::H, r1, Reg::FP, at(flow::L4_OFF)));
        b.branch_imm(Cond::Eq, r1, 0, plain);
        // (the prologue reached the upper layer: the frame is longer than this)
        self.emit_load(b, i32::from(ETH) + VLAN_HLEN, refuse);
        b.emit(Insn::ldx(Size::H, r1, r2, 12));
        b.branch_imm(Cond::Eq, r1, be16(0x8100), tagged);
        b.branch_imm(Cond::Ne, r1, be16(0x88a8), plain);
        b.bind(tagged);
        b.emit(Insn::ldx(Size::W, r1, r2, 12));
        b.emit(Insn::stx(Size::W, Reg::FP, TAG, r1));
        b.emit(Insn::mov64_reg(Reg::R9, r2));
        // the addresses up to the tag (each word moves 4 bytes up, highest first)
        emit_copy(b, &[(Size::W, 8, 12), (Size::W, 4, 8), (Size::W, 0, 4)]);
        b.emit(Insn::mov64_reg(r1, Reg::R6));
        b.emit(Insn::mov64_imm(r2, VLAN_HLEN));
        b.emit(Insn::call(bpf_func_id::BPF_FUNC_xdp_adjust_head as u32));
        b.branch_imm(Cond::Ne, r0, 0, refuse);
        b.emit(Insn::ldx(Size::H, r1, Reg::FP, at(flow::L4_OFF)));
        b.emit(Insn::alu64_imm(op::SUB, r1, VLAN_HLEN));
        b.emit(Insn::stx(Size::H, Reg::FP, at(flow::L4_OFF), r1));
        b.bind(plain);
    }

    /// At XDP, before the answer goes: the VLAN tag `emit_untag` took out, if any,
    /// put back between the MAC addresses and the EtherType.
    fn emit_retag(&self, b: &mut CodeBuffer, refuse: Label) {
        let (r0, r1, r2) = (Reg::R0, Reg::R1, Reg::R2);
        let untagged = b.new_label();
        b.emit(Insn::ldx(Size::W, r1, Reg::FP, TAG));
        b.branch_imm(Cond::Eq, r1, 0, untagged);
        b.emit(Insn::mov64_reg(r1, Reg::R6));
        b.emit(Insn::mov64_imm(r2, -VLAN_HLEN));
        b.emit(Insn::call(bpf_func_id::BPF_FUNC_xdp_adjust_head as u32));
        b.branch_imm(Cond::Ne, r0, 0, refuse);
        self.emit_load(b, i32::from(ETH) + VLAN_HLEN, refuse);
        b.emit(Insn::mov64_reg(Reg::R9, r2));
        // the addresses back to the front (each word moves 4 bytes down, lowest first)
        emit_copy(b, &[(Size::W, 4, 0), (Size::W, 8, 4), (Size::W, 12, 8)]);
        b.emit(Insn::ldx(Size::W, r1, Reg::FP, TAG));
        b.emit(Insn::stx(Size::W, Reg::R9, 12, r1));
        b.bind(untagged);
    }

    /// `len` bytes of the frame from offset `r2` to the stack at `fp + to`; `r0` is
    /// not 0 when the range is not there.
    fn emit_load_bytes(&self, b: &mut CodeBuffer, to: i16, len: Reg) {
        if len != Reg::R4 {
            b.emit(Insn::mov64_reg(Reg::R4, len));
        }
        b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
        b.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
        b.emit(Insn::alu64_imm(op::ADD, Reg::R3, i32::from(to)));
        b.emit(Insn::call(if self.xdp() {
            bpf_func_id::BPF_FUNC_xdp_load_bytes as u32
        } else {
            bpf_func_id::BPF_FUNC_skb_load_bytes as u32
        }));
    }

    /// Before a reset: the TCP header brought up to `to`, right behind a plain IP
    /// header, when options or extension headers lie between. At XDP its 20 bytes are
    /// copied there through the stack; at TC the bytes between are taken out
    /// (`bpf_skb_adjust_room` at the network header), which also keeps the skb's
    /// checksum offload state pointing at the TCP header (a copy would leave a partial
    /// checksum's start behind the trimmed frame, and the answer would never leave).
    fn emit_move_tcp(&self, b: &mut CodeBuffer, to: i16, refuse: Label) {
        let (r0, r2) = (Reg::R0, Reg::R2);
        let done = b.new_label();
        b.emit(Insn::ldx(Size::H, r2, Reg::FP, at(flow::L4_OFF)));
        b.branch_imm(Cond::Eq, r2, i32::from(to), done);
        if self.xdp() {
            b.emit(Insn::mov64_imm(Reg::R4, 20));
            self.emit_load_bytes(b, QUOTE_BUF, Reg::R4);
            b.branch_imm(Cond::Ne, r0, 0, refuse);
            b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
            b.emit(Insn::mov64_imm(r2, i32::from(to)));
            b.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
            b.emit(Insn::alu64_imm(op::ADD, Reg::R3, i32::from(QUOTE_BUF)));
            b.emit(Insn::mov64_imm(Reg::R4, 20));
            b.emit(Insn::call(bpf_func_id::BPF_FUNC_xdp_store_bytes as u32));
        } else {
            // len_diff = to - L4_OFF (negative: a shrink)
            b.emit(Insn::mov64_imm(Reg::R3, i32::from(to)));
            b.emit(Insn::alu64_reg(op::SUB, Reg::R3, r2));
            b.emit(Insn::mov64_reg(r2, Reg::R3));
            b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
            b.emit(Insn::mov64_imm(
                Reg::R3,
                uapi::bpf_adj_room_mode::BPF_ADJ_ROOM_NET as i32,
            ));
            b.emit(Insn::mov64_imm(Reg::R4, 0));
            b.emit(Insn::call(bpf_func_id::BPF_FUNC_skb_adjust_room as u32));
        }
        b.branch_imm(Cond::Ne, r0, 0, refuse);
        b.bind(done);
    }

    /// Refuses a frame without 8 bytes after the upper-layer header, or whose quote
    /// (from the IP header to those 8 bytes) would be longer than `max`.
    fn emit_quote_fits(&self, b: &mut CodeBuffer, max: i32, refuse: Label) {
        let (r1, r2, r3, r4) = (Reg::R1, Reg::R2, Reg::R3, Reg::R4);
        b.emit(Insn::ldx(Size::H, r4, Reg::FP, at(flow::L4_OFF)));
        b.branch_imm(Cond::Gt, r4, i32::from(ETH) + max - 8, refuse);
        b.emit(Insn::alu64_imm(op::ADD, r4, 8));
        b.emit(Insn::ldx(Size::W, r2, Reg::R6, self.ctx.data));
        b.emit(Insn::ldx(Size::W, r3, Reg::R6, self.ctx.data_end));
        b.emit(Insn::mov64_reg(r1, r2));
        b.emit(Insn::alu64_reg(op::ADD, r1, r4));
        b.branch_reg(Cond::Gt, r1, r3, refuse);
    }

    /// The checksum of an ICMP (ICMPv6) answer whose quote starts at `quote` and runs
    /// `L4_OFF - 6` bytes (the IP header to 8 bytes past the upper-layer header, at
    /// most `max`): `fixed` bytes at `r9 + off` before it with `seed` in `r5` first,
    /// then the quote; stored at `r9 + store`. The quote of a plain IP header has a
    /// known length and is summed with the rest in one go; with options or extension
    /// headers it goes through a zero-padded stack copy (zeros add nothing), since the
    /// verifier allows no checksum of a packet range whose length it does not know.
    #[allow(clippy::too_many_arguments)]
    fn emit_quote_csum(
        &self,
        b: &mut CodeBuffer,
        off: i16,
        fixed: i32,
        quote: i16,
        max: i32,
        store: i16,
        refuse: Label,
    ) {
        let (r0, r2, r4) = (Reg::R0, Reg::R2, Reg::R4);
        let (stack, done) = (b.new_label(), b.new_label());
        // A plain header put the upper layer right behind it, at the answer's quote
        // less the 8-byte ICMP header; its quote is that header and 8 bytes.
        let plain_l4 = i32::from(quote) - 8;
        let plain_quote = plain_l4 - i32::from(ETH) + 8;
        b.emit(Insn::ldx(Size::H, r4, Reg::FP, at(flow::L4_OFF)));
        b.branch_imm(Cond::Ne, r4, plain_l4, stack);
        b.emit(Insn::mov64_imm(Reg::R1, 0));
        b.emit(Insn::mov64_imm(r2, 0));
        b.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
        b.emit(Insn::alu64_imm(op::ADD, Reg::R3, i32::from(off)));
        b.emit(Insn::mov64_imm(r4, fixed + plain_quote));
        b.emit(Insn::call(bpf_func_id::BPF_FUNC_csum_diff as u32));
        emit_fold(b, store);
        b.goto(done);
        b.bind(stack);
        b.emit(Insn::mov64_imm(Reg::R1, 0));
        b.emit(Insn::mov64_imm(r2, 0));
        b.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
        b.emit(Insn::alu64_imm(op::ADD, Reg::R3, i32::from(off)));
        b.emit(Insn::mov64_imm(r4, fixed));
        b.emit(Insn::call(bpf_func_id::BPF_FUNC_csum_diff as u32));
        b.emit(Insn::mov64_reg(Reg::R8, r0));
        for at in (0..max as i16).step_by(8) {
            b.emit(Insn::st_imm(Size::DW, Reg::FP, QUOTE_BUF + at, 0));
        }
        b.emit(Insn::ldx(Size::H, r4, Reg::FP, at(flow::L4_OFF)));
        b.emit(Insn::alu64_imm(op::SUB, r4, i32::from(ETH) - 8));
        // Bounds the verifier can see (emit_quote_fits made them true already).
        b.branch_imm(Cond::Gt, r4, max, refuse);
        b.branch_imm(Cond::Lt, r4, 28, refuse);
        b.emit(Insn::mov64_imm(r2, i32::from(quote)));
        self.emit_load_bytes(b, QUOTE_BUF, r4);
        b.branch_imm(Cond::Ne, r0, 0, refuse);
        b.emit(Insn::mov64_imm(Reg::R1, 0));
        b.emit(Insn::mov64_imm(r2, 0));
        b.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
        b.emit(Insn::alu64_imm(op::ADD, Reg::R3, i32::from(QUOTE_BUF)));
        b.emit(Insn::mov64_imm(r4, max));
        b.emit(Insn::mov64_reg(Reg::R5, Reg::R8));
        b.emit(Insn::call(bpf_func_id::BPF_FUNC_csum_diff as u32));
        emit_fold(b, store);
        b.bind(done);
    }

    /// The answer in place: out of the interface it came in on.
    fn emit_send(&self, b: &mut CodeBuffer, refuse: Label) {
        let sent = self.sent.expect("checked in finish");
        if self.xdp() {
            self.emit_retag(b, refuse);
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
        self.emit_quote_fits(b, QUOTE4_MAX, refuse);
        if self.limited {
            answers::emit_check(b, false, self.drop);
        }
        self.emit_reshape(b, Keep::QuoteEnd { shortest: 28 }, 28, refuse);
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
        // total length: IP and ICMP headers, and the quote (L4_OFF - 14 + 8)
        emit_length(b, 20 + 8 - 6, ETH + 2);
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
        b.emit(Insn::mov64_imm(Reg::R5, 0));
        self.emit_quote_csum(b, 34, 8, 42, QUOTE4_MAX, 36, refuse);
        self.emit_send(b, refuse);
    }

    /// ICMPv6 destination unreachable (code in `r7`'s second byte) quoting the IPv6
    /// header and 8 bytes.
    fn emit_icmp6(&self, b: &mut CodeBuffer, refuse: Label) {
        b.note("reject: ICMPv6 destination unreachable");
        self.emit_load(b, ETH as i32 + 48, refuse);
        self.emit_quote_fits(b, QUOTE6_MAX, refuse);
        if self.limited {
            answers::emit_check(b, true, self.drop);
        }
        self.emit_reshape(b, Keep::QuoteEnd { shortest: 48 }, 48, refuse);
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
        // payload length: the ICMPv6 header and the quote (L4_OFF - 14 + 8)
        emit_length(b, 8 - 6, ETH + 4);
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
        b.emit(Insn::alu64_imm(op::RSH, Reg::R1, 8));
        b.emit(Insn::stx(Size::B, d, 55, Reg::R1));
        b.emit(Insn::st_imm(Size::H, d, 56, 0));
        b.emit(Insn::st_imm(Size::W, d, 58, 0));
        // pseudo header: both addresses (in place, just before the ICMPv6 message),
        // then the upper-layer length (below 256: the quote is bounded) and next
        // header as the seed, in memory order
        b.emit(Insn::ldx(Size::H, Reg::R5, Reg::FP, at(flow::L4_OFF)));
        b.emit(Insn::alu64_imm(op::ADD, Reg::R5, 8 - 6 + 58));
        b.emit(Insn::alu64_imm(op::AND, Reg::R5, 0xff));
        b.emit(Insn::alu64_imm(op::LSH, Reg::R5, 24));
        self.emit_quote_csum(b, 22, 32 + 8, 62, QUOTE6_MAX, 56, refuse);
        self.emit_send(b, refuse);
    }

    /// A TCP reset answering an IPv4 segment.
    fn emit_rst4(&self, b: &mut CodeBuffer, refuse: Label) {
        b.note("reject: TCP reset");
        self.emit_load(b, RST4_LEN, refuse);
        self.emit_move_tcp(b, 34, refuse);
        self.emit_reshape(b, Keep::Bytes(RST4_LEN), 0, refuse);
        let (d, r1) = (Reg::R9, Reg::R1);
        // the segment's length: IP total length - IP header (L4_OFF - 14) - TCP header
        b.emit(Insn::ldx(Size::H, r1, d, ETH + 2));
        b.emit(Insn::be(r1, 16));
        emit_minus_headers(b, ETH);
        emit_tcp(b, 34);
        b.emit(Insn::st_imm(Size::B, d, ETH, 0x45));
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
        self.emit_send(b, refuse);
    }

    /// A TCP reset answering an IPv6 segment (without the extension headers it had).
    fn emit_rst6(&self, b: &mut CodeBuffer, refuse: Label) {
        b.note("reject: TCP reset");
        self.emit_load(b, RST6_LEN, refuse);
        self.emit_move_tcp(b, 54, refuse);
        self.emit_reshape(b, Keep::Bytes(RST6_LEN), 0, refuse);
        let (d, r1) = (Reg::R9, Reg::R1);
        // the segment's length: IPv6 payload length - extension headers (L4_OFF -
        // 54) - TCP header
        b.emit(Insn::ldx(Size::H, r1, d, ETH + 4));
        b.emit(Insn::be(r1, 16));
        emit_minus_headers(b, ETH + 40);
        emit_tcp(b, 54);
        b.emit(Insn::st_imm(Size::W, d, ETH, 0x60));
        b.emit(Insn::st_imm(Size::H, d, ETH + 4, be16(20)));
        b.emit(Insn::st_imm(Size::B, d, ETH + 6, 6));
        b.emit(Insn::st_imm(Size::B, d, ETH + 7, HOP_LIMIT));
        emit_swap(b, Size::DW, ETH + 8, ETH + 24);
        emit_swap(b, Size::DW, ETH + 16, ETH + 32);
        emit_swap_macs(b);
        emit_csum(b, ETH + 8, 32 + 20, (20 << 24) + (6 << 24), 54 + 16);
        self.emit_send(b, refuse);
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
        // The kernel takes a type past NR_ICMP_TYPES (18) for an error too (`__icmp_send`).
        b.branch_imm(Cond::Gt, r1, 18, refuse);
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
    let r1 = Reg::R1;
    b.emit(Insn::mov64_imm(r1, 0));
    b.emit(Insn::mov64_imm(Reg::R2, 0));
    b.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R3, i32::from(off)));
    b.emit(Insn::mov64_imm(Reg::R4, len));
    b.emit(Insn::mov64_imm(Reg::R5, seed as i32));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_csum_diff as u32));
    emit_fold(b, store);
}

/// How long an answer's frame is cut to, before it grows its new headers in front.
#[derive(Clone, Copy)]
enum Keep {
    /// This many bytes.
    Bytes(i32),
    /// To 8 bytes past the upper-layer header (`L4_OFF + 8`), so the IP header with
    /// its options or extension headers and those 8 bytes are the quote; at least
    /// `ETH + shortest` bytes.
    QuoteEnd { shortest: i32 },
}

impl Keep {
    /// The length into `r`.
    fn emit_to(self, b: &mut CodeBuffer, r: Reg) {
        match self {
            Keep::Bytes(n) => b.emit(Insn::mov64_imm(r, n)),
            Keep::QuoteEnd { .. } => {
                b.emit(Insn::ldx(Size::H, r, Reg::FP, at(flow::L4_OFF)));
                b.emit(Insn::alu64_imm(op::ADD, r, 8));
            }
        }
    }

    fn shortest(self) -> i32 {
        match self {
            Keep::Bytes(n) => n,
            Keep::QuoteEnd { shortest } => i32::from(ETH) + shortest,
        }
    }
}

/// `r1 -= L4_OFF - ip`: a length counted from the IP header (`ip` its offset in the
/// frame) less the IP header with its options or extension headers.
fn emit_minus_headers(b: &mut CodeBuffer, ip: i16) {
    b.emit(Insn::ldx(Size::H, Reg::R2, Reg::FP, at(flow::L4_OFF)));
    b.emit(Insn::alu64_reg(op::SUB, Reg::R1, Reg::R2));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R1, i32::from(ip)));
}

/// Stores `L4_OFF + plus`, in network order, as the 16-bit length at `r9 + store`.
fn emit_length(b: &mut CodeBuffer, plus: i32, store: i16) {
    b.emit(Insn::ldx(Size::H, Reg::R1, Reg::FP, at(flow::L4_OFF)));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R1, plus));
    b.emit(Insn::be(Reg::R1, 16));
    b.emit(Insn::stx(Size::H, Reg::R9, store, Reg::R1));
}

/// Folds the 32-bit sum in `r0` to the Internet checksum, stored at `r9 + store`.
fn emit_fold(b: &mut CodeBuffer, store: i16) {
    let (r0, r1) = (Reg::R0, Reg::R1);
    for _ in 0..2 {
        b.emit(Insn::mov64_reg(r1, r0));
        b.emit(Insn::alu64_imm(op::RSH, r1, 16));
        b.emit(Insn::alu64_imm(op::AND, r0, 0xffff));
        b.emit(Insn::alu64_reg(op::ADD, r0, r1));
    }
    b.emit(Insn::alu64_imm(op::XOR, r0, 0xffff));
    b.emit(Insn::stx(Size::H, Reg::R9, store, r0));
}

/// The VLAN tag of a tagged frame at XDP (TPID and TCI as they were in the frame), or
/// 0: a stack word, dead scratch once the verdict is reached, like the quote's copy.
const TAG: i16 = QUOTE_BUF - 8;
const _: () = assert!(TAG >= -512);
const VLAN_HLEN: i32 = 4;
