//! BPF back end: instruction encoding ([`insn`]), the label/fixup code buffer
//! ([`buffer`]), the packet prologue ([`packet`]) and rule lowering ([`lower`]).
pub mod buffer;
pub mod insn;
pub mod lower;
pub mod packet;
