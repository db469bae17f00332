//! `sockc apply`: install a compiled rule set, or bring an installed one to a new
//! file — a new generation, a set-only update of the live maps, or a repair of hooks
//! that no longer run what the manifest says — each as a journaled operation (see the
//! module docs of [`super`]).
//!
//! Invariants: nothing installed changes before the new generation is loaded, verified
//! and pinned, its socket slots are filled, and the hooks it adds are on; a failure up
//! to there is undone and leaves the installed generation exactly as it was. From the
//! first swap on, the operation is finished even if some hook fails (that hook is
//! reported, and stays drift for `status` and the next `apply`). "No changes" is said
//! only when every hook runs what the manifest says and every set map holds what it
//! says (a set changed behind sockc's back is rewritten, as `repair` does).

use std::{
    collections::{BTreeMap, HashMap},
    os::fd::AsFd,
    path::{Path, PathBuf},
};

use aya::{
    maps::{MapData, MapError},
    pin::PinError,
};
use sockc_compiler::{
    bpf::maps::{COUNTERS_MAP, SOCKETS_MAP},
    hooks::{HookKind, Target},
    Compiled,
};

use super::{
    now_unix,
    ready_hooks::ReadyHooks,
    reconcile::{self, Ctx, Programs},
    recover::{commit_recorded, drop_generation, recover_locked, Recovery},
    repair::repair_locked,
    sets::update_sets,
    slot_registry, InstallError,
};
use crate::{
    attach::{AttachOptions, AttachPoint, LinkState},
    counter_map::Counters,
    error_text::error_chain,
    fault::{counting as point_counting, point},
    loaded::{map_data, LoadOptions, LoadedObject, LoadedProgram, RuntimeError},
    netns,
    plan::{self, Plan, ProgramAction, Snapshot},
    stages,
    store::{
        journal::{Journal, Operation, Phase},
        BulkRefs, InstalledProgram, Manifest, Store, MANIFEST_FORMAT, SETS_FROM_MAPS_FORMAT,
    },
    sys, table_update,
};

pub struct ApplyRequest<'a> {
    pub compiled: &'a Compiled,
    pub name: &'a str,
    pub source_file: &'a str,
    pub source: &'a str,
    /// Recorded in the manifest; the caller has already entered it.
    pub netns: Option<&'a str>,
    pub dry_run: bool,
    pub attach: AttachOptions,
    /// Apply a file without hook blocks (which detaches every hook) on purpose.
    pub allow_empty: bool,
    /// What the caller started for a first install while the file was still
    /// compiling ([`start_ahead`]); `None`: a first install starts it itself.
    pub ahead: Option<&'a StartedAhead>,
    /// Hands the memory freed so far back to the kernel: called before the new
    /// generation is loaded, and once it is loaded and journaled, before its hooks
    /// are attached (an attach waits for the kernel, with the process at its
    /// largest). The binary's allocator knows how; `|| {}` where peak memory does not
    /// matter.
    pub release_freed_memory: fn(),
}

