//! The object's maps filled before any program can run: the initial contents the
//! compiler recorded (set maps, the socket slots' drop counters, ...) in batches
//! ([`map_write`]; a hash map's batches written by several threads at once), and the
//! classifier tables in both halves through a shared mapping
//! ([`table_update`]).
//!
//! Invariant: a failed fill names the map and the entry's key as the metadata has it,
//! and nothing is left loaded (the caller drops the object).

use std::os::fd::AsFd;

use aya::maps::Map;
use sockc_compiler::metadata::Metadata;

use super::{map_data, map_in, MapFault, RuntimeError};
use crate::{map_write, table_update};

/// Writes each map's initial entries, in batches where the map kind has them.
pub(super) fn fill_maps(maps: &[(String, Map)], meta: &Metadata) -> Result<(), RuntimeError> {
    for mc in &meta.map_contents {
        let err = |source: MapFault| RuntimeError::Map {
            map: mc.map.clone(),
            source,
        };
        let map = map_in(maps, &mc.map).ok_or_else(|| err(MapFault::Missing))?;
        let data = map_data(map).ok_or_else(|| err(MapFault::UnexpectedType))?;
        let info = data.info().map_err(|e| err(MapFault::Aya(e)))?;
        let (key_len, value_len) = (info.key_size() as usize, info.value_size() as usize);
        let fault = |f: map_write::WriteFault| err(fill_fault(f, &mc.entries));
        map_write::check_sizes(&mc.entries, key_len, value_len).map_err(fault)?;
        // A hash map (a set of whole addresses) takes no map-wide lock: its inserts are
        // split between the CPUs.
        let fd = data.fd().as_fd();
        if matches!(info.map_type(), Ok(aya::maps::MapType::Hash)) {
            map_write::update_parallel(fd, &mc.entries, "fill map").map_err(fault)?;
        } else {
            map_write::update(fd, &mc.entries, "fill map").map_err(fault)?;
        }
    }
    Ok(())
}

/// `reject`'s answer limits (`sockc_compiler::bpf::answers`): their configuration,
/// with the calling thread's network namespace's sysctls where the file takes the
/// kernel's (an install loads from within its namespace), and the host-wide bucket
/// full as of now, over what the compiler wrote (a new namespace's values, time 0).
pub(super) fn fill_answers(maps: &[(String, Map)], meta: &Metadata) -> Result<(), RuntimeError> {
    use sockc_compiler::{bpf::answers::ANSWERS_MAP, syntax::answers::Sysctls};
    let Some(limits) = meta.answers else {
        return Ok(());
    };
    let sysctls = match limits.reads_kernel() {
        true => crate::icmp_limits::read()?,
        false => Sysctls::DEFAULTS,
    };
    let config = limits.config(&sysctls);
    let err = |source: MapFault| RuntimeError::Map {
        map: ANSWERS_MAP.into(),
        source,
    };
    let map = map_in(maps, ANSWERS_MAP).ok_or_else(|| err(MapFault::Missing))?;
    let data = map_data(map).ok_or_else(|| err(MapFault::UnexpectedType))?;
    let fd = data.fd().as_fd();
    let state = config.initial_state(crate::sys::monotonic_ns());
    for (i, value) in [(0u32, state), (1, config.to_bytes())] {
        crate::sys::map_update(fd, &i.to_ne_bytes(), &value, 0)
            .map_err(|e| err(MapFault::Fill(e)))?;
    }
    Ok(())
}

/// The level and id of each cgroup the rules' `cgroup` matches name, in its slot of
/// the `cgroups` map (`sockc_compiler::bpf::cgroup_match`), read from its directory
/// now: a re-created cgroup gets its new id by the next load or repair. A cgroup
/// that cannot be read is an error, unless `missing_empty` (`sockc test`), where its
/// slot stays empty: a cgroup nothing is in.
pub(super) fn fill_cgroups(
    maps: &[(String, Map)],
    meta: &Metadata,
    missing_empty: bool,
) -> Result<(), RuntimeError> {
    use sockc_compiler::bpf::cgroup_match::CGROUPS_MAP;
    if meta.cgroups.is_empty() {
        return Ok(());
    }
    let err = |source: MapFault| RuntimeError::Map {
        map: CGROUPS_MAP.into(),
        source,
    };
    let map = map_in(maps, CGROUPS_MAP).ok_or_else(|| err(MapFault::Missing))?;
    let data = map_data(map).ok_or_else(|| err(MapFault::UnexpectedType))?;
    crate::cgroup_refs::write(data.fd().as_fd(), &meta.cgroups, missing_empty)?;
    Ok(())
}

/// Copies classifier tables (`given`, or the object's tables section) into both halves
/// of their array maps (of `maps`) through a shared mapping of each map (the maps are
/// `BPF_F_MMAPABLE`): no syscall per element.
pub(super) fn fill_tables(
    maps: &[(String, Map)],
    meta: &Metadata,
    elf: &[u8],
    given: Option<&[u8]>,
) -> Result<(), RuntimeError> {
    if meta.tables.is_empty() {
        return Ok(());
    }
    let blob = match given {
        Some(tables) => tables,
        None => sockc_compiler::obj::section_bytes(elf, sockc_compiler::obj::TABLES_SECTION)
            .map_err(RuntimeError::Tables)?
            .unwrap_or_default(),
    };
    for t in &meta.tables {
        let err = |source: MapFault| RuntimeError::Map {
            map: t.map.clone(),
            source,
        };
        let bytes = table_update::stored_bytes(blob, t)
            .ok_or_else(|| RuntimeError::TablesOutside { map: t.map.clone() })?;
        let map = map_in(maps, &t.map).ok_or_else(|| err(MapFault::Missing))?;
        let data = map_data(map).ok_or_else(|| err(MapFault::UnexpectedType))?;
        table_update::fill_both_halves(data.fd().as_fd(), t, bytes)?;
    }
    Ok(())
}

/// What a failed fill says: the entry's text, as the metadata has it.
fn fill_fault(f: map_write::WriteFault, entries: &sockc_compiler::bpf::maps::Entries) -> MapFault {
    use map_write::WriteFault;
    let key = |i: usize| {
        if i < entries.len() {
            sockc_compiler::bpf::maps::hex(entries.key(i))
        } else {
            String::new()
        }
    };
    match f {
        WriteFault::Size { index, got, want } => MapFault::Insert {
            key: key(index),
            source: std::io::Error::other(format!(
                "entry is {}+{} bytes, map wants {}+{}",
                got.0, got.1, want.0, want.1
            )),
        },
        WriteFault::Kernel { index, source } => MapFault::Insert {
            key: key(index),
            source,
        },
    }
}
