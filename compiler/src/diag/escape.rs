//! How sockc shows text it did not write — rule texts and comments, labels, file,
//! interface, set and socket names, process names, quoted input, error texts — in every
//! human output (diagnostics, tables, listings, status lines): characters that print
//! as nothing, move the cursor or reorder text are written as escapes, so a rule file,
//! a file name or a process can never write to an operator's terminal.
//!
//! Invariant: what these functions return holds no invisible character ([`is_invisible`])
//! but the line breaks and tabs [`escaped_lines`] keeps on purpose; every escape is
//! one of `\t`, `\n`, `\r`, `\xNN` (below U+0100: C0 and C1 controls, DEL, the soft
//! hyphen) or `\u{NNNN}` (above: zero-width and bidirectional formatting, the
//! byte-order mark). JSON output does not come here: a JSON string escapes itself.

use std::{borrow::Cow, fmt::Write as _};

/// Characters that print as nothing, move the cursor or reorder text: control
/// characters, zero-width and bidirectional formatting characters, the byte-order
/// mark. They are never printed raw.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Appends `c`'s escape (for an invisible `c`; others are appended as they are).
pub fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if !is_invisible(c) => out.push(c),
        c if u32::from(c) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// `text` as one line of human output: every invisible character, line breaks and
/// tabs included, written as its escape; nothing cut.
pub fn escaped(text: &str) -> Cow<'_, str> {
    escaped_but(text, |_, _| false)
}

/// `text` of several lines (a rule file, a listing) as human output: line breaks
/// (`\n`, and `\r` just before one) and tabs kept, every other invisible character
/// written as its escape — a carriage return inside a line could hide what came
/// before it on the terminal.
pub fn escaped_lines(text: &str) -> Cow<'_, str> {
    escaped_but(text, |c, next| {
        c == '\n' || c == '\t' || (c == '\r' && matches!(next, Some('\n') | None))
    })
}

/// `text` with every invisible character for which `keep(c, the character after)` is
/// false escaped.
fn escaped_but(text: &str, keep: impl Fn(char, Option<char>) -> bool) -> Cow<'_, str> {
    let mut chars = text.chars().peekable();
    let mut first = None;
    let mut at = 0;
    while let Some(c) = chars.next() {
        if is_invisible(c) && !keep(c, chars.peek().copied()) {
            first = Some(at);
            break;
        }
        at += c.len_utf8();
    }
    let Some(first) = first else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    let mut chars = text[first..].chars().peekable();
    while let Some(c) = chars.next() {
        if keep(c, chars.peek().copied()) {
            out.push(c);
        } else {
            push_escaped(&mut out, c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_become_escapes() {
        let text = "a\u{1b}[31m\u{7}b\r\u{7f}\u{85}\u{9b}\u{202e}c\td\u{0}\u{feff}é\n";
        assert_eq!(
            escaped(text),
            "a\\x1b[31m\\x07b\\r\\x7f\\x85\\x9b\\u{202e}c\\td\\x00\\u{feff}é\\n"
        );
        assert_eq!(
            escaped_lines(text),
            "a\\x1b[31m\\x07b\\r\\x7f\\x85\\x9b\\u{202e}c\td\\x00\\u{feff}é\n"
        );
        assert_eq!(escaped_lines("a\r\nb\r"), "a\r\nb\r");
        assert_eq!(escaped_lines("a\rb"), "a\\rb");
        assert!(matches!(escaped("plain — ü"), Cow::Borrowed(_)));
    }

    /// No invisible character is left in what either function returns, whatever the
    /// text holds (every character below U+3000, and the formatting ones).
    #[test]
    fn nothing_invisible_is_left() {
        let all: String = (0..0x3000u32).filter_map(char::from_u32).collect();
        assert!(!escaped(&all).chars().any(is_invisible));
        assert!(!escaped_lines(&all)
            .chars()
            .any(|c| is_invisible(c) && !matches!(c, '\n' | '\t')));
    }
}
