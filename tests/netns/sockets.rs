//! TCP and UDP end to end for the socket-condition tests (`tests/e2e/socket.rs`):
//! connects, listeners, datagrams, the kernel's counters and socket tables, each inside
//! a namespace of the test's [`Lab`](super::Lab).
//!
//! Sockets are made on a thread inside a namespace and handed back: a socket keeps the
//! namespace it was created in, so the test's own thread can use it afterwards.

use super::*;

/// How long a test waits for something that must happen (a connect that must
/// succeed, a reply that must come).
pub const ANSWER: Duration = Duration::from_secs(3);

/// How long a test waits for something that must not happen (a SYN-ACK, a RST, a
/// datagram, an ICMP error). Well below TCP's first SYN retransmission (1 s), so one
/// attempt is exactly one SYN.
pub const NO_ANSWER: Duration = Duration::from_millis(400);

/// How a connect attempt, or a wait for a datagram, ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Connected; for a datagram: one arrived.
    Answered,
    /// ECONNREFUSED: a TCP RST, or an ICMP port unreachable on a connected UDP socket.
    Refused,
    /// Nothing came back within the time limit.
    TimedOut,
    /// Any other error, as text.
    Failed(String),
}

/// The [`Outcome`] of a connect or a receive.
pub fn outcome<T>(r: &std::io::Result<T>) -> Outcome {
    use std::io::ErrorKind;
    match r {
        Ok(_) => Outcome::Answered,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Outcome::Refused,
        Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            Outcome::TimedOut
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// A TCP connect from the calling thread's namespace; see [`tcp_connect`].
fn tcp_connect_here(
    from: Option<SocketAddr>,
    to: SocketAddr,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    use std::io::{Error, ErrorKind};
    let domain = if to.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let raw = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if raw < 0 {
        return Err(Error::last_os_error());
    }
    // SAFETY: a descriptor socket(2) just returned; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if let Some(from) = from {
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a pointer to an int and its size, on our socket.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(Error::last_os_error());
        }
        let (sa, len) = sockaddr(from);
        // SAFETY: bind with a sockaddr of `len` valid bytes, on our socket.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if rc != 0 {
            return Err(Error::last_os_error());
        }
    }
    let (sa, len) = sockaddr(to);
    // SAFETY: connect with a sockaddr of `len` valid bytes, on our socket.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if rc != 0 {
        let e = Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::new(
                    ErrorKind::TimedOut,
                    format!("connect to {to} timed out after {timeout:?}"),
                ));
            }
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: poll on one pollfd that lives for the call.
            let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as libc::c_int) };
            if n < 0 {
                let e = Error::last_os_error();
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n > 0 {
                break;
            }
        }
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into an int of `len` bytes, on our socket.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(Error::last_os_error());
        }
        if err != 0 {
            return Err(Error::from_raw_os_error(err));
        }
    }
    let stream = TcpStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// A TCP connect from namespace `ns` to `to` that gives up after `timeout` (one SYN
/// when `timeout` < 1 s). With `from`, the socket is first bound there with
/// `SO_REUSEADDR` (to reuse a 4-tuple on purpose).
pub fn tcp_connect(
    ns: &str,
    from: Option<SocketAddr>,
    to: SocketAddr,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    in_netns(ns, move || tcp_connect_here(from, to, timeout))
}

/// A TCP listener bound to `addr` in namespace `ns`.
#[track_caller]
pub fn tcp_listen(ns: &str, addr: SocketAddr) -> TcpListener {
    in_netns(ns, move || {
        bind_retrying(&format!("listen on {addr}"), || TcpListener::bind(addr))
    })
}

/// The next connection `listener` has queued, waiting at most [`ANSWER`].
#[track_caller]
pub fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let start = Instant::now();
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    start.elapsed() < ANSWER,
                    "no connection to accept within {ANSWER:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    listener.set_nonblocking(false).expect("blocking");
    stream.set_nonblocking(false).expect("blocking");
    stream
}

