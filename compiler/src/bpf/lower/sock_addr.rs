//! Lowering of socket-call programs (`BPF_PROG_TYPE_CGROUP_SOCK_ADDR`: a cgroup's
//! `connect()`, unconnected UDP `sendmsg()` and `bind()`): a prologue that copies the
//! call's address, port and protocol from `struct bpf_sock_addr` into the flow record
//! as the destination (the source is not chosen yet when these hooks run), then the
//! shared rule walk ([`super::rules`]) decides with 1 (the call goes on) or 0 (it
//! fails with `EPERM`). A `redirect ... to ADDRESS[:PORT]` rule (connect and sendmsg)
//! writes its target into the context's `user_ip4` (`user_ip6`) and `user_port`, which
//! the kernel then connects or sends to, and returns 1.
//!
//! Invariants: the prologue stores `L3` as 4 or 6 and `L4_OK` as 0 or 1; an IPv6
//! program reads only the IPv6 fields and an IPv4 program only the IPv4 ones (the
//! verifier allows a program the fields of its attach type's family only); an IPv6
//! call to an IPv4-mapped address (`::ffff:a.b.c.d`, which a dual-stack socket uses
//! to reach IPv4 and which the kernel runs through the IPv6 hook) is recorded as the
//! IPv4 address, so an IPv4 rule decides it as it decides the same call made from an
//! IPv4 socket; ports are recorded for TCP and UDP only, as the packet prologue does.
//! A redirect writes only its program's family's fields (an IPv4 target into an IPv6
//! program as its IPv4-mapped form, for the IPv4-mapped calls its rule decides), the
//! port only for a TCP or UDP call, and with `STX` (the verifier refuses `ST` into a
//! context).

use std::net::IpAddr;

use super::{packet::uses_sets, rules, LowerError};
use crate::{
    bpf::{
        buffer::{Code, CodeBuffer, Label},
        emit::reset_flow_record,
        flow::{self, at},
        insn::{op, Cond, Insn, Reg, Size},
        maps::Sizing,
    },
    hooks::{HookSpec, SockAddrCtx, SOCK_ADDR_CTX},
    ir::{Action, CallTarget, Module, Program, SockId},
    syntax::ast::SockProto,
};

/// Lowers a socket-call block's program for one family.
pub(crate) fn lower(
    module: &Module,
    prog: &Program,
    spec: &HookSpec,
    ipv6: bool,
    sizing: &Sizing,
) -> Result<Code, LowerError> {
    let mut b = CodeBuffer::new();
    emit_prologue(&mut b, &SOCK_ADDR_CTX, ipv6, uses_sets(prog));
    let verdict = spec.verdicts.allow.expect("socket-call rows allow");
    let mut redirect = CallRedirect { ipv6, verdict };
    rules::emit(b, module, prog, spec, sizing, &mut redirect)
}

/// How a socket-call program ends a `redirect ... to ADDRESS[:PORT]` rule.
struct CallRedirect {
    ipv6: bool,
    /// The return code that lets the call go on.
    verdict: i32,
}

impl rules::Redirect for CallRedirect {
    fn redirect(&mut self, _: &mut CodeBuffer, _: &Module, _: SockId, _: Label) {
        unreachable!("sema lets no `redirect ... to sock` into a socket-call block")
    }

    fn finish(&mut self, _: &mut CodeBuffer, _: Label) {}

    fn redirect_action(
        &mut self,
        b: &mut CodeBuffer,
        _: &Module,
        _: usize,
        action: Action,
        count_exit: Label,
    ) {
        let Action::RedirectCall(t) = action else {
            unreachable!("sema lets no {action} into a socket-call block")
        };
        emit_rewrite(b, &SOCK_ADDR_CTX, self.ipv6, t);
        b.emit(Insn::mov64_imm(Reg::R9, self.verdict));
        b.goto(count_exit);
    }
}

/// Writes `t` into the call's address and port (context in `r6`). An IPv6 target in
/// an IPv4 program writes nothing: its rule is IPv6 only, which no call of that
/// program is.
fn emit_rewrite(b: &mut CodeBuffer, ctx: &SockAddrCtx, ipv6: bool, t: CallTarget) {
    let r1 = Reg::R1;
    b.note(format!("redirect: the call goes to {t}"));
    let words: Vec<(i16, u32)> = match (t.addr, ipv6) {
        (IpAddr::V4(a), false) => vec![(ctx.user_ip4, u32::from_ne_bytes(a.octets()))],
        (IpAddr::V6(_), false) => return,
        (a, true) => {
            let v6 = match a {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            let o = v6.octets();
            (0..4)
                .map(|w| {
                    let bytes = [o[4 * w], o[4 * w + 1], o[4 * w + 2], o[4 * w + 3]];
                    (ctx.user_ip6 + 4 * w as i16, u32::from_ne_bytes(bytes))
                })
                .collect()
        }
    };
    for (off, word) in words {
        for i in Insn::ld_imm64(r1, u64::from(word)) {
            b.emit(i);
        }
        b.emit(Insn::stx(Size::W, Reg::R6, off, r1));
    }
    if let Some(port) = t.port {
        let keep = b.new_label();
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L4_OK)));
        b.branch_imm(Cond::Eq, r1, 0, keep);
        let be = port.to_be_bytes();
        b.emit(Insn::mov64_imm(
            r1,
            u32::from_ne_bytes([be[0], be[1], 0, 0]) as i32,
        ));
        b.emit(Insn::stx(Size::W, Reg::R6, ctx.user_port, r1));
        b.bind(keep);
    }
}

