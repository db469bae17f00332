//! The byte-cut trie builder: entries in, a [`Trie`] (a DAG of 256-way nodes over the
//! key's bytes, with leaves of at most [`LEAF_MAX`] entries) out.
//!
//! A node stands for a region of the key space: the bytes read on the way down are
//! fixed, the rest free. Building a region: drop every entry after the first one that
//! matches all of it (nothing after it can be first), drop entries hidden behind an
//! earlier entry with no other condition there; if at most [`LEAF_MAX`] are left they
//! are a leaf, else read one more byte — of the dimension whose next byte the fewest
//! entries cover whole (ties: the most distinct boundaries; a byte that only tells
//! the entries with a condition from those without, like a word every IPv6 prefix of
//! the list fixes to the same value, last), always a dimension's most
//! significant byte not read yet, so a region is a box; or the TCP flags or the L4
//! byte, which decide the entries' other conditions — and build one child per group
//! of byte values that no entry tells apart. Since every condition of an entry is a
//! key byte, entries that no byte tells apart are equal there and the first hides the
//! rest: every list shrinks to a leaf. Two regions with the
//! same entries and the same partial ranges in the dimensions half read build the same
//! subtree, so each is built once (memo) and equal nodes are one node (hash-consing):
//! the trie is a DAG, which is what keeps entries that are wide in the byte read from
//! being copied into 256 separate subtrees.
//!
//! For a run of `count` rules ([`Mode::Disjoint`]) nothing is dropped (every entry
//! that matches counts), and the build fails ([`BuildError::Overlap`]) as soon as two
//! entries of one region can match one packet: a leaf whose entries meet, or a region
//! that one entry covers while others are in it. What builds holds entries no two of
//! which match a packet, so the leaf a packet reaches holds the only one that does.
//!
//! A large trie is built in two halves of its root's children, the second on a thread
//! beside by a builder of its own, whose nodes and leaves are then taken in as one
//! builder would have numbered them ([`in_halves`]): the trie is the same, ids and all.
//!
//! Invariant (what the walk relies on, see `ir::classifier`): for every packet, the
//! first entry of the trie that matches it is in the leaf its bytes lead to, and a
//! path reads each key byte at most once (so at most [`Trie::key_bytes`] nodes).

use std::collections::{hash_map::Entry as Slot, HashMap};

use foldhash::fast::FixedState;
use smallvec::SmallVec;

use super::{
    groups::{clipped, Groups, Region},
    memo::{KeyAt, Memo},
    BuildError, LEAF_MAX,
};
use crate::{
    ir::classifier::{Child, Dim, Entries, Group, KeyByte, Leaves, Node, Trie, MAX_DIMS},
    syntax::ast::Family,
};

/// Lists at most this long are searched for entries hidden behind earlier ones (a
/// search of every pair: at 64 it was a quarter of the build's instructions for
/// acl1_10000, at 16 the ClassBench tries come out the same within a leaf or two).
const PRUNE_MAX: usize = 16;

/// The maps here are only looked up (the nodes and leaves they hold are put in id
/// order at the end), so their hasher changes nothing built. foldhash's fixed state
/// hashes a memo key (a run of `u32`) 16 bytes at a time, where the FxHash this
/// module had read 8 with a copy each.
type FastMap<K, V> = HashMap<K, V, FixedState>;

/// What [`Builder::choose_byte`] learns of one dimension's next byte from a list:
/// the entries covering the region whole in it; the range of the first entry that
/// does not, and whether every other such entry has the same (then this dimension
/// tells no entries apart, it only separates the values where the wide entries alone
/// are left, like the fixed leading words of IPv6 prefixes such as 2001:db8::/32:
/// reading it would not bring a packet that can match nearer a leaf, so it is read
/// only when nothing else tells entries apart; leaves check it anyway).
#[derive(Clone, Copy)]
struct DimStats {
    wide: usize,
    same: Option<(u32, u32)>,
    alike: bool,
}

impl Default for DimStats {
    fn default() -> DimStats {
        DimStats {
            wide: 0,
            same: None,
            alike: true,
        }
    }
}

impl DimStats {
    /// Adds an entry whose range in the region (`whole`) is `a..=b`.
    #[inline(always)]
    fn add(&mut self, a: u32, b: u32, whole: (u32, u32)) {
        if (a, b) == whole {
            self.wide += 1;
            return;
        }
        self.alike &= *self.same.get_or_insert((a, b)) == (a, b);
    }
}

/// What a node can read next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Axis {
    /// The byte at `shift` of dimension `d`.
    Dim(usize, u32),
    Flags,
    L4,
}

/// What a trie finds for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// The first entry that matches (rules that end the program).
    First,
    /// The one entry that matches, the entries being pairwise disjoint (`count`
    /// rules).
    Disjoint,
}

