//! sock_diag: the TCP or UDP sockets bound to one port in the calling thread's
//! network namespace, IPv4 and IPv6, as the kernel's `inet_diag` reports them (a
//! `SOCK_DIAG_BY_FAMILY` dump with an `inet_diag_req_v2` per family, built and parsed
//! by netlink-packet-sock-diag).
//!
//! What the kernel reports, and what [`dump`] relies on:
//! - a dump filters on the source port itself (listening hash, established hash,
//!   UDP table), so only the declared port's sockets come back; bound-but-inactive
//!   TCP sockets (`bind()` without `listen()` or `connect()`) are listed only when the
//!   request asks for the pseudo-state `TCP_BOUND_INACTIVE` (Linux 6.8), are not
//!   filtered by port, and report state `CLOSE`;
//! - an IPv6 socket is reported in the `AF_INET6` dump with its own address — a
//!   dual-stack socket bound to an IPv4 address shows the mapped `::ffff:a.b.c.d` —
//!   and carries `INET_DIAG_SKV6ONLY` only in states `LISTEN` and `CLOSE` (so every
//!   TCP listener and every unconnected UDP socket);
//! - `idiag_inode` is the socket's inode (`socket:[N]` in `/proc/PID/fd`), 0 for
//!   request and TIME_WAIT minisockets; `idiag_cookie` is its `SO_COOKIE`, as two
//!   native-endian 32-bit halves, low half first;
//! - `idiag_uid` is the socket's owner (`sock_i_uid`: the user that created it, or
//!   that a CAP_CHOWN process gave it to with `fchown`), in the user namespace of
//!   whoever opened the netlink socket; and every full socket carries
//!   `INET_DIAG_CGROUP_ID` unasked (Linux 5.7, `CONFIG_SOCK_CGROUP_DATA`): the id of the
//!   cgroup v2 the socket was created in, which never changes afterwards — not when
//!   its process moves to another cgroup, nor when the socket is passed to a process
//!   in another one.
//!
//! Invariant: a dump is read to its `DONE`; an error message from the kernel fails the
//! whole dump with its errno. Nothing is retried.

use std::{io, net::SocketAddr, time::Duration};

use aya_obj::generated::{
    BPF_TCP_BOUND_INACTIVE, BPF_TCP_CLOSE, BPF_TCP_ESTABLISHED, BPF_TCP_LISTEN, BPF_TCP_SYN_SENT,
};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP},
    inet::{nlas::Nla, ExtensionFlags, InetRequest, SocketId, StateFlags},
    SockDiagMessage,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};

use super::SockProto;

/// One socket of a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagSocket {
    /// `BPF_TCP_*` numbering (UDP: `CLOSE` unconnected, `ESTABLISHED` connected).
    pub state: u8,
    pub local: SocketAddr,
    /// The connected peer, if any.
    pub peer: Option<SocketAddr>,
    pub inode: u64,
    pub cookie: u64,
    /// `INET_DIAG_SKV6ONLY`, when the kernel reports it (IPv6 sockets in `LISTEN` and
    /// `CLOSE`).
    pub v6only: Option<bool>,
    /// `idiag_uid`: the socket's owner.
    pub uid: u32,
    /// `INET_DIAG_CGROUP_ID`: the cgroup v2 the socket was created in (`None` from a
    /// kernel before 5.7).
    pub cgroup_id: Option<u64>,
}

impl DiagSocket {
    pub fn listening(&self) -> bool {
        u32::from(self.state) == BPF_TCP_LISTEN as u32
    }

    /// A UDP socket without a peer (state `CLOSE`).
    pub fn unconnected(&self) -> bool {
        u32::from(self.state) == BPF_TCP_CLOSE as u32
    }
}

