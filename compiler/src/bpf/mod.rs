//! BPF back end: instruction encoding ([`insn`]), the label/fixup code buffer
//! ([`buffer`]), lowering per hook context ([`lower`]), the flow record every
//! context's prologue fills ([`flow`]), the packet prologue ([`packet`]), the
//! classifier walk and its tables ([`classify`]), socket conditions ([`socket`]), the
//! maps programs use and their contents ([`maps`]), the check that every socket
//! reference is released ([`refcheck`]), and what a program asks of the kernel's
//! limits ([`limits`]). Depends on the IR only; nothing here knows about
//! optimization levels or object files.
pub mod buffer;
pub mod classify;
pub mod flow;
pub mod insn;
pub mod limits;
pub mod lower;
pub mod maps;
pub mod packet;
pub mod refcheck;
pub mod socket;
