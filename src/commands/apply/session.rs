//! The install an apply opens before the rest of its file compiles: its name, the
//! capabilities, its network namespace entered, the store locked; and what a first
//! install starts meanwhile (`install::start_ahead`).
//!
//! Invariant: nothing here changes a hook; a failure gives the exit code and leaves
//! the installed generation as it was.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, Mutex, PoisonError},
};

use sockc_compiler::{driver::Refit, ir::Module, sema::Hook};
use sockc_runtime::{
    attach::{AttachOptions, TcAttach},
    install::{self, InstallError},
    netns, plan, stages,
    store::{has_manifest, ReadAhead, Store},
};

use super::{ApplyArgs, TcAttachArg};
use crate::shared::{
    input::is_stdin,
    installing::netns_path,
    json::sockc_error,
    privileges,
    store::{check_name, fail, open_store, valid_name},
};

/// An apply's install opened ([`begin`]): its name, the store under its lock, and the
/// network namespace this process entered for it.
pub struct Session {
    pub name: String,
    pub store: Store,
    netns: Option<PathBuf>,
    /// The installed generation the file was compiled fitted to ([`installed_fit`]).
    pub fitted_to: Option<u64>,
}

impl Session {
    /// The namespace as the manifest records it.
    pub fn netns_text(&self) -> Option<String> {
        self.netns.as_ref().map(|p| p.display().to_string())
    }
}

/// Opens the install of `sockc apply`: its name checked, the capabilities, its
/// network namespace entered, the store locked; says what failed and gives the exit
/// code otherwise.
pub fn begin(args: &ApplyArgs) -> Result<Session, ExitCode> {
    let name = install_name(args)?;
    check_name(&name).and_then(|_| privileges::require("apply", privileges::INSTALL))?;
    let netns = args.netns.as_deref().map(netns_path);
    if let Some(ns) = &netns {
        let _t = stages::stage("enter the network namespace");
        if let Err(source) = netns::enter_for_good(ns) {
            return Err(fail(InstallError::Netns {
                path: ns.clone(),
                source,
            }));
        }
    }
    let t = stages::stage("open and lock the store");
    let store = open_store(&args.target)?;
    drop(t);
    Ok(Session {
        name,
        store,
        netns,
        fitted_to: None,
    })
}

/// What the thread [`read_ahead`] starts gives: the installed manifest, and what a
/// re-apply compiles fitted to, derived from it there ([`installed_fit`]).
pub type Ahead = (ReadAhead, (u64, Refit));

/// The installed manifest of the install `args` names, read on another thread before
/// the store is locked (`store::read_ahead`), while the file compiles, with the refit
/// of its generation (`plan::refit_of`: every rule's text, shared with the manifest);
/// `None` for standard input without `--name` or a name [`begin`] refuses.
pub fn read_ahead(args: &ApplyArgs) -> Option<AheadRead> {
    read_ahead_of(args.target.bpffs.clone(), ahead_name(args)?)
}

/// The thread [`read_ahead`] starts.
pub type AheadRead = std::thread::JoinHandle<Option<Ahead>>;

/// Where [`read_ahead_hook`]'s hook leaves the thread it started.
pub type AheadSlot = Arc<Mutex<Option<AheadRead>>>;

/// [`read_ahead`] put off until sema calls the hook (the first call starts it, once):
/// for a small rule file, which reads nothing ahead otherwise (a thread costs a 1k
/// re-apply more than it saves), as it opens a set file of a megabyte or more, whose
/// read lasts long enough to hide the installed generation's (a million-element
/// set's record is 9 MB; `sema::Options::on_large_set_file`); for a large one, once
/// the second core is idle (`sema::Options::on_second_core_free`). The hook, and the
/// slot where it leaves the thread; `None` where [`read_ahead`] would read nothing.
pub fn read_ahead_hook(args: &ApplyArgs) -> Option<(Hook, AheadSlot)> {
    let (bpffs, name) = (args.target.bpffs.clone(), ahead_name(args)?);
    let slot = AheadSlot::default();
    let filled = Arc::clone(&slot);
    let hook = move || {
        let mut ahead = filled.lock().unwrap_or_else(PoisonError::into_inner);
        if ahead.is_none() {
            *ahead = read_ahead_of(bpffs.clone(), name.clone());
        }
    };
    Some((Hook(Arc::new(hook)), slot))
}

