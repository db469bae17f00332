//! Bringing an install's hooks to a target manifest from whatever the kernel runs
//! now: the one mechanism behind a fresh apply, a roll forward after a kill, and a
//! repair. Every step reads the live state of its hook first and does only what is
//! missing, so running it again after it was interrupted at any point converges.
//!
//! Old and target programs are matched by (hook, attach point), as plans match them.
//! Order, so that no hook is ever without both its old and its new program: the hooks
//! the target adds are attached ([`attach_new`]), then every kept hook is swapped in
//! one kernel operation or, if its attachment is gone (link removed, interface
//! re-created, filter deleted or taken over), attached afresh, then the hooks the
//! target drops are detached ([`swap_and_detach`]).

use std::{
    collections::HashMap,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::PathBuf,
};

use sockc_compiler::hooks::HookKind;

use super::{ready_hooks::ReadyHooks, InstallError};
use crate::{
    attach::{
        self, backend, AttachMode, AttachOptions, AttachPoint, Attached, Attachment, LinkState,
        TcAttach, TcFilter,
    },
    store::{InstalledProgram, Manifest, Store},
};
use crate::{fault::point, stages};

/// Where the target's programs come from.
pub(super) enum Programs {
    /// Pinned in the target's objects directory (by this command, which loaded them
    /// with its own `BPF_PROG_LOAD` and pinned them, or by an earlier sockc: a roll
    /// forward or a repair), opened (a descriptor each) when first needed.
    Pinned {
        dir: PathBuf,
        open: HashMap<String, OwnedFd>,
    },
}

impl Programs {
    pub(super) fn pinned(dir: PathBuf) -> Programs {
        Programs::Pinned {
            dir,
            open: HashMap::new(),
        }
    }

    fn get(&mut self, symbol: &str) -> Result<BorrowedFd<'_>, InstallError> {
        match self {
            Programs::Pinned { dir, open } => {
                if !open.contains_key(symbol) {
                    let path = dir.join(format!("prog_{symbol}"));
                    let prog = attach::open_pinned(&path)
                        .map_err(|source| InstallError::OpenProgram { path, source })?;
                    open.insert(symbol.to_string(), prog);
                }
                Ok(open.get(symbol).expect("just opened").as_fd())
            }
        }
    }
}

/// What the steps share.
pub(super) struct Ctx<'a> {
    pub store: &'a Store,
    pub name: &'a str,
    pub opts: &'a AttachOptions,
    pub notices: &'a mut Vec<String>,
    /// Interfaces that had no clsact qdisc when the operation began (its journal's
    /// `qdiscs_absent`): a qdisc there is sockc's.
    pub qdiscs_absent: &'a [String],
    /// Hooks a first install made ready while its programs were verified.
    pub ready: Option<&'a ReadyHooks>,
}

/// The interfaces of `target`'s TC hooks that have no clsact qdisc now: recorded in
/// the journal before anything is attached, so that a qdisc sockc makes is known to
/// be sockc's even if a kill keeps its filter from being recorded.
pub(super) fn qdiscs_absent(target: &Manifest) -> Vec<String> {
    let mut out: Vec<String> = target
        .programs
        .iter()
        .filter(|p| matches!(p.hook, HookKind::TcIngress | HookKind::TcEgress))
        .filter(|p| !crate::attach::tc::has_clsact_qdisc(&p.attach_to))
        .map(|p| p.attach_to.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn key(p: &InstalledProgram) -> (HookKind, &str) {
    (p.hook, p.attach_to.as_str())
}

/// The program of `old` on the same hook and attach point as `p`.
pub(super) fn counterpart<'m>(
    old: Option<&'m Manifest>,
    p: &InstalledProgram,
) -> Option<&'m InstalledProgram> {
    old?.programs.iter().find(|q| key(q) == key(p))
}

/// How `p` is attached afresh: as the user asked (`--tc-attach`), or, when they did
/// not, as it was attached before, so that a repair, a roll forward or a re-attach
/// keeps an install's clsact filters on the clsact qdisc.
fn attach_options(asked: &AttachOptions, p: &InstalledProgram) -> AttachOptions {
    let tc = match (asked.tc, p.attach_mode) {
        (TcAttach::Auto, Some(AttachMode::Clsact)) => TcAttach::Clsact,
        (tc, _) => tc,
    };
    AttachOptions { tc }
}

