//! Hooks made ready while a first install's programs are verified. Creating an XDP or
//! a TCX link waits in the kernel for an RCU grace period (5-20 ms here, longer than a
//! 10k-rule program takes to verify), which the attach step used to wait for after
//! everything else. A first install now starts, as soon as it knows it will load, a
//! thread that asks each hook's backend to make it ready ([`Backend::prepare`]): a
//! link whose program lets every packet go on as if nothing were attached. The attach
//! step then only puts the verified program in ([`ReadyHooks::take`]).
//!
//! Invariant: a hook made ready is held by this process's descriptors alone, never
//! pinned or recorded, and behaves as no program at all, so it changes no verdict; if
//! the apply fails or is killed, its descriptors close and the kernel takes the link
//! off. A hook is taken at most once, for the (hook, attach point) it was made for;
//! what is not taken is closed when the [`ReadyHooks`] is dropped.
//!
//! [`Backend::prepare`]: crate::attach::Backend::prepare

use sockc_compiler::hooks::HookKind;

use crate::{
    ahead::Ahead,
    attach::{backend, AttachOptions, AttachPoint, Prepared},
};

/// One hook, made ready or not (`None`: its backend had nothing to make, or could
/// not; the attach then does it all, and says why it fails if it does).
type Made = ((HookKind, String), Option<Prepared>);

/// The hooks of a first install, being made ready on another thread.
#[derive(Debug)]
pub struct ReadyHooks(Ahead<Made>);

impl ReadyHooks {
    /// Starts making every hook of `points` ready on another thread, which runs in
    /// the network namespace of the calling thread. Under a fault test they are made
    /// here and now, each after a fault point, so that every step keeps its number.
    pub fn start(points: Vec<(HookKind, String)>, opts: AttachOptions) -> ReadyHooks {
        ReadyHooks(if crate::fault::counting() {
            Ahead::made(make_all(points, opts, true))
        } else {
            Ahead::spawn(move || make_all(points, opts, false))
        })
    }

    /// The hook made ready at (`hook`, `attach_to`), if there is one (waiting for the
    /// thread the first time).
    pub fn take(&self, hook: HookKind, attach_to: &str) -> Option<Prepared> {
        self.0
            .take(|((h, a), ready)| *h == hook && a == attach_to && ready.is_some())
            .and_then(|(_, ready)| ready)
    }
}

/// Asks each hook's backend to make it ready (after a fault point each, when
/// `counted`).
fn make_all(points: Vec<(HookKind, String)>, opts: AttachOptions, counted: bool) -> Vec<Made> {
    points
        .into_iter()
        .map(|(hook, attach_to)| {
            let at = AttachPoint {
                hook,
                attach_to: &attach_to,
            };
            if counted {
                crate::fault::point(&format!("make {at} ready"));
            }
            let _t = crate::stages::stage(format!("make {at} ready (another thread)"));
            let ready = backend(hook).prepare(&at, &opts);
            ((hook, attach_to), ready)
        })
        .collect()
}