/// A builder of a family's trie of `N` dimensions ([`Dim::V4`], [`Dim::V6`]): its
/// entries' rows and its loops over the dimensions have a length known when compiled.
struct Builder<'a, const N: usize> {
    /// Read in place, in the trie's own form: the entries' 96-byte [`Entry`] list
    /// (`ir::classifier::Entry`) held through the build was, at 100k rules, 9.5 MB of
    /// the compile's peak beside the 4.7 MB of this table made at its end.
    entries: &'a Entries,
    mode: Mode,
    dims: &'a [Dim; N],
    /// Each region's subtree by its [`Builder::memo_key`] (the keys in chunks: a
    /// `Vec` per key was 488 blocks of 112 KB at 1k).
    memo: Memo,
    /// Each node's depth, by id: a node's id is its index here.
    node_depth: Vec<u8>,
    node_ids: FastMap<Node, u32>,
    /// Each distinct leaf list and its id (ids count up from 0).
    leaf_ids: FastMap<LeafKey, u32>,
    work: usize,
    budget: usize,
    /// [`Builder::split_dim`]'s buffer of each entry's intervals (kept between splits:
    /// a list per split was an allocation each).
    spans: Vec<(u32, u32)>,
    /// Groups whose children are built, their buffers kept for the next split
    /// ([`Builder::groups`]).
    spares: Vec<Groups>,
}

/// Builds the trie of `entries` (one family, in rule order, not empty), which it
/// keeps. `budget` bounds the build's work (entry visits over all regions built).
pub(super) fn build_trie(
    family: Family,
    group: Group,
    entries: Entries,
    mode: Mode,
    budget: usize,
) -> Result<Trie, BuildError> {
    build_trie_halving(family, group, entries, mode, budget, HALVES_MIN).map(|(t, _)| t)
}

/// [`build_trie`], a root list of at least `halves_min` entries built in halves
/// ([`in_halves`]); also whether it was.
pub(super) fn build_trie_halving(
    family: Family,
    group: Group,
    entries: Entries,
    mode: Mode,
    budget: usize,
    halves_min: usize,
) -> Result<(Trie, bool), BuildError> {
    // Dispatched on the family's width once, not on each entry read.
    match family {
        Family::V4 => built(family, group, entries, mode, (budget, halves_min), &Dim::V4),
        Family::V6 => built(family, group, entries, mode, (budget, halves_min), &Dim::V6),
    }
}

/// [`build_trie_halving`] at the family's width, `N` dimensions `dims`.
fn built<const N: usize>(
    family: Family,
    group: Group,
    entries: Entries,
    mode: Mode,
    (budget, halves_min): (usize, usize),
    dims: &[Dim; N],
) -> Result<(Trie, bool), BuildError> {
    assert_eq!(entries.dims(), N, "a trie's entries of its family's width");
    let mut region = Region {
        lo: [0; MAX_DIMS],
        hi: [0; MAX_DIMS],
        used: [0; MAX_DIMS],
        flags: false,
        l4: false,
    };
    for (d, dim) in dims.iter().enumerate() {
        region.hi[d] = dim.max();
    }
    let all: Vec<u32> = (0..entries.len() as u32).collect();
    let halves = in_halves(&entries, mode, dims, budget, halves_min, &region, &all);
    let in_halves = halves.is_some();
    let (b, root, later, checks) = match halves {
        Some(built) => built,
        None => {
            let mut b = Builder::new(&entries, mode, dims, budget);
            let root = b.build(&region, &all)?;
            (b, root, Later::default(), Checks::of(&entries, dims))
        }
    };
    let depth = match root {
        Child::Node(n) => b.node_depth[n as usize].into(),
        _ => 0,
    };
    let nodes = by_id(b.node_ids, later.nodes);
    let leaves = leaves_by_id(b.leaf_ids, &later.leaves);
    let max_leaf = leaves.iter().map(<[u32]>::len).max().unwrap_or(0);
    let trie = Trie {
        family,
        group,
        checked_dims: checks.dims,
        checks_flags: checks.flags,
        checks_l4: checks.l4,
        entries,
        dims: dims.to_vec(),
        root,
        nodes,
        leaves,
        depth,
        max_leaf,
    };
    Ok((trie, in_halves))
}

/// What a trie's leaves check: the dimensions some entry does not cover whole, and
/// whether some entry tests the TCP flags or needs the L4 header.
struct Checks {
    dims: Vec<usize>,
    flags: bool,
    l4: bool,
}

impl Checks {
    fn of<const N: usize>(entries: &Entries, dims: &[Dim; N]) -> Checks {
        let n = entries.len();
        Checks {
            dims: (0..dims.len())
                .filter(|&d| {
                    (0..n).any(|i| {
                        let x = entries.bounds::<N>(i);
                        x.lo[d] != 0 || x.hi[d] != dims[d].max()
                    })
                })
                .collect(),
            flags: (0..n).any(|i| entries.tcp_flags(i).0 != 0),
            l4: (0..n).any(|i| entries.needs_l4(i)),
        }
    }
}

/// Lists at least this long at the root are built in two halves, the second on a
/// thread beside ([`in_halves`]); below, the thread costs more than it saves (and a
/// thread's heap is about a MiB of a 10k-rule apply's peak RSS).
const HALVES_MIN: usize = 16_384;

