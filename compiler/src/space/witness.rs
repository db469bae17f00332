//! A point as the packet it stands for ([`Packet`]): a plain struct, printed in the
//! packet syntax of `sockc test --packet` (README, "Packets"), which the testkit
//! parses into a frame, with the facts from outside the frame that the packet text
//! names (`ct STATE` when the state is not the one a packet without a conntrack entry
//! has, `route CLASS` when the class is not `local`, `in NAME` and `out NAME` when it
//! has a device: what `sockc test` assumes otherwise) and the socket state `--socket` takes beside it.
//!
//! Invariant: only the dimensions relevant to the point are read, so two points that
//! differ only where nothing is relevant print the same packet; and the printed text,
//! parsed and decoded by the testkit, gives back the point's relevant values (a test
//! of the compiler checks it against the testkit's decoder).

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use super::dims::{ct, frame, route, socket, vlan, Dim, Point};
use crate::syntax::{ast::ETHERTYPE_ARP, ct::CtState, iface::DevName, route::RouteClass};

/// The transport fields of a witness packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// No header rules can read: another protocol, or the header cut short.
    Absent,
    /// TCP (with its flags) or UDP.
    Ports {
        sport: u16,
        dport: u16,
        tcp_flags: Option<u8>,
    },
    Icmp {
        ty: u8,
        code: u8,
    },
}

/// An IP packet's fields as rules see them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPacket {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// A fragment: `mf` (IPv4) or a fragment header with `mf` (IPv6), so that the
    /// transport header stays in the packet.
    pub fragment: bool,
    pub transport: Transport,
    /// The IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The IPv4 TOS byte or IPv6 traffic class (DSCP and ECN).
    pub tos: u8,
    /// The packet's length as `length` reads it (IPv4 total length, IPv6 payload
    /// length plus 40); printed only when it is not [`IpPacket::natural_length`].
    pub length: u32,
}

/// What a point stands for: a frame (`ip: None` is a non-IP frame) and, when a socket
/// lookup means something for it, what the lookup finds (a [`socket`] value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    pub ip: Option<IpPacket>,
    pub socket: Option<u128>,
    /// A non-IP frame's EtherType.
    pub ether_type: Option<u16>,
    /// The outer VLAN tag's id.
    pub vlan: Option<u16>,
    /// The conntrack state, when it is not the one the packet has without an entry.
    pub ct: Option<CtState>,
    /// The routing class, when it is not `local`.
    pub route: Option<RouteClass>,
    /// The devices it came in on and goes out of, when it has them.
    pub iif: Option<DevName>,
    pub oif: Option<DevName>,
    /// The packet's mark, when it is not 0.
    pub mark: Option<u32>,
    /// The user and group owning the packet's socket, when a socket owns it.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The conntrack entry's status word, direction and mark, when the packet has an
    /// entry and they are not a fresh one's (no bit, original, 0).
    pub ct_status: Option<u32>,
    pub ct_reply: bool,
    pub ct_mark: Option<u32>,
    /// The calling process's command name (socket calls), when it is not the empty
    /// name no rule names.
    pub comm: Option<crate::syntax::comm::Comm>,
}

/// Ethernet header plus the fixed IPv4 / IPv6 header: where a frame is cut to leave
/// the transport header out.
const CUT_V4: usize = 14 + 20;
const CUT_V6: usize = 14 + 40;
/// An 802.1Q tag.
const TAG: usize = 4;
/// Where a non-IP frame of an IP EtherType is cut so that its IP header is not
/// complete (with or without a tag).
const CUT_NON_IP: usize = 20;
/// The IPv6 extension headers the prologue walks (`bpf::ext6`): hop-by-hop, routing,
/// fragment, AH, destination options.
const V6_WALKED: [u8; 5] = [0, 43, 44, 51, 60];

const FLAG_NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];

