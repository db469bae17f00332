//! Lowering of packet-hook programs (XDP, TC): prologue, then each rule as a chain of
//! tests that fall through to the next rule on the first mismatch, then the default.
//!
//! Rules test the flow record that the prologue filled (see [`super::packet::flow`]),
//! never the packet itself, so rule code needs no bounds checks. Invariants: every
//! path reaches `exit` with `r0` = a verdict of the hook; every path that ends a rule
//! or the default bumps exactly one counter slot; registers `r9` (verdict) and the
//! counter key on the stack are set before the shared count-and-exit tail is reached.

use aya_obj::generated::bpf_func_id;
use ipnet::IpNet;

use super::{
    buffer::{BufferError, Code, CodeBuffer, Label},
    insn::{op, Cond, Insn, Reg, Size},
    packet::{emit_prologue, flow, flow::at},
};
use crate::{
    hooks::{self, HookSpec},
    ir::{Action, AddrMatch, Module, PortMatch, Program, RuleMatch, SetId},
    syntax::ast::Family,
};

/// Name of the per-CPU counters map.
pub const COUNTERS_MAP: &str = "counters";

/// Map symbol of one family of an address set.
pub fn set_map_name(module: &Module, set: SetId, family: Family) -> String {
    let name = &module.sets[set].name;
    match family {
        Family::V4 => format!("set_{name}_v4"),
        Family::V6 => format!("set_{name}_v6"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    #[error("{hook} programs cannot be lowered yet")]
    Unsupported { hook: &'static str },
    #[error(transparent)]
    Buffer(#[from] BufferError),
}

/// Lowers one program to instructions.
pub fn lower_program(module: &Module, prog: &Program) -> Result<Code, LowerError> {
    let spec = hooks::spec(prog.hook);
    let ctx = match (spec.ctx, spec.unsupported) {
        (Some(ctx), None) => ctx,
        _ => return Err(LowerError::Unsupported { hook: spec.name }),
    };
    let mut b = CodeBuffer::new();
    let uses_sets = prog
        .rules
        .iter()
        .any(|r| matches!(r.m.src, AddrMatch::Set(_)) || matches!(r.m.dst, AddrMatch::Set(_)));
    emit_prologue(&mut b, &ctx, uses_sets);
    let count_exit = b.new_label();
    // The kernel rejects unreachable instructions, so code that cannot run is not
    // emitted: a rule that can never match, and everything after a rule that always
    // ends the program.
    let mut ended = false;
    for rule in &prog.rules {
        if !can_match(module, &rule.m) {
            continue;
        }
        let always = rule.m == RuleMatch::default();
        let next = b.new_label();
        b.note(format!("line {}: {}", rule.line, rule.text));
        emit_match(&mut b, module, &rule.m, next);
        b.emit(Insn::st_imm(
            Size::W,
            Reg::FP,
            at(flow::COUNTER_KEY),
            rule.counter as i32,
        ));
        match rule.action {
            Action::Count => emit_count(&mut b),
            action => {
                b.emit(Insn::mov64_imm(Reg::R9, verdict(spec, action)));
                b.goto(count_exit);
            }
        }
        b.bind(next);
        if always && rule.action != Action::Count {
            ended = true;
            break;
        }
    }
    if !ended {
        b.note(format!(
            "line {}: default {}",
            prog.default_line,
            crate::ir::verdict_name(prog.default)
        ));
        b.emit(Insn::st_imm(
            Size::W,
            Reg::FP,
            at(flow::COUNTER_KEY),
            prog.default_counter as i32,
        ));
        let code = spec
            .verdict_code(prog.default)
            .expect("sema only lets through defaults the hook has");
        b.emit(Insn::mov64_imm(Reg::R9, code));
    }
    b.bind(count_exit);
    emit_count(&mut b);
    b.emit(Insn::mov64_reg(Reg::R0, Reg::R9));
    b.emit(Insn::exit());
    Ok(b.finish()?)
}

/// False when a rule can match no packet: an address set with no element of any
/// family the rule applies to.
fn can_match(module: &Module, m: &RuleMatch) -> bool {
    [&m.src, &m.dst].into_iter().all(|a| match a {
        AddrMatch::Set(s) => {
            let set = &module.sets[*s];
            match m.family {
                Some(Family::V4) => !set.v4.is_empty(),
                Some(Family::V6) => !set.v6.is_empty(),
                None => true,
            }
        }
        _ => true,
    })
}

fn verdict(spec: &HookSpec, a: Action) -> i32 {
    let code = match a {
        Action::Allow => spec.allow,
        Action::Drop => spec.drop,
        Action::Pass => spec.pass,
        Action::Count | Action::Redirect(_) => None,
    };
    code.expect("sema only lets through actions the hook has")
}

/// Adds 1 packet and the packet length in bytes to the counter slot whose index is
/// at `COUNTER_KEY`. Clobbers r0-r5.
fn emit_count(b: &mut CodeBuffer) {
    let skip = b.new_label();
    b.ld_map(Reg::R1, COUNTERS_MAP);
    b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    b.emit(Insn::alu64_imm(
        op::ADD,
        Reg::R2,
        at(flow::COUNTER_KEY) as i32,
    ));
    b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
    b.branch_imm(Cond::Eq, Reg::R0, 0, skip);
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
    b.emit(Insn::alu64_imm(op::ADD, Reg::R1, 1));
    b.emit(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
    b.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8));
    b.emit(Insn::ldx(Size::W, Reg::R2, Reg::FP, at(flow::PKT_LEN)));
    b.emit(Insn::alu64_reg(op::ADD, Reg::R1, Reg::R2));
    b.emit(Insn::stx(Size::DW, Reg::R0, 8, Reg::R1));
    b.bind(skip);
}

/// Emits the tests of one rule; any failing test jumps to `fail`.
fn emit_match(b: &mut CodeBuffer, module: &Module, m: &RuleMatch, fail: Label) {
    let r1 = Reg::R1;
    if m.ip_only || m.family.is_some() {
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L3)));
        match m.family {
            Some(Family::V4) => b.branch_imm(Cond::Ne, r1, 4, fail),
            Some(Family::V6) => b.branch_imm(Cond::Ne, r1, 6, fail),
            None => b.branch_imm(Cond::Eq, r1, 0, fail),
        }
    }
    if let Some(p) = m.proto {
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::PROTO)));
        b.branch_imm(Cond::Ne, r1, p as i32, fail);
    } else if m.needs_ports() {
        // Ports without a protocol: TCP or UDP.
        let ok = b.new_label();
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::PROTO)));
        b.branch_imm(Cond::Eq, r1, 6, ok);
        b.branch_imm(Cond::Ne, r1, 17, fail);
        b.bind(ok);
    }
    if m.needs_l4() {
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L4_OK)));
        b.branch_imm(Cond::Eq, r1, 0, fail);
    }
    emit_addr(b, module, m.family, &m.src, true, fail);
    emit_addr(b, module, m.family, &m.dst, false, fail);
    emit_ports(b, &m.sport, flow::SPORT, fail);
    emit_ports(b, &m.dport, flow::DPORT, fail);
    if let Some((mask, value)) = m.tcp_flags {
        b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::TCP_FLAGS)));
        if mask != 0xff {
            b.emit(Insn::alu64_imm(op::AND, r1, mask as i32));
        }
        b.branch_imm(Cond::Ne, r1, value as i32, fail);
    }
    for (v, field) in [
        (m.icmp_type, flow::ICMP_TYPE),
        (m.icmp_code, flow::ICMP_CODE),
    ] {
        if let Some(v) = v {
            b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(field)));
            b.branch_imm(Cond::Ne, r1, v as i32, fail);
        }
    }
}

