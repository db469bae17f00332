//! Network namespaces: entering the one an install lives in (and coming back), and
//! telling one namespace from another. A namespace is identified by its cookie
//! (`SO_NETNS_COOKIE` of a socket made in it: a 64-bit number the kernel never hands
//! out twice in a boot), never by the inode of its nsfs file alone, which the kernel
//! gives to the next new namespace as soon as the old one is gone. A namespace whose
//! name (`/run/netns/NAME`) was deleted but that a process still keeps alive can be
//! found again through that process ([`find`]).
//!
//! Invariant: an [`Entered`] namespace is left again when the value drops, so code
//! that enters an install's namespace to look at its interfaces never leaves the
//! calling thread somewhere else. sockc is single-threaded where it enters one.

use std::{
    fs::File,
    io,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::fs::MetadataExt,
    },
    path::{Path, PathBuf},
};

/// Who a network namespace is: its nsfs inode (what `ip netns` and the kernel's link
/// info show) and its cookie (what tells it apart from a later namespace that got the
/// same inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub ino: u64,
    pub cookie: u64,
}

/// The inode of the calling thread's network namespace.
pub fn current_ino() -> io::Result<u64> {
    ino_of(Path::new("/proc/thread-self/ns/net"))
}

/// The inode of the namespace file at `path` (`/run/netns/NAME`).
pub fn ino_of(path: &Path) -> io::Result<u64> {
    std::fs::metadata(path).map(|m| m.ino())
}

/// The cookie of the calling thread's network namespace: `SO_NETNS_COOKIE` of a
/// socket made here.
pub fn cookie_here() -> io::Result<u64> {
    // SAFETY: socket has no memory preconditions; the descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    cookie_of_socket(sock.as_raw_fd())
}

/// `SO_NETNS_COOKIE` of the socket `fd`.
pub fn cookie_of_socket(fd: i32) -> io::Result<u64> {
    let mut value = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `value`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&mut value as *mut u64).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// The calling thread's namespace.
pub fn current() -> io::Result<Identity> {
    Ok(Identity {
        ino: current_ino()?,
        cookie: cookie_here()?,
    })
}

/// The namespace of the file `ns` (entered for the moment it takes to read its
/// cookie).
fn identity_of_file(ns: &File) -> io::Result<Identity> {
    let back = File::open("/proc/thread-self/ns/net")?;
    setns(ns)?;
    let here = current();
    setns(&back).expect("return to the original network namespace");
    here
}

fn setns(file: &File) -> io::Result<()> {
    // SAFETY: setns on a descriptor we own; CLONE_NEWNET checks it is a net namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread into the namespace at `path` for good (the CLI's
/// `--netns`).
pub fn enter_for_good(path: &Path) -> io::Result<()> {
    setns(&File::open(path)?)
}

/// The calling thread is in another namespace until this drops.
pub struct Entered {
    back: File,
    /// Who the entered namespace is.
    pub identity: Identity,
}

/// Moves the calling thread into the namespace at `path` until the returned value
/// drops.
pub fn enter(path: &Path) -> io::Result<Entered> {
    enter_file(&File::open(path)?)
}

fn enter_file(ns: &File) -> io::Result<Entered> {
    let back = File::open("/proc/thread-self/ns/net")?;
    setns(ns)?;
    let mut entered = Entered {
        back,
        identity: Identity { ino: 0, cookie: 0 },
    };
    // Dropping `entered` on an error here goes back.
    entered.identity = current()?;
    Ok(entered)
}

impl Drop for Entered {
    fn drop(&mut self) {
        // Going back to a namespace we came from cannot fail short of a kernel bug;
        // staying elsewhere would be worse than stopping.
        setns(&self.back).expect("return to the original network namespace");
    }
}

/// Enters the namespace `want` through a process that lives in it (one whose name
/// was deleted, kept alive by that process), when one can be found: the first process
/// in `/proc` whose namespace has `want`'s inode and, entered, its cookie. Returns the
/// guard and the process's PID.
pub fn find(want: Identity) -> Option<(Entered, u32)> {
    if want.cookie == 0 || want.ino == 0 {
        return None;
    }
    for (pid, path) in of_processes() {
        if ino_of(&path).ok() != Some(want.ino) {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if identity_of_file(&file).ok() == Some(want) {
            return enter_file(&file).ok().map(|entered| (entered, pid));
        }
    }
    None
}

/// Each running process with the path of its namespace (`/proc/PID/ns/net`), as
/// `/proc` lists them (none when it cannot be read).
pub fn of_processes() -> impl Iterator<Item = (u32, PathBuf)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((pid, e.path().join("ns/net")))
        })
}
