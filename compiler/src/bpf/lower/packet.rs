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
    ir::{AddrMatch, Module, Program, Rule},
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
    let needs = RuleNeeds::of(prog);
    // A logging program reads the frame too: `sockc trace` names the EtherType of a
    // frame that is not IP.
    let frames = needs.frames || module.logs_in(prog);
    let copies = header_copies(prog);
    emit_prologue(&mut b, &ctx, needs.sets, frames, needs.l4_offset, copies);
    // `Module::answers_limited_in`, with the rules' answers read above.
    let limited = needs.answers && !module.answers.unlimited();
    let mut answer = reject::Answer::new(&mut b, prog, spec, ctx, limited);
    rules::emit(b, module, prog, spec, sizing, &mut answer)
}

/// What a packet program's prologue and answers need of its rules, read in one pass
/// over them (a pass over acl1_100000's 99,310 rules, 16 MB, costs about a
/// millisecond, and there were four).
#[derive(Debug, Default, PartialEq, Eq)]
struct RuleNeeds {
    /// Some rule tests the frame (EtherType, VLAN).
    frames: bool,
    /// The prologue records the upper-layer offset: `ct state` looks up the flow an
    /// ICMP error quotes, past the ICMP header; a reject answers from the upper-layer
    /// header, wherever options or extension headers put it.
    l4_offset: bool,
    /// [`uses_sets`].
    sets: bool,
    /// [`Program::answers_icmp`].
    answers: bool,
}

impl RuleNeeds {
    fn of(prog: &Program) -> RuleNeeds {
        let mut out = RuleNeeds::default();
        for r in &prog.rules {
            out.frames |= r.m.tests_frame();
            out.l4_offset |= r.m.ct.is_some() || matches!(r.action, crate::ir::Action::Reject(_));
            out.sets |= uses_set(r);
            out.answers |= r.answers_icmp();
        }
        out
    }
}

/// The IP header fields the rules test (`ttl`, `dscp`, ...), which the prologue then
/// copies into the flow record.
pub(super) fn header_copies(prog: &Program) -> Copies {
    Copies::of(prog.rules.iter().flat_map(|r| &r.m.rare().fields))
}

/// Whether any rule looks an address up in a set (the prologue then writes the LPM
/// key prefix lengths in front of the addresses).
pub(super) fn uses_sets(prog: &Program) -> bool {
    prog.rules.iter().any(uses_set)
}

/// Whether rule `r` looks an address up in a set.
fn uses_set(r: &Rule) -> bool {
    matches!(r.m.src, AddrMatch::Set(_)) || matches!(r.m.dst, AddrMatch::Set(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::{
        flow::{self, at},
        insn::{op, Insn, Reg},
    };
    use crate::hooks::HookKind;

    /// The one pass over a packet program's rules finds what a scan per question
    /// finds, on every rule file under `rules/` that compiles (some with each).
    #[test]
    fn the_rules_read_once_are_what_a_scan_each_finds() {
        let mut seen = RuleNeeds::default();
        for (f, c) in crate::bpf::test_support::example_modules() {
            for p in c.module.programs.values() {
                let each = RuleNeeds {
                    frames: p.rules.iter().any(|r| r.m.tests_frame()),
                    l4_offset: p.rules.iter().any(|r| {
                        r.m.ct.is_some() || matches!(r.action, crate::ir::Action::Reject(_))
                    }),
                    sets: uses_sets(p),
                    answers: p.answers_icmp(),
                };
                assert_eq!(RuleNeeds::of(p), each, "{}", f.display());
                seen.frames |= each.frames;
                seen.l4_offset |= each.l4_offset;
                seen.sets |= each.sets;
                seen.answers |= each.answers;
            }
        }
        let all = RuleNeeds {
            frames: true,
            l4_offset: true,
            sets: true,
            answers: true,
        };
        assert_eq!(seen, all);
    }

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
