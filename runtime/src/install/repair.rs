//! `sockc repair`, and the repair an apply does when nothing but drift changed:
//! attaching again every hook of an install that does not run what its manifest says,
//! from the installed generation's own pinned programs, and rewriting set maps whose
//! entries were changed behind sockc's back from the manifest (no rule file is
//! needed).
//!
//! Invariant: a repair of hooks is journaled as an apply of the committed manifest in
//! its swapping phase, a rewrite of sets as a set update of it, so a kill in the
//! middle is rolled forward by [`super::recover`]; nothing is attached outside the
//! install's own network namespace (`super::netns_scope`).

use super::{
    netns_scope::{locate, Scope},
    now_unix,
    reconcile::{self, Ctx, Programs},
    recover::{commit, commit_recorded, recover_for_change, Recovery},
    sets, slot_registry, InstallError,
};
use crate::{
    attach::{AttachOptions, LinkState},
    error_text::error_chain,
    netns,
    store::{
        journal::{Journal, Operation, Phase},
        Manifest, Store,
    },
};

/// Attaches again every hook of `m` that does not run what `m` says, with the
/// installed generation's own pinned programs, and commits where they now are (and,
/// for a manifest of an older sockc, the namespace's cookie). Returns the manifest
/// committed and the hooks that could not be repaired. Refused outside the install's
/// own namespace (see `super::netns_scope`), except that `applying` (an `apply` that
/// runs in the namespace its user named, which has the recorded inode) may repair an
/// install whose older manifest cannot prove its namespace.
pub(crate) fn repair_locked(
    store: &Store,
    m: &Manifest,
    (opts, applying): (&AttachOptions, bool),
    notices: &mut Vec<String>,
) -> Result<(Manifest, Vec<InstallError>), InstallError> {
    let scope = locate(store, m);
    let vouched = applying && matches!(scope, Scope::Unverified);
    if !scope.can_attach() && !vouched {
        return Err(InstallError::NotItsNetns {
            what: scope.problem(m).unwrap_or_default(),
        });
    }
    let mut target = m.clone();
    if target.netns_cookie == 0 && (target.netns_ino != 0 || target.netns.is_some()) {
        if let Ok(id) = netns::current() {
            target.netns_ino = id.ino;
            target.netns_cookie = id.cookie;
            target.format = crate::store::format_for(target.residual.is_some());
        }
    }
    let absent = reconcile::qdiscs_absent(&target);
    store.write_journal(
        &m.name,
        &mut Journal {
            op: Operation::Apply {
                target: Box::new(target.clone()),
            },
            phase: Phase::Swapping,
            pid: std::process::id(),
            started_unix: now_unix(),
            qdiscs_absent: absent.clone(),
        },
        None,
    )?;
    let mut cx = Ctx {
        store,
        name: &m.name,
        opts,
        notices,
        qdiscs_absent: &absent,
        ready: None,
    };
    let dir = store.objects_dir(&m.name, &m.objects_dir);
    let failed =
        reconcile::swap_and_detach(&mut cx, Some(m), &mut target, &mut Programs::pinned(dir))?;
    drop(scope);
    commit(store, target.clone(), None)?;
    Ok((target, failed))
}

/// Rewrites the set maps of the committed `m` that differ from its manifest (see
/// `sets::drift`), journaled as a set update of `m` itself; returns a line per map
/// rewritten.
pub(super) fn restore_sets(store: &Store, m: &Manifest) -> Result<Vec<String>, InstallError> {
    let sets::SetDrift { lines, restore } = sets::drift(store, m);
    if restore.is_empty() {
        return Ok(Vec::new());
    }
    let mut journal = Journal {
        op: Operation::SetUpdate {
            target: Box::new(m.clone()),
            changes: restore.clone(),
            tables_from: None,
        },
        phase: Phase::Swapping,
        pid: std::process::id(),
        started_unix: now_unix(),
        qdiscs_absent: Vec::new(),
    };
    let recorded = store.write_journal(&m.name, &mut journal, None)?;
    sets::update_sets(store, m, &restore)?;
    let Operation::SetUpdate { target, .. } = journal.op else {
        unreachable!("built as a set update just above")
    };
    commit_recorded(store, *target, None, Some(&recorded))?;
    Ok(lines)
}

/// What [`repair`] did to one install.
#[derive(Debug)]
pub struct Repaired {
    pub name: String,
    pub recovered: Option<Recovery>,
    /// Hooks that ran something else, with what: attached again unless in `failed`.
    pub drift: Vec<(String, LinkState)>,
    /// Set maps whose entries differed from the manifest's, rewritten from it.
    pub sets: Vec<String>,
    pub failed: Vec<String>,
    pub notices: Vec<String>,
}

