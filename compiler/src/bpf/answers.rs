//! The limits on `reject`'s ICMP answers (`syntax::answers`): before a program builds
//! an ICMP or ICMPv6 error, it asks the install's host-wide bucket and the bucket of
//! the address it would answer, as the kernel's `icmp_send` asks
//! `icmp_global_allow`, `inet_peer_xrlim_allow` and `icmp_global_consume` (in that
//! order); a refused answer becomes a drop, counted in [`LIMITED_MAP`] (slot 0: the
//! host-wide bucket refused it, slot 1: the destination's) after the rule's own
//! counter already counted the packet. TCP resets never come here.
//!
//! Where the buckets live, and why: in maps of the install's object, so every program
//! of the install (all its XDP and TC blocks, every interface) shares one host-wide
//! bucket and one table of destinations, as the kernel has one per network namespace.
//! The host-wide bucket is one array element written with atomics, not per CPU, for
//! the reason the kernel's is global: per-CPU buckets would answer N × CPUs under a
//! flood that RSS spreads, and N / CPUs under one it steers to a single CPU. A flood
//! whose answers are refused only reads the credit word (the refill is tried at most
//! once per [`MIN_REFILL_NS`], by whichever CPU wins the stamp's compare-and-swap), so
//! the word's cache line is not written per packet; the refusals are counted per CPU.
//!
//! [`ANSWERS_MAP`] (an array of two 64-byte values): element 0 is the host-wide
//! bucket's state (`credit + CREDIT_BIAS` at 0, the last refill's time at 8), element
//! 1 its configuration ([`Config::to_bytes`]), written by the runtime when it loads
//! the object: from the file's `reject answers` lines, or from the kernel's sysctls in
//! the install's network namespace. [`PEERS_MAP`] (an LRU hash of [`PEERS`]
//! addresses, keyed like `limit_sources` with slot 0) holds each destination's GCRA
//! word; an address not in it, or evicted, starts with a full bucket, as an
//! `inet_peer` the kernel creates (and should the kernel refuse to insert one, the
//! answer goes, as the kernel answers when it cannot make a peer).
//!
//! Invariant: the check clobbers `r0`–`r5`, `r8` and `r9`, keeps `r6` (the context)
//! and `r7` (the answer's codes), and either falls through (answer) or exits with the
//! hook's drop code after counting the refusal.
//!
//! [`Config::to_bytes`]: crate::syntax::answers::Config::to_bytes
//! [`MIN_REFILL_NS`]: crate::syntax::answers::MIN_REFILL_NS

use aya_obj::generated::bpf_func_id;

use super::{
    buffer::{CodeBuffer, Label},
    emit::{emit_bump, emit_map_lookup},
    flow::{self, at},
    insn::{op, Cond, Insn, Reg, Size},
    limit::{emit_gcra, emit_keyed_bucket, load_u64},
    route::FIB,
};
use crate::syntax::answers::{word, CREDIT_BIAS, MIN_REFILL_NS};

/// The host-wide bucket (element 0) and the configuration (element 1).
pub const ANSWERS_MAP: &str = "reject_answers";
/// `{0, family, address}` → the GCRA word of that destination (LRU hash).
pub const PEERS_MAP: &str = "reject_peers";
/// Per CPU, `{packets, bytes}` of the answers refused: by the host-wide bucket (0),
/// by the destination's (1).
pub const LIMITED_MAP: &str = "reject_limited";
/// Destinations [`PEERS_MAP`] keeps (the kernel's `inet_peer` table is bounded by
/// memory pressure, about 65,536 entries).
pub const PEERS: u32 = 16384;
/// Byte offsets in element 0.
pub const CREDIT: i16 = 0;
pub const STAMP: i16 = 8;
/// Compare-and-swap attempts at a refill of the credit.
const TRIES: usize = 4;