/// Attaches `p`'s program afresh and records how in `p`.
fn attach_fresh(
    cx: &mut Ctx<'_>,
    p: &mut InstalledProgram,
    progs: &mut Programs,
) -> Result<(), InstallError> {
    if waited_for(cx, p, progs)? {
        return Ok(());
    }
    let attach_to = p.attach_to.clone();
    let at = AttachPoint {
        hook: p.hook,
        attach_to: &attach_to,
    };
    let label = at.to_string();
    let link = p.attach_pin(cx.store, cx.name);
    let opts = attach_options(cx.opts, p);
    let prog = progs.get(&p.symbol)?;
    point(&format!("attach {label}"));
    let b = backend(p.hook);
    // Timed with the wait for a hook still being made ready.
    let started = std::time::Instant::now();
    let attached = match cx.ready.and_then(|r| r.take(p.hook, &p.attach_to)) {
        Some(ready) => {
            let attached = b.attach_prepared(ready, prog, &at, &link, &opts, cx.notices);
            stages::ended(format!("attach {label} (made ready ahead)"), started);
            attached
        }
        None => {
            let attached = b.attach(prog, &at, &link, &opts, cx.notices);
            stages::ended(format!("attach {label}"), started);
            attached
        }
    };
    let Attached {
        mode,
        attachment,
        ifindex,
    } = attached.map_err(|source| InstallError::Attach { at: label, source })?;
    p.attach_mode = Some(mode);
    p.ifindex = ifindex;
    // A qdisc sockc made for the filter this one replaces is still sockc's to remove.
    let before = p.tc_filter.filter(|f| f.created_qdisc);
    let ours = cx.qdiscs_absent.contains(&p.attach_to);
    p.tc_filter = match attachment {
        Attachment::TcFilter(f) => Some(TcFilter {
            created_qdisc: f.created_qdisc || before.is_some() || ours,
            ..f
        }),
        Attachment::Link(_) | Attachment::Map(_) => None,
    };
    if let (None, Some(old)) = (p.tc_filter, before) {
        // Now on a TCX link: the old filter (if another sockc left it) and the qdisc
        // sockc made for it go.
        point(&format!("remove the clsact qdisc of {at}"));
        b.detach(&at, &Attachment::TcFilter(old), p.prog_id);
    }
    Ok(())
}

/// Attaches every hook `target` adds over `old` (phase `Attaching`). Fails at the
/// first hook the kernel refuses; [`detach_new`] then undoes what was attached.
pub(super) fn attach_new(
    cx: &mut Ctx<'_>,
    old: Option<&Manifest>,
    target: &mut Manifest,
    progs: &mut Programs,
) -> Result<(), InstallError> {
    for p in &mut target.programs {
        if counterpart(old, p).is_none() {
            attach_fresh(cx, p, progs)?;
        }
    }
    Ok(())
}

/// Takes off every hook `target` adds over `old` that runs one of the target's
/// programs: the undo of [`attach_new`], also when a kill interrupted it before the
/// journal recorded how a hook was attached; then the clsact qdiscs it made (on the
/// interfaces in `qdiscs_absent`), once empty.
pub(super) fn detach_new(
    store: &Store,
    name: &str,
    old: Option<&Manifest>,
    target: &Manifest,
    qdiscs_absent: &[String],
) {
    for p in target.programs.iter().rev() {
        if counterpart(old, p).is_some() {
            continue;
        }
        let b = backend(p.hook);
        let at = p.attach_point();
        point(&format!("undo attach {at}"));
        match p.tc_filter {
            Some(_) => b.detach(&at, &p.attachment(store, name), p.prog_id),
            None => b.detach_unrecorded(&at, &p.attach_pin(store, name), p.prog_id),
        }
    }
    for iface in qdiscs_absent {
        crate::attach::tc::remove_clsact_if_empty(iface);
    }
}

/// Swaps or re-attaches every hook `target` keeps and detaches the hooks it drops
/// (phase `Swapping`). A hook that cannot be brought to the target (its interface is
/// gone, the kernel refuses) does not stop the others: it is returned, with why, and
/// stays drift that `status` reports and a later `apply` repairs.
pub(super) fn swap_and_detach(
    cx: &mut Ctx<'_>,
    old: Option<&Manifest>,
    target: &mut Manifest,
    progs: &mut Programs,
) -> Result<Vec<InstallError>, InstallError> {
    let mut failed = Vec::new();
    for p in &mut target.programs {
        if let Err(e) = bring_to_target(cx, old, p, progs) {
            failed.push(e);
        }
    }
    if let Some(old) = old {
        // In the reverse of the attach order (see `flush_locked`).
        for q in old.programs.iter().rev() {
            if target.programs.iter().any(|p| key(p) == key(q)) {
                continue;
            }
            let at = q.attach_point();
            point(&format!("detach {at}"));
            backend(q.hook).detach(&at, &q.attachment(cx.store, cx.name), q.prog_id);
        }
    }
    Ok(failed)
}