#[derive(Default)]
pub struct ApplyReport {
    pub plan: Plan,
    /// The generation installed when the call returns (`None`: nothing is).
    pub generation: Option<u64>,
    /// True when something in the kernel changed.
    pub changed: bool,
    pub notices: Vec<String>,
    /// Programs loaded through the verifier (the new ones; on dry runs, unattached).
    pub verified: Vec<LoadedProgram>,
    /// Interrupted work this call found and finished or undid first.
    pub recovered: Option<Recovery>,
    /// Hooks that did not run what the manifest says, with what they ran: attached
    /// again (or, on a dry run, to be).
    pub drift: Vec<(String, LinkState)>,
    /// Hooks this call could not bring to the new generation (they stay drift).
    pub failed: Vec<String>,
    /// Set maps of the installed generation that differed from its manifest: rewritten
    /// from it (or, on a dry run, to be).
    pub set_drift: Vec<String>,
    /// The declared sockets were looked for before the new generation was attached.
    looked_for_sockets: bool,
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The rule text a manifest of `format` keeps: the applied source, with its `file`
/// sets written out before format 5 and, from 5, only those no set map holds (the
/// others are written out from the maps' records when read back,
/// `Manifest::rule_text`: a million-element set is not written as 14 MB of text at
/// every apply). Only a set with elements can be written out: without one the source
/// is kept as it is, not parsed a second time (about 6% of a 10k-rule apply's CPU
/// samples).
fn recorded_source(req: &ApplyRequest<'_>, format: u32) -> String {
    let module = &req.compiled.module;
    if module
        .sets
        .values()
        .all(|s| s.v4.is_empty() && s.v6.is_empty())
    {
        return req.source.to_string();
    }
    if format >= SETS_FROM_MAPS_FORMAT {
        let maps = &req.compiled.metadata.map_contents;
        return sockc_compiler::standalone::sets_without_maps_written_out(req.source, module, maps);
    }
    sockc_compiler::standalone::sets_written_out(req.source, module)
}

/// Installs `req.compiled` under `req.name` in `store`; see the module docs. Then
/// (not on a dry run) registers every declared socket whose slot is empty and that is
/// found bound to its address, and says which are still missing.
pub fn apply(store: &Store, req: &ApplyRequest<'_>) -> Result<ApplyReport, InstallError> {
    let mut report = apply_rules(store, req)?;
    // A file that declares no socket has none to register (the manifest committed,
    // or kept, is this file's): not read back, a copy of every rule at 10k rules.
    if !req.dry_run && !req.compiled.metadata.sockets.is_empty() {
        let _t = stages::stage("register declared sockets");
        if let Some(m) = store.manifest(req.name)? {
            // Said once: what is still missing after the commit.
            let lines = slot_registry::register_declared(store, &m);
            if report.looked_for_sockets {
                report
                    .notices
                    .extend(lines.into_iter().filter(|l| !l.contains(": registered, ")));
            } else {
                report.notices.extend(lines);
            }
        }
    }
    Ok(report)
}

/// Refuses to apply over install `m` from a namespace that is not its own (by cookie;
/// by inode for a manifest of an older sockc, which the next commit gives a cookie).
fn check_same_netns(
    m: &Manifest,
    req: &ApplyRequest<'_>,
    here: netns::Identity,
) -> Result<(), InstallError> {
    if super::netns_scope::matches(m, here) {
        return Ok(());
    }
    let what = if m.netns.is_some() && m.netns.as_deref() == req.netns {
        format!(
            "network namespace {} is not the one install `{}` was applied in: it was deleted and created again since (cookie {} recorded, this one is {}); its hooks went with the old one, or still run there: `sockc flush --name {}` first, then apply",
            req.netns.unwrap_or_default(),
            m.name,
            m.netns_cookie,
            here.cookie,
            m.name
        )
    } else {
        format!(
            "install `{}` lives in another network namespace ({}); run this command there, or `sockc flush --name {}` first",
            m.name,
            m.netns.as_deref().unwrap_or("the one it was applied in"),
            m.name
        )
    };
    Err(InstallError::NotItsNetns { what })
}

fn apply_rules(store: &Store, req: &ApplyRequest<'_>) -> Result<ApplyReport, InstallError> {
    let mut report = ApplyReport::default();
    let t = stages::stage("finish or undo an interrupted command");
    report.recovered = recover_locked(store, req.name, &mut report.notices)?;
    drop(t);
    let here = netns::current().map_err(|source| InstallError::Netns {
        path: "/proc/thread-self/ns/net".into(),
        source,
    })?;
    let t = stages::stage("read the installed generation");
    let old = store.manifest(req.name)?;
    drop(t);
    if let Some(m) = &old {
        check_same_netns(m, req, here)?;
    }
    if req.compiled.programs.is_empty() && !req.allow_empty {
        return Err(InstallError::Empty {
            name: req.name.to_string(),
        });
    }
    let t = stages::stage("check other installs' hooks");
    let hooks = program_hooks(
        req.compiled
            .metadata
            .programs
            .iter()
            .map(|p| (p.hook, &*p.attach_to)),
    );
    check_other_installs(
        store,
        (req.name, req.netns),
        &hooks,
        here,
        &mut report.notices,
    )?;
    drop(t);
    // A first install loads (unless it is refused below): its interface hooks are
    // made ready while it plans and verifies (unless the caller made them ready
    // already), as the kernel's wait there is the longest. Dropped unused, hooks are
    // taken off with their descriptors.
    let first = old.is_none() && !req.dry_run && !req.compiled.programs.is_empty();
    let own = (first && req.ahead.is_none())
        .then(|| interface_hooks(&hooks))
        .filter(|points| !points.is_empty())
        .map(|points| StartedAhead {
            hooks: ReadyHooks::start(points, req.attach),
        });
    let ready = req
        .ahead
        .or(own.as_ref())
        .filter(|_| first)
        .map(|a| &a.hooks);
    let t = stages::stage("plan");
    // The plan may refit the file to the installed generation (its counter slots and
    // map sizes), which turns a change inside classifier tables into an update in
    // place; what is installed is then the refitted file.
    let (plan, refitted, new_snapshot) =
        plan::plan_compiled(old.as_ref().map(|m| &m.snapshot), req.compiled);
    let compiled = refitted.as_ref().unwrap_or(req.compiled);
    report.plan = plan;
    drop(t);
    report.generation = old.as_ref().map(|m| m.generation);

    // Checks that need no kernel objects come first.
    check_targets_exist(&report.plan, req.netns)?;
    check_cgroups_distinct(&report.plan)?;
    report.drift = kept_drift(store, old.as_ref(), &report.plan);
    let changes = report.plan.has_changes();
    // The installed set maps matter when the plan updates them in place, or keeps
    // them. Kept unchanged, every entry is compared with the manifest (an apply of the
    // same file repairs); updated in place, only the changed keys are written and read
    // back (`sets::update_sets`), so the cost follows the change, not the set's size.
    let sets_kept = !changes || report.plan.maps_only;
    if let (Some(m), false) = (&old, changes) {
        report.set_drift = super::sets::drift_quick(store, m);
    }

    if !changes && report.drift.is_empty() && report.set_drift.is_empty() {
        // Same code and maps, but the text may have moved (comments, blank lines):
        // keep the manifest's lines and source in step for `stats`.
        if let Some(old) = old.filter(|m| m.snapshot != new_snapshot && !req.dry_run) {
            store.write_manifest(&mut Manifest {
                source_file: req.source_file.to_string(),
                source_sha256: sha256_hex(req.source),
                source_text: Some(recorded_source(req, old.format)),
                snapshot: new_snapshot,
                ..old
            })?;
        }
        return Ok(report);
    }
    if req.dry_run {
        if changes && !report.plan.maps_only {
            // As an apply loads it: the metadata in hand, not parsed back out.
            let elf = req
                .compiled
                .to_loadable_elf()
                .map_err(InstallError::Object)?;
            let meta = req.compiled.metadata.clone();
            let opts = LoadOptions {
                tables: Some(&req.compiled.tables),
                ..Default::default()
            };
            report.verified = LoadedObject::load_described(&elf, meta, &opts)?
                .programs()
                .to_vec();
        }
        return Ok(report);
    }
    let mut old = old;
    if sets_kept && !report.set_drift.is_empty() {
        let m = old
            .as_ref()
            .expect("set drift is of an installed generation");
        super::repair::restore_sets(store, m)?;
        report.changed = true;
    }
    if !report.drift.is_empty() && sets_kept {
        // Nothing to load: the installed generation's own programs go back on.
        let m = old.take().expect("drift is of an installed generation");
        let (repaired, failed) =
            repair_locked(store, &m, (&req.attach, true), &mut report.notices)?;
        report.failed.extend(failed.iter().map(|e| error_chain(e)));
        report.changed = true;
        old = Some(repaired);
    }
    if !changes {
        return Ok(report);
    }
    if report.plan.maps_only {
        let old = old.expect("a maps-only plan has an installed generation");
        return update_in_place(store, req, compiled, &old, new_snapshot, report);
    }
    let first = old.is_none();
    let generation = NewGeneration {
        snapshot: new_snapshot,
        here,
        ready,
    };
    let result = install_generation(store, req, old, generation, &mut report);
    if result.is_err() && first {
        forget_failed_first_install(store, req.name);
    }
    result?;
    Ok(report)
}

/// The (hook, attach point) of each program.
fn program_hooks<'a>(
    programs: impl Iterator<Item = (HookKind, &'a str)>,
) -> Vec<(HookKind, String)> {
    programs.map(|(hook, at)| (hook, at.to_string())).collect()
}

/// The hooks of `hooks` on an interface: those whose links the kernel makes slowly
/// ([`ReadyHooks`]).
fn interface_hooks(hooks: &[(HookKind, String)]) -> Vec<(HookKind, String)> {
    hooks
        .iter()
        .filter(|(hook, _)| hook.spec().target == Target::Interface)
        .cloned()
        .collect()
}

/// What a first install starts on another thread before it loads: its interface hooks
/// made ready.
#[derive(Debug)]
pub struct StartedAhead {
    hooks: ReadyHooks,
}

/// What an apply under `name` that will be a first install starts while its file
/// still compiles (from sema on): its interface hooks (of `hooks`) made ready. `None`
/// when it has none, when it will not be a first install as far as the store says now
/// (an install or a journal is there), or when another install holds one of the hooks
/// (the apply then decides, and says, as it would have). The caller holds the store's
/// lock until the apply is done, and runs in the install's network namespace (`netns`,
/// as the apply records it).
pub fn start_ahead(
    store: &Store,
    (name, netns): (&str, Option<&str>),
    hooks: impl Iterator<Item = (HookKind, String)>,
    opts: AttachOptions,
) -> Option<StartedAhead> {
    let hooks: Vec<(HookKind, String)> = hooks.collect();
    let fresh = matches!(store.journal(name), Ok(None)) && matches!(store.manifest(name), Ok(None));
    if hooks.is_empty() || !fresh {
        return None;
    }
    let here = netns::current().ok()?;
    check_other_installs(store, (name, netns), &hooks, here, &mut Vec::new()).ok()?;
    let points = interface_hooks(&hooks);
    (!points.is_empty()).then(|| StartedAhead {
        hooks: ReadyHooks::start(points, opts),
    })
}

/// Refuses a plan that attaches where there is nothing to attach to here: an
/// interface or cgroup that does not exist.
fn check_targets_exist(plan: &Plan, netns: Option<&str>) -> Result<(), InstallError> {
    for p in &plan.programs {
        let at = AttachPoint {
            hook: p.hook,
            attach_to: &p.attach_to,
        };
        if p.action != ProgramAction::Detach && !at.exists() {
            return Err(InstallError::MissingInterface {
                hook: p.hook,
                iface: p.attach_to.clone(),
                netns: netns.map(str::to_string),
            });
        }
    }
    Ok(())
}

/// Refuses two names of one cgroup (a symbolic link, a bind mount) for one hook: the
/// second program would go on the same cgroup beside the first, and one of them lose.
fn check_cgroups_distinct(plan: &Plan) -> Result<(), InstallError> {
    let mut cgroups: Vec<(HookKind, PathBuf, &str)> = Vec::new();
    for p in plan
        .programs
        .iter()
        .filter(|p| p.action != ProgramAction::Detach)
    {
        if p.hook.spec().target != Target::Cgroup {
            continue;
        }
        let Ok(real) = std::fs::canonicalize(&p.attach_to) else {
            continue;
        };
        if let Some((_, _, first)) = cgroups
            .iter()
            .find(|(h, r, a)| *h == p.hook && *r == real && *a != p.attach_to)
        {
            return Err(InstallError::SameCgroup {
                hook: p.hook,
                first: first.to_string(),
                second: p.attach_to.clone(),
            });
        }
        cgroups.push((p.hook, real, &p.attach_to));
    }
    Ok(())
}

/// Hooks of the installed generation `old` that do not run what its manifest says,
/// with what they run; hooks the plan detaches do not count.
fn kept_drift(store: &Store, old: Option<&Manifest>, plan: &Plan) -> Vec<(String, LinkState)> {
    let dropped: Vec<String> = plan
        .programs
        .iter()
        .filter(|p| p.action == ProgramAction::Detach)
        .map(|p| p.hook.spec().label(&p.attach_to))
        .collect();
    old.map(|m| reconcile::drifting(store, m))
        .unwrap_or_default()
        .into_iter()
        .filter(|(label, _)| !dropped.contains(label))
        .collect()
}

/// A maps-only plan: the installed generation's classifier tables switched in place
/// (when they changed) and its set maps updated, journaled as one set update, then
/// committed as the next generation over the same objects.
fn update_in_place(
    store: &Store,
    req: &ApplyRequest<'_>,
    compiled: &Compiled,
    old: &Manifest,
    snapshot: Snapshot,
    mut report: ApplyReport,
) -> Result<ApplyReport, InstallError> {
    // Every field named (no `..old.clone()`): the old snapshot's set entries and rule
    // text, a million elements each, are replaced, so they are not copied first.
    let mut target = Manifest {
        format: old.format,
        name: old.name.clone(),
        generation: old.generation + 1,
        objects_dir: old.objects_dir.clone(),
        source_file: req.source_file.to_string(),
        source_sha256: sha256_hex(req.source),
        applied_unix: now_unix(),
        netns: old.netns.clone(),
        netns_ino: old.netns_ino,
        netns_cookie: old.netns_cookie,
        programs: old.programs.clone(),
        snapshot,
        socket_slots: old.socket_slots.clone(),
        source_text: None,
    };
    if target.netns_cookie == 0 {
        // Checked to be the install's namespace (`check_same_netns`): recorded now, in
        // the format that keeps it.
        if let Ok(id) = netns::current() {
            (target.netns_ino, target.netns_cookie) = (id.ino, id.cookie);
        }
    }
    if target.netns_cookie != 0 {
        // Recorded in the current format (its set entries in binary records).
        target.format = MANIFEST_FORMAT;
    }
    target.source_text = Some(recorded_source(req, target.format));
    let changes = report.plan.set_changes.clone();
    let dir = store.objects_dir(&old.name, &old.objects_dir);
    let tables_from = if report.plan.table_changes.is_empty() {
        None
    } else {
        Some(table_update::live_half_pinned(&dir).map_err(InstallError::Tables)?)
    };
    // The journal holds the target itself (moved in and back out, not cloned), and
    // the manifest reuses the digests of the records the journal wrote.
    let mut journal = Journal {
        op: Operation::SetUpdate {
            target: Box::new(target),
            changes: changes.clone(),
            tables_from,
        },
        phase: Phase::Swapping,
        pid: std::process::id(),
        started_unix: now_unix(),
        qdiscs_absent: Vec::new(),
    };
    let recorded = store.write_journal(req.name, &mut journal, None)?;
    let Operation::SetUpdate { target, .. } = journal.op else {
        unreachable!("built as a set update just above")
    };
    let target = *target;
    if tables_from.is_some() {
        // The new rules' counter slots are zeroed, the tables written into the half no
        // packet reads, then one store switches every classifier to them
        // (`crate::table_update`).
        point("switch classifier tables");
        let done = table_update::switch_pinned(&dir, compiled, &report.plan.fresh_slots)
            .map_err(InstallError::Tables)?;
        report.notices.push(format!(
            "classifier tables switched in place: {} KiB written to half {}, {:.1} ms",
            done.bytes / 1024,
            done.to,
            done.took.as_secs_f64() * 1e3
        ));
    }
    update_sets(store, &target, &changes)?;
    report.generation = Some(target.generation);
    commit_recorded(store, target, None, Some(&recorded))?;
    report.changed = true;
    Ok(report)
}

/// A first apply that failed before anything was committed leaves nothing behind: its
/// socket map (pinned before the programs load) would otherwise sit in a directory
/// that `status` and `flush` call "nothing installed". Work a journal records is left
/// to recovery.
fn forget_failed_first_install(store: &Store, name: &str) {
    let nothing_recorded =
        matches!(store.manifest(name), Ok(None)) && matches!(store.journal(name), Ok(None));
    if nothing_recorded {
        let _ = store.remove_install(name);
    }
}

/// Refuses hooks another install already holds in this namespace (TCX would run both
/// programs one after the other; XDP has room for one), or on the same cgroup in any
/// namespace (a cgroup is not in a network namespace). Another install whose manifest
/// this sockc cannot read (a newer format) is skipped with a notice.
fn check_other_installs(
    store: &Store,
    (name, netns_path): (&str, Option<&str>),
    hooks: &[(HookKind, String)],
    here: netns::Identity,
    notices: &mut Vec<String>,
) -> Result<(), InstallError> {
    for other in store.names()? {
        if other == name {
            continue;
        }
        // Another install's manifest this sockc cannot read (written by a newer sockc,
        // or damaged) is that install's business: say so, and go on. Only its hooks
        // matter here: its bulk (a million-element set's records) is not read.
        let m = match store.manifest_without_bulk(&other) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(e) => {
                notices.push(format!(
                    "install `{other}` not checked for conflicts: {}",
                    error_chain(&e)
                ));
                continue;
            }
        };
        // By cookie; a manifest of an older sockc by inode only while one of its
        // hooks runs here (a namespace that took a gone one's inode is another).
        let same_netns = if m.netns_cookie != 0 || m.netns_ino != 0 {
            super::netns_scope::matches(&m, here)
                && (m.netns_cookie != 0
                    || super::netns_scope::any_namespaced_hook_attached(store, &m))
        } else {
            m.netns.as_deref() == netns_path
        };
        for (hook, attach_to) in hooks {
            let netns_wide = matches!(
                hook.spec().target,
                Target::Interface | Target::Netns | Target::Netfilter
            );
            if netns_wide && !same_netns {
                continue;
            }
            if m.programs
                .iter()
                .any(|q| q.hook == *hook && q.attach_to == *attach_to)
            {
                return Err(InstallError::HeldByInstall {
                    at: hook.spec().label(attach_to),
                    other: other.clone(),
                    generation: m.generation,
                });
            }
        }
    }
    Ok(())
}

