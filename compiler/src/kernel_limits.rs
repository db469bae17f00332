//! The kernel's limits on one program, which the compiler keeps to before the kernel
//! sees anything: the optimizer picks strategies that fit (`opt::classify`), the back
//! end measures what it lowered (`bpf::limits`), and the driver refuses a program
//! that would not fit, naming the limit, the rules responsible and what to change.
//!
//! None of these numbers is part of the UAPI (aya-obj's bindings have only the
//! unprivileged `BPF_MAXINSNS`); each names the kernel constant it mirrors, and
//! `tests/kernel/limits.rs` checks them against the running kernel (a program just over each
//! is refused, one at it loads).

/// Instructions in one program, and instructions the verifier may process walking
/// it: `BPF_COMPLEXITY_LIMIT_INSNS` (`include/linux/bpf.h`), the privileged limit on
/// both `insn_cnt` (a larger program fails with `E2BIG` and an empty log) and the
/// verifier's walk.
pub const MAX_INSNS: usize = 1_000_000;

/// Conditional jumps the verifier may have pending on one path of its walk:
/// `BPF_COMPLEXITY_LIMIT_JMP_SEQ` (`kernel/bpf/verifier.c`); one more fails with "The
/// sequence of 8193 jumps is too complex".
pub const MAX_JUMP_SEQUENCE: usize = 8192;

/// Bytes of stack a program may use: `MAX_BPF_STACK` (`include/linux/filter.h`).
pub const MAX_STACK: usize = 512;

/// Maps one program may use: `MAX_USED_MAPS` (`include/linux/bpf_verifier.h`).
pub const MAX_PROGRAM_MAPS: usize = 64;

/// The share of [`MAX_INSNS`] the compiler lets its estimate of the verifier's walk
/// reach: the estimate (`bpf::limits`) is calibrated to stay above the kernel's count,
/// and a fifth of the limit is kept as a margin.
pub(crate) const PROCESSED_BUDGET: usize = MAX_INSNS / 5 * 4;

/// A limit a program would break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Insns,
    JumpSequence,
    Processed,
    Stack,
    Maps,
}

impl Limit {
    /// The limit as a diagnostic names it.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Insns => "instruction limit (BPF_COMPLEXITY_LIMIT_INSNS, 1,000,000)",
            Limit::JumpSequence => {
                "jump-sequence limit (BPF_COMPLEXITY_LIMIT_JMP_SEQ, 8,192 pending branches)"
            }
            Limit::Processed => {
                "verifier budget (instructions processed, BPF_COMPLEXITY_LIMIT_INSNS; \
                 sockc allows itself 800,000 estimated)"
            }
            Limit::Stack => "stack limit (MAX_BPF_STACK, 512 bytes)",
            Limit::Maps => "map limit (MAX_USED_MAPS, 64 maps per program)",
        }
    }

    /// The most the compiler lets a program use.
    pub fn max(self) -> usize {
        match self {
            Limit::Insns => MAX_INSNS,
            Limit::JumpSequence => MAX_JUMP_SEQUENCE,
            Limit::Processed => PROCESSED_BUDGET,
            Limit::Stack => MAX_STACK,
            Limit::Maps => MAX_PROGRAM_MAPS,
        }
    }
}
