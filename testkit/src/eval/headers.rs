//! What a frame looks like to a rule, decoded plainly from bytes as
//! `docs/language.md` ("What a packet looks like to a rule") describes it.
//!
//! Invariant: [`decode`] reads only bytes inside the frame and never panics; a header
//! that is cut short is absent, never partly filled. This is a second, independent
//! reading of the packet format: it shares no code or constants with the BPF
//! prologue (`bpf::packet`), so the differential tests compare two implementations.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sockc_compiler::syntax::ast::Family;

/// The parts of a frame rules can test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    /// Frame length in bytes (what the byte counters add).
    pub len: usize,
    /// `None`: not an IP packet, or its fixed IP header is cut short or malformed.
    pub ip: Option<IpHeader>,
    /// The EtherType after at most one VLAN tag (`None`: the frame is cut short
    /// before it).
    pub ether_type: Option<u16>,
    /// The id of the outer VLAN tag, when the frame has one in full.
    pub vlan: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpHeader {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 protocol, or the IPv6 upper-layer protocol: the next header after the
    /// extension headers (see [`IPV6_EXT_MAX`]).
    pub proto: u8,
    /// A fragment: IPv4 with MF set or a fragment offset, IPv6 with a fragment header.
    pub fragment: bool,
    pub l4: L4Fields,
    /// The IPv4 TTL or the IPv6 hop limit.
    pub ttl: u8,
    /// The IPv4 TOS byte or the IPv6 traffic class: DSCP (top six bits) and ECN.
    pub tos: u8,
    /// The packet's length as its header gives it (`length`): the IPv4 total length,
    /// the IPv6 payload length plus 40.
    pub length: u32,
}

/// Most IPv6 extension headers (hop-by-hop, routing, fragment, destination options,
/// AH) walked to find the upper layer; a packet with more, or with one cut short,
/// keeps the number of the extension header where the walk stopped as its protocol
/// and has no transport fields (`docs/language.md`, "IPv6 extension headers").
pub const IPV6_EXT_MAX: usize = 6;

/// The transport fields, when the transport header is present in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Fields {
    /// Truncated, a non-first fragment, or a protocol without fields rules test.
    Absent,
    /// TCP (with its flags) or UDP (no flags).
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

