//! Who owns the socket in a declared name's slot, and whether the declaration trusts
//! it: for `status` (each slot's owner: uid, a process holding it, the cgroup it was
//! made in; a socket the declaration would refuse is drift), and for `apply` and
//! `repair`, which take such a socket out before they look for the right one
//! ([`evict_untrusted`]) — a socket put there by an older sockc that did not check
//! owners, or by hand.
//!
//! The slot map gives back only a socket's cookie; its sock_diag entry (found by that
//! cookie on the declared port, or on the port it was registered on) says who made
//! it, and `/proc` which process holds it now. Both are read in the install's network
//! namespace, which the caller has entered.
//!
//! Invariant: a slot is emptied only when its socket was found and judged untrusted,
//! and still holds that very socket (the cookie is read again just before); a socket
//! whose origin cannot be read is reported as unknown, never taken out.

use std::collections::BTreeSet;

use serde::Serialize;
use sockc_compiler::metadata::SocketMeta;

use crate::{
    discovery::{
        origin::{self, FileOf, Judged, Origin},
        owner, SockProto, Wanted,
    },
    slot_map::SlotMap,
};

/// The owner of a registered socket, as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlotOwner {
    /// uid, gid of its file, cgroup id and directory.
    #[serde(flatten)]
    pub origin: Origin,
    /// The name of its uid, when the host has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The lowest-numbered process holding it now, and its command (`/proc/PID/comm`).
    pub pid: Option<u32>,
    pub command: Option<String>,
    /// Whether the declaration trusts it (it would register it again).
    pub accepted: bool,
    /// Why not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl std::fmt::Display for SlotOwner {
    /// `uid 0 (root), PID 12 (nginx), cgroup /sys/fs/cgroup/x`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut origin = self.origin.describe();
        if let (Some(pid), Some(c)) = (self.pid, &self.command) {
            // After the uid (and gid): who, then which process, then where made.
            let at = origin.find(", cgroup").unwrap_or(origin.len());
            origin.insert_str(at, &format!(", PID {pid} ({c})"));
        }
        f.write_str(&origin)
    }
}

/// What declaration `s` asks for.
pub(super) fn wanted(s: &SocketMeta) -> Wanted {
    let proto = if s.proto == "udp" {
        SockProto::Udp
    } else {
        SockProto::Tcp
    };
    Wanted::new(proto, s.addr)
}

/// The owner of the socket `cookie` in `decl`'s slot, or why it cannot be told. The
/// port comes from the declaration, or else from where its registration record says
/// that very socket was bound (`recorded`).
pub(super) fn slot_owner(
    decl: &SocketMeta,
    cookie: u64,
    recorded: Option<u16>,
) -> Result<SlotOwner, String> {
    let port = match (decl.addr, recorded) {
        (Some(a), _) => a.port(),
        (None, Some(port)) => port,
        (None, None) => {
            return Err(
                "declared without an address and registered by no sockc command: its \
                 port is unknown"
                    .to_string(),
            )
        }
    };
    let proto = wanted(decl).proto;
    let entry = origin::entry(proto, port, cookie)
        .map_err(|e| format!("sock_diag: {e}"))?
        .ok_or_else(|| format!("the kernel lists no socket with cookie {cookie} on port {port}"))?;
    let holder = owner::holders(&BTreeSet::from([entry.inode]), owner::Walk::UntilEachHeld)
        .ok()
        .and_then(|h| h.by_inode.get(&entry.inode)?.first().copied());
    let path = holder.map(|(pid, fd)| format!("/proc/{pid}/fd/{fd}"));
    let file = path
        .as_deref()
        .map(|p| FileOf::Path(std::path::Path::new(p)));
    let origin = origin::of_entry(&entry, file).map_err(|e| format!("its file: {e}"))?;
    let (origin, refused) = match origin::judge(&decl.accepts(), origin) {
        Judged::Passes(o) => (o, None),
        Judged::Fails(o, why) => (o, Some(why)),
    };
    let user = uzers::get_user_by_uid(origin.uid).map(|u| u.name().to_string_lossy().into());
    Ok(SlotOwner {
        user,
        pid: holder.map(|h| h.0),
        command: holder.map(|h| owner::comm(h.0)),
        accepted: refused.is_none(),
        refused,
        origin,
    })
}

/// Before `apply` or `repair` fills empty slots: empties `decl`'s slot when the socket
/// in it is one the declaration does not trust; returns a line saying so.
/// `recorded` is where the registration record puts its socket: `(cookie, port)`.
pub(super) fn evict_untrusted(
    map: &SlotMap,
    decl: &SocketMeta,
    slot: u32,
    recorded: Option<(u64, u16)>,
) -> Option<String> {
    let Ok(Some(cookie)) = map.cookie(slot) else {
        return None;
    };
    let port = recorded.filter(|r| r.0 == cookie).map(|r| r.1);
    let owner = slot_owner(decl, cookie, port).ok()?;
    let why = owner.refused.as_ref()?;
    if !matches!(map.cookie(slot), Ok(Some(c)) if c == cookie) {
        return None;
    }
    crate::fault::point(&format!(
        "take untrusted socket {} out of slot {slot}",
        decl.name
    ));
    map.remove(slot).ok()?;
    Some(format!(
        "socket {}: took the socket of {owner} out of its slot: the declaration does not \
         trust it ({why}); it accepts only {}",
        decl.name,
        decl.accepts()
    ))
}
