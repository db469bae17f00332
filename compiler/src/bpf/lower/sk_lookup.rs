//! Lowering of sk_lookup programs: a prologue that copies the lookup's fields from
//! `struct bpf_sk_lookup` into the flow record (the same record packet hooks fill, so
//! matching is the shared rule walk of [`super::rules`]), and the redirect: look the
//! socket up in the install's socket map by its slot (written into the code when the
//! object is loaded, see [`Code::socket_slots`]), hand it to `bpf_sk_assign`, release
//! it.
//!
//! A redirect whose socket is not registered (the map has no entry for its key), or
//! that the kernel refuses (`bpf_sk_assign` fails: the socket is not listening or is
//! connected, or its family or protocol does not fit), **drops** the connection or
//! datagram and counts it in the socket's slot of [`SOCKET_DROPS_MAP`]: traffic meant
//! for a service never lands in whatever else is bound to the address (tubular's
//! rule). Invariants: the prologue stores `L3` as 4 or 6 and `L4_OK` as 1 (a lookup
//! always has an address family and both ports); the socket reference from the map
//! lookup is released on every path (refcheck is told the lookup acquires one).

use aya_obj::generated::bpf_func_id;
use cranelift_entity::EntityRef as _;

use super::{
    packet::uses_sets,
    rules::{self, Redirect},
    LowerError,
};
use crate::{
    bpf::{
        buffer::{Code, CodeBuffer, Label},
        emit::{emit_bump, reset_flow_record},
        flow::{self, at},
        insn::{op, Cond, Insn, Reg, Size},
        maps::{socket_drop_slot, Sizing, SOCKETS_MAP, SOCKET_DROPS_MAP},
    },
    hooks::{HookSpec, SkLookupCtx, AF_INET, AF_INET6, SK_LOOKUP_CTX},
    ir::{Module, Program, SockId},
};

/// Lowers an sk_lookup program.
pub(crate) fn lower(
    module: &Module,
    prog: &Program,
    spec: &HookSpec,
    sizing: &Sizing,
) -> Result<Code, LowerError> {
    let mut b = CodeBuffer::new();
    emit_prologue(&mut b, &SK_LOOKUP_CTX, uses_sets(prog));
    let mut redirects = Redirects {
        pass: spec.verdicts.pass.expect("sk_lookup has SK_PASS"),
        drop: spec.verdicts.drop.expect("sk_lookup has SK_DROP"),
        sockets: Vec::new(),
    };
    rules::emit(b, module, prog, spec, sizing, &mut redirects)
}

/// Fills the flow record from the context: family, protocol, remote end as the
/// source, local end as the destination, ports in host order. On exit `r6` holds the
/// context.
pub(crate) fn emit_prologue(b: &mut CodeBuffer, ctx: &SkLookupCtx, uses_sets: bool) {
    let (r1, r6) = (Reg::R1, Reg::R6);
    b.note("prologue: the lookup into the flow record");
    b.emit(Insn::mov64_reg(r6, Reg::R1));
    reset_flow_record(b, uses_sets);
    let v4 = b.new_label();
    let ports = b.new_label();
    b.emit(Insn::ldx(Size::W, r1, r6, ctx.family));
    // The kernel runs sk_lookup for AF_INET and AF_INET6 lookups only (and
    // BPF_PROG_TEST_RUN refuses other families), so what is not IPv4 is IPv6.
    const _: () = assert!(AF_INET != AF_INET6);
    b.branch_imm(Cond::Eq, r1, AF_INET as i32, v4);
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 6));
    for w in 0..4 {
        for (from, to) in [(ctx.remote_ip6, flow::SRC6), (ctx.local_ip6, flow::DST6)] {
            b.emit(Insn::ldx(Size::W, r1, r6, from + 4 * w));
            b.emit(Insn::stx(Size::W, Reg::FP, at(to + 4 * w), r1));
        }
    }
    b.goto(ports);
    b.bind(v4);
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L3), 4));
    for (from, to) in [(ctx.remote_ip4, flow::SRC4), (ctx.local_ip4, flow::DST4)] {
        b.emit(Insn::ldx(Size::W, r1, r6, from));
        b.emit(Insn::stx(Size::W, Reg::FP, at(to), r1));
    }
    b.bind(ports);
    b.emit(Insn::ldx(Size::W, r1, r6, ctx.protocol));
    b.emit(Insn::stx(Size::B, Reg::FP, at(flow::PROTO), r1));
    b.emit(Insn::st_imm(Size::B, Reg::FP, at(flow::L4_OK), 1));
    // remote_port is a __be16: a 2-byte load, then to host order.
    b.emit(Insn::ldx(Size::H, r1, r6, ctx.remote_port));
    b.emit(Insn::be(r1, 16));
    b.emit(Insn::stx(Size::H, Reg::FP, at(flow::SPORT), r1));
    b.emit(Insn::ldx(Size::W, r1, r6, ctx.local_port));
    b.emit(Insn::stx(Size::H, Reg::FP, at(flow::DPORT), r1));
}

