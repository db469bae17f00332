//! The checks every socket passes before sockc hands it to sk_lookup, whichever way
//! it was found, and the address rules they use: it is a socket; it lives in the
//! calling thread's network namespace (its `SO_NETNS_COOKIE` equals that of a socket
//! we make here); it is IPv4 or IPv6 of the declared protocol (`SO_TYPE` and
//! `SO_PROTOCOL`: TCP is a stream socket of protocol TCP, UDP a datagram socket of
//! protocol UDP, so MPTCP and UDP-Lite are refused); a TCP socket is listening
//! (`SO_ACCEPTCONN`), a UDP socket unconnected (`getpeername` fails with `ENOTCONN`)
//! — the only states `bpf_sk_assign` accepts; its family can receive the declared
//! address's traffic, and it is bound to that address (see [`serves`]).
//!
//! Invariant: [`check`](fn@check) only reads (getsockopt, getsockname,
//! getpeername); it returns [`Checked`] only when every check holds, and otherwise the
//! first that failed, in the order above.

use std::{
    io,
    mem::{size_of, MaybeUninit},
    net::{IpAddr, SocketAddr},
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use aya_obj::generated::{
    BPF_TCP_BOUND_INACTIVE, BPF_TCP_CLOSE, BPF_TCP_CLOSE_WAIT, BPF_TCP_CLOSING,
    BPF_TCP_ESTABLISHED, BPF_TCP_FIN_WAIT1, BPF_TCP_FIN_WAIT2, BPF_TCP_LAST_ACK, BPF_TCP_LISTEN,
    BPF_TCP_NEW_SYN_RECV, BPF_TCP_SYN_RECV, BPF_TCP_SYN_SENT, BPF_TCP_TIME_WAIT,
};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::{proto_name, SockProto, SocketError, Wanted};

/// What [`check`](fn@check) found out about a socket that passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// `SO_COOKIE`.
    pub cookie: u64,
    /// `getsockname`.
    pub local: SocketAddr,
    pub proto: SockProto,
    /// `IPV6_V6ONLY`, for IPv6 sockets.
    pub v6only: Option<bool>,
    /// `SO_REUSEPORT`.
    pub reuseport: bool,
}

/// Runs the checks of the module docs on `fd` against the declaration `wanted`.
pub fn check(fd: BorrowedFd<'_>, wanted: &Wanted) -> Result<Checked, SocketError> {
    let sock = SockRef::from(&fd);
    let ty = socket_type(fd, &sock)?;
    in_this_netns(fd)?;
    let domain = sock.domain().map_err(sys("SO_DOMAIN"))?;
    if domain != Domain::IPV4 && domain != Domain::IPV6 {
        return Err(SocketError::NotInet {
            family: format!("{domain:?}"),
        });
    }
    let local = sock
        .local_addr()
        .map_err(sys("getsockname"))?
        .as_socket()
        .ok_or_else(|| SocketError::NotInet {
            family: format!("{domain:?}"),
        })?;
    let proto = declared_proto(&sock, ty, local, wanted)?;
    ready_for_lookup(fd, &sock, proto, local)?;
    if local.port() == 0 {
        return Err(SocketError::NotBound { proto });
    }
    let v6only = match domain {
        Domain::IPV6 => Some(sock.only_v6().map_err(sys("IPV6_V6ONLY"))?),
        _ => None,
    };
    if let Some(want) = wanted.addr {
        bound_to(want, wanted, local, v6only)?;
    }
    Ok(Checked {
        cookie: cookie(fd).map_err(sys("SO_COOKIE"))?,
        local,
        proto,
        v6only,
        reuseport: sock.reuse_port().map_err(sys("SO_REUSEPORT"))?,
    })
}

/// A failed socket call, as the error that names it.
fn sys(what: &'static str) -> impl FnOnce(io::Error) -> SocketError {
    move |source| SocketError::Sys { what, source }
}

