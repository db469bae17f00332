//! `sockc apply` and `sockc flush`: install a compiled rule set so it outlives the
//! CLI, replace it atomically, remove it.
//!
//! A re-apply builds everything new first — load and verify the programs, create and
//! fill the maps, pin them under a new `g<N>` directory, attach hooks that are new —
//! and only then swaps each existing hook with one `BPF_LINK_UPDATE`, which the kernel
//! makes atomic: a packet runs the old program or the new one, never none. Invariant:
//! any error before the swap leaves the installed generation, its links, maps and
//! counters exactly as they were (what this call created is removed again). When only
//! set contents change, the live maps are updated in place (additions before removals)
//! and no program is reloaded. Counters of rules that did not change are carried over.

use std::{
    ffi::CString,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use aya::{
    maps::{Map, MapData, PerCpuArray, PerCpuValues},
    programs::{
        links::Link,
        links::{FdLink, LinkOrder, PinnedLink},
        tc::{NlOptions, SchedClassifierLink, TcAttachOptions},
        xdp::XdpLink,
        ProgramError, SchedClassifier, TcAttachType, Xdp, XdpMode,
    },
};
use sockc_compiler::{driver::unhex, Compiled};

use crate::{
    plan::{self, Plan, ProgramAction, Snapshot},
    store::{InstalledProgram, Manifest, Store, StoreError, TcFilter, MANIFEST_FORMAT},
    sys, LoadedObject, LoadedProgram, RuntimeError,
};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{hook} on {iface}: no such interface{}", netns_note(.netns))]
    MissingInterface {
        hook: String,
        iface: String,
        netns: Option<String>,
    },
    #[error("{hook} on {iface}: {msg}")]
    Attach {
        hook: String,
        iface: String,
        msg: String,
    },
    #[error("{what}: {msg}")]
    Other { what: String, msg: String },
    #[error("nothing is installed under the name `{0}`")]
    NotInstalled(String),
}

fn netns_note(netns: &Option<String>) -> String {
    netns
        .as_ref()
        .map(|n| format!(" in network namespace {n}"))
        .unwrap_or_default()
}

fn other(what: impl Into<String>) -> impl FnOnce(String) -> ApplyError {
    let what = what.into();
    move |msg| ApplyError::Other { what, msg }
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
    pub tc_attach: TcAttach,
}

/// How TC programs are attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcAttach {
    /// TCX links, or the clsact qdisc where the kernel has no TCX (before 6.6).
    #[default]
    Auto,
    Tcx,
    Clsact,
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
    let file = std::fs::File::open(path).map_err(|e| ApplyError::Other {
        what: path.display().to_string(),
        msg: e.to_string(),
    })?;
    use std::os::fd::AsRawFd;
    // SAFETY: setns on a descriptor we own; CLONE_NEWNET checks it is a net namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(ApplyError::Other {
            what: format!("enter network namespace {}", path.display()),
            msg: std::io::Error::last_os_error().to_string(),
        });
    }
    Ok(())
}

