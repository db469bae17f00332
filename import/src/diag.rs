//! Errors of an import: input that cannot be read as its format (with line and
//! column), options that do not fit the input, and a ruleset too large to flatten
//! within the import's bounds (with the rule where it ran out). Each carries its code
//! from the compiler's catalogue (`sockc_compiler::diag::Code`: `sockc::syntax`,
//! `sockc::import-usage`, `sockc::import-too-large`), and a diagnostic becomes the
//! compiler's ([`Diagnostic::to_compiler`]) to be shown as a rule file's is.
//!
//! Invariant: a syntax error always has a position inside the input (byte offset,
//! 1-based line, 1-based column in characters) and a message that quotes at most a
//! bounded piece of the input; finding a position costs a bounded amount of work
//! whatever the input's layout (one line or many).

use std::{cell::Cell, fmt};

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

/// Bytes per block of [`LineIndex`]'s character counts: finding a column reads at
/// most two partial blocks, whatever the length of its line.
pub const COLUMN_BLOCK: usize = 128;

/// Line starts of a text, and its characters counted by blocks, to turn byte offsets
/// into lines and columns at a bounded cost each: a column counted from the start of
/// its line would make a one-line input (`nft -j list ruleset`) quadratic.
#[derive(Clone, Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// `chars[k]`: the characters in `text[..k * COLUMN_BLOCK]`.
    chars: Vec<usize>,
    /// Bytes read to find columns so far (the work positions cost, for tests).
    scanned: Cell<usize>,
}

/// The characters that start in `bytes` (every byte but UTF-8 continuation bytes).
fn char_starts(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut chars = Vec::with_capacity(text.len() / COLUMN_BLOCK + 1);
        chars.push(0);
        for block in text.as_bytes().chunks_exact(COLUMN_BLOCK) {
            chars.push(chars[chars.len() - 1] + char_starts(block));
        }
        LineIndex {
            text,
            starts,
            chars,
            scanned: Cell::new(0),
        }
    }

    /// The characters in `text[..at]`, `at` a character boundary.
    fn chars_before(&self, at: usize) -> usize {
        let block = at / COLUMN_BLOCK;
        let from = block * COLUMN_BLOCK;
        self.scanned.set(self.scanned.get() + (at - from));
        self.chars[block] + char_starts(&self.text.as_bytes()[from..at])
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
        let column = self.chars_before(start) - self.chars_before(line_start) + 1;
        Span {
            line: line as u32,
            column: column as u32,
            start,
            end,
        }
    }

    /// The text indexed.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// How many bytes of the text finding columns has read so far: at most
    /// `2 * COLUMN_BLOCK` a span.
    pub fn scanned(&self) -> usize {
        self.scanned.get()
    }

    /// The 1-based line `n`'s byte range, without its line break.
    pub fn line_range(&self, n: usize) -> (usize, usize) {
        let start = self.starts.get(n - 1).copied().unwrap_or(self.text.len());
        let end = self.starts.get(n).map_or(self.text.len(), |e| e - 1);
        (start, end.max(start))
    }
}

/// A piece of input quoted in a message: at most 40 characters, invisible characters
/// escaped as every human output escapes them (`sockc_compiler::diag::escaped`).
pub fn quote(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == 40 {
            out.push_str("...");
            break;
        }
        sockc_compiler::diag::push_escaped(&mut out, c);
    }
    format!("`{out}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns by blocks are the characters counted from the line's start, at every
    /// boundary of a text of one- to four-byte characters, long and short lines, and
    /// each costs at most two partial blocks.
    #[test]
    fn columns_by_blocks_count_characters_from_the_line_start() {
        let mut text = String::new();
        for i in 0..3_000 {
            text.push(['a', 'é', '—', '𝄞', '\n', 'b', 'c'][(i * 7 + i / 13) % 7]);
            if i % 1_000 == 999 {
                text.push_str(&"x".repeat(2 * COLUMN_BLOCK + 3));
            }
        }
        let idx = LineIndex::new(&text);
        let mut spans = 0;
        for (at, _) in text.char_indices().chain([(text.len(), ' ')]) {
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let want = text[line_start..at].chars().count() + 1;
            let span = idx.span(at, at);
            assert_eq!(span.column as usize, want, "at byte {at}");
            assert_eq!(span.line as usize, text[..at].matches('\n').count() + 1);
            spans += 1;
        }
        assert!(idx.scanned() <= spans * 2 * COLUMN_BLOCK);
        // inside a character: the character's own column
        let wide = text.find('𝄞').unwrap();
        assert_eq!(idx.span(wide + 2, wide + 3), idx.span(wide, wide + 3));
    }
}
