//! A block's extent before it is read: how many lines it has up to its closing line
//! (the first whose first character after blanks is a `}`), for its list's capacity
//! and the split of a long block between two threads.
//!
//! Invariant: [`lines_before_close`] answers as a walk of the text line by line
//! would (the tests compare it with one), so the list's capacity and the split point,
//! and with them the block's rules, do not depend on how it is found.

use crate::byte_search::{count_byte, find_byte};

/// What may stand before a `}` on its line for the line to close a block.
fn blank(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\r'
}

/// The lines from `i` up to the first one whose first character (after blanks) is a
/// `}`: at least the number of statements a block has there, so that its list is
/// made once (growing a 10k-rule block's list by doubling copied it a dozen times,
/// about a fifth of a 10k-rule apply's page faults).
/// Also where that line begins (the end of `s` when no line does).
///
/// The `}`s are searched for (they are rare: a block's end, a set's braces) and the
/// newlines before the one found counted sixteen at a time: a walk newline by
/// newline, looking at each line's first character, was ~130 instructions a line,
/// ~13 M for a 100k-rule file before its block could be split between two threads.
pub(super) fn lines_before_close(s: &[u8], i: usize) -> (usize, usize) {
    let from = i.min(s.len());
    let rest = &s[from..];
    let mut at = 0;
    while let Some(k) = find_byte(b'}', &rest[at..]) {
        let brace = at + k;
        // The line's start, when only blanks stand before the `}` on it; the text's
        // first line is the block's first statement's, never a closing line.
        let before = rest[..brace].iter().rposition(|&c| !blank(c));
        if let Some(nl) = before.filter(|&nl| rest[nl] == b'\n') {
            return (1 + count_byte(b'\n', &rest[..nl]), from + nl + 1);
        }
        at = brace + 1;
    }
    (1 + count_byte(b'\n', rest), s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk [`lines_before_close`] stands for: each newline, then the first
    /// character of the line after it.
    fn walked(s: &[u8], i: usize) -> (usize, usize) {
        let from = i.min(s.len());
        let rest = &s[from..];
        let mut lines = 1;
        for (nl, _) in rest.iter().enumerate().filter(|(_, &c)| c == b'\n') {
            let next = rest[nl + 1..].iter().find(|&&c| !blank(c));
            if next == Some(&b'}') {
                return (lines, from + nl + 1);
            }
            lines += 1;
        }
        (lines, s.len())
    }

    #[test]
    fn the_closing_line_is_found_as_a_walk_finds_it() {
        let pieces: [&[u8]; 10] = [
            b"allow tcp\n",
            b"}\n",
            b"  \t}",
            b"\r }",
            b" \r\n",
            b"set s = { 1 }\n",
            b"}}",
            b"\n\n",
            b"x}\n",
            b"    drop ip4 from 10.0.0.0/8 to 192.168.0.0/16:443\n",
        ];
        // Every text of up to five pieces, read from each of its first bytes.
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last: Vec<Vec<u8>> = texts.clone();
        for _ in 0..5 {
            last = last
                .iter()
                .flat_map(|t| pieces.iter().map(move |p| [t.as_slice(), p].concat()))
                .collect();
            texts.extend(last.iter().cloned());
        }
        let long = [&b"  allow udp\n".repeat(5000)[..], b"\t}\n", b"  }\n"].concat();
        texts.push(long);
        for t in &texts {
            for i in 0..t.len().min(4) + 1 {
                assert_eq!(
                    lines_before_close(t, i),
                    walked(t, i),
                    "{:?} from {i}",
                    String::from_utf8_lossy(t)
                );
            }
        }
    }
}
