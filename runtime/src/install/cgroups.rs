//! The named cgroups of an install's `cgroup "PATH"` matches: `status` reports one
//! whose slot in the live generation's `cgroups` map is not the cgroup its path names
//! now (gone, or re-created with a new id: a restarted unit), and `repair` writes
//! the level and id again from the path ([`crate::cgroup_refs`]).
//!
//! Invariant: only the live generation's pinned map is read or written, and a repair
//! writes no slot unless every named cgroup is there.

use aya::maps::MapData;
use std::os::fd::AsFd;

use super::InstallError;
use crate::store::{Manifest, Store};

/// The pinned `cgroups` map of `m`'s live generation, when its rules name cgroups.
fn pinned(store: &Store, m: &Manifest) -> Option<Result<MapData, InstallError>> {
    use sockc_compiler::bpf::cgroup_match::CGROUPS_MAP;
    if m.snapshot.cgroups.is_empty() {
        return None;
    }
    let path = store
        .objects_dir(&m.name, &m.objects_dir)
        .join(format!("map_{CGROUPS_MAP}"));
    Some(MapData::from_pin(&path).map_err(|source| InstallError::OpenMap { path, source }))
}

/// A drift line per named cgroup whose slot is stale.
pub(crate) fn drift(store: &Store, m: &Manifest) -> Vec<String> {
    let map = match pinned(store, m) {
        None => return Vec::new(),
        Some(Ok(map)) => map,
        Some(Err(e)) => return vec![crate::error_text::error_chain(&e)],
    };
    match crate::cgroup_refs::drifted(map.fd().as_fd(), &m.snapshot.cgroups) {
        Ok(stale) => stale
            .into_iter()
            .map(|(c, why)| {
                format!("cgroup {c:?} of a `cgroup` match {why} (`sockc repair` writes it)")
            })
            .collect(),
        Err(e) => vec![format!("cannot read the map of named cgroups: {e}")],
    }
}

/// Writes every named cgroup's level and id again when some slot is stale; a line
/// per cgroup rewritten.
pub(crate) fn refill(store: &Store, m: &Manifest) -> Result<Vec<String>, String> {
    let Some(map) = pinned(store, m) else {
        return Ok(Vec::new());
    };
    let map = map.map_err(|e| crate::error_text::error_chain(&e))?;
    let fd = map.fd().as_fd();
    let stale = crate::cgroup_refs::drifted(fd, &m.snapshot.cgroups)
        .map_err(|e| format!("cannot read the map of named cgroups: {e}"))?;
    if stale.is_empty() {
        return Ok(Vec::new());
    }
    crate::cgroup_refs::write(fd, &m.snapshot.cgroups, false)
        .map_err(|e| crate::error_text::error_chain(&e))?;
    Ok(stale
        .into_iter()
        .map(|(c, _)| format!("cgroup {c:?}: its level and id written again"))
        .collect())
}
