//! [`find`]: the declared socket, by its address, in the calling thread's network
//! namespace. sock_diag lists the sockets on the declared port ([`super::diag`]); those
//! bound to the declared address ([`serves`]) and in a state sk_lookup accepts are the
//! candidates; the processes holding them are found by inode ([`super::owner`]), a copy
//! of each candidate is taken, [`check`](fn@check)ed and judged by its origin
//! ([`super::origin`]: those the declaration does not trust are left out), and `pick`
//! makes one answer of the rest.
//!
//! Invariant: `Ok(None)` means no socket of the declared protocol is bound to the
//! declared address, nor to a wildcard that would receive its traffic; every socket
//! that is there but cannot be used is an error that says why.

use std::{collections::BTreeSet, os::fd::AsFd};

use super::{
    accept,
    check::{cookie, covers, serves, tcp_state_name},
    diag::{self, DiagSocket},
    no_untrusted_member,
    owner::{self, Process},
    pick, Accepts, Found, Owner, SockProto, SocketError, Wanted,
};

/// Finds the socket `wanted` declares, by address, in the calling thread's network
/// namespace (the CLI has entered `--netns` before). `Ok(None)` when nothing is bound
/// there; see the module docs of [`super`] for dual-stack and reuseport sockets. Only
/// a socket `accepts` trusts is ever returned.
pub fn find(wanted: &Wanted, accepts: &Accepts) -> Result<Option<Found>, SocketError> {
    let want = wanted
        .addr
        .ok_or(SocketError::NoAddress { wanted: *wanted })?;
    let all = diag::dump(wanted.proto, want.port()).map_err(|source| SocketError::Diag {
        port: want.port(),
        source,
    })?;
    let usable_state = |s: &DiagSocket| match wanted.proto {
        SockProto::Tcp => s.listening(),
        SockProto::Udp => s.unconnected(),
    };
    let there: Vec<&DiagSocket> = all
        .iter()
        .filter(|s| serves(want, s.local, s.v6only))
        .collect();
    let mut inodes = BTreeSet::new();
    let mut usable = Vec::new();
    for s in there.iter().filter(|s| usable_state(s)) {
        if inodes.insert(s.inode) {
            usable.push(*s);
        }
    }
    if usable.is_empty() {
        if let Some(s) = there.first() {
            return Err(match wanted.proto {
                SockProto::Tcp => SocketError::NotListening {
                    local: s.local,
                    state: tcp_state_name(s.state),
                },
                SockProto::Udp => SocketError::Connected {
                    local: s.local,
                    peer: s.peer.unwrap_or(s.local),
                },
            });
        }
        if let Some(s) = all
            .iter()
            .find(|s| usable_state(s) && covers(want, s.local, s.v6only))
        {
            return Err(SocketError::Covered {
                wanted: *wanted,
                by: s.local,
            });
        }
        return Ok(None);
    }

    let holders = owner::holders(&inodes).map_err(|source| SocketError::Proc {
        path: "/proc".into(),
        source,
    })?;
    let mut found = Vec::new();
    let mut refusals = Vec::new();
    for s in usable {
        let result = match holders.by_inode.get(&s.inode) {
            Some(list) => take(wanted, accepts, s, list),
            None => Err(SocketError::NoOwner {
                wanted: *wanted,
                inode: s.inode,
                unreadable: holders.unreadable,
            }),
        };
        match result {
            Ok(f) => found.push(f),
            // Not being allowed is worth saying even when another socket was taken.
            Err(e @ SocketError::Ptrace { .. }) => return Err(e),
            Err(e) => refusals.push(e),
        }
    }
    if found.is_empty() {
        return Err(refusals
            .into_iter()
            .next()
            .expect("a refusal for every candidate not taken"));
    }
    let chosen = pick(found).map_err(|all| SocketError::Ambiguous {
        wanted: *wanted,
        sockets: all.into_iter().filter_map(|f| f.owner).collect(),
    })?;
    no_untrusted_member(&chosen, &refusals)?;
    Ok(Some(chosen))
}

/// Takes socket `s` from the first of its holders that still has it, and checks it.
/// The copy must be that very socket: its `SO_COOKIE` (unique for the boot, unlike an
/// inode number) is the one sock_diag reported. A holder that exited or closed the
/// descriptor since `/proc` was read is skipped; when none is left, the socket has no
/// owner.
fn take(
    wanted: &Wanted,
    accepts: &Accepts,
    s: &DiagSocket,
    holders: &[(u32, i32)],
) -> Result<Found, SocketError> {
    for &(pid, fd) in holders {
        let process = match Process::open(pid) {
            Ok(p) => p,
            Err(SocketError::NoProcess { .. }) => continue,
            Err(e) => return Err(e),
        };
        let copy = match process.take(fd) {
            Ok(c) => c,
            Err(SocketError::NoFd { .. } | SocketError::NoProcess { .. }) => continue,
            Err(e) => return Err(e),
        };
        if !matches!(cookie(copy.as_fd()), Ok(c) if c == s.cookie) {
            continue;
        }
        let owner = Owner {
            pid,
            fd,
            comm: process.comm,
        };
        return accept(copy, wanted, accepts, Some(owner));
    }
    Err(SocketError::NoOwner {
        wanted: *wanted,
        inode: s.inode,
        unreadable: 0,
    })
}