/// `SO_TYPE`, which fails on a descriptor that is no socket.
fn socket_type(fd: BorrowedFd<'_>, sock: &SockRef<'_>) -> Result<Type, SocketError> {
    match sock.r#type() {
        Ok(t) => Ok(t),
        Err(e) if e.raw_os_error() == Some(libc::ENOTSOCK) => Err(SocketError::NotSocket {
            fd: format!("descriptor {}", fd.as_raw_fd()),
            target: fd_target(std::process::id(), fd.as_raw_fd()),
        }),
        Err(e) => Err(sys("SO_TYPE")(e)),
    }
}

/// The socket lives in the calling thread's network namespace.
fn in_this_netns(fd: BorrowedFd<'_>) -> Result<(), SocketError> {
    let theirs = netns_cookie(fd).map_err(sys("SO_NETNS_COOKIE"))?;
    let here = netns_cookie_here()?;
    if theirs != here {
        return Err(SocketError::OtherNamespace {
            socket: theirs,
            here,
        });
    }
    Ok(())
}

/// The socket's protocol (TCP: a stream socket of protocol TCP; UDP: a datagram
/// socket of protocol UDP), which must be the declared one.
fn declared_proto(
    sock: &SockRef<'_>,
    ty: Type,
    local: SocketAddr,
    wanted: &Wanted,
) -> Result<SockProto, SocketError> {
    let protocol = sock.protocol().map_err(sys("SO_PROTOCOL"))?;
    let proto = match (ty, protocol) {
        (Type::STREAM, Some(Protocol::TCP)) => SockProto::Tcp,
        (Type::DGRAM, Some(Protocol::UDP)) => SockProto::Udp,
        (ty, protocol) => {
            return Err(SocketError::WrongProto {
                wanted: *wanted,
                found: format!("a {ty:?} socket of protocol {protocol:?} on {local}"),
            })
        }
    };
    if proto != wanted.proto {
        return Err(SocketError::WrongProto {
            wanted: *wanted,
            found: format!("{} {local}", proto_name(proto)),
        });
    }
    Ok(proto)
}

/// The socket is in a state `bpf_sk_assign` accepts: a TCP socket listening, a UDP
/// socket unconnected.
fn ready_for_lookup(
    fd: BorrowedFd<'_>,
    sock: &SockRef<'_>,
    proto: SockProto,
    local: SocketAddr,
) -> Result<(), SocketError> {
    match proto {
        SockProto::Tcp => {
            if !sock.is_listener().map_err(sys("SO_ACCEPTCONN"))? {
                let state = tcp_state(fd).map_err(sys("TCP_INFO"))?;
                return Err(SocketError::NotListening {
                    local,
                    state: tcp_state_name(state),
                });
            }
            Ok(())
        }
        SockProto::Udp => match sock.peer_addr() {
            Ok(peer) => Err(SocketError::Connected {
                local,
                peer: peer.as_socket().unwrap_or(local),
            }),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
            Err(e) => Err(sys("getpeername")(e)),
        },
    }
}

/// The socket's family can receive traffic for the declared address `want`, and it is
/// bound to that address ([`serves`]).
fn bound_to(
    want: SocketAddr,
    wanted: &Wanted,
    local: SocketAddr,
    v6only: Option<bool>,
) -> Result<(), SocketError> {
    match (want.ip(), local.ip()) {
        (IpAddr::V6(_), IpAddr::V4(_)) => {
            return Err(SocketError::NeedsV6 {
                wanted: *wanted,
                local,
            })
        }
        (IpAddr::V4(_), IpAddr::V6(_)) if v6only == Some(true) => {
            return Err(SocketError::V6Only {
                wanted: *wanted,
                local,
            })
        }
        _ => {}
    }
    if !serves(want, local, v6only) {
        return Err(SocketError::AddressMismatch {
            wanted: *wanted,
            local,
        });
    }
    Ok(())
}

