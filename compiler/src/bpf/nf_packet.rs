//! The prologue of netfilter programs: the same flow record as the packet prologue
//! ([`super::packet`]) fills, read through a dynptr over the socket buffer. A netfilter
//! program may not touch packet memory directly (no `data`/`data_end`, no
//! `bpf_skb_load_bytes`); it gets `bpf_dynptr_from_skb(ctx->skb)`, whose offset 0 is
//! the network header at every netfilter hook (there is no Ethernet header), and
//! copies or points at each header with `bpf_dynptr_slice(dynptr, offset, buffer,
//! LEN)`: the IP header at 0, each IPv6 extension header, then the transport header at
//! the offset the IP header says. `LEN` must be a constant; the slice is NULL when the
//! packet is shorter than `offset + LEN`.
//!
//! Invariant (the packet prologue's): the record is zeroed first; a header that is not
//! there in full leaves its fields zero and its "valid" byte says so (`L3` 0 for a
//! short or non-IP packet, `L4_OK` 0 for a short transport header or a non-first
//! fragment); `L3` is stored as 0, 4 or 6 and `L4_OK` and `FRAG` as 0 or 1 only. Every
//! field is read at a constant offset below the slice's length, so the verifier needs
//! no bounds check. The kfunc ids are filled in at load (`kernel_ref`).

use super::header::Copies;
use super::{
    buffer::{CodeBuffer, Label},
    emit,
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
};
use crate::hooks::NF_CTX;

/// `struct bpf_dynptr` (16 bytes, 8-aligned) on the stack, below everything the rule
/// walk, the classifier keys, socket tuples, ct options, the route lookup and the limit
/// keys use, so no construct a netfilter hook may later allow can overwrite it.
const DYNPTR: i16 = crate::bpf::limit::SCRATCH_BOTTOM - 16;
/// The slice buffers: used only when the skb's bytes are not linear.
const L3_BUF: i16 = DYNPTR - 40;
const L4_BUF: i16 = L3_BUF - 24;
const EXT_BUF: i16 = L4_BUF - 8;
const _: () = assert!(EXT_BUF >= -512);

const IPV4_HLEN: i32 = 20;
const IPV6_HLEN: i32 = 40;
const TCP_HLEN: i32 = 20;
const UDP_HLEN: i32 = 8;
const ICMP_MIN: i32 = 4;
/// Every IPv6 extension header is at least this long.
const EXT_MIN: i32 = 8;

/// Emits the prologue. On exit `r6` holds the context and the flow record is filled;
/// with `copies`, the IP header fields the rules test too (`super::header::Copies`).
pub(crate) fn emit_prologue(b: &mut CodeBuffer, uses_sets: bool, copies: Copies) {
    let done = b.new_label();
    b.note("prologue: parse headers through a dynptr into the flow record");
    emit_start(b, uses_sets, done);
    let (v4, v6, l4) = (b.new_label(), b.new_label(), b.new_label());
    slice_at(b, Off::Imm(0), L3_BUF, IPV4_HLEN, done);
    b.emit(Insn::ldx(Size::B, Reg::R1, Reg::R7, 0));
    b.emit(Insn::alu64_imm(op::RSH, Reg::R1, 4));
    b.branch_imm(Cond::Eq, Reg::R1, 4, v4);
    b.branch_imm(Cond::Ne, Reg::R1, 6, done);
    b.goto(v6);
    b.bind(v4);
    // Both fields are inside the 20 bytes sliced first.
    super::header::emit_copy_v4(b, copies, Reg::R7, 0);
    emit_ipv4(b, done);
    b.goto(l4);
    b.bind(v6);
    emit_ipv6(b, copies, done);
    b.bind(l4);
    emit_l4(b, done);
    b.bind(done);
}

