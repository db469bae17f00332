//! Socket conditions in packet hooks (XDP, TC): `if socket exists`, `if no socket`,
//! `if listening`, `if established`, lowered to one socket lookup per packet.
//!
//! The first condition a packet reaches looks its socket up in the packet's network
//! namespace (`bpf_skc_lookup_tcp` for TCP, which also finds request and timewait
//! sockets; `bpf_sk_lookup_udp` for UDP), reads the socket's state, releases the
//! reference at once, and stores what it found as one [`fact`] byte in the flow
//! record ([`flow::SOCK`]); every later condition of the same packet reads that byte
//! instead of looking up again. The tuple is built on the stack from the flow record:
//! in packet order at ingress hooks (the kernel's lookup takes the remote end as the
//! source) and reversed at egress hooks ([`HookSpec::egress`]), where the socket we
//! want is the local sender; its size selects the family. Invariant: the reference is
//! released on the instruction path right after the state read, before anything that
//! can end the program, so no reference outlives the lookup sequence
//! ([`super::refcheck`] proves it on every program). Every number (helper ids, tuple
//! layout, `bpf_sock` offsets, TCP states, the current-netns flag) comes from the UAPI
//! bindings.

use core::mem::{offset_of, size_of};

use aya_ebpf_bindings::bindings as uapi;
use aya_obj::generated::bpf_func_id;

use super::{
    buffer::{CodeBuffer, Label},
    classify::DIMS,
    insn::{Cond, Insn, Reg, Size},
    packet::flow::{self, at},
};
use crate::{
    hooks::HookSpec,
    syntax::ast::{Family, SockCond},
};

/// What the lookup found, as stored at [`flow::SOCK`] (0 there means "not looked up
/// yet").
pub mod fact {
    use crate::syntax::ast::SockCond;

    /// No socket: `if no socket` holds.
    pub const NONE: u8 = 1;
    /// A TCP listener, or an unconnected (bound) UDP socket.
    pub const LISTENING: u8 = 2;
    /// A TCP socket in a connected state (SYN_SENT through CLOSING, request sockets
    /// included), or a connected UDP socket.
    pub const ESTABLISHED: u8 = 3;
    /// A socket that is neither: TCP TIME_WAIT (or CLOSE).
    pub const OTHER: u8 = 4;

    /// True for a value the lookup stores.
    pub fn is_fact(x: u8) -> bool {
        (NONE..=OTHER).contains(&x)
    }

    /// Whether `cond` holds for a packet whose lookup found `x`.
    pub fn holds(cond: SockCond, x: u8) -> bool {
        match cond {
            SockCond::Exists => x != NONE,
            SockCond::NoSocket => x == NONE,
            SockCond::Listening => x == LISTENING,
            SockCond::Established => x == ESTABLISHED,
        }
    }
}

/// Stack scratch for the lookup tuple (`struct bpf_sock_tuple`, 36 bytes for IPv6),
/// below the classifier's scratch.
pub const TUPLE: i16 = DIMS - 40;

type V4Tuple = uapi::bpf_sock_tuple__bindgen_ty_1__bindgen_ty_1;
type V6Tuple = uapi::bpf_sock_tuple__bindgen_ty_1__bindgen_ty_2;

// The scratch holds either tuple, stays below the classifier's scratch and inside the
// 512-byte stack.
const _: () = assert!(size_of::<V6Tuple>() <= 40 && size_of::<V4Tuple>() <= 40);
const _: () = assert!(TUPLE + 40 <= DIMS && TUPLE >= -512);

/// Emits one socket condition; when it does not hold, control goes to `fail`. The
/// rule's earlier tests guarantee an IP packet of protocol `proto` (6 or 17) with a
/// complete TCP/UDP header, of `family` if the rule names one. Clobbers `r0`–`r5`
/// and `r7`.
pub fn emit_test(
    b: &mut CodeBuffer,
    spec: &HookSpec,
    cond: SockCond,
    proto: u8,
    family: Option<Family>,
    fail: Label,
) {
    let r1 = Reg::R1;
    let known = b.new_label();
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::SOCK)));
    b.branch_imm(Cond::Ne, r1, 0, known);
    emit_lookup(b, spec.egress, proto, family);
    b.bind(known);
    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::SOCK)));
    let (c, v) = match cond {
        SockCond::Exists => (Cond::Eq, fact::NONE),
        SockCond::NoSocket => (Cond::Ne, fact::NONE),
        SockCond::Listening => (Cond::Ne, fact::LISTENING),
        SockCond::Established => (Cond::Ne, fact::ESTABLISHED),
    };
    b.branch_imm(c, r1, i32::from(v), fail);
}