/// The cookie of the install's network namespace, which registrars compare with a
/// listening socket's (`bpf_get_netns_cookie`): the calling thread's, as the install
/// records (`sockc apply --netns` entered it).
fn install_netns_cookie() -> Result<u64, InstallError> {
    crate::discovery::check::netns_cookie_here().map_err(|e| InstallError::NetnsCookie(Box::new(e)))
}

/// What a new generation is made of besides the request: the plan's snapshot, the
/// namespace it is installed in, and the hooks made ready for it ahead.
struct NewGeneration<'a> {
    snapshot: Snapshot,
    here: netns::Identity,
    ready: Option<&'a ReadyHooks>,
}

/// A new generation: load, pin, attach what is new, swap what is kept, detach what
/// is dropped, commit.
fn install_generation(
    store: &Store,
    req: &ApplyRequest<'_>,
    old: Option<Manifest>,
    new: NewGeneration<'_>,
    report: &mut ApplyReport,
) -> Result<(), InstallError> {
    let NewGeneration {
        snapshot,
        here,
        ready,
    } = new;
    let no_slots = BTreeMap::new();
    let socket_slots = slot_registry::assign_slots(
        old.as_ref().map_or((&no_slots, &[][..]), |m| {
            (&m.socket_slots, m.snapshot.sockets.as_slice())
        }),
        &req.compiled.metadata.sockets,
    );
    let generation = old.as_ref().map_or(1, |m| m.generation + 1);
    let mut target = new_target(req, generation, snapshot, here, socket_slots);
    // The plan's listings and the object's build are done with.
    (req.release_freed_memory)();
    let (mut obj, recorded) = load_and_record(store, req, &target)?;
    report.verified = obj.programs().to_vec();
    target.programs = loaded_programs(&obj)?;
    reconcile::inherit_attachments(old.as_ref(), &mut target);

    let absent = reconcile::qdiscs_absent(&target);
    let phase = Phase::Building;
    let t = stages::stage("journal: building");
    write_apply_journal(store, req.name, &mut target, phase, &absent, &recorded)?;
    drop(t);
    (req.release_freed_memory)();
    let mut cx = Ctx {
        store,
        name: req.name,
        opts: &req.attach,
        notices: &mut report.notices,
        qdiscs_absent: &absent,
        ready,
    };
    report.looked_for_sockets = true;
    if let Err(e) = build_and_attach_new(&mut cx, old.as_ref(), &mut target, &mut obj, &recorded) {
        // Nothing installed changed: take off what this call attached, drop its
        // objects, forget the journal.
        reconcile::detach_new(store, req.name, old.as_ref(), &target, &absent);
        drop_generation(store, req.name, old.as_ref(), &target)?;
        return Err(e);
    }

    let t = stages::stage("journal: swapping");
    write_apply_journal(
        store,
        req.name,
        &mut target,
        Phase::Swapping,
        &absent,
        &recorded,
    )?;
    drop(t);
    let gdir = store.objects_dir(req.name, &target.objects_dir);
    let failed = reconcile::swap_and_detach(
        &mut cx,
        old.as_ref(),
        &mut target,
        &mut Programs::pinned(gdir),
    )?;
    report.failed.extend(failed.iter().map(|e| error_chain(e)));
    report.changed = true;
    if let Some(old) = &old {
        carry_counters(store, old, &mut obj, &report.plan, &mut report.notices);
    }
    let replaced = old.as_ref().map(|m| m.objects_dir.as_str());
    let t = stages::stage("commit");
    let notices = commit_recorded(store, target, replaced, Some(&recorded))?;
    drop(t);
    report.notices.extend(notices);
    report.generation = Some(generation);
    Ok(())
}

