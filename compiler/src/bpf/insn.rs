//! BPF instruction encoding: the 8-byte `struct bpf_insn` and constructors for the
//! instructions sockc emits.
//!
//! Opcode parts come from aya-obj's generated kernel bindings, never typed in by hand.
//! Invariant: an [`Insn`] is always one 8-byte slot; the 16-byte `ld_imm64` is two
//! `Insn`s, the second with `code == 0`, exactly as the kernel lays it out.

use aya_obj::generated as k;

/// Opcode class/size/mode/op parts as `u8`, taken from the kernel UAPI bindings.
pub mod op {
    use super::k;
    pub const LD: u8 = k::BPF_LD as u8;
    pub const LDX: u8 = k::BPF_LDX as u8;
    pub const ST: u8 = k::BPF_ST as u8;
    pub const STX: u8 = k::BPF_STX as u8;
    pub const ALU: u8 = k::BPF_ALU as u8;
    pub const JMP: u8 = k::BPF_JMP as u8;
    pub const JMP32: u8 = k::BPF_JMP32 as u8;
    pub const ALU64: u8 = k::BPF_ALU64 as u8;
    pub const W: u8 = k::BPF_W as u8;
    pub const H: u8 = k::BPF_H as u8;
    pub const B: u8 = k::BPF_B as u8;
    pub const DW: u8 = k::BPF_DW as u8;
    pub const IMM: u8 = k::BPF_IMM as u8;
    pub const MEM: u8 = k::BPF_MEM as u8;
    pub const K: u8 = k::BPF_K as u8;
    pub const X: u8 = k::BPF_X as u8;
    pub const ADD: u8 = k::BPF_ADD as u8;
    pub const SUB: u8 = k::BPF_SUB as u8;
    pub const MUL: u8 = k::BPF_MUL as u8;
    pub const DIV: u8 = k::BPF_DIV as u8;
    pub const OR: u8 = k::BPF_OR as u8;
    pub const AND: u8 = k::BPF_AND as u8;
    pub const LSH: u8 = k::BPF_LSH as u8;
    pub const RSH: u8 = k::BPF_RSH as u8;
    pub const NEG: u8 = k::BPF_NEG as u8;
    pub const MOD: u8 = k::BPF_MOD as u8;
    pub const XOR: u8 = k::BPF_XOR as u8;
    pub const MOV: u8 = k::BPF_MOV as u8;
    pub const ARSH: u8 = k::BPF_ARSH as u8;
    pub const END: u8 = k::BPF_END as u8;
    pub const TO_BE: u8 = k::BPF_TO_BE as u8;
    pub const JA: u8 = k::BPF_JA as u8;
    pub const JEQ: u8 = k::BPF_JEQ as u8;
    pub const JGT: u8 = k::BPF_JGT as u8;
    pub const JGE: u8 = k::BPF_JGE as u8;
    pub const JSET: u8 = k::BPF_JSET as u8;
    pub const JNE: u8 = k::BPF_JNE as u8;
    pub const JLT: u8 = k::BPF_JLT as u8;
    pub const JLE: u8 = k::BPF_JLE as u8;
    pub const JSGT: u8 = k::BPF_JSGT as u8;
    pub const JSGE: u8 = k::BPF_JSGE as u8;
    pub const JSLT: u8 = k::BPF_JSLT as u8;
    pub const JSLE: u8 = k::BPF_JSLE as u8;
    pub const CALL: u8 = k::BPF_CALL as u8;
    pub const EXIT: u8 = k::BPF_EXIT as u8;
    /// `src_reg` of an `ld_imm64` whose immediate is a map fd (set by the loader).
    pub const PSEUDO_MAP_FD: u8 = k::BPF_PSEUDO_MAP_FD as u8;
}

/// A BPF register, `r0`..`r10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg(pub u8);

impl Reg {
    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    /// The read-only frame pointer.
    pub const FP: Reg = Reg(10);
}

/// Memory access width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    pub fn code(self) -> u8 {
        match self {
            Size::B => op::B,
            Size::H => op::H,
            Size::W => op::W,
            Size::DW => op::DW,
        }
    }
    pub fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

