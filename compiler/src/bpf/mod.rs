//! BPF back end: instruction encoding ([`insn`]), the label/fixup code buffer
//! ([`buffer`]), lowering per hook context ([`lower`]), the flow record every
//! context's prologue fills ([`flow`]), the emitters every lowering shares (`emit`),
//! the packet prologue ([`packet`], its IPv6 extension-header walk [`ext6`]; the
//! netfilter programs' dynptr prologue [`nf_packet`]), the classifier walk and its tables
//! ([`classify`]), socket conditions ([`socket`]), the maps programs use and their
//! contents ([`maps`]), the check that every socket reference is released
//! ([`refcheck`]), and what a program asks of the kernel's limits ([`limits`]).
//! Depends on the IR only; nothing here knows about optimization levels or object
//! files.
//!
//! Files form layers, each using only the layers below it: `insn`, `flow`, `counters`
//! (where a rule's counter slot lives in the `counters` map); `buffer`;
//! `emit`; `ext6`; `packet`, `nf_packet`, `socket`, `classify`, `iface` (`in on`/`out on`),
//! `limit` and `answers` (`reject`'s answer limits, on `limit`'s buckets); `maps` (the classifier tables' sizes, the
//! log maps' names); `lower/` (the rule walk in `lower/rules.rs` uses all of the
//! above, each context's file uses the rule walk, `lower/mod.rs` picks the context);
//! `limits` and `refcheck` read finished code.
pub mod answers;
pub mod buffer;
pub mod cgroup_match;
pub mod classify;
pub(crate) mod comm;
pub mod counters;
pub(crate) mod ct;
mod ct_entry;
pub(crate) mod emit;
pub mod entries;
pub mod ext6;
pub mod flow;
pub(crate) mod header;
pub(crate) mod iface;
pub mod insn;
pub mod kernel_ref;
pub mod limit;
pub mod limits;
pub mod lower;
pub mod maps;
pub(crate) mod mark;
pub(crate) mod nf_ct;
pub(crate) mod nf_packet;
pub(crate) mod owner;
pub(crate) mod packet;
pub mod refcheck;
pub(crate) mod route;
mod set_entries;
pub(crate) mod socket;
#[cfg(test)]
pub(crate) mod test_support;
