//! Finishing or undoing interrupted work ([`recover`]) and committing a generation.
//!
//! Invariants: after [`recover_locked`] returns `Ok`, the install has no journal, no
//! half-written record, no generation directory that its manifest does not name (but
//! for garbage that cannot be removed — a mount on it —, which it returns, also when
//! met right after undoing interrupted work, `Recovery::Collected`'s or
//! `Recovery::Debris`'s `stuck`, and a command that changes the install refuses
//! beside, [`refuse_changes`]; a read-only command says it and goes on), and
//! the kernel runs the committed generation (or, after a roll back of a first apply,
//! nothing of the install exists at all); a directory with neither a manifest nor a
//! journal (debris of a first apply killed before its journal, or of a flush killed
//! after its manifest went, or what a flush could not remove) is removed whole but
//! for what cannot be removed, but one that holds generations or links,
//! which neither leaves, is an error until `flush` removes it
//! ([`InstallError::Unrecorded`]), and so is a manifest or journal that cannot be
//! read as one ([`InstallError::UnreadableRecord`]: a flush puts its own journal in
//! place of such a journal, then takes the committed generation's hooks off); what was
//! done is returned, for the command to say. An interrupted flush is only ever
//! finished, never undone ([`super::take_off`](mod@super::take_off) has its steps; [`super::flush`](mod@super::flush) the
//! command). Recovery needs none of the committed generation's bulk record
//! (`crate::store`), nor the target's to undo an apply; interrupted work whose
//! target's record is damaged cannot be finished, and [`abandon`] gives it up for a
//! flush (its hooks off first, then a flush's journal in its place).

use std::fmt;

use sockc_compiler::ir::sockmap::MapRole;

use super::{
    leftovers::{self, Leftover},
    netns_scope::locate,
    reconcile::{self, Ctx, Programs},
    sets::update_sets,
    stray_filters::Removed,
    take_off::{cancel_pending, detach_all, flush_locked, holds_hook, write_flush_journal},
    InstallError,
};
use crate::{
    attach::AttachOptions,
    error_text::error_chain,
    store::{
        journal::{Journal, Operation, Phase},
        BulkRefs, Manifest, Store, StoreError,
    },
};

