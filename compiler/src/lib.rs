//! sockc-compiler: the rule language to eBPF objects, and nothing else: text in, an
//! ELF object (or its listing) out, with no syscalls.
//!
//! Pipeline (one module per stage): [`syntax`] (pest → AST) → [`sema`] (names, hook
//! capabilities, lints → IR) → [`ir`] (rules as data) → [`opt`] (IR → IR passes) →
//! [`bpf`] (lowering to instructions) → [`obj`] (ELF with BTF maps); [`disasm`] prints
//! bytecode and [`driver`] runs the whole pipeline. Only [`diag`] renders
//! diagnostics; [`hooks`] is the table of attach points. The reference evaluator,
//! test frames and the ClassBench converter live in `sockc-testkit`; deployment plans
//! in `sockc-runtime`. A front end for another rule language (iptables-save, nft)
//! produces the same [`syntax::ast::File`], with spans into its own source, and
//! hands it to [`driver::compile_ast`]; everything after it serves all front ends
//! alike.
//!
//! # The public surface
//!
//! What other crates are meant to use, by purpose; everything else is the compiler's
//! own (`pub(crate)`, or public only for the reasons listed below):
//!
//! * **Compiling**: [`compile`] (source → [`Compiled`] and diagnostics; `sockc check`
//!   is a compile that writes nothing), with [`Options`] ([`sema::Options`]: where set
//!   files may come from, the [`limits::Limits`]; [`opt::OptLevel`]);
//!   [`driver::compile_ast`], the same from an AST another front end built;
//!   [`syntax::parse`] and [`sema::check`], the front half alone; [`input`], reading a
//!   file a user names within the limits.
//! * **The result**: [`Compiled`] ([`Compiled::to_elf`], [`Compiled::asm`],
//!   [`Compiled::refit`] to an installed generation's [`driver::Refit`], failing with a
//!   [`driver::RefitError`]); each program's [`bpf::buffer::Code`].
//! * **Diagnostics**: [`diag::Diagnostic`] with its [`diag::Span`]s and
//!   [`diag::Severity`], rendered only by [`diag::render`] (text) and [`diag::to_json`];
//!   the catalogue of every code the workspace prints or documents, [`diag::Code`]
//!   ([`diag::codes`]), which the import and the runtime name too.
//! * **The hook table**: [`hooks`] ([`hooks::HookKind`], [`hooks::HookSpec`],
//!   [`hooks::spec`], [`hooks::HOOKS`]).
//! * **What the runtime reads back**: [`metadata`] (the `.sockc` section), the map
//!   definitions and contents of [`bpf::maps`], the object's sections ([`obj`]:
//!   `read_section`, `program_offsets`, `program_sizes`), and the layouts the kernel
//!   side shares with user space: the flow record ([`bpf::flow`], which `sockc trace`
//!   decodes), the `log` records ([`bpf::lower::log`]), the sockmap key
//!   ([`bpf::lower::sockmap::key`]), the classifier tables' live word and encoding
//!   ([`bpf::classify::LIVE_MAP`], [`bpf::classify::decode_words`]), the counter slots
//!   a re-apply keeps ([`ir::slots::InstalledSlots`]).
//! * **The disassembler**: [`disasm::disassemble`].
//! * **Alignment** of two key lists with bounded work ([`align::diff_ops`],
//!   [`align::common`]): the semantic diff's and the runtime plan's.
//! * **Searching short texts** for a byte or a string without the CPU feature
//!   detection `memchr` does on x86_64 ([`byte_search`]): the runtime's rule ids.
//! * **The IR the evaluator reads**: [`ir::Module`] and its programs, rules and
//!   matches ([`ir::Program`], [`ir::Rule`], [`ir::RuleMatch`], [`ir::AddrMatch`],
//!   [`ir::PortMatch`], [`ir::Action`]), the sockmap groups ([`ir::sockmap`]), and the
//!   AST words they use ([`syntax::ast::Family`], [`syntax::ast::SockCond`],
//!   [`syntax::ast::Verdict`]).
//! * **An instruction encoder** for hand-written programs (the benchmark's):
//!   [`bpf::insn`] and the label buffer [`bpf::buffer::CodeBuffer`],
//!   [`obj::write_object`] with its [`obj::ObjectImage`], [`bpf::maps::BtfType`], and
//!   the reference check [`bpf::refcheck::check_code`].
//!
//! Public for the CLI and the benchmark only, to be narrowed once the benchmark is a
//! crate of its own and uses the encoder above: [`bpf::classify::steps`],
//! [`bpf::limits::simulated_jump_sequence`] (`sockc compile --json`'s limits),
//! [`diag::escaped`], [`hooks::HOOKS`] (listed by the CLI), [`limits::Limit`].
//! Public for the workspace's tests, which reach into stages: [`bpf::lower::lower_program`],
//! [`bpf::limits::measure`], [`bpf::maps::Sizing::of`], [`ir::classifier`],
//! [`kernel_limits`], [`opt::thread::run`], [`opt::classify`]'s bounds,
//! [`opt::anomalies`]' search.

#![forbid(unsafe_code)]
// The module docs are the design notes and name internals on purpose (rendered with
// `cargo doc --document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]

pub mod align;
pub mod beside;
pub mod bpf;
pub mod byte_search;
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
pub mod output;
pub mod sema;
pub mod semdiff;
pub mod slot_set;
pub mod space;
pub mod standalone;
pub mod syntax;
#[cfg(test)]
mod test_module;

pub use driver::{compile, Compiled, Options};
pub use opt::Lints;
