//! A first install's interface hooks made ready on another thread while its file
//! still compiles and its programs are verified ([`ReadyHooks`]): the kernel's wait in
//! creating XDP and TCX links then overlaps that work instead of following it.
//!
//! Invariant: hooks are started ahead only for what will be a first install (no
//! manifest, no journal) whose hooks no other install holds; what the apply does not
//! take is closed with its descriptors, so the kernel takes it off.

use sockc_compiler::hooks::{HookKind, Target};

use super::checks::check_other_installs;
use crate::{attach::AttachOptions, install::ready_hooks::ReadyHooks, netns, store::Store};

/// The (hook, attach point) of each program.
pub(super) fn program_hooks<'a>(
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
    pub(super) hooks: ReadyHooks,
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
    // Not read here: a re-apply reads the manifest once, to compile fitted to it.
    let fresh = matches!(store.journal(name), Ok(None)) && !store.has_manifest(name);
    if hooks.is_empty() || !fresh {
        return None;
    }
    let here = netns::current().ok()?;
    check_other_installs(store, (name, netns), &hooks, here, &mut Vec::new()).ok()?;
    started(&hooks, opts)
}

/// The interface hooks of `hooks` made ready on another thread; `None` when it has
/// none.
pub(super) fn started(hooks: &[(HookKind, String)], opts: AttachOptions) -> Option<StartedAhead> {
    let points = interface_hooks(hooks);
    (!points.is_empty()).then(|| StartedAhead {
        hooks: ReadyHooks::start(points, opts),
    })
}