/// What [`recover_locked`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// An apply of `generation` was interrupted before any installed hook changed: its
    /// new hooks were taken off and its objects removed.
    RolledBack { generation: u64 },
    /// An apply or set update of `generation` was interrupted while it switched hooks:
    /// it was finished (`failed`: hooks that could not be brought to it).
    RolledForward {
        generation: u64,
        failed: Vec<String>,
    },
    /// A flush was interrupted: it was finished, every hook off (`stayed`: what it
    /// could not remove, and the install's directory holding it).
    Flushed { stayed: Vec<Leftover> },
    /// No journal, but leftovers of a command killed before it wrote one: those
    /// `removed`, and those that could not be (`stuck`: a command that changes the
    /// install decides whether it can go on beside them, `super::leftovers`).
    Collected {
        removed: Vec<String>,
        stuck: Vec<Leftover>,
    },
    /// A directory with no record at all (a first apply killed before its journal, a
    /// flush killed after its manifest went, a flush beside a leftover it could not
    /// remove): removed whole, with what it held (`removed`), but for what cannot be
    /// removed (`stuck`: the directory stays holding it, and a new install under the
    /// name decides whether it can go on beside it, as beside [`Recovery::Collected`]'s).
    Debris {
        removed: Vec<String>,
        stuck: Vec<Leftover>,
    },
    /// An apply or set update of `generation` was interrupted and could not be
    /// finished (`why`: a record of its target damaged, a pin it needs gone): a flush
    /// gave it up, taking off the hooks it had attached or swapped ([`flush`](super::flush())).
    Abandoned { generation: u64, why: String },
    /// A journal that cannot be read as one: replaced by a flush's (what its work in
    /// flight attached is known only by the pins, which the flush removes); `programs` are the
    /// ids of the install's pinned programs, and `filters` the clsact filters running
    /// them that the flush found and deleted ([`super::stray_filters`]).
    JournalReplaced {
        programs: Vec<u32>,
        filters: Vec<Removed>,
    },
    /// Interrupted work finished or undone (the first), then the garbage collection
    /// that followed it in the same command (the second: [`Recovery::Collected`] or
    /// [`Recovery::Debris`]), which meets what the work left and could not remove —
    /// a generation directory or a socket map with something mounted on it — before
    /// the command goes on beside it ([`refuse_changes`] reads the second).
    Then(Box<Recovery>, Box<Recovery>),
    /// A directory with generations or links but no record naming them (its manifest
    /// removed by something else, or unreadable): removed by a flush, with what it held; `programs`
    /// are the ids of its pinned programs, and `filters` the clsact filters running
    /// them that the flush found and deleted.
    Unrecorded {
        name: String,
        removed: Vec<String>,
        programs: Vec<u32>,
        filters: Vec<Removed>,
    },
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recovery::RolledBack { generation } => write!(
                f,
                "rolled back an interrupted apply of generation {generation} (no installed hook had changed)"
            ),
            Recovery::RolledForward { generation, failed } => {
                write!(f, "finished an interrupted apply of generation {generation}")?;
                if !failed.is_empty() {
                    write!(f, " (not brought to it: {})", failed.join("; "))?;
                }
                Ok(())
            }
            Recovery::Flushed { stayed } if stayed.is_empty() => {
                f.write_str("finished an interrupted flush")
            }
            Recovery::Flushed { stayed } => write!(
                f,
                "finished an interrupted flush: every hook is off; {}",
                leftovers::stayed_note(stayed)
            ),
            Recovery::Collected { removed, stuck } => both(
                f,
                (!removed.is_empty()).then(|| {
                    format!("removed leftovers of an interrupted command: {}", removed.join(", "))
                }),
                (!stuck.is_empty()).then(|| {
                    format!(
                        "could not remove what an interrupted command left: {}. Remove it by \
                         hand ({}): until then a command that changes the install may refuse",
                        leftovers::list(stuck),
                        leftovers::how_to_remove(stuck)
                    )
                }),
            ),
            Recovery::Debris { removed, stuck } if stuck.is_empty() && removed.is_empty() => f
                .write_str("removed the empty directory an interrupted first apply or flush left"),
            Recovery::Debris { removed, stuck } => both(
                f,
                (!removed.is_empty()).then(|| {
                    let what = removed.join(", ");
                    format!("removed what an interrupted first apply or flush left: {what}")
                }),
                (!stuck.is_empty())
                    .then(|| format!("nothing is installed, but {}", leftovers::stayed_note(stuck))),
            ),
            Recovery::Abandoned { generation, why } => write!(
                f,
                "gave up an interrupted apply of generation {generation}, which could not \
                 be finished ({why}): its hooks were taken off with the install's"
            ),
            Recovery::JournalReplaced { programs, filters } => write!(
                f,
                "replaced a journal sockc cannot read with a flush's: what the work in \
                 flight attached is known only by the pins, which were removed (links off \
                 with them), and by its programs; {}",
                super::swept_note(programs, filters)
            ),
            Recovery::Then(first, then) => write!(f, "{first}; {then}"),
            Recovery::Unrecorded {
                name,
                removed,
                programs,
                filters,
            } => write!(
                f,
                "removed pins that no readable manifest named ({}), which took its links off; \
                 {}. {}",
                removed.join(", "),
                super::swept_note(programs, filters),
                super::anchor_note(name)
            ),
        }
    }
}

/// What was removed and what could not be, each when there is something to say,
/// joined by "; ".
fn both(f: &mut fmt::Formatter<'_>, removed: Option<String>, stuck: Option<String>) -> fmt::Result {
    let parts: Vec<String> = removed.into_iter().chain(stuck).collect();
    f.write_str(&parts.join("; "))
}

