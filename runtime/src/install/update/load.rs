//! The new generation's object into the kernel: loaded through the verifier against
//! the install's socket map, shared maps and namespace cookie, its records (rules,
//! rule text, set entries) written meanwhile, and its programs and maps pinned in the
//! generation's directory.
//!
//! Invariant: a failed load or record write leaves no record behind that nothing
//! names (the store is as the apply found it); a map every generation shares is
//! pinned once, by the first generation, and reused as it is after that.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use aya::pin::PinError;
use sockc_compiler::bpf::maps::SOCKETS_MAP;

use super::ApplyRequest;
use crate::{
    fault::{counting as point_counting, point},
    install::{slot_registry, InstallError},
    loaded::{map_data, LoadOptions, LoadedObject, RuntimeError},
    stages,
    store::{BulkRefs, InstalledProgram, Manifest, Store},
    sys,
};

/// Below this many rules an apply writes its records before the load instead of
/// beside it: they take a fraction of a millisecond, less than starting a thread is
/// worth (its stack and allocator heap add to peak memory: 0.1-0.2 MB for a 3-rule
/// file).
const RECORDS_BESIDE_THE_LOAD_FROM: usize = 500;

/// Loads the new generation's object through the verifier ([`load_generation`]) and
/// writes the target's bulk (rules, rule text, set entries) once, on another thread
/// meanwhile when there are many rules: every record of the apply names it as it is.
/// Neither needs the other, and no record names the bulk before both are done. On
/// failure the bulk written goes again (no record names it), so a failed apply leaves
/// the store as it found it.
pub(super) fn load_and_record(
    store: &Store,
    req: &ApplyRequest<'_>,
    target: &Manifest,
) -> Result<(LoadedObject, BulkRefs), InstallError> {
    store.ensure_install_dir(req.name)?;
    let load = || load_generation(store, req, &target.socket_slots);
    let record = |stage: &'static str| {
        let _t = stages::stage(stage);
        store.write_bulk(target, super::recorded_text_digest(req, target))
    };
    let rules: usize = target.snapshot.programs.iter().map(|p| p.rules.len()).sum();
    // Under a fault test the records go first, so that every step keeps its number. A
    // kill while they are written leaves records no record names, in either order:
    // the load changes nothing persistent before the journal.
    let (loaded, recorded) = if point_counting() || rules < RECORDS_BESIDE_THE_LOAD_FROM {
        let recorded = record("write the records (rules, text, sets)");
        (load(), recorded)
    } else {
        std::thread::scope(|s| {
            let records =
                s.spawn(|| record("write the records: rules, text, sets (another thread)"));
            let loaded = load();
            let recorded = records
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (loaded, recorded)
        })
    };
    match (loaded, recorded) {
        (Ok(obj), Ok(refs)) => Ok((obj, refs)),
        (loaded, recorded) => {
            store.collect_unnamed_bulk(req.name);
            // The verifier's word first: it is about the file.
            let err = loaded
                .err()
                .map_or_else(|| recorded.err().map(Into::into), Some);
            Err(err.expect("one of them failed"))
        }
    }
}