/// `sockc repair`: for every install (or one), finishes interrupted work, rewrites set
/// maps changed behind sockc's back, and attaches again every hook that does not run
/// what the manifest says, from the pins alone (no rule file is needed: what a udev
/// rule or a systemd unit runs when an interface comes back).
pub fn repair(store: &Store, name: Option<&str>) -> Result<Vec<Repaired>, InstallError> {
    let names = match name {
        Some(n) => vec![n.to_string()],
        None => store.names()?,
    };
    let mut out = Vec::new();
    for n in names {
        match repair_named(store, &n, name.is_some()) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(e) if name.is_some() => return Err(e),
            // Every install: one that cannot be repaired (a leftover it cannot go on
            // beside, a record it cannot read) is said as failed and the others are
            // repaired still — what a udev rule or a timer runs must not leave every
            // later install's hooks off for one.
            Err(e) => out.push(Repaired::failed(n, e.to_string())),
        }
    }
    Ok(out)
}

/// [`repair`] of the install `n`: `None` when there is none (an error when it was
/// `named`). An interrupted flush or first apply that recovery just finished or
/// removed is said as what was done, named or not: the directory it left is gone.
fn repair_named(store: &Store, n: &str, named: bool) -> Result<Option<Repaired>, InstallError> {
    let mut notices = Vec::new();
    let recovered = recover_for_change(store, n, &mut notices)?;
    let Some(m) = store.manifest(n)? else {
        return match recovered {
            Some(r @ (Recovery::Flushed { .. } | Recovery::Debris { .. })) => {
                Ok(Some(Repaired::finished(n.to_string(), r, notices)))
            }
            _ if named => Err(InstallError::NotInstalled(n.to_string())),
            _ => Ok(None),
        };
    };
    repair_one(store, m, recovered, notices).map(Some)
}

impl Repaired {
    /// An install that could not be repaired at all, and why.
    fn failed(name: String, why: String) -> Repaired {
        Repaired {
            name,
            recovered: None,
            drift: Vec::new(),
            sets: Vec::new(),
            failed: vec![why],
            notices: Vec::new(),
        }
    }

    /// An install whose interrupted flush or first apply `recovered` finished or
    /// removed: nothing of it is left to repair.
    fn finished(name: String, recovered: Recovery, notices: Vec<String>) -> Repaired {
        Repaired {
            name,
            recovered: Some(recovered),
            drift: Vec::new(),
            sets: Vec::new(),
            failed: Vec::new(),
            notices,
        }
    }
}

/// [`repair`] of one committed install.
fn repair_one(
    store: &Store,
    m: Manifest,
    recovered: Option<Recovery>,
    mut notices: Vec<String>,
) -> Result<Repaired, InstallError> {
    let set_drift = restore_sets(store, &m)?;
    let (drift, problem, anchor) = {
        let scope = locate(store, &m);
        let drift: Vec<(String, LinkState)> = m
            .programs
            .iter()
            .map(|p| (p.attach_point().to_string(), scope.hook_state(store, &m, p)))
            .filter(|(_, s)| s.is_drift())
            .collect();
        // Attaching anywhere but the install's own namespace would put its programs
        // on another namespace's hooks (the host's, for a container whose namespace
        // was deleted; a new namespace that took the old one's name or inode).
        let problem = (!scope.can_attach()).then(|| scope.problem(&m)).flatten();
        // The conntrack anchor lives in the namespace too.
        let anchor = match problem {
            None => crate::conntrack_anchor::restore(&m),
            Some(_) => Ok(None),
        };
        let residual = match problem {
            None => {
                crate::residual::repair(&m).map_err(|e| error_chain(&InstallError::Residual(e)))
            }
            Some(_) => Ok(None),
        };
        (drift, problem, (anchor, residual))
    };
    let (anchor, residual) = anchor;
    let mut failed = Vec::new();
    // A cgroup re-created under its path (a restarted unit): its new id.
    let (written, gone) = super::cgroups::refill(store, &m);
    notices.extend(written);
    failed.extend(gone);
    match residual {
        Ok(done) => notices.extend(done),
        Err(why) => failed.push(why),
    }
    match anchor {
        Ok(done) => notices.extend(done),
        Err(why) => failed.push(why),
    }
    if let Some(p) = problem {
        failed.push(format!("nothing was attached: {p}"));
    } else if !drift.is_empty() {
        let (_, f) = repair_locked(store, &m, (&AttachOptions::default(), false), &mut notices)?;
        failed.extend(f.iter().map(|e| error_chain(e)));
    }
    // A service that restarted since its socket was registered left its slot
    // empty: found by address again here (what a timer running `sockc repair` is
    // for, for UDP services).
    notices.extend(slot_registry::register_declared(store, &m));
    Ok(Repaired {
        name: m.name.clone(),
        recovered,
        drift,
        sets: set_drift,
        failed,
        notices,
    })
}
