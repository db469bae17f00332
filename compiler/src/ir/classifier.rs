//! Classifiers as data: byte-cut tries over the boxes ("entries") of a run of rules,
//! which `opt::classify` builds and `bpf::classify` walks.
//!
//! Every dimension of a family ([`Dim::of`]) is a number of 1, 2 or 4 bytes; the
//! classifier's key is those bytes, plus the packet's TCP flags and whether its L4
//! header is complete ([`KeyByte`]). An inner [`Node`] reads one byte of the key (for
//! a dimension, its most significant byte not read yet on the way down) and has one
//! child per byte value, given as runs of equal children; a [`Leaf`](Child::Leaf)
//! lists at most a few entries in rule order, each keeping its full box. A [`Trie`]
//! is a DAG: equal subtrees are one node. Invariant (kept by the builder, relied on
//! by the walk): for every packet of a trie's family, the first entry (in rule order)
//! of the trie whose box, TCP flags and L4 requirement match it is in the leaf the
//! walk reaches; so the lowest rule over a family's tries is the first rule of the run
//! that matches. How nodes and leaves are laid out in maps is the lowering's business
//! (`bpf::classify`).

use std::{fmt, ops::Range};

use crate::syntax::ast::Family;

/// Most dimensions of any trie (IPv6).
pub(crate) const MAX_DIMS: usize = 11;

/// Most entries in one leaf; the walk unrolls this many checks per trie.
pub const LEAF_MAX: usize = 4;

/// A field of the flow record that a trie cuts and checks, as an unsigned number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Src4,
    Dst4,
    /// 32-bit word `0..4` of the IPv6 source, most significant first.
    Src6(u8),
    Dst6(u8),
    Sport,
    Dport,
    Proto,
}

impl Dim {
    pub fn bits(self) -> u32 {
        match self {
            Dim::Src4 | Dim::Dst4 | Dim::Src6(_) | Dim::Dst6(_) => 32,
            Dim::Sport | Dim::Dport => 16,
            Dim::Proto => 8,
        }
    }

    /// Bytes of the key this dimension takes.
    pub fn bytes(self) -> u32 {
        self.bits() / 8
    }

    /// The largest value of this dimension.
    pub fn max(self) -> u32 {
        (((1u64) << self.bits()) - 1) as u32
    }

    /// The dimensions of an IPv4 trie, in record order.
    pub const V4: [Dim; 5] = [Dim::Src4, Dim::Dst4, Dim::Sport, Dim::Dport, Dim::Proto];

    /// The dimensions of an IPv6 trie, in record order: each address as four words,
    /// most significant first.
    pub const V6: [Dim; 11] = [
        Dim::Src6(0),
        Dim::Src6(1),
        Dim::Src6(2),
        Dim::Src6(3),
        Dim::Dst6(0),
        Dim::Dst6(1),
        Dim::Dst6(2),
        Dim::Dst6(3),
        Dim::Sport,
        Dim::Dport,
        Dim::Proto,
    ];

    /// The dimensions of a family's tries, in record order ([`Dim::V4`], [`Dim::V6`]).
    pub fn of(family: Family) -> Vec<Dim> {
        match family {
            Family::V4 => Dim::V4.to_vec(),
            Family::V6 => Dim::V6.to_vec(),
        }
    }

    /// The 32-bit word of the key that holds dimension `d` of a family's tries: its
    /// place in [`Dim::of`], except that the two words of each IPv6 address half
    /// (words 0-1 and 2-3 of an address) trade places, so that the half is one
    /// little-endian 64-bit word of the key, its first word the most significant: a
    /// leaf checks the half with one 64-bit comparison ([`Entry::halves_are_ranges`]).
    pub fn slot(family: Family, d: usize) -> usize {
        match family {
            Family::V6 if d < 8 => d ^ 1,
            _ => d,
        }
    }

    /// Bytes of a family's key: the most inner nodes on any path of its tries.
    pub(crate) fn key_bytes(family: Family) -> usize {
        Dim::of(family).iter().map(|d| d.bytes() as usize).sum()
    }
}

