//! Socket fixtures: a private network namespace holding exactly the socket a packet
//! should find, so kernel test runs of socket conditions can be compared with the
//! evaluator's socket fact.
//!
//! A program's socket lookup (`bpf_skc_lookup_tcp`, `bpf_sk_lookup_udp`) searches the
//! network namespace `BPF_PROG_TEST_RUN` runs in: the calling thread's. The host's own
//! listeners (a wildcard `0.0.0.0:22` matches any destination address) would decide
//! such runs, so they happen in a [`SocketNetns`]: a fresh namespace whose loopback
//! is up and in which every IPv4 and IPv6 address is local (`local 0.0.0.0/0` and
//! `local ::/0` routes on `lo`, the AnyIP setup), so a socket can be bound to any
//! packet's addresses and a TCP connection between them completes over loopback.
//! [`SocketNetns::run`] makes the requested socket (a listener, a connected TCP or UDP
//! socket, a TIME_WAIT socket, or nothing), runs the closure on a thread inside the
//! namespace, and closes everything. Invariant: nothing here touches the caller's
//! namespace; the namespace dies with its last socket and the [`SocketNetns`] value.

use std::{
    fs::File,
    io::{self, Read, Write},
    mem::{size_of, zeroed},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream},
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    time::{Duration, Instant},
};

use crate::eval::{decode, L4Fields, SocketState};

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot set up a private network namespace: {0}")]
    Netns(#[source] io::Error),
    #[error("no socket can be made for {0}")]
    Unsupported(String),
    #[error("cannot make the {state} socket for {what}: {source}")]
    Socket {
        state: &'static str,
        what: String,
        #[source]
        source: io::Error,
    },
}

/// The two ends of a packet's connection, as the socket sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// 6 (TCP) or 17 (UDP).
    pub proto: u8,
    /// The socket's own address: the packet's destination at ingress hooks, its
    /// source at egress hooks.
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl Endpoints {
    /// The endpoints of a TCP or UDP frame with a complete header, for a hook that
    /// sees packets arriving (`egress == false`) or leaving.
    pub fn of_frame(frame: &[u8], egress: bool) -> Option<Endpoints> {
        let ip = decode(frame).ip?;
        let L4Fields::Ports { sport, dport, .. } = ip.l4 else {
            return None;
        };
        if ip.proto != 6 && ip.proto != 17 {
            return None;
        }
        let src = SocketAddr::new(ip.src, sport);
        let dst = SocketAddr::new(ip.dst, dport);
        let (local, remote) = if egress { (src, dst) } else { (dst, src) };
        Some(Endpoints {
            proto: ip.proto,
            local,
            remote,
        })
    }

    fn describe(&self) -> String {
        let p = if self.proto == 6 { "tcp" } else { "udp" };
        format!("{p} local {} remote {}", self.local, self.remote)
    }

    /// Why no socket can have these ends, if none can.
    fn unsupported(&self, state: SocketState) -> Option<&'static str> {
        let usable = |a: IpAddr| match a {
            IpAddr::V4(a) => !(a.is_unspecified() || a.is_multicast() || a.is_broadcast()),
            IpAddr::V6(a) => {
                !(a.is_unspecified() || a.is_multicast() || a.to_ipv4_mapped().is_some())
            }
        };
        if self.local.is_ipv4() != self.remote.is_ipv4() {
            return Some("the two ends are of different families");
        }
        if !usable(self.local.ip()) || self.local.port() == 0 {
            return Some("a socket cannot be bound to that local address and port");
        }
        let connected = matches!(state, SocketState::Established | SocketState::TimeWait);
        if connected && (!usable(self.remote.ip()) || self.remote.port() == 0) {
            return Some("a socket cannot be connected to that remote address and port");
        }
        if connected && self.local == self.remote {
            return Some("both ends are the same address and port");
        }
        if state == SocketState::TimeWait && self.proto != 6 {
            return Some("only TCP sockets have a TIME_WAIT state");
        }
        None
    }
}

/// A private network namespace in which every address is local; see the module docs.
pub struct SocketNetns {
    ns: File,
}

