//! The maps a lowered module uses and what goes into them: the per-CPU `counters`
//! array (one slot per rule and per default, with room to spare), the socket map and
//! its drop counters when a program redirects to sockets, one map per address set
//! and family (a hash map when every element is a whole address, else an LPM trie),
//! one bitmap per long port list of a linear rule (`ports`), one table map per
//! classifier (two halves, both filled from the object's `.sockc.tables` section)
//! and, with any classifier, the map that says which half is live. The key and value
//! types are described as C types ([`BtfType`]) so the object writer can emit them as
//! BTF. [`Sizing`] holds the sizes the rules alone do not
//! decide (table halves, counter slots), so that a re-apply can keep an installed
//! generation's sizes when the new contents fit.
//!
//! Invariant: every map that lowered code names (`ld_map`) is defined here, with the
//! key and value layout that code reads, and its initial contents are recorded, so the
//! runtime fills every map before any program runs.
//!
//! This file holds the map types, names and sizes; `layout.rs` lays the maps out, each
//! kind in turn; `btf.rs` describes key and value types.

mod btf;
mod layout;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use aya_obj::generated::{bpf_map_type, BPF_F_NO_PREALLOC};
use serde::{Deserialize, Serialize};

use super::{classify, counters};
use crate::{
    hooks,
    ir::{sockmap::MapRole, Action, Module, SetId, Step},
    syntax::ast::Family,
};

pub use btf::BtfType;
pub(crate) use layout::layout;

pub use super::entries::{hex, unhex, unhex_into, Entries};

/// Name of the per-CPU counters map (the name lives with the emitters that bump it).
pub use super::emit::COUNTERS_MAP;

/// Name of the map of port bitmaps: one 65,536-bit value per distinct long port list
/// of a linear rule (key: the list's number, [`port_lists`]).
pub const PORTS_MAP: &str = "ports";

pub(crate) use crate::ir::flow::PORT_CHAIN_MAX;

/// Bytes of one port bitmap.
pub(crate) const PORT_BITMAP: usize = 65536 / 8;

/// The distinct port lists longer than [`PORT_CHAIN_MAX`] that rules of linear steps
/// test, in order of first use: the keys of [`PORTS_MAP`].
pub(crate) fn port_lists(module: &Module) -> Vec<&[(u16, u16)]> {
    let mut out: Vec<&[(u16, u16)]> = Vec::new();
    for p in module.programs.values() {
        for step in &p.steps {
            let Step::Linear { rules, .. } = step else {
                continue;
            };
            for r in &p.rules[rules.clone()] {
                for pm in [&r.m.sport, &r.m.dport] {
                    if let crate::ir::PortMatch::Ranges(list) = pm {
                        if list.len() > PORT_CHAIN_MAX && !out.contains(&&**list) {
                            out.push(list);
                        }
                    }
                }
            }
        }
    }
    out
}

/// The bitmap of a port list: bit `p % 8` of byte `p / 8` is set for every port `p`
/// in a range.
pub(crate) fn port_bitmap(list: &[(u16, u16)]) -> Vec<u8> {
    let mut bits = vec![0u8; PORT_BITMAP];
    for &(lo, hi) in list {
        for p in lo..=hi {
            bits[usize::from(p / 8)] |= 1 << (p % 8);
        }
    }
    bits
}

/// The install's socket map (sk_lookup redirects): a `SOCKMAP` of [`SOCKETS_MAX`]
/// slots, one per declared socket. SOCKMAP rather than SOCKHASH: looking a slot up by
/// index cost about 40 ns less per lookup than a SOCKHASH lookup by a `u32` key
/// (`sockc bench`'s sk_lookup table, tubular-style program, Linux 6.18); rather than
/// REUSEPORT_SOCKARRAY: any listening TCP or unconnected UDP socket fits, and a
/// reuseport member stands for its group (the kernel picks within the group after
/// `bpf_sk_assign`). A socket's slot is not its declaration index but the one its
/// install gave its name ([`crate::bpf::buffer::Code::socket_slots`] says where the
/// runtime writes it into the code), so a slot keeps its socket across applies that
/// add, remove or reorder declarations. The map's shape never changes, so the runtime
/// keeps one map per install and every generation's program uses it.
pub const SOCKETS_MAP: &str = "sockets";

/// Slots of the socket map.
pub use crate::ir::SOCKETS_MAX;

