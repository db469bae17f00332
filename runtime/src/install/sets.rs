//! Set updates in place: the entries a new file adds to and removes from the live
//! generation's set maps, written into the pinned maps.
//!
//! Invariant: every new element is added before any old one is removed, so an address
//! in both the old and the new set never drops out, even for a moment; both steps are
//! idempotent, so running them again after a kill finishes the update.

use std::os::fd::AsFd;

use aya::maps::{MapData, MapType};
use sockc_compiler::bpf::maps::unhex;

use super::{fault::point, InstallError};
use crate::{
    plan::SetChange,
    store::{Manifest, Store},
    sys,
};

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