/// Whether a socket bound to `local` (with `IPV6_V6ONLY` = `v6only`, `None` when
/// unknown) meets a declaration of `want`: the same address and port, where an IPv4
/// address is also met by its IPv4-mapped IPv6 form and `0.0.0.0` by `::`, on a
/// socket that is not IPv6-only (the module docs of [`super`], "Dual stack").
pub fn serves(want: SocketAddr, local: SocketAddr, v6only: Option<bool>) -> bool {
    if want.port() != local.port() {
        return false;
    }
    match (want.ip(), local.ip()) {
        (IpAddr::V4(w), IpAddr::V4(l)) => w == l,
        (IpAddr::V4(w), IpAddr::V6(l)) => {
            v6only != Some(true)
                && (l.to_ipv4_mapped() == Some(w) || (w.is_unspecified() && l.is_unspecified()))
        }
        (IpAddr::V6(w), IpAddr::V6(l)) => w == l,
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

/// Whether a socket bound to `local` does not meet `want` but receives its traffic
/// anyway, being bound to the wildcard address of a family that can take it.
pub fn covers(want: SocketAddr, local: SocketAddr, v6only: Option<bool>) -> bool {
    if want.port() != local.port() || serves(want, local, v6only) {
        return false;
    }
    match (want.ip(), local.ip()) {
        (IpAddr::V4(_), IpAddr::V4(l)) => l.is_unspecified(),
        (IpAddr::V4(_), IpAddr::V6(l)) => l.is_unspecified() && v6only != Some(true),
        (IpAddr::V6(_), IpAddr::V6(l)) => l.is_unspecified(),
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

/// The kernel's name of a TCP state (`include/net/tcp_states.h`; the numbers from
/// the `BPF_TCP_*` mirror of that enum in the UAPI bindings).
pub fn tcp_state_name(state: u8) -> &'static str {
    let names = [
        (BPF_TCP_ESTABLISHED, "ESTABLISHED"),
        (BPF_TCP_SYN_SENT, "SYN_SENT"),
        (BPF_TCP_SYN_RECV, "SYN_RECV"),
        (BPF_TCP_FIN_WAIT1, "FIN_WAIT1"),
        (BPF_TCP_FIN_WAIT2, "FIN_WAIT2"),
        (BPF_TCP_TIME_WAIT, "TIME_WAIT"),
        (BPF_TCP_CLOSE, "CLOSE"),
        (BPF_TCP_CLOSE_WAIT, "CLOSE_WAIT"),
        (BPF_TCP_LAST_ACK, "LAST_ACK"),
        (BPF_TCP_LISTEN, "LISTEN"),
        (BPF_TCP_CLOSING, "CLOSING"),
        (BPF_TCP_NEW_SYN_RECV, "NEW_SYN_RECV"),
        (BPF_TCP_BOUND_INACTIVE, "BOUND_INACTIVE"),
    ];
    names
        .iter()
        .find(|(n, _)| *n as u32 == u32::from(state))
        .map_or("unknown", |(_, name)| name)
}

/// The `SO_NETNS_COOKIE` of a socket made now, on the calling thread: the calling
/// thread's network namespace.
pub fn netns_cookie_here() -> Result<u64, SocketError> {
    let sys = |source| SocketError::Sys {
        what: "SO_NETNS_COOKIE of the calling thread's namespace",
        source,
    };
    let probe = Socket::new(Domain::IPV4, Type::DGRAM, None).map_err(sys)?;
    netns_cookie(probe.as_fd()).map_err(sys)
}

/// `SO_NETNS_COOKIE`: the id of the network namespace the socket lives in.
pub fn netns_cookie(fd: BorrowedFd<'_>) -> io::Result<u64> {
    getsockopt_u64(fd, libc::SOL_SOCKET, libc::SO_NETNS_COOKIE)
}

/// `SO_COOKIE`: the socket's own id.
pub fn cookie(fd: BorrowedFd<'_>) -> io::Result<u64> {
    getsockopt_u64(fd, libc::SOL_SOCKET, libc::SO_COOKIE)
}

fn getsockopt_u64(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int) -> io::Result<u64> {
    let mut value: u64 = 0;
    let mut len = size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `value`, which has that
    // size; `fd` is a live descriptor for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut u64).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != size_of::<u64>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the kernel answered {len} bytes for a 64-bit option"),
        ));
    }
    Ok(value)
}

/// The state of a TCP socket (`TCP_INFO`'s `tcpi_state`).
fn tcp_state(fd: BorrowedFd<'_>) -> io::Result<u8> {
    let mut info = MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which has that size;
    // `fd` is a live descriptor for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialized and then (partly) written by the kernel; every field
    // is a plain integer, valid at any value.
    Ok(unsafe { info.assume_init() }.tcpi_state)
}

