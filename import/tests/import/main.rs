//! The import's integration tests, through its public API: [`architecture`]: its
//! files form no cycle and keep their layers, drawn in ARCHITECTURE.md; [`corpus`]:
//! every corpus ruleset imports at every hook and matches its goldens in
//! `import/tests/golden/` (`SOCKC_BLESS=1` rewrites them); [`cases`] and
//! [`netfilter`]: small rulesets showing one behaviour each ([`hop_limit`]: the TTL and
//! hop limit from every format; [`tos`]: the DSCP and ECN likewise); [`semantics`] and
//! [`txlate`]: the flat lists against an interpreter of the chains and the iptables
//! project's translation pairs; [`lowering`]: the written rules against the reference
//! evaluator; [`hostile`]: inputs built to grow without bound; [`held_out`] and
//! [`attack`] and [`review`]: the defects held-out rulesets found, one test each. `../common/` is what
//! they share with `robust.rs`.
//!
//! `robust.rs` is a binary of its own: it caps the memory of its whole process with a
//! counting global allocator, which would count every test of a shared process. A new
//! test goes into the binary of its rung (ARCHITECTURE.md, "Testing"); one of the
//! import alone goes here.

#[path = "../common/mod.rs"]
mod common;

mod architecture;
mod attack;
mod attack_30;
mod attack_33;
mod cases;
mod cgroup;
mod corpus;
mod fuzz;
mod held_out;
mod hop_limit;
mod hostile;
mod iface_index;
mod input_fragments;
mod length;
mod lowering;
mod netfilter;
mod review;
mod semantics;
mod tos;
mod txlate;
