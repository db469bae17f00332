//! `sockc repair`, and the repair an apply does when nothing but drift changed:
//! attaching again every hook of an install that does not run what its manifest says,
//! from the installed generation's own pinned programs (no rule file is needed).
//!
//! Invariant: a repair is journaled as an apply of the committed manifest in its
//! swapping phase, so a kill in the middle is rolled forward by [`super::recover`];
//! nothing is attached outside the install's own network namespace.

use super::{
    fault::point,
    now_unix,
    reconcile::{self, Ctx, Programs},
    recover::{commit, enter_install_netns, in_install_netns, recover_locked, Recovery},
    slot_registry, InstallError,
};
use crate::{
    attach::{AttachOptions, LinkState},
    error_chain, netns,
    store::{
        journal::{Journal, Operation, Phase},
        Manifest, Store,
    },
};

/// Attaches again every hook of `m` that does not run what `m` says, with the
/// installed generation's own pinned programs, and commits where they now are.
/// Returns the manifest committed and the hooks that could not be repaired.
pub(crate) fn repair_locked(
    store: &Store,
    m: &Manifest,
    opts: &AttachOptions,
    notices: &mut Vec<String>,
) -> Result<(Manifest, Vec<InstallError>), InstallError> {
    let _ns = enter_install_netns(m.netns.as_deref())?;
    if !in_install_netns(m) {
        return Err(InstallError::OtherNetns {
            name: m.name.clone(),
            recorded: m.netns_ino,
            current: netns::current_ino().unwrap_or(0),
        });
    }
    let mut target = m.clone();
    point("journal repair");
    store.write_journal(
        &m.name,
        &Journal {
            op: Operation::Apply {
                target: Box::new(target.clone()),
            },
            phase: Phase::Swapping,
            pid: std::process::id(),
            started_unix: now_unix(),
        },
    )?;
    let mut cx = Ctx {
        store,
        name: &m.name,
        opts,
        notices,
    };
    let dir = store.objects_dir(&m.name, &m.objects_dir);
    let failed =
        reconcile::swap_and_detach(&mut cx, Some(m), &mut target, &mut Programs::pinned(dir))?;
    commit(store, &target, None)?;
    Ok((target, failed))
}

/// What [`repair`] did to one install.
#[derive(Debug)]
pub struct Repaired {
    pub name: String,
    pub recovered: Option<Recovery>,
    /// Hooks that ran something else, with what: attached again unless in `failed`.
    pub drift: Vec<(String, LinkState)>,
    pub failed: Vec<String>,
    pub notices: Vec<String>,
}

/// `sockc repair`: for every install (or one), finishes interrupted work and attaches
/// again every hook that does not run what the manifest says, from the pins alone (no
/// rule file is needed: what a udev rule or a systemd unit runs when an interface
/// comes back).
pub fn repair(store: &Store, name: Option<&str>) -> Result<Vec<Repaired>, InstallError> {
    let names = match name {
        Some(n) => vec![n.to_string()],
        None => store.names()?,
    };
    let mut out = Vec::new();
    for n in names {
        let mut notices = Vec::new();
        let recovered = recover_locked(store, &n, &mut notices)?;
        let Some(m) = store.manifest(&n)? else {
            if name.is_some() {
                return Err(InstallError::NotInstalled(n));
            }
            continue;
        };
        let (drift, in_its_netns) = {
            let _ns = enter_install_netns(m.netns.as_deref())?;
            (reconcile::drifting(store, &m), in_install_netns(&m))
        };
        let mut failed = Vec::new();
        if !drift.is_empty() && !in_its_netns {
            // Attaching here would put the install's programs on another namespace's
            // hooks (the host's, for a container whose namespace was deleted).
            failed.push(format!(
                "its network namespace{} is gone or was created again (inode {} recorded); nothing was attached: `sockc flush --name {}` removes the install",
                m.netns.as_deref().map(|p| format!(" {p}")).unwrap_or_default(),
                m.netns_ino,
                m.name
            ));
        } else if !drift.is_empty() {
            let (_, f) = repair_locked(store, &m, &AttachOptions::default(), &mut notices)?;
            failed = f.iter().map(|e| error_chain(e)).collect();
        }
        // A service that restarted since its socket was registered left its slot
        // empty: found by address again here (what a timer running `sockc repair` is
        // for, for UDP services).
        notices.extend(slot_registry::register_declared(store, &m));
        out.push(Repaired {
            name: n,
            recovered,
            drift,
            failed,
            notices,
        });
    }
    Ok(out)
}