/// The manifest of generation `generation` of `req`'s file, its programs still to be
/// filled in from the loaded object.
fn new_target(
    req: &ApplyRequest<'_>,
    generation: u64,
    snapshot: Snapshot,
    here: netns::Identity,
    socket_slots: BTreeMap<String, u32>,
) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT,
        name: req.name.to_string(),
        generation,
        objects_dir: format!("g{generation}"),
        source_file: req.source_file.to_string(),
        source_sha256: sha256_hex(req.source),
        applied_unix: now_unix(),
        netns: req.netns.map(str::to_string),
        netns_ino: here.ino,
        netns_cookie: here.cookie,
        programs: Vec::new(),
        snapshot,
        socket_slots,
        source_text: Some(recorded_source(req, MANIFEST_FORMAT)),
    }
}

/// Writes the journal of an apply of `target` in `phase`, naming the bulk records
/// `recorded` that [`Store::write_bulk`] wrote for this target. The journal is lent the target's snapshot and rule text (every rule:
/// megabytes with many rules) and gives them back, instead of holding a copy of them
/// for the write.
fn write_apply_journal(
    store: &Store,
    name: &str,
    target: &mut Manifest,
    phase: Phase,
    qdiscs_absent: &[String],
    recorded: &BulkRefs,
) -> Result<(), InstallError> {
    let snapshot = std::mem::take(&mut target.snapshot);
    let source_text = target.source_text.take();
    let mut journal = apply_journal(target, phase, qdiscs_absent);
    let Operation::Apply { target: lent } = &mut journal.op else {
        unreachable!("an apply's journal")
    };
    lent.snapshot = snapshot;
    lent.source_text = source_text;
    let written = store.write_journal(name, &mut journal, Some(recorded));
    let Operation::Apply { target: lent } = journal.op else {
        unreachable!("an apply's journal")
    };
    target.snapshot = lent.snapshot;
    target.source_text = lent.source_text;
    written?;
    Ok(())
}

