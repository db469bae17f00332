//! Diagnostics as JSON values (`--json`): code, severity, message, help, and the line,
//! column and byte span of every label.
//!
//! Invariant: every line and column is computed from an offset clamped into the source
//! and moved to a char boundary, so any span gives a position inside the file.

use super::{Diagnostic, LineIndex, Severity, Span};

/// Diagnostics as JSON values (for `--json`): code, severity, message, line, column and
/// byte spans of every label; the diagnostic standing for those the limit left out
/// also says how many (`left_out`).
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
            super::debug_check_severity(d);
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
            let mut v = serde_json::json!({
                "file": name,
                "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "code": d.code.as_str(),
                "message": d.message,
                "labels": labels,
                "help": d.help,
            });
            if let Some(l) = d.left_out {
                v["left_out"] = serde_json::json!({ "errors": l.errors, "warnings": l.warnings });
            }
            v
        })
        .collect();
    serde_json::Value::Array(items)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