impl Point {
    /// The packet this point stands for.
    pub fn packet(&self) -> Packet {
        let ip = match self[Dim::Frame] {
            frame::V4 => Some((
                IpAddr::V4(Ipv4Addr::from(self[Dim::Src4] as u32)),
                IpAddr::V4(Ipv4Addr::from(self[Dim::Dst4] as u32)),
            )),
            frame::V6 => Some((
                IpAddr::V6(Ipv6Addr::from(self[Dim::Src6])),
                IpAddr::V6(Ipv6Addr::from(self[Dim::Dst6])),
            )),
            _ => None,
        };
        let ip = ip.map(|(src, dst)| IpPacket {
            src,
            dst,
            proto: self[Dim::Proto] as u8,
            fragment: self[Dim::Frag] == 1,
            transport: self.transport(),
            ttl: self[Dim::HopLimit] as u8,
            tos: (self[Dim::Dscp] << 2 | self[Dim::Ecn]) as u8,
            length: match self[Dim::Frame] {
                frame::V6 => self[Dim::Length] as u32 + 40,
                _ => self[Dim::Length] as u32,
            },
        });
        Packet {
            ip,
            socket: self.relevant(Dim::Socket).then_some(self[Dim::Socket]),
            ether_type: self
                .relevant(Dim::EtherType)
                .then_some(self[Dim::EtherType] as u16),
            vlan: (self[Dim::Vlan] != vlan::UNTAGGED).then(|| (self[Dim::Vlan] - 1) as u16),
            ct: (self.relevant(Dim::Ct) && self[Dim::Ct] != self.ct_without_entry())
                .then(|| ct::state(self[Dim::Ct])),
            route: (self.relevant(Dim::Route) && self[Dim::Route] != route::LOCAL)
                .then(|| route::class(self[Dim::Route])),
            iif: super::dev::name(self[Dim::InDev]),
            oif: super::dev::name(self[Dim::OutDev]),
            mark: (self[Dim::Mark] != 0).then_some(self[Dim::Mark] as u32),
            uid: self.owner(Dim::Uid),
            gid: self.owner(Dim::Gid),
            ct_status: (self.relevant(Dim::CtStatus) && self[Dim::CtStatus] != 0)
                .then(|| super::dims::ct_status::word(self[Dim::CtStatus])),
            ct_reply: self.relevant(Dim::CtDir) && self[Dim::CtDir] == 1,
            ct_mark: (self.relevant(Dim::CtMark) && self[Dim::CtMark] != 0)
                .then_some(self[Dim::CtMark] as u32),
            comm: (self[Dim::Comm] != 0).then(|| crate::syntax::comm::from_value(self[Dim::Comm])),
        }
    }

    fn owner(&self, d: Dim) -> Option<u32> {
        let id = self[d] as u32;
        (id != crate::syntax::owner::NO_OWNER).then_some(id)
    }

    fn transport(&self) -> Transport {
        if self.relevant(Dim::Sport) {
            Transport::Ports {
                sport: self[Dim::Sport] as u16,
                dport: self[Dim::Dport] as u16,
                tcp_flags: self
                    .relevant(Dim::TcpFlags)
                    .then_some(self[Dim::TcpFlags] as u8),
            }
        } else if self.relevant(Dim::IcmpType) {
            Transport::Icmp {
                ty: self[Dim::IcmpType] as u8,
                code: self[Dim::IcmpCode] as u8,
            }
        } else {
            Transport::Absent
        }
    }
}

impl IpPacket {
    /// The length of the packet [`Self::text`] without `length` makes: the IP header
    /// (IPv6: a fragment header too), then the transport header the testkit writes
    /// (also when `len` cuts it off: the length field counts the whole packet), or
    /// the 4 bytes of payload that carry another family's ICMP type and code.
    pub fn natural_length(&self) -> u32 {
        let v6 = self.src.is_ipv6();
        let own_icmp = if v6 { 58 } else { 1 };
        let ip = match (v6, self.fragment) {
            (false, _) => 20,
            (true, false) => 40,
            (true, true) => 48,
        };
        let l4 = match (self.proto, self.transport) {
            (6, _) => 20,
            (17, _) => 8,
            (p, _) if p == own_icmp => 8,
            (_, Transport::Icmp { .. }) => 4,
            _ => 0,
        };
        ip + l4
    }

