//! Set updates in place: the entries a new file adds to and removes from the live
//! generation's set maps, written into the pinned maps and only those keys read back
//! ([`verify_changes`]: an update costs what it changes, not the set's size); and the
//! same maps read back entry by entry ([`drift`]), with the changes that rewrite them
//! from the manifest (`super::repair` makes them).
//!
//! Invariants: every new element is added before any old one is removed, so an
//! address in both the old and the new set never drops out, even for a moment; both
//! steps are idempotent, so running them again after a kill finishes the update. The
//! maps compared are those whose contents the manifest records (what the programs only
//! read); an array's every index exists, so an index the manifest does not list must
//! hold zeros, as a fresh array has it.

use std::{collections::HashSet, os::fd::AsFd};

use aya::maps::{MapData, MapType};
use sockc_compiler::bpf::maps::{hex, set_of_map, Entries, MapContents};

use super::InstallError;
use crate::{
    map_write,
    set_count::{set_entries, SetKind},
};
use crate::{
    plan::{set_changes, SetChange},
    store::{Manifest, Store},
    sys,
};

/// How the live set maps of `m` differ from its manifest: a line per map that
/// differs (or cannot be read), and the changes that bring them back.
pub(super) struct SetDrift {
    pub lines: Vec<String>,
    pub restore: Vec<SetChange>,
}

/// Reads every map whose contents `m` records back from the kernel and compares it,
/// entry by entry and value by value, with the manifest.
pub(super) fn drift(store: &Store, m: &Manifest) -> SetDrift {
    let dir = store.objects_dir(&m.name, &m.objects_dir);
    let mut out = SetDrift {
        lines: Vec::new(),
        restore: Vec::new(),
    };
    for want in &m.snapshot.map_contents {
        let path = dir.join(format!("map_{}", want.map));
        let live = MapData::from_pin(&path)
            .map_err(|e| e.to_string())
            .and_then(|map| read_contents(&map, want));
        let live = match live {
            Ok(live) => live,
            Err(e) => {
                out.lines.push(format!("set map {}: {e}", want.map));
                continue;
            }
        };
        for c in set_changes(std::slice::from_ref(&live), std::slice::from_ref(want)) {
            let live_keys: HashSet<&[u8]> = live.entries.iter().map(|(k, _)| k).collect();
            let missing = c
                .added
                .iter()
                .filter(|(k, _)| !live_keys.contains(k))
                .count();
            out.lines.push(format!(
                "set map {}: {} entries missing, {} with another value, {} not in the manifest",
                c.map,
                missing,
                c.added.len() - missing,
                c.removed.len()
            ));
            out.restore.push(c);
        }
    }
    out
}

/// [`drift`] for an apply that keeps the set maps as they are, and what `diff
/// --installed` and `status` report: each map is checked without a text per entry or
/// an entry-by-entry comparison ([`unchanged`]); only when one differs, or a map cannot
/// be checked that way, are the maps compared entry by entry, and the lines are
/// [`drift`]'s.
pub(super) fn drift_quick(store: &Store, m: &Manifest) -> Vec<String> {
    let dir = store.objects_dir(&m.name, &m.objects_dir);
    let matches = |want: &MapContents| -> Option<bool> {
        let map = MapData::from_pin(dir.join(format!("map_{}", want.map))).ok()?;
        unchanged(&map, want)
    };
    if m.snapshot
        .map_contents
        .iter()
        .all(|want| matches(want) == Some(true))
    {
        return Vec::new();
    }
    drift(store, m).lines
}

/// Whether the live `map` holds what `want` lists, checked without comparing entry
/// by entry; `None` when it cannot be checked so (then [`drift`] compares every
/// entry).
///
/// A set map (an LPM trie, or a hash map of whole addresses) is not read whole:
/// reading a trie of a million entries costs the kernel about half a second, a hash
/// map a third of one. Its entry count ([`set_entries`], from the kernel's accounting
/// of its memory) must be the manifest's, and a sample of the manifest's entries,
/// spread over them, must each read back their value. What this can miss: an entry
/// replaced by another behind sockc's back (one deleted and one added: the count is
/// the same) or a value overwritten, outside the sample; a lookup in a trie answers
/// for the longest covering prefix, so a sampled element deleted while a foreign
/// prefix covering it was added reads back too. `status --deep`, `sockc repair` and a
/// plan that changes the set compare or write what they touch exactly. Any other map
/// the kernel can read in batches is compared by its entry count and an
/// order-independent digest of its entries.
fn unchanged(map: &MapData, want: &MapContents) -> Option<bool> {
    let info = map.info().ok()?;
    let fd = map.fd().as_fd();
    let (key_len, value_len) = (info.key_size() as usize, info.value_size() as usize);
    let kind = match info.map_type() {
        // Arrays hold zeros where the manifest lists nothing: entry by entry.
        Ok(MapType::Array) => return None,
        Ok(MapType::LpmTrie) => Some(SetKind::Trie),
        Ok(MapType::Hash) if set_of_map(&want.map).is_some() => Some(SetKind::Hash {
            capacity: info.max_entries(),
        }),
        _ => None,
    };
    let Some(kind) = kind else {
        let (keys, values) = sys::map_dump(fd, key_len, value_len, map_write::BATCH).ok()?;
        let live = keys
            .chunks_exact(key_len.max(1))
            .zip(values.chunks_exact(value_len.max(1)));
        let (live_count, live_digest) = digest(live);
        let (want_count, want_digest) = digest(want.entries.iter());
        return Some(live_count == want_count && live_digest == want_digest);
    };
    let count = set_entries(fd, kind, info.key_size(), info.value_size())?;
    if count != want.entries.len() as u64 {
        return Some(false);
    }
    let n = want.entries.len();
    let step = n.div_ceil(SAMPLE).max(1);
    let sampled = (0..n).step_by(step).chain(n.checked_sub(1));
    for i in sampled {
        let live = sys::map_lookup(fd, want.entries.key(i), value_len).ok()?;
        if live.as_deref() != Some(want.entries.value(i)) {
            return Some(false);
        }
    }
    Some(true)
}

