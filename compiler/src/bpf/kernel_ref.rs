//! Numbers of the running kernel a program needs but the compiler cannot know: the
//! BTF id of a kernel function it calls (a kfunc call's immediate), the offset of a
//! kernel struct member it reads through a BTF pointer (a load's offset, or an
//! immediate where it computes an address), and the BTF id of a kernel struct it casts
//! a pointer to (an immediate). Neither is
//! ABI (both change with the kernel's build and configuration), so lowering writes a
//! placeholder and records the instruction; the runtime fills it in from
//! `/sys/kernel/btf/vmlinux` before loading.
//!
//! Invariant: every placeholder a lowering emits is recorded in
//! [`super::buffer::Code::kernel_refs`]: a program loaded without patching calls
//! kernel function id 0, which the verifier refuses, instead of something else.

use serde::{Deserialize, Serialize};

/// What an instruction's placeholder stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum KernelRef {
    /// The call's immediate is the BTF id of the `FUNC` named `name`.
    Kfunc { name: String },
    /// The load's offset is the byte offset of `member` in `struct strukt`, added to
    /// the offset the instruction was written with (0, or a position inside the
    /// member, such as the second word of a `char[16]`).
    Field { strukt: String, member: String },
    /// The instruction's immediate is the BTF id of `struct name` (the type argument
    /// of `bpf_rdonly_cast`).
    Type { name: String },
    /// The instruction's immediate (a `mov`) is the byte offset of `member` in `struct
    /// strukt`: for an address computed at run time (an array element chosen by a
    /// register), which a load's constant offset cannot say.
    Offset { strukt: String, member: String },
    /// The load's offset is the byte of `struct strukt` that holds the one-bit
    /// bitfield `member` (added to the offset written, as [`KernelRef::Field`]'s).
    BitByte { strukt: String, member: String },
    /// The instruction's immediate (an `and`) is the bitfield `member`'s bit in that
    /// byte, as a mask.
    BitMask { strukt: String, member: String },
}

impl KernelRef {
    pub fn kfunc(name: &str) -> KernelRef {
        KernelRef::Kfunc { name: name.into() }
    }

    pub fn field(strukt: &str, member: &str) -> KernelRef {
        KernelRef::Field {
            strukt: strukt.into(),
            member: member.into(),
        }
    }
}

impl std::fmt::Display for KernelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelRef::Kfunc { name } => write!(f, "kernel function {name}"),
            KernelRef::Field { strukt, member } => write!(f, "struct {strukt}.{member}"),
            KernelRef::Type { name } => write!(f, "struct {name}"),
            KernelRef::Offset { strukt, member } => write!(f, "offset of struct {strukt}.{member}"),
            KernelRef::BitByte { strukt, member } | KernelRef::BitMask { strukt, member } => {
                write!(f, "bitfield struct {strukt}.{member}")
            }
        }
    }
}
