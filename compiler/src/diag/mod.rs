//! Diagnostics: every user-facing error and warning, with byte spans into the source.
//!
//! Passes return `Diagnostic` values as data; only this module renders them
//! ([`render`] through miette, [`to_json`]). Invariants: every diagnostic that
//! concerns a place in the file carries at least one label whose span lies inside the
//! source it was produced from; user text quoted in a message goes through [`quote`]
//! (bounded, invisible characters escaped); and a [`Sink`] keeps at most the
//! diagnostics limit of errors and of warnings, counting the rest, so no input makes
//! the list (or what is printed from it) grow without bound. Every diagnostic's code
//! is a [`Code`] of the catalogue ([`codes`]), and its severity the one the catalogue
//! gives that code (checked again, in debug builds, wherever one is rendered).

pub mod codes;
mod escape;
mod json;
mod render;

pub use codes::{Code, Group, Level, Severity};
pub use escape::{escaped, escaped_lines, is_invisible, push_escaped};
pub use json::to_json;
pub use render::render;

use crate::limits::Limit;

/// A half-open byte range `[start, end)` in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// Line starts of a source text, so the line of a span is a binary search rather
/// than a scan (sema asks once per rule; a scan each time is quadratic).
#[derive(Clone, Debug)]
pub(crate) struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    pub fn new(src: &str) -> Self {
        LineIndex {
            newlines: src
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// 1-based line of the span's start.
    pub fn line(&self, span: Span) -> usize {
        self.newlines.partition_point(|&nl| nl < span.start) + 1
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One error or warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The catalogue's severity for `code` ([`Diagnostic::new`]).
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `sockc::unknown-set`.
    pub code: Code,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// Only on the diagnostic that stands for those the limit left out
    /// ([`Sink::finish`], [`cap`]): how many errors and warnings it stands for.
    pub left_out: Option<LeftOut>,
}

/// Diagnostics counted but not kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    pub errors: usize,
    pub warnings: usize,
}

impl Diagnostic {
    /// A diagnostic of `code`, at the severity the catalogue gives it: a caller names
    /// the code, never the severity, so the two cannot disagree.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: code.severity(),
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            left_out: None,
        }
    }
    pub fn label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// All diagnostics of one compilation, in source order.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// Errors and warnings in a list, counting those a [`LeftOut`] stands for.
pub fn totals(diags: &[Diagnostic]) -> LeftOut {
    let mut t = LeftOut::default();
    for d in diags {
        match d.left_out {
            Some(l) => {
                t.errors += l.errors;
                t.warnings += l.warnings;
            }
            None if d.is_error() => t.errors += 1,
            None => t.warnings += 1,
        }
    }
    t
}

/// In debug builds, panics when a diagnostic's severity is not one the catalogue
/// allows its code ([`render`] and [`to_json`] check every diagnostic they print, so
/// every test that prints one checks it).
pub(crate) fn debug_check_severity(d: &Diagnostic) {
    debug_assert!(
        d.code.level().allows(d.severity),
        "{} raised as {:?}; the catalogue says {:?}",
        d.code,
        d.severity,
        d.code.level()
    );
}

fn left_out_diagnostic(left: LeftOut, max: usize) -> Diagnostic {
    let plural = |n: usize, what: &str| format!("{n} more {what}{}", if n == 1 { "" } else { "s" });
    let parts: Vec<String> = [(left.errors, "error"), (left.warnings, "warning")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|&(n, w)| plural(n, w))
        .collect();
    let mut d = Diagnostic::new(
        Code::TooManyDiagnostics,
        format!("{} not shown", parts.join(" and ")),
    );
    // `Level::ErrorOrWarning`: a warning when only warnings were left out.
    if left.errors == 0 {
        d.severity = Severity::Warning;
    }
    d.left_out = Some(left);
    d.help(format!(
        "at most {max} errors and {max} warnings are kept per file ({}); {}",
        Limit::Diagnostics,
        Limit::Diagnostics.how_to_change()
    ))
}

/// Collects diagnostics up to a limit of errors and, separately, of warnings; past
/// it, diagnostics are only counted. [`Sink::finish`] adds one diagnostic standing
/// for those left out.
#[derive(Debug)]
pub(crate) struct Sink {
    kept: Vec<Diagnostic>,
    max: usize,
    errors: usize,
    warnings: usize,
    left: LeftOut,
}

