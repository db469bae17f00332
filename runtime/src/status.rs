//! `sockc status` and `sockc stats`: what is installed and what it counted, read from
//! the pins alone (the manifest, the links, the counters map).
//!
//! Invariant: nothing here changes kernel state; status asks each hook's attach
//! backend what the kernel runs there and reports drift (a link that is gone or runs
//! another program) instead of trusting the manifest.

use std::path::{Path, PathBuf};

use aya::maps::{Map, MapData, MapError, PerCpuArray};
use serde::Serialize;
use sockc_compiler::hooks::HookKind;

use crate::{
    apply::ApplyError,
    attach::{self, AttachMode, LinkState},
    store::{Manifest, Store},
    RuntimeError,
};

#[derive(Clone, Debug, Serialize)]
pub struct HookStatus {
    pub symbol: String,
    pub hook: HookKind,
    pub attach_to: String,
    pub attach_mode: AttachMode,
    pub prog_id: u32,
    pub tag: String,
    pub link: String,
    /// What the kernel runs there (printed as `attached`, `link missing`, ...).
    pub state: LinkState,
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
                let state = match attach::backend(p.hook) {
                    Some(b) => {
                        b.live_state(&p.attach_point(), &p.attachment(&store, &n), p.prog_id)
                    }
                    None => LinkState::Unreadable(format!("sockc cannot read {} hooks", p.hook)),
                };
                HookStatus {
                    symbol: p.symbol.clone(),
                    hook: p.hook,
                    attach_to: p.attach_to.clone(),
                    attach_mode: p.attach_mode,
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
    pub hook: HookKind,
    pub attach_to: String,
    pub line: usize,
    pub text: String,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("{}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: MapError,
    },
    #[error("{}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: Box<RuntimeError>,
    },
}

/// Per-rule packets and bytes (summed over CPUs), in program and rule order.
pub fn stats(bpffs: &Path, name: &str) -> Result<(Manifest, Vec<RuleStats>), ApplyError> {
    let store = Store::lock(bpffs)?;
    let m = store
        .manifest(name)?
        .ok_or_else(|| ApplyError::NotInstalled(name.to_string()))?;
    let path = store.objects_dir(name, &m.objects_dir).join("map_counters");
    let open = |source: MapError| StatsError::Open {
        path: path.clone(),
        source,
    };
    let data = MapData::from_pin(&path).map_err(open)?;
    let arr: PerCpuArray<MapData, [u64; 2]> =
        PerCpuArray::try_from(Map::PerCpuArray(data)).map_err(open)?;
    let mut out = Vec::new();
    for p in &m.snapshot.programs {
        for r in &p.rules {
            let (packets, bytes) =
                crate::read_counter(&arr, r.counter).map_err(|source| StatsError::Read {
                    path: path.clone(),
                    source: Box::new(source),
                })?;
            out.push(RuleStats {
                hook: p.hook,
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