/// The third 32-bit word of an IPv4-mapped IPv6 address (`0000:ffff`), as a 4-byte
/// load of it from the context reads it.
const V4_MAPPED_WORD: u32 = u32::from_ne_bytes([0, 0, 0xff, 0xff]);

/// Fills the flow record from the context. On exit `r6` holds the context.
pub(crate) fn emit_prologue(b: &mut CodeBuffer, ctx: &SockAddrCtx, ipv6: bool, uses_sets: bool) {
    let (r1, r2, r6) = (Reg::R1, Reg::R2, Reg::R6);
    b.note("prologue: the socket call's address into the flow record");
    b.emit(Insn::mov64_reg(r6, Reg::R1));
    reset_flow_record(b, uses_sets);
    let port = b.new_label();
    if ipv6 {
        let native = b.new_label();
        b.emit(Insn::ldx(Size::W, r1, r6, ctx.user_ip6));
        b.emit(Insn::ldx(Size::W, r2, r6, ctx.user_ip6 + 4));
        b.emit(Insn::alu64_reg(op::OR, r1, r2));
        b.branch_imm(Cond::Ne, r1, 0, native);
        b.emit(Insn::ldx(Size::W, r1, r6, ctx.user_ip6 + 8));
        b.emit(Insn::alu32_imm(op::XOR, r1, V4_MAPPED_WORD as i32));
        b.branch_imm(Cond::Ne, r1, 0, native);
        b.note("an IPv4-mapped address: the call reaches IPv4");
        b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 4));
        b.emit(Insn::ldx(Size::W, r1, r6, ctx.user_ip6 + 12));
        b.emit(Insn::stx(Size::W, Reg::FP, at(flow::DST4), r1));
        b.goto(port);
        b.bind(native);
        b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 6));
        for w in 0..4 {
            b.emit(Insn::ldx(Size::W, r1, r6, ctx.user_ip6 + 4 * w));
            b.emit(Insn::stx(Size::W, Reg::FP, at(flow::DST6 + 4 * w), r1));
        }
    } else {
        b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 4));
        b.emit(Insn::ldx(Size::W, r1, r6, ctx.user_ip4));
        b.emit(Insn::stx(Size::W, Reg::FP, at(flow::DST4), r1));
    }
    b.bind(port);
    let done = b.new_label();
    let ports = b.new_label();
    b.emit(Insn::ldx(Size::W, r1, r6, ctx.protocol));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::PROTO), r1));
    b.branch_imm(Cond::Eq, r1, SockProto::Tcp.number().into(), ports);
    b.branch_imm(Cond::Ne, r1, SockProto::Udp.number().into(), done);
    b.bind(ports);
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L4_OK), 1));
    // `user_port`: the port in network order in the low 16 bits of a u32.
    b.emit(Insn::ldx(Size::W, r1, r6, ctx.user_port));
    b.emit(Insn::be(r1, 16));
    b.emit(Insn::stx(Size::H, Reg::FP, at(flow::DPORT), r1));
    b.bind(done);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prologue stores `L3` only as 4 or 6 and `L4_OK` only as 1 (after the
    /// record is zeroed), which is what threading assumes of this context.
    #[test]
    fn the_prologue_stores_only_what_threading_assumes() {
        for (ipv6, uses_sets) in [(false, false), (false, true), (true, false), (true, true)] {
            let mut b = CodeBuffer::new();
            emit_prologue(&mut b, &SOCK_ADDR_CTX, ipv6, uses_sets);
            b.emit(Insn::mov64_imm(Reg::R0, 1));
            b.emit(Insn::exit());
            let code = b.finish().unwrap();
            let mut l3 = Vec::new();
            let mut l4 = Vec::new();
            for i in &code.insns {
                let is_store = i.class() == op::ST || i.class() == op::STX;
                if !is_store || i.dst != Reg::FP.0 || i.code & 0x18 == op::DW {
                    continue;
                }
                if i.off == at(flow::L3) {
                    assert_eq!(i.class(), op::ST);
                    l3.push(i.imm);
                }
                if i.off == at(flow::L4_OK) {
                    assert_eq!(i.class(), op::ST);
                    l4.push(i.imm);
                }
            }
            l3.sort();
            let want_l3 = if ipv6 { vec![4, 6] } else { vec![4] };
            assert_eq!((l3, l4), (want_l3, vec![1]));
        }
    }
}
