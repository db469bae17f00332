//! [`from_listen_fds`]: the declared socket among the descriptors systemd passed by
//! socket activation, following `sd_listen_fds(3)`: `LISTEN_PID` must be set and be
//! our pid (the variables were meant for us, not inherited from a parent);
//! `LISTEN_PIDFDID`, when set (systemd 258), must be the inode of a pidfd of ours (the
//! pid was not reused); `LISTEN_FDS=n` passes descriptors 3 to 3+n-1, which are made
//! close-on-exec as `sd_listen_fds` does; `LISTEN_FDNAMES`, when set, names each of
//! them (colon-separated, `FileDescriptorName=` of the socket unit, by default the
//! unit's name). Descriptors named like the declared socket are the only candidates
//! when there are any; otherwise every passed descriptor is. The candidates that pass
//! [`check`](fn@check) and the declaration's trust check ([`super::origin`]) make one
//! answer (`pick`). Sockets systemd opens for a socket unit are root's, made in PID 1's
//! cgroup or, where systemd has a BPF firewall, in the socket unit's own (not the
//! service's): a declaration without `cgroup` and `owner` trusts them.
//!
//! Under systemd, `ExecStartPost=sockc register NAME` gets the service's descriptors
//! only with `PassFileDescriptorsToExec=yes` (systemd 256 or later), which also sets
//! `LISTEN_PID` to that command's pid.
//!
//! Invariant: the passed descriptors stay open (only their close-on-exec flag is set);
//! the answer holds a duplicate of one of them.

use std::{
    env, io,
    os::fd::{AsFd, BorrowedFd, RawFd},
};

use super::{
    accept, check::stat, no_untrusted_member, owner::pidfd_open, pick, Accepts, Found, SocketError,
    Wanted,
};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START` of `sd-daemon.h`, a
/// systemd ABI constant, not a kernel one).
pub const SD_LISTEN_FDS_START: RawFd = 3;

/// Picks the descriptor for socket `name` (declared as `wanted`) among those passed
/// by socket activation, one `accepts` trusts. The process's descriptors 3 to
/// 3+`LISTEN_FDS`-1 must not be closed by another thread while this runs.
pub fn from_listen_fds(
    name: &str,
    wanted: &Wanted,
    accepts: &Accepts,
) -> Result<Found, SocketError> {
    let passed = passed()?;
    let named: Vec<&(RawFd, Option<String>)> = passed
        .iter()
        .filter(|(_, n)| n.as_deref() == Some(name))
        .collect();
    let candidates = if named.is_empty() {
        passed.iter().collect()
    } else {
        named
    };
    let mut fits: Vec<Found> = Vec::new();
    let mut fit_fds: Vec<(u64, RawFd)> = Vec::new();
    let mut refused = Vec::new();
    for (fd, fd_name) in candidates {
        // SAFETY: `passed` checked that the descriptor is open; it belongs to this
        // process for as long as it runs (see this function's docs), and the borrow
        // ends with this iteration.
        let borrowed = unsafe { BorrowedFd::borrow_raw(*fd) };
        let copy = borrowed
            .try_clone_to_owned()
            .map_err(|source| SocketError::Sys {
                what: "F_DUPFD_CLOEXEC",
                source,
            })?;
        match accept(copy, wanted, accepts, None) {
            Ok(f) if fits.iter().any(|g| g.cookie == f.cookie) => {}
            Ok(f) => {
                fit_fds.push((f.cookie, *fd));
                fits.push(f);
            }
            Err(e) => refused.push((*fd, fd_name.clone(), e)),
        }
    }
    if fits.is_empty() {
        return Err(SocketError::NoListenMatch {
            name: name.to_string(),
            wanted: *wanted,
            refused,
        });
    }
    let chosen = pick(fits).map_err(|all| SocketError::AmbiguousListen {
        name: name.to_string(),
        wanted: *wanted,
        fds: all
            .iter()
            .filter_map(|f| fit_fds.iter().find(|(c, _)| *c == f.cookie).map(|p| p.1))
            .collect(),
    })?;
    no_untrusted_member(&chosen, refused.iter().map(|(_, _, e)| e))?;
    Ok(chosen)
}

/// The passed descriptors and their names, after the checks of the module docs.
fn passed() -> Result<Vec<(RawFd, Option<String>)>, SocketError> {
    let ours = std::process::id();
    let listen_pid: u32 = parse("LISTEN_PID", var("LISTEN_PID")?.as_deref())?;
    if listen_pid != ours {
        return Err(SocketError::ListenPidMismatch { listen_pid, ours });
    }
    if let Some(value) = var("LISTEN_PIDFDID")? {
        let listen: u64 = parse("LISTEN_PIDFDID", Some(&value))?;
        let sys = |source| SocketError::Sys {
            what: "the inode of our own pidfd",
            source,
        };
        let pidfd = pidfd_open(ours).map_err(sys)?;
        let (_, ino) = stat(pidfd.as_fd()).map_err(sys)?;
        if ino != listen {
            return Err(SocketError::ListenPidfdMismatch { listen, ours: ino });
        }
    }
    let n: i32 = parse("LISTEN_FDS", var("LISTEN_FDS")?.as_deref())?;
    if n <= 0 || n > RawFd::MAX - SD_LISTEN_FDS_START {
        return Err(SocketError::BadListenEnv {
            var: "LISTEN_FDS",
            value: n.to_string(),
            why: "no descriptors passed".to_string(),
        });
    }
    let names: Vec<Option<String>> = match var("LISTEN_FDNAMES")? {
        Some(names) => {
            let names: Vec<Option<String>> =
                names.split(':').map(|s| Some(s.to_string())).collect();
            if names.len() != n as usize {
                return Err(SocketError::BadListenEnv {
                    var: "LISTEN_FDNAMES",
                    value: var("LISTEN_FDNAMES")?.unwrap_or_default(),
                    why: format!("{} names for LISTEN_FDS={n}", names.len()),
                });
            }
            names
        }
        None => vec![None; n as usize],
    };
    let mut out = Vec::with_capacity(n as usize);
    for (fd, name) in (SD_LISTEN_FDS_START..SD_LISTEN_FDS_START + n).zip(names) {
        set_cloexec(fd).map_err(|source| SocketError::ListenFdClosed { n, fd, source })?;
        out.push((fd, name));
    }
    Ok(out)
}

/// An environment variable: `None` when unset; not UTF-8 is an error.
fn var(name: &'static str) -> Result<Option<String>, SocketError> {
    match env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(env::VarError::NotPresent) => Ok(None),
        Err(env::VarError::NotUnicode(v)) => Err(SocketError::BadListenEnv {
            var: name,
            value: v.to_string_lossy().into_owned(),
            why: "not UTF-8".to_string(),
        }),
    }
}

/// A decimal number in `var`; unset is [`SocketError::NotActivated`].
fn parse<T: std::str::FromStr>(var: &'static str, value: Option<&str>) -> Result<T, SocketError>
where
    T::Err: std::fmt::Display,
{
    let value = value.ok_or(SocketError::NotActivated { var })?;
    value
        .parse()
        .map_err(|e: T::Err| SocketError::BadListenEnv {
            var,
            value: value.to_string(),
            why: e.to_string(),
        })
}

/// Sets `FD_CLOEXEC` on `fd`; EBADF when it is not open.
fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD reads the descriptor flags of a number; it fails with EBADF, and
    // touches nothing, when the number is not an open descriptor.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: F_SETFD on the descriptor F_GETFD just found open; it changes only its
    // close-on-exec flag.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
