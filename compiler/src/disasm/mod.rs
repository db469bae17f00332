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
/// `notes` are comments printed before a slot. Each line is written in place, its
/// numbers by `itoa` and by hand in hex: a `format!` per instruction and per offset
/// was most of a 1k-rule re-apply's plan stage (which lists the new program's
/// bytecode), two thirds of it in `core::fmt`.
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
    // About what a line takes, so that the text is not copied as it grows.
    let mut out = String::with_capacity(insns.len() * 40);
    let mut pc = 0;
    while pc < insns.len() {
        for n in notes_at.get(&pc).into_iter().flatten() {
            out.push_str("; ");
            out.push_str(n);
            out.push('\n');
        }
        let i = insns[pc];
        let mut num = itoa::Buffer::new();
        let at = num.format(pc);
        out.extend(std::iter::repeat_n(' ', width.saturating_sub(at.len())));
        out.push_str(at);
        out.push_str(": (");
        hex2(&mut out, i.code);
        out.push_str(") ");
        if i.is_ld_imm64() {
            reg(&mut out, 'r', i.dst);
            out.push_str(" = ");
            match maps.get(&pc) {
                Some(name) => {
                    out.push_str("map[");
                    out.push_str(name);
                    out.push(']');
                }
                None => {
                    let hi = insns.get(pc + 1).map_or(0, |n| n.imm);
                    hex(
                        &mut out,
                        (u64::from(hi as u32) << 32) | u64::from(i.imm as u32),
                    );
                }
            }
        } else {
            write_insn(&mut out, i);
        }
        out.push('\n');
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

/// A number in decimal (`{}`).
fn int(out: &mut String, v: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// A register: `r` or `w` and its number.
fn reg(out: &mut String, kind: char, n: u8) {
    out.push(kind);
    int(out, n);
}

/// An offset with its sign, `+` too (`+4`, `-8`).
fn off(out: &mut String, v: i32) {
    if v >= 0 {
        out.push('+');
    }
    int(out, v);
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `v` as `{:#x}` prints it: `0x` and its digits, no leading zeros.
fn hex(out: &mut String, v: u64) {
    out.push_str("0x");
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
    for k in (0..digits).rev() {
        out.push(char::from(HEX_DIGITS[((v >> (4 * k)) & 0xf) as usize]));
    }
}

/// `v` as `{:02x}` prints it: two digits.
fn hex2(out: &mut String, v: u8) {
    out.push(char::from(HEX_DIGITS[usize::from(v >> 4)]));
    out.push(char::from(HEX_DIGITS[usize::from(v & 0xf)]));
}

/// A memory operand: `*(u32 *)(r1 +4)` (`deref` false: `(r1 +4)` alone).
fn mem(out: &mut String, code: u8, base: u8, offset: i16, deref: bool) {
    if deref {
        out.push_str("*(");
        out.push_str(size_name(code));
        out.push_str(" *)");
    }
    out.push('(');
    reg(out, 'r', base);
    out.push(' ');
    off(out, i32::from(offset));
    out.push(')');
}

/// One instruction (not `ld_imm64`) in bpftool's syntax, after what `out` holds.
fn write_insn(out: &mut String, i: Insn) {
    let class = i.class();
    if class == op::ALU64 || class == op::ALU {
        write_alu(out, i);
    } else if class == op::LDX {
        reg(out, 'r', i.dst);
        out.push_str(" = ");
        mem(out, i.code, i.src, i.off, true);
    } else if class == op::STX && i.code & 0xe0 == k::BPF_ATOMIC as u8 {
        write_atomic(out, i);
    } else if class == op::STX || class == op::ST {
        mem(out, i.code, i.dst, i.off, true);
        out.push_str(" = ");
        if class == op::STX {
            reg(out, 'r', i.src);
        } else {
            int(out, i.imm);
        }
    } else if class == op::JMP || class == op::JMP32 {
        write_jump(out, i);
    } else {
        let _ = write!(out, "unknown opcode {:#04x}", i.code);
    }
}

fn write_alu(out: &mut String, i: Insn) {
    let o = i.code & 0xf0;
    let r = if i.class() == op::ALU64 { 'r' } else { 'w' };
    if o == op::END {
        let kind = if i.code & op::TO_BE != 0 { "be" } else { "le" };
        reg(out, 'r', i.dst);
        out.push_str(" = ");
        out.push_str(kind);
        int(out, i.imm);
        out.push(' ');
        reg(out, 'r', i.dst);
        return;
    }
    if o == op::NEG {
        reg(out, r, i.dst);
        out.push_str(" = -");
        reg(out, r, i.dst);
        return;
    }
    let Some(sym) = alu_op(o) else {
        let _ = write!(out, "invalid alu op {:#04x}", i.code);
        return;
    };
    reg(out, r, i.dst);
    out.push(' ');
    out.push_str(sym);
    out.push(' ');
    if i.code & op::X != 0 {
        reg(out, r, i.src);
    } else {
        int(out, i.imm);
    }
}

fn write_atomic(out: &mut String, i: Insn) {
    if i.imm == k::BPF_CMPXCHG as i32 {
        out.push_str("r0 = cmpxchg_64(");
        reg(out, 'r', i.dst);
        out.push(' ');
        off(out, i32::from(i.off));
        out.push_str(", r0, ");
        reg(out, 'r', i.src);
        out.push(')');
    } else if i.imm == k::BPF_ADD as i32 {
        out.push_str("lock ");
        mem(out, i.code, i.dst, i.off, true);
        out.push_str(" += ");
        reg(out, 'r', i.src);
    } else {
        out.push_str("atomic ");
        hex(out, u64::from(i.imm as u32));
        out.push(' ');
        mem(out, i.code, i.dst, i.off, false);
        out.push_str(", ");
        reg(out, 'r', i.src);
    }
}

fn write_jump(out: &mut String, i: Insn) {
    let (c, o) = (i.class(), i.code & 0xf0);
    if o == op::EXIT && c == op::JMP {
        out.push_str("exit");
    } else if o == op::CALL && c == op::JMP {
        out.push_str("call ");
        if u32::from(i.src) == k::BPF_PSEUDO_KFUNC_CALL {
            out.push_str("kfunc");
        } else if let Some(n) = helper_name(i.imm) {
            out.push_str(n);
        }
        out.push('#');
        int(out, i.imm);
    } else if o == op::JA {
        if c == op::JMP32 {
            out.push_str("gotol pc");
            off(out, i.imm);
        } else {
            out.push_str("goto pc");
            off(out, i32::from(i.off));
        }
    } else if let Some(sym) = jmp_op(o) {
        let r = if c == op::JMP { 'r' } else { 'w' };
        out.push_str("if ");
        reg(out, r, i.dst);
        out.push(' ');
        out.push_str(sym);
        out.push(' ');
        if i.code & op::X != 0 {
            reg(out, r, i.src);
        } else {
            hex(out, u64::from(i.imm as u32));
        }
        out.push_str(" goto pc");
        off(out, i32::from(i.off));
    } else {
        let _ = write!(out, "invalid jump {:#04x}", i.code);
    }
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::insn::{Cond, Reg, Size};

    /// Every opcode, with registers, offsets and immediates at their edges (zero,
    /// one, the extremes, a value of every hex length), and an `ld_imm64` named and
    /// unnamed: each line as `format!` wrote it ([`reference`]).
    #[test]
    fn every_opcode_is_written_as_format_wrote_it() {
        let imms = [
            0,
            1,
            -1,
            7,
            255,
            0x1234,
            0x7fff_ffff,
            i32::MIN,
            -8,
            k::BPF_CMPXCHG as i32,
            k::BPF_ADD as i32,
            70000,
        ];
        let offs = [0, 1, -1, 4, -8, i16::MAX, i16::MIN];
        let srcs = [0, 1, 10, k::BPF_PSEUDO_KFUNC_CALL as u8, 255];
        for code in 0..=255u8 {
            for (&imm, &off, &src, dst) in cases(&imms, &offs, &srcs) {
                let i = Insn::new(code, dst, src, off, imm);
                let hi = Insn::new(0, 0, 0, 0, imm.wrapping_mul(3));
                let name = (off == 1).then_some("counters");
                let relocs: Vec<(usize, String)> =
                    name.map(|n| (0, n.to_string())).into_iter().collect();
                let got = disassemble(&[i, hi], &relocs, &[]);
                let first = got.split_inclusive('\n').next().unwrap_or_default();
                assert_eq!(first, reference::line(0, 3, i, hi.imm, name), "{i:?}");
            }
        }
    }

    /// Each (imm, off, src) with a destination register taken in turn from 0, 10, 255.
    fn cases<'a>(
        imms: &'a [i32],
        offs: &'a [i16],
        srcs: &'a [u8],
    ) -> impl Iterator<Item = (&'a i32, &'a i16, &'a u8, u8)> {
        let dsts = [0u8, 10, 255];
        imms.iter().enumerate().flat_map(move |(n, imm)| {
            offs.iter().flat_map(move |off| {
                srcs.iter()
                    .map(move |src| (imm, off, src, dsts[n % dsts.len()]))
            })
        })
    }

    /// Numbers of every width pad to the widest, as `{pc:>width$}` padded them; notes
    /// come before their instruction.
    #[test]
    fn a_long_program_is_padded_and_noted_as_before() {
        let insns: Vec<Insn> = (0..12_000)
            .map(|n: i32| match n % 4 {
                0 => Insn::mov64_imm(Reg::R0, n),
                1 => Insn::jmp_imm(Cond::Ne, Reg::R1, n, -3),
                2 => Insn::ldx(Size::W, Reg::R2, Reg::R1, 4),
                _ => Insn::exit(),
            })
            .collect();
        let notes = vec![(0, "first".to_string()), (9_999, "later".to_string())];
        let got = disassemble(&insns, &[], &notes);
        let mut want = String::new();
        for (pc, &i) in insns.iter().enumerate() {
            for (_, n) in notes.iter().filter(|(at, _)| *at == pc) {
                want.push_str(&format!("; {n}\n"));
            }
            want.push_str(&reference::line(pc, 5, i, 0, None));
        }
        assert_eq!(got, want);
    }

    /// Random programs (every field drawn over its whole range, `ld_imm64` slots among
    /// them, some named, notes anywhere, one at the end and past it) come out as the
    /// `format!` text wrote them, line for line: what the opcode table above does not
    /// reach (offsets and immediates between its edges, registers past 10, an
    /// `ld_imm64` as the last slot with no second half).
    #[test]
    fn random_programs_are_written_as_format_wrote_them() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            // xorshift64*: the same programs every run.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for round in 0..200 {
            let len = 1 + (next() % 300) as usize;
            let insns: Vec<Insn> = (0..len)
                .map(|_| {
                    let r = next();
                    let code = match r % 8 {
                        0 => (k::BPF_LD | k::BPF_IMM | k::BPF_DW) as u8,
                        _ => (r >> 8) as u8,
                    };
                    Insn::new(
                        code,
                        (r >> 16) as u8,
                        (r >> 24) as u8,
                        (r >> 32) as i16,
                        next() as i32,
                    )
                })
                .collect();
            let relocs: Vec<(usize, String)> = (0..len)
                .filter(|&n| insns[n].is_ld_imm64() && n % 3 == 0)
                .map(|n| (n, format!("map_{n}")))
                .collect();
            let notes: Vec<(usize, String)> = (0..len + 2)
                .filter(|_| next() % 7 == 0)
                .map(|n| (n, format!("note {n}")))
                .collect();
            let got = disassemble(&insns, &relocs, &notes);
            let width = len.saturating_sub(1).to_string().len().max(3);
            let mut want = String::new();
            let mut pc = 0;
            while pc < len {
                for (_, n) in notes.iter().filter(|(at, _)| *at == pc) {
                    want.push_str(&format!("; {n}\n"));
                }
                let i = insns[pc];
                let hi = insns.get(pc + 1).map_or(0, |n| n.imm);
                let name = relocs
                    .iter()
                    .find(|(at, _)| *at == pc)
                    .map(|(_, n)| n.as_str());
                want.push_str(&reference::line(pc, width, i, hi, name));
                pc += if i.is_ld_imm64() { 2 } else { 1 };
            }
            assert_eq!(got, want, "round {round}");
        }
    }

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