/// Which byte of the key a node reads: byte `shift / 8` (counted from the least
/// significant) of dimension `dim`, the packet's TCP flags, or whether its L4 header
/// is complete (0 or 1). As a number ([`KeyByte::index`]) it is the byte's place in
/// the key as the walk lays it out: the dimensions as little-endian 32-bit words, one
/// per dimension ([`Dim::slot`]), then the flags at [`FLAGS_BYTE`] and the L4 byte at
/// [`L4_BYTE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyByte {
    Dim { dim: u8, shift: u8 },
    Flags,
    L4,
}

/// Key byte index of the TCP flags (past the largest family's dimensions and the
/// walk's own slots).
pub(crate) const FLAGS_BYTE: u8 = 56;
/// Key byte index of the L4 byte.
pub(crate) const L4_BYTE: u8 = 57;

impl KeyByte {
    pub fn index(self, family: Family) -> u8 {
        match self {
            KeyByte::Dim { dim, shift } => 4 * Dim::slot(family, dim.into()) as u8 + shift / 8,
            KeyByte::Flags => FLAGS_BYTE,
            KeyByte::L4 => L4_BYTE,
        }
    }
}

/// One box of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Index of the rule in the program's `rules`.
    pub rule: u32,
    pub lo: [u32; MAX_DIMS],
    pub hi: [u32; MAX_DIMS],
    /// `flags & mask == value`; (0, 0) tests nothing.
    pub tcp_flags: (u8, u8),
    /// The rule needs the L4 header (ports, flags).
    pub needs_l4: bool,
}

impl Entry {
    /// True when each 64-bit half of an IPv6 entry's addresses (dimensions `2k` and
    /// `2k + 1`, `k < 4`) holds exactly the values of one 64-bit range, the first word
    /// most significant: the first word is one value, or the second is whole. A
    /// prefix's words always are (the words before its length fixed, the word it
    /// ends in a range, the rest whole), and every entry is built from prefixes.
    pub fn halves_are_ranges(&self) -> bool {
        (0..4).all(|k| {
            let (first, second) = (2 * k, 2 * k + 1);
            self.lo[first] == self.hi[first]
                || (self.lo[second] == 0 && self.hi[second] == u32::MAX)
        })
    }
}

/// A trie's entries, each keeping only its family's dimensions ([`Dim::of`]): an IPv4
/// entry's bounds take 40 bytes where an [`Entry`] has room for eleven dimensions (96
/// bytes in all), so the tries a large file holds until its tables are written are
/// half the size (100k rules: 9.5 → 4.7 MB). The entries are dealt into their groups
/// in this form and the trie builder reads it ([`Entries::bounds`]): no list of
/// [`Entry`] is held while a trie is built. Read back as [`Entry`] values.
/// Invariant: `bounds` holds `2 * dims` words per entry, its lows then its highs;
/// `rules` and `tests` one item per entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entries {
    dims: usize,
    rules: Vec<u32>,
    bounds: Vec<u32>,
    /// TCP flags (mask, value) and whether it needs the L4 header.
    tests: Vec<((u8, u8), bool)>,
}

impl Entries {
    /// `entries` (of a family of `dims` dimensions), in the same order.
    pub fn of(entries: &[Entry], dims: usize) -> Entries {
        let mut out = Entries::with_room(dims, entries.len());
        // The families' widths as constants, so that each copy of bounds has a length
        // the compiler knows: at one known only when run, each was a `memcpy` call,
        // two per entry (146k calls, 1.5 M instructions of acl1_100000's largest trie).
        match dims {
            5 => out.push_all(entries, 5),
            11 => out.push_all(entries, 11),
            _ => out.push_all(entries, dims),
        }
        out
    }

    /// Appends `entries`, of `dims` dimensions.
    #[inline(always)]
    fn push_all(&mut self, entries: &[Entry], dims: usize) {
        for e in entries {
            self.push_of(e, dims);
        }
    }

    /// Appends `e`, of `dims` dimensions.
    #[inline(always)]
    fn push_of(&mut self, e: &Entry, dims: usize) {
        self.rules.push(e.rule);
        self.bounds.extend_from_slice(&e.lo[..dims]);
        self.bounds.extend_from_slice(&e.hi[..dims]);
        self.tests.push((e.tcp_flags, e.needs_l4));
    }

    /// None yet, of a family of `dims` dimensions, with room for `n` (only what is
    /// written is touched).
    pub fn with_room(dims: usize, n: usize) -> Entries {
        Entries {
            dims,
            rules: Vec::with_capacity(n),
            bounds: Vec::with_capacity(2 * dims * n),
            tests: Vec::with_capacity(n),
        }
    }

