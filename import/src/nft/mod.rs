//! The two nftables readers — `nft list ruleset` text ([`text`]) and `nft -j list
//! ruleset` JSON ([`json`]) — and what they share: the meaning of a relational
//! expression ([`expr`]) and the statements of a rule ([`stmt`], read from tokens;
//! the JSON reader builds the same pieces from objects).
//!
//! Invariant: both readers give the same model for the same ruleset (the tests import
//! every ruleset of the corpus in both forms and compare).

pub mod expr;
pub mod json;
pub mod lex;
pub mod stmt;
pub mod text;