/// The context to `r6`, the flow record zeroed (with the set keys' prefix lengths),
/// the dynptr over `ctx->skb` made and the packet length (from the network header)
/// stored.
fn emit_start(b: &mut CodeBuffer, uses_sets: bool, done: Label) {
    let (r1, r2, r3) = (Reg::R1, Reg::R2, Reg::R3);
    b.emit(Insn::mov64_reg(Reg::R6, r1));
    emit::reset_flow_record(b, uses_sets);
    b.emit(Insn::ldx(Size::DW, r1, Reg::R6, NF_CTX.skb));
    b.emit(Insn::mov64_imm(r2, 0));
    fp_plus(b, r3, DYNPTR);
    b.call_kfunc("bpf_dynptr_from_skb", false, false);
    b.branch_imm(Cond::Ne, Reg::R0, 0, done);
    fp_plus(b, r1, DYNPTR);
    b.call_kfunc("bpf_dynptr_size", false, false);
    b.emit(Insn::stx(Size::W, Reg::FP, at(flow::PKT_LEN), Reg::R0));
}

/// Where a slice starts: a constant, or the offset in `r9`.
#[derive(Clone, Copy)]
enum Off {
    Imm(i32),
    R9,
}

/// `r7 = bpf_dynptr_slice(&dynptr, off, fp + buf, len)`; `done` when NULL (the
/// packet ends before `off + len`). Clobbers `r0`–`r5`.
fn slice_at(b: &mut CodeBuffer, off: Off, buf: i16, len: i32, done: Label) {
    fp_plus(b, Reg::R1, DYNPTR);
    match off {
        Off::Imm(v) => b.emit(Insn::mov64_imm(Reg::R2, v)),
        Off::R9 => b.emit(Insn::mov64_reg(Reg::R2, Reg::R9)),
    }
    fp_plus(b, Reg::R3, buf);
    b.emit(Insn::mov64_imm(Reg::R4, len));
    b.call_kfunc("bpf_dynptr_slice", false, false);
    b.branch_imm(Cond::Eq, Reg::R0, 0, done);
    b.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
}

/// `dst = r10 + off`.
fn fp_plus(b: &mut CodeBuffer, dst: Reg, off: i16) {
    b.emit(Insn::mov64_reg(dst, Reg::FP));
    b.emit(Insn::alu64_imm(op::ADD, dst, i32::from(off)));
}

/// IPv4 at `r7` (20 bytes): IHL >= 5; addresses and protocol; `FRAG`; the transport
/// header's offset to `r9`, only for a first fragment.
fn emit_ipv4(b: &mut CodeBuffer, done: Label) {
    let (r1, r2, r3, r7) = (Reg::R1, Reg::R2, Reg::R3, Reg::R7);
    b.emit(Insn::ldx(Size::B, r2, r7, 0));
    b.emit(Insn::alu64_imm(op::AND, r2, 0x0f));
    b.branch_imm(Cond::Lt, r2, 5, done);
    b.emit(Insn::ldx(Size::W, r1, r7, 12));
    b.emit(Insn::stx(Size::W, Reg::FP, at(flow::SRC4), r1));
    b.emit(Insn::ldx(Size::W, r1, r7, 16));
    b.emit(Insn::stx(Size::W, Reg::FP, at(flow::DST4), r1));
    b.emit(Insn::ldx(Size::B, r1, r7, 9));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::PROTO), r1));
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 4));
    b.emit(Insn::ldx(Size::H, r1, r7, 6));
    // FRAG = (MF or offset) ? 1 : 0 without a branch (as the packet prologue does).
    b.emit(Insn::mov64_reg(r3, r1));
    b.emit(Insn::alu64_imm(op::AND, r3, be16(0x3fff)));
    b.emit(Insn::alu64_imm(op::ADD, r3, 0xffff));
    b.emit(Insn::alu64_imm(op::RSH, r3, 16));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::FRAG), r3));
    b.emit(Insn::alu64_imm(op::AND, r1, be16(0x1fff)));
    b.branch_imm(Cond::Ne, r1, 0, done);
    b.emit(Insn::alu64_imm(op::LSH, r2, 2));
    b.emit(Insn::mov64_reg(Reg::R9, r2));
}

