//! Diagnostics as text, through miette's graphical handler (plain for goldens and
//! pipes, coloured for terminals).
//!
//! Invariant: rendering is safe and bounded for any source and any spans. miette
//! prints whole source lines and pads with `{:width$}` up to the label's column (which
//! panics past column 65,535), so a diagnostic whose lines are all short and
//! printable goes to miette as the file reads ([`Windowed`]); any other (a long line,
//! a control character, a label over many lines) goes to miette as an [`Excerpt`]: each
//! label's line cut to a window around it, invisible characters drawn as visible
//! ones, with the real line and column numbers. Message, help and label texts are
//! bounded and escaped too.

use std::{borrow::Cow, collections::BTreeMap, fmt};

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    NamedSource, SourceCode, SourceSpan, SpanContents,
};

use super::{is_invisible, totals, Diagnostic, Label, Severity, Span};
use lines::LineStarts;

mod lines;

/// Lines up to this many bytes, with nothing invisible in them, are shown as they are.
const MAX_PLAIN_LINE_BYTES: usize = 240;
/// Labels over more lines than this (one label, or from the first label to the last)
/// are shown each by its own first line.
const MAX_PLAIN_LABEL_LINES: usize = 16;
/// Bytes of a line shown before a label in an excerpt.
const EXCERPT_BEFORE: usize = 40;
/// Most bytes of a line an excerpt shows.
const EXCERPT_WIDTH: usize = 160;
/// Longest message, help or label text printed, in characters.
const MAX_TEXT_CHARS: usize = 2000;

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
/// span (from the [`LineStarts`] found once per [`render`]) and moves the result
/// back into place. After more line breaks than `context_lines_before`, miette's scan
/// state no longer depends on what came before except for line numbers and offsets,
/// which are shifted by the lines and bytes skipped; so every read, and every report,
/// is unchanged.
struct Windowed<'a> {
    name: &'a str,
    text: &'a [u8],
    /// Where each line starts, with miette's line breaks (`\n`, `\r\n`, lone `\r`).
    lines: &'a LineStarts<'a>,
}

/// Where line `k` ends, without its line break.
fn line_end(text: &[u8], lines: &LineStarts<'_>, k: usize) -> usize {
    let start = lines.start(k);
    let mut end = lines.get(k + 1).unwrap_or(text.len());
    while end > start && matches!(text[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    end
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
        let line = self.lines.line_of(span.offset());
        let first = line.saturating_sub(context_lines_before + 2);
        let base = self.lines.start(first);
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

/// One line of an [`Excerpt`].
struct ExcerptLine {
    /// Where it starts and ends (without the line break) in the excerpt text.
    start: usize,
    end: usize,
    /// 0-based line in the file.
    line: usize,
}

/// The lines a diagnostic's labels point at, each cut to a window around its labels
/// and made printable, as miette reads them: offsets are the excerpt's own, line
/// numbers and columns the file's. Lines that follow each other in the file read as
/// one snippet; others as separate snippets (miette joins snippets only when the line
/// numbers it is given touch).
struct Excerpt<'a> {
    name: &'a str,
    text: String,
    lines: Vec<ExcerptLine>,
    /// (label start in the excerpt, byte column of that start in the file).
    columns: Vec<(usize, usize)>,
}

impl Excerpt<'_> {
    fn line_at(&self, offset: usize) -> usize {
        self.lines
            .partition_point(|l| l.start <= offset)
            .saturating_sub(1)
    }
}

impl SourceCode for Excerpt<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let mut first = self.line_at(span.offset());
        let mut last = self.line_at(span.offset() + span.len().saturating_sub(1));
        // Context: the neighbouring excerpt lines that are the file's neighbouring
        // lines too.
        for _ in 0..context_lines_before {
            if first > 0 && self.lines[first - 1].line + 1 == self.lines[first].line {
                first -= 1;
            }
        }
        for _ in 0..context_lines_after {
            if last + 1 < self.lines.len() && self.lines[last].line + 1 == self.lines[last + 1].line
            {
                last += 1;
            }
        }
        let (start, end) = (self.lines[first].start, self.lines[last].end);
        let column = if context_lines_before == 0 {
            self.columns
                .iter()
                .find(|(at, _)| *at == span.offset())
                .map_or(span.offset().saturating_sub(start), |c| c.1)
        } else {
            0
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            &self.text.as_bytes()[start..end],
            SourceSpan::new(start.into(), end - start),
            self.lines[first].line,
            column,
            last - first + 1,
        )))
    }
}

