//! Front end: source text → [`ast::File`] with byte spans, using the pest grammar in
//! `grammar/sockc.pest`.
//!
//! Invariant: parsing never stops at the first mistake. Lines that do not parse are
//! reported one diagnostic each (with what was expected there), and the rest of the
//! file is still parsed so that sema can report its own errors too.
//!
//! The grammar is the definition; `scan` is a hand-written scanner that mirrors it for
//! the common shapes (100,000-rule files must parse in milliseconds, pest takes about a
//! second) and hands the rest to pest. [`parse_reference`] is pest alone, what the
//! scanner is tested against.
//!
//! Files, each using only those listed before it: `ct`, `iface`, `mark` and `reject` (what
//! `ct state`, `in on`/`out on`, `mark` (and `residual`) and `reject ... with` name,
//! and `ipfield`, the IP header fields `ttl` and `hoplimit` and their value sets,
//! shared with the lowering and the evaluator),
//! `cgroup_match` (a rule's `cgroup "PATH"` test, resolved, and what it holds),
//! `ids` (users and groups: `uid 1001`, `user "www-data"`, as written and resolved),
//! `limit` and `limit_fact` (a rate limit's bucket, and a bucket named from outside a
//! file, as `sockc test`'s `over-limit:SPEC` and the semantic diff name it), `ast` (the tree), `grammar` (pest's
//! parser and `Rule` enum), `hints` (what a syntax error says), `build` (pest pairs →
//! AST, and the token decoders both paths share), `scan` (the fast path, which hands
//! what it reads to a [`Sink`]: the whole AST, or sema statement by statement),
//! `parser` (the entry points).

pub mod answers;
pub mod ast;
mod build;
pub mod cgroup_match;
pub mod comm;
pub mod ct;
pub mod ct_entry;
mod decode;
mod grammar;
mod hints;
pub mod ids;
pub mod iface;
pub mod ipfield;
pub mod limit;
pub mod limit_fact;
pub mod mark;
pub mod owner;
mod parser;
pub mod reject;
pub mod route;
mod scan;

pub(crate) use parser::parse_with;
pub(crate) use parser::stream_with;
pub use parser::{parse, parse_reference};
pub(crate) use scan::scan_stmts;
pub use scan::Sink;