impl Recovery {
    /// What was removed and what could not be (a leftover), when this recovery met
    /// garbage: a collection's, debris', a finished flush's (`stayed`), or those of
    /// the collection that followed interrupted work.
    fn leftovers(&self) -> Option<(&[String], &[Leftover])> {
        match self {
            Recovery::Collected { removed, stuck } | Recovery::Debris { removed, stuck } => {
                Some((removed, stuck))
            }
            Recovery::Flushed { stayed } => Some((&[], stayed)),
            Recovery::Then(_, then) => then.leftovers(),
            _ => None,
        }
    }

    /// Whether no install is left under the name (debris removed, a flush finished):
    /// nothing for a command that changes an install to change.
    fn leaves_no_install(&self) -> bool {
        match self {
            Recovery::Debris { .. } | Recovery::Flushed { .. } => true,
            Recovery::Then(_, then) => then.leaves_no_install(),
            _ => false,
        }
    }
}

/// Commits `target`: the manifest, then the journal goes, then the objects of the
/// generation it replaces.
pub(super) fn commit(
    store: &Store,
    target: Manifest,
    replaced_objects: Option<&str>,
) -> Result<Vec<String>, InstallError> {
    commit_recorded(store, target, replaced_objects, None)
}

/// [`commit`] of a target whose bulk records the journal already wrote: `recorded`
/// is what [`Store::write_journal`] returned for a journal holding this very target,
/// so the manifest names those records without hashing a million elements again.
pub(super) fn commit_recorded(
    store: &Store,
    target: Manifest,
    replaced_objects: Option<&str>,
    recorded: Option<&BulkRefs>,
) -> Result<Vec<String>, InstallError> {
    // Its sockets only: the old set entries and rule text are not read for this.
    let old = store.manifest_without_bulk(&target.name)?;
    commit_over(store, target, old.as_ref(), replaced_objects, recorded)
}

/// [`commit_recorded`] over the committed manifest `old` in hand (`None`: there is
/// none), as the caller read it under this command's lock, which nothing but this
/// commit replaces: read once, not again for its sockets.
pub(super) fn commit_over(
    store: &Store,
    mut target: Manifest,
    old: Option<&Manifest>,
    replaced_objects: Option<&str>,
    recorded: Option<&BulkRefs>,
) -> Result<Vec<String>, InstallError> {
    // The new programs run everywhere now: the socket slots only the installed
    // generation meant can be emptied. Before the manifest is written, so that a
    // command killed here repeats it when it rolls forward.
    let notices = super::slot_registry::clear_stale_over(store, old, &target);
    store.write_manifest_recorded(&mut target, recorded)?;
    store.clear_journal(&target.name)?;
    if let Some(dir) = replaced_objects.filter(|d| *d != target.objects_dir) {
        // Not named by the manifest any more: a kill here leaves garbage that the next
        // command collects.
        let _ = store.remove_objects(&target.name, dir);
    }
    remove_unkept(store, &target.name, Some(&target));
    store.remember_manifest(target);
    Ok(notices)
}

/// Removes the pins of maps every generation shares (`keep_*`) that `keep` does not
/// name: a sockmap group the committed file dropped, or one a rolled-back apply
/// created. Sockets still in such a map stay in it until they close (see
/// `sockc_compiler::bpf::lower::sockmap`).
pub(super) fn remove_unkept(store: &Store, name: &str, keep: Option<&Manifest>) {
    let Ok(entries) = std::fs::read_dir(store.dir(name)) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        // Only sockmap groups' maps (the install's other kept maps have owners of
        // their own: `install::slot_registry`).
        let Some(map) = file
            .strip_prefix("keep_")
            .filter(|m| MapRole::of_map(m).is_some())
        else {
            continue;
        };
        if keep.is_some_and(|m| m.snapshot.durable.iter().any(|d| d.map == map)) {
            continue;
        }
        let _ = store.remove_pin(&e.path());
    }
}