    /// Appends `e` (of this family: its dimensions past the family's are 0).
    #[inline]
    pub fn push(&mut self, e: &Entry) {
        // At the families' widths as constants, as in [`Entries::of`].
        match self.dims {
            5 => self.push_of(e, 5),
            11 => self.push_of(e, 11),
            dims => self.push_of(e, dims),
        }
    }

    /// Moves `other`'s entries (of the same family) after these.
    pub fn append(&mut self, other: &mut Entries) {
        debug_assert_eq!(self.dims, other.dims, "entries of one family");
        self.rules.append(&mut other.rules);
        self.bounds.append(&mut other.bounds);
        self.tests.append(&mut other.tests);
    }

    /// Dimensions of each entry (of its family's tries).
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Entry `i`'s bounds, read in place, of a table of `N` dimensions ([`Entries::dims`];
    /// the trie builder checks it once): the width known when compiled, so that a read
    /// is one range check and its loops over the dimensions have a known length (read
    /// at a width known only when run, the row's multiply and split and their checks
    /// were 0.9 M of the 1k re-apply's 25.8 M instructions).
    #[inline(always)]
    pub fn bounds<const N: usize>(&self, i: usize) -> Bounds<'_, N> {
        debug_assert_eq!(
            self.dims, N,
            "a table of {} dimensions read at {N}",
            self.dims
        );
        let (lo, hi) = self.bounds[2 * N * i..2 * N * (i + 1)].split_at(N);
        // The row is 2N words long: both halves convert.
        match (lo.try_into(), hi.try_into()) {
            (Ok(lo), Ok(hi)) => Bounds { lo, hi },
            _ => unreachable!("a row of 2N words splits into two of N"),
        }
    }

    /// Entry `i`'s TCP flags test and whether it needs the L4 header, read at once.
    #[inline(always)]
    pub fn tests(&self, i: usize) -> ((u8, u8), bool) {
        self.tests[i]
    }

    /// Entry `i`'s TCP flags test, `flags & mask == value` as (mask, value).
    #[inline(always)]
    pub fn tcp_flags(&self, i: usize) -> (u8, u8) {
        self.tests[i].0
    }

    /// Whether entry `i` needs the L4 header.
    #[inline(always)]
    pub fn needs_l4(&self, i: usize) -> bool {
        self.tests[i].1
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule of entry `i`.
    pub fn rule(&self, i: usize) -> u32 {
        self.rules[i]
    }

    /// Entry `i` (the dimensions past its family's 0).
    pub fn get(&self, i: usize) -> Entry {
        let (nd, b) = (
            self.dims,
            &self.bounds[2 * self.dims * i..2 * self.dims * (i + 1)],
        );
        let mut e = Entry {
            rule: self.rules[i],
            lo: [0; MAX_DIMS],
            hi: [0; MAX_DIMS],
            tcp_flags: self.tests[i].0,
            needs_l4: self.tests[i].1,
        };
        e.lo[..nd].copy_from_slice(&b[..nd]);
        e.hi[..nd].copy_from_slice(&b[nd..]);
        e
    }

    /// Every entry, in order.
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// One entry's bounds in [`Entries`]: per dimension of its family (`N` of them), the
/// lowest and the highest value.
#[derive(Clone, Copy)]
pub struct Bounds<'a, const N: usize> {
    pub lo: &'a [u32; N],
    pub hi: &'a [u32; N],
}

/// Where a byte value leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Child {
    /// No entry of the trie can match: the walk misses.
    Empty,
    Node(u32),
    Leaf(u32),
}

/// An inner node: reads `byte` of the key; byte value `v` leads to the child of the
/// first run whose last value is `>= v` (the last run ends at 255).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub byte: KeyByte,
    /// (last byte value, child), increasing; at least two runs with different children.
    pub runs: Vec<(u8, Child)>,
}

