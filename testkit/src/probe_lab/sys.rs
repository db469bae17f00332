//! The system calls of the probe lab, all in one place: running a closure on a thread
//! inside a named network namespace, the raw IP sockets that see what a namespace's
//! stack delivers, the AF_PACKET socket the sender crafts frames on, the raw sockets
//! that send whole IP packets from inside a namespace, multicast group joins, pinning
//! the probing thread to one CPU, and the ctnetlink request that empties a
//! namespace's connection table. Invariant: every descriptor is an [`OwnedFd`]
//! (closed when dropped), and only a thread this module spawns ever changes its
//! network namespace.

use std::{
    fs::File,
    io,
    mem::{size_of, zeroed},
    net::{IpAddr, SocketAddr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use crate::socket_fixture::sockaddr;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Runs `f` on a new thread that has entered the network namespace `/run/netns/NS`
/// and returns what it returns. Sockets made by `f` stay in that namespace wherever
/// they are used afterwards.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: setns on a descriptor we own; it changes only this scoped thread.
            check(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) })?;
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// The index of interface `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(io::Error::other)?;
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {name}: {}", io::Error::last_os_error()),
        )),
        i => Ok(i),
    }
}

fn socket(family: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket() returns a new descriptor that we own from here on.
    let fd = check(unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, proto) })?;
    // SAFETY: `fd` was just returned to us and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: setsockopt reads size_of::<T>() bytes from a live reference.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Receive buffers big enough for every probe of a batch, past `rmem_max` (root).
const RCVBUF: libc::c_int = 8 << 20;

/// A non-blocking raw socket of `family` (AF_INET or AF_INET6) for IP protocol
/// `proto`, in the calling thread's namespace. The kernel hands such a socket a copy of
/// every packet of that protocol it delivers locally, after the LOCAL_IN netfilter
/// hook (ip_local_deliver_finish / ip6_input_finish call raw delivery), whatever its
/// destination address; IPv4 copies start at the IP header, IPv6 ones after it.
pub fn raw_observer(family: libc::c_int, proto: u8) -> io::Result<OwnedFd> {
    let fd = socket(
        family,
        libc::SOCK_RAW | libc::SOCK_NONBLOCK,
        libc::c_int::from(proto),
    )?;
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &RCVBUF)?;
    Ok(fd)
}

/// A raw socket that sends whole IP packets of `family` (`IPPROTO_RAW`: the header
/// is ours, `IP_HDRINCL` / `IPV6_HDRINCL` implied), in the calling thread's namespace,
/// to broadcast addresses too (a subnet's broadcast address is as unicast-looking as
/// any other).
pub fn raw_sender(family: libc::c_int) -> io::Result<OwnedFd> {
    let fd = socket(family, libc::SOCK_RAW, libc::IPPROTO_RAW)?;
    let one: libc::c_int = 1;
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_BROADCAST, &one)?;
    Ok(fd)
}

/// Sends the IP packet `packet` (starting at its IP header) to `dst` on a
/// [`raw_sender`]; `scope` is the interface a link-local destination is reached on.
/// A packet that a netfilter OUTPUT rule drops counts as sent (the kernel says EPERM):
/// it left the socket, and what became of it is what the lab observes.
pub fn send_ip(fd: &OwnedFd, packet: &[u8], dst: IpAddr, scope: u32) -> io::Result<()> {
    let addr = match dst {
        IpAddr::V4(a) => SocketAddr::from((a, 0)),
        IpAddr::V6(a) => SocketAddr::V6(std::net::SocketAddrV6::new(a, 0, 0, scope)),
    };
    let (sa, len) = sockaddr(addr);
    // SAFETY: sendto reads `packet` and a sockaddr of `len` valid bytes.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (&sa as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    match sent(n, packet.len()) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(()),
        other => other,
    }
}

fn sent(n: isize, want: usize) -> io::Result<()> {
    match n {
        n if n < 0 => Err(io::Error::last_os_error()),
        n if n as usize != want => Err(io::Error::other(format!("sent {n} of {want} bytes"))),
        _ => Ok(()),
    }
}

/// A non-blocking AF_PACKET socket on interface `ifindex` (of the calling thread's
/// namespace) that sends whole Ethernet frames and receives every frame arriving
/// there, but not its own (`PACKET_IGNORE_OUTGOING`).
pub fn packet_socket(ifindex: u32) -> io::Result<OwnedFd> {
    let all = (libc::ETH_P_ALL as u16).to_be();
    let fd = socket(
        libc::AF_PACKET,
        libc::SOCK_RAW | libc::SOCK_NONBLOCK,
        libc::c_int::from(all),
    )?;
    // SAFETY: all-zero is a valid sockaddr_ll; the fields we need are set below.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = all;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: bind reads a sockaddr_ll of the size given.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    let one: libc::c_int = 1;
    setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &one)?;
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &RCVBUF)?;
    Ok(fd)
}

