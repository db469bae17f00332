//! The lines sockc writes to standard error for people — errors, warnings, notices,
//! progress words — through [`errln!`]: whatever a line holds that sockc did not write
//! (names, paths, rule texts, error texts, a process's command) reaches the terminal
//! with its invisible characters escaped, as on standard output (`stdout`).
//!
//! Invariant: only the rendered diagnostics (escaped by their renderer, and coloured
//! on a terminal) and the spinner's own control sequences reach standard error
//! otherwise. A line that cannot be written is dropped: standard error is where a
//! failure would be said.

use std::{fmt::Arguments, io::Write};

use sockc_compiler::diag::escaped_lines;

/// `eprintln!` of text for people, through [`line`].
macro_rules! errln {
    ($($t:tt)*) => { $crate::shared::stderr::line(format_args!($($t)*)) };
}
pub(crate) use errln;

/// Writes formatted text and a newline to standard error, its invisible characters
/// escaped.
pub fn line(args: Arguments<'_>) {
    let mut text = escaped_lines(&args.to_string()).into_owned();
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