fn if_exists(iface: &str) -> bool {
    let Ok(c) = CString::new(iface) else {
        return false;
    };
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
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

pub fn apply(req: &ApplyRequest<'_>) -> Result<ApplyReport, ApplyError> {
    let store = Store::lock(req.bpffs)?;
    let old = store.manifest(req.name)?;
    let new_snapshot = Snapshot::of(req.compiled);
    let plan = plan::plan(old.as_ref().map(|m| &m.snapshot), &new_snapshot);
    let mut report = ApplyReport {
        generation: old.as_ref().map(|m| m.generation),
        plan,
        changed: false,
        notices: Vec::new(),
        verified: Vec::new(),
    };

    // Checks that need no kernel objects come first.
    for p in &report.plan.programs {
        if p.action != ProgramAction::Detach && !if_exists(&p.attach_to) {
            return Err(ApplyError::MissingInterface {
                hook: p.hook.clone(),
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
    let elf = req
        .compiled
        .to_elf()
        .map_err(|e| other("write the object")(e.to_string()))?;
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
        std::fs::create_dir_all(&gdir)
            .map_err(|e| other(gdir.display().to_string())(e.to_string()))?;
        undo.dirs.push(gdir.clone());
        pin_objects(&mut obj, &gdir)?;

        // New hooks first: they can fail (busy interface, no driver support), and
        // failing here still leaves the old generation untouched.
        let mut modes = std::collections::HashMap::new();
        for p in report
            .plan
            .programs
            .iter()
            .filter(|p| p.action == ProgramAction::Attach)
        {
            let link = store.link_path(req.name, &p.symbol);
            let (mode, filter) = attach(
                &mut obj,
                &p.symbol,
                &p.hook,
                &p.attach_to,
                &link,
                req.tc_attach,
                &mut report.notices,
            )?;
            match filter {
                Some(f) => undo.filters.push((p.attach_to.clone(), p.hook.clone(), f)),
                None => undo.links.push(link),
            }
            modes.insert(p.symbol.clone(), (mode, filter));
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
            programs: installed_programs(&obj, &report.plan, old.as_ref(), &modes)?,
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

    // The swap: one atomic link update per existing hook.
    for p in &report.plan.programs {
        if matches!(
            p.action,
            ProgramAction::Reload | ProgramAction::ReloadSameCode
        ) {
            let link = store.link_path(req.name, &p.symbol);
            let filter = installed(old.as_ref(), &p.symbol).and_then(|o| o.tc_filter);
            replace(&mut obj, &p.symbol, &p.hook, &p.attach_to, &link, filter).map_err(|e| {
                ApplyError::Attach {
                    hook: p.hook.clone(),
                    iface: p.attach_to.clone(),
                    msg: format!("link update failed after the swap began: {e}"),
                }
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
        match installed(old.as_ref(), &p.symbol).and_then(|o| o.tc_filter) {
            Some(f) => detach_tc_filter(&p.attach_to, &p.hook, f),
            None => detach_pinned(&store.link_path(req.name, &p.symbol)),
        }
    }
    store.commit_manifest(req.name)?;
    if let Some(old) = &old {
        let _ = std::fs::remove_dir_all(store.objects_dir(req.name, &old.objects_dir));
    }
    report.generation = Some(generation);
    Ok(report)
}

/// Detaches the hook behind a pinned link, then removes the pin. Unpinning alone only
/// drops a reference: the kernel detaches later (from a workqueue), and not at all
/// while another process holds the link open.
fn detach_pinned(path: &Path) {
    if let Ok(fd) = sys::obj_get(path) {
        use std::os::fd::AsFd;
        let _ = sys::link_detach(fd.as_fd());
    }
    let _ = std::fs::remove_file(path);
}

fn installed<'m>(m: Option<&'m Manifest>, symbol: &str) -> Option<&'m InstalledProgram> {
    m.and_then(|m| m.programs.iter().find(|p| p.symbol == symbol))
}

fn tc_direction(hook: &str) -> TcAttachType {
    if hook == "tc ingress" {
        TcAttachType::Ingress
    } else {
        TcAttachType::Egress
    }
}

/// Removes a clsact filter sockc attached (netlink `RTM_DELTFILTER`).
fn detach_tc_filter(iface: &str, hook: &str, f: TcFilter) {
    if let Ok(link) =
        SchedClassifierLink::attached(iface, tc_direction(hook), f.priority, f.handle.into(), None)
    {
        let _ = link.detach();
    }
}

/// What to remove again if an apply fails before its swap.
#[derive(Default)]
struct Undo {
    links: Vec<std::path::PathBuf>,
    /// (interface, hook, filter) of clsact filters attached by this call.
    filters: Vec<(String, String, TcFilter)>,
    dirs: Vec<std::path::PathBuf>,
}

impl Undo {
    fn run(self) {
        // Hooks attached by this call come off again (detach, then unpin).
        for l in self.links {
            detach_pinned(&l);
        }
        for (iface, hook, f) in self.filters {
            detach_tc_filter(&iface, &hook, f);
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
            .map_err(|e| other(path.display().to_string())(e.to_string()))?;
    }
    for (name, map) in obj.ebpf.maps() {
        let path = dir.join(format!("map_{name}"));
        let data = crate::map_data(map).ok_or_else(|| other(name)("unexpected map type".into()))?;
        data.pin(&path)
            .map_err(|e| other(path.display().to_string())(e.to_string()))?;
    }
    Ok(())
}

/// An error with its causes, `: `-separated (aya puts the errno in the source); a
/// cause whose text the message already shows (transparent wrappers) is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Attaches a new hook and pins its link; returns the attach mode, and the filter for
/// clsact attachments (which have no link to pin).
fn attach(
    obj: &mut LoadedObject,
    symbol: &str,
    hook: &str,
    iface: &str,
    link_path: &Path,
    tc_attach: TcAttach,
    notices: &mut Vec<String>,
) -> Result<(String, Option<TcFilter>), ApplyError> {
    let fail = |msg: String| ApplyError::Attach {
        hook: hook.into(),
        iface: iface.into(),
        msg,
    };
    let prog = obj.program_mut(symbol)?;
    let (fd_link, mode): (FdLink, &str) = match hook {
        "xdp" => {
            let xdp: &mut Xdp = prog.try_into().map_err(|e| fail(error_chain(&e)))?;
            let (id, mode) = match xdp.attach(iface, XdpMode::Driver) {
                Ok(id) => (id, "xdp driver"),
                Err(e) => {
                    notices.push(format!(
                        "xdp on {iface}: driver mode not available ({}); attached in generic mode",
                        error_chain(&e)
                    ));
                    let id = xdp
                        .attach(iface, XdpMode::Skb)
                        .map_err(|e| fail(error_chain(&e)))?;
                    (id, "xdp generic")
                }
            };
            let link = xdp.take_link(id).map_err(|e| fail(error_chain(&e)))?;
            let fd = FdLink::try_from(link).map_err(|e| {
                fail(format!(
                    "the kernel attached XDP through netlink, which cannot be pinned: {e}"
                ))
            })?;
            (fd, mode)
        }
        "tc ingress" | "tc egress" => {
            let tc: &mut SchedClassifier = prog.try_into().map_err(|e| fail(error_chain(&e)))?;
            let tcx = match tc_attach {
                TcAttach::Clsact => None,
                _ => Some(tc.attach_with_options(
                    iface,
                    tc_direction(hook),
                    TcAttachOptions::TcxOrder(LinkOrder::default()),
                )),
            };
            match tcx {
                Some(Ok(id)) => {
                    let link = tc.take_link(id).map_err(|e| fail(error_chain(&e)))?;
                    let fd = FdLink::try_from(link).map_err(|e| fail(error_chain(&e)))?;
                    (fd, "tcx")
                }
                Some(Err(e)) if tc_attach == TcAttach::Tcx => {
                    return Err(fail(format!(
                        "TCX attach (needs Linux 6.6 or later): {}",
                        error_chain(&e)
                    )))
                }
                tcx => {
                    if let Some(Err(e)) = tcx {
                        notices.push(format!(
                            "{hook} on {iface}: no TCX ({}); attached through the clsact qdisc",
                            error_chain(&e)
                        ));
                    }
                    let filter = attach_clsact(tc, iface, hook).map_err(fail)?;
                    return Ok(("clsact".into(), Some(filter)));
                }
            }
        }
        other => return Err(fail(format!("unknown hook {other}"))),
    };
    let _ = std::fs::remove_file(link_path);
    fd_link
        .pin(link_path)
        .map_err(|e| fail(format!("pin {}: {e}", link_path.display())))?;
    Ok((mode.to_string(), None))
}

/// Attaches through a netlink filter on the clsact qdisc (created if missing). The
/// filter, not a link, holds the program, so it stays after sockc exits; the manifest
/// records its priority and handle for later swaps and removal.
fn attach_clsact(tc: &mut SchedClassifier, iface: &str, hook: &str) -> Result<TcFilter, String> {
    // An existing clsact qdisc is fine; a real problem shows in the attach below.
    let _ = aya::programs::tc::qdisc_add_clsact(iface);
    let id = tc
        .attach_with_options(
            iface,
            tc_direction(hook),
            TcAttachOptions::Netlink(NlOptions::default()),
        )
        .map_err(|e| format!("clsact attach: {}", error_chain(&e)))?;
    let link = tc.take_link(id).map_err(|e| error_chain(&e))?;
    let filter = TcFilter {
        priority: link.priority().map_err(|e| error_chain(&e))?,
        handle: link.handle().map_err(|e| error_chain(&e))?.into(),
    };
    // Dropping the link would delete the filter.
    std::mem::forget(link);
    Ok(filter)
}

/// Swaps the program behind a pinned link (`BPF_LINK_UPDATE`), or behind a clsact
/// filter (netlink replace of the same priority and handle).
fn replace(
    obj: &mut LoadedObject,
    symbol: &str,
    hook: &str,
    iface: &str,
    link_path: &Path,
    filter: Option<TcFilter>,
) -> Result<(), String> {
    let prog = obj.program_mut(symbol).map_err(|e| e.to_string())?;
    if let Some(f) = filter {
        let tc: &mut SchedClassifier = prog.try_into().map_err(|e: ProgramError| e.to_string())?;
        let link = SchedClassifierLink::attached(
            iface,
            tc_direction(hook),
            f.priority,
            f.handle.into(),
            None,
        )
        .map_err(|e| e.to_string())?;
        let id = tc.attach_to_link(link).map_err(|e| error_chain(&e))?;
        // Dropping the link would delete the filter.
        std::mem::forget(tc.take_link(id).map_err(|e| error_chain(&e))?);
        return Ok(());
    }
    let fd_link: FdLink = PinnedLink::from_pin(link_path)
        .map_err(|e| format!("open {}: {e}", link_path.display()))?
        .into();
    match hook {
        "xdp" => {
            let xdp: &mut Xdp = prog.try_into().map_err(|e: ProgramError| e.to_string())?;
            let link = XdpLink::try_from(fd_link).map_err(|e| e.to_string())?;
            xdp.attach_to_link(link).map_err(|e| e.to_string())?;
        }
        _ => {
            let tc: &mut SchedClassifier =
                prog.try_into().map_err(|e: ProgramError| e.to_string())?;
            let link = SchedClassifierLink::try_from(fd_link).map_err(|e| e.to_string())?;
            tc.attach_to_link(link).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn installed_programs(
    obj: &LoadedObject,
    plan: &Plan,
    old: Option<&Manifest>,
    modes: &std::collections::HashMap<String, (String, Option<TcFilter>)>,
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
            .map_err(|e| other(p.symbol.clone())(e.to_string()))?;
        let (mode, tc_filter) = modes
            .get(&p.symbol)
            .cloned()
            .or_else(|| installed(old, &p.symbol).map(|o| (o.attach_mode.clone(), o.tc_filter)))
            .unwrap_or_default();
        out.push(InstalledProgram {
            symbol: p.symbol.clone(),
            hook: p.hook.clone(),
            attach_to: p.attach_to.clone(),
            prog_id: info.id(),
            tag: format!("{:016x}", info.tag()),
            attach_mode: mode,
            tc_filter,
        });
    }
    Ok(out)
}

/// Adds every new element before removing any old one, so an address in both the old
/// and the new set never drops out, even for a moment.
fn update_sets_in_place(store: &Store, old: &Manifest, plan: &Plan) -> Result<(), ApplyError> {
    let dir = store.objects_dir(&old.name, &old.objects_dir);
    let open = |map: &str| -> Result<MapData, ApplyError> {
        let path = dir.join(format!("map_{map}"));
        MapData::from_pin(&path).map_err(|e| other(path.display().to_string())(e.to_string()))
    };
    let bytes = |hex: &str, map: &str| -> Result<Vec<u8>, ApplyError> {
        unhex(hex).ok_or_else(|| other(map.to_string())(format!("bad hex {hex}")))
    };
    for change in &plan.set_changes {
        let map = open(&change.map)?;
        for (k, v) in &change.added_raw {
            use std::os::fd::AsFd;
            sys::map_update(
                map.fd().as_fd(),
                &bytes(k, &change.map)?,
                &bytes(v, &change.map)?,
                0,
            )
            .map_err(|e| other(change.map.clone())(format!("insert: {e}")))?;
        }
    }
    for change in &plan.set_changes {
        let map = open(&change.map)?;
        for (k, _) in &change.removed_raw {
            use std::os::fd::AsFd;
            sys::map_delete(map.fd().as_fd(), &bytes(k, &change.map)?)
                .map_err(|e| other(change.map.clone())(format!("remove: {e}")))?;
        }
    }
    Ok(())
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
    let result = (|| -> Result<(), String> {
        let old_map = MapData::from_pin(&path).map_err(|e| e.to_string())?;
        let old_arr: PerCpuArray<MapData, [u64; 2]> =
            PerCpuArray::try_from(Map::PerCpuArray(old_map)).map_err(|e| e.to_string())?;
        let new_map = obj.ebpf.map_mut("counters").ok_or("no counters map")?;
        let mut new_arr: PerCpuArray<&mut MapData, [u64; 2]> =
            PerCpuArray::try_from(new_map).map_err(|e| e.to_string())?;
        for c in &plan.counter_carry {
            let before = old_arr.get(&c.old_slot, 0).map_err(|e| e.to_string())?;
            let now = new_arr.get(&c.new_slot, 0).map_err(|e| e.to_string())?;
            let sum: Vec<[u64; 2]> = before
                .iter()
                .zip(now.iter())
                .map(|(a, b)| [a[0] + b[0], a[1] + b[1]])
                .collect();
            let values = PerCpuValues::try_from(sum).map_err(|e| e.to_string())?;
            new_arr
                .set(c.new_slot, values, 0)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        notices.push(format!(
            "counters of unchanged rules were not carried over: {e}"
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
    // Links first: once they are gone no packet runs these programs.
    for p in &manifest.programs {
        match p.tc_filter {
            Some(f) => detach_tc_filter(&p.attach_to, &p.hook, f),
            None => detach_pinned(&store.link_path(name, &p.symbol)),
        }
    }
    std::fs::remove_dir_all(&dir).map_err(|e| other(dir.display().to_string())(e.to_string()))?;
    Ok(manifest)
}