fn emit_addr(
    b: &mut CodeBuffer,
    module: &Module,
    family: Option<Family>,
    a: &AddrMatch,
    src: bool,
    fail: Label,
) {
    let r1 = Reg::R1;
    match a {
        AddrMatch::Any => {}
        AddrMatch::Prefix(IpNet::V4(n)) => {
            let off = at(if src { flow::SRC4 } else { flow::DST4 });
            emit_masked_words(b, off, &n.network().octets(), n.prefix_len(), fail);
        }
        AddrMatch::Prefix(IpNet::V6(n)) => {
            let off = at(if src { flow::SRC6 } else { flow::DST6 });
            emit_masked_words(b, off, &n.network().octets(), n.prefix_len(), fail);
        }
        AddrMatch::Set(set) => {
            let s = &module.sets[*set];
            let families: Vec<Family> = match family {
                Some(f) => vec![f],
                None => vec![Family::V4, Family::V6],
            };
            let matched = b.new_label();
            let mut after_v4 = None;
            for f in &families {
                if families.len() == 2 && *f == Family::V4 {
                    let v6 = b.new_label();
                    b.emit(Insn::ldx(Size::B, r1, Reg::FP, at(flow::L3)));
                    b.branch_imm(Cond::Ne, r1, 4, v6);
                    after_v4 = Some(v6);
                } else if let Some(v6) = after_v4.take() {
                    b.bind(v6);
                }
                let empty = match f {
                    Family::V4 => s.v4.is_empty(),
                    Family::V6 => s.v6.is_empty(),
                };
                if empty {
                    // No element of this family: packets of it never match.
                    b.goto(fail);
                    continue;
                }
                let key = match (f, src) {
                    (Family::V4, true) => flow::SRC4_PLEN,
                    (Family::V4, false) => flow::DST4_PLEN,
                    (Family::V6, true) => flow::SRC6_PLEN,
                    (Family::V6, false) => flow::DST6_PLEN,
                };
                b.ld_map(Reg::R1, &set_map_name(module, *set, *f));
                b.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
                b.emit(Insn::alu64_imm(op::ADD, Reg::R2, at(key) as i32));
                b.emit(Insn::call(bpf_func_id::BPF_FUNC_map_lookup_elem as u32));
                b.branch_imm(Cond::Eq, Reg::R0, 0, fail);
                if families.len() == 2 && *f == Family::V4 {
                    b.goto(matched);
                }
            }
            b.bind(matched);
        }
    }
}

