//! The command line's contract, tested as a user runs it: the `sockc` binary's outputs,
//! exit codes and JSON, and the scripts of the README's set-up. [`contract`]: outputs
//! and exit codes; [`conventions`]: completions, man pages, `-`, `-q` and help text;
//! [`json_contract`]: every `--json` against its schema; [`diff`], [`diff_sets`],
//! [`semdiff`] and [`limit_route`]: `sockc diff` and `sockc test`; [`mistakes`]:
//! diagnostics that used to mislead; [`import`]: `sockc import`; [`test_sockets`]:
//! `sockc test` at the socket layer; [`progress_tty`]: the spinner on a terminal;
//! [`apply_output`]: what `sockc apply` prints (`-q`, plans counted or listed);
//! [`setup`]: `scripts/test`, `scripts/install`, CI's command and the repository's
//! Markdown links. The tests run the binary that `SOCKC_TEST_BIN` names, when set (to
//! show what an older build did).
//!
//! A new test goes into the binary of its rung (ARCHITECTURE.md, "Testing"); a test of
//! what a command prints or returns, with no install to look at, goes here. The few
//! that apply an install (root) make their own namespaces.

#[path = "../common/mod.rs"]
mod common;
#[path = "../netns/mod.rs"]
mod netns;

mod apply_output;
mod contract;
mod conventions;
mod diff;
mod diff_sets;
mod import;
mod json_contract;
mod limit_route;
mod mistakes;
mod progress_tty;
mod semdiff;
mod setup;
mod test_sockets;
