//! The probe lab: which packets does a network namespace let through? A
//! [`Topology`] of three fresh namespaces (`sender — receiver — behind`, two veth
//! pairs) holds a filter in the receiver — a netfilter ruleset the lab loads
//! ([`Topology::load`]), or anything else installed there, such as sockc's programs
//! (`sockc apply --netns RECEIVER`) — and [`Topology::probe`] sends [`Probe`]s across
//! it and says, per probe, whether the receiver's stack delivered it (INPUT, and
//! `lo`), whether it arrived behind the receiver (FORWARD) or, sent by the receiver
//! itself, at the sender (OUTPUT), and what came back to the sender (an [`Answer`]: a
//! TCP reset, an ICMP error, an echo reply). Probing does not look at
//! what is installed, so the same probes replayed after a flush and another install
//! compare the two filters packet by packet. [`generate`] makes probes from a
//! ruleset's [`Interesting`] values (prefix and port-range boundaries, ICMP types,
//! hop limits) plus seeded random ones; [`Interesting::scan`] finds those values in
//! a ruleset's text until an importer can give them exactly.
//!
//! Delivered means what the IP layer hands to local sockets: a raw socket gets its
//! copy after every LOCAL_IN hook (netfilter's INPUT chains, a BPF netfilter program)
//! and after anything an XDP or TC ingress program did, so all of those are judged
//! alike; a drop later, by an `sk_lookup` program or a socket's own filter, is not
//! seen. Forwarded probes count when they reach `behind`'s stack, after the receiver's
//! FORWARD and POSTROUTING hooks and its egress; output probes when the sender's
//! packet socket gets them, after OUTPUT, POSTROUTING and anything at TC egress.
//!
//! Invariants: every probe carries a tag (the last 8 bytes of its payload, which no
//! rule of the corpus looks at) that no other probe of the run has, and only a
//! packet whose own protocol (and ICMP type) and tag are the probe's counts as that
//! probe delivered, never a quoted copy in an ICMP error; probes that could meet in
//! the connection table (same addresses and ports, either direction) never share a
//! batch, and the table is emptied before each batch, so a probe's verdict depends
//! only on the ruleset, the probe and what the ruleset's own state (rate limits,
//! `recent` lists) kept from the probes before it; a batch is read only once the
//! kernel has finished processing everything it sent (`run.rs`, settle).

mod generate;
mod netfilter;
mod run;
mod scan;
mod sys;
mod topology;
mod wire;

use std::{fmt, io, net::IpAddr, process::Output};

use crate::packet::{parse_packet, PacketSpec, L4};

pub use generate::{generate, probe_count, Generator};
pub use netfilter::{Format, Ruleset};
pub use run::ProbeOptions;
pub use scan::Interesting;
pub use topology::{LabConfig, Topology};

/// Where a probe goes, which decides the netfilter hooks it meets and where its
/// delivery is watched. (Batches run in this order.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Path {
    /// From the sender across the ingress veth to the receiver's own stack:
    /// PREROUTING, INPUT. Delivered = seen by a raw socket in the receiver.
    Input,
    /// From the receiver to itself over `lo`: OUTPUT, then INPUT with `-i lo`.
    /// Delivered = seen by a raw socket in the receiver.
    Loopback,
    /// From the receiver's stack out of the ingress veth to the sender: OUTPUT,
    /// POSTROUTING. Delivered = received by the sender.
    Output,
    /// From the sender through the receiver to the namespace behind it, out of the
    /// egress veth: PREROUTING, FORWARD, POSTROUTING. Delivered = seen by a raw
    /// socket behind the receiver.
    Forward,
}

/// Whose packet a probe is, which decides the connection-tracking state it arrives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The first packet of a connection the sender opens (`ct state new`, or
    /// `invalid` for what conntrack refuses to start a connection with).
    New,
    /// The answer to a connection the inside opened: first the watching namespace
    /// sends the opener (the probe's reverse: a TCP SYN, the UDP datagram, an ICMP
    /// echo request), then the probe comes back (`ct state established` — if the
    /// opener got out). TCP, UDP, or ICMP echo replies.
    Reply,
    /// An ICMP error about a connection the inside opened (as for [`Origin::Reply`]):
    /// the probe is a destination-unreachable (port) quoting the opener, sent from
    /// the probe's source to its destination (`ct state related`). The probe's
    /// packet names the connection: TCP or UDP.
    Related,
}