/// Drops a generation that was never committed: its objects, the socket slots only it
/// filled, and the journal; on a first apply, the whole install directory (journal
/// last).
pub(super) fn drop_generation(
    store: &Store,
    name: &str,
    old: Option<&Manifest>,
    target: &Manifest,
) -> Result<(), InstallError> {
    let Some(committed) = old else {
        // What cannot be removed stays in the directory, which the next command's
        // recovery finds as debris and says.
        store.remove_install(name)?;
        return Ok(());
    };
    if committed.objects_dir != target.objects_dir {
        // Not one that cannot be removed (a mount on it) keeps the journal: no hook
        // runs it (its hooks came off first), and once the journal is gone it is
        // garbage no record names, which the collection after recovery says
        // ([`recover_in_flight`]) and a change stops beside.
        let _ = store.remove_objects(name, &target.objects_dir);
    }
    remove_unkept(store, name, old);
    super::slot_registry::forget_uncommitted(store, name, old, target);
    store.clear_journal(name)?;
    Ok(())
}

/// Finishes or undoes the interrupted work of install `name`, if any (see the module
/// docs).
pub(crate) fn recover_locked(
    store: &Store,
    name: &str,
    notices: &mut Vec<String>,
) -> Result<Option<Recovery>, InstallError> {
    match recover_in_flight(store, name, notices)? {
        InFlight::Recovered(r) => Ok(r),
        InFlight::Nothing => collect_locked(store, name),
    }
}

/// What [`recover_in_flight`] found.
#[derive(Debug)]
pub(crate) enum InFlight {
    /// Work in flight, finished or undone (or no install directory at all): recovery
    /// is done.
    Recovered(Option<Recovery>),
    /// No journal: what is left of recovery is the garbage collection
    /// ([`collect_locked`], or [`collect_kept_by`] with the manifest in hand).
    Nothing,
}

/// [`recover_locked`] but its garbage collection when nothing is in flight: a caller
/// that reads the committed manifest anyway collects beside other work
/// ([`collect_kept_by`], as `apply` does beside its plan), before it changes anything.
/// Work in flight finished or undone is followed by the collection at once
/// ([`Recovery::Then`]): what the work could not remove (its generation directory, a
/// socket map it made, with something mounted on it) is said now, and a change stops
/// beside it, rather than take it up as its own.
pub(crate) fn recover_in_flight(
    store: &Store,
    name: &str,
    notices: &mut Vec<String>,
) -> Result<InFlight, InstallError> {
    if !store.has_dir(name) {
        return Ok(InFlight::Recovered(None));
    }
    let journal = journal_to_recover(store, name).map_err(|e| unreadable_record(store, name, e))?;
    let Some(journal) = journal else {
        return Ok(InFlight::Nothing);
    };
    let recovered = recover_journal(store, name, journal, notices)?;
    // A flush says what it could not remove itself; a directory gone holds nothing.
    let collect = store.has_dir(name) && !matches!(recovered, Some(Recovery::Flushed { .. }));
    let then = if collect {
        collect_locked(store, name)?
    } else {
        None
    };
    Ok(InFlight::Recovered(match (recovered, then) {
        (Some(r), Some(then)) => Some(Recovery::Then(Box::new(r), Box::new(then))),
        (r, then) => r.or(then),
    }))
}

