//! The setting of every socket test: a fresh network namespace of the test's own (a
//! dedicated thread that `unshare`s one, with loopback up), sockets made there, and
//! service processes that hold them so that each socket really belongs to ANOTHER
//! process: `sleep` with the sockets at chosen descriptor numbers (our own copies are
//! closed once it runs).
//!
//! Nothing outlives a test: a [`Service`] is killed and reaped when dropped (also
//! while a panic unwinds), and a namespace made by [`in_netns`] has no name, so it
//! goes away with its thread and the last process in it.

#![allow(dead_code)] // not every test uses every helper

use std::{
    io,
    net::SocketAddr,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
        unix::{net::UnixStream, process::CommandExt},
    },
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use socket2::{Domain, Protocol, Socket, Type};

/// True when `SOCKC_KERNEL_TESTS=require`: a skipped kernel test is a failure.
pub fn required() -> bool {
    std::env::var("SOCKC_KERNEL_TESTS").as_deref() == Ok("require")
}

/// Whether these tests can run: as root (namespaces, `pidfd_getfd` on other users'
/// processes). Otherwise prints a skip line and returns false, or panics under
/// `SOCKC_KERNEL_TESTS=require`.
pub fn kernel(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        !required(),
        "{test}: SOCKC_KERNEL_TESTS=require but not running as root \
         (network namespaces and pidfd_getfd need root)"
    );
    println!("SKIP (not root): {test}");
    false
}

/// Runs `f` on a new thread inside a new, empty network namespace whose loopback is
/// up; gives back what `f` returns, or its panic.
pub fn in_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_new_netns();
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Moves the calling thread into a new network namespace and brings its loopback up.
pub fn enter_new_netns() {
    // SAFETY: plain syscall; it changes only the calling thread (a test's own).
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET): {}",
        io::Error::last_os_error()
    );
    // A child of this thread starts in its namespace.
    let out = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .output()
        .expect("ip runs");
    assert!(out.status.success(), "ip link set lo up: {out:?}");
}

/// How a test socket is made.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opts {
    pub reuseport: bool,
    pub reuseaddr: bool,
    /// For IPv6 sockets: `IPV6_V6ONLY` (default: off).
    pub v6only: bool,
}

fn socket(proto: &str, addr: SocketAddr, o: Opts) -> Socket {
    let (ty, p) = match proto {
        "tcp" => (Type::STREAM, Protocol::TCP),
        "udp" => (Type::DGRAM, Protocol::UDP),
        _ => panic!("proto {proto}"),
    };
    let s = Socket::new(Domain::for_address(addr), ty, Some(p)).expect("socket");
    if addr.is_ipv6() {
        s.set_only_v6(o.v6only).expect("IPV6_V6ONLY");
    }
    s.set_reuse_port(o.reuseport).expect("SO_REUSEPORT");
    s.set_reuse_address(o.reuseaddr).expect("SO_REUSEADDR");
    s.bind(&addr.into())
        .unwrap_or_else(|e| panic!("bind {proto} {addr}: {e}"));
    s
}

/// A TCP socket listening on `addr`.
pub fn tcp_listener(addr: &str, o: Opts) -> Socket {
    let s = socket("tcp", addr.parse().expect("address"), o);
    s.listen(16).expect("listen");
    s
}

/// A TCP socket bound to `addr`, never listening.
pub fn tcp_bound(addr: &str) -> Socket {
    socket("tcp", addr.parse().expect("address"), Opts::default())
}

/// A UDP socket bound to `addr`.
pub fn udp(addr: &str, o: Opts) -> Socket {
    socket("udp", addr.parse().expect("address"), o)
}

/// A UDP socket bound to `addr` and connected to `peer` (no datagram is sent).
pub fn udp_connected(addr: &str, peer: &str) -> Socket {
    let s = udp(addr, Opts::default());
    let peer: SocketAddr = peer.parse().expect("address");
    s.connect(&peer.into()).expect("connect");
    s
}

/// `SO_COOKIE` of a socket, as socket2 reads it (not the code under test).
pub fn cookie(s: &Socket) -> u64 {
    s.cookie().expect("SO_COOKIE")
}