impl SocketNetns {
    /// Creates the namespace (needs CAP_SYS_ADMIN and CAP_NET_ADMIN).
    pub fn new() -> Result<SocketNetns, FixtureError> {
        std::thread::spawn(|| -> io::Result<File> {
            // SAFETY: plain syscall; it changes only this short-lived thread.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let ns = File::open("/proc/thread-self/ns/net")?;
            loopback_up()?;
            add_local_route(libc::AF_INET)?;
            add_local_route(libc::AF_INET6)?;
            Ok(ns)
        })
        .join()
        .expect("the netns thread does not panic")
        .map(|ns| SocketNetns { ns })
        .map_err(FixtureError::Netns)
    }

    /// Runs `f` on a thread inside the namespace while the socket `want` describes
    /// exists (for [`SocketState::None`], or `want == None`, no socket is made).
    /// Sockets made here stay in the namespace after `f` (TIME_WAIT ones for a
    /// minute), so a namespace used with a socket should not be reused for another
    /// packet with the same ends.
    pub fn run<T: Send>(
        &self,
        want: Option<(&Endpoints, SocketState)>,
        f: impl FnOnce() -> T + Send,
    ) -> Result<T, FixtureError> {
        let ns = self.ns.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: setns on a descriptor that lives as long as `self`; it
                // changes only this scoped thread.
                if unsafe { libc::setns(ns, libc::CLONE_NEWNET) } != 0 {
                    return Err(FixtureError::Netns(io::Error::last_os_error()));
                }
                let _held = match want {
                    Some((ep, state)) if state != SocketState::None => make_socket(ep, state)?,
                    _ => Vec::new(),
                };
                Ok(f())
            })
            .join()
            .expect("the closure of a socket fixture does not panic")
        })
    }
}

/// Makes the socket; returns every descriptor that must stay open while it should
/// exist.
fn make_socket(ep: &Endpoints, state: SocketState) -> Result<Vec<OwnedFd>, FixtureError> {
    if let Some(why) = ep.unsupported(state) {
        return Err(FixtureError::Unsupported(format!(
            "{}: {why}",
            ep.describe()
        )));
    }
    let err = |source| FixtureError::Socket {
        state: state.name(),
        what: ep.describe(),
        source,
    };
    match (ep.proto, state) {
        (_, SocketState::None) => Ok(Vec::new()),
        (6, SocketState::Listening) => {
            let l = bound(ep.local, libc::SOCK_STREAM).map_err(err)?;
            listen(&l).map_err(err)?;
            Ok(vec![l])
        }
        (6, SocketState::Established) => {
            let (listener, client, server) = tcp_pair(ep).map_err(err)?;
            // The listener would also answer a lookup; only the connection should.
            drop(listener);
            Ok(vec![client, server])
        }
        (6, SocketState::TimeWait) => {
            let (listener, client, server) = tcp_pair(ep).map_err(err)?;
            drop(listener);
            into_time_wait(client, server).map_err(err)?;
            Ok(Vec::new())
        }
        (_, SocketState::Listening) => Ok(vec![bound(ep.local, libc::SOCK_DGRAM).map_err(err)?]),
        (_, SocketState::Established) => {
            let u = bound(ep.local, libc::SOCK_DGRAM).map_err(err)?;
            connect(&u, ep.remote).map_err(err)?;
            Ok(vec![u])
        }
        (_, SocketState::TimeWait) => unreachable!("rejected by Endpoints::unsupported"),
    }
}

/// A TCP connection whose accepted end has exactly `ep`'s ends: (listener, the
/// connecting socket at `ep.remote`, the accepted socket at `ep.local`).
fn tcp_pair(ep: &Endpoints) -> io::Result<(OwnedFd, OwnedFd, OwnedFd)> {
    let listener = bound(ep.local, libc::SOCK_STREAM)?;
    listen(&listener)?;
    let client = bound(ep.remote, libc::SOCK_STREAM)?;
    connect(&client, ep.local)?;
    let listener = TcpListener::from(listener);
    let (server, _) = listener.accept()?;
    Ok((listener.into(), client, server.into()))
}

