//! `sockc apply` and `sockc flush`: install a compiled rule set so it outlives the
//! CLI, replace it atomically, remove it.
//!
//! A re-apply builds everything new first — load and verify the programs, create and
//! fill the maps, pin them under a new `g<N>` directory, attach hooks that are new —
//! and only then swaps each existing hook in one step of its attach backend
//! ([`crate::attach`]; `BPF_LINK_UPDATE` for links), which the kernel makes atomic: a
//! packet runs the old program or the new one, never none. Invariant: any error
//! before the swap leaves the installed generation, its links, maps and counters
//! exactly as they were (what this call created is removed again). When only set
//! contents change, the live maps are updated in place (additions before removals)
//! and no program is reloaded. Counters of rules that did not change are carried over.

use std::{
    os::fd::AsFd,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use aya::{
    maps::{Map, MapData, MapError, PerCpuArray, PerCpuValues},
    pin::PinError,
    programs::ProgramError,
};
use sockc_compiler::{bpf::maps::unhex, hooks::HookKind, obj::ObjError, Compiled};

use crate::{
    attach::{self, AttachError, AttachOptions, AttachPoint, Attachment, TcFilter},
    plan::{self, Plan, ProgramAction, Snapshot},
    store::{InstalledProgram, Manifest, Store, StoreError, MANIFEST_FORMAT},
    sys, table_update, LoadedObject, LoadedProgram, RuntimeError,
};

pub use crate::{attach::TcAttach, error_chain};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{hook} on {iface}: no such interface{}", netns_note(.netns))]
    MissingInterface {
        hook: HookKind,
        iface: String,
        netns: Option<String>,
    },
    #[error("{at}")]
    Attach {
        /// The hook and its attach point, as `xdp on eth0`.
        at: String,
        #[source]
        source: AttachError,
    },
    #[error("{at}: link update failed after the swap began")]
    Swap {
        at: String,
        #[source]
        source: AttachError,
    },
    #[error("{hook} programs cannot be installed yet")]
    Unsupported { hook: HookKind },
    #[error("write the object")]
    Object(#[source] ObjError),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("enter network namespace {}", path.display())]
    EnterNetns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", path.display())]
    Pin {
        path: PathBuf,
        #[source]
        source: PinError,
    },
    #[error("{map}")]
    MapType { map: String },
    #[error("{}", path.display())]
    OpenMap {
        path: PathBuf,
        #[source]
        source: MapError,
    },
    #[error("{map}: bad hex {hex}")]
    BadHex { map: String, hex: String },
    #[error("{map}: {what}")]
    SetUpdate {
        map: String,
        /// `insert` or `remove`.
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{symbol}")]
    ProgramInfo {
        symbol: String,
        #[source]
        source: ProgramError,
    },
    #[error(transparent)]
    Stats(#[from] crate::status::StatsError),
    #[error("switch the classifier tables in place")]
    Tables(#[from] table_update::TableUpdateError),
    #[error("nothing is installed under the name `{0}`")]
    NotInstalled(String),
}

fn netns_note(netns: &Option<String>) -> String {
    netns
        .as_ref()
        .map(|n| format!(" in network namespace {n}"))
        .unwrap_or_default()
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ApplyError + '_ {
    move |source| ApplyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub struct ApplyRequest<'a> {
    pub compiled: &'a Compiled,
    pub name: &'a str,
    pub bpffs: &'a Path,
    pub source_file: &'a str,
    pub source: &'a str,
    /// Recorded in the manifest; the caller has already entered it.
    pub netns: Option<&'a str>,
    pub dry_run: bool,
    pub attach: AttachOptions,
}

pub struct ApplyReport {
    pub plan: Plan,
    /// The generation installed when the call returns (`None`: nothing is).
    pub generation: Option<u64>,
    /// True when something in the kernel changed.
    pub changed: bool,
    pub notices: Vec<String>,
    /// Programs loaded through the verifier (the new ones; on dry runs, unattached).
    pub verified: Vec<LoadedProgram>,
}

/// Moves the calling thread into the network namespace at `path` (e.g.
/// `/run/netns/NAME`): the CLI is single-threaded, so one `setns` covers every later
/// interface lookup and attach.
pub fn enter_netns(path: &Path) -> Result<(), ApplyError> {
    let file = std::fs::File::open(path).map_err(io_error(path))?;
    use std::os::fd::AsRawFd;
    // SAFETY: setns on a descriptor we own; CLONE_NEWNET checks it is a net namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(ApplyError::EnterNetns {
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The backend of a hook sockc can install.
fn backend(hook: HookKind) -> Result<&'static dyn attach::Backend, ApplyError> {
    attach::backend(hook).ok_or(ApplyError::Unsupported { hook })
}

pub fn apply(req: &ApplyRequest<'_>) -> Result<ApplyReport, ApplyError> {
    let store = Store::lock(req.bpffs)?;
    let old = store.manifest(req.name)?;
    // Issue 17: the plan may refit the file to the installed generation (its counter
    // slots and map sizes), which turns a change inside classifier tables into an
    // update in place; what is installed is then the refitted file.
    let (plan, refitted) = plan::plan_compiled(old.as_ref().map(|m| &m.snapshot), req.compiled);
    let compiled = refitted.as_ref().unwrap_or(req.compiled);
    let new_snapshot = Snapshot::of(compiled);
    let mut report = ApplyReport {
        generation: old.as_ref().map(|m| m.generation),
        plan,
        changed: false,
        notices: Vec::new(),
        verified: Vec::new(),
    };

    // Checks that need no kernel objects come first.
    for p in &report.plan.programs {
        let at = AttachPoint {
            hook: p.hook,
            attach_to: &p.attach_to,
        };
        if p.action != ProgramAction::Detach && !at.exists() {
            return Err(ApplyError::MissingInterface {
                hook: p.hook,
                iface: p.attach_to.clone(),
                netns: req.netns.map(str::to_string),
            });
        }
    }
    if !report.plan.has_changes() {
        // Same code and maps, but the text may have moved (comments, blank lines):
        // keep the manifest's lines and source in step for `stats`.
        if let Some(old) = old.filter(|m| m.snapshot != new_snapshot && !req.dry_run) {
            store.write_manifest(&Manifest {
                source_file: req.source_file.to_string(),
                source_sha256: sha256_hex(req.source),
                snapshot: new_snapshot,
                ..old
            })?;
        }
        return Ok(report);
    }
    if report.plan.maps_only {
        let old = old.expect("a maps-only plan has an installed generation");
        if !req.dry_run {
            update_sets_in_place(&store, &old, &report.plan)?;
            // Issue 17 (runtime/src/table_update.rs): classifier tables change behind
            // one switch; the counter slots of new rules are zeroed first.
            if !report.plan.table_changes.is_empty() {
                let dir = store.objects_dir(&old.name, &old.objects_dir);
                let done = table_update::switch_pinned(&dir, compiled, &report.plan.fresh_slots)?;
                report.notices.push(format!(
                    "classifier tables switched in place: {} KiB written to half {}, {:.1} ms",
                    done.bytes / 1024,
                    done.to,
                    done.took.as_secs_f64() * 1e3
                ));
            }
            let manifest = Manifest {
                generation: old.generation + 1,
                source_file: req.source_file.to_string(),
                source_sha256: sha256_hex(req.source),
                applied_unix: now_unix(),
                snapshot: new_snapshot,
                ..old
            };
            store.write_manifest(&manifest)?;
            report.generation = Some(manifest.generation);
            report.changed = true;
        }
        return Ok(report);
    }

    // Build and verify everything new. Nothing installed is touched yet.
    let elf = req.compiled.to_elf().map_err(ApplyError::Object)?;
    let mut obj = LoadedObject::load(&elf)?;
    report.verified = obj.programs().to_vec();
    if req.dry_run {
        return Ok(report);
    }
    let generation = old.as_ref().map_or(1, |m| m.generation + 1);
    let objects_dir = format!("g{generation}");
    let gdir = store.objects_dir(req.name, &objects_dir);
    let _ = std::fs::remove_dir_all(&gdir); // left by an apply that died before its manifest
    let mut undo = Undo::default();
    if old.is_none() {
        // A first apply that fails leaves no empty directory behind.
        undo.dirs.push(store.dir(req.name));
    }
    let result = (|| -> Result<(), ApplyError> {
        std::fs::create_dir_all(&gdir).map_err(io_error(&gdir))?;
        undo.dirs.push(gdir.clone());
        pin_objects(&mut obj, &gdir)?;

        // New hooks first: they can fail (busy interface, no driver support), and
        // failing here still leaves the old generation untouched.
        let mut attached = std::collections::HashMap::new();
        for p in report
            .plan
            .programs
            .iter()
            .filter(|p| p.action == ProgramAction::Attach)
        {
            let at = AttachPoint {
                hook: p.hook,
                attach_to: &p.attach_to,
            };
            let link = store.link_path(req.name, &p.symbol);
            let prog = obj.program_mut(&p.symbol)?;
            let done = backend(p.hook)?
                .attach(prog, &at, &link, &req.attach, &mut report.notices)
                .map_err(|source| ApplyError::Attach {
                    at: at.to_string(),
                    source,
                })?;
            undo.attachments
                .push((p.hook, p.attach_to.clone(), done.attachment.clone()));
            attached.insert(p.symbol.clone(), done);
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            name: req.name.to_string(),
            generation,
            objects_dir: objects_dir.clone(),
            source_file: req.source_file.to_string(),
            source_sha256: sha256_hex(req.source),
            applied_unix: now_unix(),
            netns: req.netns.map(str::to_string),
            programs: installed_programs(&obj, &report.plan, old.as_ref(), &attached)?,
            snapshot: new_snapshot.clone(),
        };
        // Prepared before the swap, so that after it only a rename is left to fail.
        store.prepare_manifest(&manifest)?;
        Ok(())
    })();
    if let Err(e) = result {
        store.discard_manifest(req.name);
        undo.run();
        return Err(e);
    }

    // The swap: one atomic replace per existing hook.
    for p in &report.plan.programs {
        if matches!(
            p.action,
            ProgramAction::Reload | ProgramAction::ReloadSameCode
        ) {
            let live = installed(old.as_ref(), &p.symbol)
                .expect("a reloaded program is installed")
                .attachment(&store, req.name);
            let at = AttachPoint {
                hook: p.hook,
                attach_to: &p.attach_to,
            };
            let prog = obj.program_mut(&p.symbol)?;
            backend(p.hook)?
                .replace(prog, &at, &live)
                .map_err(|source| ApplyError::Swap {
                    at: at.to_string(),
                    source,
                })?;
        }
    }
    report.changed = true;
    if let Some(old) = &old {
        carry_counters(&store, old, &mut obj, &report.plan, &mut report.notices);
    }
    for p in report
        .plan
        .programs
        .iter()
        .filter(|p| p.action == ProgramAction::Detach)
    {
        if let Some(installed) = installed(old.as_ref(), &p.symbol) {
            detach(&store, req.name, installed);
        }
    }
    store.commit_manifest(req.name)?;
    if let Some(old) = &old {
        let _ = std::fs::remove_dir_all(store.objects_dir(req.name, &old.objects_dir));
    }
    report.generation = Some(generation);
    Ok(report)
}

/// Takes an installed program off its hook (best effort).
fn detach(store: &Store, install: &str, p: &InstalledProgram) {
    if let Some(b) = attach::backend(p.hook) {
        b.detach(&p.attach_point(), &p.attachment(store, install));
    }
}

fn installed<'m>(m: Option<&'m Manifest>, symbol: &str) -> Option<&'m InstalledProgram> {
    m.and_then(|m| m.programs.iter().find(|p| p.symbol == symbol))
}

/// What to remove again if an apply fails before its swap.
#[derive(Default)]
struct Undo {
    /// (hook, attach point, attachment) of hooks attached by this call.
    attachments: Vec<(HookKind, String, Attachment)>,
    dirs: Vec<PathBuf>,
}

impl Undo {
    fn run(self) {
        // Hooks attached by this call come off again.
        for (hook, attach_to, live) in self.attachments {
            if let Some(b) = attach::backend(hook) {
                let at = AttachPoint {
                    hook,
                    attach_to: &attach_to,
                };
                b.detach(&at, &live);
            }
        }
        for d in self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn pin_objects(obj: &mut LoadedObject, dir: &Path) -> Result<(), ApplyError> {
    let symbols: Vec<String> = obj.programs.iter().map(|p| p.symbol.clone()).collect();
    for s in symbols {
        let path = dir.join(format!("prog_{s}"));
        obj.program_mut(&s)?
            .pin(&path)
            .map_err(|source| ApplyError::Pin { path, source })?;
    }
    for (name, map) in obj.ebpf.maps() {
        let path = dir.join(format!("map_{name}"));
        let data = crate::map_data(map).ok_or_else(|| ApplyError::MapType {
            map: name.to_string(),
        })?;
        data.pin(&path)
            .map_err(|source| ApplyError::Pin { path, source })?;
    }
    Ok(())
}

fn installed_programs(
    obj: &LoadedObject,
    plan: &Plan,
    old: Option<&Manifest>,
    attached: &std::collections::HashMap<String, attach::Attached>,
) -> Result<Vec<InstalledProgram>, ApplyError> {
    let mut out = Vec::new();
    for p in plan
        .programs
        .iter()
        .filter(|p| p.action != ProgramAction::Detach)
    {
        let info = obj
            .program(&p.symbol)?
            .info()
            .map_err(|source| ApplyError::ProgramInfo {
                symbol: p.symbol.clone(),
                source,
            })?;
        let (attach_mode, tc_filter) = match attached.get(&p.symbol) {
            Some(a) => (a.mode, tc_filter_of(&a.attachment)),
            None => {
                let o = installed(old, &p.symbol)
                    .expect("a program that was not attached now is installed");
                (o.attach_mode, o.tc_filter)
            }
        };
        out.push(InstalledProgram {
            symbol: p.symbol.clone(),
            hook: p.hook,
            attach_to: p.attach_to.clone(),
            prog_id: info.id(),
            tag: format!("{:016x}", info.tag()),
            attach_mode,
            tc_filter,
        });
    }
    Ok(out)
}

fn tc_filter_of(a: &Attachment) -> Option<TcFilter> {
    match a {
        Attachment::TcFilter(f) => Some(*f),
        Attachment::Link(_) => None,
    }
}

/// Adds every new element before removing any old one, so an address in both the old
/// and the new set never drops out, even for a moment.
fn update_sets_in_place(store: &Store, old: &Manifest, plan: &Plan) -> Result<(), ApplyError> {
    let dir = store.objects_dir(&old.name, &old.objects_dir);
    let open = |map: &str| -> Result<MapData, ApplyError> {
        let path = dir.join(format!("map_{map}"));
        MapData::from_pin(&path).map_err(|source| ApplyError::OpenMap { path, source })
    };
    let bytes = |hex: &str, map: &str| -> Result<Vec<u8>, ApplyError> {
        unhex(hex).ok_or_else(|| ApplyError::BadHex {
            map: map.to_string(),
            hex: hex.to_string(),
        })
    };
    let failed = |map: &str, what| {
        let map = map.to_string();
        move |source| ApplyError::SetUpdate { map, what, source }
    };
    for change in &plan.set_changes {
        let map = open(&change.map)?;
        for (k, v) in &change.added_raw {
            sys::map_update(
                map.fd().as_fd(),
                &bytes(k, &change.map)?,
                &bytes(v, &change.map)?,
                0,
            )
            .map_err(failed(&change.map, "insert"))?;
        }
    }
    for change in &plan.set_changes {
        let map = open(&change.map)?;
        for (k, _) in &change.removed_raw {
            sys::map_delete(map.fd().as_fd(), &bytes(k, &change.map)?)
                .map_err(failed(&change.map, "remove"))?;
        }
    }
    Ok(())
}

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
    Map(#[from] MapError),
}

/// Adds the old counters of unchanged rules into the new map. Runs after the swap, so
/// packets the old program counted until then are included.
fn carry_counters(
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
        let old_arr: PerCpuArray<MapData, [u64; 2]> =
            PerCpuArray::try_from(Map::PerCpuArray(old_map))?;
        let new_map = obj.ebpf.map_mut("counters").ok_or(CarryError::NoCounters)?;
        let mut new_arr: PerCpuArray<&mut MapData, [u64; 2]> = PerCpuArray::try_from(new_map)?;
        for c in &plan.counter_carry {
            let before = old_arr.get(&c.old_slot, 0)?;
            let now = new_arr.get(&c.new_slot, 0)?;
            let sum: Vec<[u64; 2]> = before
                .iter()
                .zip(now.iter())
                .map(|(a, b)| [a[0] + b[0], a[1] + b[1]])
                .collect();
            let values = PerCpuValues::try_from(sum).map_err(MapError::from)?;
            new_arr.set(c.new_slot, values, 0)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        notices.push(format!(
            "counters of unchanged rules were not carried over: {}",
            error_chain(&e)
        ));
    }
}

/// Detaches and removes everything installed under `name`.
pub fn flush(bpffs: &Path, name: &str) -> Result<Manifest, ApplyError> {
    let store = Store::lock(bpffs)?;
    let manifest = store
        .manifest(name)?
        .ok_or_else(|| ApplyError::NotInstalled(name.to_string()))?;
    let dir = store.dir(name);
    // Clsact filters are found by interface name, in the namespace they were put in.
    if let Some(ns) = manifest
        .netns
        .as_ref()
        .filter(|_| manifest.programs.iter().any(|p| p.tc_filter.is_some()))
    {
        enter_netns(Path::new(ns))?;
    }
    // Hooks first: once they are off no packet runs these programs.
    for p in &manifest.programs {
        detach(&store, name, p);
    }
    std::fs::remove_dir_all(&dir).map_err(io_error(&dir))?;
    Ok(manifest)
}