    /// The packet in `sockc test` syntax, e.g. `tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn`.
    /// A TCP, UDP or ICMP packet whose header is absent is cut after the IP header
    /// (`len`); ICMP with the other family's protocol number is `proto N` with the
    /// type and code as payload.
    pub fn text(&self) -> String {
        self.tagged_text(None)
    }

    /// [`Self::text`] of the packet in a frame with an 802.1Q tag of this VLAN id.
    pub fn tagged_text(&self, vlan: Option<u16>) -> String {
        let v6 = self.src.is_ipv6();
        let endpoint = |a: IpAddr, port: Option<u16>| match (a, port) {
            (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
            (a, Some(p)) => format!("{a}:{p}"),
            (a, None) => a.to_string(),
        };
        let own_icmp = if v6 { 58 } else { 1 };
        let kind = match self.proto {
            6 => "tcp".to_string(),
            17 => "udp".to_string(),
            p if p == own_icmp => if v6 { "icmpv6" } else { "icmp" }.to_string(),
            p => format!("proto {p}"),
        };
        let ports = matches!(self.proto, 6 | 17);
        let (sport, dport, rest) = match self.transport {
            Transport::Ports {
                sport,
                dport,
                tcp_flags,
            } => (Some(sport), Some(dport), flags_text(tcp_flags.unwrap_or(0))),
            Transport::Icmp { ty, code } if self.proto == own_icmp => {
                (None, None, format!(" type {ty} code {code}"))
            }
            Transport::Icmp { ty, code } => {
                (None, None, format!(" payload {ty:02x}{code:02x}0000"))
            }
            Transport::Absent => {
                let zero = ports.then_some(0);
                // An IPv6 extension header the prologue walks keeps its number as the
                // protocol only when the frame ends before it (docs/language.md, "IPv6
                // extension headers"): zeros padded up to `length` would be walked.
                let cut = matches!(self.proto, 1 | 6 | 17 | 58)
                    || (v6 && V6_WALKED.contains(&self.proto));
                let rest = if cut {
                    let fh = if v6 && self.fragment { 8 } else { 0 };
                    let tag = if vlan.is_some() { TAG } else { 0 };
                    format!(" len {}", fh + tag + if v6 { CUT_V6 } else { CUT_V4 })
                } else {
                    String::new()
                };
                (zero, zero, rest)
            }
        };
        let frag = match (self.fragment, v6) {
            (false, _) => "",
            (true, false) => " mf",
            (true, true) => " ext fh mf",
        };
        let tag = vlan.map(|v| format!(" vlan {v}")).unwrap_or_default();
        // 64 is what a test packet has without `ttl`.
        let ttl = match self.ttl {
            64 => String::new(),
            t => format!(" ttl {t}"),
        };
        // 0 is what a test packet has without `dscp` or `ecn`.
        let tos = match (self.tos >> 2, self.tos & 3) {
            (0, 0) => String::new(),
            (d, 0) => format!(" dscp {d}"),
            (0, e) => format!(" ecn {e}"),
            (d, e) => format!(" dscp {d} ecn {e}"),
        };
        // Its own length is what a test packet has without `length`.
        let length = match self.length {
            n if n == self.natural_length() => String::new(),
            n => format!(" length {n}"),
        };
        format!(
            "{kind} {} -> {}{frag}{rest}{tag}{ttl}{tos}{length}",
            endpoint(self.src, sport),
            endpoint(self.dst, dport)
        )
    }
}

/// ` syn,ack` for the set bits (empty for none), as the testkit prints flags.
fn flags_text(flags: u8) -> String {
    let names: Vec<&str> = FLAG_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| flags & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" {}", names.join(","))
    }
}

