//! `sockc stats --reset`: zero an install's rule counters while its programs keep
//! running.
//!
//! Nothing is reloaded, detached or journaled: the live generation's `counters` map is
//! written slot by slot (every CPU's value), which programs see at once. Counts that
//! programs add while the reset runs may be kept or lost, as with any reset of a
//! per-CPU counter; a monitoring system sees an ordinary counter reset.

use aya::maps::{Map, MapData, MapError, PerCpuArray, PerCpuValues};

use super::{recover::recover_locked, InstallError};
use crate::store::Store;

/// Zeroes every rule counter (defaults included) of install `name`; returns how many
/// slots were zeroed.
pub fn reset_counters(store: &Store, name: &str) -> Result<usize, InstallError> {
    let mut notices = Vec::new();
    recover_locked(store, name, &mut notices)?;
    let m = store
        .manifest(name)?
        .ok_or_else(|| InstallError::NotInstalled(name.to_string()))?;
    let path = store.objects_dir(name, &m.objects_dir).join("map_counters");
    let open = |source: MapError| InstallError::OpenMap {
        path: path.clone(),
        source,
    };
    let data = MapData::from_pin(&path).map_err(open)?;
    let mut arr: PerCpuArray<MapData, [u64; 2]> =
        PerCpuArray::try_from(Map::PerCpuArray(data)).map_err(open)?;
    let cpus = aya::util::nr_cpus().map_err(|(_, e)| open(MapError::from(e)))?;
    let mut zeroed = 0;
    for p in &m.snapshot.programs {
        for r in &p.rules {
            let zero = PerCpuValues::try_from(vec![[0u64; 2]; cpus]).map_err(|e| open(e.into()))?;
            arr.set(r.counter, zero, 0).map_err(open)?;
            zeroed += 1;
        }
    }
    Ok(zeroed)
}