/// IPv6: the fixed header (40 bytes, sliced again), then the extension-header walk;
/// falls through with the upper layer's offset in `r9`.
fn emit_ipv6(b: &mut CodeBuffer, copies: Copies, done: Label) {
    let (r1, r7) = (Reg::R1, Reg::R7);
    slice_at(b, Off::Imm(0), L3_BUF, IPV6_HLEN, done);
    super::header::emit_copy_v6(b, copies, r7, 0);
    for (pkt, field) in [(8, flow::SRC6), (24, flow::DST6)] {
        for w in 0..4 {
            b.emit(Insn::ldx(Size::W, r1, r7, pkt + 4 * w));
            b.emit(Insn::stx(Size::W, Reg::FP, at(field) + 4 * w, r1));
        }
    }
    b.emit(Insn::ldx(Size::B, r1, r7, 6));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::PROTO), r1));
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 6));
    b.emit(Insn::mov64_imm(Reg::R9, IPV6_HLEN));
    emit_ext_walk(b, done);
}

/// The IPv6 extension-header walk of [`super::ext6`] over slices: the same headers, the
/// same depth ([`super::ext6::EXT_MAX`]) and the same outcomes (a chain too long or
/// cut short stops at the header it could not pass; a non-first fragment stops with
/// the fragment header's next header as protocol). Entered with `r1` = next header,
/// `r9` = its offset; falls through at the upper layer.
fn emit_ext_walk(b: &mut CodeBuffer, done: Label) {
    let upper = b.new_label();
    for _ in 0..super::ext6::EXT_MAX {
        emit_ext_one(b, upper, done);
    }
    dispatch(b, upper, done, done, done);
    b.bind(upper);
}

/// One header at offset `r9`, its number in `r1`.
fn emit_ext_one(b: &mut CodeBuffer, upper: Label, done: Label) {
    let (r1, r2, r7, r9) = (Reg::R1, Reg::R2, Reg::R7, Reg::R9);
    let (options, fragment, auth, advance) =
        (b.new_label(), b.new_label(), b.new_label(), b.new_label());
    dispatch(b, upper, options, fragment, auth);
    // (hdrlen + 2) * 4 bytes.
    b.bind(auth);
    slice_at(b, Off::R9, EXT_BUF, EXT_MIN, done);
    b.emit(Insn::ldx(Size::B, r2, r7, 1));
    b.emit(Insn::alu64_imm(op::ADD, r2, 2));
    b.emit(Insn::alu64_imm(op::LSH, r2, 2));
    b.goto(advance);
    b.bind(fragment);
    slice_at(b, Off::R9, EXT_BUF, EXT_MIN, done);
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::FRAG), 1));
    b.emit(Insn::ldx(Size::B, r1, r7, 0));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::PROTO), r1));
    b.emit(Insn::ldx(Size::H, r2, r7, 2));
    b.emit(Insn::alu64_imm(op::AND, r2, be16(0xfff8)));
    b.branch_imm(Cond::Ne, r2, 0, done);
    b.emit(Insn::mov64_imm(r2, EXT_MIN));
    b.goto(advance);
    // (hdrlen + 1) * 8 bytes.
    b.bind(options);
    slice_at(b, Off::R9, EXT_BUF, EXT_MIN, done);
    b.emit(Insn::ldx(Size::B, r2, r7, 1));
    b.emit(Insn::alu64_imm(op::ADD, r2, 1));
    b.emit(Insn::alu64_imm(op::LSH, r2, 3));
    b.bind(advance);
    b.emit(Insn::ldx(Size::B, r1, r7, 0));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::PROTO), r1));
    b.emit(Insn::alu64_reg(op::ADD, r9, r2));
    // One verifier state per level whatever the headers so far (see `ext6`): the
    // offset through a 2-byte stack round trip, masked.
    b.emit(Insn::stx(Size::H, Reg::FP, at(flow::SPORT), r9));
    b.emit(Insn::ldx(Size::H, r9, Reg::FP, at(flow::SPORT)));
    b.emit(Insn::st_imm(Size::H, Reg::FP, at(flow::SPORT), 0));
}

/// Branches on the header number in `r1` as `ext6` does.
fn dispatch(b: &mut CodeBuffer, upper: Label, options: Label, fragment: Label, auth: Label) {
    let r1 = Reg::R1;
    for n in [0, 43, 60] {
        b.branch_imm(Cond::Eq, r1, n, options);
    }
    b.branch_imm(Cond::Eq, r1, 44, fragment);
    b.branch_imm(Cond::Ne, r1, 51, upper);
    b.goto(auth);
}