/// Stack scratch, in the route lookup's parameters (dead once a verdict is reached,
/// and above the source key of [`emit_keyed_bucket`]): the answer's codes while `r7`
/// serves the GCRA step, and the time.
const SAVED_CODES: i16 = FIB;
const NOW: i16 = FIB + 8;
const _: () = assert!(NOW + 8 <= FIB + 64);

/// The limit check for an answer of the family `v6` (see the module docs): falls
/// through when the answer may be sent, exits with `drop` after counting a refusal.
pub(crate) fn emit_check(b: &mut CodeBuffer, v6: bool, drop: i32) {
    let (host, peer) = if v6 {
        (word::HOST6, word::PEER6)
    } else {
        (word::HOST4, word::PEER4)
    };
    let [pass, peer_step, consume, host_over, peer_over] = [(); 5].map(|_| b.new_label());
    b.note("reject answers: the host-wide and per-destination limits");
    b.emit(Insn::stx(Size::DW, Reg::FP, SAVED_CODES, Reg::R7));
    emit_element(b, 1, pass);
    b.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R9, word::FLAGS));
    b.emit(Insn::alu64_imm(op::AND, Reg::R1, host | peer));
    b.branch_imm(Cond::Eq, Reg::R1, 0, pass);
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_ktime_get_ns as u32));
    b.emit(Insn::stx(Size::DW, Reg::FP, NOW, Reg::R0));
    flag_test(b, host, peer_step);
    emit_element(b, 0, pass);
    b.emit(Insn::mov64_reg(Reg::R8, Reg::R0));
    emit_host_allow(b, peer_step, host_over);
    b.bind(peer_step);
    flag_test(b, peer, consume);
    emit_peer_allow(b, v6, consume, peer_over);
    b.bind(consume);
    flag_test(b, host, pass);
    emit_consume(b, pass);
    b.goto(pass);
    for (over, slot) in [(host_over, 0), (peer_over, 1)] {
        b.bind(over);
        b.note("reject answers: over the limit, dropped and counted");
        b.emit(Insn::st_imm(Size::W, Reg::FP, at(flow::COUNTER_KEY), slot));
        emit_bump(b, LIMITED_MAP, flow::COUNTER_KEY);
        b.emit(Insn::mov64_imm(Reg::R0, drop));
        b.emit(Insn::exit());
    }
    b.bind(pass);
    b.emit(Insn::ldx(Size::DW, Reg::R7, Reg::FP, SAVED_CODES));
}

/// `r0` = element `i` of [`ANSWERS_MAP`] (to `missing` should the lookup fail).
fn emit_element(b: &mut CodeBuffer, i: i32, missing: Label) {
    b.emit(Insn::st_imm(Size::W, Reg::FP, at(flow::COUNTER_KEY), i));
    emit_map_lookup(b, ANSWERS_MAP, flow::COUNTER_KEY, missing);
}

/// To `clear` unless the configuration (`r9`) has one of the bits `mask`.
fn flag_test(b: &mut CodeBuffer, mask: i32, clear: Label) {
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R9, word::FLAGS));
    b.emit(Insn::alu64_imm(op::AND, Reg::R1, mask));
    b.branch_imm(Cond::Eq, Reg::R1, 0, clear);
}

