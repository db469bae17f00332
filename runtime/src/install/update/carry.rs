//! Counters carried over: after the swap, the old generation's counts of the rules
//! the new one keeps are added into the new counters map, so `sockc stats` does not
//! start those rules from zero.
//!
//! Invariant: best effort and after the swap (packets the old program counted until
//! then are included); a failure is a notice, never a failed apply.

use std::{collections::HashMap, os::fd::AsFd, path::PathBuf};

use aya::maps::{MapData, MapError};
use sockc_compiler::bpf::maps::COUNTERS_MAP;

use crate::{
    counter_map::Counters,
    error_text::error_chain,
    loaded::LoadedObject,
    plan::Plan,
    store::{Manifest, Store},
};

#[derive(Debug, thiserror::Error)]
enum CarryError {
    #[error("{}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: MapError,
    },
    #[error("no counters map")]
    NoCounters,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Adds the old counters of unchanged rules into the new map. Runs after the swap, so
/// packets the old program counted until then are included.
pub(super) fn carry_counters(
    store: &Store,
    old: &Manifest,
    obj: &mut LoadedObject,
    plan: &Plan,
    notices: &mut Vec<String>,
) {
    if plan.counter_carry.is_empty() {
        return;
    }
    let path = store
        .objects_dir(&old.name, &old.objects_dir)
        .join("map_counters");
    let result = (|| -> Result<(), CarryError> {
        let old_map = MapData::from_pin(&path).map_err(|source| CarryError::Open {
            path: path.clone(),
            source,
        })?;
        // The old map may be an older sockc's (one slot an element): `Counters` reads
        // either layout.
        let old = Counters::of(old_map.fd().as_fd())?;
        let before = old.read_elements()?;
        let new_fd = obj.map_fd(COUNTERS_MAP).ok_or(CarryError::NoCounters)?;
        let carried: HashMap<u32, u32> = plan
            .counter_carry
            .iter()
            .map(|c| (c.new_slot, c.old_slot))
            .collect();
        let slots: Vec<u32> = carried.keys().copied().collect();
        Counters::of(new_fd)?.update(&slots, |slot, now| {
            let was = before.per_cpu(carried[&slot]);
            for (n, w) in now.iter_mut().zip(was) {
                *n = [n[0] + w[0], n[1] + w[1]];
            }
        })?;
        Ok(())
    })();
    if let Err(e) = result {
        notices.push(format!(
            "counters of unchanged rules were not carried over: {}",
            error_chain(&e)
        ));
    }
}
