//! The disassembler's text as `format!` writes it, one `String` per piece: what
//! `disasm` wrote before it wrote each line in place, kept as the reference its tests
//! compare every opcode's text with.

use aya_obj::generated as k;

use super::{alu_op, helper_name, jmp_op, size_name};
use crate::bpf::insn::{op, Insn};

/// One line of [`super::disassemble`] without notes: `ld_imm64`'s second half `hi`.
pub fn line(pc: usize, width: usize, i: Insn, hi: i32, map: Option<&str>) -> String {
    let text = if i.is_ld_imm64() {
        match map {
            Some(name) => format!("r{} = map[{name}]", i.dst),
            None => {
                let v = (u64::from(hi as u32) << 32) | u64::from(i.imm as u32);
                format!("r{} = {v:#x}", i.dst)
            }
        }
    } else {
        insn_text(i)
    };
    format!("{pc:>width$}: ({:02x}) {text}\n", i.code)
}

fn off_text(off: i16) -> String {
    if off < 0 {
        format!("{off}")
    } else {
        format!("+{off}")
    }
}

/// One instruction (not `ld_imm64`) in bpftool's syntax.
fn insn_text(i: Insn) -> String {
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
