//! sockc-compiler: the rule language to eBPF objects, with no syscalls.
//!
//! Pipeline (one module per stage): [`syntax`] (pest → AST) → [`sema`] (names, hook
//! capabilities, lints → IR) → [`ir`] (rules as data) → [`opt`] (IR → IR passes) → [`bpf`] (lowering to
//! instructions) → [`obj`] (ELF with BTF maps); [`disasm`] prints bytecode and
//! [`driver`] runs the whole pipeline. [`eval`] is the reference semantics that
//! compiled programs are tested against. Only [`diag`] renders diagnostics; [`hooks`]
//! is the table of attach points; [`packet`] crafts test packets;
//! [`plan`] compares two compiled files (what `sockc diff` and `sockc apply` do).

pub mod bpf;
pub mod classbench;
pub mod diag;
pub mod disasm;
pub mod driver;
pub mod eval;
pub mod hooks;
pub mod ir;
pub mod obj;
pub mod opt;
pub mod packet;
pub mod plan;
pub mod sema;
pub mod syntax;

pub use driver::{compile, Compiled, Options};