/// One probe: a packet, the way it goes, and whose it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Probe {
    pub path: Path,
    pub origin: Origin,
    /// The packet as it travels (for [`Origin::Related`], the connection the ICMP
    /// error is about, in the probe's direction). Its payload, if any, comes before
    /// the tag.
    pub packet: PacketSpec,
    /// IPv4 TTL or IPv6 hop limit as sent (rules match on it: `-m hl --hl-eq 255`).
    pub hop_limit: u8,
}

impl Probe {
    /// The length of the IP packet the probe sends (its tag and padding included), as
    /// a length match reads it.
    pub fn wire_length(&self) -> usize {
        wire::probe_packet(self, 0, None).len()
    }

    /// A probe with the default hop limit (64).
    pub fn new(path: Path, origin: Origin, packet: PacketSpec) -> Probe {
        Probe {
            path,
            origin,
            packet,
            hop_limit: 64,
        }
    }

    /// Parses `[input|forward|loopback] [new|reply|related] PACKET [hl N]`, PACKET in
    /// the packet syntax of `sockc test` (`tcp 10.0.0.1:1234 -> 1.1.1.1:22 syn`);
    /// the path defaults to `input`, the origin to `new`.
    pub fn parse(text: &str) -> Result<Probe, String> {
        let mut rest = text.trim();
        let mut word = |options: &[&str]| {
            let first = rest.split_whitespace().next().unwrap_or_default();
            let hit = options.iter().position(|o| *o == first);
            if hit.is_some() {
                rest = rest[first.len()..].trim_start();
            }
            hit
        };
        let path = match word(&["input", "forward", "loopback", "output"]) {
            Some(1) => Path::Forward,
            Some(2) => Path::Loopback,
            Some(3) => Path::Output,
            _ => Path::Input,
        };
        let origin = match word(&["new", "reply", "related"]) {
            Some(1) => Origin::Reply,
            Some(2) => Origin::Related,
            _ => Origin::New,
        };
        let (packet_text, hop_limit) = match rest.rsplit_once(" hl ") {
            Some((p, n)) => (
                p,
                n.trim()
                    .parse::<u8>()
                    .map_err(|e| format!("hop limit `{n}`: {e}"))?,
            ),
            None => (rest, 64),
        };
        let probe = Probe {
            path,
            origin,
            packet: parse_packet(packet_text)?,
            hop_limit,
        };
        probe.check()?;
        Ok(probe)
    }

    /// Why the lab cannot send this probe, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let p = &self.packet;
        if p.vlan.is_some() || p.truncate_to.is_some() || p.fragment_offset != 0 || p.more_fragments
        {
            return Err("VLAN tags, truncation and fragments are not probed".into());
        }
        if self.path != Path::Loopback && p.src == p.dst {
            return Err("the source is the destination: it cannot be remote and local".into());
        }
        if self.path == Path::Loopback && !(unicast(p.dst) || p.dst.is_loopback()) {
            return Err("a loopback probe goes to a unicast address".into());
        }
        if self.path == Path::Output && !unicast(p.dst) {
            return Err("an output probe goes to a unicast address".into());
        }
        if self.path == Path::Forward
            && self.origin != Origin::New
            && (link_local_v6(p.src) || link_local_v6(p.dst))
        {
            return Err("a forwarded connection is not between link-local addresses".into());
        }
        if matches!(self.path, Path::Loopback | Path::Output) && self.origin != Origin::New {
            return Err("loopback and output probes are new packets".into());
        }
        if self.origin != Origin::New && !(unicast(p.src) && unicast(p.dst)) {
            return Err("a connection is between unicast addresses".into());
        }
        match (self.origin, p.l4) {
            (Origin::New, _) => Ok(()),
            (Origin::Reply, L4::Tcp { .. } | L4::Udp { .. }) => Ok(()),
            (Origin::Reply, L4::Icmp { ty, .. }) if ty == echo_reply(p.is_ipv6()) => Ok(()),
            (Origin::Related, L4::Tcp { .. } | L4::Udp { .. }) => Ok(()),
            (Origin::Reply, _) => Err("a reply is TCP, UDP or an ICMP echo reply".into()),
            (Origin::Related, _) => Err("a related probe names a TCP or UDP connection".into()),
        }
    }

    /// The address family: 4 or 6.
    pub fn family(&self) -> u8 {
        if self.packet.is_ipv6() {
            6
        } else {
            4
        }
    }
}

