//! How set maps' entries change between two files (or between a manifest and what
//! the kernel holds), an entry as a person reads it, and the set maps whose
//! definition changes ([`set_reshapes`]: why a set change reloads programs).
//!
//! Invariant: the added and removed entries of one map never share a key, so they may
//! be applied in any order; the cost follows the change, not the set's size (the
//! entries both lists begin and end with alike are left out before any hashing).

use std::{
    collections::{HashMap, HashSet},
    net::{Ipv4Addr, Ipv6Addr},
};

use aya_obj::generated::bpf_map_type;
use serde::{Deserialize, Serialize};
use sockc_compiler::bpf::maps::{
    hex, set_of_map, unhex, Entries, MapContents, MapShape, PORTS_MAP,
};

/// How one map's entries change. `added` holds entries to insert or overwrite and
/// `removed` the entries whose keys are gone; their keys never overlap, so the runtime
/// may apply them in any order (inserting first leaves no moment where neither the old
/// nor the new entry matches). Both are packed ([`Entries`]): a first install's million
/// elements are the compiled set's own buffers, not a million strings. The hex and the
/// readable text of an entry are made when something shows it
/// ([`SetChange::added_text`], [`SetChange::to_json`]); the journal, which serializes
/// this, holds the packed form (and reads the list of hex pairs earlier versions wrote).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetChange {
    pub map: String,
    #[serde(rename = "added_raw")]
    pub added: Entries,
    #[serde(rename = "removed_raw")]
    pub removed: Entries,
    /// How many entries the old and the new contents share at their head and at their
    /// tail (the change lies between): what lets the store write a large set's record
    /// as a delta over the old one (`store::set_delta`).
    #[serde(skip)]
    pub shared: Shared,
}

/// Where a [`SetChange`] lies in its map's contents: the entries the old and new
/// contents share at their head and tail; `None` for a change read from a journal.
/// A hint about the change, not part of it: any two are equal.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shared(pub Option<(usize, usize)>);

impl PartialEq for Shared {
    fn eq(&self, _: &Shared) -> bool {
        true
    }
}

impl Eq for Shared {}

impl SetChange {
    /// The added entries as [`describe_entry`] reads them: `10.0.0.0/8`,
    /// `2001:db8::/32`, `198.51.100.7`; hex `key => value` for maps that are not sets.
    pub fn added_text(&self) -> impl ExactSizeIterator<Item = String> + '_ {
        described(&self.map, &self.added)
    }

    /// The removed entries, read as [`SetChange::added_text`] reads the added.
    pub fn removed_text(&self) -> impl ExactSizeIterator<Item = String> + '_ {
        described(&self.map, &self.removed)
    }

    /// The change as the plan's JSON shows it: `map`, the readable `added` and
    /// `removed`, and the raw `added_raw` and `removed_raw` (`[key, value]` hex pairs).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "map": self.map,
            "added": self.added_text().collect::<Vec<_>>(),
            "removed": self.removed_text().collect::<Vec<_>>(),
            "added_raw": self.added.to_hex_pairs(),
            "removed_raw": self.removed.to_hex_pairs(),
        })
    }
}

/// The entries of map `map` as [`describe_entry`] reads them, one at a time.
pub(super) fn described<'a>(
    map: &'a str,
    entries: &'a Entries,
) -> impl ExactSizeIterator<Item = String> + 'a {
    entries
        .iter()
        .map(move |(k, v)| describe_entry(map, &hex(k), &hex(v)))
}

