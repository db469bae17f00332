//! Lowering of packet-hook programs (XDP, TC): the packet prologue
//! ([`crate::bpf::packet`]) parses the frame into the flow record, then the shared
//! rule walk ([`super::rules`]), whose tail sends a `reject`'s answer
//! ([`super::reject`]). Packet hooks have no redirect.

use super::{reject, rules, LowerError};
use crate::{
    bpf::{
        buffer::{Code, CodeBuffer},
        header::Copies,
        maps::Sizing,
        packet::emit_prologue,
    },
    hooks::{HookSpec, PacketCtx},
    ir::{AddrMatch, Module, Program},
};

/// Lowers a packet-hook program whose context holds the packet as `ctx` says.
pub(crate) fn lower(
    module: &Module,
    prog: &Program,
    spec: &HookSpec,
    ctx: PacketCtx,
    sizing: &Sizing,
) -> Result<Code, LowerError> {
    let mut b = CodeBuffer::new();
    // A logging program reads the frame too: `sockc trace` names the EtherType of a
    // frame that is not IP.
    let frames = prog.rules.iter().any(|r| r.m.tests_frame()) || module.logs_in(prog);
    // `ct state` looks up the flow an ICMP error quotes, past the ICMP header; a reject
    // answers from the upper-layer header, wherever options or extension headers put it.
    let l4_offset = prog
        .rules
        .iter()
        .any(|r| r.m.ct.is_some() || matches!(r.action, crate::ir::Action::Reject(_)));
    let copies = header_copies(prog);
    emit_prologue(&mut b, &ctx, uses_sets(prog), frames, l4_offset, copies);
    let mut answer = reject::Answer::new(&mut b, prog, spec, ctx, module.answers_limited_in(prog));
    rules::emit(b, module, prog, spec, sizing, &mut answer)
}

/// The IP header fields the rules test (`ttl`, `dscp`, ...), which the prologue then
/// copies into the flow record.
pub(super) fn header_copies(prog: &Program) -> Copies {
    Copies::of(prog.rules.iter().flat_map(|r| &r.m.rare().fields))
}

/// Whether any rule looks an address up in a set (the prologue then writes the LPM
/// key prefix lengths in front of the addresses).
pub(super) fn uses_sets(prog: &Program) -> bool {
    prog.rules
        .iter()
        .any(|r| matches!(r.m.src, AddrMatch::Set(_)) || matches!(r.m.dst, AddrMatch::Set(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::{
        flow::{self, at},
        insn::{op, Insn, Reg},
    };
    use crate::hooks::HookKind;

    /// Threading starts from [`thread::Knowledge::flow_record`]: `L3` only ever holds
    /// 0, 4 or 6 and `L4_OK` and `FRAG` 0 or 1. Every store of the prologue that touches those
    /// bytes stores one of those values (the record is zeroed first).
    #[test]
    fn the_prologue_stores_only_what_threading_assumes() {
        for kind in [HookKind::Xdp, HookKind::TcIngress, HookKind::TcEgress] {
            for uses_sets in [false, true] {
                let mut b = CodeBuffer::new();
                emit_prologue(
                    &mut b,
                    &kind.spec().packet_ctx().unwrap(),
                    uses_sets,
                    true,
                    true,
                    Copies::ALL,
                );
                let end = b.new_label();
                b.bind(end);
                b.emit(Insn::exit());
                let code = b.finish().unwrap();
                let mut seen = [false; 3];
                for insn in &code.insns {
                    let class = insn.class();
                    if (class != op::ST && class != op::STX) || insn.dst != Reg::FP.0 {
                        continue;
                    }
                    let width = match insn.code & 0x18 {
                        x if x == op::B => 1,
                        x if x == op::H => 2,
                        x if x == op::W => 4,
                        _ => 8,
                    };
                    for (i, (field, allowed)) in [
                        (flow::L3, &[0, 4, 6][..]),
                        (flow::L4_OK, &[0, 1][..]),
                        (flow::FRAG, &[0, 1][..]),
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        let byte = at(field);
                        if !(insn.off..insn.off + width).contains(&byte) {
                            continue;
                        }
                        seen[i] = true;
                        // FRAG is stored from a register on purpose (one verifier
                        // state for fragments and whole packets); its value is 0 or
                        // 1 by construction (see `bpf::packet`), checked in the kernel
                        // tables.
                        if field == flow::FRAG && class == op::STX {
                            continue;
                        }
                        assert_eq!(class, op::ST, "{kind:?}: a register stored over {field}");
                        let value = if width == 1 {
                            insn.imm
                        } else {
                            insn.imm.min(1) * 255
                        };
                        assert!(
                            allowed.contains(&value),
                            "{kind:?}: {value} stored at {field}: {insn:?}"
                        );
                    }
                }
                assert_eq!(seen, [true, true, true]);
            }
        }
    }
}