/// Whether `p`'s place is not there but its program waits for it (a unit that is not
/// running: pinned for systemd, [`crate::attach::Backend::ahead_of_target`]), said in
/// a notice; then nothing is attached.
fn waited_for(
    cx: &mut Ctx<'_>,
    p: &InstalledProgram,
    progs: &mut Programs,
) -> Result<bool, InstallError> {
    let at = p.attach_point();
    if at.exists() {
        return Ok(false);
    }
    let prog = progs.get(&p.symbol)?;
    let label = at.to_string();
    let link = p.attach_pin(cx.store, cx.name);
    let ahead = backend(p.hook).ahead_of_target(prog, &at, &link);
    let waits = ahead.map_err(|source| InstallError::Attach {
        at: label.clone(),
        source,
    })?;
    if waits {
        cx.notices.push(not_running(&label, cx.name));
    }
    Ok(waits)
}

/// What became of the hook `label` of a unit that is not running.
fn not_running(label: &str, install: &str) -> String {
    format!(
        "{label}: the unit is not running (no cgroup): its program is pinned for systemd, which \
         attaches it when the unit starts if the drop-in is in place (`sockc systemd --name \
         {install} --write`); without it, `sockc repair` attaches it once the unit runs"
    )
}

/// One kept (or new, on a roll forward) hook: nothing if it runs the target program
/// already; one swap if it runs the old one where it should; else a fresh attach.
fn bring_to_target(
    cx: &mut Ctx<'_>,
    old: Option<&Manifest>,
    p: &mut InstalledProgram,
    progs: &mut Programs,
) -> Result<(), InstallError> {
    let b = backend(p.hook);
    let at = p.attach_point();
    let live = p.attachment(cx.store, cx.name);
    if b.live_state(&at, &live, &p.expected()) == LinkState::Attached {
        return Ok(());
    }
    let old_runs = counterpart(old, p).is_some_and(|q| {
        q.attachment(cx.store, cx.name) == live
            && b.live_state(&at, &live, &q.expected()) == LinkState::Attached
    });
    if old_runs {
        let label = at.to_string();
        let prog = progs.get(&p.symbol)?;
        point(&format!("swap {label}"));
        let _t = stages::stage(format!("swap {label}"));
        return b
            .replace(prog, &at, &live)
            .map_err(|source| InstallError::Attach { at: label, source });
    }
    if waited_for(cx, p, progs)? {
        return Ok(());
    }
    if !at.exists() {
        return Err(InstallError::MissingInterface {
            hook: p.hook,
            iface: p.attach_to.clone(),
            netns: None,
        });
    }
    if let Some(found) = b.adopt_unrecorded(&at, p.prog_id) {
        // A killed sockc attached it and could not record it: recorded now, not
        // attached a second time beside it.
        p.attach_mode = Some(found.mode);
        p.ifindex = found.ifindex;
        if let Attachment::TcFilter(f) = found.attachment {
            p.tc_filter = Some(TcFilter {
                created_qdisc: cx.qdiscs_absent.contains(&p.attach_to),
                ..f
            });
        }
        return Ok(());
    }
    // The attachment is gone or no longer sockc's: a stale link's pin is replaced by
    // the new link's; a clsact filter that another tool holds stays where it is and
    // sockc's goes in beside it.
    attach_fresh(cx, p, progs)
}

/// The hooks `target` keeps from `old` inherit how they are attached (the same link
/// or filter is swapped in place).
pub(super) fn inherit_attachments(old: Option<&Manifest>, target: &mut Manifest) {
    for p in &mut target.programs {
        if let Some(q) = counterpart(old, p) {
            p.attach_mode = q.attach_mode;
            p.tc_filter = q.tc_filter;
            p.ifindex = q.ifindex;
        }
    }
}

/// The hooks of `m` that do not run what `m` says, with what the kernel runs there.
pub(super) fn drifting(store: &Store, m: &Manifest) -> Vec<(String, LinkState)> {
    m.programs
        .iter()
        .filter_map(|p| {
            let b = backend(p.hook);
            let at: AttachPoint<'_> = p.attach_point();
            let state = b.live_state(&at, &p.attachment(store, &m.name), &p.expected());
            state.is_drift().then(|| (at.to_string(), state))
        })
        .collect()
}