/// [`HALVES_MIN`] of a trie built while no other trie is (a family's one trie of a
/// short run, `classify::build_tries`): the other core is idle then, and a thread
/// (about 0.1 ms of CPU: its start and its heap's first pages) takes 3.6 M of the 8.1
/// M instructions of acl1_1000's trie off the compile's critical path (the 1k
/// re-apply's time until output 4.65 -> 4.4 ms, docs/benchmarks.md, "The 1k re-apply,
/// eighth pass"). Where other tries are built beside, halving their largest gained
/// nothing.
pub(super) const ALONE_HALVES_MIN: usize = 512;

/// Halves of a trie of at most this many entries are built on the process's worker
/// (`beside::join`: no thread started, the 1k re-apply's trie); a larger trie's
/// second half on a thread of its own, whose heap (the memo, the builder's maps:
/// megabytes at 100k) goes back when it ends, where the worker's would keep it (with
/// every half on the worker, the 100k re-apply peaked 2.4 MiB higher,
/// docs/benchmarks.md, "The 1k re-apply, thirteenth pass").
const ON_WORKER_MAX: usize = 4096;

/// The root of a large trie built as [`Builder::build`] builds it, its children in two
/// halves of about the same number of entries, the second half on a thread beside by
/// a builder of its own whose nodes and leaves are then taken in ([`Builder::absorb`]):
/// the same trie, the same ids (the nodes and leaves new in the second half kept
/// out of the builder's maps, in the third item). `None` on a thread that keeps its
/// work beside to itself ([`crate::beside::keep_to_this_thread`]), when the list is
/// short, or for anything but a clean build of [`Mode::First`] within the budget both
/// halves' work together: the caller then builds the trie whole, so errors and the
/// budget are the serial build's.
fn in_halves<'a, const N: usize>(
    entries: &'a Entries,
    mode: Mode,
    dims: &'a [Dim; N],
    budget: usize,
    halves_min: usize,
    region: &Region,
    all: &[u32],
) -> Option<(Builder<'a, N>, Child, Later, Checks)> {
    // A thread that keeps its work beside to itself would build the halves one after
    // the other: two builders, two memos, the second's nodes taken in after, for the
    // trie one builder makes (the taking in alone, `absorb`, was 0.3 M of acl1_1000's
    // 7.7 M instructions of trie).
    if crate::beside::alone() {
        return None;
    }
    let mut a = Builder::new(entries, mode, dims, budget);
    let list = a.cut_after_decider(region, all);
    if mode != Mode::First || list.len() < halves_min {
        return None;
    }
    a.work += list.len();
    let axis = a.choose_byte(region, list)?;
    let groups = a.groups(region, list, axis);
    if groups.len() < 2 {
        return None;
    }
    a.work += groups.entries.len();
    let cut = groups.half();
    let on_worker = list.len() <= ON_WORKER_MAX;
    let groups = &groups;
    let right = move || {
        let mut b = Builder::new(entries, mode, dims, budget);
        let children = (cut..groups.len())
            .map(|k| b.build(&groups.region(k), groups.list(k)))
            .collect::<Result<Vec<Child>, BuildError>>();
        children.map(|c| (b.made(), c))
    };
    // The leaves' checks are read on this thread once its half is built, while the
    // other half may still be (they were 1.8 M instructions of acl1_100000's tail,
    // alone after the join).
    let mut left = || {
        let children = (0..cut)
            .map(|k| a.build(&groups.region(k), groups.list(k)))
            .collect::<Result<Vec<Child>, BuildError>>();
        (children, Checks::of(entries, dims))
    };
    let (right, left) = match on_worker {
        true => crate::beside::join(right, left),
        false => std::thread::scope(|s| {
            let right = super::super::beside(s, right);
            let left = left();
            (right.join(), left)
        }),
    };
    let ((left, checks), right) = (left, right);
    let (left, (made, right)) = (left.ok()?, right.ok()?);
    if a.work.saturating_add(made.work) > budget {
        return None;
    }
    let (right, later) = a.absorb(made, right);
    let root = a.node_of(axis, groups, left.into_iter().chain(right));
    Some((a, root, later, checks))
}

/// The nodes and leaves [`Builder::absorb`] took in that the builder did not have,
/// each in the order of its ids: kept out of the builder's maps, as nothing looks
/// them up (the second half's are distinct, and no node made after, the root,
/// equals one of them: each reads another byte), so they are neither hashed nor
/// put in a table. Their ids are those the maps lack, in order.
#[derive(Default)]
struct Later {
    leaves: Vec<LeafKey>,
    nodes: Vec<Node>,
}

/// What a builder made, in id order, without its memo: made on the builder's thread,
/// so that the memo's memory goes back where it was taken (freed from another
/// thread, it raised a 100k-rule apply's peak RSS by about a MiB).
struct Made {
    leaves: Vec<LeafKey>,
    nodes: Vec<Node>,
    depths: Vec<u8>,
    work: usize,
}

/// The keys of `ids` and `later` in id order, the ids `0..` both hold together
/// (each once): `later`'s are the ids the map lacks, in order. The map holds each
/// node and leaf once, instead of a copy of it in a list beside. Each key is put in
/// its id's place: sorting the pairs by id was 17 M instructions of acl1_100000's
/// calling thread (its 80k leaves), placing them is one pass.
fn by_id<T>(ids: FastMap<T, u32>, later: Vec<T>) -> Vec<T> {
    let mut slots: Vec<Option<T>> = Vec::with_capacity(ids.len() + later.len());
    slots.resize_with(ids.len() + later.len(), || None);
    for (t, id) in ids {
        slots[id as usize] = Some(t);
    }
    let mut later = later.into_iter();
    slots
        .into_iter()
        .map(|t| t.or_else(|| later.next()))
        .map(|t| t.expect("every id below the keys' count, once"))
        .collect()
}

