//! A set of counter slots: a bit per slot below a bound, a hashed set beyond it.
//! Slots are numbered from 0, one per rule and default, so a bound twice a module's
//! rules holds them all, and 100,000 slots cost 12.5 KiB and a step each (a hashed set
//! took 36 M instructions to insert them in the IR check, a binary search 17 M to ask
//! them in a re-apply's plan). Invariant: it answers as a hashed set of the same
//! slots does, whatever the bound; a slot far past it (one read from an older
//! manifest: 4 billion) costs one set entry, never a bitmap that large.

use std::collections::HashSet;

/// The slots inserted so far (see the module docs).
pub struct SlotSet {
    bits: Vec<u64>,
    beyond: HashSet<u32>,
}

impl SlotSet {
    /// An empty set with a bit per slot below `bound` (rounded up to a word).
    pub fn below(bound: usize) -> SlotSet {
        SlotSet {
            bits: vec![0; bound.div_ceil(64)],
            beyond: HashSet::new(),
        }
    }

    /// True when `slot` was not in the set before (and is now).
    pub fn insert(&mut self, slot: u32) -> bool {
        let i = slot as usize;
        let Some(word) = self.bits.get_mut(i / 64) else {
            return self.beyond.insert(slot);
        };
        let bit = 1u64 << (i % 64);
        let fresh = *word & bit == 0;
        *word |= bit;
        fresh
    }

    /// Whether `slot` is in the set.
    pub fn contains(&self, slot: u32) -> bool {
        let i = slot as usize;
        match self.bits.get(i / 64) {
            Some(word) => word & (1u64 << (i % 64)) != 0,
            None => self.beyond.contains(&slot),
        }
    }
}
