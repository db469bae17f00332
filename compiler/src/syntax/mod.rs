//! Front end: source text → [`ast::File`] with byte spans, using the pest grammar in
//! `grammar/sockc.pest`.
//!
//! Invariant: parsing never stops at the first mistake. Lines that do not parse are
//! reported one diagnostic each (with what was expected there), and the rest of the
//! file is still parsed so that sema can report its own errors too.

pub mod ast;
mod parser;

pub use parser::parse;
