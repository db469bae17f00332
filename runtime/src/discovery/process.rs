//! [`from_process`]: the socket a given process holds (`sockc register NAME --pid PID
//! [--fd N]`) — descriptor N, or, without one, the one socket of the process that
//! passes [`check`](fn@check) and the declaration's trust check ([`super::origin`]; a
//! socket held at several descriptors counts once).
//!
//! Invariant: every socket descriptor of the process is either the answer, one of the
//! sockets named in [`SocketError::Ambiguous`], or listed with its refusal in
//! [`SocketError::NoMatch`]; descriptors that are not sockets are not looked at.

use std::os::fd::AsFd;

use super::{
    accept,
    check::{fd_target, stat},
    no_untrusted_member,
    owner::Process,
    pick, Accepts, Found, Owner, SocketError, Wanted,
};

/// Takes descriptor `fd` of process `pid` or, without `fd`, the one socket of `pid`
/// that fits `wanted` and that `accepts` trusts, and checks it in the calling thread's
/// network namespace.
pub fn from_process(
    pid: u32,
    fd: Option<i32>,
    wanted: &Wanted,
    accepts: &Accepts,
) -> Result<Found, SocketError> {
    let process = Process::open(pid)?;
    match fd {
        Some(fd) => {
            let copy = process.take(fd)?;
            let is_socket = stat(copy.as_fd())
                .map_err(|source| SocketError::Sys {
                    what: "fstat",
                    source,
                })?
                .0
                == libc::S_IFSOCK;
            if !is_socket {
                return Err(SocketError::NotSocket {
                    fd: format!("fd {fd} of PID {pid} ({})", process.comm),
                    target: fd_target(pid, fd),
                });
            }
            accept(copy, wanted, accepts, Some(owner(&process, fd)))
        }
        None => {
            let mut fits: Vec<Found> = Vec::new();
            let mut refused = Vec::new();
            for (fd, _) in process.sockets()? {
                let copy = match process.take(fd) {
                    Ok(c) => c,
                    // Closed since /proc was read.
                    Err(SocketError::NoFd { .. }) => continue,
                    Err(e) => return Err(e),
                };
                match accept(copy, wanted, accepts, Some(owner(&process, fd))) {
                    Ok(f) if fits.iter().any(|g| g.cookie == f.cookie) => {}
                    Ok(f) => fits.push(f),
                    Err(e) => refused.push((fd, e)),
                }
            }
            if fits.is_empty() {
                return Err(SocketError::NoMatch {
                    pid,
                    comm: process.comm,
                    wanted: *wanted,
                    refused,
                });
            }
            let chosen = pick(fits).map_err(|all| SocketError::Ambiguous {
                wanted: *wanted,
                sockets: all.into_iter().filter_map(|f| f.owner).collect(),
            })?;
            no_untrusted_member(&chosen, refused.iter().map(|(_, e)| e))?;
            Ok(chosen)
        }
    }
}

fn owner(process: &Process, fd: i32) -> Owner {
    Owner {
        pid: process.pid,
        fd,
        comm: process.comm.clone(),
    }
}
