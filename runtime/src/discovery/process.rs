//! [`from_process`]: the socket a given process holds (`sockc register NAME --pid PID
//! [--fd N]`) — descriptor N, or, without one, the one socket of the process that
//! passes [`check`](fn@check) (a socket held at several descriptors counts once).
//!
//! Invariant: every socket descriptor of the process is either the answer, one of the
//! sockets named in [`SocketError::Ambiguous`], or listed with its refusal in
//! [`SocketError::NoMatch`]; descriptors that are not sockets are not looked at.

use std::os::fd::AsFd;

use super::{
    check::{check, fd_target, stat},
    owner::Process,
    pick, Found, Owner, SocketError, Wanted,
};

/// Takes descriptor `fd` of process `pid` or, without `fd`, the one socket of `pid`
/// that fits `wanted`, and checks it in the calling thread's network namespace.
pub fn from_process(pid: u32, fd: Option<i32>, wanted: &Wanted) -> Result<Found, SocketError> {
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
            let checked = check(copy.as_fd(), wanted)?;
            let owner = owner(&process, fd);
            Ok(Found::new(copy, checked, Some(owner)))
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
                match check(copy.as_fd(), wanted) {
                    Ok(c) if fits.iter().any(|f| f.cookie == c.cookie) => {}
                    Ok(c) => fits.push(Found::new(copy, c, Some(owner(&process, fd)))),
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
            pick(fits).map_err(|all| SocketError::Ambiguous {
                wanted: *wanted,
                sockets: all.into_iter().filter_map(|f| f.owner).collect(),
            })
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