impl Packet {
    /// The `sockc test --packet` text: [`Self::frame_text`], then the `ct STATE`,
    /// `route CLASS`, `in NAME`, `out NAME`, `mark N`, `uid N`, `gid N`, `ct-status NAMES`,
    /// `ct-direction reply`, `ct-mark N` and `comm NAME` facts the packet needs.
    pub fn text(&self) -> Option<String> {
        let mut t = self.frame_text()?;
        if let Some(s) = self.ct {
            t.push_str(" ct ");
            t.push_str(s.name());
        }
        if let Some(c) = self.route {
            t.push_str(" route ");
            t.push_str(c.name());
        }
        for (word, dev) in [(" in ", &self.iif), (" out ", &self.oif)] {
            if let Some(d) = dev {
                t.push_str(word);
                t.push_str(d.as_str());
            }
        }
        if let Some(m) = self.mark {
            t.push_str(&format!(" mark {m:#x}"));
        }
        for (word, id) in [(" uid ", self.uid), (" gid ", self.gid)] {
            if let Some(id) = id {
                t.push_str(word);
                t.push_str(&id.to_string());
            }
        }
        if let Some(s) = self.ct_status {
            t.push_str(" ct-status ");
            t.push_str(&crate::syntax::ct_entry::status_names(s));
        }
        if self.ct_reply {
            t.push_str(" ct-direction reply");
        }
        if let Some(m) = self.ct_mark {
            t.push_str(&format!(" ct-mark {m:#x}"));
        }
        if let Some(c) = &self.comm {
            t.push_str(" comm ");
            t.push_str(&packet_word(&crate::syntax::comm::name_of(c)));
        }
        Some(t)
    }

    /// The frame in `sockc test --packet` syntax: an IP packet, an ARP request, or for
    /// another EtherType the bytes of a packet carried under that type (cut short when
    /// the type is an IP one, so that it is not a complete IP header).
    pub fn frame_text(&self) -> Option<String> {
        if let Some(ip) = &self.ip {
            return Some(ip.tagged_text(self.vlan));
        }
        let tag = self.vlan.map(|v| format!(" vlan {v}")).unwrap_or_default();
        let t = self.ether_type.unwrap_or(0);
        Some(match t {
            ETHERTYPE_ARP => format!("arp 0.0.0.0 -> 0.0.0.0{tag}"),
            0x0800 | 0x86dd => {
                format!("proto 0 0.0.0.0 -> 0.0.0.0{tag} ether {t:#06x} len {CUT_NON_IP}")
            }
            _ => format!("proto 0 0.0.0.0 -> 0.0.0.0{tag} ether {t:#06x}"),
        })
    }

    /// The `sockc test --socket` value, when a socket lookup means something for it.
    pub fn socket_name(&self) -> Option<&'static str> {
        self.socket.map(socket::name)
    }
}

impl fmt::Display for Packet {
    /// The packet text, then `(socket STATE)` when it has one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text() {
            Some(t) => f.write_str(&t)?,
            None => f.write_str("non-IP frame")?,
        }
        if let Some(s) = self.socket_name() {
            write!(f, " (socket {s})")?;
        }
        Ok(())
    }
}

/// `name` as one word of a packet's text: quoted (`\` before a `"` or `\` in it)
/// when it has whitespace, a quote or a backslash, as `sockc test` reads it.
pub fn packet_word(name: &str) -> String {
    if !name.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
        return name.to_string();
    }
    let escaped: String = name
        .chars()
        .flat_map(|c| {
            (c == '"' || c == '\\')
                .then_some('\\')
                .into_iter()
                .chain([c])
        })
        .collect();
    format!("\"{escaped}\"")
}
