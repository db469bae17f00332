//! The IPv6 extension-header walk of the packet prologue: from the fixed header's
//! next header past hop-by-hop (0), routing (43), fragment (44), destination-options
//! (60) and AH (51) headers to the upper layer, so that the protocol, ports, flags and
//! ICMPv6 fields rules test are those of the upper layer, as in ip6tables
//! (`ipv6_find_hdr`) and nft.
//!
//! The walk is unrolled, [`EXT_MAX`] headers deep, with no back edge (the verifier
//! sees a straight line of bounded offsets: each header adds at most 2,048 bytes, so
//! the offset stays far below the verifier's 64 KiB packet range), and every path out
//! of it reaches the L4 parse in one verifier state (see [`emit_walk`]).
//! Invariant, shared with the prologue: on every exit `PROTO` holds the header number
//! the walk stopped at and `L4_OK` is untouched (0), unless the walk reached the upper
//! layer, where it falls through to the L4 parse with `r7 + ETH_HLEN` at the upper
//! header. A chain longer than [`EXT_MAX`], or one cut short, stops at the extension
//! header it could not pass (its number is the protocol, so no TCP/UDP/ICMPv6 rule
//! matches it); a non-first fragment stops with the fragment header's next header as
//! protocol and no transport fields. A fragment header sets `FRAG`.

use super::{
    buffer::{CodeBuffer, Label},
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
};

/// Most extension headers walked (docs/language.md, "IPv6 extension headers").
pub const EXT_MAX: usize = 6;

const ETH_HLEN: i16 = 14;
/// Every extension header is at least this long, and its first two bytes are the
/// next header and the length.
const EXT_MIN: i32 = 8;

/// Emits the walk. Entered with `r1` = the fixed header's next header (already in
/// `PROTO`) and `r7 + ETH_HLEN` at the first byte after the fixed header; falls through
/// at the upper layer with `r7` moved past the extension headers, jumps to `done` where
/// it stops before one.
///
/// `r7` stays put during the walk: `r3` holds the offset of the current header from
/// it, `r4` points at that header. After each header `r3` goes through
/// [`forget_offset`], so each level of the walk, and the L4 parse after it, has one
/// verifier state for packets with extension headers (and one without): without it the verifier would walk them once per combination of
/// header kinds. The mask changes nothing: six headers end at most 12,328 bytes in.
/// At the upper layer `r7` moves by `r3` whatever it is, 0 included: a test for 0
/// would split the L4 parse's verifier states again.
pub(crate) fn emit_walk(b: &mut CodeBuffer, done: Label) {
    let (r3, r7) = (Reg::R3, Reg::R7);
    let upper = b.new_label();
    b.emit(Insn::mov64_imm(r3, 0));
    for _ in 0..EXT_MAX {
        emit_one(b, upper, done);
    }
    // One more extension header than the walk takes: stop, the chain is too long.
    emit_dispatch(b, upper, done, done, done);
    b.bind(upper);
    b.emit(Insn::alu64_reg(op::ADD, r7, r3));
}

/// `r3` through a 2-byte stack round trip (the verifier reads it back as any 16-bit
/// value; the scratch is the `SPORT` field, zeroed again, which the L4 parse fills
/// later), masked to [`OFFSET_MASK`]: one verifier state whatever the headers so far.
fn forget_offset(b: &mut CodeBuffer) {
    let r3 = Reg::R3;
    b.emit(Insn::stx(Size::H, Reg::FP, at(flow::SPORT), r3));
    b.emit(Insn::ldx(Size::H, r3, Reg::FP, at(flow::SPORT)));
    b.emit(Insn::st_imm(Size::H, Reg::FP, at(flow::SPORT), 0));
    b.emit(Insn::alu64_imm(op::AND, r3, OFFSET_MASK));
}

/// Bounds the upper layer's offset from the end of the fixed header for the verifier.
const OFFSET_MASK: i32 = 0x3fff;

/// One header at `r7 + r3`: the upper layer goes to `upper`; an extension header
/// moves `r3` past itself and puts its next header in `r1` and `PROTO`.
fn emit_one(b: &mut CodeBuffer, upper: Label, done: Label) {
    let (r1, r2, r3, r4) = (Reg::R1, Reg::R2, Reg::R3, Reg::R4);
    let (options, fragment, auth, advance) =
        (b.new_label(), b.new_label(), b.new_label(), b.new_label());
    emit_dispatch(b, upper, options, fragment, auth);
    // (hdrlen + 2) * 4 bytes: AH counts 32-bit words.
    b.bind(auth);
    header(b, done);
    b.emit(Insn::ldx(Size::B, r2, r4, ETH_HLEN + 1));
    b.emit(Insn::alu64_imm(op::ADD, r2, 2));
    b.emit(Insn::alu64_imm(op::LSH, r2, 2));
    b.goto(advance);
    // 8 bytes; the offset (the top 13 bits of bytes 2-3) says whether the transport
    // header is in this packet.
    b.bind(fragment);
    header(b, done);
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::FRAG), 1));
    b.emit(Insn::ldx(Size::B, r1, r4, ETH_HLEN));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::PROTO), r1));
    b.emit(Insn::ldx(Size::H, r2, r4, ETH_HLEN + 2));
    b.emit(Insn::alu64_imm(
        op::AND,
        r2,
        i32::from(0xfff8u16.swap_bytes()),
    ));
    b.branch_imm(Cond::Ne, r2, 0, done);
    b.emit(Insn::mov64_imm(r2, EXT_MIN));
    b.goto(advance);
    // (hdrlen + 1) * 8 bytes.
    b.bind(options);
    header(b, done);
    b.emit(Insn::ldx(Size::B, r2, r4, ETH_HLEN + 1));
    b.emit(Insn::alu64_imm(op::ADD, r2, 1));
    b.emit(Insn::alu64_imm(op::LSH, r2, 3));
    b.bind(advance);
    b.emit(Insn::ldx(Size::B, r1, r4, ETH_HLEN));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::PROTO), r1));
    // r2 is 8..=2048 here on every path: r3 stays a bounded offset.
    b.emit(Insn::alu64_reg(op::ADD, r3, r2));
    forget_offset(b);
}

/// Branches on the header number in `r1`: options-like headers (0, 43, 60),
/// fragment (44), AH (51); anything else is the upper layer.
fn emit_dispatch(b: &mut CodeBuffer, upper: Label, options: Label, fragment: Label, auth: Label) {
    let r1 = Reg::R1;
    for n in [0, 43, 60] {
        b.branch_imm(Cond::Eq, r1, n, options);
    }
    b.branch_imm(Cond::Eq, r1, 44, fragment);
    b.branch_imm(Cond::Ne, r1, 51, upper);
    b.goto(auth);
}

/// `r4 = r7 + r3`, the header; `r5 = r4 + ETH_HLEN + 8; if r5 > r8 (data_end) goto
/// out`: its fixed part is in the packet.
fn header(b: &mut CodeBuffer, out: Label) {
    b.emit(Insn::mov64_reg(Reg::R4, Reg::R7));
    b.emit(Insn::alu64_reg(op::ADD, Reg::R4, Reg::R3));
    b.emit(Insn::mov64_reg(Reg::R5, Reg::R4));
    b.emit(Insn::alu64_imm(
        op::ADD,
        Reg::R5,
        i32::from(ETH_HLEN) + EXT_MIN,
    ));
    b.branch_reg(Cond::Gt, Reg::R5, Reg::R8, out);
}
