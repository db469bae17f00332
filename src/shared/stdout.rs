//! The one way sockc writes to standard output: every listing, table and JSON
//! document goes through [`print`] (the [`out!`] and [`outln!`] macros) or [`bytes`].
//!
//! Invariant: a failed write to standard output never panics and is never ignored. A
//! reader that went away (EPIPE, when SIGPIPE is blocked and so does not end the
//! process first) ends the process quietly with exit 1; any other error (ENOSPC on
//! `/dev/full`, EIO) ends it with `sockc: cannot write standard output: ...` on
//! standard error and exit 2, an output that cannot be written (docs/errors.md).
//! Either way the process ends at once: there is no reader to finish a document for.

use std::io::Write;

/// `print!` to standard output, through [`print`].
macro_rules! out {
    ($($t:tt)*) => { $crate::shared::stdout::print(format_args!($($t)*)) };
}
/// `println!` to standard output, through [`line`].
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

/// Writes formatted text to standard output, or ends the process ([`failed`]).
pub fn print(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
        failed(&e)
    }
}

/// Writes formatted text and a newline to standard output, or ends the process
/// ([`failed`]).
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out
        .write_fmt(args)
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush())
    {
        failed(&e)
    }
}

/// Writes `b` to standard output and flushes it, or ends the process ([`failed`]).
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
