//! What the process's start keeps of std's own, which sockc's entry (`main.rs`, C's
//! `main`) replaces: standard input, output and error open, on `/dev/null` where they
//! were closed. Invariant: before anything opens a file, descriptors 0, 1 and 2 are
//! open, so no file sockc opens takes one of them and receives what it prints.
//!
//! std's start did more, for a cost sockc does not need: it read `/proc/self/maps` to
//! find the main thread's stack guard, mapped a signal stack and set handlers that name
//! a stack overflow (one now ends in SIGSEGV, as it does in C), named the main thread
//! (a panic's message now says `'<unnamed>'`), and ignored SIGPIPE (which
//! `stdout::end_quietly_on_sigpipe` sets back anyway). About 20 system calls, 0.09 ms
//! of every command's start on this VM (a 4.4 ms re-apply at 1k rules).

/// Opens `/dev/null` on each of descriptors 0, 1 and 2 that is closed, as std's start
/// did (one `poll` finds them); ends the process when one cannot be opened.
pub fn standard_fds_open() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three entries of `fds` it is given.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    for p in fds {
        // A poll that failed says nothing: each descriptor is asked on its own then.
        let closed = match polled {
            // SAFETY: fcntl's F_GETFD reads a descriptor's flags; it takes no pointers.
            -1 => unsafe { libc::fcntl(p.fd, libc::F_GETFD) == -1 },
            _ => p.revents & libc::POLLNVAL != 0,
        };
        if closed && !opened_on_dev_null(p.fd) {
            // SAFETY: abort has no preconditions; without its standard descriptors
            // the process could not even report why it stopped.
            unsafe { libc::abort() }
        }
    }
}

/// Ends the process after a panic (its message printed by std's hook) with 101, as
/// std's start did: standard output flushed first, but whether that fails changes
/// nothing (`memory::exit_now` would end with an output error's code instead).
#[cfg_attr(test, allow(dead_code))]
pub fn exit_after_panic() -> ! {
    let _ = std::io::Write::flush(&mut std::io::stdout());
    // SAFETY: _exit has no preconditions; nothing is left to run or write.
    unsafe { libc::_exit(101) }
}

/// Opens `/dev/null` read-write, which takes `fd`, the lowest descriptor closed.
fn opened_on_dev_null(fd: libc::c_int) -> bool {
    // SAFETY: open takes a NUL-terminated path; the descriptor it returns is kept open
    // for the process's life, as a standard descriptor.
    unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) == fd }
}

#[cfg(test)]
mod tests {
    /// In a child process whose descriptors in `closed` were closed first, whether 0, 1
    /// and 2 are open on `/dev/null` afterwards (the closed ones) or as they were.
    fn opened_in_child(closed: &[libc::c_int]) -> bool {
        // SAFETY: the child makes only async-signal-safe calls (close, poll, open,
        // readlink; it allocates nothing) and ends with `_exit`; the parent waits for it.
        unsafe {
            match libc::fork() {
                0 => {
                    for &fd in closed {
                        libc::close(fd);
                    }
                    super::standard_fds_open();
                    let mut ok = true;
                    let paths = [c"/proc/self/fd/0", c"/proc/self/fd/1", c"/proc/self/fd/2"];
                    for (fd, path) in (0..3).zip(paths) {
                        let mut buf = [0u8; 64];
                        let n = libc::readlink(path.as_ptr(), buf.as_mut_ptr().cast(), 64);
                        let open = n > 0;
                        let dev_null = open && &buf[..n as usize] == b"/dev/null";
                        ok &= open && (dev_null || !closed.contains(&fd));
                    }
                    libc::_exit(if ok { 0 } else { 1 })
                }
                -1 => panic!("fork failed"),
                pid => {
                    let mut status = 0;
                    assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
                }
            }
        }
    }

    #[test]
    fn closed_standard_descriptors_are_opened_on_dev_null() {
        for closed in [&[][..], &[0], &[1], &[2], &[0, 2], &[1, 2], &[0, 1, 2]] {
            assert!(opened_in_child(closed), "closed {closed:?}");
        }
    }
}