impl IpHeader {
    pub fn family(&self) -> Family {
        match self.src {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q and 802.1ad: one tag of either kind is skipped.
const ETHERTYPE_VLAN_TAGS: [u16; 2] = [0x8100, 0x88a8];

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Decodes a whole Ethernet frame.
pub fn decode(frame: &[u8]) -> Headers {
    let (ether_type, vlan) = decode_ethernet(frame);
    Headers {
        len: frame.len(),
        ip: decode_ip(frame),
        ether_type,
        vlan,
    }
}

/// Decodes a frame as a hook whose packet starts at its network header sees it
/// (cgroup_skb): the stack has taken the Ethernet header off, and the outer EtherType
/// says what follows, so a frame with a VLAN tag still in it is no IP packet there.
/// `len` stays the frame's length, as [`decode`]'s.
pub fn decode_network(frame: &[u8]) -> Headers {
    let ether_type = u16_at(frame, 12);
    let packet = frame.get(14..);
    let ip = match (ether_type, packet) {
        (Some(ETHERTYPE_IPV4), Some(p)) => decode_ipv4(p),
        (Some(ETHERTYPE_IPV6), Some(p)) => decode_ipv6(p),
        _ => None,
    };
    Headers {
        len: frame.len(),
        ip,
        ether_type,
        vlan: None,
    }
}

/// The EtherType after at most one tag of either kind, and the tag's VLAN id; a tag
/// cut short gives neither.
fn decode_ethernet(frame: &[u8]) -> (Option<u16>, Option<u16>) {
    match u16_at(frame, 12) {
        Some(t) if ETHERTYPE_VLAN_TAGS.contains(&t) => match (u16_at(frame, 14), u16_at(frame, 16))
        {
            (Some(tci), Some(inner)) => (Some(inner), Some(tci & 0x0fff)),
            _ => (None, None),
        },
        t => (t, None),
    }
}

fn decode_ip(frame: &[u8]) -> Option<IpHeader> {
    let mut ethertype = u16_at(frame, 12)?;
    let mut l3 = 14;
    if ETHERTYPE_VLAN_TAGS.contains(&ethertype) {
        ethertype = u16_at(frame, 16)?;
        l3 = 18;
    }
    let packet = frame.get(l3..)?;
    match ethertype {
        ETHERTYPE_IPV4 => decode_ipv4(packet),
        ETHERTYPE_IPV6 => decode_ipv6(packet),
        _ => None,
    }
}

fn decode_ipv4(p: &[u8]) -> Option<IpHeader> {
    let fixed = p.get(..20)?;
    let (version, words) = (fixed[0] >> 4, usize::from(fixed[0] & 0x0f));
    if version != 4 || words < 5 {
        return None;
    }
    let proto = fixed[9];
    let fragment_field = u16_at(fixed, 6)?;
    let fragment_offset = fragment_field & 0x1fff;
    // The options may be cut short: then only the transport header is missing.
    let l4 = match p.get(words * 4..) {
        Some(rest) if fragment_offset == 0 => transport(proto, rest),
        _ => L4Fields::Absent,
    };
    Some(IpHeader {
        src: IpAddr::V4(Ipv4Addr::new(fixed[12], fixed[13], fixed[14], fixed[15])),
        dst: IpAddr::V4(Ipv4Addr::new(fixed[16], fixed[17], fixed[18], fixed[19])),
        proto,
        fragment: fragment_field & 0x3fff != 0,
        l4,
        ttl: fixed[8],
        tos: fixed[1],
        length: u32::from(u16_at(fixed, 2)?),
    })
}

fn decode_ipv6(p: &[u8]) -> Option<IpHeader> {
    let fixed = p.get(..40)?;
    if fixed[0] >> 4 != 6 {
        return None;
    }
    let addr = |at: usize| -> Option<IpAddr> {
        let octets: [u8; 16] = fixed.get(at..at + 16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(octets)))
    };
    let (proto, fragment, l4) = walk_ipv6(fixed[6], p);
    Some(IpHeader {
        src: addr(8)?,
        dst: addr(24)?,
        proto,
        fragment,
        l4,
        ttl: fixed[7],
        tos: (fixed[0] << 4) | (fixed[1] >> 4),
        length: u32::from(u16_at(fixed, 4)?) + 40,
    })
}

/// The IPv6 extension-header walk from the fixed header's next header: the protocol,
/// whether a fragment header was met, and the transport fields (absent behind a
/// non-first fragment, a chain cut short or one longer than [`IPV6_EXT_MAX`]).
fn walk_ipv6(first: u8, p: &[u8]) -> (u8, bool, L4Fields) {
    let (mut proto, mut at, mut fragment) = (first, 40usize, false);
    let mut walked = 0;
    while matches!(proto, 0 | 43 | 44 | 51 | 60) {
        let Some(h) = p.get(at..at + 8).filter(|_| walked < IPV6_EXT_MAX) else {
            return (proto, fragment, L4Fields::Absent);
        };
        let len = match proto {
            44 => 8,
            51 => (usize::from(h[1]) + 2) * 4,
            _ => (usize::from(h[1]) + 1) * 8,
        };
        if proto == 44 {
            fragment = true;
            if u16::from_be_bytes([h[2], h[3]]) & 0xfff8 != 0 {
                return (h[0], fragment, L4Fields::Absent);
            }
        }
        proto = h[0];
        at += len;
        walked += 1;
    }
    (
        proto,
        fragment,
        transport(proto, p.get(at..).unwrap_or(&[])),
    )
}

/// TCP needs its 20-byte header, UDP 8 bytes, ICMP and ICMPv6 the 4 bytes of type,
/// code and checksum.
fn transport(proto: u8, t: &[u8]) -> L4Fields {
    let ports = |min: usize, tcp_flags: Option<u8>| -> L4Fields {
        match (t.len() >= min, u16_at(t, 0), u16_at(t, 2)) {
            (true, Some(sport), Some(dport)) => L4Fields::Ports {
                sport,
                dport,
                tcp_flags,
            },
            _ => L4Fields::Absent,
        }
    };
    match proto {
        6 => ports(20, t.get(13).copied()),
        17 => ports(8, None),
        1 | 58 if t.len() >= 4 => L4Fields::Icmp {
            ty: t[0],
            code: t[1],
        },
        _ => L4Fields::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::parse_packet;

    fn ip(text: &str) -> Option<IpHeader> {
        decode(&parse_packet(text).unwrap().build()).ip
    }

    #[test]
    fn decodes_each_transport() {
        let h = ip("tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn ack").unwrap();
        assert_eq!(h.proto, 6);
        assert_eq!(
            h.l4,
            L4Fields::Ports {
                sport: 1234,
                dport: 53,
                tcp_flags: Some(0x12)
            }
        );
        let h = ip("udp [2001:db8::1]:5 -> [2001:db8::2]:53").unwrap();
        assert_eq!((h.family(), h.proto), (Family::V6, 17));
        let h = ip("icmpv6 2001:db8::1 -> 2001:db8::2 type 135 code 0").unwrap();
        assert_eq!(h.l4, L4Fields::Icmp { ty: 135, code: 0 });
        let h = ip("proto 47 10.0.0.1 -> 10.0.0.2").unwrap();
        assert_eq!((h.proto, h.l4), (47, L4Fields::Absent));
    }

    #[test]
    fn cut_headers_are_absent_not_partial() {
        // 14 Ethernet + 20 IPv4 + 19 of the 20 TCP bytes.
        let h = ip("tcp 10.0.0.1:1 -> 10.0.0.2:2 len 53").unwrap();
        assert_eq!(h.l4, L4Fields::Absent);
        assert!(ip("tcp 10.0.0.1:1 -> 10.0.0.2:2 len 33").is_none());
        // Options cut short: addresses stay, ports go.
        let h = ip("udp 10.0.0.1:1 -> 10.0.0.2:2 ipopts 10 len 40").unwrap();
        assert_eq!(h.l4, L4Fields::Absent);
        assert_eq!(decode(&[]).ip, None);
    }

    #[test]
    fn non_first_fragments_have_no_transport_fields() {
        let h = ip("udp 10.0.0.1:1 -> 10.0.0.2:2 frag 1").unwrap();
        assert_eq!(h.l4, L4Fields::Absent);
        let h = ip("udp 10.0.0.1:1 -> 10.0.0.2:2 mf").unwrap();
        assert!(matches!(h.l4, L4Fields::Ports { .. }));
    }

    #[test]
    fn ipv6_extension_headers_are_walked_up_to_the_limit() {
        let h = ip("tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext dst").unwrap();
        assert_eq!((h.proto, h.fragment), (6, false));
        assert!(matches!(h.l4, L4Fields::Ports { dport: 22, .. }));
        let h = ip("udp [2001:db8::1]:1 -> [2001:db8::2]:53 ext hbh/2,rt,ah,dst/3,fh").unwrap();
        assert_eq!((h.proto, h.fragment), (17, true));
        assert!(matches!(h.l4, L4Fields::Ports { dport: 53, .. }));
        let six = "tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext dst,dst,dst,dst,dst,dst";
        assert_eq!(ip(six).unwrap().proto, 6);
        let seven = format!("{six},dst");
        let h = ip(&seven).unwrap();
        assert_eq!((h.proto, h.l4), (60, L4Fields::Absent));
        // A chain cut inside its second header: that header's number, no ports.
        let h = ip("tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext hbh,dst len 66").unwrap();
        assert_eq!((h.proto, h.l4), (60, L4Fields::Absent));
    }

    #[test]
    fn fragments_in_both_families() {
        let h = ip("tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext fh frag 8").unwrap();
        assert_eq!((h.proto, h.fragment, h.l4), (6, true, L4Fields::Absent));
        let h = ip("tcp [2001:db8::1]:1 -> [2001:db8::2]:22 ext fh mf").unwrap();
        assert!(h.fragment && matches!(h.l4, L4Fields::Ports { .. }));
        assert!(ip("udp 10.0.0.1:1 -> 10.0.0.2:2 mf").unwrap().fragment);
        assert!(ip("udp 10.0.0.1:1 -> 10.0.0.2:2 frag 3").unwrap().fragment);
        assert!(!ip("udp 10.0.0.1:1 -> 10.0.0.2:2").unwrap().fragment);
    }

    #[test]
    fn one_vlan_tag_of_either_kind() {
        let mut f = parse_packet("udp 10.0.0.1:1 -> 10.0.0.2:2 vlan 7")
            .unwrap()
            .build();
        assert!(decode(&f).ip.is_some());
        f[12..14].copy_from_slice(&0x88a8u16.to_be_bytes());
        assert!(decode(&f).ip.is_some());
        f[16..18].copy_from_slice(&0x8100u16.to_be_bytes()); // a second tag: not IP
        assert!(decode(&f).ip.is_none());
    }

    #[test]
    fn wrong_version_is_not_ip() {
        let mut f = parse_packet("udp 10.0.0.1:1 -> 10.0.0.2:2")
            .unwrap()
            .build();
        f[14] = 0x65;
        assert!(decode(&f).ip.is_none());
        f[14] = 0x44; // IHL 4
        assert!(decode(&f).ip.is_none());
    }
}