/// How an invisible character is drawn in an excerpt: control characters as their
/// Unicode control pictures (`␀`, `␛`), anything else as `�`.
fn visible(c: char) -> char {
    match u32::from(c) {
        n @ 0..=0x1f => char::from_u32(0x2400 + n).unwrap_or('�'),
        0x7f => '␡',
        _ => '�',
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Builds the excerpt of `d`'s labels (spans already inside `src`) and the labels
/// moved into it.
fn excerpt<'a>(
    d: &Diagnostic,
    name: &'a str,
    src: &str,
    line_starts: &LineStarts<'_>,
) -> (Excerpt<'a>, Vec<Label>) {
    let bytes = src.as_bytes();
    // Each label cut to its first line, grouped by line; with the line before and the
    // line after each, for context.
    let mut by_line: BTreeMap<usize, Vec<(usize, usize, usize)>> = BTreeMap::new();
    let last_line = line_starts.count() - 1;
    for (i, l) in d.labels.iter().enumerate() {
        let k = line_starts.line_of(l.span.start);
        let end = l
            .span
            .end
            .min(line_end(bytes, line_starts, k))
            .max(l.span.start);
        by_line.entry(k).or_default().push((i, l.span.start, end));
        for near in [k.saturating_sub(1), (k + 1).min(last_line)] {
            by_line.entry(near).or_default();
        }
    }
    let mut text = String::new();
    let mut lines = Vec::new();
    let mut columns = Vec::new();
    let mut spans = vec![Span::default(); d.labels.len()];
    for (k, labels) in by_line {
        if !text.is_empty() {
            text.push('\n');
        }
        let (ls, le) = (line_starts.start(k), line_end(bytes, line_starts, k));
        // The window is around the primary label when it is on this line, else
        // around the first label; labels outside it point at its cut ends.
        let lo = labels
            .iter()
            .find(|l| l.0 == 0)
            .or(labels.iter().min_by_key(|l| l.1))
            .map_or(ls, |l| l.1);
        let win_start = floor_boundary(src, lo.saturating_sub(EXCERPT_BEFORE).max(ls));
        let win_end = floor_boundary(src, le.min(win_start + EXCERPT_WIDTH)).max(win_start);
        let start = text.len();
        if win_start > ls {
            text.push('…');
        }
        // Excerpt offset of each real offset in the window, at char boundaries.
        let mut at = Vec::with_capacity(EXCERPT_WIDTH + 1);
        for (off, c) in src[win_start..win_end].char_indices() {
            at.push((win_start + off, text.len()));
            text.push(if is_invisible(c) && c != '\t' {
                visible(c)
            } else {
                c
            });
        }
        at.push((win_end, text.len()));
        if win_end < le {
            text.push('…');
        }
        let place = |real: usize| {
            let real = real.clamp(win_start, win_end);
            at.iter()
                .take_while(|(r, _)| *r <= real)
                .last()
                .map_or(start, |p| p.1)
        };
        for (i, s, e) in labels {
            let (es, ee) = (place(s), place(e));
            spans[i] = Span::new(es, ee.max(es));
            columns.push((es, s - ls));
        }
        lines.push(ExcerptLine {
            start,
            end: text.len(),
            line: k,
        });
    }
    let labels = d
        .labels
        .iter()
        .zip(spans)
        .map(|(l, span)| Label {
            span,
            text: l.text.clone(),
        })
        .collect();
    (
        Excerpt {
            name,
            text,
            lines,
            columns,
        },
        labels,
    )
}

/// Whether miette may show `d` from the file as it reads: all labels within a few
/// lines of each other (miette shows every line between labels it puts in one
/// snippet), and every line it may show — those, and one line of context each side —
/// short and printable, ended by `\n` or `\r\n` (miette prints a lone `\r` raw).
fn plain(d: &Diagnostic, src: &str, line_starts: &LineStarts<'_>) -> bool {
    let bytes = src.as_bytes();
    let last = line_starts.count() - 1;
    let lines = d.labels.iter().map(|l| {
        let first = line_starts.line_of(l.span.start);
        (
            first,
            // A label that takes in a line break ends on the next line, and miette
            // shows a line of context after that one too.
            line_starts.line_of(l.span.end.max(l.span.start)).max(first),
        )
    });
    let (Some(first), Some(end)) = (lines.clone().map(|l| l.0).min(), lines.map(|l| l.1).max())
    else {
        return true;
    };
    end - first <= MAX_PLAIN_LABEL_LINES
        && (first.saturating_sub(1)..=(end + 1).min(last)).all(|k| {
            let (a, b) = (line_starts.start(k), line_end(bytes, line_starts, k));
            let next = line_starts.get(k + 1).unwrap_or(bytes.len());
            b - a <= MAX_PLAIN_LINE_BYTES
                && src[a..b].chars().all(|c| c == '\t' || !is_invisible(c))
                && matches!(&bytes[b..next], b"" | b"\n" | b"\r\n")
        })
}

/// Message, help and label text as printed: bounded, invisible characters escaped
/// (line breaks in messages are kept).
fn printable(text: &str) -> Cow<'_, str> {
    let clean = text.chars().count() <= MAX_TEXT_CHARS
        && text.chars().all(|c| c == '\n' || !is_invisible(c));
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_TEXT_CHARS {
            out.push('…');
            break;
        }
        if c == '\n' {
            out.push(c);
        } else {
            super::push_escaped(&mut out, c);
        }
    }
    Cow::Owned(out)
}

