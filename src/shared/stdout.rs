//! The one way sockc writes to standard output: every listing, table and line for
//! people goes through [`print`] (the [`out!`] and [`outln!`] macros) or [`text`],
//! every JSON document through [`raw_line`], and data (man pages, completions, the
//! Prometheus format, the terminal's own control sequences of `stats --watch`) through
//! [`bytes`].
//!
//! Invariants: text for people reaches the terminal with every invisible character it
//! holds escaped (`sockc_compiler::diag::escaped_lines`: `\x1b`, `\u{202e}`; line
//! breaks and tabs kept), so rule texts, comments, labels and names that a rule file,
//! a file name or a process supplied cannot write to an operator's terminal; JSON is
//! written as serde_json wrote it (a JSON string escapes itself). A failed write to
//! standard output never panics and is never ignored. A reader that went away (EPIPE,
//! when SIGPIPE is blocked and so does not end the process first) ends the process
//! quietly with exit 1; any other error (ENOSPC on `/dev/full`, EIO) ends it with
//! `sockc: cannot write standard output: ...` on standard error and exit 2, an output
//! that cannot be written (docs/errors.md). Either way the process ends at once:
//! there is no reader to finish a document for.

use std::{fmt::Arguments, io::Write};

use sockc_compiler::diag::escaped_lines;

/// `print!` of text for people to standard output, through [`print`].
macro_rules! out {
    ($($t:tt)*) => { $crate::shared::stdout::print(format_args!($($t)*)) };
}
/// `println!` of text for people to standard output, through [`line`].
macro_rules! outln {
    ($($t:tt)*) => { $crate::shared::stdout::line(format_args!($($t)*)) };
}
pub(crate) use {out, outln};

/// Lets SIGPIPE end the process, as it does other command-line tools: output cut
/// short by a reader that went away (`sockc status | head`) then ends it quietly,
/// instead of a failed write in every printer. Called first thing in `main`.
pub fn end_quietly_on_sigpipe() {
    // SAFETY: restoring the default disposition of SIGPIPE before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The text `args` formats, its invisible characters escaped.
fn for_people(args: Arguments<'_>) -> String {
    let text = match args.as_str() {
        Some(s) => s.to_string(),
        None => args.to_string(),
    };
    match escaped_lines(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(e) => e,
    }
}

/// Writes formatted text for people to standard output (escaped), or ends the process
/// ([`failed`]).
pub fn print(args: Arguments<'_>) {
    bytes(for_people(args).as_bytes())
}

/// Writes formatted text for people and a newline to standard output (escaped), or
/// ends the process ([`failed`]).
pub fn line(args: Arguments<'_>) {
    let mut text = for_people(args);
    text.push('\n');
    bytes(text.as_bytes())
}

/// Writes `text` for people (a whole listing) to standard output, its invisible
/// characters escaped, or ends the process ([`failed`]).
pub fn text(text: &str) {
    bytes(escaped_lines(text).as_bytes())
}

/// Writes one line of JSON (or a pretty-printed document) and a newline to standard
/// output as it is, or ends the process ([`failed`]).
pub fn raw_line(json: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out
        .write_all(json.as_bytes())
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush())
    {
        failed(&e)
    }
}

/// Writes `b` to standard output as it is and flushes it, or ends the process
/// ([`failed`]): data, or text already escaped.
pub fn bytes(b: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(b).and_then(|_| out.flush()) {
        failed(&e)
    }
}

/// Ends the process after a failed write to standard output: quietly when the reader
/// went away, with the reason otherwise.
pub fn failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(1);
    }
    // Standard error may be just as full: a message that cannot be written is dropped.
    let _ = writeln!(
        std::io::stderr(),
        "sockc: cannot write standard output: {e}"
    );
    std::process::exit(2)
}

/// Standard output as a [`Write`] that ends the process on an error ([`failed`])
/// instead of returning it, for code that streams through a `Write` (a `BufWriter`
/// in front of it included).
pub struct Checked;

impl Write for Checked {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match std::io::stdout().lock().write(b) {
            Err(e) if e.kind() != std::io::ErrorKind::Interrupted => failed(&e),
            r => r,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stdout().lock().flush() {
            Err(e) if e.kind() != std::io::ErrorKind::Interrupted => failed(&e),
            r => r,
        }
    }
}
