//! Classifiers as data: decision trees over the boxes ("entries") of a run of rules,
//! one family per tree, which `opt::classify` builds and `bpf::classify` walks.
//!
//! A tree cuts the dimensions of one family ([`Dim::of`]): an inner node sends values
//! `<= threshold` of one dimension left and the rest right; a leaf lists entries in
//! rule order. Invariant (kept by the builder, relied on by the walk): for every packet
//! of a tree's family, the first entry (in rule order) of the tree whose box, TCP flags
//! and L4 requirement match it is in the leaf the walk reaches; so the lowest rule over
//! a family's trees is the first rule of the run that matches. How the nodes and
//! entries are laid out in array maps is the lowering's business (`bpf::classify`).

use std::{fmt, ops::Range};

use crate::syntax::ast::Family;

/// Most dimensions of any tree (IPv6).
pub const MAX_DIMS: usize = 11;

/// A field of the flow record that a tree cuts and checks, as an unsigned number.
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

    /// The largest value of this dimension.
    pub fn max(self) -> u32 {
        (((1u64) << self.bits()) - 1) as u32
    }

    /// The dimensions of a family's trees, in record order.
    pub fn of(family: Family) -> Vec<Dim> {
        match family {
            Family::V4 => vec![Dim::Src4, Dim::Dst4, Dim::Sport, Dim::Dport, Dim::Proto],
            Family::V6 => (0..4)
                .map(Dim::Src6)
                .chain((0..4).map(Dim::Dst6))
                .chain([Dim::Sport, Dim::Dport, Dim::Proto])
                .collect(),
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Values `<= threshold` of dimension `dim` go to `left`, larger ones to `right`.
    Inner {
        dim: usize,
        threshold: u32,
        left: u32,
        right: u32,
    },
    /// Entries `leaf_entries[start .. start + len]`, in rule order.
    Leaf { start: u32, len: u32 },
}

/// One decision tree over some of a run's entries of one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    pub family: Family,
    pub dims: Vec<Dim>,
    /// Node 0 is the root.
    pub nodes: Vec<Node>,
    /// This tree's entries, in rule order (the first has the tree's first rule).
    pub entries: Vec<Entry>,
    /// Indexes into `entries`, leaf by leaf.
    pub leaf_entries: Vec<u32>,
    /// Inner levels on the longest path (the walk needs `depth + 1` lookups).
    pub depth: usize,
    /// Most entries in one leaf.
    pub max_leaf: usize,
    /// Dimensions some entry does not cover whole (leaves check only these).
    pub checked_dims: Vec<usize>,
    pub checks_flags: bool,
    pub checks_l4: bool,
}

/// A run of rules decided by one lookup per family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classifier {
    /// Module-wide number; names the maps.
    pub id: u32,
    pub rules: Range<usize>,
    /// Up to four trees per family, IPv4 first, each family's ordered by first rule;
    /// a family without entries has none (its packets match none of the run's rules).
    pub trees: Vec<Tree>,
}

impl fmt::Display for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "classify#{} rules {}..{}:",
            self.id, self.rules.start, self.rules.end
        )?;
        if self.trees.is_empty() {
            f.write_str(" no entries")?;
        }
        for t in &self.trees {
            write!(
                f,
                " [{} from rule {}: {} entries, {} nodes, {} leaf refs, depth {}, leaf <= {}]",
                match t.family {
                    Family::V4 => "ip4",
                    Family::V6 => "ip6",
                },
                t.entries[0].rule,
                t.entries.len(),
                t.nodes.len(),
                t.leaf_entries.len(),
                t.depth,
                t.max_leaf
            )?;
        }
        Ok(())
    }
}