/// A map entry as a person reads it: set maps hold LPM keys (`u32` prefix length,
/// little endian, then the address), printed as the rule language writes prefixes;
/// a port bitmap is printed as its list's number and how many ports it holds.
pub fn describe_entry(map: &str, key: &str, value: &str) -> String {
    if map == PORTS_MAP {
        let n = unhex(key)
            .and_then(|k| Some(u32::from_le_bytes(k.get(..4)?.try_into().ok()?)))
            .map_or_else(|| key.to_string(), |n| n.to_string());
        let ports: u32 = unhex(value).map_or(0, |v| v.iter().map(|b| b.count_ones()).sum());
        return format!("port list {n} ({ports} ports)");
    }
    let prefix = map
        .starts_with("set_")
        .then(|| unhex(key))
        .flatten()
        .and_then(|bytes| {
            let (len, addr) = bytes.split_at_checked(4)?;
            let len = u32::from_le_bytes(len.try_into().ok()?);
            let (text, full) = match addr.len() {
                4 => (
                    Ipv4Addr::from(<[u8; 4]>::try_from(addr).ok()?).to_string(),
                    32,
                ),
                16 => (
                    Ipv6Addr::from(<[u8; 16]>::try_from(addr).ok()?).to_string(),
                    128,
                ),
                _ => return None,
            };
            match len {
                l if l == full => Some(text),
                l if l < full => Some(format!("{text}/{l}")),
                _ => None,
            }
        });
    prefix.unwrap_or_else(|| format!("{key} => {value}"))
}

/// What turns the contents `old` into `new`, map by map: entries to add (or whose
/// value changes) and keys to remove. Also what rewrites a set map that was changed
/// behind sockc's back (`old` read from the kernel). Keys are unique within a map's
/// contents (the compiler writes each once, the kernel holds each once), so the
/// entries both lists begin and end with alike are in both and left out before any
/// hashing: adding one element to a large set hashes nothing but the neighbourhood.
pub(crate) fn set_changes(old: &[MapContents], new: &[MapContents]) -> Vec<SetChange> {
    let old_by_name: HashMap<&str, &MapContents> =
        old.iter().map(|m| (m.map.as_str(), m)).collect();
    let new_by_name: HashMap<&str, &MapContents> =
        new.iter().map(|m| (m.map.as_str(), m)).collect();
    let names = new
        .iter()
        .map(|m| m.map.as_str())
        .chain(old.iter().map(|m| m.map.as_str()))
        .filter({
            let mut seen = HashSet::new();
            move |n| seen.insert(*n)
        });
    let none = Entries::default();
    let mut changes = Vec::new();
    for name in names {
        let old_entries = old_by_name.get(name).map_or(&none, |m| &m.entries);
        let new_entries = new_by_name.get(name).map_or(&none, |m| &m.entries);
        if old_entries == new_entries {
            continue;
        }
        let (added, removed, shared) = entry_changes(old_entries, new_entries);
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        changes.push(SetChange {
            map: name.to_string(),
            added,
            removed,
            shared: Shared(Some(shared)),
        });
    }
    changes
}

/// Entries of `new` that `old` lacks or holds with another value, and entries of `old`
/// whose keys `new` lacks, each listed once; and how many entries the two share at
/// their head and tail. When one side's middle (what is left between the shared head
/// and tail) is empty, the other side's middle is the change as it is, without
/// hashing: a first install, and an element added or removed.
fn entry_changes(old: &Entries, new: &Entries) -> (Entries, Entries, (usize, usize)) {
    type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
    type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;
    let head = shared_run(old, new, old.len().min(new.len()), false);
    let tail = shared_run(old, new, (old.len() - head).min(new.len() - head), true);
    let (old_end, new_end) = (old.len() - tail, new.len() - tail);
    if head == old_end || head == new_end {
        let (added, removed) = (new.range(head, new_end), old.range(head, old_end));
        return (added, removed, (head, tail));
    }
    let old_mid = (head..old_end).map(|i| (old.key(i), old.value(i)));
    let new_mid = (head..new_end).map(|i| (new.key(i), new.value(i)));
    let old_values: FastMap<&[u8], &[u8]> = old_mid.clone().collect();
    let new_keys: FastSet<&[u8]> = new_mid.clone().map(|(k, _)| k).collect();
    let mut added = Entries::with_capacity(new.key_len(), new.value_len(), 0);
    let mut listed = FastSet::default();
    for (k, v) in new_mid.filter(|(k, v)| old_values.get(k) != Some(v)) {
        if listed.insert(k) {
            added.push(k, v);
        }
    }
    let mut removed = Entries::with_capacity(old.key_len(), old.value_len(), 0);
    let mut listed = FastSet::default();
    for (k, v) in old_mid.filter(|(k, _)| !new_keys.contains(k)) {
        if listed.insert(k) {
            removed.push(k, v);
        }
    }
    (added, removed, (head, tail))
}

