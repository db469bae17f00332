//! The first rung of the testing ladder (ARCHITECTURE.md, "Testing"): golden files.
//! [`corpus`]: every `rules/**/*.sk` compiles to its `golden/**.sk.{asm,ir,stderr}`
//! at `-O2`; [`opt_passes`] and [`opt_thread`]: the optimizer's passes, their IR and
//! bytecode at `-O0` beside `-O2` (`golden/opt/NAME.O0.*`) and what they promise on
//! the whole corpus. One helper checks and names them all (`tests/common/golden.rs`);
//! `SOCKC_BLESS=1 cargo test --test golden` rewrites them. When two of these tests
//! bless the same `-O2` golden at once, both write the same text.
//!
//! A new test goes into the binary of its rung; a compiler output kept as a file is a
//! golden, here.

#[path = "../common/mod.rs"]
mod common;
mod corpus;
mod opt_passes;
mod opt_thread;