/// Per-CPU counts of redirects that dropped, two slots per declared socket (by its
/// index in the module): `2i` no socket registered, `2i + 1` the kernel refused the
/// socket (`bpf_sk_assign` failed: wrong family, state or protocol).
pub const SOCKET_DROPS_MAP: &str = "socket_drops";

/// Slot of [`SOCKET_DROPS_MAP`] counting redirects to socket `index` (its position in
/// the module) that found no socket registered (`refused = false`) or that the kernel
/// refused.
pub fn socket_drop_slot(index: usize, refused: bool) -> u32 {
    2 * index as u32 + u32::from(refused)
}

fn rule_counter() -> BtfType {
    BtfType::Struct {
        name: "rule_counter".into(),
        members: vec![
            ("packets".into(), BtfType::U64),
            ("bytes".into(), BtfType::U64),
        ],
    }
}

/// Whether any sk_lookup program of the module redirects to a socket (it then uses
/// the socket map and the drop counters; a sockmap block's named sockets are in its
/// cgroup's own socket map, `ir::sockmap`).
pub(crate) fn uses_sockets(module: &Module) -> bool {
    !module.registrars.is_empty()
        || module.programs.values().any(|p| {
            matches!(p.hook.spec().context, hooks::Context::SkLookup)
                && p.rules
                    .iter()
                    .any(|r| matches!(r.action, Action::Redirect(Some(_))))
        })
}

/// A BTF-defined map (`SEC(".maps")`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Symbol and BTF `VAR` name; a C identifier.
    pub name: String,
    /// A `bpf_map_type` value, e.g. `bpf_map_type::BPF_MAP_TYPE_HASH as u32`.
    pub map_type: u32,
    pub key: BtfType,
    pub value: BtfType,
    pub max_entries: u32,
    /// `BPF_F_*` map flags; the `map_flags` member is emitted only when nonzero.
    pub flags: u32,
}

impl MapDef {
    /// False for a ring buffer, whose definition has no `key` and `value` (the kernel
    /// refuses nonzero sizes).
    pub(crate) fn has_key_value(&self) -> bool {
        self.map_type != bpf_map_type::BPF_MAP_TYPE_RINGBUF as u32
    }

    /// What `BPF_MAP_CREATE` is asked for to make this map.
    pub fn shape(&self) -> MapShape {
        MapShape {
            name: self.name.clone(),
            map_type: self.map_type,
            key_size: self.key.size(),
            value_size: self.value.size(),
            max_entries: self.max_entries,
            flags: self.flags,
        }
    }
}

/// Everything about a map that `BPF_MAP_CREATE` is told: whether an existing map
/// (an installed one, one made ahead) can stand for a new one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MapShape {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

/// The initial entries of one map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapContents {
    pub map: String,
    /// (key, value), packed ([`Entries`]).
    pub entries: Entries,
}

/// The contents of a classifier's table map: `stored` bytes at `offset` of
/// `.sockc.tables` decode ([`classify::decode_words`]) to `len` bytes, which go into
/// each of its two values (halves) of `value_size` bytes, the rest of each value zero.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableData {
    pub map: String,
    pub offset: u64,
    pub stored: u64,
    pub len: u64,
    pub value_size: u32,
    /// The stored bytes' digest ([`table_digest`]); an older sockc's never equals one.
    #[serde(alias = "sha256")]
    pub digest: String,
    /// The node reads the code unrolls per trie ([`Sizing::steps`]): a re-apply keeps
    /// them where its tries are no deeper. Empty in objects from before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<u32>,
}

/// Sizes of the maps that the rules do not decide alone: the byte size of each
/// classifier table's half (by map name) and the counter slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sizing {
    pub tables: BTreeMap<String, u32>,
    pub counters: u32,
    /// Per table map, the node reads the walk of each trie unrolls
    /// ([`classify::steps`], or the installed code's where the new trie is no deeper).
    pub steps: BTreeMap<String, Vec<u32>>,
}

