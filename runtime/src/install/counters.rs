//! `sockc stats --reset`: zero an install's rule counters while its programs keep
//! running; and the counters `stats` shows beside the rules': the `reject` answers
//! the answer limits refused.
//!
//! Nothing is reloaded, detached or journaled: the live generation's `counters` map is
//! written element by element (every CPU's copy, `crate::counter_map`), which programs
//! see at once. Counts that programs add while the reset runs may be kept or lost, as
//! with any reset of a per-CPU counter; a monitoring system sees an ordinary counter
//! reset.

use std::os::fd::AsFd;

use aya::maps::{MapData, MapError, PerCpuArray};

use sockc_compiler::bpf::{answers::LIMITED_MAP, maps::COUNTERS_MAP};

use super::{
    status::{live_map, open_error},
    InstallError,
};
use crate::store::Store;

/// Zeroes every rule counter (defaults included) of install `name`; returns how many
/// slots were zeroed, and what recovery did first (for the command to say: a leftover
/// it could not remove does not stop a reset, which changes no pin).
pub fn reset_counters(
    store: &Store,
    name: &str,
) -> Result<(usize, Option<super::Recovery>), InstallError> {
    let (m, path, recovered) = live_map(store, name, COUNTERS_MAP)?;
    let open = open_error(&path);
    let data = MapData::from_pin(&path).map_err(&open)?;
    let slots: Vec<u32> = m
        .snapshot
        .programs
        .iter()
        .flat_map(|p| p.rules.iter().map(|r| r.counter))
        .collect();
    crate::table_update::zero_slots(data.fd().as_fd(), &slots)
        .map_err(|e| open(MapError::from(e)))?;
    Ok((slots.len(), recovered))
}

/// The ICMP answers of `reject` rules that the answer limits of install `m` refused
/// since its generation was loaded, summed over CPUs: (by the host-wide bucket, by a
/// destination's). `None` when the install has no answer limits (no rule answers
/// with ICMP, or `reject answers unlimited`) or the map cannot be read.
pub fn answers_refused(store: &Store, m: &crate::store::Manifest) -> Option<[u64; 2]> {
    let path = store
        .objects_dir(&m.name, &m.objects_dir)
        .join(format!("map_{LIMITED_MAP}"));
    let data = MapData::from_pin(&path).ok()?;
    let arr = PerCpuArray::<_, [u64; 2]>::try_from(aya::maps::Map::PerCpuArray(data)).ok()?;
    let mut out = [0; 2];
    for (i, o) in out.iter_mut().enumerate() {
        *o = arr.get(&(i as u32), 0).ok()?.iter().map(|v| v[0]).sum();
    }
    Some(out)
}
