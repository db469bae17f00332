//! Lowering of a [`Classifier`]: the byte-trie walks over one array map, and the
//! map's contents.
//!
//! Each classifier has one table map of two equal halves (array elements 0 and 1);
//! the program reads which half is live once per packet, from the module's
//! [`LIVE_MAP`] ([`emit_select`], right after the prologue), so a table update writes
//! the other half and then flips that one word: every packet sees the old tables or
//! the new ones, never a mix, across all classifiers of the module.
//!
//! The walk, for the packet's family: copy the family's dimensions from the flow
//! record into a scratch area as host-order `u32`s (the two words of an IPv6 address
//! half swapped, so that the half is one host-order `u64`), and the TCP flags and L4
//! bytes after them (the key: byte `k` of the key is scratch byte `k`, see
//! [`KeyByte::index`](crate::ir::classifier::KeyByte::index)); then per trie, starting from the root
//! reference in the half's header, one step per key byte at most: a node reference
//! names the key byte and the node; the child reference is word `byte` of the node's
//! 256. A leaf reference gives at most [`LEAF_MAX`] entry records, checked in order:
//! the first whose every (lo, hi) (an IPv6 address half's as one 64-bit range), TCP
//! flags and L4 requirement hold names the rule;
//! its counter slot and verdict come from the record, and the walk jumps to the shared
//! count-and-exit tail. A miss (empty leaf, no entry matching, a reference out of
//! range, a packet of another family) falls through to the next step.
//!
//! Layout of a half (little-endian `u32` words): a [`HEADER`]-byte header (word 0 a
//! format mark, word `1 + 2k` the root of trie `k`, word `2 + 2k` its first rule),
//! then 1 KiB nodes, then leaf records. References: bit 31 set is a leaf (bits 28..31 its entry count, bits
//! 0..28 the word offset of its first record; count 0 is the empty leaf), clear is a
//! node (bits 24..30 the key byte, bits 0..24 the node's number).
//!
//! Invariant: the code depends on the family, the trie groups, which dimensions and
//! conditions the entries check, the node reads unrolled per trie ([`steps`]: its
//! depth and [`STEP_SLACK`](walk::STEP_SLACK) more, or the installed code's on a re-apply when the trie
//! is no deeper) and the table capacity, never on the number of rules: every trie
//! gets that many node reads and [`LEAF_MAX`] entry checks, and every bound checked
//! is derived from the capacity. So tables of the same shape can replace each other in a live map
//! without new code.
//!
//! This file holds the layout's constants and sizes, shared by its leaves: `tables.rs`
//! writes a half's contents, `walk.rs` emits the code that reads them, `words.rs` is
//! the encoding of the contents in the object.

mod tables;
#[cfg(test)]
mod tests;
mod walk;
mod words;

use cranelift_entity::EntityRef as _;

use super::flow;
use crate::{
    ir::classifier::{Classifier, LEAF_MAX},
    ir::{Action, Program, SockId},
};

pub(crate) use tables::tables;
pub use walk::steps;
pub(crate) use walk::{emit, emit_select};
pub use words::{decode_words, word_runs, WordRun};

/// Scratch area for the key: 16 slots of 4 bytes below the flow record, all written,
/// so that a key byte index masked to `0..=63` reads initialized stack.
pub(crate) const DIMS: i16 = flow::FLOW - 64;

/// The map that says which half of every table is live (element 0, `0` or `1`).
pub const LIVE_MAP: &str = "tables_live";

/// Bytes before the first node of a half.
pub(crate) const HEADER: usize = 64;
/// Bytes of a node: one `u32` reference per byte value.
pub(crate) const NODE_SIZE: usize = 1024;
/// Format mark in word 0 of a half ("sk" 1).
const FORMAT: u32 = 0x736b_0001;
/// Most tries per classifier: three groups, two families.
pub(crate) const MAX_TRIES: usize = 6;
const _: () = assert!(4 * (1 + 2 * MAX_TRIES) <= HEADER);

