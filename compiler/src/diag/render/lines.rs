//! Where the lines of a rule file start, as miette counts them (`\n`, `\r\n` and a
//! lone `\r` each end a line), answered without a table of every line start: only the
//! count of line breaks before each block of the text is kept, and a question scans
//! at most one block.
//!
//! Invariant: every answer is the one a table of all the line starts would give
//! ([`LineStarts::get`] its `k`th entry, [`LineStarts::count`] its length,
//! [`LineStarts::line_of`] the index of the last entry at or before an offset).
//! Building it reads the text once and allocates one count per block, not one per
//! line: a table of a 100,000-line file was 800 KB grown push by push, most of the
//! time of the one warning a first apply prints.

use crate::byte_search::count_byte;

/// Bytes of text per block.
const BLOCK: usize = 1024;

/// Counts of line breaks before each block of a text (see the module docs).
pub(super) struct LineStarts<'a> {
    text: &'a [u8],
    block: usize,
    /// Line breaks before each block's first byte, and after the last block, the
    /// text's total.
    before: Vec<usize>,
}

impl<'a> LineStarts<'a> {
    pub(super) fn new(text: &'a [u8]) -> Self {
        Self::with_block(text, BLOCK)
    }

    /// The index with blocks of `block` bytes (small ones in the tests, so that
    /// their short texts cross block ends).
    pub(super) fn with_block(text: &'a [u8], block: usize) -> Self {
        let block = block.max(1);
        let mut before = Vec::with_capacity(text.len() / block + 2);
        let mut seen = 0;
        for from in (0..text.len()).step_by(block) {
            before.push(seen);
            seen += breaks_in(text, from, (from + block).min(text.len()));
        }
        before.push(seen);
        Self {
            text,
            block,
            before,
        }
    }

    /// How many lines the text has (one more than its line breaks).
    pub(super) fn count(&self) -> usize {
        self.before.last().copied().unwrap_or(0) + 1
    }

    /// 0-based line holding byte `offset` (the last line for an offset past the end).
    pub(super) fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let b = (offset / self.block).min(self.before.len() - 1);
        self.before[b] + breaks_in(self.text, b * self.block, offset)
    }

    /// Where line `k` starts; `None` past the last line.
    pub(super) fn get(&self, k: usize) -> Option<usize> {
        if k == 0 {
            return Some(0);
        }
        if k >= self.count() {
            return None;
        }
        // The last block with fewer than `k` breaks before it holds the `k`th break.
        let b = self.before.partition_point(|&n| n < k) - 1;
        let from = b * self.block;
        let mut seen = self.before[b];
        // A plain walk: at most one block's bytes, and no `memchr`, whose first search
        // detects the CPU's features (`byte_search`'s module docs).
        let ends = (self.text[from..].iter().enumerate())
            .filter(|(_, &b)| b == b'\n' || b == b'\r')
            .map(|(i, _)| i);
        for i in ends {
            if is_break(self.text, from + i) {
                seen += 1;
                if seen == k {
                    return Some(from + i + 1);
                }
            }
        }
        None
    }

    /// Where line `k` starts (the text's end past the last line).
    pub(super) fn start(&self, k: usize) -> usize {
        self.get(k).unwrap_or(self.text.len())
    }
}

/// Whether the `\n` or `\r` at `i` ends a line: a `\r` before a `\n` does not (the
/// `\n` ends that line).
fn is_break(text: &[u8], i: usize) -> bool {
    text[i] == b'\n' || text.get(i + 1) != Some(&b'\n')
}

/// Line breaks at `from..to` of `text`: every `\n`, and every `\r` not before a `\n`
/// (which may be past `to`).
fn breaks_in(text: &[u8], from: usize, to: usize) -> usize {
    let bytes = &text[from..to];
    let (newlines, returns) = (count_byte(b'\n', bytes), count_byte(b'\r', bytes));
    if returns == 0 {
        return newlines;
    }
    let before_newline = (from..to)
        .filter(|&i| text[i] == b'\r' && text.get(i + 1) == Some(&b'\n'))
        .count();
    newlines + returns - before_newline
}