/// Loads the new generation's object through the verifier, against the install's
/// socket map (with the sockets' `slots`), the maps every generation shares, and the
/// install's network namespace cookie.
fn load_generation(
    store: &Store,
    req: &ApplyRequest<'_>,
    slots: &BTreeMap<String, u32>,
) -> Result<LoadedObject, InstallError> {
    // The metadata goes to the loader as it is (the object need not carry it), but for
    // the rules, which the loaded object never reads.
    let elf = req
        .compiled
        .to_loadable_elf()
        .map_err(InstallError::Object)?;
    // The socket map belongs to the install, not the generation: every generation's
    // programs use the one pinned beside the manifest, so registered sockets stay (the
    // install's directory is there: `load_and_record`).
    let socket_map = store.keep_path(req.name, SOCKETS_MAP);
    // Maps every generation shares (sockmap groups) are the installed ones, with the
    // sockets in them; the first generation creates them (and pins them while it is
    // built: `pin_objects`).
    let reuse: Vec<(String, PathBuf)> = req
        .compiled
        .metadata
        .durable_maps
        .iter()
        .map(|d| (d.map.clone(), store.keep_path(req.name, &d.map)))
        .filter(|(_, path)| path.exists())
        .collect();
    let programs = &req.compiled.metadata.programs;
    let netns_cookie = if programs.iter().any(|p| !p.netns_cookie.is_empty()) {
        Some(install_netns_cookie()?)
    } else {
        None
    };
    let declared = &req.compiled.metadata.sockets;
    Ok(LoadedObject::load_described(
        &elf,
        req.compiled.metadata.without_rules(),
        &LoadOptions {
            socket_map: Some(&socket_map),
            socket_slots: Some(&slot_registry::slots_in_order(slots, declared)),
            netns_cookie,
            reuse: &reuse,
            install: Some(req.name),
            tables: Some(&req.compiled.tables),
            require_cgroups: true,
        },
    )?)
}

/// The cookie of the install's network namespace, which registrars compare with a
/// listening socket's (`bpf_get_netns_cookie`): the calling thread's, as the install
/// records (`sockc apply --netns` entered it).
fn install_netns_cookie() -> Result<u64, InstallError> {
    crate::discovery::check::netns_cookie_here().map_err(|e| InstallError::NetnsCookie(Box::new(e)))
}

/// The loaded programs as manifest entries (not attached yet).
pub(super) fn loaded_programs(obj: &LoadedObject) -> Result<Vec<InstalledProgram>, InstallError> {
    obj.metadata()
        .programs
        .iter()
        .map(|p| {
            let loaded = obj
                .programs()
                .iter()
                .find(|l| l.symbol == p.symbol)
                .ok_or_else(|| RuntimeError::MissingProgram {
                    symbol: p.symbol.clone(),
                })?;
            Ok(InstalledProgram {
                symbol: p.symbol.clone(),
                hook: p.hook,
                attach_to: p.attach_to.clone(),
                prog_id: loaded.prog_id,
                tag: format!("{:016x}", loaded.tag),
                attach_mode: None,
                tc_filter: None,
                ifindex: 0,
                attach_map: p.attach_map.clone(),
            })
        })
        .collect()
}

/// Pins the programs and maps of a generation in its directory `dir`; a map that
/// every generation shares (`durable` gives its pin) is pinned there instead, unless
/// it is pinned already (it is the installed one).
pub(super) fn pin_objects(
    obj: &mut LoadedObject,
    dir: &Path,
    durable: impl Fn(&str) -> Option<PathBuf>,
) -> Result<(), InstallError> {
    let symbols: Vec<String> = obj.programs().iter().map(|p| p.symbol.clone()).collect();
    for s in symbols {
        let path = dir.join(format!("prog_{s}"));
        point(&format!("pin {}", path.display()));
        sys::obj_pin(obj.program(&s)?, &path).map_err(|io_error| InstallError::Pin {
            path,
            source: PinError::SyscallError(aya::sys::SyscallError {
                call: "BPF_OBJ_PIN",
                io_error,
            }),
        })?;
    }
    // In name order, so that every run takes the same steps.
    for (name, map) in obj.maps() {
        if name == SOCKETS_MAP {
            // Pinned by the install already (`Store::keep_path`).
            continue;
        }
        let path = match durable(name) {
            Some(keep) if keep.exists() => continue,
            Some(keep) => keep,
            None => dir.join(format!("map_{name}")),
        };
        let data = map_data(map).ok_or_else(|| InstallError::MapType {
            map: name.to_string(),
        })?;
        point(&format!("pin {}", path.display()));
        data.pin(&path)
            .map_err(|source| InstallError::Pin { path, source })?;
    }
    Ok(())
}