/// `fstat` of a descriptor: its file type and inode.
pub(crate) fn stat(fd: BorrowedFd<'_>) -> io::Result<(libc::mode_t, u64)> {
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat fills `st`, which is a `struct stat`; `fd` is live.
    if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: written by fstat on success; plain integers.
    let st = unsafe { st.assume_init() };
    Ok((st.st_mode & libc::S_IFMT, st.st_ino))
}

/// The group of a descriptor's file (`fstat`'s `st_gid`; for a socket, its creator's
/// group or the one its owner gave it).
pub(crate) fn file_gid(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat fills `st`, which is a `struct stat`; `fd` is live.
    if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: written by fstat on success; plain integers.
    Ok(unsafe { st.assume_init() }.st_gid)
}

/// What descriptor `fd` of process `pid` refers to (`/proc/PID/fd/FD`), for messages.
pub(crate) fn fd_target(pid: u32, fd: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("unreadable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The dual-stack table of the module docs of `discovery`, row by row.
    #[test]
    fn which_bound_addresses_serve_a_declaration() {
        let rows: &[(&str, &str, Option<bool>, bool)] = &[
            ("127.0.0.1:80", "127.0.0.1:80", None, true),
            ("127.0.0.1:80", "127.0.0.1:81", None, false),
            ("127.0.0.1:80", "127.0.0.2:80", None, false),
            ("127.0.0.1:80", "0.0.0.0:80", None, false),
            ("127.0.0.1:80", "[::ffff:127.0.0.1]:80", Some(false), true),
            ("127.0.0.1:80", "[::]:80", Some(false), false),
            ("0.0.0.0:80", "0.0.0.0:80", None, true),
            ("0.0.0.0:80", "[::]:80", Some(false), true),
            ("0.0.0.0:80", "[::]:80", Some(true), false),
            ("0.0.0.0:80", "[::]:80", None, true),
            ("[::1]:80", "[::1]:80", Some(true), true),
            ("[::1]:80", "127.0.0.1:80", None, false),
            ("[::]:80", "[::]:80", Some(true), true),
            ("[::]:80", "0.0.0.0:80", None, false),
        ];
        for &(want, local, v6only, serves_it) in rows {
            assert_eq!(
                serves(a(want), a(local), v6only),
                serves_it,
                "{want} by {local} (v6only {v6only:?})"
            );
        }
    }

    /// A wildcard of a family that receives the declared address covers it; nothing
    /// else does, and what serves does not also cover.
    #[test]
    fn which_wildcards_cover_a_declaration() {
        let rows: &[(&str, &str, Option<bool>, bool)] = &[
            ("127.0.0.1:80", "0.0.0.0:80", None, true),
            ("127.0.0.1:80", "0.0.0.0:81", None, false),
            ("127.0.0.1:80", "[::]:80", Some(false), true),
            ("127.0.0.1:80", "[::]:80", Some(true), false),
            ("0.0.0.0:80", "0.0.0.0:80", None, false),
            ("[::1]:80", "[::]:80", Some(true), true),
            ("[::1]:80", "0.0.0.0:80", None, false),
            ("127.0.0.1:80", "127.0.0.2:80", None, false),
        ];
        for &(want, local, v6only, covers_it) in rows {
            assert_eq!(
                covers(a(want), a(local), v6only),
                covers_it,
                "{want} by {local} (v6only {v6only:?})"
            );
        }
    }

    /// State names follow the kernel's numbering (`BPF_TCP_*` mirrors tcp_states.h).
    #[test]
    fn tcp_state_names() {
        assert_eq!(tcp_state_name(BPF_TCP_LISTEN as u8), "LISTEN");
        assert_eq!(tcp_state_name(BPF_TCP_CLOSE as u8), "CLOSE");
        assert_eq!(tcp_state_name(BPF_TCP_SYN_SENT as u8), "SYN_SENT");
        assert_eq!(tcp_state_name(200), "unknown");
    }
}