/// Entries compared a block at a time by [`shared_run`]: 64 KiB of 16-byte entries,
/// few enough slice comparisons for a million entries, small enough that the block
/// holding a change is soon walked entry by entry.
pub(super) const SHARED_RUN_BLOCK: usize = 4096;

/// How many entries `a` and `b` share, up to `limit`, from their start (`from_end`:
/// from their end, the last of each compared first): whole blocks of keys and values
/// compared as slices at memory speed, then the block with the first difference
/// entry by entry. Entries of other sizes share nothing.
fn shared_run(a: &Entries, b: &Entries, limit: usize, from_end: bool) -> usize {
    if (a.key_len(), a.value_len()) != (b.key_len(), b.value_len()) {
        return 0;
    }
    // Entries `at..end` counted from the chosen end, as an index range of `e`.
    let range = |e: &Entries, at: usize, end: usize| {
        if from_end {
            (e.len() - end, e.len() - at)
        } else {
            (at, end)
        }
    };
    let same = |at: usize, end: usize| {
        let ((a0, a1), (b0, b1)) = (range(a, at, end), range(b, at, end));
        a.keys(a0, a1) == b.keys(b0, b1) && a.values(a0, a1) == b.values(b0, b1)
    };
    let mut n = 0;
    while n < limit {
        let step = SHARED_RUN_BLOCK.min(limit - n);
        if !same(n, n + step) {
            while same(n, n + 1) {
                n += 1;
            }
            return n;
        }
        n += step;
    }
    n
}

/// A set map both sides have whose definition differs: its kind (a hash map holds
/// whole addresses only, an LPM trie prefixes; `bpf::maps::set_map_type`) or its
/// capacity. Such a map cannot be written in place: a new object with new maps is
/// loaded and the programs that look the set up reload. What the plan says of why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetReshape {
    pub map: String,
    pub old: MapShape,
    pub new: MapShape,
}

impl SetReshape {
    /// `hash map (whole addresses) -> LPM trie (prefixes)`, `capacity 1024 -> 4096`,
    /// or both, `; `-separated.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.old.map_type != self.new.map_type {
            let (old, new) = (map_kind(self.old.map_type), map_kind(self.new.map_type));
            parts.push(format!("{old} -> {new}"));
        }
        if self.old.max_entries != self.new.max_entries {
            let (old, new) = (self.old.max_entries, self.new.max_entries);
            parts.push(format!("capacity {old} -> {new}"));
        }
        if parts.is_empty() {
            parts.push("definition changes".to_string());
        }
        parts.join("; ")
    }

    /// The reshape as the plan's JSON shows it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "map": self.map,
            "old_kind": map_kind(self.old.map_type),
            "new_kind": map_kind(self.new.map_type),
            "old_capacity": self.old.max_entries,
            "new_capacity": self.new.max_entries,
            "why": self.describe(),
        })
    }
}

/// A set map's kind in words.
fn map_kind(map_type: u32) -> String {
    if map_type == bpf_map_type::BPF_MAP_TYPE_HASH as u32 {
        "hash map (whole addresses)".to_string()
    } else if map_type == bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32 {
        "LPM trie (prefixes)".to_string()
    } else {
        format!("map type {map_type}")
    }
}

/// The set maps of both `old` and `new` whose definitions differ, in `new`'s order.
pub(crate) fn set_reshapes(old: &[MapShape], new: &[MapShape]) -> Vec<SetReshape> {
    let old_by_name: HashMap<&str, &MapShape> = old.iter().map(|m| (m.name.as_str(), m)).collect();
    new.iter()
        .filter(|m| set_of_map(&m.name).is_some())
        .filter_map(|m| {
            let o = old_by_name.get(m.name.as_str())?;
            (*o != m).then(|| SetReshape {
                map: m.name.clone(),
                old: (*o).clone(),
                new: m.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "sets_tests.rs"]
mod tests;