/// The thread [`read_ahead_hook`]'s hook started, if it was called.
pub fn take_ahead(slot: AheadSlot) -> Option<AheadRead> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// The thread [`read_ahead`] starts, of install `name` on the bpffs at `bpffs`.
fn read_ahead_of(bpffs: PathBuf, name: String) -> Option<AheadRead> {
    std::thread::Builder::new()
        .name("read ahead".into())
        .spawn(move || {
            let _t = stages::stage("read the installed generation ahead (another thread)");
            let read = sockc_runtime::store::read_ahead(&bpffs, &name)?;
            let m = read.manifest();
            let fit = (m.generation, plan::refit_of(&m.snapshot));
            Some((read, fit))
        })
        .ok()
}

/// True when the install `args` names has a manifest (a re-apply, unless it goes
/// while this command waits for the lock): one `statx`, before anything compiles.
pub fn installed(args: &ApplyArgs) -> bool {
    ahead_name(args).is_some_and(|name| has_manifest(&args.target.bpffs, &name))
}

/// Gives the store what [`read_ahead`] read, which it keeps only while the manifest
/// is still the one read (`Store::adopt`); the refit made from it when it is kept.
pub fn adopt(session: &Session, ahead: Option<AheadRead>) -> Option<(u64, Refit)> {
    let (read, fit) = ahead.and_then(|h| h.join().ok()).flatten()?;
    session.store.adopt(&session.name, read).then_some(fit)
}

/// The install's name as [`install_name`] gives it, when [`begin`] would take it: a
/// name it refuses reads nothing ahead (it would name a path outside the store).
fn ahead_name(args: &ApplyArgs) -> Option<String> {
    let name = match &args.target.name {
        Some(n) => n.clone(),
        None if is_stdin(&args.file) => return None,
        None => args.file.file_stem()?.to_string_lossy().into_owned(),
    };
    valid_name(&name).then_some(name)
}

/// `--name`, or the rule file's name without its extension (standard input has none).
fn install_name(args: &ApplyArgs) -> Result<String, ExitCode> {
    match &args.target.name {
        Some(n) => Ok(n.clone()),
        None if is_stdin(&args.file) => {
            sockc_error!("apply - (standard input) needs --name");
            Err(ExitCode::from(2))
        }
        None => Ok(args
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()),
    }
}

pub fn attach_options(args: &ApplyArgs) -> AttachOptions {
    AttachOptions {
        tc: match args.tc_attach {
            TcAttachArg::Auto => TcAttach::Auto,
            TcAttachArg::Tcx => TcAttach::Tcx,
            TcAttachArg::Clsact => TcAttach::Clsact,
        },
    }
}

/// What a first install starts while the rest of `module`'s file compiles (not on a
/// dry run): its interface hooks made ready; see `install::start_ahead`.
pub fn start_ahead(
    args: &ApplyArgs,
    session: &Session,
    module: &Module,
) -> Option<install::StartedAhead> {
    if args.dry_run {
        return None;
    }
    let hooks = module
        .programs
        .values()
        .map(|p| (p.hook, p.attach_to.clone()));
    let netns = session.netns_text();
    install::start_ahead(
        &session.store,
        (&session.name, netns.as_deref()),
        hooks,
        attach_options(args),
    )
}

/// What a re-apply compiles its file fitted to: the installed generation's counter
/// slots and map sizes (`driver::finish_fitted`), so that the plan need not lower the
/// file a second time to update it in place. `None` for a first install, or while a
/// journal is there (recovery, which runs first, may replace the generation). `ahead`
/// is the refit [`adopt`] gave, of the manifest the store took: used when it is of the
/// generation the store holds (a refit of another would only make the plan load anew:
/// `plan::plan_fitted` compares the file with the manifest the apply reads).
pub fn installed_fit(session: &Session, ahead: Option<(u64, Refit)>) -> Option<(u64, Refit)> {
    let (store, name) = (&session.store, session.name.as_str());
    if !matches!(store.journal_without_bulk(name), Ok(None)) {
        return None;
    }
    let _t = stages::stage("read the installed generation to fit to");
    // Lent, not copied: the apply takes the same manifest a moment later. Its rule
    // text (megabytes at 100,000 rules) is not read: neither the refit nor a re-apply
    // needs it.
    store
        .with_manifest_but_text(name, |m| match ahead {
            Some((generation, refit)) if generation == m.generation => (generation, refit),
            _ => (m.generation, plan::refit_of(&m.snapshot)),
        })
        .ok()?
}