/// Jump conditions (unsigned unless named otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Set,
}

impl Cond {
    pub fn code(self) -> u8 {
        match self {
            Cond::Eq => op::JEQ,
            Cond::Ne => op::JNE,
            Cond::Gt => op::JGT,
            Cond::Ge => op::JGE,
            Cond::Lt => op::JLT,
            Cond::Le => op::JLE,
            Cond::Set => op::JSET,
        }
    }
    /// The condition that holds exactly when `self` does not, if one exists
    /// (`jset` has no single-instruction inverse).
    pub fn invert(self) -> Option<Cond> {
        Some(match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Gt => Cond::Le,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
            Cond::Le => Cond::Gt,
            Cond::Set => return None,
        })
    }
}

/// One 8-byte BPF instruction slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Little-endian wire form (sockc emits `bpfel` objects only).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.dst & 0x0f) | ((self.src & 0x0f) << 4);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    pub fn from_bytes(b: [u8; 8]) -> Self {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    pub fn class(self) -> u8 {
        self.code & 0x07
    }

    // ---- constructors -------------------------------------------------------------

    pub fn mov64_reg(dst: Reg, src: Reg) -> Self {
        Self::new(op::ALU64 | op::MOV | op::X, dst.0, src.0, 0, 0)
    }
    pub fn mov64_imm(dst: Reg, imm: i32) -> Self {
        Self::new(op::ALU64 | op::MOV | op::K, dst.0, 0, 0, imm)
    }
    pub fn alu64_imm(alu: u8, dst: Reg, imm: i32) -> Self {
        Self::new(op::ALU64 | alu | op::K, dst.0, 0, 0, imm)
    }
    pub fn alu64_reg(alu: u8, dst: Reg, src: Reg) -> Self {
        Self::new(op::ALU64 | alu | op::X, dst.0, src.0, 0, 0)
    }
    pub fn alu32_reg(alu: u8, dst: Reg, src: Reg) -> Self {
        Self::new(op::ALU | alu | op::X, dst.0, src.0, 0, 0)
    }
    pub fn alu32_imm(alu: u8, dst: Reg, imm: i32) -> Self {
        Self::new(op::ALU | alu | op::K, dst.0, 0, 0, imm)
    }
    /// Byte swap a big-endian (network order) value of `bits` into host order.
    pub fn be(dst: Reg, bits: i32) -> Self {
        Self::new(op::ALU | op::END | op::TO_BE, dst.0, 0, 0, bits)
    }
    pub fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Self {
        Self::new(op::LDX | op::MEM | size.code(), dst.0, src.0, off, 0)
    }
    pub fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Self {
        Self::new(op::STX | op::MEM | size.code(), dst.0, src.0, off, 0)
    }
    pub fn st_imm(size: Size, dst: Reg, off: i16, imm: i32) -> Self {
        Self::new(op::ST | op::MEM | size.code(), dst.0, 0, off, imm)
    }
    /// `ld_imm64` of a map reference; the loader patches the fd in through the ELF
    /// relocation. Returns both slots.
    pub fn ld_map_fd(dst: Reg) -> [Self; 2] {
        [
            Self::new(op::LD | op::IMM | op::DW, dst.0, op::PSEUDO_MAP_FD, 0, 0),
            Self::new(0, 0, 0, 0, 0),
        ]
    }
    /// `ld_imm64` of a 64-bit constant. Returns both slots.
    pub fn ld_imm64(dst: Reg, v: u64) -> [Self; 2] {
        [
            Self::new(op::LD | op::IMM | op::DW, dst.0, 0, 0, v as u32 as i32),
            Self::new(0, 0, 0, 0, (v >> 32) as u32 as i32),
        ]
    }
    /// `r0 = cmpxchg(*(u64 *)(dst + off), r0, src)`: stores `src` when the word
    /// equals `r0`; `r0` gets the word's old value either way.
    pub fn cmpxchg64(dst: Reg, off: i16, src: Reg) -> Self {
        Self::new(
            op::STX | k::BPF_ATOMIC as u8 | op::DW,
            dst.0,
            src.0,
            off,
            k::BPF_CMPXCHG as i32,
        )
    }
    /// `lock *(u64 *)(dst + off) += src` (`BPF_ATOMIC | BPF_ADD`, no fetch).
    pub fn atomic_add64(dst: Reg, off: i16, src: Reg) -> Self {
        Self::new(
            op::STX | k::BPF_ATOMIC as u8 | op::DW,
            dst.0,
            src.0,
            off,
            k::BPF_ADD as i32,
        )
    }
    pub fn call(helper: u32) -> Self {
        Self::new(op::JMP | op::CALL, 0, 0, 0, helper as i32)
    }
    pub fn exit() -> Self {
        Self::new(op::JMP | op::EXIT, 0, 0, 0, 0)
    }
    pub fn ja(off: i16) -> Self {
        Self::new(op::JMP | op::JA, 0, 0, off, 0)
    }
    /// `gotol`: the 32-bit-offset unconditional jump (JMP32 class, kernel >= 6.4).
    pub fn gotol(off: i32) -> Self {
        Self::new(op::JMP32 | op::JA, 0, 0, 0, off)
    }
    pub fn jmp_imm(cond: Cond, dst: Reg, imm: i32, off: i16) -> Self {
        Self::new(op::JMP | cond.code() | op::K, dst.0, 0, off, imm)
    }
    pub fn jmp_reg(cond: Cond, dst: Reg, src: Reg, off: i16) -> Self {
        Self::new(op::JMP | cond.code() | op::X, dst.0, src.0, off, 0)
    }
    pub fn jmp32_imm(cond: Cond, dst: Reg, imm: i32, off: i16) -> Self {
        Self::new(op::JMP32 | cond.code() | op::K, dst.0, 0, off, imm)
    }

    /// True for a conditional or unconditional jump whose target is `pc + 1 + off`
    /// (or `+ imm` for `gotol`); false for call/exit.
    pub fn is_jump(self) -> bool {
        let class = self.class();
        if class != op::JMP && class != op::JMP32 {
            return false;
        }
        let o = self.code & 0xf0;
        o != op::CALL && o != op::EXIT
    }

    pub fn is_ld_imm64(self) -> bool {
        self.code == op::LD | op::IMM | op::DW
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodings checked against `llvm-objdump`/kernel listings of the same
    /// instructions (byte order as in a little-endian object).
    #[test]
    fn encodings_match_the_kernel_layout() {
        let cases: &[(Insn, &str)] = &[
            (Insn::mov64_reg(Reg::R6, Reg::R1), "bf16000000000000"),
            (Insn::mov64_imm(Reg::R0, 2), "b700000002000000"),
            (Insn::ldx(Size::W, Reg::R2, Reg::R1, 4), "6112040000000000"),
            (
                Insn::stx(Size::DW, Reg::FP, -8, Reg::R1),
                "7b1af8ff00000000",
            ),
            (Insn::st_imm(Size::W, Reg::FP, -4, 7), "620afcff07000000"),
            (Insn::jmp_imm(Cond::Ne, Reg::R1, 6, 3), "5501030006000000"),
            (
                Insn::jmp32_imm(Cond::Eq, Reg::R1, 6, -2),
                "1601feff06000000",
            ),
            (
                Insn::jmp_reg(Cond::Gt, Reg::R4, Reg::R3, 5),
                "2d34050000000000",
            ),
            (Insn::be(Reg::R1, 16), "dc01000010000000"),
            (Insn::call(1), "8500000001000000"),
            (Insn::exit(), "9500000000000000"),
            (Insn::gotol(70000), "0600000070110100"),
            (Insn::ld_map_fd(Reg::R1)[0], "1811000000000000"),
        ];
        for (insn, hex) in cases {
            let got: String = insn.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(&got, hex, "{insn:?}");
            assert_eq!(Insn::from_bytes(insn.to_bytes()), *insn);
        }
    }
}
