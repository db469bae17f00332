//! sockc-testkit: what sockc's tests and tools need and the compiler does not.
//!
//! [`eval`] is the reference semantics (docs/language.md written plainly, with its own
//! packet decoder) that compiled programs are tested against; [`packet`] parses the
//! packet syntax of `sockc test` and crafts Ethernet frames from it; [`compare`] is
//! the one comparison of a kernel run with the evaluator's answer; [`classbench`]
//! converts ClassBench filter sets to rule files and [`classbench_data`] finds and reads
//! them (the vendored sets, gzip or plain); [`socket_fixture`] builds a private
//! network namespace holding exactly the socket a test packet should find; [`rng`] is
//! the seeded generator the tests' random files and packets share; [`ruleset_gen`]
//! writes seeded netfilter rulesets for the import's tests; [`mass_change`] writes
//! file pairs whose change moves thousands of regions (the diff's); [`probe_lab`]
//! sends crafted packets through a netfilter ruleset (or anything else installed) in
//! network namespaces of its own and reports which ones got through; [`rule_files`]
//! lists the repository's example rule files. The CLI
//! (`sockc test`, `sockc bench`, `sockc classbench`) and the integration tests use this
//! crate; the compiler and the runtime never do, so nothing here can change what is
//! compiled or installed. Invariant: the evaluator shares no code with the lowering
//! (it reads the IR's rules, never its steps, and decodes packets itself).

pub mod classbench;
pub mod classbench_data;
pub mod compare;
pub mod eval;
pub mod mass_change;
pub mod modgraph;
pub mod packet;
pub mod probe_lab;
pub mod rng;
pub mod rule_files;
pub mod ruleset_gen;
pub mod socket_fixture;