impl Probe {
    /// The probe's address on the sender's side of the lab (routed there per batch),
    /// if it has one: the source of what the sender sends, the destination of what
    /// the receiver sends out.
    pub(crate) fn remote(&self) -> Option<IpAddr> {
        match self.path {
            Path::Input | Path::Forward => Some(self.packet.src),
            Path::Output => Some(self.packet.dst),
            Path::Loopback => None,
        }
    }

    /// The probe's address on the receiver's side (local to where it is watched).
    pub(crate) fn local(&self) -> Option<IpAddr> {
        match self.path {
            Path::Input | Path::Forward => Some(self.packet.dst),
            Path::Output => Some(self.packet.src),
            Path::Loopback => None,
        }
    }
}

/// Whether `a` can be one end of a connection between two hosts: not unspecified,
/// broadcast, multicast or loopback (such sources are martians: the kernel drops
/// them before INPUT, and nothing can answer them).
pub(crate) fn unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => {
            !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
        }
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast() || a.is_loopback()),
    }
}

/// Whether `a` is an IPv6 link-local address, which no router forwards.
pub(crate) fn link_local_v6(a: IpAddr) -> bool {
    matches!(a, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80)
}

/// The ICMP type of an echo reply in a family.
pub(crate) fn echo_reply(ipv6: bool) -> u8 {
    if ipv6 {
        129
    } else {
        0
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = match self.path {
            Path::Input => "input",
            Path::Forward => "forward",
            Path::Loopback => "loopback",
            Path::Output => "output",
        };
        write!(f, "{path} ")?;
        match self.origin {
            Origin::New => {}
            Origin::Reply => f.write_str("reply ")?,
            Origin::Related => f.write_str("related ")?,
        }
        write!(f, "{}", self.packet)?;
        if self.hop_limit != 64 {
            write!(f, " hl {}", self.hop_limit)?;
        }
        Ok(())
    }
}

/// What the sender got back for a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// Nothing.
    Nothing,
    /// A TCP segment with RST for the probe's connection (a closed port, or
    /// `REJECT --reject-with tcp-reset`).
    TcpReset,
    /// An ICMP or ICMPv6 error quoting the probe (a closed UDP port, or `REJECT`).
    IcmpError { ty: u8, code: u8 },
    /// An ICMP echo reply carrying the probe's payload.
    EchoReply,
    /// Something else for the probe's connection (a SYN-ACK from a listener).
    Other,
}

/// What became of one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// Delivered to the watching namespace's stack (INPUT, loopback) or arrived
    /// behind the receiver (FORWARD).
    pub delivered: bool,
    /// The first answer the sender got for it.
    pub answer: Answer,
    /// For [`Origin::Reply`] and [`Origin::Related`]: whether the opener reached the
    /// sender (an OUTPUT or FORWARD rule may have dropped it, and then no connection
    /// exists for the probe to answer).
    pub opener_left: Option<bool>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.delivered {
            "delivered"
        } else {
            "not delivered"
        })?;
        match self.answer {
            Answer::Nothing => {}
            Answer::TcpReset => f.write_str(", tcp reset")?,
            Answer::IcmpError { ty, code } => write!(f, ", icmp error {ty}/{code}")?,
            Answer::EchoReply => f.write_str(", echo reply")?,
            Answer::Other => f.write_str(", other answer")?,
        }
        match self.opener_left {
            Some(false) => f.write_str(" (opener did not leave)"),
            _ => Ok(()),
        }
    }
}

/// Why the lab could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("`{what}` exited {code}: {stderr}")]
    Command {
        what: String,
        code: i32,
        stderr: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error("probe {index} `{probe}`: {why}")]
    BadProbe {
        index: usize,
        probe: String,
        why: String,
    },
    #[error("the kernel had not finished processing the probes after {0:?} (CPU {1} still busy)")]
    Unsettled(std::time::Duration, usize),
}

impl LabError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> LabError {
        LabError::Io {
            what: what.into(),
            source,
        }
    }

    /// `Ok` when `out` exited 0, else the command's error with its stderr.
    pub(crate) fn check(what: String, out: &Output) -> Result<(), LabError> {
        if out.status.success() {
            return Ok(());
        }
        Err(LabError::Command {
            what,
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// The same error, its command description replaced by `what` (a batch's lines).
    pub(crate) fn context(self, what: &str) -> LabError {
        match self {
            LabError::Command { code, stderr, .. } => LabError::Command {
                what: what.to_string(),
                code,
                stderr,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;
