//! [`Words`], the run encoding of table contents in `.sockc.tables`, its decoder and
//! the runs the runtime reads back.
//!
//! Invariant: a decoding either fills its output exactly with the words encoded or is
//! refused; it never reads or writes past either end.

/// The encoding of table contents in `.sockc.tables` (a table is mostly node words
/// repeated across byte values): little-endian `u32` words in runs, each headed by
/// one word. A head with bit 31 set repeats the next word `head & 0x7fff_ffff` times;
/// otherwise the next `head` words are copied as they are.
pub(crate) struct Words<'a> {
    out: &'a mut Vec<u8>,
    /// Byte offset of the head of the literal run being written, and its length.
    literal: Option<(usize, u32)>,
}

impl<'a> Words<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Words<'a> {
        Words { out, literal: None }
    }

    pub fn literal(&mut self, words: &[u32]) {
        if words.is_empty() {
            return;
        }
        let (at, n) = match self.literal {
            Some(l) => l,
            None => {
                self.out.extend_from_slice(&0u32.to_le_bytes());
                (self.out.len() - 4, 0)
            }
        };
        for w in words {
            self.out.extend_from_slice(&w.to_le_bytes());
        }
        self.literal = Some((at, n + words.len() as u32));
    }

    /// Extends the literal run by `words` zero words, to be written in place
    /// afterwards: the byte offset in the output of the first.
    pub fn literal_in_place(&mut self, words: usize) -> usize {
        let (at, n) = match self.literal {
            Some(l) => l,
            None if words == 0 => return self.out.len(),
            None => {
                self.out.extend_from_slice(&0u32.to_le_bytes());
                (self.out.len() - 4, 0)
            }
        };
        let start = self.out.len();
        self.out.resize(start + 4 * words, 0);
        self.literal = Some((at, n + words as u32));
        start
    }

    pub fn repeat(&mut self, count: u32, word: u32) {
        if count <= 2 {
            for _ in 0..count {
                self.literal(&[word]);
            }
            return;
        }
        self.close();
        self.out
            .extend_from_slice(&(0x8000_0000 | count).to_le_bytes());
        self.out.extend_from_slice(&word.to_le_bytes());
    }

    fn close(&mut self) {
        if let Some((at, n)) = self.literal.take() {
            self.out[at..at + 4].copy_from_slice(&n.to_le_bytes());
        }
    }

    pub fn finish(mut self) {
        self.close();
    }
}

/// One run of a [`Words`] encoding: a word repeated, or words as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordRun<'a> {
    /// `words` copies of `value`.
    Fill { words: usize, value: [u8; 4] },
    /// These bytes (a whole number of words).
    Copy(&'a [u8]),
}

impl WordRun<'_> {
    /// The run's length once decoded, in bytes.
    pub fn len(&self) -> usize {
        match self {
            WordRun::Fill { words, .. } => 4 * words,
            WordRun::Copy(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The runs of a [`Words`] encoding, in order: a writer can decode it piece by piece
/// (a table of 100k rules into a map's memory a window at a time). An item is `None`
/// where the encoding is malformed, and the iteration ends there.
pub fn word_runs(encoded: &[u8]) -> impl Iterator<Item = Option<WordRun<'_>>> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            encoded.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let mut at = Some(0usize);
    std::iter::from_fn(move || {
        let here = at.filter(|&a| a < encoded.len())?;
        let run = (|| {
            let head = word(here)?;
            let n = (head & 0x7fff_ffff) as usize;
            if head & 0x8000_0000 != 0 {
                let value = word(here + 4)?.to_le_bytes();
                Some((WordRun::Fill { words: n, value }, here + 8))
            } else {
                let end = (here + 4).checked_add(n.checked_mul(4)?)?;
                Some((WordRun::Copy(encoded.get(here + 4..end)?), end))
            }
        })();
        at = run.map(|(_, next)| next);
        Some(run.map(|(r, _)| r))
    })
}

/// Decodes [`Words`] into `out` (whose length is the decoded size); `None` if the
/// encoding is malformed or does not fill `out` exactly.
pub fn decode_words(encoded: &[u8], out: &mut [u8]) -> Option<()> {
    let mut to = 0usize;
    for run in word_runs(encoded) {
        let run = run?;
        let dst = out.get_mut(to..to.checked_add(run.len())?)?;
        match run {
            WordRun::Fill { value, .. } => {
                for w in dst.chunks_exact_mut(4) {
                    w.copy_from_slice(&value);
                }
            }
            WordRun::Copy(b) => dst.copy_from_slice(b),
        }
        to += run.len();
    }
    (to == out.len()).then_some(())
}