/// The redirect code of one program: one block per socket that rules redirect to
/// (every rule for that socket jumps to it), and one shared drop-and-count block,
/// emitted after the count-and-exit tail.
struct Redirects {
    pass: i32,
    drop: i32,
    /// Sockets redirected to, with the label of their block, in first-use order.
    sockets: Vec<(SockId, Label)>,
}

impl Redirect for Redirects {
    fn redirect(&mut self, b: &mut CodeBuffer, _: &Module, sock: SockId, _: Label) {
        let label = match self.sockets.iter().find(|s| s.0 == sock) {
            Some(s) => s.1,
            None => {
                let l = b.new_label();
                self.sockets.push((sock, l));
                l
            }
        };
        b.goto(label);
    }

    fn finish(&mut self, b: &mut CodeBuffer, count_exit: Label) {
        let (r0, r1, r2, r3, r6, r7, r8) = (
            Reg::R0,
            Reg::R1,
            Reg::R2,
            Reg::R3,
            Reg::R6,
            Reg::R7,
            Reg::R8,
        );
        if self.sockets.is_empty() {
            return;
        }
        let dropped = b.new_label();
        for &(sock, label) in &self.sockets {
            let missing_slot = socket_drop_slot(sock.index(), false) as i32;
            let refused_slot = socket_drop_slot(sock.index(), true) as i32;
            let missing = b.new_label();
            b.bind(label);
            b.note(format!(
                "redirect to socket {sock}: its slot in the socket map"
            ));
            b.store_socket_slot(at(flow::SOCKET_SLOT), sock.index() as u32);
            b.ld_map(r1, SOCKETS_MAP);
            b.emit(Insn::mov64_reg(r2, Reg::FP));
            b.emit(Insn::alu64_imm(op::ADD, r2, at(flow::SOCKET_SLOT) as i32));
            b.call_acquire(bpf_func_id::BPF_FUNC_map_lookup_elem as u32);
            b.branch_imm(Cond::Eq, r0, 0, missing);
            b.emit(Insn::mov64_reg(r7, r0));
            b.emit(Insn::mov64_reg(r1, r6));
            b.emit(Insn::mov64_reg(r2, r7));
            b.emit(Insn::mov64_imm(r3, 0));
            b.emit(Insn::call(bpf_func_id::BPF_FUNC_sk_assign as u32));
            b.emit(Insn::mov64_reg(r8, r0));
            b.emit(Insn::mov64_reg(r1, r7));
            b.emit(Insn::call(bpf_func_id::BPF_FUNC_sk_release as u32));
            b.emit(Insn::mov64_imm(Reg::R9, self.pass));
            b.branch_imm(Cond::Eq, r8, 0, count_exit);
            b.emit(Insn::mov64_imm(r1, refused_slot));
            b.goto(dropped);
            b.bind(missing);
            b.emit(Insn::mov64_imm(r1, missing_slot));
            b.goto(dropped);
        }
        b.bind(dropped);
        b.note("redirect dropped: count it for the socket");
        b.emit(Insn::stx(Size::W, Reg::FP, at(flow::SOCKET_SLOT), r1));
        emit_bump(b, SOCKET_DROPS_MAP, flow::SOCKET_SLOT);
        b.emit(Insn::mov64_imm(Reg::R9, self.drop));
        b.goto(count_exit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threading starts sk_lookup programs from `Knowledge::for_context`: `L3` is 4 or
    /// 6 and `L4_OK` is 1 on every path out of the prologue. After the record is
    /// zeroed (the only 8-byte stores), the only stores that touch those bytes are
    /// one-byte immediates there: `L3` once per family path (4 and 6), `L4_OK` once
    /// (1) after the paths join.
    #[test]
    fn the_prologue_stores_only_what_threading_assumes() {
        for uses_sets in [false, true] {
            let mut b = CodeBuffer::new();
            emit_prologue(&mut b, &SK_LOOKUP_CTX, uses_sets);
            b.emit(Insn::exit());
            let code = b.finish().unwrap();
            let mut l3 = Vec::new();
            let mut l4 = Vec::new();
            for (pc, i) in code.insns.iter().enumerate() {
                let width = match i.code & 0x18 {
                    x if x == op::B => 1,
                    x if x == op::H => 2,
                    x if x == op::W => 4,
                    _ => 8,
                };
                let is_store = i.class() == op::ST || i.class() == op::STX;
                if !is_store || i.dst != Reg::FP.0 || width == 8 {
                    continue;
                }
                for (field, seen) in [(flow::L3, &mut l3), (flow::L4_OK, &mut l4)] {
                    if (i.off..i.off + width).contains(&at(field)) {
                        assert_eq!(
                            (i.off, width, i.class()),
                            (at(field), 1, op::ST),
                            "insn {pc} writes over {field}"
                        );
                        seen.push(i.imm);
                    }
                }
            }
            l3.sort();
            assert_eq!((l3, l4), (vec![4, 6], vec![1]));
        }
    }
}
