//! What an apply checks and finds before it loads anything: that it runs in the
//! install's own network namespace, that no other install holds a hook it attaches,
//! that every interface and cgroup it names exists (and no cgroup under two names),
//! and which of the installed generation's hooks no longer run what the manifest says.
//!
//! Invariant: nothing here changes the kernel or the store; a refusal names the
//! install, hook or path in the way, and what to do about it.

use sockc_compiler::hooks::{HookKind, Target};

use super::ApplyRequest;
use crate::{
    attach::{AttachPoint, LinkState},
    error_text::error_chain,
    install::InstallError,
    netns,
    plan::{Plan, ProgramAction},
    store::{Manifest, Store},
};

/// Refuses to apply over install `m` from a namespace that is not its own (by cookie;
/// by inode for a manifest of an older sockc, which the next commit gives a cookie).
pub(super) fn check_same_netns(
    m: &Manifest,
    req: &ApplyRequest<'_>,
    here: netns::Identity,
) -> Result<(), InstallError> {
    if crate::install::netns_scope::matches(m, here) {
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

/// Refuses hooks another install already holds in this namespace (TCX would run both
/// programs one after the other; XDP has room for one), or on the same cgroup in any
/// namespace (a cgroup is not in a network namespace), by whichever name. Another install whose manifest
/// this sockc cannot read (a newer format) is skipped with a notice.
pub(super) fn check_other_installs(
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
            crate::install::netns_scope::matches(&m, here)
                && (m.netns_cookie != 0
                    || crate::install::netns_scope::any_namespaced_hook_attached(store, &m))
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
                .any(|q| q.hook == *hook && same_place(*hook, &q.attach_to, attach_to))
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

/// With `--netns`, a notice per cgroup that cgroup blocks name: a cgroup is in no
/// network namespace, so its blocks decide the cgroup's sockets in every namespace,
/// the host's among them, not only in the one the install is applied in.
pub(super) fn cgroup_blocks_beside_netns(
    netns: Option<&str>,
    hooks: &[(HookKind, String)],
    notices: &mut Vec<String>,
) {
    let Some(netns) = netns else {
        return;
    };
    let mut said = std::collections::BTreeSet::new();
    for (hook, attach_to) in hooks {
        if hook.spec().systemd.is_some() && said.insert(attach_to) {
            notices.push(format!(
                "{}: a cgroup is in no network namespace: the blocks on it decide the \
                 cgroup's sockets in every namespace, not only in {netns} (`--netns` places \
                 interface, netfilter and sk_lookup hooks)",
                hook.spec().label(attach_to)
            ));
        }
    }
}

/// Whether two attach texts of `hook` name one place: the same text, or for a cgroup
/// hook two names of one directory (a symbolic link, another mount of cgroup v2).
fn same_place(hook: HookKind, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if hook.spec().target != Target::Cgroup {
        return false;
    }
    let real = crate::cgroup::identity;
    real(a).is_some_and(|ra| real(b) == Some(ra))
}

/// Refuses a plan that attaches where there is nothing to attach to here: an
/// interface or cgroup that does not exist (but a systemd unit's, which a unit that is
/// not running has not: its program waits for it, pinned for systemd).
pub(super) fn check_targets_exist(plan: &Plan, netns: Option<&str>) -> Result<(), InstallError> {
    for p in &plan.programs {
        let at = AttachPoint {
            hook: p.hook,
            attach_to: &p.attach_to,
        };
        let waits = sockc_compiler::hooks::unit::of_attach(&p.attach_to).is_some();
        if p.action != ProgramAction::Detach && !at.exists() && !waits {
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
pub(super) fn check_cgroups_distinct(plan: &Plan) -> Result<(), InstallError> {
    let mut cgroups: Vec<(HookKind, (u64, u64), &str)> = Vec::new();
    for p in plan
        .programs
        .iter()
        .filter(|p| p.action != ProgramAction::Detach)
    {
        if p.hook.spec().target != Target::Cgroup {
            continue;
        }
        let Some(real) = crate::cgroup::identity(&p.attach_to) else {
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

/// The hooks of the installed generation that do not run what its manifest says,
/// with what they run (`drifting`, `reconcile::drifting` of its manifest), but those
/// the plan detaches.
pub(super) fn kept_drift(
    drifting: Vec<(String, LinkState)>,
    plan: &Plan,
) -> Vec<(String, LinkState)> {
    let dropped: Vec<String> = plan
        .programs
        .iter()
        .filter(|p| p.action == ProgramAction::Detach)
        .map(|p| p.hook.spec().label(&p.attach_to))
        .collect();
    drifting
        .into_iter()
        .filter(|(label, _)| !dropped.contains(label))
        .collect()
}