/// Looks the packet's socket up and stores the [`fact`] at [`flow::SOCK`].
fn emit_lookup(b: &mut CodeBuffer, reversed: bool, proto: u8, family: Option<Family>) {
    let (r0, r1, r7) = (Reg::R0, Reg::R1, Reg::R7);
    let call = b.new_label();
    let families: &[Family] = match family {
        Some(Family::V4) => &[Family::V4],
        Some(Family::V6) => &[Family::V6],
        None => &[Family::V4, Family::V6],
    };
    let mut v6 = None;
    if families.len() == 2 {
        let l = b.new_label();
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L3)));
        b.branch_imm(Cond::Ne, r1, 4, l);
        v6 = Some(l);
    }
    // The lookup's source is the remote end: the packet's source at ingress, its
    // destination at egress.
    let (sport, dport) = if reversed {
        (flow::DPORT, flow::SPORT)
    } else {
        (flow::SPORT, flow::DPORT)
    };
    for (i, f) in families.iter().enumerate() {
        if i == 1 {
            b.bind(v6.take().expect("two families branch on L3"));
        }
        let (src, dst, words, size, sport_off, dport_off) = match f {
            Family::V4 => (
                flow::SRC4,
                flow::DST4,
                1,
                size_of::<V4Tuple>(),
                offset_of!(V4Tuple, sport),
                offset_of!(V4Tuple, dport),
            ),
            Family::V6 => (
                flow::SRC6,
                flow::DST6,
                4,
                size_of::<V6Tuple>(),
                offset_of!(V6Tuple, sport),
                offset_of!(V6Tuple, dport),
            ),
        };
        let (src, dst) = if reversed { (dst, src) } else { (src, dst) };
        // saddr, then daddr right after it, in both layouts.
        for (k, field) in [src, dst].into_iter().enumerate() {
            for w in 0..words {
                let to = TUPLE + 4 * (k as i16 * words + w);
                b.emit(Insn::ldx(Size::W, r1, Reg::FP, at(field) + 4 * w));
                b.emit(Insn::stx(Size::W, Reg::FP, to, r1));
            }
        }
        // The record keeps ports in host order; the tuple wants network order.
        for (field, off) in [(sport, sport_off), (dport, dport_off)] {
            b.emit(Insn::ldx(Size::H, r1, Reg::FP, at(field)));
            b.emit(Insn::be(r1, 16));
            b.emit(Insn::stx(Size::H, Reg::FP, TUPLE + off as i16, r1));
        }
        b.emit(Insn::mov64_imm(Reg::R3, size as i32));
        if i + 1 < families.len() {
            b.goto(call);
        }
    }
    b.bind(call);
    let helper = match proto {
        6 => bpf_func_id::BPF_FUNC_skc_lookup_tcp,
        17 => bpf_func_id::BPF_FUNC_sk_lookup_udp,
        p => unreachable!("sema lets socket conditions through for tcp and udp only, not {p}"),
    };
    b.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    b.emit(Insn::alu64_imm(
        super::insn::op::ADD,
        Reg::R2,
        i32::from(TUPLE),
    ));
    b.emit(Insn::mov64_imm(Reg::R4, uapi::BPF_F_CURRENT_NETNS));
    b.emit(Insn::mov64_imm(Reg::R5, 0));
    b.emit(Insn::call(helper as u32));
    let store = b.new_label();
    let release = b.new_label();
    b.emit(Insn::mov64_imm(r7, i32::from(fact::NONE)));
    b.branch_imm(Cond::Eq, r0, 0, store);
    // `state` is part of `struct sock_common`, so it can be read from what the skc
    // lookup returns without `bpf_sk_fullsock` (request and timewait sockets too).
    b.emit(Insn::ldx(
        Size::W,
        r1,
        r0,
        offset_of!(uapi::bpf_sock, state) as i16,
    ));
    let state = |s: u32| s as i32;
    if proto == 6 {
        b.emit(Insn::mov64_imm(r7, i32::from(fact::LISTENING)));
        b.branch_imm(Cond::Eq, r1, state(uapi::BPF_TCP_LISTEN), release);
        b.emit(Insn::mov64_imm(r7, i32::from(fact::OTHER)));
        b.branch_imm(Cond::Eq, r1, state(uapi::BPF_TCP_TIME_WAIT), release);
        b.branch_imm(Cond::Eq, r1, state(uapi::BPF_TCP_CLOSE), release);
        b.emit(Insn::mov64_imm(r7, i32::from(fact::ESTABLISHED)));
    } else {
        // UDP sockets are TCP_ESTABLISHED when connected, TCP_CLOSE otherwise.
        b.emit(Insn::mov64_imm(r7, i32::from(fact::ESTABLISHED)));
        b.branch_imm(Cond::Eq, r1, state(uapi::BPF_TCP_ESTABLISHED), release);
        b.emit(Insn::mov64_imm(r7, i32::from(fact::LISTENING)));
    }
    b.bind(release);
    b.emit(Insn::mov64_reg(Reg::R1, r0));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_sk_release as u32));
    b.bind(store);
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::SOCK), r7));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fact byte answers each condition as the language reference says.
    #[test]
    fn facts_answer_conditions() {
        use SockCond::*;
        let table = [
            (fact::NONE, [false, true, false, false]),
            (fact::LISTENING, [true, false, true, false]),
            (fact::ESTABLISHED, [true, false, false, true]),
            (fact::OTHER, [true, false, false, false]),
        ];
        for (x, want) in table {
            let got = [Exists, NoSocket, Listening, Established].map(|c| fact::holds(c, x));
            assert_eq!(got, want, "fact {x}");
            assert!(fact::is_fact(x));
        }
        assert!(!fact::is_fact(0));
    }
}