/// `icmp_global_allow` on the state `r8`: to `allowed` while the credit is above
/// zero, or after a refill that added some (or that another CPU made first); to
/// `over` when less than the minimum time passed since the last refill (or the stamp
/// lies ahead: a test's empty bucket) or the time passed is worth no answer.
fn emit_host_allow(b: &mut CodeBuffer, allowed: Label, over: Label) {
    let (r0, r1, r2, r3, r4, r5) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5);
    b.emit(Insn::ldx(Size::DW, r1, Reg::R8, CREDIT));
    load_u64(b, r2, CREDIT_BIAS);
    b.branch_reg(Cond::Gt, r1, r2, allowed);
    b.emit(Insn::ldx(Size::DW, r2, Reg::FP, NOW));
    b.emit(Insn::ldx(Size::DW, r3, Reg::R8, STAMP));
    b.emit(Insn::mov64_reg(r4, r2));
    b.emit(Insn::alu64_reg(op::SUB, r4, r3));
    // now - stamp "below zero" (above 2^62 ns, 146 years): a stamp ahead of now
    load_u64(b, r5, 1 << 62);
    b.branch_reg(Cond::Gt, r4, r5, over);
    let capped = b.new_label();
    b.emit(Insn::ldx(Size::DW, r5, Reg::R9, word::HOST_CAP));
    b.branch_reg(Cond::Le, r4, r5, capped);
    b.emit(Insn::mov64_reg(r4, r5));
    b.bind(capped);
    b.branch_imm(Cond::Lt, r4, MIN_REFILL_NS as i32, over);
    b.emit(Insn::ldx(Size::DW, r5, Reg::R9, word::HOST_INTERVAL));
    b.emit(Insn::alu64_reg(op::DIV, r4, r5));
    b.branch_imm(Cond::Eq, r4, 0, over);
    // Whoever moves the stamp refills; a CPU that loses the swap answers anyway, as
    // the kernel's does.
    b.emit(Insn::mov64_reg(r0, r3));
    b.emit(Insn::cmpxchg64(Reg::R8, STAMP, r2));
    b.branch_reg(Cond::Ne, r0, r3, allowed);
    // r4: the answers the time passed is worth; the credit becomes min(credit + r4,
    // burst), both biased
    b.emit(Insn::ldx(Size::DW, r5, Reg::R9, word::HOST_BURST));
    load_u64(b, r3, CREDIT_BIAS);
    b.emit(Insn::alu64_reg(op::ADD, r5, r3));
    for _ in 0..TRIES {
        let kept = b.new_label();
        b.emit(Insn::ldx(Size::DW, r1, Reg::R8, CREDIT));
        b.emit(Insn::mov64_reg(r2, r1));
        b.emit(Insn::alu64_reg(op::ADD, r2, r4));
        b.branch_reg(Cond::Le, r2, r5, kept);
        b.emit(Insn::mov64_reg(r2, r5));
        b.bind(kept);
        b.emit(Insn::mov64_reg(r0, r1));
        b.emit(Insn::cmpxchg64(Reg::R8, CREDIT, r2));
        b.branch_reg(Cond::Eq, r0, r1, allowed);
    }
    b.goto(allowed);
}

/// `inet_peer_xrlim_allow` as a GCRA word per destination (the packet's source): to
/// `allowed` when the answer fits, to `over` when it does not.
fn emit_peer_allow(b: &mut CodeBuffer, v6: bool, allowed: Label, over: Label) {
    let (cost, depth) = if v6 {
        (word::PEER6_COST, word::PEER6_DEPTH)
    } else {
        (word::PEER4_COST, word::PEER4_DEPTH)
    };
    emit_keyed_bucket(b, PEERS_MAP, 0, allowed);
    b.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
    b.emit(Insn::ldx(Size::DW, Reg::R8, Reg::FP, NOW));
    b.emit(Insn::ldx(Size::DW, Reg::R3, Reg::R9, cost));
    b.emit(Insn::ldx(Size::DW, Reg::R5, Reg::R9, depth));
    emit_gcra(b, allowed, over);
}

/// `icmp_global_consume`: 0, 1 or 2 credits at random taken from the host-wide
/// bucket (the credit may go below zero).
fn emit_consume(b: &mut CodeBuffer, missing: Label) {
    let none = b.new_label();
    emit_element(b, 0, missing);
    b.emit(Insn::mov64_reg(Reg::R8, Reg::R0));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_get_prandom_u32 as u32));
    b.emit(Insn::alu64_imm(op::MOD, Reg::R0, 3));
    b.branch_imm(Cond::Eq, Reg::R0, 0, none);
    b.emit(Insn::alu64_imm(op::NEG, Reg::R0, 0));
    b.emit(Insn::atomic_add64(Reg::R8, CREDIT, Reg::R0));
    b.bind(none);
}