/// How many of a set map's entries [`unchanged`] reads back (and its last): a few
/// hundred microseconds of lookups whatever the set's size.
const SAMPLE: usize = 256;

/// Two independent 64-bit hashes of one entry (key, then value).
fn entry_hash(key: &[u8], value: &[u8]) -> (u64, u64) {
    use std::hash::{BuildHasher, Hasher};
    let one = |seed: u64| {
        let mut h = foldhash::fast::FixedState::with_seed(seed).build_hasher();
        h.write(key);
        h.write(value);
        h.finish()
    };
    (one(0x736f_636b_6331), one(0x7365_7473_3331))
}

/// The count and the order-independent digest (sums of [`entry_hash`]) of entries.
fn digest<'a>(entries: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> (usize, (u64, u64)) {
    entries.fold((0, (0, 0)), |(n, (a, b)), (k, v)| {
        let h = entry_hash(k, v);
        (n + 1, (a.wrapping_add(h.0), b.wrapping_add(h.1)))
    })
}

/// The entries of `map` as the manifest lists them. For an array, the indexes that
/// hold something other than zeros, and those the manifest lists.
fn read_contents(map: &MapData, want: &MapContents) -> Result<MapContents, String> {
    let info = map.info().map_err(|e| e.to_string())?;
    let (key_len, value_len) = (info.key_size() as usize, info.value_size() as usize);
    let is_array = matches!(info.map_type(), Ok(MapType::Array));
    let listed: HashSet<&[u8]> = want.entries.iter().map(|(k, _)| k).collect();
    let mut entries = Entries::with_capacity(key_len, value_len, want.entries.len());
    let mut keep = |k: &[u8], v: &[u8]| {
        if !is_array || v.iter().any(|b| *b != 0) || listed.contains(k) {
            entries.push(k, v);
        }
    };
    let fd = map.fd().as_fd();
    match sys::map_dump(fd, key_len, value_len, map_write::BATCH) {
        Ok((keys, values)) => {
            let values = values.chunks_exact(value_len.max(1));
            for (k, v) in keys.chunks_exact(key_len.max(1)).zip(values) {
                keep(k, v);
            }
        }
        // Kernels without batch lookups for this kind: one key and one lookup a time.
        Err(e) if sys::batch_unsupported(&e) => {
            let mut key: Option<Vec<u8>> = None;
            while let Some(k) =
                sys::map_next_key(fd, key.as_deref(), key_len).map_err(|e| e.to_string())?
            {
                if let Some(v) = sys::map_lookup(fd, &k, value_len).map_err(|e| e.to_string())? {
                    keep(&k, &v);
                }
                key = Some(k);
            }
        }
        Err(e) => return Err(e.to_string()),
    }
    Ok(MapContents {
        map: want.map.clone(),
        entries,
    })
}