/// Recovery of install `name` with nothing in flight: the garbage collection
/// ([`collect_kept_by`]) of its committed manifest, or, without one, the directory
/// removed as debris.
pub(crate) fn collect_locked(store: &Store, name: &str) -> Result<Option<Recovery>, InstallError> {
    // What the garbage collection keeps is in the manifest's JSON, its bulk (set
    // entries, rule text) is not needed (nor read, so a damaged bulk record does not
    // keep `flush` from starting over).
    let old = store
        .manifest_without_bulk(name)
        .map_err(|e| unreadable_record(store, name, e))?;
    let Some(old) = old else {
        // Neither committed nor in flight: nothing here is enforced or recorded —
        // unless it holds what only a recorded install has.
        let (held, programs) = store.unrecorded_objects(name);
        if !held.is_empty() {
            return Err(InstallError::Unrecorded {
                name: name.to_string(),
                held,
                programs,
            });
        }
        let r = store.remove_install(name)?;
        return Ok(Some(Recovery::Debris {
            removed: r.removed,
            stuck: Leftover::all(r.stuck, 0),
        }));
    };
    collect_kept_by(store, name, &old)
}

/// The garbage collection of install `name` with nothing in flight, keeping what its
/// committed manifest `m` names (the manifest as read under this lock: its objects'
/// directory and shared maps).
pub(crate) fn collect_kept_by(
    store: &Store,
    name: &str,
    m: &Manifest,
) -> Result<Option<Recovery>, InstallError> {
    let keep = [m.objects_dir.as_str()];
    let mut keep_maps: Vec<String> = m
        .snapshot
        .durable
        .iter()
        .map(|d| format!("keep_{}", d.map))
        .collect();
    keep_maps.sort();
    let (removed, stuck) = store.collect_garbage(name, &keep, &keep_maps)?;
    let stuck = Leftover::all(stuck, m.generation);
    Ok(
        (!removed.is_empty() || !stuck.is_empty())
            .then_some(Recovery::Collected { removed, stuck }),
    )
}

/// [`recover_locked`] for a command that changes install `name` (but does not remove
/// it): stopped by a leftover it cannot go on beside ([`refuse_changes`]).
pub(crate) fn recover_for_change(
    store: &Store,
    name: &str,
    notices: &mut Vec<String>,
) -> Result<Option<Recovery>, InstallError> {
    match recover_locked(store, name, notices)? {
        // Nothing is installed to change (the command says so): what stays of a
        // flush is a new install's to stop beside.
        Some(r) if r.leaves_no_install() => Ok(Some(r)),
        r => refuse_changes(name, r),
    }
}

/// `recovered` for a command that changes install `name` (but does not remove it:
/// a flush goes on beside every leftover and says what stayed, [`flush`](super::flush())): the error
/// [`InstallError::Leftovers`] when a leftover that could not be removed is one it
/// cannot go on beside ([`Leftover::passable`]), else `recovered` as it is, whose
/// text says what stays.
pub(crate) fn refuse_changes(
    name: &str,
    recovered: Option<Recovery>,
) -> Result<Option<Recovery>, InstallError> {
    let Some((removed, stuck)) = recovered.as_ref().and_then(Recovery::leftovers) else {
        return Ok(recovered);
    };
    let blocking: Vec<Leftover> = stuck.iter().filter(|l| !l.passable()).cloned().collect();
    if blocking.is_empty() {
        return Ok(recovered);
    }
    let before = match &recovered {
        Some(Recovery::Then(first, _)) => Some(first.to_string()),
        _ => None,
    };
    Err(InstallError::Leftovers {
        name: name.to_string(),
        removed: removed.to_vec(),
        stuck: blocking,
        before,
    })
}

