//! BPF back end: instruction encoding ([`insn`]), the label/fixup code buffer
//! ([`buffer`]), the packet prologue ([`packet`]), rule lowering ([`lower`]) and the
//! classifier walk ([`classify`]), socket conditions ([`socket`]) and the check that
//! every socket reference is released ([`refcheck`]).
pub mod buffer;
pub mod classify;
pub mod insn;
pub mod lower;
pub mod packet;
pub mod refcheck;
pub mod socket;
