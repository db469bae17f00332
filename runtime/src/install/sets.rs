//! Set updates in place: the entries a new file adds to and removes from the live
//! generation's set maps, written into the pinned maps; and the same maps read back
//! entry by entry ([`drift`]), with the changes that rewrite them from the manifest
//! (`super::repair` makes them).
//!
//! Invariants: every new element is added before any old one is removed, so an
//! address in both the old and the new set never drops out, even for a moment; both
//! steps are idempotent, so running them again after a kill finishes the update. The
//! maps compared are those whose contents the manifest records (what the programs only
//! read); an array's every index exists, so an index the manifest does not list must
//! hold zeros, as a fresh array has it.

use std::{
    collections::{BTreeMap, BTreeSet},
    os::fd::AsFd,
};

use aya::maps::{MapData, MapType};
use sockc_compiler::bpf::maps::{hex, unhex, MapContents};

use super::InstallError;
use crate::{
    fault::point,
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
            let (missing, changed): (Vec<_>, Vec<_>) = c
                .added_raw
                .iter()
                .partition(|(k, _)| !live.entries.iter().any(|(l, _)| l == k));
            out.lines.push(format!(
                "set map {}: {} entries missing, {} with another value, {} not in the manifest",
                c.map,
                missing.len(),
                changed.len(),
                c.removed_raw.len()
            ));
            out.restore.push(c);
        }
    }
    out
}

/// The entries of `map` as the manifest lists them (hex key and value). For an
/// array, the indexes that hold something other than zeros, and those the manifest
/// lists.
fn read_contents(map: &MapData, want: &MapContents) -> Result<MapContents, String> {
    let info = map.info().map_err(|e| e.to_string())?;
    let (key_len, value_len) = (info.key_size() as usize, info.value_size() as usize);
    let is_array = matches!(info.map_type(), Ok(MapType::Array));
    let listed: BTreeSet<&str> = want.entries.iter().map(|(k, _)| k.as_str()).collect();
    let fd = map.fd().as_fd();
    let mut entries = BTreeMap::new();
    let mut key: Option<Vec<u8>> = None;
    while let Some(k) = sys::map_next_key(fd, key.as_deref(), key_len).map_err(|e| e.to_string())? {
        if let Some(v) = sys::map_lookup(fd, &k, value_len).map_err(|e| e.to_string())? {
            let k_hex = hex(&k);
            if !is_array || v.iter().any(|b| *b != 0) || listed.contains(k_hex.as_str()) {
                entries.insert(k_hex, hex(&v));
            }
        }
        key = Some(k);
    }
    Ok(MapContents {
        map: want.map.clone(),
        entries: entries.into_iter().collect(),
    })
}

/// Adds every new element before removing any old one, so an address in both the old
/// and the new set never drops out, even for a moment. Both steps are idempotent, so
/// running them again after a kill finishes the update.
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
    let bytes = |hex: &str, map: &str| -> Result<Vec<u8>, InstallError> {
        unhex(hex).ok_or_else(|| InstallError::BadHex {
            map: map.to_string(),
            hex: hex.to_string(),
        })
    };
    let failed = |map: &str, what| {
        let map = map.to_string();
        move |source| InstallError::SetUpdate { map, what, source }
    };
    for change in changes {
        let map = open(&change.map)?;
        for (k, v) in &change.added_raw {
            point(&format!("insert into {}", change.map));
            sys::map_update(
                map.fd().as_fd(),
                &bytes(k, &change.map)?,
                &bytes(v, &change.map)?,
                0,
            )
            .map_err(failed(&change.map, "insert"))?;
        }
    }
    for change in changes {
        let map = open(&change.map)?;
        // An array's elements always exist (the kernel refuses to delete one): a
        // removed entry goes back to zero, as a fresh map has it.
        let zero = match map.info() {
            Ok(info) if matches!(info.map_type(), Ok(MapType::Array)) => {
                Some(vec![0u8; info.value_size() as usize])
            }
            _ => None,
        };
        for (k, _) in &change.removed_raw {
            point(&format!("remove from {}", change.map));
            let key = bytes(k, &change.map)?;
            match &zero {
                Some(zero) => sys::map_update(map.fd().as_fd(), &key, zero, 0),
                None => sys::map_delete(map.fd().as_fd(), &key),
            }
            .map_err(failed(&change.map, "remove"))?;
        }
    }
    Ok(())
}