/// Compares the first `plen` bits of the network-order bytes at `r10 + off` with
/// `addr`, one 32-bit word at a time. A word is loaded as little-endian, so the mask
/// and the expected value are built the same way from network-order bytes. Several
/// words are folded into one branch (`(w0 ^ v0) | (w1 ^ v1) ...`): fewer branches
/// mean fewer states for the verifier to keep while it walks a long rule chain.
fn emit_masked_words(b: &mut CodeBuffer, off: i16, addr: &[u8], plen: u8, fail: Label) {
    let words: Vec<(i16, u32, u32)> = addr
        .chunks(4)
        .enumerate()
        .take_while(|(w, _)| u32::from(plen) > *w as u32 * 32)
        .map(|(w, chunk)| {
            let bits = (u32::from(plen) - w as u32 * 32).min(32);
            let mask_be: u32 = if bits == 32 {
                u32::MAX
            } else {
                !(u32::MAX >> bits)
            };
            let mask = u32::from_le_bytes(mask_be.to_be_bytes());
            let value = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) & mask;
            (off + 4 * w as i16, mask, value)
        })
        .collect();
    if let [(at, mask, value)] = words.as_slice() {
        b.emit(Insn::ldx(Size::W, Reg::R1, Reg::FP, *at));
        if *mask != u32::MAX {
            b.emit(Insn::alu32_imm(op::AND, Reg::R1, *mask as i32));
        }
        b.branch32_imm(Cond::Ne, Reg::R1, *value, fail);
        return;
    }
    for (i, (at, mask, value)) in words.iter().enumerate() {
        let r = if i == 0 { Reg::R1 } else { Reg::R2 };
        b.emit(Insn::ldx(Size::W, r, Reg::FP, *at));
        if *mask != u32::MAX {
            b.emit(Insn::alu32_imm(op::AND, r, *mask as i32));
        }
        b.emit(Insn::alu32_imm(op::XOR, r, *value as i32));
        if i > 0 {
            b.emit(Insn::alu32_reg(op::OR, Reg::R1, Reg::R2));
        }
    }
    if !words.is_empty() {
        b.branch32_imm(Cond::Ne, Reg::R1, 0, fail);
    }
}

/// Port ranges are sorted, so a port below a range's low end is below every later
/// range too and can fail at once.
fn emit_ports(b: &mut CodeBuffer, p: &PortMatch, field: i16, fail: Label) {
    let PortMatch::Ranges(ranges) = p else {
        return;
    };
    let r1 = Reg::R1;
    b.emit(Insn::ldx(Size::H, r1, Reg::FP, at(field)));
    if let [(lo, hi)] = ranges.as_slice() {
        if lo == hi {
            b.branch_imm(Cond::Ne, r1, i32::from(*lo), fail);
        } else {
            if *lo > 0 {
                b.branch_imm(Cond::Lt, r1, i32::from(*lo), fail);
            }
            if *hi < u16::MAX {
                b.branch_imm(Cond::Gt, r1, i32::from(*hi), fail);
            }
        }
        return;
    }
    let ok = b.new_label();
    for (lo, hi) in ranges {
        if lo == hi {
            b.branch_imm(Cond::Eq, r1, i32::from(*lo), ok);
        } else {
            if *lo > 0 {
                b.branch_imm(Cond::Lt, r1, i32::from(*lo), fail);
            }
            b.branch_imm(Cond::Le, r1, i32::from(*hi), ok);
        }
    }
    b.goto(fail);
    b.bind(ok);
}
