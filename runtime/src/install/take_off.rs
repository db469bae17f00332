//! Taking an install off: a flush's journal put in place, the pending confirmation
//! cancelled, every hook detached in the reverse of the attach order, then the pins,
//! the manifest, the journal and the directory (`Store::remove_install`). A flush
//! ([`super::flush`](mod@super::flush)) and recovery finishing an interrupted one ([`super::recover`](mod@super::recover))
//! both do it with these steps.
//!
//! Invariant: the flush's journal is in place before the pending confirmation is
//! cancelled and before the first hook comes off, so a kill at any step leaves work
//! that every later command finishes forward; only what is sockc's comes off (a
//! conntrack anchor that holds what sockc did not make stays, said in `notices`).

use sockc_compiler::hooks::HookKind;

use super::{
    leftovers::Leftover,
    netns_scope::{self, locate},
    now_unix, InstallError,
};
use crate::{
    attach::{backend, Attachment, LinkState},
    fault::point,
    store::{
        journal::{Journal, Operation, Phase},
        pending::Pending,
        InstalledProgram, Manifest, Store, StoreError,
    },
};

/// Puts a flush's journal for install `name` in place (`qdiscs_absent`: the clsact
/// qdiscs sockc made, which go with their last filter).
pub(super) fn write_flush_journal(
    store: &Store,
    name: &str,
    qdiscs_absent: Vec<String>,
) -> Result<(), StoreError> {
    store
        .write_journal(
            name,
            &mut Journal {
                op: Operation::Flush,
                phase: Phase::Swapping,
                pid: std::process::id(),
                started_unix: now_unix(),
                qdiscs_absent,
            },
            None,
        )
        .map(|_| ())
}

/// Takes every hook of `m` off (only what is sockc's) and removes the install, as a
/// roll-forward-only operation (see the module docs); returns how many hooks held
/// the install's attachments when it started (see [`detach_all`]), the pending
/// confirmation it cancelled, and what it could not remove (the directory stays
/// holding only that: no hook runs any of it by then), and says in `notices` what of
/// the conntrack anchor it left.
pub(super) fn flush_locked(
    store: &Store,
    m: &Manifest,
    notices: &mut Vec<String>,
) -> Result<(usize, Option<Pending>, Vec<Leftover>), InstallError> {
    if store.journal(&m.name)?.is_none() {
        write_flush_journal(store, &m.name, Vec::new())?;
    }
    let cancelled = cancel_pending(store, &m.name, notices)?;
    let attached = detach_all(store, m, notices);
    let stayed = store.remove_install(&m.name)?.stuck;
    Ok((attached, cancelled, Leftover::all(stayed, m.generation)))
}

/// A flush ends the install's pending confirmation, if it has one, once its journal
/// is in place and before the first hook comes off: what was flushed is never put
/// back at the deadline. A change rolled back before stays on record. A record that
/// cannot be read (not sockc's to trust: another user's directory on its path, bytes
/// that are not a record) stops no flush: nothing that cannot read it can roll it
/// back, and root's records are never written where it lies; `notices` says so.
pub(super) fn cancel_pending(
    store: &Store,
    name: &str,
    notices: &mut Vec<String>,
) -> Result<Option<Pending>, InstallError> {
    let records = store.pending();
    let pending = match records.read_pending(name) {
        Ok(p) => p,
        Err(e) => {
            notices.push(format!(
                "the pending-confirmation record of `{name}` could not be read, so no \
                 change is cancelled ({e}); whatever cannot read it cannot roll it back"
            ));
            return Ok(None);
        }
    };
    if pending.is_some() {
        records.remove(name)?;
    }
    Ok(pending)
}

/// Takes every hook of `m` off, in the reverse of the attach order (a sockmap group's
/// sock_ops program comes off before its dispatchers, so no socket joins a map that
/// runs nothing), and the conntrack anchor (only what sockc made of it: `notices`
/// says what stays); returns how many hooks held one of the install's attachments —
/// its link, filter or map slot, running its program, one put there behind its back,
/// or (a dispatcher's link) nothing ([`holds_hook`]) —, each of which goes with the
/// install. In a namespace that cannot be entered, links still
/// come off (`BPF_LINK_DETACH` needs no namespace); a namespace that is gone took
/// its other hooks with it.
pub(super) fn detach_all(store: &Store, m: &Manifest, notices: &mut Vec<String>) -> usize {
    let scope = locate(store, m);
    if scope.can_look() {
        // The residual decides alone while the programs come off (a failure leaves it
        // as it was: removed below all the same).
        let _ = crate::residual::before_detach(m);
    }
    let mut attached = 0;
    for p in m.programs.iter().rev() {
        let live = p.attachment(store, &m.name);
        if holds_hook(p, &scope.hook_state(store, m, p)) {
            attached += 1;
        }
        let reachable = scope.can_look() || !netns_scope::namespaced(p);
        if reachable || matches!(live, Attachment::Link(_)) {
            let at = p.attach_point();
            point(&format!("detach {at}"));
            backend(p.hook).take_off(&at, &live, p.prog_id);
        }
    }
    if scope.can_look() {
        // Whether or not the manifest still needs it: a re-apply killed before it
        // deleted an anchor its rules no longer need leaves one behind.
        let table = crate::conntrack_anchor::table_name(&m.name);
        match crate::conntrack_anchor::remove(&m.name) {
            Ok(r @ crate::conntrack_anchor::Removal::Chain { .. }) => notices.push(r.text(&table)),
            Ok(_) => {}
            Err(e) => notices.push(format!("nft table inet {table} could not be deleted: {e}")),
        }
        let _ = crate::residual::after_detach(m);
    }
    attached
}

/// Whether `p`'s attachment holds its hook in `state`, so taking the install off
/// takes a hook off: it runs its program or one put there behind sockc's back
/// ([`LinkState::in_place`]), or it is a dispatcher's link whose slot somebody
/// emptied (XDP, netfilter: the link stays on its hook and lets everything through).
/// An empty socket map (`Vacant` too) holds no hook.
pub(super) fn holds_hook(p: &InstalledProgram, state: &LinkState) -> bool {
    let dispatched = p.hook == HookKind::Xdp || p.hook.netfilter_hook().is_some();
    state.in_place() || (dispatched && *state == LinkState::Vacant)
}