/// [`by_id`] of leaves, whose keys need no `Option` (a key past every entry is none).
fn leaf_keys_by_id(ids: FastMap<LeafKey, u32>) -> Vec<LeafKey> {
    let mut keys = vec![[NO_ENTRY; LEAF_MAX]; ids.len()];
    for (key, id) in ids {
        keys[id as usize] = key;
    }
    debug_assert!(keys.iter().all(|k| k[0] != NO_ENTRY), "a leaf id left out");
    keys
}

/// A leaf's list held inline (a leaf has at most [`LEAF_MAX`] entries), the places
/// past its end [`NO_ENTRY`]: a map of 80k leaves makes no allocation per leaf.
type LeafKey = [u32; LEAF_MAX];

/// No entry's index (a trie has fewer than `u32::MAX` entries).
const NO_ENTRY: u32 = u32::MAX;

fn leaf_key(list: &[u32]) -> LeafKey {
    // Slot by slot: a fill and a copy were a `memset` and a `memcpy` call per leaf.
    std::array::from_fn(|k| list.get(k).copied().unwrap_or(NO_ENTRY))
}

/// The list a [`LeafKey`] holds.
fn leaf_list(key: &LeafKey) -> &[u32] {
    let len = key.iter().position(|&e| e == NO_ENTRY).unwrap_or(LEAF_MAX);
    &key[..len]
}

/// The leaves of `ids` (ids `0..ids.len()`, each once) in id order, then those of
/// `later` (the next ids, in order), end to end.
fn leaves_by_id(ids: FastMap<LeafKey, u32>, later: &[LeafKey]) -> Leaves {
    let keys = leaf_keys_by_id(ids);
    let all = keys.iter().chain(later).map(|k| leaf_list(k).len()).sum();
    let mut leaves = Leaves::with_capacity(keys.len() + later.len(), all);
    for key in keys.iter().chain(later) {
        leaves.push(leaf_list(key));
    }
    leaves
}

/// Most nodes (and memo keys) a builder's maps are made with room for.
const NODES_RESERVED_MAX: usize = 1 << 11;
/// Most leaves a builder's map is made with room for: what a 1k file's trie has. A
/// large trie's maps grow by doubling as before: with room for 32,768 leaves made
/// ahead, a table of 65,536 slots that acl1_100000's tries fill sparsely (every page
/// touched), its first apply's peak RSS went 58.2 -> 60.6 MiB (medians of 8).
const LEAVES_RESERVED_MAX: usize = 1 << 11;

impl<'a, const N: usize> Builder<'a, N> {
    fn new(entries: &'a Entries, mode: Mode, dims: &'a [Dim; N], budget: usize) -> Self {
        // The maps sized for about as many nodes and leaves as a trie of this many
        // entries has (ClassBench at 1k: 458 nodes, 732 leaves of 956 entries), so they
        // are not grown by doubling (each time rehashed, every node's runs hashed
        // again, and the old table's pages faulted in for nothing); capped, as larger
        // tries have far fewer nodes per entry (acl1_100000: 6.5k of 73k).
        let nodes = (entries.len() / 2).min(NODES_RESERVED_MAX);
        let leaves = (3 * entries.len() / 4).min(LEAVES_RESERVED_MAX);
        Builder {
            entries,
            mode,
            dims,
            memo: Memo::with_capacity(nodes),
            node_depth: Vec::with_capacity(nodes),
            node_ids: FastMap::with_capacity_and_hasher(nodes, FixedState::default()),
            leaf_ids: FastMap::with_capacity_and_hasher(leaves, FixedState::default()),
            work: 0,
            budget,
            spans: Vec::new(),
            spares: Vec::new(),
        }
    }

    /// Its nodes and leaves in id order, and its work; the memo is dropped here.
    fn made(self) -> Made {
        Made {
            leaves: leaf_keys_by_id(self.leaf_ids),
            nodes: by_id(self.node_ids, Vec::new()),
            depths: self.node_depth,
            work: self.work,
        }
    }

