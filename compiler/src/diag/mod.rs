//! Diagnostics: every user-facing error and warning, with byte spans into the source.
//!
//! Passes return `Diagnostic` values as data; only this module renders them (through
//! miette, without colour for goldens and pipes). Invariant: every diagnostic that
//! concerns a place in the file carries at least one label whose span lies inside the
//! source it was produced from.

use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    NamedSource, SourceCode, SourceSpan, SpanContents,
};

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
    source: Box<dyn SourceCode + 'a>,
}

/// The rule file as miette reads it for a report, named like a [`NamedSource`].
///
/// miette's own `[u8]` source scans the text from its first byte to the span on every
/// read (several per report), and a `NamedSource` needs its own copy of the text, so
/// each report cost a pass over the whole file: many reports on a big file were
/// quadratic. This one starts miette's scan at the start of a line a little above the
/// span (from a table of line starts made once per [`render`]) and moves the result
/// back into place. After more line breaks than `context_lines_before`, miette's scan
/// state no longer depends on what came before except for line numbers and offsets,
/// which are shifted by the lines and bytes skipped; so every read, and every report,
/// is unchanged.
struct Windowed<'a> {
    name: &'a str,
    text: &'a [u8],
    /// Where each line starts, with miette's line breaks (`\n`, `\r\n`, lone `\r`).
    line_starts: &'a [usize],
}

/// Starts of the lines of `text` as miette counts them.
fn miette_line_starts(text: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\n' => starts.push(i + 1),
            b'\r' if text.get(i + 1) == Some(&b'\n') => {
                i += 1;
                starts.push(i + 1);
            }
            b'\r' => starts.push(i + 1),
            _ => {}
        }
        i += 1;
    }
    starts
}

impl SourceCode for Windowed<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        // The line holding the span's start, and the first line scanned: two more
        // lines up than the context needs, so that the scan meets more line breaks
        // before the span than it keeps (and the slice never starts at the span).
        let line = self
            .line_starts
            .partition_point(|&s| s <= span.offset())
            .saturating_sub(1);
        let first = line.saturating_sub(context_lines_before + 2);
        let base = self.line_starts[first];
        let local = SourceSpan::new((span.offset() - base).into(), span.len());
        let c = <[u8] as SourceCode>::read_span(
            &self.text[base..],
            &local,
            context_lines_before,
            context_lines_after,
        )?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            c.data(),
            SourceSpan::new((c.span().offset() + base).into(), c.span().len()),
            c.line() + first,
            c.column(),
            c.line_count() + first,
        )))
    }
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
        Some(&*self.source)
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
    render_with(diags, name, src, color, true)
}

/// [`render`], reading the source through [`Windowed`] or (`windowed == false`, for the
/// tests) through miette's own full-text source.
fn render_with(diags: &[Diagnostic], name: &str, src: &str, color: bool, windowed: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    let line_starts = miette_line_starts(src.as_bytes());
    let mut shown_warnings = 0;
    for d in diags {
        // Thousands of warnings on a 100,000-rule file: nobody reads them as text.
        if !d.is_error() {
            shown_warnings += 1;
            if shown_warnings > MAX_RENDERED_WARNINGS {
                continue;
            }
        }
        let inside = d.labels.iter().all(|l| l.span.end <= src.len());
        let source: Box<dyn SourceCode> = if inside && windowed {
            Box::new(Windowed {
                name,
                text: src.as_bytes(),
                line_starts: &line_starts,
            })
        } else {
            Box::new(NamedSource::new(name, clamp_source(src, d)))
        };
        let r = Rendered { diag: d, source };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1) as u64) as usize
        }
    }

    fn boundary(src: &str, mut i: usize) -> usize {
        while !src.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    /// Random diagnostics with one to three labels anywhere in `src` (zero-length,
    /// one line, many lines, at the very end), warnings and errors.
    fn random_diags(rng: &mut Rng, src: &str, n: usize) -> Vec<Diagnostic> {
        (0..n)
            .map(|k| {
                let mut d = if rng.below(3) == 0 {
                    Diagnostic::warning("sockc::w", format!("warning {k}"))
                } else {
                    Diagnostic::error("sockc::e", format!("error {k}"))
                };
                for l in 0..1 + rng.below(3) {
                    let start = boundary(src, rng.below(src.len() + 1));
                    let len = match rng.below(4) {
                        0 => 0,
                        1 => rng.below(8),
                        2 => rng.below(80),
                        _ => rng.below(400),
                    };
                    let end = boundary(src, (start + len).min(src.len()));
                    let text = if rng.below(4) == 0 {
                        String::new()
                    } else {
                        format!("label {l}")
                    };
                    d = d.label(Span::new(start, end), text);
                }
                if rng.below(2) == 0 {
                    d = d.help("a help");
                }
                d
            })
            .collect()
    }

    fn random_source(rng: &mut Rng) -> String {
        const PIECES: &[&str] = &[
            "allow tcp to 1.2.3.4:53",
            "drop",
            " ",
            "    ",
            "# comment",
            "é€𝄞",
            "\t",
            "x",
            "\n",
            "\n",
            "\n",
            "\r\n",
            "\r",
            "\n\n\n",
        ];
        let mut s = String::new();
        for _ in 0..rng.below(300) {
            s.push_str(PIECES[rng.below(PIECES.len())]);
        }
        s
    }

    /// Reading through [`Windowed`] renders exactly what miette's own source renders.
    #[test]
    fn windowed_source_renders_the_same() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let mut sources: Vec<String> = Vec::new();
        let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")];
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                sources.push(text);
            }
        }
        assert!(sources.len() > 10);
        for _ in 0..400 {
            sources.push(random_source(&mut rng));
        }
        sources.push(String::new());
        for src in &sources {
            for color in [false, true] {
                let n = 1 + rng.below(20);
                let diags = random_diags(&mut rng, src, n);
                let windowed = render_with(&diags, "f.sk", src, color, true);
                let full = render_with(&diags, "f.sk", src, color, false);
                assert_eq!(windowed, full, "source {src:?}\ndiagnostics {diags:#?}");
            }
        }
    }

    /// What the CLI and the goldens get for real diagnostics of real files.
    #[test]
    fn windowed_source_renders_real_diagnostics_the_same() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/errors");
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let src = std::fs::read_to_string(e.path()).unwrap();
            let (_, diags) = crate::compile(&src, &Default::default());
            assert!(!diags.is_empty());
            assert_eq!(
                render_with(&diags, "f.sk", &src, false, true),
                render_with(&diags, "f.sk", &src, false, false)
            );
        }
    }
}