/// Finishes or undoes `journal`, the interrupted work of install `name`.
fn recover_journal(
    store: &Store,
    name: &str,
    journal: Journal,
    notices: &mut Vec<String>,
) -> Result<Option<Recovery>, InstallError> {
    // Undoing or finishing work needs none of the committed generation's bulk (set
    // entries, rule text, rules): a damaged record of it does not keep a flush from
    // finishing, or an apply from being rolled back or forward.
    let old = match store.manifest(name) {
        Err(StoreError::Bulk { .. }) => store.manifest_without_bulk(name),
        read => read,
    }
    .map_err(|e| unreadable_record(store, name, e))?;
    let recovery = match journal.op {
        Operation::Apply { target } => {
            let absent = &journal.qdiscs_absent;
            recover_apply(
                store,
                (name, old.as_ref()),
                *target,
                (journal.phase, absent),
                notices,
            )?
        }
        Operation::SetUpdate {
            target,
            tables_from: Some(from),
            ..
        } if crate::table_update::live_half_pinned(
            &store.objects_dir(name, &target.objects_dir),
        )
        .map_err(InstallError::Tables)?
            == from =>
        {
            // Killed before the tables switched: nothing a packet reads changed (sets
            // are updated after the switch), so the committed generation stands.
            store.clear_journal(name)?;
            Recovery::RolledBack {
                generation: target.generation,
            }
        }
        Operation::SetUpdate {
            target, changes, ..
        } => {
            update_sets(store, &target, &changes)?;
            let generation = target.generation;
            commit(store, *target, None)?;
            Recovery::RolledForward {
                generation,
                failed: Vec::new(),
            }
        }
        Operation::Flush => {
            let stayed = match &old {
                Some(m) => flush_locked(store, m, notices)?.2,
                None => {
                    cancel_pending(store, name, notices)?;
                    Leftover::all(store.remove_install(name)?.stuck, 0)
                }
            };
            Recovery::Flushed { stayed }
        }
    };
    Ok(Some(recovery))
}

/// `e`, from reading install `name`'s manifest or journal, naming the way out when
/// the pin is there but is not a record sockc can read (a manifest of a newer format
/// is left to the sockc that wrote it).
fn unreadable_record(store: &Store, name: &str, e: StoreError) -> InstallError {
    let what = match &e {
        StoreError::RecordJson { what, .. }
        | StoreError::NotARecord { what, .. }
        | StoreError::RecordChunkMissing { what, .. } => *what,
        _ => return e.into(),
    };
    if !matches!(what, "manifest" | "journal") {
        return e.into();
    }
    let (held, programs) = store.unrecorded_objects(name);
    InstallError::UnreadableRecord {
        name: name.to_string(),
        what,
        source: Box::new(e),
        held,
        programs,
    }
}

/// The install's journal, its target's bulk read in; without it when a damaged bulk
/// record keeps it from being read and the work needs none: an apply interrupted before
/// it swapped installed hooks, which is rolled back (nothing of its target is kept).
/// Work that commits its target (an apply swapping hooks, a set update) needs the
/// target's records, and fails naming the damaged one; [`flush`](super::flush()) then gives it up.
fn journal_to_recover(store: &Store, name: &str) -> Result<Option<Journal>, StoreError> {
    match store.journal(name) {
        Err(e @ StoreError::Bulk { .. }) => match store.journal_without_bulk(name)? {
            Some(j)
                if matches!(j.op, Operation::Apply { .. })
                    && matches!(j.phase, Phase::Building | Phase::Attaching) =>
            {
                Ok(Some(j))
            }
            _ => Err(e),
        },
        read => read,
    }
}

/// Gives up the interrupted work of install `name` for a flush, when it cannot be
/// finished (a damaged record of its target, a pin it needs gone): every hook the target added (also one
/// attached before the journal recorded how) or swapped to its programs comes off,
/// then a flush's journal replaces the work's, which the flush finishes. A kill before
/// that leaves the damaged journal, and the next flush starts over. Returns how many
/// hooks held the target's attachments or the committed generation's
/// ([`holds_hook`]).
pub(super) fn abandon(
    store: &Store,
    name: &str,
    journal: Journal,
    (why, notices): (String, &mut Vec<String>),
) -> Result<(Recovery, usize), InstallError> {
    let Some(target) = journal.op.target() else {
        return Ok((Recovery::Flushed { stayed: Vec::new() }, 0));
    };
    let old = store.manifest_without_bulk(name)?;
    let scope = locate(store, target);
    let running: std::collections::BTreeSet<String> = old
        .iter()
        .chain([target])
        .flat_map(|m| m.programs.iter().map(move |p| (m, p)))
        .filter(|(m, p)| holds_hook(p, &scope.hook_state(store, m, p)))
        .map(|(_, p)| p.attach_point().to_string())
        .collect();
    reconcile::detach_new(store, name, old.as_ref(), target, &journal.qdiscs_absent);
    drop(scope);
    detach_all(store, target, notices);
    let generation = target.generation;
    write_flush_journal(store, name, journal.qdiscs_absent.clone())?;
    Ok((Recovery::Abandoned { generation, why }, running.len()))
}