/// Sends `msg` from `x` to `y` and a reply from `y` back to `x`; panics (saying
/// `when`) unless both arrive whole within [`ANSWER`].
#[track_caller]
pub fn tcp_exchange(when: &str, x: &mut TcpStream, y: &mut TcpStream, msg: &[u8]) {
    use std::io::{Read, Write};
    fn one_way(when: &str, from: &mut TcpStream, to: &mut TcpStream, data: &[u8]) {
        to.set_read_timeout(Some(ANSWER)).expect("read timeout");
        from.write_all(data)
            .unwrap_or_else(|e| panic!("{when}: write: {e}"));
        let mut got = vec![0u8; data.len()];
        to.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("{when}: read {} bytes: {e}", data.len()));
        assert_eq!(got, data, "{when}: bytes differ");
    }
    let reply: Vec<u8> = msg.iter().rev().copied().collect();
    one_way(when, x, y, msg);
    one_way(when, y, x, &reply);
}

/// A UDP socket bound to `addr` in namespace `ns`.
#[track_caller]
pub fn udp_bind(ns: &str, addr: SocketAddr) -> UdpSocket {
    in_netns(ns, move || {
        bind_retrying(&format!("bind {addr}"), || UdpSocket::bind(addr))
    })
}

/// `bind()`, tried again while the address is in use, for at most two seconds; panics
/// with `what` and the error after that. A socket a test closed a moment ago on the
/// same address can still be open in a child process another test thread has just
/// started: the child holds a copy of every descriptor until it execs (close-on-exec
/// ones too), so the address stays taken for that long. A real conflict outlasts the
/// retries and still fails.
pub fn bind_retrying<S>(what: &str, mut bind: impl FnMut() -> std::io::Result<S>) -> S {
    let start = Instant::now();
    loop {
        match bind() {
            Ok(s) => return s,
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && start.elapsed() < Duration::from_secs(2) =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// A UDP socket in namespace `ns` on an ephemeral port, connected to `peer` (so an
/// ICMP port unreachable from the peer shows as ECONNREFUSED on the next receive).
#[track_caller]
pub fn udp_connected(ns: &str, peer: SocketAddr) -> UdpSocket {
    in_netns(ns, move || {
        let any: SocketAddr = if peer.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let s = UdpSocket::bind(any).expect("bind UDP client");
        s.connect(peer)
            .unwrap_or_else(|e| panic!("connect UDP to {peer}: {e}"));
        s
    })
}

/// Waits up to `timeout` for one datagram on `sock`: the bytes and the sender.
/// A signal delivered to the thread (EINTR) is not an answer: the wait goes on until
/// the deadline.
pub fn udp_recv(sock: &UdpSocket, timeout: Duration) -> std::io::Result<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        sock.set_read_timeout(Some(left)).expect("read timeout");
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => return Ok((buf[..n].to_vec(), from)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The network namespace's SNMP counters (`/proc/net/snmp` as `Tcp.OutRsts`, ...,
/// and `/proc/net/snmp6` as `Udp6NoPorts`, ...). Read through `/proc/thread-self`:
/// `/proc/self/net` would show the main thread's namespace.
pub fn snmp(ns: &str) -> BTreeMap<String, i64> {
    in_netns(ns, || {
        let mut out = BTreeMap::new();
        let v4 = std::fs::read_to_string("/proc/thread-self/net/snmp").expect("snmp");
        let lines: Vec<&str> = v4.lines().collect();
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let (group, names) = names.split_once(':').expect("group:");
            let (_, values) = values.split_once(':').expect("group:");
            for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                if let Ok(v) = v.parse() {
                    out.insert(format!("{group}.{n}"), v);
                }
            }
        }
        if let Ok(v6) = std::fs::read_to_string("/proc/thread-self/net/snmp6") {
            for line in v6.lines() {
                let mut w = line.split_whitespace();
                if let (Some(n), Some(Ok(v))) = (w.next(), w.next().map(str::parse)) {
                    out.insert(n.to_string(), v);
                }
            }
        }
        out
    })
}

/// `after[key] - before[key]` (a missing counter counts as 0).
pub fn delta(before: &BTreeMap<String, i64>, after: &BTreeMap<String, i64>, key: &str) -> i64 {
    after.get(key).copied().unwrap_or(0) - before.get(key).copied().unwrap_or(0)
}

/// The lines of namespace `ns`'s connection tracking table, or `None` when the
/// kernel has no `nf_conntrack`.
pub fn conntrack_entries(ns: &str) -> Option<Vec<String>> {
    in_netns(ns, || {
        std::fs::read_to_string("/proc/thread-self/net/nf_conntrack")
            .ok()
            .map(|t| t.lines().map(str::to_string).collect())
    })
}

/// A TCP socket of a namespace as `/proc/net/tcp` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSock {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    /// The kernel's TCP state number (1 ESTABLISHED ... 6 TIME_WAIT ... 10 LISTEN).
    pub state: u8,
}

/// TCP state numbers of `/proc/net/tcp`.
pub const TCP_TIME_WAIT: u8 = 6;

/// Closes `listener` (listening on `local` in namespace `ns`) and waits until no
/// socket of the namespace listens on `local`'s port: see [`close_and_wait`].
pub fn close_listener(ns: &str, listener: TcpListener, local: SocketAddr) {
    close_and_wait(
        ns,
        listener.into(),
        local.port(),
        &["tcp", "tcp6"],
        Some("0A"),
    );
}

/// Closes `sock` (bound to `local` in namespace `ns`) and waits until no socket of the
/// namespace is bound to `local`'s port: see [`close_and_wait`].
pub fn close_udp(ns: &str, sock: UdpSocket, local: SocketAddr) {
    close_and_wait(ns, sock.into(), local.port(), &["udp", "udp6"], None);
}

/// Closes `fd` and waits, at most two seconds, until none of the namespace's sockets
/// in `tables` (`/proc/net/TABLE`) has local port `port` (and the state `state`, in
/// hex, when given). A socket closed here can stay open for a moment in a child
/// process another test thread has just started: the child holds a copy of every
/// descriptor until it execs (close-on-exec ones too), and a packet sent meanwhile
/// would still find the socket.
fn close_and_wait(ns: &str, fd: OwnedFd, port: u16, tables: &[&str], state: Option<&str>) {
    drop(fd);
    let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let state = state.map(str::to_string);
    let start = Instant::now();
    let held = move || {
        tables.iter().any(|t| {
            let text =
                std::fs::read_to_string(format!("/proc/thread-self/net/{t}")).unwrap_or_default();
            text.lines().skip(1).any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let local_port = w.get(1).and_then(|a| a.rsplit_once(':'));
                local_port.is_some_and(|(_, p)| u16::from_str_radix(p, 16) == Ok(port))
                    && state.as_deref().is_none_or(|s| w.get(3) == Some(&s))
            })
        })
    };
    in_netns(ns, move || {
        while held() {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "port {port} still held two seconds after its socket was closed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

/// The IPv4 TCP sockets (timewait and request sockets included) of namespace `ns`.
pub fn tcp4_sockets(ns: &str) -> Vec<TcpSock> {
    fn endpoint(s: &str) -> SocketAddrV4 {
        let (a, p) = s.split_once(':').expect("ADDR:PORT");
        let a = u32::from_str_radix(a, 16).expect("hex address");
        let p = u16::from_str_radix(p, 16).expect("hex port");
        // The address is the raw network-order word printed as a host integer.
        SocketAddrV4::new(Ipv4Addr::from(a.to_ne_bytes()), p)
    }
    in_netns(ns, || {
        let text = std::fs::read_to_string("/proc/thread-self/net/tcp").expect("net/tcp");
        text.lines()
            .skip(1)
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                TcpSock {
                    local: endpoint(w[1]),
                    remote: endpoint(w[2]),
                    state: u8::from_str_radix(w[3], 16).expect("hex state"),
                }
            })
            .collect()
    })
}