/// A process that holds sockets: `sleep` (so `comm` is "sleep") with each socket at
/// the descriptor number given. Killed and reaped when dropped.
pub struct Service {
    child: Child,
    pub pid: u32,
}

pub const SERVICE_COMM: &str = "sleep";

impl Service {
    /// Starts the holder with `socks` at their descriptor numbers, then closes our
    /// copies: from then on only the service holds them.
    pub fn hold(socks: Vec<(RawFd, Socket)>) -> Service {
        Service::hold_as(socks, None)
    }

    /// Like [`Service::hold`], running as user and group `uid` when given.
    pub fn hold_as(socks: Vec<(RawFd, Socket)>, uid: Option<u32>) -> Service {
        let mut cmd = Command::new("sleep");
        cmd.arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let copies = with_fds(
            &mut cmd,
            socks.into_iter().map(|(t, s)| (t, s.into())).collect(),
        );
        if let Some(uid) = uid {
            cmd.uid(uid).gid(uid);
        }
        let child = cmd.spawn().expect("spawn the service");
        drop(copies);
        let svc = Service {
            pid: child.id(),
            child,
        };
        svc.wait_for_exec();
        svc
    }

    /// Waits until the child runs `sleep`: the parent learns that exec succeeded when
    /// the child's close-on-exec descriptors close, which the kernel does before it
    /// renames the task, so `comm` can still be the parent thread's name for a moment.
    fn wait_for_exec(&self) {
        let path = format!("/proc/{}/comm", self.pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let comm = std::fs::read_to_string(&path).expect("the service runs");
            if comm.trim_end() == SERVICE_COMM {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the service still runs as {comm:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Arranges for the child of `cmd` to have each descriptor of `fds` at its target
/// number, inherited (not close-on-exec). Gives back the copies the child's setup
/// reads: keep them until `cmd` has spawned, then drop them.
#[must_use]
pub fn with_fds(cmd: &mut Command, fds: Vec<(RawFd, OwnedFd)>) -> Vec<OwnedFd> {
    // Move each source above every target first, so that no dup2 in the child
    // overwrites a source it still needs.
    let sources: Vec<(RawFd, OwnedFd)> = fds
        .into_iter()
        .map(|(target, fd)| {
            assert!(target < 64, "targets are small numbers");
            // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own returns a new one (>= 64).
            let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 64) };
            assert!(
                high >= 64,
                "F_DUPFD_CLOEXEC: {}",
                io::Error::last_os_error()
            );
            // SAFETY: just returned to us, owned by nobody else.
            (target, unsafe { OwnedFd::from_raw_fd(high) })
        })
        .collect();
    let pairs: Vec<(RawFd, RawFd)> = sources.iter().map(|(t, s)| (s.as_raw_fd(), *t)).collect();
    // SAFETY: the closure runs in the child between fork and exec and only calls
    // dup2, which is async-signal-safe, on numbers computed before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for &(src, target) in &pairs {
                if libc::dup2(src, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    sources.into_iter().map(|(_, s)| s).collect()
}

/// Puts `sock` in flight: sent with SCM_RIGHTS into a Unix socket pair and never
/// received, then our copy closed. No process has it at a descriptor any more; the
/// returned pair keeps it alive (in the kernel only) until it drops.
pub fn in_flight(sock: Socket) -> (UnixStream, UnixStream) {
    let (tx, rx) = UnixStream::pair().expect("socketpair");
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let payload = std::mem::size_of::<RawFd>() as u32;
    // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes.
    let (space, len) = unsafe { (libc::CMSG_SPACE(payload), libc::CMSG_LEN(payload)) };
    // u64 elements: the control buffer must be aligned for `cmsghdr`.
    let mut control = vec![0u64; (space as usize).div_ceil(8)];
    // SAFETY: an all-zero msghdr is a valid empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as usize;
    // SAFETY: `msg` points at `iov` and `control`, which outlive the call; the first
    // header lies inside `control` (CMSG_SPACE bytes for one descriptor), and its data
    // is written unaligned.
    let sent = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = len as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), sock.as_raw_fd());
        libc::sendmsg(tx.as_raw_fd(), &msg, 0)
    };
    assert_eq!(sent, 1, "sendmsg: {}", io::Error::last_os_error());
    drop(sock);
    (tx, rx)
}
