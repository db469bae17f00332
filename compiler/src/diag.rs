//! Diagnostics: every user-facing error and warning, with byte spans into the source.
//!
//! Passes return `Diagnostic` values as data; only this module renders them (through
//! miette, without colour for goldens and pipes). Invariant: every diagnostic that
//! concerns a place in the file carries at least one label whose span lies inside the
//! source it was produced from.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

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
    pub fn from_pest(s: pest::Span<'_>) -> Self {
        Span::new(s.start(), s.end())
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// Line starts of a source text, so the line of a span is a binary search rather
/// than a scan (sema asks once per rule; a scan each time is quadratic).
#[derive(Clone, Debug)]
pub struct LineIndex {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One error or warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `sockc::unknown-set`.
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
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

struct Rendered<'a> {
    diag: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}
impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}
impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.diag.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.diag.labels.iter().enumerate().map(
            |(i, l)| {
                let len = l.span.end.saturating_sub(l.span.start);
                let text = (!l.text.is_empty()).then(|| l.text.clone());
                if i == 0 {
                    LabeledSpan::new_primary_with_span(text, (l.span.start, len))
                } else {
                    LabeledSpan::new_with_span(text, (l.span.start, len))
                }
            },
        )))
    }
}

/// Text output shows at most this many warnings (errors are always shown).
pub const MAX_RENDERED_WARNINGS: usize = 50;

/// Renders diagnostics as text the way the CLI prints them. `color` only for terminals;
/// goldens use plain text.
pub fn render(diags: &[Diagnostic], name: &str, src: &str, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    let mut shown_warnings = 0;
    for d in diags {
        // Each report scans the source up to its span: thousands of warnings on a
        // 100,000-rule file would take minutes, and nobody reads them as text.
        if !d.is_error() {
            shown_warnings += 1;
            if shown_warnings > MAX_RENDERED_WARNINGS {
                continue;
            }
        }
        let r = Rendered {
            diag: d,
            source: NamedSource::new(name, clamp_source(src, d)),
        };
        // Rendering into a String cannot fail.
        let _ = handler.render_report(&mut out, &r);
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if warnings > MAX_RENDERED_WARNINGS {
        out.push_str(&format!(
            "({} more warnings not shown; --json lists all)\n",
            warnings - MAX_RENDERED_WARNINGS
        ));
    }
    if errors > 0 || warnings > 0 {
        out.push_str(&format!(
            "{name}: {errors} error{}, {warnings} warning{}\n",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        ));
    }
    out
}

/// miette panics on spans past the end of the source; never trust a span blindly.
fn clamp_source(src: &str, d: &Diagnostic) -> String {
    let max = d.labels.iter().map(|l| l.span.end).max().unwrap_or(0);
    if max <= src.len() {
        src.to_string()
    } else {
        let mut s = src.to_string();
        s.extend(std::iter::repeat_n(' ', max - src.len()));
        s
    }
}

/// Diagnostics as JSON values (for `--json`): code, severity, message, line, column and
/// byte spans of every label.
pub fn to_json(diags: &[Diagnostic], name: &str, src: &str) -> serde_json::Value {
    let lines = LineIndex::new(src);
    let line_col = |offset: usize| {
        let offset = floor_char_boundary(src, offset.min(src.len()));
        let line = lines.line(Span::new(offset, offset));
        let start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
        (line, src[start..offset].chars().count() + 1)
    };
    let items: Vec<_> = diags
        .iter()
        .map(|d| {
            let labels: Vec<_> = d
                .labels
                .iter()
                .map(|l| {
                    let (line, col) = line_col(l.span.start);
                    serde_json::json!({
                        "start": l.span.start, "end": l.span.end,
                        "line": line, "column": col, "text": l.text,
                    })
                })
                .collect();
            serde_json::json!({
                "file": name,
                "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "code": d.code,
                "message": d.message,
                "labels": labels,
                "help": d.help,
            })
        })
        .collect();
    serde_json::Value::Array(items)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..floor_char_boundary(src, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