/// Byte offset in a half of trie `k`'s root reference (its first rule follows).
fn root_at(k: usize) -> usize {
    4 * (1 + 2 * k)
}
const _: () = assert!(LEAF_MAX < 8);

const LEAF_BIT: u32 = 1 << 31;
/// The largest table (one half) whose leaf records a reference can reach: a leaf
/// reference holds the records' offset in 28 bits of 4-byte words. A larger table is
/// refused before lowering (`sockc::table-limit`), never encoded with wrapped offsets.
pub(crate) const MAX_TABLE_BYTES: usize = 4 << 28;

/// The refusal of a classifier whose table is over [`MAX_TABLE_BYTES`], if it is.
pub(crate) fn table_limit(p: &Program, c: &Classifier) -> Option<crate::diag::Diagnostic> {
    let size = table_size(c);
    if size <= MAX_TABLE_BYTES {
        return None;
    }
    let (first, last) = (&p.rules[c.rules.start], &p.rules[c.rules.end - 1]);
    Some(
        crate::diag::Diagnostic::new(
            crate::diag::Code::TableLimit,
            format!(
                "the classifier of lines {}-{} needs a table of {size} bytes, more than \
                 the {MAX_TABLE_BYTES} its references can reach",
                first.line, last.line
            ),
        )
        .label(first.span, "its first rule")
        .help(
            "split the rules between other rules, or use sets with fewer elements and \
             fewer port ranges in them",
        ),
    )
}

/// Map name of a classifier's tables.
pub(crate) fn map_name(c: &Classifier) -> String {
    format!("c{}_tables", c.id)
}

/// Stack slots of the best match so far when a family has several tries: rule index
/// (`u32::MAX` for none), counter slot, verdict. Inside the scratch area, past the
/// largest family's dimensions.
const BEST_RULE: i16 = DIMS + 44;
const BEST_COUNTER: i16 = DIMS + 48;
const BEST_VERDICT: i16 = DIMS + 52;

/// Bytes of an entry record of a family with `dims` dimensions: (lo, hi) per
/// dimension, flags mask/value, L4 byte, pad, counter slot, verdict, rule index (the
/// order between tries).
pub(crate) const fn record_size(dims: usize) -> usize {
    8 * dims + 16
}

/// Offset of the TCP flags mask in a record (value, then L4 byte).
fn flags_offset(dims: usize) -> usize {
    8 * dims
}

/// Offset of the counter slot in a record (the verdict, then the rule follow it).
fn counter_offset(dims: usize) -> usize {
    8 * dims + 4
}

/// Bytes one half of a classifier's table takes before rounding up.
pub(crate) fn table_size(c: &Classifier) -> usize {
    let nodes: usize = c.tries.iter().map(|t| t.nodes.len()).sum();
    let records: usize = c
        .tries
        .iter()
        .map(|t| t.leaves.total() * record_size(t.dims.len()))
        .sum();
    HEADER + nodes * NODE_SIZE + records
}

/// The size a half gets for `used` bytes: an eighth more (so that tables of a slightly
/// changed rule file still fit), in whole pages.
pub(crate) fn table_capacity(used: usize) -> usize {
    (used + used / 8 + 4096).next_multiple_of(4096)
}

/// The verdict word of a record whose rule redirects to a socket (sk_lookup): this
/// bit with the socket's index in the module. No hook's verdict has it, and it stays
/// positive when sign-extended, so the walk hands it on like a verdict and the
/// program's dispatch (`lower::rules`) sends it to that socket's redirect, which sets
/// the real verdict.
pub(crate) const REDIRECT_MARK: u32 = 0x4000_0000;

/// [`REDIRECT_MARK`] for socket `sock`.
pub(crate) fn redirect_mark(sock: SockId) -> u32 {
    REDIRECT_MARK | sock.index() as u32
}

/// The sockets the rules of `c` redirect to, in first-use order (none outside
/// sk_lookup).
pub(crate) fn redirect_targets(prog: &Program, c: &Classifier) -> Vec<SockId> {
    let mut out = Vec::new();
    for r in &prog.rules[c.rules.clone()] {
        if let Action::Redirect(Some(s)) = r.action {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}
