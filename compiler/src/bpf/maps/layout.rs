//! [`layout`]: every map of a module, each kind in turn (counters, sockets, classifier
//! tables, port bitmaps, sockmap groups, `log`, limits, answers, cgroups, address sets),
//! from what the rules use of them, read in one pass ([`RuleUse`]).
//!
//! Invariant: each map lowered code names is added with the key and value layout that
//! code reads.

use aya_obj::generated::{bpf_map_type, BPF_F_MMAPABLE, BPF_F_NO_PREALLOC};

use super::{
    counters_map, other_slots, port_bitmap, port_lists, rule_counter, set_capacity, set_map_name,
    sockmap_def, uses_sockets, BtfType, DurableMap, Entries, MapContents, MapDef, MapLayout,
    Sizing, TableData, PORTS_MAP, PORT_BITMAP, SOCKETS_MAP, SOCKETS_MAX, SOCKET_DROPS_MAP,
};
use crate::{
    bpf::{
        classify,
        set_entries::{v4_entries, v6_entries},
    },
    hooks,
    ir::{sockmap::MapRole, AddrMatch, Module, SetId, Step},
    syntax::ast::Family,
};

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
pub(super) struct RuleUse {
    /// [`used_slots`].
    pub(super) slots: u32,
    /// The sets a rule's source or destination names.
    pub(super) sets: std::collections::BTreeSet<SetId>,
    /// Some rule has a `limit`, and some a `limit ... per source`.
    pub(super) limits: bool,
    pub(super) per_source: bool,
    /// Some rule answers with an ICMP error ([`crate::ir::Rule::answers_icmp`]).
    pub(super) answers: bool,
}

impl RuleUse {
    pub(super) fn of(module: &Module) -> RuleUse {
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
    use crate::bpf::cgroup_match::{CGROUPS_MAP, CGROUPS_MAX};
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
    use crate::bpf::limit;
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
    use crate::bpf::answers;
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
    use crate::bpf::lower::log;
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
pub(super) fn lpm_key_type(family: Family) -> BtfType {
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