    /// `list` up to its first entry that matches every packet of the region, if one
    /// does (nothing after it can be first).
    fn cut_after_decider<'l>(&self, region: &Region, list: &'l [u32]) -> &'l [u32] {
        match list.iter().position(|&e| self.decides(e, region)) {
            Some(k) => &list[..=k],
            None => list,
        }
    }

    /// Takes in the nodes and leaves of `other`, a builder of the same entries that
    /// built the children after this one's, as one builder would have made them after
    /// this one's: in `other`'s order, each a new id unless this one has it already
    /// (a subtree both built; nothing `other` made that one builder would not have
    /// made is new, as a region's subtree depends only on its memo key). Returns
    /// `children`, built by `other`, with this one's ids, and `other`'s nodes and
    /// leaves that are new ([`Later`]): no leaf is made after, only the root node.
    fn absorb(&mut self, other: Made, children: Vec<Child>) -> (Vec<Child>, Later) {
        // `other`'s leaves are distinct, so each is only looked up here, not put in
        // the map (the map grown to hold them too was rehashed, 3 M instructions at
        // acl1_100000, its larger table faulted in).
        let mut later = Later::default();
        let known_leaves = self.leaf_ids.len() as u32;
        let leaves: Vec<u32> = other
            .leaves
            .into_iter()
            .map(|key| match self.leaf_ids.get(&key) {
                Some(&id) => id,
                None => {
                    later.leaves.push(key);
                    known_leaves + later.leaves.len() as u32 - 1
                }
            })
            .collect();
        let known_nodes = self.node_depth.len() as u32;
        self.node_depth.reserve(other.depths.len());
        let mut nodes: Vec<u32> = Vec::with_capacity(other.depths.len());
        let ours = |c: Child, nodes: &[u32]| match c {
            Child::Node(n) => Child::Node(nodes[n as usize]),
            Child::Leaf(l) => Child::Leaf(leaves[l as usize]),
            Child::Empty => Child::Empty,
        };
        let is_new = |c: Child| match c {
            Child::Node(n) => n >= known_nodes,
            Child::Leaf(l) => l >= known_leaves,
            Child::Empty => false,
        };
        for (mut node, depth) in other.nodes.into_iter().zip(other.depths) {
            for run in &mut node.runs {
                run.1 = ours(run.1, &nodes);
            }
            // A node with a child this builder did not have is not one of its nodes:
            // not hashed to be looked up.
            let found = match node.runs.iter().any(|run| is_new(run.1)) {
                true => None,
                false => self.node_ids.get(&node).copied(),
            };
            let id = found.unwrap_or_else(|| {
                later.nodes.push(node);
                self.node_depth.push(depth);
                self.node_depth.len() as u32 - 1
            });
            nodes.push(id);
        }
        let children = children.into_iter().map(|c| ours(c, &nodes)).collect();
        (children, later)
    }

    #[inline(always)]
    fn clip(&self, e: u32, r: &Region, d: usize) -> (u32, u32) {
        clipped(&self.entries.bounds::<N>(e as usize), r, d)
    }

    /// True when the entry's conditions beyond its box (TCP flags, L4) hold for every
    /// packet of the region.
    fn conditions_hold(&self, e: u32, r: &Region) -> bool {
        let e = e as usize;
        (self.entries.tcp_flags(e).0 == 0 || r.flags) && (!self.entries.needs_l4(e) || r.l4)
    }

    /// True when the entry matches every packet of the region.
    #[inline(always)]
    fn decides(&self, e: u32, r: &Region) -> bool {
        let x = self.entries.bounds::<N>(e as usize);
        // The box first: most entries of a list miss the region in its first
        // dimension, and the conditions are further into the entry.
        // Slices of the family's dimensions zipped: no bounds check per dimension.
        let los = x.lo.iter().zip(&r.lo);
        let his = x.hi.iter().zip(&r.hi);
        los.zip(his)
            .all(|((xl, rl), (xh, rh))| xl <= rl && xh >= rh)
            && self.conditions_hold(e, r)
    }

    /// Bits of dimension `d` not fixed yet in a region that fixed `used` bytes.
    fn free_bits(&self, d: usize, used: u8) -> u32 {
        self.dims[d].bits() - 8 * u32::from(used)
    }

    fn build(&mut self, region: &Region, list: &[u32]) -> Result<Child, BuildError> {
        let pruned;
        let mut list = list;
        match self.mode {
            Mode::First => {
                list = self.cut_after_decider(region, list);
                if list.len() > LEAF_MAX && list.len() <= PRUNE_MAX {
                    pruned = self.prune_hidden(list, region);
                    list = &pruned;
                }
            }
            // An entry matching the whole region meets every other entry in it.
            Mode::Disjoint if list.len() > 1 && list.iter().any(|&e| self.decides(e, region)) => {
                return Err(BuildError::Overlap);
            }
            Mode::Disjoint => {}
        }
        if list.is_empty() {
            return Ok(Child::Empty);
        }
        if list.len() <= LEAF_MAX {
            if self.mode == Mode::Disjoint && self.any_meet(list, region) {
                return Err(BuildError::Overlap);
            }
            return Ok(self.leaf(list));
        }
        // The key is written into the builder's buffer and hashed once: a region seen
        // before costs no allocation, a new one takes the buffer into the memo (a
        // look-up, then an insert, hashed every new key twice).
        let at = self.memo_key(region, list);
        let hash = match self.memo.find(at) {
            Ok(c) => return Ok(c),
            Err(hash) => hash,
        };
        self.work += list.len();
        if self.work > self.budget {
            return Err(BuildError::TooLarge);
        }
        let axis = self
            .choose_byte(region, list)
            .ok_or(BuildError::Inseparable)?;
        let child = self.split(region, list, axis)?;
        self.memo.insert(hash, at, child);
        Ok(child)
    }

    /// True when two entries of `list` match a common packet of the region: their
    /// boxes meet there and their TCP flag tests can both hold (L4 requirements always
    /// can).
    fn any_meet(&self, list: &[u32], region: &Region) -> bool {
        list.iter().enumerate().any(|(i, &x)| {
            list[i + 1..].iter().any(|&y| {
                let (mx, vx) = self.entries.tcp_flags(x as usize);
                let (my, vy) = self.entries.tcp_flags(y as usize);
                let flags = region.flags || (vx ^ vy) & mx & my == 0;
                flags
                    && (0..N).all(|d| {
                        let (xa, xb) = self.clip(x, region, d);
                        let (ya, yb) = self.clip(y, region, d);
                        xa.max(ya) <= xb.min(yb)
                    })
            })
        })
    }

    /// The leaf of `list` (at most [`LEAF_MAX`] entries), one per distinct list.
    fn leaf(&mut self, list: &[u32]) -> Child {
        let next = self.leaf_ids.len() as u32;
        Child::Leaf(*self.leaf_ids.entry(leaf_key(list)).or_insert(next))
    }

    /// What decides the subtree of a region: the bytes fixed per dimension and whether
    /// flags and L4 are, and each entry with its range in every dimension that is
    /// neither untouched (the entry's own range) nor fully fixed (the entry contains
    /// the value); written into the memo's room for a new key ([`Memo::find`] takes
    /// it back when the memo has it).
    fn memo_key(&mut self, region: &Region, list: &[u32]) -> KeyAt {
        // The partial dimensions and their free bits' masks, on the stack (a list was
        // an allocation per region built).
        let mut partial = [(0usize, 0u32); MAX_DIMS];
        let mut np = 0;
        for d in 0..N {
            if region.used[d] > 0 && u32::from(region.used[d]) < self.dims[d].bytes() {
                partial[np] = (d, u32::MAX >> (32 - self.free_bits(d, region.used[d])));
                np += 1;
            }
        }
        let partial = &partial[..np];
        let packed = region
            .used
            .iter()
            .enumerate()
            .fold(0u64, |acc, (d, &u)| acc | (u64::from(u) << (3 * d)));
        let fixed = (u64::from(region.flags) << 40) | (u64::from(region.l4) << 41);
        // Written in place, an entry's slots at a time (a push each checked the
        // capacity and moved the length).
        let width = 1 + 2 * np;
        let (at, key) = self.memo.new_key(2 + list.len() * width);
        key[0] = packed as u32;
        key[1] = ((packed | fixed) >> 32) as u32;
        for (slots, &e) in key[2..].chunks_exact_mut(width).zip(list) {
            let (first, ranges) = slots.split_at_mut(1);
            first[0] = e;
            // The entry looked up once, not once per dimension.
            let x = self.entries.bounds::<N>(e as usize);
            for (pair, &(d, mask)) in ranges.chunks_exact_mut(2).zip(partial) {
                let (a, b) = clipped(&x, region, d);
                pair[0] = a & mask;
                pair[1] = b & mask;
            }
        }
        at
    }

    /// Drops every entry whose part of the region lies inside the part of an earlier
    /// entry that has no further condition (or exactly the same ones): never first.
    fn prune_hidden(&self, list: &[u32], region: &Region) -> SmallVec<[u32; PRUNE_MAX]> {
        let nd = N;
        // On the stack (at most PRUNE_MAX entries): no allocation per pruned list.
        let mut kept: SmallVec<[u32; PRUNE_MAX]> = SmallVec::new();
        for &x in list.iter() {
            let ex = self.entries.bounds::<N>(x as usize);
            let x_tests = self.entries.tests(x as usize);
            // The boxes first: most pairs part in the first dimension, and the
            // conditions are at the entries' far end.
            let hidden = kept.iter().any(|&y| {
                let ey = self.entries.bounds::<N>(y as usize);
                let y_tests = self.entries.tests(y as usize);
                (0..nd).all(|d| {
                    let (xa, xb) = clipped(&ex, region, d);
                    let (ya, yb) = clipped(&ey, region, d);
                    ya <= xa && xb <= yb
                }) && (self.conditions_hold(y, region) || y_tests == x_tests)
            });
            if !hidden {
                kept.push(x);
            }
        }
        kept
    }

    /// The next byte to read: first a byte that tells entries apart (not one of a
    /// dimension where every entry that is not wide has the same range, nor the L4
    /// byte, nor the flags when one test is all there is: those only tell the entries
    /// with the condition from those without), then of the dimension whose next byte
    /// the fewest entries cover whole, then the one with the most distinct byte values
    /// at entry ends; the TCP flags and the L4 byte count as covered whole by the
    /// entries without such a condition. `None` when no byte tells any entries apart.
    fn choose_byte(&self, region: &Region, list: &[u32]) -> Option<Axis> {
        // The dimensions not read whole yet, and the shift of each one's next byte.
        let mut open = [(0usize, 0u32); MAX_DIMS];
        let mut n_open = 0;
        for d in 0..N {
            if u32::from(region.used[d]) != self.dims[d].bytes() {
                open[n_open] = (d, self.free_bits(d, region.used[d]) - 8);
                n_open += 1;
            }
        }
        let open = &open[..n_open];
        let mut stats = [DimStats::default(); MAX_DIMS];
        // One pass over the entries for every dimension at once (a pass per dimension
        // read each entry once per dimension), and the counts the flags and the L4
        // byte are scored by.
        let (mut tested, mut needs) = (0usize, 0usize);
        for &e in list {
            let x = self.entries.bounds::<N>(e as usize);
            let (flags, l4) = self.entries.tests(e as usize);
            tested += usize::from(flags.0 != 0);
            needs += usize::from(l4);
            for (st, &(d, _)) in stats.iter_mut().zip(open) {
                let (a, b) = clipped(&x, region, d);
                st.add(a, b, (region.lo[d], region.hi[d]));
            }
        }
        // Each axis with its head (demoted, entries covering it whole), in order.
        let mut heads: SmallVec<[((usize, usize), Axis); MAX_DIMS + 2]> = open
            .iter()
            .zip(&stats)
            .map(|(&(d, shift), st)| ((usize::from(st.alike), st.wide), Axis::Dim(d, shift)))
            .collect();
        let mut tests: Vec<(u8, u8)> = Vec::new();
        if !region.flags {
            if tested > 0 {
                tests.extend(
                    list.iter()
                        .map(|&e| self.entries.tcp_flags(e as usize))
                        .filter(|f| f.0 != 0),
                );
            }
            tests.sort_unstable();
            tests.dedup();
            // One test only tells the entries with it from those without.
            heads.push((
                (usize::from(tests.len() == 1), list.len() - tested),
                Axis::Flags,
            ));
        }
        if !region.l4 {
            // Tells only the entries that need the header from those that do not.
            heads.push(((1, list.len() - needs), Axis::L4));
        }
        // The lowest head wins, of those ahead the most distinct values, of those the
        // first; the values are counted only for heads that tie (a second pass over the
        // list for those dimensions: counting them for every dimension in the first
        // was two bits set per entry and dimension, a third of the pass).
        heads.retain(|(head, _)| head.1 < list.len());
        let lowest = heads.iter().map(|&(head, _)| head).min()?;
        let mut tied = heads.iter().filter(|(head, _)| *head == lowest);
        let first = tied.next()?.1;
        let distinct = |axis: Axis| match axis {
            Axis::Dim(d, shift) => self.distinct(region, list, d, shift),
            Axis::Flags => tests.len() + 1,
            Axis::L4 => 2,
        };
        let Some(&(_, second)) = tied.next() else {
            return Some(first);
        };
        let mut best = (distinct(first), first);
        for axis in std::iter::once(second).chain(tied.map(|&(_, axis)| axis)) {
            let n = distinct(axis);
            if n > best.0 {
                best = (n, axis);
            }
        }
        Some(best.1)
    }

    /// The distinct byte values of dimension `d` (the byte at `shift`) at the ends of
    /// the entries of `list` that do not cover the region whole in it: each one's
    /// first and one past its last.
    fn distinct(&self, region: &Region, list: &[u32], d: usize, shift: u32) -> usize {
        let mut seen = [0u64; 5];
        for &e in list {
            let (a, b) = self.clip(e, region, d);
            if (a, b) == (region.lo[d], region.hi[d]) {
                continue;
            }
            for v in [(a >> shift) & 0xff, ((b >> shift) & 0xff) + 1] {
                seen[(v / 64) as usize] |= 1 << (v % 64);
            }
        }
        seen.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Reads the byte `axis` names in `region`: the node (or, if every byte value
    /// leads to the same child, that child).
    fn split(&mut self, region: &Region, list: &[u32], axis: Axis) -> Result<Child, BuildError> {
        let groups = self.groups(region, list, axis);
        self.work += groups.entries.len();
        if self.work > self.budget {
            return Err(BuildError::TooLarge);
        }
        let mut runs: Vec<(u8, Child)> = Vec::with_capacity(groups.len());
        let mut depth = 0u8;
        for k in 0..groups.len() {
            let c = self.build(&groups.region(k), groups.list(k))?;
            self.add_run(&mut runs, &mut depth, groups.last_value(k), c);
        }
        self.spare(groups);
        Ok(self.node(axis, runs, depth))
    }

    /// The node reading `axis` whose byte values in `groups` lead to `children`.
    fn node_of(
        &mut self,
        axis: Axis,
        groups: &Groups,
        children: impl Iterator<Item = Child>,
    ) -> Child {
        let mut runs: Vec<(u8, Child)> = Vec::with_capacity(groups.len());
        let mut depth = 0u8;
        for (k, c) in children.enumerate() {
            self.add_run(&mut runs, &mut depth, groups.last_value(k), c);
        }
        self.node(axis, runs, depth)
    }

    /// Adds child `c` of the byte values up to `last` to `runs` (the run before when it
    /// leads to the same child), and its depth to `depth`.
    fn add_run(&self, runs: &mut Vec<(u8, Child)>, depth: &mut u8, last: u8, c: Child) {
        if let Child::Node(n) = c {
            *depth = (*depth).max(self.node_depth[n as usize]);
        }
        match runs.last_mut() {
            Some(run) if run.1 == c => run.0 = last,
            _ => runs.push((last, c)),
        }
    }

    /// The node of `runs` (or, if every byte value leads to the same child, that
    /// child), one per distinct node.
    fn node(&mut self, axis: Axis, runs: Vec<(u8, Child)>, depth: u8) -> Child {
        if let [(_, only)] = runs.as_slice() {
            return *only;
        }
        let byte = match axis {
            Axis::Dim(d, shift) => KeyByte::Dim {
                dim: d as u8,
                shift: shift as u8,
            },
            Axis::Flags => KeyByte::Flags,
            Axis::L4 => KeyByte::L4,
        };
        // One hash of the node whether it is new or not (a look-up, then an insert,
        // hashed it twice).
        let next = self.node_depth.len() as u32;
        match self.node_ids.entry(Node { byte, runs }) {
            Slot::Occupied(o) => Child::Node(*o.get()),
            Slot::Vacant(v) => {
                v.insert(next);
                self.node_depth.push(depth + 1);
                Child::Node(next)
            }
        }
    }

    /// The groups of byte values of `axis` in `region` that no entry of `list` tells
    /// apart, in a [`Groups`] of the builder's spares (its buffers reused: give it back
    /// with [`Builder::spare`]).
    fn groups(&mut self, region: &Region, list: &[u32], axis: Axis) -> Groups {
        let mut groups = self
            .spares
            .pop()
            .unwrap_or_else(|| Groups::new(*region, None));
        match axis {
            Axis::Dim(d, shift) => self.split_dim(&mut groups, region, list, d, shift),
            Axis::Flags => self.split_flags(&mut groups, region, list),
            Axis::L4 => {
                let mut r = *region;
                r.l4 = true;
                groups.clear(r, None);
                let complete = list.iter().copied();
                groups.push(0, complete.filter(|&e| !self.entries.needs_l4(e as usize)));
                // The byte is 0 or 1; 2..=255 never occur and go with 1.
                groups.push(1, list.iter().copied());
            }
        }
        groups
    }

    /// Keeps `groups` for a later split's (their children are built).
    fn spare(&mut self, groups: Groups) {
        self.spares.push(groups);
    }

    /// The groups of values of the TCP flags byte that no entry tells apart.
    fn split_flags(&self, groups: &mut Groups, region: &Region, list: &[u32]) {
        let mut r = *region;
        r.flags = true;
        let accepts = |e: u32, v: u32| {
            let (mask, value) = self.entries.tcp_flags(e as usize);
            v as u8 & mask == value
        };
        groups.clear(r, None);
        for v in 0..256u32 {
            groups.push(v, list.iter().copied().filter(|&e| accepts(e, v)));
            groups.merge_last_if_same();
        }
    }

    /// The groups of values of byte `shift / 8` of dimension `d` that no entry tells
    /// apart, each with the region of its first value.
    fn split_dim(
        &mut self,
        groups: &mut Groups,
        region: &Region,
        list: &[u32],
        d: usize,
        shift: u32,
    ) {
        let low = if shift == 0 {
            0
        } else {
            u32::MAX >> (32 - shift)
        };
        // Starts of byte-value intervals no entry tells apart: each entry's first and
        // one-past-last byte, and its end bytes on their own where the entry covers
        // only part of the values below that byte (a set of 0..=256). Each entry's
        // end bytes are kept (in the builder's buffer, reused by every split) for its
        // intervals below, instead of clipped again.
        let mut is_start = [0u64; 5];
        let mut mark = |v: u32| is_start[(v / 64) as usize] |= 1 << (v % 64);
        mark(0);
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        spans.extend(list.iter().map(|&e| {
            let (a, b) = self.clip(e, region, d);
            let (x, y) = ((a >> shift) & 0xff, (b >> shift) & 0xff);
            mark(x);
            mark(y + 1);
            if a & low != 0 {
                mark(x + 1);
            }
            if b & low != low {
                mark(y);
            }
            (x, y)
        }));
        // Where each interval starts (0..=255; a mark at 256 starts nothing), and each
        // start's rank among them (256's: their number). An entry's first byte starts
        // an interval and the byte after its last does, so its intervals are the rank
        // of the one to that of the other, less one: two look-ups, where counting the
        // starts below each end byte (bits of the words, without a `popcnt`
        // instruction) was a third of the splits' instructions.
        // (The starts on the stack up to 64 intervals, left unwritten past them.)
        let mut starts: SmallVec<[u32; 64]> = SmallVec::new();
        let mut rank = [0u16; 257];
        for (w, &word) in is_start[..4].iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let v = 64 * w as u32 + bits.trailing_zeros();
                rank[v as usize] = starts.len() as u16;
                starts.push(v);
                bits &= bits - 1;
            }
        }
        rank[256] = starts.len() as u16;
        for span in &mut spans {
            let (x, y) = *span;
            *span = (rank[x as usize].into(), u32::from(rank[y as usize + 1]) - 1);
        }
        // Every value of an interval behaves as its first: an entry that covers the
        // interval covers the values below the byte whole (else its end byte would be
        // an interval of its own).
        groups.clear(*region, Some((d, shift)));
        groups.fill_spans(&starts, list, &spans);
        self.spans = spans;
    }
}
