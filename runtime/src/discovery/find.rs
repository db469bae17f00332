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

    let holders = owner::holders(&inodes, owner::Walk::UntilEachHeld).map_err(proc_error)?;
    let mut found = Vec::new();
    let mut refusals = Vec::new();
    for s in usable {
        let result = match holders.by_inode.get(&s.inode) {
            Some(listed) => take_held(wanted, accepts, s, listed),
            None => Err(no_owner(wanted, s, holders.unreadable)),
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

fn proc_error(source: std::io::Error) -> SocketError {
    SocketError::Proc {
        path: "/proc".into(),
        source,
    }
}

fn no_owner(wanted: &Wanted, s: &DiagSocket, unreadable: usize) -> SocketError {
    SocketError::NoOwner {
        wanted: *wanted,
        inode: s.inode,
        unreadable,
    }
}

/// Takes socket `s` from the first of the holders the walk listed that still has it;
/// when none does, from the first of the others a whole walk of `/proc` lists (the
/// walk stops at the lowest pid holding it, which may be a child between `fork` and
/// `exec` that has let go of it since: [`owner::holders`]).
fn take_held(
    wanted: &Wanted,
    accepts: &Accepts,
    s: &DiagSocket,
    listed: &[(u32, i32)],
) -> Result<Found, SocketError> {
    let rewalk = || {
        let all =
            owner::holders(&BTreeSet::from([s.inode]), owner::Walk::Whole).map_err(proc_error)?;
        let held = all.by_inode.get(&s.inode).cloned().unwrap_or_default();
        Ok((held, all.unreadable))
    };
    match first_taken(listed, rewalk, |pid, fd| take(wanted, accepts, s, pid, fd)) {
        Ok(found) => Ok(found),
        Err(Untaken::Error(e)) => Err(e),
        Err(Untaken::Unheld { unreadable }) => Err(no_owner(wanted, s, unreadable)),
    }
}

/// Why [`first_taken`] took nothing.
#[derive(Debug)]
enum Untaken {
    Error(SocketError),
    /// No holder had the socket; this many processes could not be read.
    Unheld {
        unreadable: usize,
    },
}

/// What `take_one` gives for the first holder of `listed` that still has the socket
/// (`None`: it does not), else for the first of those `rewalk` lists that `listed`
/// does not; an error `take_one` gives ends the search.
fn first_taken<T>(
    listed: &[(u32, i32)],
    rewalk: impl FnOnce() -> Result<(Vec<(u32, i32)>, usize), SocketError>,
    mut take_one: impl FnMut(u32, i32) -> Option<Result<T, SocketError>>,
) -> Result<T, Untaken> {
    for &(pid, fd) in listed {
        if let Some(r) = take_one(pid, fd) {
            return r.map_err(Untaken::Error);
        }
    }
    let (all, unreadable) = rewalk().map_err(Untaken::Error)?;
    for (pid, fd) in all.into_iter().filter(|h| !listed.contains(h)) {
        if let Some(r) = take_one(pid, fd) {
            return r.map_err(Untaken::Error);
        }
    }
    Err(Untaken::Unheld { unreadable })
}

/// Socket `s` taken from descriptor `fd` of process `pid`, and checked; `None` when
/// that holder exited or closed the descriptor since `/proc` was read, or it is now
/// another socket. The copy must be that very socket: its `SO_COOKIE` (unique for the
/// boot, unlike an inode number) is the one sock_diag reported.
fn take(
    wanted: &Wanted,
    accepts: &Accepts,
    s: &DiagSocket,
    pid: u32,
    fd: i32,
) -> Option<Result<Found, SocketError>> {
    let process = match Process::open(pid) {
        Ok(p) => p,
        Err(SocketError::NoProcess { .. }) => return None,
        Err(e) => return Some(Err(e)),
    };
    let copy = match process.take(fd) {
        Ok(c) => c,
        Err(SocketError::NoFd { .. } | SocketError::NoProcess { .. }) => return None,
        Err(e) => return Some(Err(e)),
    };
    if !matches!(cookie(copy.as_fd()), Ok(c) if c == s.cookie) {
        return None;
    }
    let owner = Owner {
        pid,
        fd,
        comm: process.comm,
    };
    Some(accept(copy, wanted, accepts, Some(owner)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal() -> Result<u32, SocketError> {
        Err(SocketError::NoProcess {
            pid: 1,
            source: std::io::Error::from_raw_os_error(libc::EPERM),
        })
    }

    #[test]
    fn a_holder_gone_since_the_walk_leaves_the_socket_to_one_the_whole_walk_finds() {
        let mut tried = Vec::new();
        let got = first_taken(
            &[(10, 3)],
            || Ok((vec![(10, 3), (200, 7)], 0)),
            |pid, fd| {
                tried.push((pid, fd));
                (pid == 200).then_some(Ok(pid))
            },
        );
        assert_eq!(got.unwrap(), 200);
        assert_eq!(tried, [(10, 3), (200, 7)], "each holder tried once");
    }

    #[test]
    fn the_whole_walk_is_skipped_when_a_listed_holder_has_it_and_its_count_kept_when_none_does() {
        let got = first_taken(&[(10, 3)], || panic!("walked again"), |p, _| Some(Ok(p)));
        assert_eq!(got.unwrap(), 10);
        let none = first_taken::<u32>(&[(10, 3)], || Ok((vec![(10, 3)], 2)), |_, _| None);
        assert!(
            matches!(none, Err(Untaken::Unheld { unreadable: 2 })),
            "{none:?}"
        );
        let refused = first_taken(
            &[(10, 3), (11, 3)],
            || panic!("walked again"),
            |_, _| Some(refusal()),
        );
        assert!(
            matches!(
                refused,
                Err(Untaken::Error(SocketError::NoProcess { pid: 1, .. }))
            ),
            "{refused:?}"
        );
    }
}
