//! The rtnetlink requests the runtime makes itself, in the namespace it runs in: list
//! the TC filters on an interface's clsact hook with the program each runs (so sockc
//! can tell its own filters from another tool's before it replaces or deletes one),
//! put a BPF program on a clsact hook as a direct-action filter, swap a filter's
//! program, delete a filter, create, find and delete the clsact qdisc, and read which
//! XDP program an interface runs (to name who holds a hook). Messages are built and
//! parsed by netlink-packet-route; the clsact handles come from the kernel UAPI
//! bindings.
//!
//! Invariant: every request is answered in full (a dump until its `DONE`, a change
//! until its ACK) or fails with the kernel's errno; nothing here retries or guesses.

use std::io;

use aya_obj::generated::{TC_H_CLSACT, TC_H_MAJ_MASK, TC_H_MIN_EGRESS, TC_H_MIN_INGRESS};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_ECHO,
    NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::{
    link::{LinkAttribute, LinkMessage, LinkXdp, XdpAttached},
    tc::{TcAttribute, TcBpfFlags, TcFilterBpfOption, TcHandle, TcMessage, TcOption},
    RouteNetlinkMessage,
};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Which clsact hook of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClsactHook {
    Ingress,
    Egress,
}

impl ClsactHook {
    /// The parent handle of the hook's filters (`ffff:fff2` or `ffff:fff3`).
    fn parent(self) -> u32 {
        (TC_H_CLSACT & TC_H_MAJ_MASK)
            | match self {
                ClsactHook::Ingress => TC_H_MIN_INGRESS,
                ClsactHook::Egress => TC_H_MIN_EGRESS,
            }
    }
}

/// One filter on a clsact hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcFilterInfo {
    pub priority: u16,
    pub handle: u32,
    /// `bpf`, `u32`, `flower`, ...
    pub kind: String,
    /// For a `bpf` filter: the program it runs.
    pub prog_id: Option<u32>,
}

/// Sends `msg` and collects the answers: every message of a dump, or nothing for an
/// acknowledged change.
fn request(msg: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<RouteNetlinkMessage>> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    // The kernel answers at once; a reply that does not come is a bug, not a wait.
    set_receive_timeout(&socket, std::time::Duration::from_secs(5))?;
    let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    header.sequence_number = 1;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    packet.finalize();
    let mut buf = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let mut out = Vec::new();
    loop {
        let bytes = receive(&socket)?;
        let mut at = 0;
        while at < bytes.len() {
            let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[at..])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        None => Ok(out), // the ACK of a change
                    };
                }
                NetlinkPayload::InnerMessage(m) => {
                    out.push(m);
                    // A plain get is answered by one message, with no DONE after it.
                    if !dump && flags & NLM_F_ACK == 0 {
                        return Ok(out);
                    }
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            at += len.next_multiple_of(4);
        }
    }
}

/// The next datagram on `socket`. A receive with a timeout (as
/// [`set_receive_timeout`] sets) fails with EINTR when the process is stopped and
/// continued, even with no signal handler (signal(7)); the answer is still coming,
/// so it is waited for again.
pub(crate) fn receive(socket: &Socket) -> io::Result<Vec<u8>> {
    loop {
        match socket.recv_from_full() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r.map(|(bytes, _)| bytes),
        }
    }
}

pub(crate) fn set_receive_timeout(socket: &Socket, t: std::time::Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: setsockopt reads `tv` (its size given) on a socket we own.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The filters on the clsact `hook` of interface `ifindex` (empty when the interface
/// has no clsact qdisc).
pub fn clsact_filters(ifindex: u32, hook: ClsactHook) -> io::Result<Vec<TcFilterInfo>> {
    let mut msg = TcMessage::with_index(ifindex as i32);
    msg.header.parent = TcHandle::from(hook.parent());
    let answers = match request(RouteNetlinkMessage::GetTrafficFilter(msg), NLM_F_DUMP) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(Vec::new()),
        r => r?,
    };
    let mut out = Vec::new();
    for m in answers {
        let RouteNetlinkMessage::NewTrafficFilter(f) = m else {
            continue;
        };
        let mut info = TcFilterInfo {
            priority: (f.header.info >> 16) as u16,
            handle: u32::from(f.header.handle),
            kind: String::new(),
            prog_id: None,
        };
        for a in &f.attributes {
            match a {
                TcAttribute::Kind(k) => info.kind = k.clone(),
                TcAttribute::Options(opts) => {
                    for o in opts {
                        if let TcOption::Bpf(TcFilterBpfOption::ProgId(id)) = o {
                            info.prog_id = Some(*id);
                        }
                    }
                }
                _ => {}
            }
        }
        // A dump lists each filter's chain head too (handle 0); only real filters.
        if info.handle != 0 {
            out.push(info);
        }
    }
    Ok(out)
}

/// A filter's `tcm_info`: its priority, and the protocol it sees (`ETH_P_ALL`, in
/// network byte order, as `tc` writes it).
fn filter_info(priority: u16) -> u32 {
    (u32::from(priority) << 16) | u32::from((libc::ETH_P_ALL as u16).to_be())
}

/// Puts program `prog` (kernel name `name`) on the clsact `hook` of interface
/// `ifindex` as a direct-action `bpf` filter. `at: None` makes a new filter (the
/// kernel picks its priority and handle, and refuses to overwrite one); `Some((prio,
/// handle))` swaps the program of that filter in one step. Returns the filter's
/// priority and handle.
pub fn put_bpf_filter(
    ifindex: u32,
    hook: ClsactHook,
    prog: std::os::fd::BorrowedFd<'_>,
    name: &str,
    at: Option<(u16, u32)>,
) -> io::Result<(u16, u32)> {
    use std::os::fd::AsRawFd;
    let (priority, handle) = at.unwrap_or((0, 0));
    let mut msg = TcMessage::with_index(ifindex as i32);
    msg.header.parent = TcHandle::from(hook.parent());
    msg.header.handle = TcHandle::from(handle);
    msg.header.info = filter_info(priority);
    msg.attributes.push(TcAttribute::Kind("bpf".into()));
    msg.attributes.push(TcAttribute::Options(vec![
        TcOption::Bpf(TcFilterBpfOption::ProgFd(prog.as_raw_fd() as u32)),
        TcOption::Bpf(TcFilterBpfOption::ProgName(name.into())),
        TcOption::Bpf(TcFilterBpfOption::Flags(TcBpfFlags::DirectAction)),
    ]));
    // A new filter must not take another's place; a swap names its filter exactly
    // (cls_bpf changes the program of the filter at that priority and handle).
    let create = if at.is_none() {
        NLM_F_CREATE | NLM_F_EXCL
    } else {
        0
    };
    let answers = request(
        RouteNetlinkMessage::NewTrafficFilter(msg),
        NLM_F_ACK | NLM_F_ECHO | create,
    )?;
    answers
        .iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewTrafficFilter(f) => {
                Some(((f.header.info >> 16) as u16, u32::from(f.header.handle)))
            }
            _ => None,
        })
        .ok_or_else(|| io::Error::other("the kernel did not echo the new filter"))
}