/// Adds every new element before removing any old one, so an address in both the old
/// and the new set never drops out, even for a moment. Both steps are idempotent, so
/// running them again after a kill finishes the update. Then reads back the changed
/// keys, and only those ([`verify_changes`]).
pub(super) fn update_sets(
    store: &Store,
    target: &Manifest,
    changes: &[SetChange],
) -> Result<(), InstallError> {
    let dir = store.objects_dir(&target.name, &target.objects_dir);
    let open = |map: &str| -> Result<MapData, InstallError> {
        let path = dir.join(format!("map_{map}"));
        MapData::from_pin(&path).map_err(|source| InstallError::OpenMap { path, source })
    };
    let mut written = Vec::with_capacity(changes.len());
    for change in changes {
        let map = open(&change.map)?;
        let shape = shape(&map, &change.map)?;
        let fault = |f| write_fault(f, &change.map, "insert", &change.added);
        map_write::check_sizes(&change.added, shape.key_len, shape.value_len).map_err(fault)?;
        let what = format!("insert into {}", change.map);
        map_write::update(map.fd().as_fd(), &change.added, &what).map_err(fault)?;
        written.push((map, shape));
    }
    for (change, (map, shape)) in changes.iter().zip(&written) {
        let fault = |f| write_fault(f, &change.map, "remove", &change.removed);
        let keys = &change.removed;
        map_write::check_sizes(keys, shape.key_len, shape.value_len).map_err(fault)?;
        let what = format!("remove from {}", change.map);
        // An array's elements always exist (the kernel refuses to delete one): a
        // removed entry goes back to zero, as a fresh map has it.
        if shape.array {
            let zeros = keys.with_value(&vec![0u8; shape.value_len]);
            map_write::update(map.fd().as_fd(), &zeros, &what).map_err(fault)?;
        } else {
            map_write::delete(map.fd().as_fd(), keys, &what).map_err(fault)?;
        }
    }
    for (change, (map, shape)) in changes.iter().zip(&written) {
        let (added, removed) = (&change.added, &change.removed);
        verify_changes(map, shape, added, removed).map_err(|source| InstallError::SetUpdate {
            map: change.map.clone(),
            what: "read back the changed entries",
            source,
        })?;
    }
    Ok(())
}

/// Reads back what an update wrote, one lookup per changed key and nothing else: each
/// added key holds its new value, and each removed key of a hash map is gone (of an
/// array, zeros). A removed key of an LPM trie is not looked up: a lookup there answers
/// for the longest prefix that covers the key, which may be another element; the
/// kernel's delete is exact and was answered before this runs.
///
/// What this cannot see, by design: entries the update does not touch. An entry added
/// to or deleted from the pinned map behind sockc's back stays as it is through an
/// update in place; `sockc status --deep`, `sockc repair`, and an apply with nothing to
/// change compare every entry and rewrite the map from the manifest. The pins live
/// under the store's root-only directory, so only root can make such drift; the update
/// path trusts root not to race it, as it trusts the manifest.
fn verify_changes(
    map: &MapData,
    shape: &Shape,
    added: &Entries,
    removed: &Entries,
) -> std::io::Result<()> {
    let fd = map.fd().as_fd();
    for (key, value) in added.iter() {
        let live = sys::map_lookup(fd, key, shape.value_len)?;
        if live.as_deref() != Some(value) {
            return Err(std::io::Error::other(format!(
                "key {} reads back {}, {} was written",
                hex(key),
                live.as_deref().map_or_else(|| "as absent".to_string(), hex),
                hex(value)
            )));
        }
    }
    if shape.lpm {
        return Ok(());
    }
    for key in (0..removed.len()).map(|i| removed.key(i)) {
        let live = sys::map_lookup(fd, key, shape.value_len)?;
        let gone = match (&live, shape.array) {
            (None, _) => true,
            (Some(v), true) => v.iter().all(|b| *b == 0),
            (Some(_), false) => false,
        };
        if !gone {
            return Err(std::io::Error::other(format!(
                "key {} is still in the map after its removal",
                hex(key)
            )));
        }
    }
    Ok(())
}

/// What the update of one set map needs to know of it.
struct Shape {
    key_len: usize,
    value_len: usize,
    /// Every index exists: a removed entry is written back to zeros.
    array: bool,
    /// Lookups answer for the longest covering prefix, not the exact key.
    lpm: bool,
}

/// The [`Shape`] of a set map, from the kernel's description of it.
fn shape(map: &MapData, name: &str) -> Result<Shape, InstallError> {
    let info = map.info().map_err(|e| InstallError::SetUpdate {
        map: name.to_string(),
        what: "read the map's sizes",
        source: std::io::Error::other(e),
    })?;
    Ok(Shape {
        key_len: info.key_size() as usize,
        value_len: info.value_size() as usize,
        array: matches!(info.map_type(), Ok(MapType::Array)),
        lpm: matches!(info.map_type(), Ok(MapType::LpmTrie)),
    })
}

/// The error of a failed set write, naming the entry it stopped at.
fn write_fault(
    f: map_write::WriteFault,
    map: &str,
    what: &'static str,
    entries: &Entries,
) -> InstallError {
    use map_write::WriteFault;
    let key = |i: usize| {
        if i < entries.len() {
            hex(entries.key(i))
        } else {
            String::new()
        }
    };
    let source = match f {
        WriteFault::Size { index, got, want } => std::io::Error::other(format!(
            "entry {} is {}+{} bytes, map wants {}+{}",
            key(index),
            got.0,
            got.1,
            want.0,
            want.1
        )),
        WriteFault::Kernel { source, .. } => source,
    };
    InstallError::SetUpdate {
        map: map.to_string(),
        what,
        source,
    }
}