/// An interrupted apply (or repair): rolled back from `Building` and `Attaching`,
/// forward from `Swapping` — in the install's own namespace only; where that cannot
/// be entered, the target is committed with its hooks as they are (each reported).
fn recover_apply(
    store: &Store,
    (name, old): (&str, Option<&Manifest>),
    mut target: Manifest,
    (phase, qdiscs_absent): (Phase, &[String]),
    notices: &mut Vec<String>,
) -> Result<Recovery, InstallError> {
    let scope = locate(store, &target);
    match phase {
        Phase::Building | Phase::Attaching => {
            reconcile::detach_new(store, name, old, &target, qdiscs_absent);
            if scope.can_look() {
                if let Err(e) = crate::residual::back_to(old, &target) {
                    notices.push(error_chain(&InstallError::Residual(e)));
                }
            }
            drop(scope);
            drop_generation(store, name, old, &target)?;
            Ok(Recovery::RolledBack {
                generation: target.generation,
            })
        }
        Phase::Swapping => {
            let failed = if scope.can_attach() {
                let opts = AttachOptions::default();
                let mut cx = Ctx {
                    store,
                    name,
                    opts: &opts,
                    notices,
                    qdiscs_absent,
                    ready: None,
                };
                let dir = store.objects_dir(name, &target.objects_dir);
                let failed = reconcile::swap_and_detach(
                    &mut cx,
                    old,
                    &mut target,
                    &mut Programs::pinned(dir),
                )?;
                let mut failed: Vec<String> = failed.iter().map(|e| error_chain(e)).collect();
                if let Err(e) = crate::residual::after_programs(old, &mut target) {
                    failed.push(error_chain(&InstallError::Residual(e)));
                }
                failed
            } else {
                scope.problem(&target).into_iter().collect()
            };
            drop(scope);
            let generation = target.generation;
            commit(store, target, old.map(|m| m.objects_dir.as_str()))?;
            Ok(Recovery::RolledForward { generation, failed })
        }
    }
}

