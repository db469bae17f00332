//! `sockc stats --reset`: zero an install's rule counters while its programs keep
//! running.
//!
//! Nothing is reloaded, detached or journaled: the live generation's `counters` map is
//! written element by element (every CPU's copy, `crate::counter_map`), which programs
//! see at once. Counts that programs add while the reset runs may be kept or lost, as
//! with any reset of a per-CPU counter; a monitoring system sees an ordinary counter
//! reset.

use std::os::fd::AsFd;

use aya::maps::{MapData, MapError};

use sockc_compiler::bpf::maps::COUNTERS_MAP;

use super::{
    status::{live_map, open_error},
    InstallError,
};
use crate::store::Store;

/// Zeroes every rule counter (defaults included) of install `name`; returns how many
/// slots were zeroed.
pub fn reset_counters(store: &Store, name: &str) -> Result<usize, InstallError> {
    let (m, path) = live_map(store, name, COUNTERS_MAP)?;
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
    Ok(slots.len())
}