/// The `proto` sockets bound to `port`, IPv4 then IPv6, in the kernel's order. For TCP:
/// listeners, and the sockets that were bound there but never listened (bound only,
/// or connecting from there); established connections, which a listener's accepted
/// children would be, are not asked for.
pub fn dump(proto: SockProto, port: u16) -> io::Result<Vec<DiagSocket>> {
    let (protocol, states) = match proto {
        SockProto::Tcp => (
            IPPROTO_TCP,
            StateFlags::from_bits_retain(
                1 << BPF_TCP_LISTEN as u32
                    | 1 << BPF_TCP_BOUND_INACTIVE as u32
                    | 1 << BPF_TCP_SYN_SENT as u32,
            ),
        ),
        SockProto::Udp => (
            IPPROTO_UDP,
            StateFlags::from_bits_retain(
                1 << BPF_TCP_CLOSE as u32 | 1 << BPF_TCP_ESTABLISHED as u32,
            ),
        ),
    };
    let mut out = Vec::new();
    for (family, mut id) in [
        (AF_INET, SocketId::new_v4()),
        (AF_INET6, SocketId::new_v6()),
    ] {
        id.source_port = port;
        let request = InetRequest {
            family,
            protocol,
            extensions: ExtensionFlags::empty(),
            states: states.clone(),
            socket_id: id,
        };
        for r in request_dump(request)? {
            let h = &r.header;
            let local = SocketAddr::new(h.socket_id.source_address, h.socket_id.source_port);
            // Bound-inactive sockets are not filtered by port in the kernel.
            if local.port() != port || h.family != family {
                continue;
            }
            let peer = SocketAddr::new(
                h.socket_id.destination_address,
                h.socket_id.destination_port,
            );
            let c = h.socket_id.cookie;
            let lo = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
            let hi = u32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
            out.push(DiagSocket {
                state: h.state,
                local,
                peer: (peer.port() != 0).then_some(peer),
                inode: u64::from(h.inode),
                cookie: u64::from(hi) << 32 | u64::from(lo),
                v6only: r.nlas.iter().find_map(|n| match n {
                    Nla::SkV6Only(v) => Some(*v),
                    _ => None,
                }),
                uid: h.uid,
                cgroup_id: r.nlas.iter().find_map(cgroup_id),
            });
        }
    }
    Ok(out)
}

/// `INET_DIAG_CGROUP_ID` of `include/uapi/linux/inet_diag.h` (its enum of response
/// attributes; netlink-packet-sock-diag 0.5 has no name for it, so it arrives as an
/// unknown attribute). `tests/reliability/sk_lookup_trust.rs` checks the number
/// against a socket made in a cgroup of known id.
const INET_DIAG_CGROUP_ID: u16 = 21;

/// The cgroup id an attribute carries, if it is `INET_DIAG_CGROUP_ID` (a native-endian
/// `u64`, `nla_put_u64_64bit`).
fn cgroup_id(nla: &Nla) -> Option<u64> {
    use netlink_packet_core::Nla as _;
    let Nla::Other(other) = nla else { return None };
    if other.kind() != INET_DIAG_CGROUP_ID || other.value_len() != 8 {
        return None;
    }
    let mut value = [0u8; 8];
    other.emit_value(&mut value);
    Some(u64::from_ne_bytes(value))
}

/// Sends one dump request and collects its answers up to `DONE`.
fn request_dump(
    request: InetRequest,
) -> io::Result<Vec<netlink_packet_sock_diag::inet::InetResponse>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NlAddr::new(0, 0))?;
    // The kernel answers at once; a reply that does not come is a bug, not a wait.
    socket2::SockRef::from(&socket).set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let mut packet = NetlinkMessage::new(
        header,
        NetlinkPayload::from(SockDiagMessage::InetRequest(request)),
    );
    packet.finalize();
    let mut buf = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let mut out = Vec::new();
    loop {
        let bytes = crate::netlink::receive(&socket)?;
        if bytes.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "sock_diag dump ended without DONE",
            ));
        }
        let mut at = 0;
        while at < bytes.len() {
            let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&bytes[at..])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return Err(match e.code {
                        Some(code) => io::Error::from_raw_os_error(-code.get()),
                        None => io::Error::new(
                            io::ErrorKind::InvalidData,
                            "sock_diag answered a dump with an ACK",
                        ),
                    })
                }
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => out.push(*r),
                _ => {}
            }
            if len == 0 {
                break;
            }
            at += len.next_multiple_of(4);
        }
    }
}