/// [`recover_locked`] for every install (or one), returning what was done.
pub fn recover(store: &Store, name: Option<&str>) -> Result<Vec<(String, Recovery)>, InstallError> {
    let names = match name {
        Some(n) => vec![n.to_string()],
        None => store.names()?,
    };
    let mut out = Vec::new();
    for n in names {
        let mut notices = Vec::new();
        if let Some(r) = recover_locked(store, &n, &mut notices)? {
            out.push((n, r));
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::install::leftovers::tests::stuck;

    /// A collection that removed one file and could not remove `stuck`.
    pub(crate) fn collected(stuck: Vec<Leftover>) -> Option<Recovery> {
        Some(Recovery::Collected {
            removed: vec!["manifest_new".to_string()],
            stuck,
        })
    }

    /// A change stops beside what it cannot pass, naming only that; a flush beside
    /// every leftover; a passable one goes on, said by the recovery.
    #[test]
    fn changes_stop_before_what_they_cannot_pass() {
        let err = refuse_changes("x", collected(vec![stuck("g1", 2), stuck("g3", 2)]))
            .expect_err("g3 is the next generation's directory");
        let text = err.to_string();
        let named = "/sys/fs/bpf/sockc/x/g3 (objects of a generation no record names): Device or resource busy";
        assert!(text.contains(named), "{text}");
        assert!(!text.contains("x/g1"), "a passable one is not why: {text}");
        assert!(text.contains("interrupted command"), "{text}");
        assert!(
            text.contains("`rm -r --one-file-system /sys/fs/bpf/sockc/x/g3`"),
            "{text}"
        );
        assert!(text.contains("removed the others: manifest_new"), "{text}");
        assert!(
            text.contains("`sockc status` still shows the install"),
            "{text}"
        );

        let passing = collected(vec![stuck("g1", 2)]);
        let went_on = refuse_changes("x", passing.clone()).expect("goes on");
        assert_eq!(went_on, passing);
        let said = went_on.expect("said").to_string();
        assert!(said.contains("could not remove"), "{said}");
        assert!(said.contains("/sys/fs/bpf/sockc/x/g1"), "{said}");

        let plain = collected(Vec::new());
        assert_eq!(
            refuse_changes("x", plain.clone()).expect("none stuck"),
            plain
        );
    }

    /// What a flush left in a directory with no record (debris it cannot remove), or
    /// what a finished flush could not remove: a first apply beside it stops as beside
    /// a collection's leftover, but for a generation no apply makes.
    #[test]
    fn a_new_install_stops_beside_what_a_flush_left() {
        let debris = |stuck| {
            Some(Recovery::Debris {
                removed: Vec::new(),
                stuck,
            })
        };
        let err = refuse_changes("x", debris(vec![stuck("g1", 0)])).expect_err("g1 is the first");
        assert!(err.to_string().contains("/sys/fs/bpf/sockc/x/g1"), "{err}");
        assert!(
            err.to_string()
                .contains("nothing is installed under the name"),
            "{err}"
        );
        let flushed = Some(Recovery::Flushed {
            stayed: vec![stuck("link_x", 0)],
        });
        assert!(
            refuse_changes("x", flushed).is_err(),
            "a pin a new install makes"
        );
        assert!(refuse_changes("x", debris(vec![stuck("g0", 0)])).is_ok());
        let said = debris(vec![stuck("g1", 0)]).expect("debris").to_string();
        assert!(said.starts_with("nothing is installed, but"), "{said}");
        assert!(said.contains("`umount /sys/fs/bpf/sockc/x/g1`"), "{said}");
    }

    /// After interrupted work was undone, the collection's leftovers decide as ever;
    /// the refusal says what recovery did first, and the text says both.
    #[test]
    fn leftovers_met_after_undone_work_decide_as_ever() {
        let undone = Box::new(Recovery::RolledBack { generation: 3 });
        let then = |stuck| {
            Some(Recovery::Then(
                undone.clone(),
                Box::new(collected(stuck).expect("c")),
            ))
        };
        let err =
            refuse_changes("x", then(vec![stuck("g3", 2)])).expect_err("the next generation's");
        let text = err.to_string();
        assert!(
            text.contains("Recovery first rolled back an interrupted apply of generation 3"),
            "{text}"
        );
        assert!(text.contains("Nothing else was changed"), "{text}");
        let passing = then(vec![stuck("g1", 2)]);
        assert_eq!(
            refuse_changes("x", passing.clone()).expect("goes on"),
            passing
        );
        let said = passing.expect("said").to_string();
        assert!(
            said.starts_with("rolled back an interrupted apply of generation 3"),
            "{said}"
        );
        assert!(
            said.contains("could not remove what an interrupted command left"),
            "{said}"
        );
        let debris = Recovery::Debris {
            removed: Vec::new(),
            stuck: vec![stuck("g1", 0)],
        };
        assert!(Recovery::Then(undone.clone(), Box::new(debris)).leaves_no_install());
        assert!(
            !Recovery::Then(undone, Box::new(collected(Vec::new()).expect("c")))
                .leaves_no_install()
        );
    }
}