/// A run as one word each (value, child's kind and id), where the derived hash wrote
/// its byte, the child's kind and its id apart: the trie builder hashes every node it
/// makes (`opt::classify::build`: `Builder::node`, mostly hashing, was 8% of
/// acl1_1000's trie build). Equal nodes hash alike, as `Eq` needs.
impl std::hash::Hash for Node {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.byte.hash(state);
        state.write_usize(self.runs.len());
        for &(last, child) in &self.runs {
            let (kind, id) = match child {
                Child::Empty => (0u64, 0u32),
                Child::Node(n) => (1, n),
                Child::Leaf(l) => (2, l),
            };
            state.write_u64((u64::from(last) << 40) | (kind << 32) | u64::from(id));
        }
    }
}

/// Which entries a trie holds: those whose most specific address is the source, the
/// destination, or neither (both addresses wide). Kept apart because cutting one
/// dimension copies every entry that is wide in it into every part, so entries
/// specific in different dimensions multiply each other in one trie.
/// A small run, and a counting classifier, has one trie per family ([`Group::All`]);
/// a counting classifier's entries never match one packet together, which the
/// builder checks within a trie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    BySrc,
    ByDst,
    Wide,
    All,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::BySrc => "src",
            Group::ByDst => "dst",
            Group::Wide => "wide",
            Group::All => "all",
        }
    }
}

/// One trie over some of a run's entries of one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trie {
    pub family: Family,
    pub group: Group,
    pub dims: Vec<Dim>,
    /// This trie's entries, in rule order (the first has the trie's first rule).
    pub entries: Entries,
    pub root: Child,
    pub nodes: Vec<Node>,
    /// Indexes into `entries`, in rule order; each leaf at most [`LEAF_MAX`] long.
    pub leaves: Leaves,
    /// Inner nodes on the longest path (the walk reads at most this many bytes).
    pub depth: usize,
    /// Most entries in one leaf.
    pub max_leaf: usize,
    /// Dimensions some entry does not cover whole (leaves check only these).
    pub checked_dims: Vec<usize>,
    pub checks_flags: bool,
    pub checks_l4: bool,
}

impl Trie {
    /// Bytes of this trie's key: its family's dimensions, plus the TCP flags and the
    /// L4 byte when some entry tests them (the most nodes on any path).
    pub(crate) fn key_bytes(&self) -> usize {
        Dim::key_bytes(self.family) + usize::from(self.checks_flags) + usize::from(self.checks_l4)
    }
}

/// A trie's leaves, leaf `i` a list of indexes into its entries: stored end to end in
/// one list, not one allocation each (a trie of 100k rules has some 80k leaves of one
/// to four entries). Invariant: `ends` increases, its last is `ids.len()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leaves {
    ids: Vec<u32>,
    /// Where each leaf ends in `ids` (it starts where the one before ends).
    ends: Vec<u32>,
}

impl Leaves {
    /// Room for `leaves` leaves of `ids` indexes in all.
    pub fn with_capacity(leaves: usize, ids: usize) -> Leaves {
        Leaves {
            ids: Vec::with_capacity(ids),
            ends: Vec::with_capacity(leaves),
        }
    }

    /// Adds a leaf after the others.
    pub fn push(&mut self, leaf: &[u32]) {
        // An index at a time: a leaf is at most a few, where `extend_from_slice`
        // called `memcpy` per leaf (206k calls, 2.3 M instructions at acl1_100000).
        for &id in leaf {
            self.ids.push(id);
        }
        self.ends.push(self.ids.len() as u32);
    }

    /// How many leaves.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The entries of all leaves together (each entry counted once per leaf it is in).
    pub fn total(&self) -> usize {
        self.ids.len()
    }

    /// The entries of every leaf, leaf after leaf.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Leaf `i`.
    pub fn get(&self, i: usize) -> &[u32] {
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        &self.ids[start..self.ends[i] as usize]
    }

    /// Every leaf, in order.
    pub fn iter(&self) -> LeafIter<'_> {
        LeafIter {
            leaves: self,
            next: 0,
        }
    }
}

/// The leaves of a [`Leaves`], in order.
pub struct LeafIter<'a> {
    leaves: &'a Leaves,
    next: usize,
}

impl<'a> Iterator for LeafIter<'a> {
    type Item = &'a [u32];

    fn next(&mut self) -> Option<&'a [u32]> {
        let i = self.next;
        (i < self.leaves.len()).then(|| {
            self.next += 1;
            self.leaves.get(i)
        })
    }
}

impl<'a> IntoIterator for &'a Leaves {
    type Item = &'a [u32];
    type IntoIter = LeafIter<'a>;