/// Deletes the filter at `priority` and `handle` on the clsact `hook` of `ifindex`.
pub fn delete_filter(ifindex: u32, hook: ClsactHook, priority: u16, handle: u32) -> io::Result<()> {
    let mut msg = TcMessage::with_index(ifindex as i32);
    msg.header.parent = TcHandle::from(hook.parent());
    msg.header.handle = TcHandle::from(handle);
    msg.header.info = filter_info(priority);
    request(RouteNetlinkMessage::DelTrafficFilter(msg), NLM_F_ACK).map(|_| ())
}

/// Creates the clsact qdisc of interface `ifindex` (`EEXIST` when it has one).
pub fn add_clsact(ifindex: u32) -> io::Result<()> {
    let mut msg = TcMessage::with_index(ifindex as i32);
    msg.header.parent = TcHandle::CLSACT;
    msg.header.handle = TcHandle::from(TC_H_CLSACT & TC_H_MAJ_MASK);
    msg.attributes.push(TcAttribute::Kind("clsact".into()));
    request(
        RouteNetlinkMessage::NewQueueDiscipline(msg),
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    )
    .map(|_| ())
}

/// Whether interface `ifindex` has a clsact qdisc.
pub fn has_clsact(ifindex: u32) -> io::Result<bool> {
    let answers = request(
        RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
        NLM_F_DUMP,
    )?;
    Ok(answers.iter().any(|m| {
        matches!(m, RouteNetlinkMessage::NewQueueDiscipline(q)
            if q.header.index == ifindex as i32
                && q.header.parent == TcHandle::CLSACT
                && q.attributes.iter().any(|a| matches!(a, TcAttribute::Kind(k) if k == "clsact")))
    }))
}

/// Deletes the clsact qdisc of interface `ifindex`, and with it every filter on it.
pub fn delete_clsact(ifindex: u32) -> io::Result<()> {
    let mut msg = TcMessage::with_index(ifindex as i32);
    msg.header.parent = TcHandle::CLSACT;
    msg.header.handle = TcHandle::from(TC_H_CLSACT & TC_H_MAJ_MASK);
    msg.attributes.push(TcAttribute::Kind("clsact".into()));
    request(RouteNetlinkMessage::DelQueueDiscipline(msg), NLM_F_ACK).map(|_| ())
}

/// Whether interface `ifindex` runs its XDP program in generic (skb) mode.
pub fn xdp_generic(ifindex: u32) -> io::Result<bool> {
    let mut msg = LinkMessage::default();
    msg.header.index = ifindex;
    let answers = request(RouteNetlinkMessage::GetLink(msg), 0)?;
    Ok(answers.iter().any(|m| {
        matches!(m, RouteNetlinkMessage::NewLink(l) if l.attributes.iter().any(|a| {
            matches!(a, LinkAttribute::Xdp(xdp)
                if xdp.iter().any(|x| matches!(x, LinkXdp::Attached(XdpAttached::SocketBuffer))))
        }))
    }))
}

/// The XDP program interface `ifindex` runs, if any.
pub fn xdp_prog_id(ifindex: u32) -> io::Result<Option<u32>> {
    let mut msg = LinkMessage::default();
    msg.header.index = ifindex;
    let answers = request(RouteNetlinkMessage::GetLink(msg), 0)?;
    for m in answers {
        let RouteNetlinkMessage::NewLink(l) = m else {
            continue;
        };
        for a in &l.attributes {
            if let LinkAttribute::Xdp(xdp) = a {
                for x in xdp {
                    if let LinkXdp::ProgId(id) = x {
                        if *id != 0 {
                            return Ok(Some(*id));
                        }
                    }
                }
            }
        }
    }
    Ok(None)
}
