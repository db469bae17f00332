//! Finishing or undoing interrupted work ([`recover`]), committing, and removing an
//! install ([`flush`]).
//!
//! Invariant: after [`recover_locked`] returns `Ok`, the install has no journal, no
//! half-written record, no generation directory that its manifest does not name, and
//! the kernel runs the committed generation (or, after a roll back of a first apply,
//! nothing of the install exists at all); what was done is returned, for the command
//! to say.

use std::fmt;

use sockc_compiler::ir::sockmap::MapRole;

use super::{
    fault::point,
    now_unix,
    reconcile::{self, Ctx, Programs},
    sets::update_sets,
    InstallError,
};
use crate::{
    attach::{backend, AttachOptions, LinkState},
    error_chain, netns,
    store::{
        journal::{Journal, Operation, Phase},
        Manifest, Store,
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
    /// A flush was interrupted: it was finished.
    Flushed,
    /// No journal, but leftovers of a command killed before it wrote one.
    Collected(Vec<String>),
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
            Recovery::Flushed => f.write_str("finished an interrupted flush"),
            Recovery::Collected(what) => {
                write!(f, "removed leftovers of an interrupted command: {}", what.join(", "))
            }
        }
    }
}

/// Commits `target`: the manifest, then the journal goes, then the objects of the
/// generation it replaces.
pub(super) fn commit(
    store: &Store,
    target: &Manifest,
    replaced_objects: Option<&str>,
) -> Result<Vec<String>, InstallError> {
    // The new programs run everywhere now: the socket slots only the installed
    // generation meant can be emptied. Before the manifest is written, so that a
    // command killed here repeats it when it rolls forward.
    let mut notices = Vec::new();
    if let Some(old) = store.manifest(&target.name)? {
        point("empty stale socket slots");
        notices = super::slot_registry::clear_stale(
            store,
            &target.name,
            (&old.socket_slots, &old.snapshot.sockets),
            (&target.socket_slots, &target.snapshot.sockets),
        );
    }
    point("write manifest");
    store.write_manifest(target)?;
    point("clear journal");
    store.clear_journal(&target.name)?;
    if let Some(dir) = replaced_objects.filter(|d| *d != target.objects_dir) {
        point("remove the replaced generation");
        let _ = std::fs::remove_dir_all(store.objects_dir(&target.name, dir));
    }
    remove_unkept(store, &target.name, Some(target));
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
        point(&format!("remove {}", e.path().display()));
        let _ = std::fs::remove_file(e.path());
    }
}

/// Drops a generation that was never committed: its objects and the journal (and, on
/// a first apply, the install's directory).
pub(super) fn drop_generation(
    store: &Store,
    name: &str,
    old: Option<&Manifest>,
    target: &Manifest,
) {
    if old.is_none_or(|m| m.objects_dir != target.objects_dir) {
        point("remove the new generation");
        let _ = std::fs::remove_dir_all(store.objects_dir(name, &target.objects_dir));
    }
    remove_unkept(store, name, old);
    point("clear journal");
    let _ = store.clear_journal(name);
    if old.is_none() {
        point("remove the install directory");
        let _ = std::fs::remove_dir_all(store.dir(name));
    }
}

