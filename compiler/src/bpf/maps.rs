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

use std::collections::BTreeMap;

use aya_obj::generated::{bpf_map_type, BPF_F_MMAPABLE, BPF_F_NO_PREALLOC};
use serde::{Deserialize, Serialize};

use super::{
    classify, counters,
    set_entries::{v4_entries, v6_entries},
};
use crate::{
    hooks,
    ir::{sockmap::MapRole, Action, AddrMatch, Module, SetId, Step},
    syntax::ast::Family,
};

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

/// A BTF type description for map keys and values.
///
/// Structs are laid out in declaration order with natural alignment (each member at the
/// next multiple of its own alignment; the size is rounded up to the largest member
/// alignment), exactly like a C compiler for BPF would.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BtfType {
    U8,
    U16,
    U32,
    U64,
    Array {
        elem: Box<BtfType>,
        len: u32,
    },
    Struct {
        name: String,
        members: Vec<(String, BtfType)>,
    },
}

fn round_up(v: u64, align: u64) -> u64 {
    v.div_ceil(align) * align
}

impl BtfType {
    /// Size in bytes. Saturates at `u32::MAX` for types too large to describe
    /// ([`crate::obj::write_object`] rejects those).
    pub fn size(&self) -> u32 {
        self.checked_size()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(u32::MAX)
    }

    /// Natural alignment in bytes (1 for an empty struct).
    pub(crate) fn align(&self) -> u32 {
        match self {
            BtfType::U8 => 1,
            BtfType::U16 => 2,
            BtfType::U32 => 4,
            BtfType::U64 => 8,
            BtfType::Array { elem, .. } => elem.align(),
            BtfType::Struct { members, .. } => {
                members.iter().map(|(_, t)| t.align()).max().unwrap_or(1)
            }
        }
    }