    fn into_iter(self) -> LeafIter<'a> {
        self.iter()
    }
}

/// A run of rules decided by one walk per trie of the packet's family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classifier {
    /// Module-wide number; names the table map.
    pub id: u32,
    pub rules: Range<usize>,
    /// A run of `count` rules no two of which match one packet (one trie per family):
    /// the walk counts the rule that matches, if any, and the program goes on.
    /// Otherwise a run of rules that end the program: the first that matches decides.
    pub counts: bool,
    /// At most one trie per family and [`Group`], IPv4 first, each family's ordered by
    /// first rule; a family without entries has none (its packets match none of the
    /// run's rules).
    pub tries: Vec<Trie>,
}

impl fmt::Display for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "classify#{} rules {}..{}{}:",
            self.id,
            self.rules.start,
            self.rules.end,
            if self.counts { " (count)" } else { "" }
        )?;
        if self.tries.is_empty() {
            f.write_str(" no entries")?;
        }
        for t in &self.tries {
            write!(
                f,
                " [{} {} from rule {}: {} entries, {} nodes, {} leaves, depth {}, leaf <= {}]",
                match t.family {
                    Family::V4 => "ip4",
                    Family::V6 => "ip6",
                },
                t.group.name(),
                t.entries.rule(0),
                t.entries.len(),
                t.nodes.len(),
                t.leaves.len(),
                t.depth,
                t.max_leaf
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Entries, Entry, Leaves, MAX_DIMS};

    /// An entry of `dims` dimensions whose bounds and tests all differ by `k`.
    fn entry(k: u32, dims: usize) -> Entry {
        let mut e = Entry {
            rule: k,
            lo: [0; MAX_DIMS],
            hi: [0; MAX_DIMS],
            tcp_flags: (k as u8, 1 + k as u8),
            needs_l4: k % 2 == 1,
        };
        for d in 0..dims {
            e.lo[d] = 100 * k + d as u32;
            e.hi[d] = 100 * k + 50 + d as u32;
        }
        e
    }

    /// Entries pushed one by one and appended in two parts are the table made of the
    /// whole list, and each reads back in place (its bounds, tests) as it was: both
    /// families' widths and another.
    #[test]
    fn entries_pushed_and_appended_read_back_in_place() {
        read_back_in_place::<5>();
        read_back_in_place::<11>();
        read_back_in_place::<3>();
    }

    /// [`entries_pushed_and_appended_read_back_in_place`] at `N` dimensions.
    fn read_back_in_place<const N: usize>() {
        {
            let dims = N;
            let all: Vec<Entry> = (0..7).map(|k| entry(k, dims)).collect();
            let (mut first, mut second) =
                (Entries::with_room(dims, 7), Entries::with_room(dims, 0));
            for e in &all[..3] {
                first.push(e);
            }
            for e in &all[3..] {
                second.push(e);
            }
            first.append(&mut second);
            assert!(second.is_empty());
            assert_eq!(first, Entries::of(&all, dims), "{dims} dimensions");
            for (i, e) in all.iter().enumerate() {
                let x = first.bounds::<N>(i);
                assert_eq!(
                    (&x.lo[..], &x.hi[..]),
                    (&e.lo[..dims], &e.hi[..dims]),
                    "entry {i}"
                );
                assert_eq!(first.tcp_flags(i), e.tcp_flags);
                assert_eq!(first.needs_l4(i), e.needs_l4);
                assert_eq!(&first.get(i), e);
            }
        }
    }

    /// Leaves stored end to end read back as pushed, in order.
    #[test]
    fn leaves_read_back_as_pushed() {
        let pushed: [&[u32]; 4] = [&[0, 3], &[1], &[2, 4, 5, 7], &[6]];
        let mut leaves = Leaves::with_capacity(1, 1);
        for leaf in pushed {
            leaves.push(leaf);
        }
        assert_eq!(leaves.len(), 4);
        assert_eq!(leaves.total(), 8);
        assert_eq!(leaves.get(2), &[2, 4, 5, 7]);
        assert_eq!(leaves.iter().collect::<Vec<_>>(), pushed);
        assert_eq!((&leaves).into_iter().count(), 4);
        assert!(Leaves::default().is_empty() && Leaves::default().iter().next().is_none());
    }
}