/// `d` with printable texts and every span moved inside `src` (on char boundaries).
fn clamped(d: &Diagnostic, src: &str) -> Diagnostic {
    let mut d = d.clone();
    d.message = printable(&d.message).into_owned();
    d.help = d.help.as_deref().map(|h| printable(h).into_owned());
    for l in &mut d.labels {
        let start = floor_boundary(src, l.span.start);
        let end = floor_boundary(src, l.span.end).max(start);
        l.span = Span::new(start, end);
        l.text = printable(&l.text).into_owned();
    }
    d
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

/// Renders diagnostics as text the way the CLI prints them. `color` only for terminals;
/// goldens use plain text.
pub fn render(diags: &[Diagnostic], name: &str, src: &str, color: bool) -> String {
    render_with(diags, name, src, color, true)
}

/// [`render`], reading plain diagnostics through [`Windowed`] or (`windowed ==
/// false`, for the tests) through miette's own full-text source.
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
    let line_starts = LineStarts::new(src.as_bytes());
    // A file name may hold anything; miette prints it in every header.
    let name = &*super::escaped(name);
    for d in diags {
        super::debug_check_severity(d);
        let d = clamped(d, src);
        let (d, source): (Diagnostic, Box<dyn SourceCode>) = if !plain(&d, src, &line_starts) {
            let (ex, labels) = excerpt(&d, name, src, &line_starts);
            (Diagnostic { labels, ..d }, Box::new(ex))
        } else if windowed {
            let w = Windowed {
                name,
                text: src.as_bytes(),
                lines: &line_starts,
            };
            (d, Box::new(w))
        } else {
            (d, Box::new(NamedSource::new(name, src.to_string())))
        };
        let r = Rendered { diag: &d, source };
        // Rendering into a String cannot fail.
        let _ = handler.render_report(&mut out, &r);
    }
    let t = totals(diags);
    if t.errors > 0 || t.warnings > 0 {
        out.push_str(&format!(
            "{}: {} error{}, {} warning{}\n",
            name,
            t.errors,
            if t.errors == 1 { "" } else { "s" },
            t.warnings,
            if t.warnings == 1 { "" } else { "s" }
        ));
    }
    out
}

#[cfg(test)]
mod tests;
