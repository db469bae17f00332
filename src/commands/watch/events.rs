//! What wakes the agent: a change in the watched directory (inotify: the kubelet's
//! rename of `..data`, a file written, created, moved or removed), SIGTERM or SIGINT
//! (read from a signalfd), or the poll interval running out, the fallback for a
//! change inotify does not see (a directory on a network file system, inotify
//! refused).
//!
//! Invariant: SIGTERM and SIGINT are blocked from [`Events::new`] on, so a signal
//! never cuts an apply, a rollback or a status file write short: it is read between
//! them and the agent ends cleanly, exit 0. Changes are debounced: a burst of events
//! (a swap is several) wakes the agent once, [`QUIET`] after the last of them.

use std::{
    fs::File,
    io::Read,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    time::{Duration, Instant},
};

/// How long the directory must stay quiet before a burst of events counts as one.
pub const QUIET: Duration = Duration::from_millis(200);
/// The longest a burst is waited out: a directory that never stays quiet is read
/// anyway.
const BURST_MAX: Duration = Duration::from_secs(2);

/// Why the agent woke.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// The directory changed (and has been quiet for [`QUIET`]).
    Changed,
    /// The poll interval ran out.
    Tick,
    /// SIGTERM or SIGINT: the agent is to end.
    Stop(&'static str),
}

/// The descriptors the agent waits on.
pub struct Events {
    signals: File,
    /// `None` when inotify could not watch the directory: polling only.
    inotify: Option<File>,
}

impl Events {
    /// Blocks SIGTERM and SIGINT (read from a signalfd from now on) and watches
    /// `dir`; says why inotify cannot watch it, if it cannot (the agent then polls).
    pub fn new(dir: &Path) -> std::io::Result<(Events, Option<String>)> {
        let signals = signal_fd()?;
        let (inotify, why) = match watch_dir(dir) {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok((Events { signals, inotify }, why))
    }

    /// Waits for a change (debounced), a signal, or `interval`.
    pub fn wait(&mut self, interval: Duration) -> Wake {
        match self.poll(interval) {
            Ready::Signal => Wake::Stop(self.signal_name()),
            Ready::Timeout => Wake::Tick,
            Ready::Inotify => self.debounce(),
        }
    }

    /// Sleeps for `d` unless a signal comes first (returned). Directory events are
    /// left queued for the next [`Events::wait`].
    pub fn sleep(&mut self, d: Duration) -> Option<&'static str> {
        let end = Instant::now() + d;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            if poll(&[self.signals.as_raw_fd()], left).is_some() {
                return Some(self.signal_name());
            }
        }
    }

    /// Reads events until the directory has been quiet for [`QUIET`] (at most
    /// [`BURST_MAX`]).
    fn debounce(&mut self) -> Wake {
        let start = Instant::now();
        loop {
            self.drain();
            if start.elapsed() >= BURST_MAX {
                return Wake::Changed;
            }
            match self.poll(QUIET) {
                Ready::Signal => return Wake::Stop(self.signal_name()),
                Ready::Timeout => return Wake::Changed,
                Ready::Inotify => {}
            }
        }
    }

    fn poll(&self, timeout: Duration) -> Ready {
        let mut fds = vec![self.signals.as_raw_fd()];
        fds.extend(self.inotify.as_ref().map(|f| f.as_raw_fd()));
        match poll(&fds, timeout) {
            None => Ready::Timeout,
            Some(0) => Ready::Signal,
            Some(_) => Ready::Inotify,
        }
    }

    /// Discards the queued events (what changed is read from the directory itself).
    fn drain(&mut self) {
        let Some(f) = &mut self.inotify else { return };
        let mut buf = [0u8; 4096];
        while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Reads the pending signal: its name.
    fn signal_name(&mut self) -> &'static str {
        // struct signalfd_siginfo is 128 bytes; ssi_signo is its first u32.
        let mut info = [0u8; 128];
        match self.signals.read(&mut info) {
            Ok(128) if u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) == 2 => "SIGINT",
            _ => "SIGTERM",
        }
    }
}

enum Ready {
    Signal,
    Inotify,
    Timeout,
}

/// Polls `fds` for input: the index of the first ready one, `None` on timeout (an
/// interrupted poll counts as a timeout; the caller polls again).
fn poll(fds: &[i32], timeout: Duration) -> Option<usize> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structures.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if n <= 0 {
        return None;
    }
    pfds.iter().position(|p| p.revents != 0)
}

/// Blocks SIGTERM and SIGINT in this thread (and the threads it starts later) and
/// returns a non-blocking signalfd that reads them.
fn signal_fd() -> std::io::Result<File> {
    // SAFETY: a zeroed sigset_t is a valid argument for sigemptyset, and every call
    // gets a pointer to this local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        owned(fd)
    }
}

/// An inotify descriptor watching `dir` for what the kubelet and editors do.
fn watch_dir(dir: &Path) -> std::io::Result<File> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    let mask = libc::IN_CREATE
        | libc::IN_DELETE
        | libc::IN_MOVED_TO
        | libc::IN_MOVED_FROM
        | libc::IN_CLOSE_WRITE
        | libc::IN_MODIFY
        | libc::IN_ATTRIB
        | libc::IN_DELETE_SELF
        | libc::IN_MOVE_SELF;
    // SAFETY: inotify_init1 takes flags only; `path` is a NUL-terminated string that
    // outlives the call.
    unsafe {
        let f = owned(libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC))?;
        if libc::inotify_add_watch(f.as_raw_fd(), path.as_ptr(), mask) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(f)
    }
}

/// A descriptor a call returned as a file, or the call's error.
fn owned(fd: i32) -> std::io::Result<File> {
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by no one else.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}
