//! sockc-compiler: the rule language to eBPF objects, and nothing else: text in, an
//! ELF object (or its listing) out, with no syscalls.
//!
//! Pipeline (one module per stage): [`syntax`] (pest → AST) → [`sema`] (names, hook
//! capabilities, lints → IR) → [`ir`] (rules as data) → [`opt`] (IR → IR passes) →
//! [`bpf`] (lowering to instructions) → [`obj`] (ELF with BTF maps); [`disasm`] prints
//! bytecode and [`driver`] runs the whole pipeline. Only [`diag`] renders
//! diagnostics; [`hooks`] is the table of attach points. The reference evaluator,
//! test frames and the ClassBench converter live in `sockc-testkit`; deployment plans
//! in `sockc-runtime`.

#![forbid(unsafe_code)]

pub mod bpf;
pub mod diag;
pub mod disasm;
pub mod driver;
pub mod hooks;
pub mod input;
pub mod ir;
pub mod kernel_limits;
pub mod limits;
pub mod metadata;
pub mod obj;
pub mod opt;
pub mod sema;
pub mod space;
pub mod syntax;

pub use driver::{compile, Compiled, Options};
