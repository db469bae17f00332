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
    flow::{self, at},
    insn::{Cond, Insn, Reg, Size},
};
use crate::{
    hooks::HookSpec,
    ir::flow::fact,
    syntax::ast::{Family, SockCond},
};

/// Stack scratch for the lookup tuple (`struct bpf_sock_tuple`, 36 bytes for IPv6),
/// below the classifier's scratch.
pub(crate) const TUPLE: i16 = DIMS - 40;

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
pub(crate) fn emit_test(
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
    emit_socket_lookup(b, spec.egress, proto, family);
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
fn emit_socket_lookup(b: &mut CodeBuffer, reversed: bool, proto: u8, family: Option<Family>) {
    emit_tuple(b, reversed, family);
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
    emit_fact(b, proto);
}

/// The lookup tuple at [`TUPLE`] from the flow record, for the packet's family (a
/// branch on `L3` when the rule names none), and its size in `r3`.
pub(super) fn emit_tuple(b: &mut CodeBuffer, reversed: bool, family: Option<Family>) {
    let call = b.new_label();
    let families: &[Family] = match family {
        Some(Family::V4) => &[Family::V4],
        Some(Family::V6) => &[Family::V6],
        None => &[Family::V4, Family::V6],
    };
    let mut v6 = None;
    if families.len() == 2 {
        let l = b.new_label();
        b.emit(Insn::ldx(Size::B, Reg::R1, Reg::FP, at(flow::L3)));
        b.branch_imm(Cond::Ne, Reg::R1, 4, l);
        v6 = Some(l);
    }
    for (i, f) in families.iter().enumerate() {
        if i == 1 {
            b.bind(v6.take().expect("two families branch on L3"));
        }
        emit_family_tuple(b, reversed, *f);
        if i + 1 < families.len() {
            b.goto(call);
        }
    }
    b.bind(call);
}

/// The tuple of one family: addresses and ports from the flow record, the remote end
/// as the source (reversed at egress hooks); its size in `r3`.
fn emit_family_tuple(b: &mut CodeBuffer, reversed: bool, f: Family) {
    let r1 = Reg::R1;
    // The lookup's source is the remote end: the packet's source at ingress, its
    // destination at egress.
    let (sport, dport) = if reversed {
        (flow::DPORT, flow::SPORT)
    } else {
        (flow::SPORT, flow::DPORT)
    };
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
}

/// After the lookup (`r0` the socket or null): the [`fact`] its state says, the
/// reference released at once, the fact stored at [`flow::SOCK`].
fn emit_fact(b: &mut CodeBuffer, proto: u8) {
    let (r0, r1, r7) = (Reg::R0, Reg::R1, Reg::R7);
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

    /// The most socket lookups any path through `insns` can make. Tracks only what
    /// decides it: whether the flow record's socket byte is known zero or nonzero
    /// (stores over it; the `SOCK != 0` guard when `r1` holds that byte), and counts
    /// lookup calls; every other branch goes both ways. Memoized on (pc, state).
    fn max_lookups_on_any_path(insns: &[Insn]) -> u32 {
        use std::collections::HashMap;

        use super::super::insn::op;
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        struct State {
            /// `None`: unknown.
            sock_nonzero: Option<bool>,
            r1_is_sock: bool,
        }
        let sock = at(flow::SOCK);
        let lookups = [
            bpf_func_id::BPF_FUNC_skc_lookup_tcp as i32,
            bpf_func_id::BPF_FUNC_sk_lookup_tcp as i32,
            bpf_func_id::BPF_FUNC_sk_lookup_udp as i32,
        ];
        fn walk(
            insns: &[Insn],
            pc: usize,
            st: State,
            memo: &mut HashMap<(usize, State), u32>,
            sock: i16,
            lookups: &[i32],
        ) -> u32 {
            if let Some(&n) = memo.get(&(pc, st)) {
                return n;
            }
            let i = insns[pc];
            let class = i.class();
            let mut next = st;
            let width = |code: u8| match code & 0x18 {
                x if x == op::B => 1,
                x if x == op::H => 2,
                x if x == op::W => 4,
                _ => 8,
            };
            let n = if i.code == op::JMP | op::EXIT {
                0
            } else if class == op::JMP && i.code & 0xf0 == op::CALL {
                next.r1_is_sock = false;
                let here = u32::from(lookups.contains(&i.imm));
                here + walk(insns, pc + 1, next, memo, sock, lookups)
            } else if i.is_jump() {
                let target = (pc as i64 + 1 + i64::from(i.off)) as usize;
                if i.code & 0xf0 == op::JA {
                    walk(insns, target, st, memo, sock, lookups)
                } else {
                    let guard = st.r1_is_sock
                        && i.code == op::JMP | op::JNE | op::K
                        && i.dst == 1
                        && i.imm == 0;
                    let (mut taken, mut fall) = (st, st);
                    if guard {
                        taken.sock_nonzero = Some(true);
                        fall.sock_nonzero = Some(false);
                    }
                    let feasible = |s: State| {
                        !guard || st.sock_nonzero.is_none_or(|k| Some(k) == s.sock_nonzero)
                    };
                    let a = if feasible(taken) {
                        walk(insns, target, taken, memo, sock, lookups)
                    } else {
                        0
                    };
                    let b = if feasible(fall) {
                        walk(insns, pc + 1, fall, memo, sock, lookups)
                    } else {
                        0
                    };
                    a.max(b)
                }
            } else {
                if (class == op::ST || class == op::STX) && i.dst == Reg::FP.0 {
                    if (i.off..i.off + width(i.code)).contains(&sock) {
                        // The prologue zeroes the record; the lookup stores its fact (1..=4).
                        next.sock_nonzero = Some(class == op::STX || i.imm != 0);
                    }
                } else if i.dst == 1 && class != op::ST && class != op::STX {
                    next.r1_is_sock = class == op::LDX && i.src == Reg::FP.0 && i.off == sock;
                }
                let step = if i.is_ld_imm64() { 2 } else { 1 };
                walk(insns, pc + step, next, memo, sock, lookups)
            };
            memo.insert((pc, st), n);
            n
        }
        let start = State {
            sock_nonzero: None,
            r1_is_sock: false,
        };
        walk(insns, 0, start, &mut HashMap::new(), sock, &lookups)
    }

    /// One lookup per packet, however many rules ask: every path through a program
    /// with many conditioned rules (both protocols, both families, every condition)
    /// calls a lookup helper at most once, at both levels; the walk itself is checked
    /// on a program where it must find one.
    #[test]
    fn at_most_one_lookup_on_every_path() {
        use crate::{driver::Options, opt::OptLevel};
        let src = "xdp on eth0 {\n\
            count tcp if socket exists\n\
            allow tcp to 10.0.0.0/8:80 if listening\n\
            drop ip6 tcp if no socket\n\
            allow udp to *:53 if established\n\
            drop tcp from 192.0.2.0/24 if established\n\
            count udp if no socket\n\
            allow ip4 tcp to *:22 if listening\n\
            drop udp if socket exists\n\
            default allow\n}\n\
            tc egress on eth0 {\n\
            allow tcp if established\n\
            drop tcp rst if no socket\n\
            count udp if listening\n\
            default allow\n}\n";
        for level in [OptLevel::O0, OptLevel::O2] {
            let opts = Options {
                opt: level,
                ..Options::default()
            };
            let (c, d) = crate::compile(src, &opts);
            let c = c.unwrap_or_else(|| panic!("{d:?}"));
            for p in &c.programs {
                let calls = p
                    .code
                    .insns
                    .iter()
                    .filter(|i| i.code == super::super::insn::op::JMP | 0x80)
                    .count();
                assert!(calls > 2, "{}: the program calls helpers", p.symbol);
                assert_eq!(
                    max_lookups_on_any_path(&p.code.insns),
                    1,
                    "{} at {}",
                    p.symbol,
                    level.name()
                );
            }
        }
    }
}