/// Closes a connection so that the accepted side (the one at the packet's local end)
/// ends in TIME_WAIT: it closes first, the other side answers with its own FIN.
fn into_time_wait(client: OwnedFd, server: OwnedFd) -> io::Result<()> {
    let mut server = TcpStream::from(server);
    let mut client = TcpStream::from(client);
    server.shutdown(std::net::Shutdown::Write)?;
    let mut buf = [0u8; 16];
    client.set_read_timeout(Some(Duration::from_secs(2)))?;
    while client.read(&mut buf)? > 0 {}
    client.flush()?;
    drop(client);
    server.set_read_timeout(Some(Duration::from_secs(2)))?;
    while server.read(&mut buf)? > 0 {}
    // The FIN has arrived; the kernel moves the connection to a timewait socket. Wait
    // until the full socket has handed over (its own state becomes CLOSE).
    let deadline = Instant::now() + Duration::from_secs(2);
    let close = aya_obj::generated::BPF_TCP_CLOSE as u8;
    while tcp_state(server.as_raw_fd())? != close {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection did not reach TIME_WAIT",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn tcp_state(fd: RawFd) -> io::Result<u8> {
    // SAFETY: getsockopt into a zeroed tcp_info of the size we pass.
    unsafe {
        let mut info: libc::tcp_info = zeroed();
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(info.tcpi_state)
    }
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A socket bound to `addr`, with FREEBIND (IPv6 binds need it even with the AnyIP
/// route) and SO_REUSEADDR.
fn bound(addr: SocketAddr, ty: libc::c_int) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain syscalls on a descriptor we own from here on.
    unsafe {
        let fd = OwnedFd::from_raw_fd(check(libc::socket(family, ty | libc::SOCK_CLOEXEC, 0))?);
        let one: libc::c_int = 1;
        let opt = |level, name| {
            check(libc::setsockopt(
                fd.as_raw_fd(),
                level,
                name,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            ))
        };
        opt(libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
        if addr.is_ipv4() {
            opt(libc::IPPROTO_IP, libc::IP_FREEBIND)?;
        } else {
            opt(libc::IPPROTO_IPV6, libc::IPV6_FREEBIND)?;
            opt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)?;
        }
        let (sa, len) = sockaddr(addr);
        check(libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_storage).cast(),
            len,
        ))?;
        Ok(fd)
    }
}

fn listen(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe { libc::listen(fd.as_raw_fd(), 16) }).map(drop)
}

fn connect(fd: &OwnedFd, to: SocketAddr) -> io::Result<()> {
    let (sa, len) = sockaddr(to);
    // SAFETY: connect with a sockaddr_storage holding `len` valid bytes.
    check(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_storage).cast(),
            len,
        )
    })
    .map(drop)
}

/// A `sockaddr_in` or `sockaddr_in6` for `addr` in a `sockaddr_storage`, and its
/// length, for raw `bind`/`connect`/`sendmsg` calls (the tests use it too).
pub fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage; we write one of its variants.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// `ip link set lo up`, by ioctl.
fn loopback_up() -> io::Result<()> {
    // SAFETY: ioctls on a socket we own, with an ifreq naming "lo".
    unsafe {
        let s = OwnedFd::from_raw_fd(check(libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            0,
        ))?);
        let mut ifr: libc::ifreq = zeroed();
        for (d, c) in ifr.ifr_name.iter_mut().zip(b"lo") {
            *d = *c as libc::c_char;
        }
        check(libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr))?;
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        check(libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &mut ifr))?;
    }
    Ok(())
}