/// The transport header at offset `r9`: ICMP type and code, TCP flags, TCP and UDP
/// ports, each only when the header is there in full (then `L4_OK`).
fn emit_l4(b: &mut CodeBuffer, done: Label) {
    let (r1, r7) = (Reg::R1, Reg::R7);
    let (tcp, udp, icmp, ports) = (b.new_label(), b.new_label(), b.new_label(), b.new_label());
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::PROTO)));
    b.branch_imm(Cond::Eq, r1, 6, tcp);
    b.branch_imm(Cond::Eq, r1, 17, udp);
    b.branch_imm(Cond::Eq, r1, 1, icmp);
    b.branch_imm(Cond::Ne, r1, 58, done);
    b.bind(icmp);
    slice_at(b, Off::R9, L4_BUF, ICMP_MIN, done);
    b.emit(Insn::ldx(Size::B, r1, r7, 0));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::ICMP_TYPE), r1));
    b.emit(Insn::ldx(Size::B, r1, r7, 1));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::ICMP_CODE), r1));
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L4_OK), 1));
    b.goto(done);
    b.bind(tcp);
    slice_at(b, Off::R9, L4_BUF, TCP_HLEN, done);
    b.emit(Insn::ldx(Size::B, r1, r7, 13));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::TCP_FLAGS), r1));
    b.goto(ports);
    b.bind(udp);
    slice_at(b, Off::R9, L4_BUF, UDP_HLEN, done);
    b.bind(ports);
    for (pkt, field) in [(0, flow::SPORT), (2, flow::DPORT)] {
        b.emit(Insn::ldx(Size::H, r1, r7, pkt));
        b.emit(Insn::be(r1, 16));
        b.emit(Insn::stx(Size::H, Reg::FP, at(field), r1));
    }
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L4_OK), 1));
}

/// A network-order 16-bit constant as a little-endian load of it reads.
const fn be16(v: u16) -> i32 {
    v.swap_bytes() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::insn::op;

    /// What threading assumes of every prologue (`flow` module docs): immediate
    /// stores put only 0, 4 or 6 into `L3` and only 0 or 1 into `L4_OK` and `FRAG`;
    /// the one register store into `FRAG` is the IPv4 branch-free 0-or-1.
    #[test]
    fn the_prologue_stores_only_what_threading_assumes() {
        for uses_sets in [false, true] {
            let mut b = CodeBuffer::new();
            emit_prologue(&mut b, uses_sets, Copies::ALL);
            b.emit(Insn::exit());
            let code = b.finish().unwrap();
            let mut register_frag_stores = 0;
            for insn in &code.insns {
                let class = insn.class();
                if (class != op::ST && class != op::STX) || insn.dst != Reg::FP.0 {
                    continue;
                }
                for (field, allowed) in [
                    (flow::L3, &[0, 4, 6][..]),
                    (flow::L4_OK, &[0, 1][..]),
                    (flow::FRAG, &[0, 1][..]),
                ] {
                    if insn.off != at(field) || insn.code & 0x18 != op::B {
                        continue;
                    }
                    if class == op::STX {
                        assert_eq!(field, flow::FRAG, "a register stored over {field}");
                        register_frag_stores += 1;
                    } else {
                        assert!(allowed.contains(&insn.imm), "{} at {field}", insn.imm);
                    }
                }
            }
            assert_eq!(register_frag_stores, 1);
        }
    }

    /// The stack the prologue uses lies below everything else on the frame, inside it.
    #[test]
    fn scratch_lies_below_the_other_scratch_areas() {
        const { assert!(DYNPTR + 16 <= crate::bpf::limit::SCRATCH_BOTTOM) };
        const { assert!(DYNPTR + 16 <= crate::bpf::socket::TUPLE - 16) };
        assert_eq!(DYNPTR % 8, 0, "a dynptr is 8-aligned");
        const { assert!(EXT_BUF >= -512) };
    }
}
