//! Processes and their descriptors: which processes hold a socket (by inode, from
//! `/proc/PID/fd`), and taking a copy of one of their descriptors (`pidfd_open` +
//! `pidfd_getfd`).
//!
//! `pidfd_getfd` (kernel/pid.c) asks `ptrace_may_access(target,
//! PTRACE_MODE_ATTACH_REALCREDS)`: the caller needs CAP_SYS_PTRACE in the target's user
//! namespace, or the same real uid and gid as the target and no Yama restriction
//! (`kernel.yama.ptrace_scope` ≥ 1 also demands a ptrace relationship or
//! CAP_SYS_PTRACE); a target that is not dumpable also needs CAP_SYS_PTRACE. It
//! answers EPERM when that fails, EBADF when the target has no such descriptor, and
//! ESRCH when it has exited. The copy it returns is close-on-exec and shares the open
//! file (the socket) with the target; nothing in the target changes. Like a descriptor
//! received by SCM_RIGHTS, the socket is re-tagged with the receiver's cgroup v1
//! `net_cls` class id and `net_prio` index (`__receive_sock`), which matters only where
//! those v1 controllers are in use. Reading where `/proc/PID/fd/N` points needs
//! PTRACE_MODE_READ (the same uid or CAP_SYS_PTRACE); listing the directory does not.
//!
//! Invariant: a descriptor returned by [`Process::take`] was, at the moment it was taken,
//! descriptor `fd` of process `pid`; whether it is still the socket the caller looked
//! for is the caller's check (by `SO_COOKIE`).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
    path::Path,
};

use super::SocketError;

/// `/proc/PID/comm`, or `?`.
pub fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    owned(fd)
}

/// `pidfd_getfd(pidfd, fd, 0)`: our own (close-on-exec) copy of descriptor `fd` of the
/// process behind `pidfd`.
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_getfd takes a pidfd we hold, a descriptor number and flags, and
    // returns a new descriptor or -1.
    let got = unsafe {
        libc::syscall(
            libc::SYS_pidfd_getfd,
            pidfd.as_raw_fd(),
            fd,
            0 as libc::c_uint,
        )
    };
    owned(got)
}

fn owned(ret: libc::c_long) -> io::Result<OwnedFd> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(ret).map_err(|_| io::Error::other("descriptor out of range"))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A process opened for taking descriptors.
pub struct Process {
    pub pid: u32,
    pub comm: String,
    pidfd: OwnedFd,
}

impl Process {
    /// Opens process `pid` (ESRCH: [`SocketError::NoProcess`]).
    pub fn open(pid: u32) -> Result<Process, SocketError> {
        let pidfd = pidfd_open(pid).map_err(|source| SocketError::NoProcess { pid, source })?;
        Ok(Process {
            pid,
            comm: comm(pid),
            pidfd,
        })
    }

    /// Our copy of its descriptor `fd`, with the refusal named.
    pub fn take(&self, fd: i32) -> Result<OwnedFd, SocketError> {
        pidfd_getfd(self.pidfd.as_fd(), fd).map_err(|source| match source.raw_os_error() {
            Some(libc::EPERM) => SocketError::Ptrace {
                pid: self.pid,
                comm: self.comm.clone(),
                source,
            },
            Some(libc::EBADF) => SocketError::NoFd {
                pid: self.pid,
                comm: self.comm.clone(),
                fd,
                source,
            },
            Some(libc::ESRCH) => SocketError::NoProcess {
                pid: self.pid,
                source,
            },
            _ => SocketError::Sys {
                what: "pidfd_getfd",
                source,
            },
        })
    }

    /// Its descriptors that are sockets: (fd, socket inode), by fd.
    pub fn sockets(&self) -> Result<Vec<(i32, u64)>, SocketError> {
        let dir = format!("/proc/{}/fd", self.pid);
        let proc_err = |source| SocketError::Proc {
            path: dir.clone().into(),
            source,
        };
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(proc_err)? {
            let entry = entry.map_err(proc_err)?;
            let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if let Some(ino) = socket_inode(&entry.path()).map_err(proc_err)? {
                out.push((fd, ino));
            }
        }
        out.sort_unstable();
        Ok(out)
    }
}

/// The inode of the socket a `/proc/PID/fd/N` link points to (`socket:[N]`); `None`
/// for other files and for a link that is gone; an error when it cannot be read
/// (listing a process's descriptors needs less than reading where they point).
fn socket_inode(link: &Path) -> io::Result<Option<u64>> {
    let target = match fs::read_link(link) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(target
        .to_str()
        .and_then(|t| t.strip_prefix("socket:["))
        .and_then(|t| t.strip_suffix(']'))
        .and_then(|t| t.parse().ok()))
}

/// Who holds some sockets, from `/proc`.
pub struct Holders {
    /// For each socket inode held: (pid, fd) pairs, by increasing pid.
    pub by_inode: BTreeMap<u64, Vec<(u32, i32)>>,
    /// How many processes' descriptors could not be read.
    pub unreadable: usize,
}

/// How far [`holders`] walks `/proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// Until every inode has a holder: only the lowest pid holding each is sure to be
    /// listed.
    UntilEachHeld,
    /// Every process: each holder of each inode is listed.
    Whole,
}

/// Who holds the sockets `inodes`, walking `/proc` by increasing pid as far as `walk`
/// says. The lowest pid is not always the owner: a child between `fork` and `exec`
/// holds its parent's descriptors, and pids wrap (at 32,768 on many hosts), so it may
/// sort first and be gone when its descriptor is taken.
pub fn holders(inodes: &BTreeSet<u64>, walk: Walk) -> io::Result<Holders> {
    let mut pids: Vec<u32> = fs::read_dir("/proc")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut found: BTreeMap<u64, Vec<(u32, i32)>> = BTreeMap::new();
    let mut unreadable = 0;
    for pid in pids {
        if walk == Walk::UntilEachHeld && found.len() == inodes.len() {
            break;
        }
        let entries = match fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(e) => e,
            // Gone since the listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(_) => {
                unreadable += 1;
                continue;
            }
        };
        for entry in entries.flatten() {
            let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            match socket_inode(&entry.path()) {
                Ok(Some(ino)) if inodes.contains(&ino) => {
                    found.entry(ino).or_default().push((pid, fd));
                }
                Ok(_) => {}
                Err(_) => {
                    unreadable += 1;
                    break;
                }
            }
        }
    }
    Ok(Holders {
        by_inode: found,
        unreadable,
    })
}