impl Sizing {
    /// The sizes for `module`: each table half an eighth larger than its contents,
    /// counters an eighth more than the highest slot, so a slightly changed rule file
    /// still fits; but where `installed` has a size its new contents fit, that size.
    pub fn of(module: &Module, installed: Option<&Sizing>) -> Sizing {
        let mut out = Sizing::default();
        for (_, p) in &module.programs {
            for step in &p.steps {
                let Step::Classify(c) = step else { continue };
                let name = classify::map_name(c);
                let used = classify::table_size(c);
                let fits = installed
                    .and_then(|i| i.tables.get(&name))
                    .filter(|&&cap| used <= cap as usize);
                let cap = match fits {
                    Some(&cap) => cap,
                    None => classify::table_capacity(used) as u32,
                };
                // The installed walk reads a trie to its depth and `STEP_SLACK` more:
                // a trie no deeper than that (same tries) keeps the installed code.
                let own: Vec<u32> = c.tries.iter().map(|t| classify::steps(t) as u32).collect();
                let steps = match installed.and_then(|i| i.steps.get(&name)) {
                    Some(was)
                        if was.len() == c.tries.len()
                            && c.tries.iter().zip(was).all(|(t, &w)| {
                                t.depth <= w as usize && w as usize <= t.key_bytes()
                            }) =>
                    {
                        was.clone()
                    }
                    _ => own,
                };
                out.steps.insert(name.clone(), steps);
                out.tables.insert(name, cap);
            }
        }
        let slots = used_slots(module);
        out.counters = match installed.map(|i| i.counters) {
            Some(cap) if slots <= cap => cap,
            _ => counter_capacity(slots),
        };
        out
    }

    /// The byte size of a table half.
    pub fn table(&self, map: &str) -> usize {
        self.tables.get(map).copied().unwrap_or(0) as usize
    }

    /// The node reads of each trie's walk in the classifier of table `map`.
    pub fn steps(&self, map: &str) -> &[u32] {
        self.steps.get(map).map_or(&[], Vec::as_slice)
    }
}

/// The per-CPU `counters` map with room for `slots` rules, in elements of
/// [`counters::SLOTS_PER_ELEMENT`] slots (see [`counters`]).
fn counters_map(slots: u32) -> MapDef {
    MapDef {
        name: COUNTERS_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32,
        key: BtfType::U32,
        value: BtfType::Array {
            elem: Box::new(rule_counter()),
            len: counters::SLOTS_PER_ELEMENT,
        },
        max_entries: counters::elements(slots),
        flags: 0,
    }
}

/// Counter slots for a first generation that uses `slots`: room for an eighth more, so
/// that rules added later fit in place, up to the end of the `counters` map's last
/// element (what an installed map's size says its capacity is: `counters::SlotLayout`),
/// so that a refit sizes every map indexed by slot as the installed ones are.
fn counter_capacity(slots: u32) -> u32 {
    (slots + slots / 8).next_multiple_of(counters::SLOTS_PER_ELEMENT)
}

/// Counter slots the module's rules and defaults use (the highest plus one).
pub(crate) fn used_slots(module: &Module) -> u32 {
    let rules = module.programs.values().flat_map(|p| &p.rules);
    rules.fold(other_slots(module), |n, r| n.max(r.counter + 1))
}

/// [`used_slots`] but the rules': the programs' defaults, the registrars' and the
/// sockmap groups' counters (at least 1).
fn other_slots(module: &Module) -> u32 {
    let mut n = 0u32;
    for (_, p) in &module.programs {
        n = n.max(p.default_counter + 1);
    }
    for r in &module.registrars {
        for slot in r.counters {
            n = n.max(slot + 1);
        }
    }
    for g in &module.sockmaps {
        let companions = g.companions.iter().flat_map(|c| c.counters.iter());
        for slot in companions
            .map(|(slot, _)| *slot)
            .chain(g.stack_counters.iter().map(|(_, slot)| *slot))
        {
            n = n.max(slot + 1);
        }
    }
    n.max(1)
}

/// Every map of a module, with what goes into each.
#[derive(Clone, Debug, Default)]
pub(crate) struct MapLayout {
    pub defs: Vec<MapDef>,
    /// Entries the runtime inserts after creating the maps (address sets).
    pub contents: Vec<MapContents>,
    /// Classifier tables: [`MapLayout::table_data`] says which bytes fill which map.
    pub tables: Vec<u8>,
    /// Their `digest` empty until [`hash_tables`] fills it.
    pub table_data: Vec<TableData>,
    /// Counter slots the rules and defaults use (the map may have more).
    pub counters: u32,
    /// Whether the answers' limits apply ([`Module::answers_limited`]): their maps
    /// are in `defs`.
    pub answers_limited: bool,
    /// Maps that outlive generations: the runtime hands them on to the next one.
    pub durable: Vec<DurableMap>,
}

/// A map that a new generation takes over from the installed one instead of creating
/// it afresh (a cgroup's socket map, with the sockets in it, and the program arrays
/// and per-socket storage its sockets' programs use). Identified by what it is for,
/// not by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurableMap {
    pub map: String,
    /// The cgroup of the sockmap group.
    pub cgroup: String,
    pub role: MapRole,
    /// For a socket map: the named sockets the group's rules redirect to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named: Vec<String>,
}