    /// Byte offset of each member of a struct, in declaration order (empty for
    /// non-structs).
    pub(crate) fn member_offsets(&self) -> Vec<u32> {
        match self {
            BtfType::Struct { members, .. } => {
                let mut off = 0u64;
                members
                    .iter()
                    .map(|(_, t)| {
                        off = round_up(off, u64::from(t.align()));
                        let this = off;
                        off += u64::from(t.size());
                        u32::try_from(this).unwrap_or(u32::MAX)
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Size in bytes, or `None` if it does not fit in 32 bits.
    pub(crate) fn checked_size(&self) -> Option<u64> {
        let size = match self {
            BtfType::U8 => 1,
            BtfType::U16 => 2,
            BtfType::U32 => 4,
            BtfType::U64 => 8,
            BtfType::Array { elem, len } => elem.checked_size()?.checked_mul(u64::from(*len))?,
            BtfType::Struct { members, .. } => {
                let mut off = 0u64;
                for (_, t) in members {
                    off = round_up(off, u64::from(t.align())) + t.checked_size()?;
                    if off > u64::from(u32::MAX) {
                        return None;
                    }
                }
                round_up(off, u64::from(self.align()))
            }
        };
        (size <= u64::from(u32::MAX)).then_some(size)
    }
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

/// The maps of `module`, in the order the object lists them: counters, the socket
/// map and its drop counters, the live-half map and classifier tables, port bitmaps,
/// sockmap groups' maps, the `log` maps, the limits' and answers' maps, the named
/// cgroups' map, then address sets.
pub(crate) fn layout(module: &Module, sizing: &Sizing) -> MapLayout {
    let used = RuleUse::of(module);
    let mut out = MapLayout {
        counters: used.slots,
        answers_limited: used.answers && !module.answers.unlimited(),
        ..MapLayout::default()
    };
    // The maps indexed by counter slot (counters, and the `log` rates and windows) have
    // one size, with the sizing's headroom: a rule added in place fits all of them.
    let slot_maps = sizing.counters.max(out.counters);
    out.defs.push(counters_map(slot_maps));

    if uses_sockets(module) {
        add_socket_maps(&mut out, module);
    }
    add_classifier_tables(&mut out, module, sizing);
    add_port_bitmaps(&mut out, module);
    add_sockmap_maps(&mut out, module);
    if !module.logs.is_empty() {
        add_log_maps(&mut out, module, slot_maps);
    }
    add_limit_maps(&mut out, &used, slot_maps);
    if out.answers_limited {
        add_answer_maps(&mut out);
    }
    if !module.cgroups.is_empty() {
        add_cgroups_map(&mut out);
    }
    for &set in &used.sets {
        add_address_set(&mut out, module, set);
    }
    out
}

/// What [`layout`] reads of every rule, taken in one pass over them: a pass over
/// acl1_100000's 99,310 rules (168 bytes each, 16 MB) costs about a millisecond, and
/// the layout made four (counter slots, `limit`s, address sets, ICMP answers).
#[derive(Debug, Default, PartialEq, Eq)]
struct RuleUse {
    /// [`used_slots`].
    slots: u32,
    /// The sets a rule's source or destination names.
    sets: std::collections::BTreeSet<SetId>,
    /// Some rule has a `limit`, and some a `limit ... per source`.
    limits: bool,
    per_source: bool,
    /// Some rule answers with an ICMP error ([`crate::ir::Rule::answers_icmp`]).
    answers: bool,
}

impl RuleUse {
    fn of(module: &Module) -> RuleUse {
        let mut out = RuleUse {
            slots: other_slots(module),
            ..RuleUse::default()
        };
        for r in module.programs.values().flat_map(|p| &p.rules) {
            out.slots = out.slots.max(r.counter + 1);
            for a in [&r.m.src, &r.m.dst] {
                if let AddrMatch::Set(s) = a {
                    out.sets.insert(*s);
                }
            }
            if let Some(l) = r.m.limit() {
                out.limits = true;
                out.per_source |= l.limit.per_source;
            }
            out.answers |= r.answers_icmp();
        }
        out
    }
}

/// The named cgroups' levels and ids (`bpf::cgroup_match`): no contents here, since
/// the runtime writes every slot from the cgroup's directory when it loads the object
/// and when it repairs an install (a re-created cgroup has a new id), and they are not
/// contents a manifest records.
fn add_cgroups_map(out: &mut MapLayout) {
    use super::cgroup_match::{CGROUPS_MAP, CGROUPS_MAX};
    out.defs.push(MapDef {
        name: CGROUPS_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        key: BtfType::U32,
        value: BtfType::Struct {
            name: "cgroup_ref".into(),
            members: vec![("id".into(), BtfType::U64), ("level".into(), BtfType::U64)],
        },
        max_entries: CGROUPS_MAX as u32,
        flags: 0,
    });
}

/// The sk_lookup socket map and its drop counters.
fn add_socket_maps(out: &mut MapLayout, module: &Module) {
    out.defs.push(MapDef {
        name: SOCKETS_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_SOCKMAP as u32,
        key: BtfType::U32,
        value: BtfType::U64,
        max_entries: SOCKETS_MAX,
        flags: 0,
    });
    out.defs.push(MapDef {
        name: SOCKET_DROPS_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32,
        key: BtfType::U32,
        value: rule_counter(),
        max_entries: (2 * module.sockets.len()).max(1) as u32,
        flags: 0,
    });
}

/// With any classifier, the live-half map; then each classifier's table map, its
/// encoded tables appended to `out.tables` (each padded to 8 bytes) and described in
/// `out.table_data` (not hashed: [`hash_tables`]).
fn add_classifier_tables(out: &mut MapLayout, module: &Module, sizing: &Sizing) {
    let classifiers = module
        .programs
        .values()
        .any(|p| p.steps.iter().any(|s| matches!(s, Step::Classify(_))));
    if classifiers {
        out.defs.push(MapDef {
            name: classify::LIVE_MAP.into(),
            map_type: bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
            key: BtfType::U32,
            value: BtfType::U32,
            max_entries: 1,
            flags: BPF_F_MMAPABLE,
        });
    }
    // Written once where it goes, not grown (and copied) as it is written: room for
    // every classifier's tables at once (a `reserve` per classifier doubled the
    // buffer at the second one: 12 MB for acl1_100000's 6.7 MB).
    let all: usize = module
        .programs
        .values()
        .flat_map(|p| &p.steps)
        .map(|s| match s {
            Step::Classify(c) => classify::table_size(c).next_multiple_of(8),
            _ => 0,
        })
        .sum();
    out.tables.reserve_exact(all);
    for (_, p) in &module.programs {
        let spec = hooks::spec(p.hook);
        for step in &p.steps {
            let Step::Classify(c) = step else { continue };
            let map = classify::map_name(c);
            let offset = out.tables.len();
            classify::tables(spec, p, c, &mut out.tables);
            let bytes = &out.tables[offset..];
            let len = classify::table_size(c);
            let value_size = sizing.table(&map).max(len) as u32;
            out.defs.push(MapDef {
                name: map.clone(),
                map_type: bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
                key: BtfType::U32,
                value: BtfType::Array {
                    elem: Box::new(BtfType::U32),
                    len: value_size / 4,
                },
                max_entries: 2,
                flags: BPF_F_MMAPABLE,
            });
            let steps = sizing.steps(&map).to_vec();
            out.table_data.push(TableData {
                map,
                offset: offset as u64,
                stored: bytes.len() as u64,
                len: len as u64,
                value_size,
                digest: String::new(),
                steps,
            });
            out.tables.resize(out.tables.len().next_multiple_of(8), 0);
        }
    }
}

/// The map of port bitmaps and its contents, when a linear rule has a long port list.
fn add_port_bitmaps(out: &mut MapLayout, module: &Module) {
    let ports = port_lists(module);
    if ports.is_empty() {
        return;
    }
    out.defs.push(MapDef {
        name: PORTS_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        key: BtfType::U32,
        value: BtfType::Array {
            elem: Box::new(BtfType::U8),
            len: PORT_BITMAP as u32,
        },
        max_entries: ports.len() as u32,
        flags: 0,
    });
    let mut entries = Entries::with_capacity(4, PORT_BITMAP, ports.len());
    for (i, list) in ports.iter().enumerate() {
        entries.push(&(i as u32).to_le_bytes(), &port_bitmap(list));
    }
    out.contents.push(MapContents {
        map: PORTS_MAP.into(),
        entries,
    });
}

/// Every sockmap group's maps, each one a generation hands on to the next.
fn add_sockmap_maps(out: &mut MapLayout, module: &Module) {
    for g in &module.sockmaps {
        for role in g.roles() {
            let name = g.map_name(role);
            out.defs.push(sockmap_def(name.clone(), role));
            out.durable.push(DurableMap {
                map: name,
                cgroup: g.cgroup.clone(),
                role,
                named: match role {
                    MapRole::Sockets => g.named.clone(),
                    _ => Vec::new(),
                },
            });
        }
    }
}

/// The `log` maps (`lower/log.rs`): the rates by counter slot (with their contents),
/// the per-CPU windows, the ring buffer.
/// With any `limit`, the buckets by counter slot (all full: zero-filled); with any
/// `per source` limit, the LRU table of the sources' buckets.
fn add_limit_maps(out: &mut MapLayout, used: &RuleUse, slot_maps: u32) {
    use super::limit;
    if !used.limits {
        return;
    }
    out.defs.push(MapDef {
        name: limit::LIMITS_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        key: BtfType::U32,
        value: BtfType::U64,
        max_entries: slot_maps,
        flags: 0,
    });
    if used.per_source {
        out.defs.push(MapDef {
            name: limit::SOURCES_MAP.into(),
            map_type: bpf_map_type::BPF_MAP_TYPE_LRU_HASH as u32,
            key: limit_source_key(),
            value: BtfType::U64,
            max_entries: limit::SOURCES,
            flags: 0,
        });
    }
}

/// The limits of `reject`'s answers (`answers.rs`): the host-wide bucket and its
/// configuration, the destinations' buckets, the per-CPU counts of answers refused.
/// The first map has no contents here: the runtime writes both its elements when it
/// loads the object (the configuration with the sysctls of the install's namespace,
/// the bucket full as of the load), and they are not contents a manifest records and
/// a repair restores: the bucket's state moves with the traffic.
fn add_answer_maps(out: &mut MapLayout) {
    use super::answers;
    let words = |name: &str, n: u32| BtfType::Struct {
        name: name.into(),
        members: (0..n).map(|i| (format!("w{i}"), BtfType::U64)).collect(),
    };
    out.defs.push(MapDef {
        name: answers::ANSWERS_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        key: BtfType::U32,
        value: words("reject_answers", crate::syntax::answers::word::SIZE / 8),
        max_entries: 2,
        flags: 0,
    });
    out.defs.push(MapDef {
        name: answers::PEERS_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_LRU_HASH as u32,
        key: limit_source_key(),
        value: BtfType::U64,
        max_entries: answers::PEERS,
        flags: 0,
    });
    out.defs.push(MapDef {
        name: answers::LIMITED_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32,
        key: BtfType::U32,
        value: words("reject_limited", 2),
        max_entries: 2,
        flags: 0,
    });
}

/// The key of a bucket per address: `{slot, family, address}`.
fn limit_source_key() -> BtfType {
    BtfType::Struct {
        name: "limit_source".into(),
        members: vec![
            ("slot".into(), BtfType::U32),
            ("family".into(), BtfType::U32),
            (
                "addr".into(),
                BtfType::Array {
                    elem: Box::new(BtfType::U8),
                    len: 16,
                },
            ),
        ],
    }
}

fn add_log_maps(out: &mut MapLayout, module: &Module, slot_maps: u32) {
    use super::lower::log;
    out.defs.push(MapDef {
        name: log::LOG_LIMITS_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        key: BtfType::U32,
        value: BtfType::U32,
        max_entries: slot_maps,
        flags: 0,
    });
    let mut entries = Entries::with_capacity(4, 4, module.logs.len());
    for (slot, rate) in &module.logs {
        entries.push(&slot.to_le_bytes(), &rate.to_le_bytes());
    }
    out.contents.push(MapContents {
        map: log::LOG_LIMITS_MAP.into(),
        entries,
    });
    out.defs.push(MapDef {
        name: log::LOG_STATE_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32,
        key: BtfType::U32,
        value: BtfType::Struct {
            name: "log_window".into(),
            members: vec![
                ("start_ns".into(), BtfType::U64),
                ("count".into(), BtfType::U64),
            ],
        },
        max_entries: slot_maps,
        flags: 0,
    });
    let nothing = || BtfType::Struct {
        name: String::new(),
        members: Vec::new(),
    };
    out.defs.push(MapDef {
        name: log::EVENTS_MAP.into(),
        map_type: bpf_map_type::BPF_MAP_TYPE_RINGBUF as u32,
        // A ring buffer has no key or value ([`MapDef::has_key_value`]).
        key: nothing(),
        value: nothing(),
        max_entries: log::EVENTS_BYTES,
        flags: 0,
    });
}

/// An address set's maps, one per family it has elements of, with their entries
/// ([`set_map_type`]: a hash map when every element is a whole address, else an LPM
/// trie; the key layout is the same).
fn add_address_set(out: &mut MapLayout, module: &Module, set: SetId) {
    let s = &module.sets[set];
    let (v4, v6) = (v4_entries(&s.v4), v6_entries(&s.v6));
    let families = [(Family::V4, v4), (Family::V6, v6)];
    for (family, (entries, whole_addresses)) in families {
        if entries.is_empty() {
            continue;
        }
        let name = set_map_name(module, set, family);
        out.defs.push(MapDef {
            name: name.clone(),
            map_type: set_map_type(whole_addresses),
            key: lpm_key_type(family),
            value: BtfType::U8,
            max_entries: set_capacity(entries.len()),
            flags: BPF_F_NO_PREALLOC,
        });
        out.contents.push(MapContents { map: name, entries });
    }
}

/// The kind of one family's map of a set: a hash map when every element is a whole
/// address (`/32`, `/128`: a blocklist), an LPM trie otherwise. Both are keyed
/// `{u32 prefixlen; addr}` ([`lpm_key_type`]) and the program looks up the packet's
/// address with the full prefix length, so a hash map finds exactly the elements a
/// trie would; the kernel looks up a hash map in one probe, and fills one from several
/// CPUs at once where a trie takes one lock per insert (an insert costs about the same
/// in either: docs/benchmarks.md). Neither is preallocated: unused capacity costs a
/// hash map its buckets only.
pub(crate) fn set_map_type(whole_addresses: bool) -> u32 {
    if whole_addresses {
        bpf_map_type::BPF_MAP_TYPE_HASH as u32
    } else {
        bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32
    }
}

/// The key of an address set's map (trie or hash): `{u32 prefixlen; u8 addr[4 or
/// 16]}`.
fn lpm_key_type(family: Family) -> BtfType {
    let (name, addr_len) = match family {
        Family::V4 => ("lpm_key_v4", 4),
        Family::V6 => ("lpm_key_v6", 16),
    };
    BtfType::Struct {
        name: name.into(),
        members: vec![
            ("prefixlen".into(), BtfType::U32),
            (
                "addr".into(),
                BtfType::Array {
                    elem: Box::new(BtfType::U8),
                    len: addr_len,
                },
            ),
        ],
    }
}

/// The SHA-256 of `bytes` in lowercase hex: how records and manifests name content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object of an older sockc named a table's digest `sha256` (a bare SHA-256): it
    /// still reads, its digest kept as written, which no [`table_digest`] equals.
    #[test]
    fn an_older_objects_table_digest_still_reads() {
        let old =
            r#"{"map":"c0_tables","offset":0,"stored":8,"len":8,"value_size":8,"sha256":"ab"}"#;
        let t: TableData = serde_json::from_str(old).unwrap();
        assert_eq!(t.digest, "ab");
        assert!(!t.digest.starts_with(TABLE_DIGEST_PREFIX));
    }

    /// A table's digest names its hash function and is that function's hash of exactly
    /// the bytes given (BLAKE3's published value for "abc"): one byte more, less or
    /// other gives another, and none equals the SHA-256 of the same bytes in bare hex
    /// (how sockc named tables before), so a manifest of then reads as changed.
    #[test]
    fn a_table_digest_is_the_blake3_of_exactly_its_bytes() {
        assert_eq!(
            table_digest(b"abc"),
            "blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let d = table_digest(&bytes);
        assert!(d.starts_with(TABLE_DIGEST_PREFIX) && d.len() == TABLE_DIGEST_PREFIX.len() + 64);
        assert_ne!(d, sha256_hex(&bytes));
        assert_ne!(d[TABLE_DIGEST_PREFIX.len()..], sha256_hex(&bytes));
        assert_ne!(d, table_digest(&bytes[..bytes.len() - 1]));
        assert_ne!(d, table_digest(&[&bytes[..], &[0]].concat()));
        let mut other = bytes.clone();
        other[123_456] ^= 1;
        assert_ne!(d, table_digest(&other));
        assert_eq!(d, table_digest(&bytes.clone()));
    }

    /// The one pass over the rules finds what a scan per question finds: the counter
    /// slots, the sets named, `limit`s and `per source` ones, ICMP answers; on every
    /// rule file under `rules/` that compiles (some with each).
    #[test]
    fn the_rules_read_once_are_what_a_scan_each_finds() {
        let mut seen = RuleUse::default();
        for (f, c) in crate::bpf::test_support::example_modules() {
            let m = &c.module;
            let rules = || m.programs.values().flat_map(|p| &p.rules);
            let mut sets = std::collections::BTreeSet::new();
            for r in rules() {
                for a in [&r.m.src, &r.m.dst] {
                    if let AddrMatch::Set(s) = a {
                        sets.insert(*s);
                    }
                }
            }
            let each = RuleUse {
                slots: used_slots(m),
                sets,
                limits: rules().any(|r| r.m.limit().is_some()),
                per_source: rules().any(|r| r.m.limit().is_some_and(|l| l.limit.per_source)),
                answers: m.programs.values().any(|p| p.answers_icmp()),
            };
            let once = RuleUse::of(m);
            assert_eq!(once, each, "{}", f.display());
            assert_eq!(
                layout(m, &Sizing::of(m, None)).answers_limited,
                m.answers_limited(),
                "{}",
                f.display()
            );
            seen.sets.extend(once.sets);
            seen.limits |= once.limits;
            seen.per_source |= once.per_source;
            seen.answers |= once.answers;
        }
        assert!(!seen.sets.is_empty() && seen.limits && seen.per_source && seen.answers);
    }

    /// The map of `name` in `src` compiled.
    fn set_map(src: &str, name: &str) -> MapDef {
        let (compiled, diags) = crate::compile(src, &Default::default());
        let c = compiled.unwrap_or_else(|| panic!("{diags:#?}"));
        c.maps.into_iter().find(|m| m.name == name).expect(name)
    }

    /// Each family's map is a hash map when every element of that family is a whole
    /// address, else an LPM trie, with the same key and value either way: the lookup
    /// code does not change with the kind.
    #[test]
    fn a_family_of_whole_addresses_is_a_hash_map() {
        let hash = bpf_map_type::BPF_MAP_TYPE_HASH as u32;
        let trie = bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32;
        for (elements, v4, v6) in [
            ("192.0.2.1, 192.0.2.9, 2001:db8::1", hash, hash),
            ("192.0.2.1, 198.51.100.0/24, 2001:db8::1", trie, hash),
            ("192.0.2.1, 2001:db8::/64, 2001:db8:1::1", hash, trie),
            ("10.0.0.0/8, 2001:db8::/32", trie, trie),
        ] {
            let src = format!(
                "set s = {{ {elements} }}\nxdp on eth0 {{\n  drop from @s\n  default allow\n}}\n"
            );
            for (name, family, want) in [("set_s_v4", Family::V4, v4), ("set_s_v6", Family::V6, v6)]
            {
                let m = set_map(&src, name);
                assert_eq!(m.map_type, want, "{elements}: {name}");
                assert_eq!(m.key, lpm_key_type(family), "{elements}: {name}");
                assert_eq!(m.value, BtfType::U8);
                assert_eq!(m.flags, BPF_F_NO_PREALLOC, "{elements}: {name}");
            }
        }
    }
}
