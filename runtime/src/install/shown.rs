//! `sockc show`'s check: is what the kernel runs for an install the code its recorded
//! source compiles to?
//!
//! The source compiled afresh is fitted to the install as `apply` fitted it (counter
//! slots and map sizes of the manifest's snapshot, when that is what the apply
//! installed), loaded through the verifier with the install's socket slots, namespace
//! cookie and shared maps (nothing pinned, nothing attached, nothing written), and each
//! program's kernel tag — the digest of its instructions as loaded, map references
//! left out — compared with the tag of the program the live generation pins. Each
//! hook's state comes from `status`, so a hook that runs another program is named too.
//! Invariant: every program of the install gets a verdict, and a program that could not
//! be compared is a mismatch, never a match.

use aya::programs::ProgramInfo;
use serde::Serialize;
use sockc_compiler::{bpf::maps::SOCKETS_MAP, hooks::HookKind, Compiled};

use super::{slot_registry, InstallError};
use crate::{
    loaded::{LoadOptions, LoadedObject},
    plan,
    store::{Manifest, Store},
};

/// One program of an install against the same program compiled from its source.
#[derive(Clone, Debug, Serialize)]
pub struct ProgramCheck {
    pub symbol: String,
    pub hook: HookKind,
    pub attach_to: String,
    /// The program the live generation pins: its id and kernel tag.
    pub prog_id: Option<u32>,
    pub kernel_tag: Option<String>,
    /// The tag of the same program compiled from the recorded source and loaded now.
    pub compiled_tag: Option<String>,
    /// Why the two are not known to be the same program (`None`: they are).
    pub problem: Option<String>,
}

/// Compares the programs install `m` pins with `compiled` (its recorded source,
/// compiled), loaded the way `apply` loaded them.
pub fn check_programs(
    store: &Store,
    m: &Manifest,
    compiled: &Compiled,
) -> Result<Vec<ProgramCheck>, InstallError> {
    // Refitted, or at least named as the install names its programs (a hook's program
    // keeps its symbol across re-applies, where a fresh compile may name it otherwise).
    let (_, refitted, _) = plan::plan_compiled(Some(&m.snapshot), compiled);
    let refitted =
        refitted.or_else(|| compiled.with_symbols_fitted(&plan::symbols_of(&m.snapshot)));
    let fitted = refitted.as_ref().unwrap_or(compiled);
    let fresh = load_like_install(store, m, fitted);
    let dir = store.objects_dir(&m.name, &m.objects_dir);
    let checks = m
        .programs
        .iter()
        .map(|p| {
            let live = ProgramInfo::from_pin(dir.join(format!("prog_{}", p.symbol)));
            let (prog_id, kernel_tag) = match &live {
                Ok(i) => (Some(i.id()), Some(format!("{:016x}", i.tag()))),
                Err(_) => (None, None),
            };
            let compiled_tag = match &fresh {
                Ok(obj) => obj
                    .programs()
                    .iter()
                    .find(|l| l.symbol == p.symbol)
                    .map(|l| format!("{:016x}", l.tag)),
                Err(_) => None,
            };
            let problem = match (&live, &fresh, &compiled_tag) {
                (Err(e), _, _) => Some(format!("its pinned program cannot be read: {e}")),
                (_, Err(e), _) => Some(format!(
                    "the source does not load: {}",
                    crate::error_text::error_chain(e)
                )),
                (_, _, None) => Some("the source compiles to no such program".to_string()),
                (_, _, Some(t)) if Some(t) != kernel_tag.as_ref() => Some(format!(
                    "the kernel runs tag {}, the source compiles to tag {t}",
                    kernel_tag.as_deref().unwrap_or("?")
                )),
                _ if prog_id != Some(p.prog_id) => Some(format!(
                    "the pinned program is id {}, the manifest says {}",
                    prog_id.unwrap_or(0),
                    p.prog_id
                )),
                _ => None,
            };
            ProgramCheck {
                symbol: p.symbol.clone(),
                hook: p.hook,
                attach_to: p.attach_to.clone(),
                prog_id,
                kernel_tag,
                compiled_tag,
                problem,
            }
        })
        .collect();
    Ok(checks)
}

/// `compiled` loaded as `apply` loads a generation of install `m` (its socket slots,
/// its namespace's cookie, the maps every generation shares), but with nothing created
/// on bpffs: a socket map is used only if the install has one.
fn load_like_install(
    store: &Store,
    m: &Manifest,
    compiled: &Compiled,
) -> Result<LoadedObject, InstallError> {
    let elf = compiled.to_elf().map_err(InstallError::Object)?;
    let socket_map = store.keep_path(&m.name, SOCKETS_MAP);
    let declared = &compiled.metadata.sockets;
    let slots = declared
        .iter()
        .all(|s| m.socket_slots.contains_key(&s.name))
        .then(|| slot_registry::slots_in_order(&m.socket_slots, declared));
    let reuse: Vec<(String, std::path::PathBuf)> = compiled
        .metadata
        .durable_maps
        .iter()
        .map(|d| (d.map.clone(), store.keep_path(&m.name, &d.map)))
        .filter(|(_, path)| path.exists())
        .collect();
    let uses_cookie = compiled
        .metadata
        .programs
        .iter()
        .any(|p| !p.netns_cookie.is_empty());
    Ok(LoadedObject::load_with(
        &elf,
        &LoadOptions {
            socket_map: socket_map.exists().then_some(socket_map.as_path()),
            socket_slots: slots.as_deref(),
            netns_cookie: uses_cookie.then_some(m.netns_cookie),
            reuse: &reuse,
            install: Some(&m.name),
            tables: None,
            require_cgroups: false,
        },
    )?)
}