/// Sends one Ethernet frame on a bound [`packet_socket`].
pub fn send_frame(fd: &OwnedFd, frame: &[u8]) -> io::Result<()> {
    // SAFETY: send reads `frame`.
    let n = unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
    sent(n, frame.len())
}

/// The next queued packet of a non-blocking socket, or `None` when its queue is
/// empty.
pub fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: recv writes at most buf.len() bytes into `buf`.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n >= 0 {
        return Ok(Some(n as usize));
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock => Ok(None),
        _ => Err(e),
    }
}

/// A UDP socket (in the calling thread's namespace) that has joined multicast `group`
/// on interface `ifindex`; the membership ends when it is dropped. A namespace's
/// stack delivers multicast only for groups joined on the arriving interface.
pub fn join_group(group: IpAddr, ifindex: u32) -> io::Result<OwnedFd> {
    match group {
        IpAddr::V4(g) => {
            let fd = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
            let req = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(g.octets()),
                },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: ifindex as i32,
            };
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &req)?;
            Ok(fd)
        }
        IpAddr::V6(g) => {
            let fd = socket(libc::AF_INET6, libc::SOCK_DGRAM, 0)?;
            let req = libc::ipv6_mreq {
                ipv6mr_multiaddr: libc::in6_addr {
                    s6_addr: g.octets(),
                },
                ipv6mr_interface: ifindex,
            };
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP, &req)?;
            Ok(fd)
        }
    }
}

/// Pins the calling thread to the CPU it runs on and returns that CPU. The frames a
/// thread sends on a veth are received in that CPU's softirq (veth queues them on the
/// sending CPU's backlog, RPS being off in a fresh namespace), so everything one
/// pinned thread sends is processed on one CPU, in order.
pub fn pin_to_current_cpu() -> io::Result<usize> {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = check(unsafe { libc::sched_getcpu() })? as usize;
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE: the kernel just returned it.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: sched_setaffinity(0) reads the set for the calling thread.
    check(unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) })?;
    Ok(cpu)
}

/// Empties the connection tracking table of the calling thread's namespace, IPv4 and
/// IPv6 entries (`conntrack -F`): one ctnetlink `IPCTNL_MSG_CT_DELETE` without a
/// tuple per family, each acknowledged.
pub fn flush_conntrack() -> io::Result<()> {
    const NFNL_SUBSYS_CTNETLINK: u16 = 1;
    const IPCTNL_MSG_CT_DELETE: u16 = 2;
    #[repr(C)]
    struct Request {
        nh: libc::nlmsghdr,
        /// `struct nfgenmsg`: family, version, resource id (big-endian).
        family: u8,
        version: u8,
        res_id: u16,
    }
    let fd = socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_NETFILTER)?;
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)?;
    for (seq, family) in [(1, libc::AF_INET), (2, libc::AF_INET6)] {
        let req = Request {
            nh: libc::nlmsghdr {
                nlmsg_len: size_of::<Request>() as u32,
                nlmsg_type: (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
                nlmsg_flags: (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16,
                nlmsg_seq: seq,
                nlmsg_pid: 0,
            },
            family: family as u8,
            version: 0,
            res_id: 0,
        };
        // SAFETY: send reads the request's bytes.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                (&req as *const Request).cast(),
                size_of::<Request>(),
                0,
            )
        };
        sent(n, size_of::<Request>())?;
        netlink_ack(&fd)?;
    }
    Ok(())
}

/// Reads one netlink answer and turns its `NLMSG_ERROR` code into a result (ENOENT:
/// nothing to flush, which is fine).
fn netlink_ack(fd: &OwnedFd) -> io::Result<()> {
    let mut buf = [0u8; 512];
    // SAFETY: recv writes at most buf.len() bytes into `buf`.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let hdr = size_of::<libc::nlmsghdr>();
    if (n as usize) < hdr + 4 {
        return Err(io::Error::other("short ctnetlink answer"));
    }
    let ty = u16::from_ne_bytes([buf[4], buf[5]]);
    if ty != libc::NLMSG_ERROR as u16 {
        return Err(io::Error::other(format!(
            "unexpected ctnetlink answer type {ty}"
        )));
    }
    match i32::from_ne_bytes([buf[hdr], buf[hdr + 1], buf[hdr + 2], buf[hdr + 3]]) {
        0 => Ok(()),
        code if -code == libc::ENOENT => Ok(()),
        code => Err(io::Error::from_raw_os_error(-code)),
    }
}
