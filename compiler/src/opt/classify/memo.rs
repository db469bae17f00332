//! The trie builder's memo: each region's subtree by its key (a run of `u32` that
//! decides the subtree, `build::Builder::memo_key`), the keys held end to end in
//! chunks of one buffer size.
//!
//! Invariant: a key is found exactly when an equal key was inserted before; a key
//! written and then found (a region seen before) takes no room afterwards.

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use std::hash::BuildHasher;

use crate::ir::classifier::Child;

/// Words of one chunk of keys (256 KiB): the chunks are not grown, so a key is never
/// copied (one buffer grown by doubling copied 190 k instructions' worth at 1k), and
/// a chunk's pages are touched only as keys fill it.
const CHUNK: usize = 1 << 16;

/// Where a key is: its chunk, its start there and its length.
#[derive(Clone, Copy)]
pub(super) struct KeyAt {
    chunk: usize,
    start: usize,
    len: usize,
}

pub(super) struct Memo {
    /// Each key's hash ([`FixedState`]'s), where it is, and its subtree.
    table: HashTable<(u64, KeyAt, Child)>,
    chunks: Vec<Vec<u32>>,
}

impl Memo {
    /// An empty memo with room for `regions` keys in its table.
    pub(super) fn with_capacity(regions: usize) -> Memo {
        Memo {
            table: HashTable::with_capacity(regions),
            chunks: Vec::new(),
        }
    }

    /// Room for a key of `len` words after the others, zeroed: where it is, and the
    /// words to write it in.
    pub(super) fn new_key(&mut self, len: usize) -> (KeyAt, &mut [u32]) {
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= len);
        if !fits {
            self.chunks.push(Vec::with_capacity(CHUNK.max(len)));
        }
        let chunk = self.chunks.len() - 1;
        let words = &mut self.chunks[chunk];
        let start = words.len();
        words.resize(start + len, 0);
        (KeyAt { chunk, start, len }, &mut words[start..])
    }

    fn key(&self, at: KeyAt) -> &[u32] {
        &self.chunks[at.chunk][at.start..at.start + at.len]
    }

    /// The subtree of the key written last ([`Memo::new_key`]) if an equal key was
    /// inserted before (the key then takes no room), else `Err` with its hash for
    /// [`Memo::insert`].
    pub(super) fn find(&mut self, at: KeyAt) -> Result<Child, u64> {
        let key = self.key(at);
        let hash = FixedState::default().hash_one(key);
        let found = self.table.find(hash, |&(_, k, _)| self.key(k) == key);
        match found.map(|&(_, _, child)| child) {
            Some(child) => {
                self.chunks[at.chunk].truncate(at.start);
                Ok(child)
            }
            None => Err(hash),
        }
    }

    /// Keeps the key at `at` (of hash `hash`, from [`Memo::find`]) with its subtree.
    pub(super) fn insert(&mut self, hash: u64, at: KeyAt, child: Child) {
        // The table grows by the hashes it keeps, not the keys hashed again.
        self.table
            .insert_unique(hash, (hash, at, child), |&(h, _, _)| h);
    }
}

#[cfg(test)]
mod memo_tests {
    use super::{Child, KeyAt, Memo, CHUNK};

    fn written(memo: &mut Memo, words: &[u32]) -> KeyAt {
        let (at, key) = memo.new_key(words.len());
        key.copy_from_slice(words);
        at
    }

    fn kept(memo: &mut Memo, words: &[u32], child: Child) {
        let at = written(memo, words);
        let hash = memo.find(at).expect_err("a new key");
        memo.insert(hash, at, child);
    }

    fn words(memo: &Memo) -> usize {
        memo.chunks.iter().map(Vec::len).sum()
    }

    /// A key written again is found with its subtree and takes no room (the words
    /// held grow by new keys only), also one longer than a chunk and one after it.
    #[test]
    fn a_key_found_again_takes_no_room() {
        let mut memo = Memo::with_capacity(4);
        let long = vec![9; CHUNK + 1];
        kept(&mut memo, &[1, 2, 3], Child::Leaf(7));
        kept(&mut memo, &long, Child::Empty);
        kept(&mut memo, &[1, 2, 4], Child::Node(3));
        let held = words(&memo);
        assert_eq!(held, 6 + CHUNK + 1);
        for (key, child) in [
            (&[1, 2, 3][..], Child::Leaf(7)),
            (&long[..], Child::Empty),
            (&[1, 2, 4][..], Child::Node(3)),
        ] {
            let at = written(&mut memo, key);
            assert_eq!(memo.find(at), Ok(child));
            assert_eq!(words(&memo), held);
        }
        let shorter = written(&mut memo, &[1, 2]);
        assert!(memo.find(shorter).is_err());
    }
}