/// How many sockets a cgroup's socket map holds (sockets beyond are not added and
/// go through the stack; the sock_ops program counts them).
pub(crate) const SOCKETS_CAPACITY: u32 = 65536;

/// The key of a cgroup's socket map (layout: `lower::sockmap::key`).
pub(crate) fn sock_key_type() -> BtfType {
    let addr = || BtfType::Array {
        elem: Box::new(BtfType::U8),
        len: 16,
    };
    BtfType::Struct {
        name: "sock_key".into(),
        members: vec![
            ("netns".into(), BtfType::U64),
            ("local".into(), addr()),
            ("remote".into(), addr()),
            ("local_port".into(), BtfType::U16),
            ("remote_port".into(), BtfType::U16),
            ("slot".into(), BtfType::U32),
        ],
    }
}

/// The definition of a sockmap group's map of `role`.
fn sockmap_def(name: String, role: MapRole) -> MapDef {
    match role {
        MapRole::Sockets => MapDef {
            name,
            map_type: bpf_map_type::BPF_MAP_TYPE_SOCKHASH as u32,
            key: sock_key_type(),
            // 8 bytes: a lookup from user space returns the socket's cookie.
            value: BtfType::U64,
            max_entries: SOCKETS_CAPACITY,
            flags: 0,
        },
        MapRole::SendProgram | MapRole::ReceiveProgram => MapDef {
            name,
            map_type: bpf_map_type::BPF_MAP_TYPE_PROG_ARRAY as u32,
            key: BtfType::U32,
            value: BtfType::U32,
            max_entries: 1,
            flags: 0,
        },
        // Socket-local storage: no entries of its own, no preallocation (the kernel's
        // rules for BPF_MAP_TYPE_SK_STORAGE).
        MapRole::SentThroughStack => MapDef {
            name,
            map_type: bpf_map_type::BPF_MAP_TYPE_SK_STORAGE as u32,
            key: BtfType::U32,
            value: BtfType::U32,
            max_entries: 0,
            flags: BPF_F_NO_PREALLOC,
        },
    }
}

/// Map symbol of one family of an address set.
pub(crate) fn set_map_name(module: &Module, set: SetId, family: Family) -> String {
    let name = &module.sets[set].name;
    match family {
        Family::V4 => format!("set_{name}_v4"),
        Family::V6 => format!("set_{name}_v6"),
    }
}

/// The set a map named by [`set_map_name`] holds, and its family; `None` for the
/// other maps.
pub fn set_of_map(map: &str) -> Option<(&str, Family)> {
    let rest = map.strip_prefix("set_")?;
    if let Some(set) = rest.strip_suffix("_v4") {
        Some((set, Family::V4))
    } else {
        rest.strip_suffix("_v6").map(|set| (set, Family::V6))
    }
}

/// Room for a set to grow in place: `sockc apply` updates the entries of a live map
/// when only set contents change, which needs the new contents to fit the old map.
/// Set maps are not preallocated, so unused capacity costs a trie no memory and a
/// hash map its buckets (16 bytes each, 32 MiB for a million elements' 2^21).
pub(crate) fn set_capacity(elements: usize) -> u32 {
    (elements.max(1) * 2).next_power_of_two().max(1024) as u32
}

/// Fills the `digest` of every table of `data` from the bytes of `tables` it names.
/// [`layout`] leaves them to this so that the caller can hash on a thread beside the
/// rest of its work (6.7 MB for acl1_100000, ~0.9 ms on one core: `driver` makes the
/// metadata meanwhile).
pub(crate) fn hash_tables(data: &mut [TableData], tables: &[u8]) {
    for t in data {
        t.digest = table_digest(&tables[t.offset as usize..(t.offset + t.stored) as usize]);
    }
}

/// What a [`table_digest`] starts with: its function, so no digest made otherwise equals one.
pub const TABLE_DIGEST_PREFIX: &str = "blake3:";

/// A classifier table's digest, as plans compare them: BLAKE3 (collision-resistant like
/// SHA-256, ~4x as fast on one core: 17 against 69 µs for acl1_1000's 130 KiB) in hex.
pub fn table_digest(bytes: &[u8]) -> String {
    format!("{TABLE_DIGEST_PREFIX}{}", blake3::hash(bytes).to_hex())
}

/// The SHA-256 of `bytes` in lowercase hex: how records and manifests name content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes))
}
