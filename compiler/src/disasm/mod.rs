//! Disassembler: bytecode → text in bpftool's `prog dump xlated` syntax.
//!
//! Used by `--emit asm`, the golden files and bytecode diffs. Map references print as
//! `map[NAME]` (bpftool prints `map[id:N]`; names are stable across loads), and notes
//! (e.g. `; line 12: drop from @blocked`) print before the instruction they mark.
//! Invariant: the output depends only on the instructions, relocations and notes
//! given — no fds, addresses or timestamps — so it can be compared byte for byte.

use std::{collections::HashMap, fmt::Write};

use aya_obj::generated::{self as k, bpf_func_id};

use crate::bpf::insn::{op, Insn};

/// Disassembles a program. `map_relocs` name the map of each `ld_imm64` slot;
/// `notes` are comments printed before a slot.
pub fn disassemble(
    insns: &[Insn],
    map_relocs: &[(usize, String)],
    notes: &[(usize, String)],
) -> String {
    let maps: HashMap<usize, &str> = map_relocs.iter().map(|(i, n)| (*i, n.as_str())).collect();
    let mut notes_at: HashMap<usize, Vec<&str>> = HashMap::new();
    for (i, n) in notes {
        notes_at.entry(*i).or_default().push(n);
    }
    let width = insns.len().saturating_sub(1).to_string().len().max(3);
    let mut out = String::new();
    let mut pc = 0;
    while pc < insns.len() {
        for n in notes_at.get(&pc).into_iter().flatten() {
            let _ = writeln!(out, "; {n}");
        }
        let i = insns[pc];
        let text = if i.is_ld_imm64() {
            let hi = insns.get(pc + 1).map_or(0, |n| n.imm);
            match maps.get(&pc) {
                Some(name) => format!("r{} = map[{name}]", i.dst),
                None => {
                    let v = (u64::from(hi as u32) << 32) | u64::from(i.imm as u32);
                    format!("r{} = {v:#x}", i.dst)
                }
            }
        } else {
            insn_text(i)
        };
        let _ = writeln!(out, "{pc:>width$}: ({:02x}) {text}", i.code);
        pc += if i.is_ld_imm64() { 2 } else { 1 };
    }
    out
}

fn size_name(code: u8) -> &'static str {
    match code & 0x18 {
        x if x == op::B => "u8",
        x if x == op::H => "u16",
        x if x == op::W => "u32",
        _ => "u64",
    }
}

fn alu_op(o: u8) -> Option<&'static str> {
    Some(match o {
        x if x == op::ADD => "+=",
        x if x == op::SUB => "-=",
        x if x == op::MUL => "*=",
        x if x == op::DIV => "/=",
        x if x == op::OR => "|=",
        x if x == op::AND => "&=",
        x if x == op::LSH => "<<=",
        x if x == op::RSH => ">>=",
        x if x == op::MOD => "%=",
        x if x == op::XOR => "^=",
        x if x == op::MOV => "=",
        x if x == op::ARSH => "s>>=",
        _ => return None,
    })
}

fn jmp_op(o: u8) -> Option<&'static str> {
    Some(match o {
        x if x == op::JEQ => "==",
        x if x == op::JGT => ">",
        x if x == op::JGE => ">=",
        x if x == op::JSET => "&",
        x if x == op::JNE => "!=",
        x if x == op::JLT => "<",
        x if x == op::JLE => "<=",
        x if x == op::JSGT => "s>",
        x if x == op::JSGE => "s>=",
        x if x == op::JSLT => "s<",
        x if x == op::JSLE => "s<=",
        _ => return None,
    })
}