/// The install's namespace entered for the duration, when it has one; `None` when it
/// has none or it is gone (its hooks went with it).
pub(super) fn enter_install_netns(
    netns: Option<&str>,
) -> Result<Option<netns::Entered>, InstallError> {
    let Some(path) = netns else { return Ok(None) };
    match netns::enter(std::path::Path::new(path)) {
        Ok(entered) => Ok(Some(entered)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(InstallError::Netns {
            path: path.into(),
            source,
        }),
    }
}

/// Whether this thread is in the namespace the install was applied in (always, for an
/// install that recorded none).
pub(super) fn in_install_netns(m: &Manifest) -> bool {
    m.netns_ino == 0 || netns::current_ino().ok() == Some(m.netns_ino)
}

/// Finishes or undoes the interrupted work of install `name`, if any (see the module
/// docs).
pub(crate) fn recover_locked(
    store: &Store,
    name: &str,
    notices: &mut Vec<String>,
) -> Result<Option<Recovery>, InstallError> {
    let old = store.manifest(name)?;
    let Some(journal) = store.journal(name)? else {
        let keep: Vec<&str> = old.iter().map(|m| m.objects_dir.as_str()).collect();
        let mut keep_maps: Vec<String> = old
            .iter()
            .flat_map(|m| m.snapshot.durable.iter().map(|d| format!("keep_{}", d.map)))
            .collect();
        // Without a manifest (nothing committed) a directory holds no kept maps.
        keep_maps.sort();
        let removed = store.collect_garbage(name, &keep, &keep_maps)?;
        return Ok((!removed.is_empty()).then_some(Recovery::Collected(removed)));
    };
    let recovery = match journal.op {
        Operation::Apply { target } => {
            let _ns = enter_install_netns(target.netns.as_deref())?;
            let mut target = *target;
            match journal.phase {
                Phase::Building | Phase::Attaching => {
                    reconcile::detach_new(store, name, old.as_ref(), &target);
                    drop_generation(store, name, old.as_ref(), &target);
                    Recovery::RolledBack {
                        generation: target.generation,
                    }
                }
                Phase::Swapping => {
                    let opts = AttachOptions::default();
                    let mut cx = Ctx {
                        store,
                        name,
                        opts: &opts,
                        notices,
                    };
                    let dir = store.objects_dir(name, &target.objects_dir);
                    let failed = reconcile::swap_and_detach(
                        &mut cx,
                        old.as_ref(),
                        &mut target,
                        &mut Programs::pinned(dir),
                    )?;
                    commit(store, &target, old.as_ref().map(|m| m.objects_dir.as_str()))?;
                    Recovery::RolledForward {
                        generation: target.generation,
                        failed: failed.iter().map(|e| error_chain(e)).collect(),
                    }
                }
            }
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
            point("clear the journal");
            store.clear_journal(name)?;
            Recovery::RolledBack {
                generation: target.generation,
            }
        }
        Operation::SetUpdate {
            target, changes, ..
        } => {
            update_sets(store, &target, &changes)?;
            commit(store, &target, None)?;
            Recovery::RolledForward {
                generation: target.generation,
                failed: Vec::new(),
            }
        }
        Operation::Flush => {
            if let Some(m) = &old {
                flush_locked(store, m)?;
            } else {
                point("remove the install directory");
                let _ = std::fs::remove_dir_all(store.dir(name));
            }
            Recovery::Flushed
        }
    };
    Ok(Some(recovery))
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

/// Takes every hook of `m` off (only what is sockc's) and removes the install;
/// returns how many hooks were attached when it started.
fn flush_locked(store: &Store, m: &Manifest) -> Result<usize, InstallError> {
    point("journal flush");
    store.write_journal(
        &m.name,
        &Journal {
            op: Operation::Flush,
            phase: Phase::Swapping,
            pid: std::process::id(),
            started_unix: now_unix(),
        },
    )?;
    let mut attached = 0;
    {
        // A namespace that is gone took its hooks with it; nothing to detach there.
        let ns = enter_install_netns(m.netns.as_deref())?;
        let netns_alive = m.netns.is_none() || ns.is_some();
        // In the reverse of the attach order: a sockmap group's sock_ops program comes
        // off before its dispatchers, so no socket joins a map that runs nothing.
        for p in m.programs.iter().rev() {
            let b = backend(p.hook);
            let at = p.attach_point();
            let live = p.attachment(store, &m.name);
            if netns_alive && b.live_state(&at, &live, &p.expected()) == LinkState::Attached {
                attached += 1;
            }
            point(&format!("detach {at}"));
            if netns_alive {
                b.detach(&at, &live, p.prog_id);
            }
        }
    }
    point("remove the install directory");
    let dir = store.dir(&m.name);
    std::fs::remove_dir_all(&dir).map_err(super::io_error(&dir))?;
    Ok(attached)
}

/// What [`flush`] did.
#[derive(Debug)]
pub struct Flushed {
    /// The install removed (`None` when the flush found an interrupted flush of it
    /// and finished that).
    pub manifest: Option<Manifest>,
    /// Hooks that ran the install's programs until the flush.
    pub detached: usize,
    pub recovered: Option<Recovery>,
}

/// Detaches and removes everything installed under `name`.
pub fn flush(store: &Store, name: &str) -> Result<Flushed, InstallError> {
    let mut notices = Vec::new();
    let recovered = recover_locked(store, name, &mut notices)?;
    let Some(manifest) = store.manifest(name)? else {
        if recovered == Some(Recovery::Flushed) {
            return Ok(Flushed {
                manifest: None,
                detached: 0,
                recovered,
            });
        }
        return Err(InstallError::NotInstalled(name.to_string()));
    };
    let detached = flush_locked(store, &manifest)?;
    Ok(Flushed {
        manifest: Some(manifest),
        detached,
        recovered,
    })
}
