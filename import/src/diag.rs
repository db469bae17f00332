//! Errors of an import: input that cannot be read as its format (with line and
//! column), options that do not fit the input, and a ruleset too large to flatten
//! within the import's bounds (with the rule where it ran out). Each carries its code
//! from the compiler's catalogue (`sockc_compiler::diag::Code`: `sockc::syntax`,
//! `sockc::import-usage`, `sockc::import-too-large`), and a diagnostic becomes the
//! compiler's ([`Diagnostic::to_compiler`]) to be shown as a rule file's is.
//!
//! Invariant: a syntax error always has a position inside the input (byte offset,
//! 1-based line, 1-based column in characters) and a message that quotes at most a
//! bounded piece of the input.

use std::fmt;

use sockc_compiler::diag::{self as compiler_diag, Code};

use crate::model::Span;

/// At most this many syntax errors are kept per input.
pub const MAX_ERRORS: usize = 20;

/// One error in the input, at its place: the compiler's diagnostic with the line and
/// column the import computed (the per-rule report and the tests name them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub span: Span,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            span,
        }
    }

    /// The compiler's diagnostic for it (the catalogue's severity, labelled `here`
    /// at its span), rendered against the ruleset as a rule file's diagnostics are.
    pub fn to_compiler(&self) -> compiler_diag::Diagnostic {
        let span = compiler_diag::Span::new(self.span.start, self.span.end.max(self.span.start));
        compiler_diag::Diagnostic::new(self.code, self.message.clone()).label(span, "here")
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}",
            self.span.line, self.span.column, self.message
        )
    }
}

/// Why an import produced nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportError {
    /// The input is not valid in its format (exit 1, like a rule error).
    Syntax(Vec<Diagnostic>),
    /// The options do not fit (exit 2, like a usage error).
    Usage(String),
    /// Flattening the chains ran past a bound (flat rules, memory or work) at the
    /// rule the diagnostic points to (exit 1, like a rule file over a limit).
    TooLarge(Diagnostic),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Syntax(d) => {
                for (i, x) in d.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{x}")?;
                }
                Ok(())
            }
            ImportError::Usage(m) => f.write_str(m),
            ImportError::TooLarge(d) => write!(f, "{d}"),
        }
    }
}

impl std::error::Error for ImportError {}

impl ImportError {
    /// Its code in the catalogue; [`Code::exit_code`] is the exit code `sockc import`
    /// ends with.
    pub fn code(&self) -> Code {
        match self {
            ImportError::Syntax(_) => Code::Syntax,
            ImportError::Usage(_) => Code::ImportUsage,
            ImportError::TooLarge(d) => d.code,
        }
    }
}

/// Line starts of a text, to turn byte offsets into lines and columns.
#[derive(Clone, Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The span of bytes `start..end` (clamped to the text and to character
    /// boundaries).
    pub fn span(&self, start: usize, end: usize) -> Span {
        let mut start = start.min(self.text.len());
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        let end = end.clamp(start, self.text.len());
        let line = self.starts.partition_point(|s| *s <= start);
        let line_start = self.starts[line - 1];
        let column = self.text[line_start..start].chars().count() + 1;
        Span {
            line: line as u32,
            column: column as u32,
            start,
            end,
        }
    }

    /// The 1-based line `n`'s byte range, without its line break.
    pub fn line_range(&self, n: usize) -> (usize, usize) {
        let start = self.starts.get(n - 1).copied().unwrap_or(self.text.len());
        let end = self.starts.get(n).map_or(self.text.len(), |e| e - 1);
        (start, end.max(start))
    }
}

/// A piece of input quoted in a message: at most 40 characters, control characters
/// escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == 40 {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    format!("`{out}`")
}