/// The journal of an apply of `target` in `phase`.
fn apply_journal(target: &Manifest, phase: Phase, qdiscs_absent: &[String]) -> Journal {
    Journal {
        op: Operation::Apply {
            target: Box::new(target.clone()),
        },
        phase,
        pid: std::process::id(),
        started_unix: now_unix(),
        qdiscs_absent: qdiscs_absent.to_vec(),
    }
}

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
fn load_and_record(
    store: &Store,
    req: &ApplyRequest<'_>,
    target: &Manifest,
) -> Result<(LoadedObject, BulkRefs), InstallError> {
    store.ensure_install_dir(req.name)?;
    let load = || load_generation(store, req, &target.socket_slots);
    let record = |stage: &'static str| {
        let _t = stages::stage(stage);
        store.write_bulk(target)
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
    // The metadata goes to the loader as it is: the object need not carry it.
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
        req.compiled.metadata.clone(),
        &LoadOptions {
            socket_map: Some(&socket_map),
            socket_slots: Some(&slot_registry::slots_in_order(slots, declared)),
            netns_cookie,
            reuse: &reuse,
            install: Some(req.name),
            tables: Some(&req.compiled.tables),
        },
    )?)
}

/// Phases `Building` and `Attaching`: pins the generation's objects, then attaches the
/// hooks `target` adds over `old`. Installed hooks are untouched.
fn build_and_attach_new(
    cx: &mut Ctx<'_>,
    old: Option<&Manifest>,
    target: &mut Manifest,
    obj: &mut LoadedObject,
    recorded: &BulkRefs,
) -> Result<(), InstallError> {
    let (store, name) = (cx.store, cx.name);
    let gdir = store.create_objects_dir(name, &target.objects_dir)?;
    let t = stages::stage("pin programs and maps");
    pin_objects(obj, &gdir, |map| {
        target
            .snapshot
            .durable
            .iter()
            .any(|d| d.map == map)
            .then(|| store.keep_path(name, map))
    })?;
    // Every slot a program of the new generation may redirect to holds its socket
    // before any of them runs (a changed declaration's new slot included).
    cx.notices
        .extend(slot_registry::fill_before_attach(store, old, target));
    drop(t);
    let phase = Phase::Attaching;
    let t = stages::stage("journal: attaching");
    write_apply_journal(store, name, target, phase, cx.qdiscs_absent, recorded)?;
    drop(t);
    reconcile::attach_new(cx, old, target, &mut Programs::pinned(gdir))
}

/// The loaded programs as manifest entries (not attached yet).
fn loaded_programs(obj: &LoadedObject) -> Result<Vec<InstalledProgram>, InstallError> {
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
fn pin_objects(
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