/// `ip route add local 0.0.0.0/0 dev lo table local` (or `::/0` for IPv6), by one
/// rtnetlink request, acknowledged.
fn add_local_route(family: libc::c_int) -> io::Result<()> {
    #[repr(C)]
    struct Request {
        nh: libc::nlmsghdr,
        rt: Rtmsg,
        attr: libc::rtattr,
        oif: u32,
    }
    /// `struct rtmsg` (linux/rtnetlink.h); the libc crate does not have it.
    #[repr(C)]
    struct Rtmsg {
        family: u8,
        dst_len: u8,
        src_len: u8,
        tos: u8,
        table: u8,
        protocol: u8,
        scope: u8,
        ty: u8,
        flags: u32,
    }
    // SAFETY: if_nametoindex on a NUL-terminated name.
    let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    if lo == 0 {
        return Err(io::Error::last_os_error());
    }
    let req = Request {
        nh: libc::nlmsghdr {
            nlmsg_len: size_of::<Request>() as u32,
            nlmsg_type: libc::RTM_NEWROUTE,
            nlmsg_flags: (libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE) as u16,
            nlmsg_seq: 1,
            nlmsg_pid: 0,
        },
        rt: Rtmsg {
            family: family as u8,
            dst_len: 0,
            src_len: 0,
            tos: 0,
            table: libc::RT_TABLE_LOCAL,
            protocol: libc::RTPROT_BOOT,
            scope: libc::RT_SCOPE_HOST,
            ty: libc::RTN_LOCAL,
            flags: 0,
        },
        attr: libc::rtattr {
            rta_len: (size_of::<libc::rtattr>() + size_of::<u32>()) as u16,
            rta_type: libc::RTA_OIF,
        },
        oif: lo,
    };
    // SAFETY: a netlink socket we own; we send the request struct's bytes and read
    // the answer into a buffer we own.
    unsafe {
        let s = OwnedFd::from_raw_fd(check(libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        ))?);
        let n = libc::send(
            s.as_raw_fd(),
            (&req as *const Request).cast(),
            size_of::<Request>(),
            0,
        );
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0u8; 512];
        let n = libc::recv(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let hdr = size_of::<libc::nlmsghdr>();
        if (n as usize) < hdr + 4 {
            return Err(io::Error::other("short rtnetlink answer"));
        }
        let ty = u16::from_ne_bytes([buf[4], buf[5]]);
        let code = i32::from_ne_bytes([buf[hdr], buf[hdr + 1], buf[hdr + 2], buf[hdr + 3]]);
        if ty != libc::NLMSG_ERROR as u16 {
            return Err(io::Error::other(format!(
                "unexpected rtnetlink answer type {ty}"
            )));
        }
        if code != 0 {
            return Err(io::Error::from_raw_os_error(-code));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(proto: u8, local: &str, remote: &str) -> Endpoints {
        Endpoints {
            proto,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
        }
    }

    #[test]
    fn ends_that_no_socket_can_have_are_refused_up_front() {
        let est = SocketState::Established;
        assert!(ep(6, "0.0.0.0:80", "1.2.3.4:5")
            .unsupported(SocketState::Listening)
            .is_some());
        assert!(ep(6, "1.2.3.4:0", "1.2.3.4:5")
            .unsupported(SocketState::Listening)
            .is_some());
        assert!(ep(6, "1.2.3.4:80", "224.0.0.1:5")
            .unsupported(est)
            .is_some());
        assert!(ep(6, "1.2.3.4:80", "1.2.3.4:80").unsupported(est).is_some());
        assert!(ep(17, "1.2.3.4:80", "1.2.3.5:5")
            .unsupported(SocketState::TimeWait)
            .is_some());
        assert!(ep(6, "[2001:db8::1]:80", "[2001:db8::2]:5")
            .unsupported(est)
            .is_none());
        assert!(ep(6, "1.2.3.4:80", "224.0.0.1:5")
            .unsupported(SocketState::Listening)
            .is_none());
    }

    #[test]
    fn endpoints_follow_the_hook_direction() {
        let frame = crate::packet::parse_packet("tcp 10.0.0.1:1234 -> 10.0.0.2:80 syn")
            .unwrap()
            .build();
        let ingress = Endpoints::of_frame(&frame, false).unwrap();
        assert_eq!(ingress.local, "10.0.0.2:80".parse().unwrap());
        assert_eq!(ingress.remote, "10.0.0.1:1234".parse().unwrap());
        let egress = Endpoints::of_frame(&frame, true).unwrap();
        assert_eq!(egress.local, ingress.remote);
        assert_eq!(egress.remote, ingress.local);
    }
}
