//! `sockc status` and `sockc stats`: what is installed and what it counted, read from
//! the pins alone (the manifest, the links, the counters map).
//!
//! Invariant: nothing here changes kernel state; status checks each pinned link
//! against the manifest and reports drift (a link that is gone or runs another
//! program) instead of trusting the manifest.

use std::path::Path;

use aya::{
    maps::{Map, MapData, PerCpuArray},
    programs::links::{FdLink, PinnedLink},
};
use serde::Serialize;

use crate::{
    apply::ApplyError,
    store::{Manifest, Store},
};

#[derive(Clone, Debug, Serialize)]
pub struct HookStatus {
    pub symbol: String,
    pub hook: String,
    pub attach_to: String,
    pub attach_mode: String,
    pub prog_id: u32,
    pub tag: String,
    pub link: String,
    /// `attached`, `link missing`, `link runs program N`, or for clsact the filter.
    pub state: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub name: String,
    pub generation: u64,
    pub source_file: String,
    pub source_sha256: String,
    pub applied_unix: u64,
    pub netns: Option<String>,
    pub hooks: Vec<HookStatus>,
    pub maps: Vec<String>,
}

/// Names of every install, sorted (without reading their manifests).
pub fn installed_names(bpffs: &Path) -> Result<Vec<String>, ApplyError> {
    Ok(Store::lock(bpffs)?.names()?)
}

/// Status of every install, or of one.
pub fn status(bpffs: &Path, name: Option<&str>) -> Result<Vec<Status>, ApplyError> {
    let store = Store::lock(bpffs)?;
    let names = match name {
        Some(n) => vec![n.to_string()],
        None => store.names()?,
    };
    let mut out = Vec::new();
    for n in names {
        let m = store
            .manifest(&n)?
            .ok_or_else(|| ApplyError::NotInstalled(n.clone()))?;
        let hooks = m
            .programs
            .iter()
            .map(|p| {
                let link = store.link_path(&n, &p.symbol);
                let state = match (p.tc_filter, PinnedLink::from_pin(&link)) {
                    // A netlink filter has no link to check against the manifest.
                    (Some(f), _) => format!(
                        "clsact filter prio {} handle {:x}:{:x} (not checked)",
                        f.priority,
                        f.handle >> 16,
                        f.handle & 0xffff
                    ),
                    (None, Err(_)) => "link missing".to_string(),
                    (None, Ok(pinned)) => {
                        let fd: FdLink = pinned.into();
                        match fd.info() {
                            Ok(i) if i.program_id() == p.prog_id => "attached".to_string(),
                            Ok(i) => format!("link runs program {}", i.program_id()),
                            Err(e) => format!("link unreadable: {e}"),
                        }
                    }
                };
                HookStatus {
                    symbol: p.symbol.clone(),
                    hook: p.hook.clone(),
                    attach_to: p.attach_to.clone(),
                    attach_mode: p.attach_mode.clone(),
                    prog_id: p.prog_id,
                    tag: p.tag.clone(),
                    link: link.display().to_string(),
                    state,
                }
            })
            .collect();
        out.push(Status {
            name: n,
            generation: m.generation,
            source_file: m.source_file.clone(),
            source_sha256: m.source_sha256.clone(),
            applied_unix: m.applied_unix,
            netns: m.netns.clone(),
            hooks,
            maps: m.snapshot.maps.iter().map(|s| s.name.clone()).collect(),
        });
    }
    Ok(out)
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleStats {
    pub hook: String,
    pub attach_to: String,
    pub line: usize,
    pub text: String,
    pub packets: u64,
    pub bytes: u64,
}

/// Per-rule packets and bytes (summed over CPUs), in program and rule order.
pub fn stats(bpffs: &Path, name: &str) -> Result<(Manifest, Vec<RuleStats>), ApplyError> {
    let store = Store::lock(bpffs)?;
    let m = store
        .manifest(name)?
        .ok_or_else(|| ApplyError::NotInstalled(name.to_string()))?;
    let path = store.objects_dir(name, &m.objects_dir).join("map_counters");
    let fail = |msg: String| ApplyError::Other {
        what: path.display().to_string(),
        msg,
    };
    let data = MapData::from_pin(&path).map_err(|e| fail(e.to_string()))?;
    let arr: PerCpuArray<MapData, [u64; 2]> =
        PerCpuArray::try_from(Map::PerCpuArray(data)).map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::new();
    for p in &m.snapshot.programs {
        for r in &p.rules {
            let (packets, bytes) =
                crate::read_counter(&arr, r.counter).map_err(|e| fail(e.to_string()))?;
            out.push(RuleStats {
                hook: p.hook.clone(),
                attach_to: p.attach_to.clone(),
                line: r.line,
                text: r.text.clone(),
                packets,
                bytes,
            });
        }
    }
    Ok((m, out))
}
