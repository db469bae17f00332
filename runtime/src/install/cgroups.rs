//! The named cgroups of an install's `cgroup "PATH"` matches: `status` reports one
//! whose slot in the live generation's `cgroups` map is not the cgroup its path names
//! now (gone, or re-created with a new id: a restarted unit), and `repair` writes
//! the level and id again from the path ([`crate::cgroup_refs`]).
//!
//! Invariant: only the live generation's pinned map is read or written; a repair
//! writes the slot of each cgroup re-created under its path, and leaves a gone one's
//! (the id of a cgroup no process is in, as none is in its path).

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
                let fix = if why.starts_with("gone") {
                    "its rules match no process; `sockc repair` writes it once it exists again"
                } else {
                    "`sockc repair` writes it"
                };
                format!("cgroup {c:?} of a `cgroup` match {why} ({fix})")
            })
            .collect(),
        Err(e) => vec![format!("cannot read the map of named cgroups: {e}")],
    }
}

/// Writes the level and id of every named cgroup re-created under its path (a
/// notice each); a cgroup that is gone fails the repair, each named, but does not
/// keep the others' slots stale.
pub(crate) fn refill(store: &Store, m: &Manifest) -> (Vec<String>, Option<String>) {
    let map = match pinned(store, m) {
        None => return (Vec::new(), None),
        Some(Ok(map)) => map,
        Some(Err(e)) => return (Vec::new(), Some(crate::error_text::error_chain(&e))),
    };
    let rewritten = crate::cgroup_refs::rewrite_stale(map.fd().as_fd(), &m.snapshot.cgroups);
    let crate::cgroup_refs::Rewritten { written, gone } = match rewritten {
        Ok(done) => done,
        Err(e) => return (Vec::new(), Some(crate::error_text::error_chain(&e))),
    };
    let notices = written
        .into_iter()
        .map(|c| format!("cgroup {c:?}: its level and id written again"))
        .collect();
    let failed = (!gone.is_empty()).then(|| {
        let each: Vec<String> = gone
            .into_iter()
            .map(|(c, why)| format!("{c:?} {why}"))
            .collect();
        format!(
            "the named cgroup(s) of `cgroup` matches that are gone match no process until \
             they exist again and `sockc repair` runs: {}",
            each.join("; ")
        )
    });
    (notices, failed)
}