/// Where a [`Sink`] stood, to undo what was pushed after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    len: usize,
    errors: usize,
    warnings: usize,
    left: LeftOut,
}

impl Sink {
    pub fn new(max: usize) -> Self {
        Sink {
            kept: Vec::new(),
            max,
            errors: 0,
            warnings: 0,
            left: LeftOut::default(),
        }
    }

    /// Whether another diagnostic of this severity would still be kept (callers
    /// skip the work of building one that would only be counted).
    pub(crate) fn has_room(&self, severity: Severity) -> bool {
        match severity {
            Severity::Error => self.errors < self.max,
            Severity::Warning => self.warnings < self.max,
        }
    }

    pub fn push(&mut self, d: Diagnostic) {
        if let Some(l) = d.left_out {
            self.left.errors += l.errors;
            self.left.warnings += l.warnings;
            return;
        }
        let (kept, left) = if d.is_error() {
            (&mut self.errors, &mut self.left.errors)
        } else {
            (&mut self.warnings, &mut self.left.warnings)
        };
        if *kept < self.max {
            *kept += 1;
            self.kept.push(d);
        } else {
            *left += 1;
        }
    }

    /// Counts a diagnostic of this severity without building it.
    pub fn count(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.left.errors += 1,
            Severity::Warning => self.left.warnings += 1,
        }
    }

    pub fn extend(&mut self, diags: impl IntoIterator<Item = Diagnostic>) {
        for d in diags {
            self.push(d);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }

    /// Errors pushed or counted so far.
    pub fn errors(&self) -> usize {
        self.errors + self.left.errors
    }

    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            len: self.kept.len(),
            errors: self.errors,
            warnings: self.warnings,
            left: self.left,
        }
    }

    /// Forgets everything pushed or counted since `cp`.
    pub(crate) fn rollback(&mut self, cp: Checkpoint) {
        self.kept.truncate(cp.len);
        self.errors = cp.errors;
        self.warnings = cp.warnings;
        self.left = cp.left;
    }

    /// The kept diagnostics, then one standing for those left out (if any).
    pub fn finish(self) -> Vec<Diagnostic> {
        let mut out = self.kept;
        if self.left != LeftOut::default() {
            out.push(left_out_diagnostic(self.left, self.max));
        }
        out
    }
}

/// Orders diagnostics by position in the file and keeps at most `max` errors and
/// `max` warnings, the first by position; one diagnostic at the end stands for every
/// one left out (here or earlier).
pub(crate) fn cap(diags: Vec<Diagnostic>, max: usize) -> Vec<Diagnostic> {
    let (mut left_out, mut rest): (Vec<_>, Vec<_>) =
        diags.into_iter().partition(|d| d.left_out.is_some());
    rest.sort_by_key(|d| d.labels.first().map(|l| l.span.start).unwrap_or(0));
    let mut sink = Sink::new(max);
    sink.extend(rest);
    sink.extend(left_out.drain(..));
    sink.finish()
}

/// Longest user text a message quotes, in characters.
pub const MAX_QUOTED_CHARS: usize = 60;

/// `text` as a message quotes it: at most [`MAX_QUOTED_CHARS`] characters (then
/// `…`), invisible characters written as escapes (`\x00`, [`escape`]).
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push('…');
            break;
        }
        push_escaped(&mut out, c);
    }
    out
}

/// A name for a character a message points at: `NUL (U+0000)`, `a byte-order mark
/// (U+FEFF)`, `` `é` (U+00E9) ``.
pub(crate) fn char_name(c: char) -> String {
    let code = format!("U+{:04X}", u32::from(c));
    let name = match c {
        '\0' => "a NUL byte",
        '\t' => "a tab",
        '\u{7f}' => "a DEL control character",
        '\u{feff}' => "a byte-order mark",
        '\u{a0}' => "a no-break space",
        '\u{200b}' => "a zero-width space",
        '\u{1b}' => "an escape (ESC) control character",
        c if c.is_control() => "a control character",
        c if is_invisible(c) => "an invisible formatting character",
        c => return format!("`{c}` ({code})"),
    };
    format!("{name} ({code})")
}
