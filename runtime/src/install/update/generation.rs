//! A new generation: its manifest made, its object loaded and recorded (`load.rs`),
//! pinned, the hooks it adds attached, the hooks it keeps swapped and those it drops
//! detached, its counters carried over (`carry.rs`), committed; each phase journaled
//! before it begins (the state machine of [`crate::install`]).
//!
//! Invariant: nothing installed changes before the new generation is loaded, verified
//! and pinned, its socket slots are filled, and the hooks it adds are on; a failure up
//! to there takes off what this apply attached, drops its objects and forgets its
//! journal, leaving the installed generation exactly as it was.

use std::collections::BTreeMap;

use super::{
    carry::carry_counters,
    load::{load_and_record, loaded_programs, pin_objects},
    recorded_source, ApplyReport, ApplyRequest,
};
use crate::{
    error_text::error_chain,
    install::{
        now_unix,
        ready_hooks::ReadyHooks,
        reconcile::{self, Ctx, Programs},
        recover::{commit_recorded, drop_generation},
        slot_registry, InstallError,
    },
    loaded::LoadedObject,
    netns,
    plan::Snapshot,
    stages,
    store::{
        journal::{Journal, Operation, Phase},
        BulkRefs, Manifest, Store, MANIFEST_FORMAT,
    },
};

/// What a new generation is made of besides the request: the plan's snapshot, the
/// namespace it is installed in, and the hooks made ready for it ahead.
pub(super) struct NewGeneration<'a> {
    pub(super) snapshot: Snapshot,
    pub(super) here: netns::Identity,
    pub(super) ready: Option<&'a ReadyHooks>,
}

/// A new generation: load, pin, attach what is new, swap what is kept, detach what
/// is dropped, commit.
pub(super) fn install_generation(
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
    let (mut target, mut obj, recorded) =
        load_target(store, req, old.as_ref(), (snapshot, here), report)?;
    let generation = target.generation;
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
        // Nothing installed changed but the residual's mode: take off what this call
        // attached, put the installed residual back, drop its objects, forget the
        // journal.
        reconcile::detach_new(store, req.name, old.as_ref(), &target, &absent);
        if let Err(r) = crate::residual::back_to(old.as_ref(), &target) {
            report.notices.push(error_chain(&InstallError::Residual(r)));
        }
        drop_generation(store, req.name, old.as_ref(), &target)?;
        return Err(e);
    }
    let failed = swap_kept(&mut cx, old.as_ref(), &mut target, &recorded)?;
    report.failed.extend(failed.iter().map(|e| error_chain(e)));
    // The programs are the new generation's: the residual to its `min` mode. A
    // failure leaves it in `full` mode, which decides as the new file does (`status`
    // calls it drift, `repair` finishes it).
    if let Err(e) = crate::residual::after_programs(old.as_ref(), &mut target) {
        report.failed.push(error_chain(&InstallError::Residual(e)));
    }
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

/// The new generation's manifest (from the plan's `snapshot`, in the namespace
/// `here`, each declared socket given its slot), its object loaded through the
/// verifier and its records written; the manifest's programs are the loaded ones,
/// with the attachments of the installed generation `old` they inherit.
fn load_target(
    store: &Store,
    req: &ApplyRequest<'_>,
    old: Option<&Manifest>,
    (snapshot, here): (Snapshot, netns::Identity),
    report: &mut ApplyReport,
) -> Result<(Manifest, LoadedObject, BulkRefs), InstallError> {
    let no_slots = BTreeMap::new();
    let socket_slots = slot_registry::assign_slots(
        old.map_or((&no_slots, &[][..]), |m| {
            (&m.socket_slots, m.snapshot.sockets.as_slice())
        }),
        &req.compiled.metadata.sockets,
    );
    let generation = old.map_or(1, |m| m.generation + 1);
    let mut target = new_target(req, generation, snapshot, here, socket_slots);
    target.instance = req.instance_after(old);
    // The plan's listings and the object's build are done with.
    (req.release_freed_memory)();
    let (obj, recorded) = load_and_record(store, req, &target)?;
    report.verified = obj.programs().to_vec();
    target.programs = loaded_programs(&obj)?;
    reconcile::inherit_attachments(old, &mut target);
    Ok((target, obj, recorded))
}

/// Phase `Swapping`, journaled first: the hooks the new generation keeps are swapped
/// (or attached again), those it drops detached. Returns the hooks that failed (they
/// stay drift); from here on the apply is finished, not undone.
fn swap_kept(
    cx: &mut Ctx<'_>,
    old: Option<&Manifest>,
    target: &mut Manifest,
    recorded: &BulkRefs,
) -> Result<Vec<InstallError>, InstallError> {
    let t = stages::stage("journal: swapping");
    let (store, name) = (cx.store, cx.name);
    write_apply_journal(
        store,
        name,
        target,
        Phase::Swapping,
        cx.qdiscs_absent,
        recorded,
    )?;
    drop(t);
    let gdir = store.objects_dir(name, &target.objects_dir);
    reconcile::swap_and_detach(cx, old, target, &mut Programs::pinned(gdir))
}

/// A first apply that failed before anything was committed leaves nothing behind: its
/// socket map (pinned before the programs load) would otherwise sit in a directory
/// that `status` and `flush` call "nothing installed". Work a journal records is left
/// to recovery.
pub(super) fn forget_failed_first_install(store: &Store, name: &str) {
    let nothing_recorded =
        matches!(store.manifest(name), Ok(None)) && matches!(store.journal(name), Ok(None));
    if nothing_recorded {
        let _ = store.remove_install(name);
    }
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
        format: crate::store::format_for(req.residual.is_some()),
        name: req.name.to_string(),
        generation,
        objects_dir: format!("g{generation}"),
        source_file: req.source_file.to_string(),
        source_sha256: req.source_digest(),
        applied_unix: now_unix(),
        netns: req.netns.map(str::to_string),
        netns_ino: here.ino,
        netns_cookie: here.cookie,
        programs: Vec::new(),
        snapshot,
        socket_slots,
        source_text: Some(recorded_source(req, MANIFEST_FORMAT)),
        label: req.label.map(str::to_string),
        instance: String::new(),
        residual: req.residual.clone(),
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
    // Before any hook changes: the residual (the new one) in `full` mode, so that
    // whichever programs run at a hook, netfilter decides every packet as the new file
    // does (docs/import.md, "Installing the residual").
    let t = stages::stage("residual: full mode");
    crate::residual::before_programs(old, target).map_err(InstallError::Residual)?;
    drop(t);
    reconcile::attach_new(cx, old, target, &mut Programs::pinned(gdir))
}