/// Helper names for the helpers sockc calls (ids from the kernel bindings).
fn helper_name(id: i32) -> Option<&'static str> {
    use bpf_func_id::*;
    const HELPERS: &[(bpf_func_id, &str)] = &[
        (BPF_FUNC_map_lookup_elem, "bpf_map_lookup_elem"),
        (BPF_FUNC_map_update_elem, "bpf_map_update_elem"),
        (BPF_FUNC_sk_lookup_tcp, "bpf_sk_lookup_tcp"),
        (BPF_FUNC_sk_lookup_udp, "bpf_sk_lookup_udp"),
        (BPF_FUNC_skc_lookup_tcp, "bpf_skc_lookup_tcp"),
        (BPF_FUNC_sk_release, "bpf_sk_release"),
        (BPF_FUNC_sk_fullsock, "bpf_sk_fullsock"),
        (BPF_FUNC_sk_assign, "bpf_sk_assign"),
        (BPF_FUNC_tail_call, "bpf_tail_call"),
        (BPF_FUNC_sock_map_update, "bpf_sock_map_update"),
        (BPF_FUNC_sock_hash_update, "bpf_sock_hash_update"),
        (BPF_FUNC_msg_redirect_hash, "bpf_msg_redirect_hash"),
        (BPF_FUNC_sk_redirect_hash, "bpf_sk_redirect_hash"),
        (BPF_FUNC_sk_storage_get, "bpf_sk_storage_get"),
        (BPF_FUNC_get_netns_cookie, "bpf_get_netns_cookie"),
        (BPF_FUNC_ktime_get_ns, "bpf_ktime_get_ns"),
        (BPF_FUNC_ringbuf_reserve, "bpf_ringbuf_reserve"),
        (BPF_FUNC_ringbuf_submit, "bpf_ringbuf_submit"),
    ];
    HELPERS
        .iter()
        .find(|(h, _)| *h as i32 == id)
        .map(|(_, n)| *n)
}

fn off_text(off: i16) -> String {
    if off < 0 {
        format!("{off}")
    } else {
        format!("+{off}")
    }
}

/// One instruction (not `ld_imm64`) in bpftool's syntax.
pub(crate) fn insn_text(i: Insn) -> String {
    let class = i.class();
    let o = i.code & 0xf0;
    let src_is_reg = i.code & op::X != 0;
    match class {
        c if c == op::ALU64 || c == op::ALU => {
            let r = if c == op::ALU64 { 'r' } else { 'w' };
            if o == op::END {
                let kind = if i.code & op::TO_BE != 0 { "be" } else { "le" };
                return format!("r{} = {kind}{} r{}", i.dst, i.imm, i.dst);
            }
            if o == op::NEG {
                return format!("{r}{} = -{r}{}", i.dst, i.dst);
            }
            let Some(sym) = alu_op(o) else {
                return format!("invalid alu op {:#04x}", i.code);
            };
            if src_is_reg {
                format!("{r}{} {sym} {r}{}", i.dst, i.src)
            } else {
                format!("{r}{} {sym} {}", i.dst, i.imm)
            }
        }
        c if c == op::LDX => format!(
            "r{} = *({} *)(r{} {})",
            i.dst,
            size_name(i.code),
            i.src,
            off_text(i.off)
        ),
        c if c == op::STX && i.code & 0xe0 == k::BPF_ATOMIC as u8 => {
            if i.imm == k::BPF_CMPXCHG as i32 {
                format!(
                    "r0 = cmpxchg_64(r{} {}, r0, r{})",
                    i.dst,
                    off_text(i.off),
                    i.src
                )
            } else if i.imm == k::BPF_ADD as i32 {
                format!(
                    "lock *({} *)(r{} {}) += r{}",
                    size_name(i.code),
                    i.dst,
                    off_text(i.off),
                    i.src
                )
            } else {
                format!(
                    "atomic {:#x} (r{} {}), r{}",
                    i.imm,
                    i.dst,
                    off_text(i.off),
                    i.src
                )
            }
        }
        c if c == op::STX => format!(
            "*({} *)(r{} {}) = r{}",
            size_name(i.code),
            i.dst,
            off_text(i.off),
            i.src
        ),
        c if c == op::ST => format!(
            "*({} *)(r{} {}) = {}",
            size_name(i.code),
            i.dst,
            off_text(i.off),
            i.imm
        ),
        c if c == op::JMP || c == op::JMP32 => {
            if o == op::EXIT && c == op::JMP {
                return "exit".into();
            }
            if o == op::CALL && c == op::JMP && u32::from(i.src) == k::BPF_PSEUDO_KFUNC_CALL {
                return format!("call kfunc#{}", i.imm);
            }
            if o == op::CALL && c == op::JMP {
                return match helper_name(i.imm) {
                    Some(n) => format!("call {n}#{}", i.imm),
                    None => format!("call #{}", i.imm),
                };
            }
            if o == op::JA {
                return if c == op::JMP32 {
                    format!("gotol pc{}", off_text_i32(i.imm))
                } else {
                    format!("goto pc{}", off_text(i.off))
                };
            }
            let r = if c == op::JMP { 'r' } else { 'w' };
            let Some(sym) = jmp_op(o) else {
                return format!("invalid jump {:#04x}", i.code);
            };
            let rhs = if src_is_reg {
                format!("{r}{}", i.src)
            } else {
                format!("{:#x}", i.imm)
            };
            format!("if {r}{} {sym} {rhs} goto pc{}", i.dst, off_text(i.off))
        }
        _ => format!("unknown opcode {:#04x}", i.code),
    }
}

