//! How set maps' entries change between two files (or between a manifest and what
//! the kernel holds), and an entry as a person reads it.
//!
//! Invariant: the added and removed entries of one map never share a key, so they may
//! be applied in any order; the cost follows the change, not the set's size (the
//! entries both lists begin and end with alike are left out before any hashing).

use std::{
    collections::{HashMap, HashSet},
    net::{Ipv4Addr, Ipv6Addr},
};

use serde::{Deserialize, Serialize};
use sockc_compiler::bpf::maps::{hex, unhex, Entries, MapContents, PORTS_MAP};

/// How one map's entries change. `added_raw` holds entries to insert or overwrite and
/// `removed_raw` keys that are gone; their keys never overlap, so the runtime may
/// apply them in any order (inserting first leaves no moment where neither the old
/// nor the new entry matches). The readable text of an entry is made when something
/// shows it ([`SetChange::added_text`], [`SetChange::to_json`]), not for every entry
/// of a large set; the journal, which serializes this, holds the raw entries only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetChange {
    pub map: String,
    /// (key, value) as lowercase hex.
    pub added_raw: Vec<(String, String)>,
    pub removed_raw: Vec<(String, String)>,
}

impl SetChange {
    /// The added entries as [`describe_entry`] reads them: `10.0.0.0/8`,
    /// `2001:db8::/32`, `198.51.100.7`; hex `key => value` for maps that are not sets.
    pub fn added_text(&self) -> impl ExactSizeIterator<Item = String> + '_ {
        self.added_raw
            .iter()
            .map(|(k, v)| describe_entry(&self.map, k, v))
    }

    /// The removed entries, read as [`SetChange::added_text`] reads the added.
    pub fn removed_text(&self) -> impl ExactSizeIterator<Item = String> + '_ {
        self.removed_raw
            .iter()
            .map(|(k, v)| describe_entry(&self.map, k, v))
    }

    /// The change as the plan's JSON shows it: `map`, the readable `added` and
    /// `removed`, and the raw `added_raw` and `removed_raw`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "map": self.map,
            "added": self.added_text().collect::<Vec<_>>(),
            "removed": self.removed_text().collect::<Vec<_>>(),
            "added_raw": self.added_raw,
            "removed_raw": self.removed_raw,
        })
    }
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
        let (added_raw, removed_raw) = entry_changes(old_entries, new_entries);
        if added_raw.is_empty() && removed_raw.is_empty() {
            continue;
        }
        changes.push(SetChange {
            map: name.to_string(),
            added_raw,
            removed_raw,
        });
    }
    changes
}

/// A `(key, value)` entry as lowercase hex.
type HexPair = (String, String);

/// Raw entries ([`SetChange::added_raw`]) of `new` that `old` lacks or holds with
/// another value, and of `old` whose keys `new` lacks, each listed once.
fn entry_changes(old: &Entries, new: &Entries) -> (Vec<HexPair>, Vec<HexPair>) {
    type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
    type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;
    let head = shared_run(old, new, old.len().min(new.len()), false);
    let tail = shared_run(old, new, (old.len() - head).min(new.len() - head), true);
    let old_mid = (head..old.len() - tail).map(|i| (old.key(i), old.value(i)));
    let new_mid = (head..new.len() - tail).map(|i| (new.key(i), new.value(i)));
    let old_values: FastMap<&[u8], &[u8]> = old_mid.clone().collect();
    let new_keys: FastSet<&[u8]> = new_mid.clone().map(|(k, _)| k).collect();
    let hex_pair = |(k, v): (&[u8], &[u8])| (hex(k), hex(v));
    let mut listed = FastSet::default();
    let added = new_mid
        .filter(|(k, v)| old_values.get(k) != Some(v))
        .filter(|(k, _)| listed.insert(*k))
        .map(hex_pair)
        .collect();
    let mut listed = FastSet::default();
    let removed = old_mid
        .filter(|(k, _)| !new_keys.contains(k))
        .filter(|(k, _)| listed.insert(*k))
        .map(hex_pair)
        .collect();
    (added, removed)
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