fn off_text_i32(off: i32) -> String {
    if off < 0 {
        format!("{off}")
    } else {
        format!("+{off}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::insn::{Cond, Reg, Size};

    /// Expected texts are what bpftool prints for the same instructions.
    #[test]
    fn prints_bpftool_xlated_syntax() {
        let cases = [
            (Insn::mov64_reg(Reg::R6, Reg::R1), "(bf) r6 = r1"),
            (Insn::mov64_imm(Reg::R0, 2), "(b7) r0 = 2"),
            (
                Insn::ldx(Size::W, Reg::R2, Reg::R1, 4),
                "(61) r2 = *(u32 *)(r1 +4)",
            ),
            (
                Insn::stx(Size::DW, Reg::FP, -8, Reg::R1),
                "(7b) *(u64 *)(r10 -8) = r1",
            ),
            (
                Insn::st_imm(Size::W, Reg::FP, -4, 7),
                "(62) *(u32 *)(r10 -4) = 7",
            ),
            (
                Insn::jmp_imm(Cond::Ne, Reg::R1, 6, 3),
                "(55) if r1 != 0x6 goto pc+3",
            ),
            (
                Insn::jmp32_imm(Cond::Eq, Reg::R1, 6, -2),
                "(16) if w1 == 0x6 goto pc-2",
            ),
            (
                Insn::jmp_reg(Cond::Gt, Reg::R4, Reg::R3, 5),
                "(2d) if r4 > r3 goto pc+5",
            ),
            (Insn::be(Reg::R1, 16), "(dc) r1 = be16 r1"),
            (Insn::alu32_imm(op::AND, Reg::R1, 0xff), "(54) w1 &= 255"),
            (Insn::call(1), "(85) call bpf_map_lookup_elem#1"),
            (Insn::exit(), "(95) exit"),
            (Insn::ja(-3), "(05) goto pc-3"),
            (Insn::gotol(70000), "(06) gotol pc+70000"),
        ];
        for (i, want) in cases {
            let got = disassemble(&[i], &[], &[]);
            assert_eq!(got.trim_end(), format!("  0: {want}"));
        }
    }

    #[test]
    fn names_maps_and_prints_notes() {
        let [a, b] = Insn::ld_map_fd(Reg::R1);
        let text = disassemble(
            &[a, b, Insn::exit()],
            &[(0, "counters".into())],
            &[(0, "line 3: allow".into())],
        );
        assert_eq!(
            text,
            "; line 3: allow\n  0: (18) r1 = map[counters]\n  2: (95) exit\n"
        );
    }
}
