//! Probes on the wire: the IP packets and Ethernet frames the lab sends for a probe
//! (built by [`crate::packet`], then given their tag, hop limit, acknowledgement
//! number and MAC addresses), and the reading of what comes back — which probe a
//! packet delivered to a raw socket is, and what a frame the sender receives answers.
//! Invariant: every packet made here has correct lengths and checksums (fields are
//! changed with an incremental checksum update), and a packet is attributed to a
//! probe only by the tag at its very end or, for TCP answers without payload, by the
//! probe's exact addresses and ports reversed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{echo_reply, Origin, Probe};
use crate::packet::{checksum, tcp_flags, PacketSpec, L4};

/// Length of a tag: 4 bytes of magic, a 4-byte id.
pub(crate) const TAG_LEN: usize = 8;
const MAGIC: [u8; 4] = *b"nfpb";
/// Set in the id of an opener's tag (the rest is its probe's index).
pub(crate) const OPENER: u32 = 1 << 31;

const ETH_HLEN: usize = 14;

pub(crate) fn tag(id: u32) -> [u8; TAG_LEN] {
    let mut t = [0u8; TAG_LEN];
    t[..4].copy_from_slice(&MAGIC);
    t[4..].copy_from_slice(&id.to_be_bytes());
    t
}

/// The id of the tag `bytes` end with, if they end with one.
pub(crate) fn tag_at_end(bytes: &[u8]) -> Option<u32> {
    let t = bytes.get(bytes.len().checked_sub(TAG_LEN)?..)?;
    (t[..4] == MAGIC).then(|| u32::from_be_bytes([t[4], t[5], t[6], t[7]]))
}

/// The IP packet of `spec` with `extra` after its payload (and padding), ready for the
/// wire.
fn ip_packet(spec: &PacketSpec, extra: &[u8]) -> Vec<u8> {
    let mut spec = spec.clone();
    // A probe's padding (`length`) comes before its tag, which ends the packet.
    if let Some(l) = spec.length.take() {
        let room = (l as usize).saturating_sub(spec.natural_length() + extra.len());
        spec.payload.resize(spec.payload.len() + room, 0);
    }
    spec.payload.extend_from_slice(extra);
    spec.build()[ETH_HLEN..].to_vec()
}

fn echo_request(ipv6: bool) -> u8 {
    if ipv6 {
        128
    } else {
        8
    }
}

/// The packet the inside sends first for a [`Origin::Reply`] or [`Origin::Related`]
/// probe: the probe's reverse (a SYN for TCP, an echo request for an echo reply), with
/// sequence number 0, tagged `id | OPENER`.
pub(crate) fn opener_packet(probe: &Probe, id: u32) -> Vec<u8> {
    let p = &probe.packet;
    let l4 = match p.l4 {
        L4::Tcp { sport, dport, .. } => L4::Tcp {
            sport: dport,
            dport: sport,
            flags: tcp_flags::SYN,
        },
        L4::Udp { sport, dport } => L4::Udp {
            sport: dport,
            dport: sport,
        },
        L4::Icmp { .. } => L4::Icmp {
            ty: echo_request(p.is_ipv6()),
            code: 0,
        },
        other => other,
    };
    ip_packet(&PacketSpec::new(p.dst, p.src, l4), &tag(id | OPENER))
}

/// An opener as it reached the sender, after whatever NAT the receiver did: a
/// reply goes back to its source address and port (or ICMP echo id), as a real
/// peer's would, and an ICMP error about it quotes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub src: IpAddr,
    /// TCP or UDP source port, or ICMP echo identifier.
    pub port: u16,
    /// The opener's IP packet.
    pub packet: Vec<u8>,
}

/// The IP packet of probe `id` as it is sent; `seen` is its opener as the sender
/// got it, if it got out.
pub(crate) fn probe_packet(probe: &Probe, id: u32, seen: Option<&Seen>) -> Vec<u8> {
    let p = &probe.packet;
    let mut ip = match probe.origin {
        Origin::New => ip_packet(p, &tag(id)),
        Origin::Reply => {
            let mut spec = p.clone();
            let mut echo_id = None;
            if let Some(s) = seen {
                spec.dst = s.src;
                match &mut spec.l4 {
                    L4::Tcp { dport, .. } | L4::Udp { dport, .. } => *dport = s.port,
                    L4::Icmp { .. } => echo_id = Some(s.port),
                    L4::Other { .. } => {}
                }
            }
            let mut ip = ip_packet(&spec, &tag(id));
            if let L4::Tcp { flags, .. } = p.l4 {
                if flags & tcp_flags::ACK != 0 {
                    // The opener's SYN has sequence number 0.
                    set_l4_u32(&mut ip, 8, 16, 1);
                }
            }
            if let Some(echo) = echo_id {
                set_l4_u16(&mut ip, 4, 2, echo);
            }
            ip
        }
        Origin::Related => {
            let (ty, code) = unreachable_port(p.is_ipv6());
            let dst = seen.map_or(p.dst, |s| s.src);
            let error = PacketSpec::new(p.src, dst, L4::Icmp { ty, code });
            let mut quoted = seen.map_or_else(|| opener_packet(probe, id), |s| s.packet.clone());
            quoted.extend_from_slice(&tag(id));
            ip_packet(&error, &quoted)
        }
    };
    set_hop_limit(&mut ip, probe.hop_limit);
    ip
}

/// ICMP destination unreachable, port unreachable (type, code) for a family.
pub(crate) fn unreachable_port(ipv6: bool) -> (u8, u8) {
    if ipv6 {
        (1, 4)
    } else {
        (3, 3)
    }
}

/// The IP protocol and, for ICMP, the type that the probe's delivered copy has.
pub(crate) fn wire_kind(probe: &Probe) -> (u8, Option<u8>) {
    let ipv6 = probe.packet.is_ipv6();
    match (probe.origin, probe.packet.l4) {
        (Origin::Related, _) => {
            let icmp = if ipv6 { 58 } else { 1 };
            (icmp, Some(unreachable_port(ipv6).0))
        }
        (_, L4::Icmp { ty, .. }) => (probe.packet.l4.protocol(ipv6), Some(ty)),
        (_, l4) => (l4.protocol(ipv6), None),
    }
}

/// Where the L4 header starts in an IP packet.
fn l4_offset(ip: &[u8]) -> usize {
    if ip[0] >> 4 == 4 {
        usize::from(ip[0] & 0x0f) * 4
    } else {
        40
    }
}

/// One's-complement update of checksum `csum` for a 16-bit word going from `old` to
/// `new` (RFC 1624, eqn. 3).
fn csum_replace(csum: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!csum) + u32::from(!old) + u32::from(new);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes the 16-bit `value` at `at` in the L4 header, updating the checksum at
/// `csum_at` (both offsets from the L4 header's start).
fn set_l4_u16(ip: &mut [u8], at: usize, csum_at: usize, value: u16) {
    let o = l4_offset(ip);
    let (at, c) = (o + at, o + csum_at);
    let old = u16::from_be_bytes([ip[at], ip[at + 1]]);
    let csum = csum_replace(u16::from_be_bytes([ip[c], ip[c + 1]]), old, value);
    ip[at..at + 2].copy_from_slice(&value.to_be_bytes());
    ip[c..c + 2].copy_from_slice(&csum.to_be_bytes());
}

/// [`set_l4_u16`] for a 32-bit field.
fn set_l4_u32(ip: &mut [u8], at: usize, csum_at: usize, value: u32) {
    set_l4_u16(ip, at, csum_at, (value >> 16) as u16);
    set_l4_u16(ip, at + 2, csum_at, value as u16);
}

fn set_hop_limit(ip: &mut [u8], hop_limit: u8) {
    if ip[0] >> 4 == 6 {
        ip[7] = hop_limit; // no IPv6 header checksum; not in the pseudo-header
        return;
    }
    ip[8] = hop_limit;
    let hlen = l4_offset(ip);
    ip[10..12].fill(0);
    let c = checksum(&ip[..hlen]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
}

/// The Ethernet frame around `ip` going to `dst`: to the receiver's MAC, or to the
/// group's (broadcast) MAC for a multicast (broadcast) destination.
pub(crate) fn ethernet(ip: &[u8], dst: IpAddr, receiver: [u8; 6], sender: [u8; 6]) -> Vec<u8> {
    let (dst_mac, ethertype) = match dst {
        IpAddr::V4(a) if a == Ipv4Addr::BROADCAST => ([0xff; 6], 0x0800u16),
        IpAddr::V4(a) if a.is_multicast() => {
            let o = a.octets();
            ([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]], 0x0800)
        }
        IpAddr::V4(_) => (receiver, 0x0800),
        IpAddr::V6(a) if a.is_multicast() => {
            let o = a.octets();
            ([0x33, 0x33, o[12], o[13], o[14], o[15]], 0x86dd)
        }
        IpAddr::V6(_) => (receiver, 0x86dd),
    };
    let mut f = Vec::with_capacity(ETH_HLEN + ip.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

/// A packet a raw observer socket read: the tag's id and the L4 header's first byte
/// (the ICMP type), when it ends with a tag. IPv4 raw sockets read from the IP
/// header, IPv6 ones from the L4 header.
pub(crate) fn observed(data: &[u8], ipv6: bool) -> Option<(u32, u8)> {
    let id = tag_at_end(data)?;
    let l4 = if ipv6 {
        data
    } else {
        data.get(l4_offset(data)..)?
    };
    Some((id, *l4.first()?))
}

/// What a frame arriving at the sender is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Returned {
    /// A packet ending with a tag: an opener (`id` has [`OPENER`]), an ICMP error
    /// quoting a probe, an echo reply. `port` is the TCP/UDP source port or the ICMP
    /// echo identifier.
    Tagged {
        id: u32,
        proto: u8,
        icmp: (u8, u8),
        src: IpAddr,
        port: u16,
    },
    /// A TCP segment without a tag.
    Tcp {
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        flags: u8,
    },
}

/// An IP packet's protocol, addresses and L4 bytes.
pub(crate) fn parse_ip(ip: &[u8]) -> Option<(u8, IpAddr, IpAddr, &[u8])> {
    match ip.first()? >> 4 {
        4 if ip.len() >= 20 => Some((
            ip[9],
            IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&ip[12..16]).ok()?)),
            IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&ip[16..20]).ok()?)),
            ip.get(l4_offset(ip)..)?,
        )),
        6 if ip.len() >= 40 => Some((
            ip[6],
            IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?)),
            IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?)),
            &ip[40..],
        )),
        _ => None,
    }
}

/// The TCP ends of an IP packet: (source, sport, destination, dport).
pub(crate) fn tcp_ends(ip: &[u8]) -> Option<(IpAddr, u16, IpAddr, u16)> {
    let (proto, src, dst, l4) = parse_ip(ip)?;
    (proto == 6 && l4.len() >= 4).then(|| {
        (
            src,
            u16::from_be_bytes([l4[0], l4[1]]),
            dst,
            u16::from_be_bytes([l4[2], l4[3]]),
        )
    })
}

/// Reads a frame the sender received; `None` for anything that is not IP.
pub(crate) fn returned(frame: &[u8]) -> Option<Returned> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype != 0x0800 && ethertype != 0x86dd {
        return None;
    }
    let (proto, src, dst, l4) = parse_ip(frame.get(ETH_HLEN..)?)?;
    if let Some(id) = tag_at_end(l4) {
        let icmp = (*l4.first()?, *l4.get(1)?);
        let port = match proto {
            1 | 58 => u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]),
            _ => u16::from_be_bytes([l4[0], l4[1]]),
        };
        return Some(Returned::Tagged {
            id,
            proto,
            icmp,
            src,
            port,
        });
    }
    if proto == 6 && l4.len() >= 20 {
        return Some(Returned::Tcp {
            src,
            dst,
            sport: u16::from_be_bytes([l4[0], l4[1]]),
            dport: u16::from_be_bytes([l4[2], l4[3]]),
            flags: l4[13],
        });
    }
    None
}

/// Whether ICMP type `ty` is an error message (it quotes the packet it is about).
pub(crate) fn is_icmp_error(ty: u8, ipv6: bool) -> bool {
    if ipv6 {
        (1..=4).contains(&ty)
    } else {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    }
}

/// Whether ICMP type `ty` is an echo reply.
pub(crate) fn is_echo_reply(ty: u8, ipv6: bool) -> bool {
    ty == echo_reply(ipv6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::decode;

    fn probe(text: &str) -> Probe {
        Probe::parse(text).expect("probe parses")
    }

    /// The checksum of an IP packet's L4 segment (with its pseudo-header, but for
    /// ICMPv4) verifies.
    fn l4_checksum_ok(ip: &[u8]) -> bool {
        let o = l4_offset(ip);
        let seg = &ip[o..];
        if ip[0] >> 4 == 4 && ip[9] == 1 {
            return checksum(seg) == 0;
        }
        let mut pseudo = Vec::new();
        if ip[0] >> 4 == 4 {
            pseudo.extend_from_slice(&ip[12..20]);
            pseudo.extend_from_slice(&[0, ip[9]]);
            pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        } else {
            pseudo.extend_from_slice(&ip[8..40]);
            pseudo.extend_from_slice(&(seg.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, ip[6]]);
        }
        pseudo.extend_from_slice(seg);
        checksum(&pseudo) == 0
    }

    #[test]
    fn tags_round_trip_and_only_at_the_end() {
        let mut b = b"hello".to_vec();
        b.extend_from_slice(&tag(77));
        assert_eq!(tag_at_end(&b), Some(77));
        b.push(0);
        assert_eq!(tag_at_end(&b), None);
        assert_eq!(tag_at_end(b"short"), None);
    }

    #[test]
    fn a_reply_acknowledges_the_openers_syn_with_a_valid_checksum() {
        let p = probe("input reply tcp 198.51.100.7:443 -> 192.0.2.1:40000 syn,ack hl 255");
        let ip = probe_packet(&p, 5, None);
        let o = l4_offset(&ip);
        assert_eq!(&ip[o + 8..o + 12], &1u32.to_be_bytes());
        assert_eq!(ip[8], 255);
        assert_eq!(checksum(&ip[..20]), 0, "IPv4 header checksum");
        assert!(l4_checksum_ok(&ip));
        let opener = opener_packet(&p, 5);
        assert_eq!(tag_at_end(&opener), Some(5 | OPENER));
        let frame = ethernet(&opener, "198.51.100.7".parse().unwrap(), [2; 6], [4; 6]);
        let d = decode(&frame).ip.expect("IP");
        assert_eq!((d.src, d.dst), (p.packet.dst, p.packet.src));
    }

    #[test]
    fn a_related_probe_quotes_its_opener_and_ends_with_its_own_tag() {
        let p = probe("related udp [2001:db8::7]:53 -> [2001:db8::1]:40000");
        let ip = probe_packet(&p, 9, None);
        assert_eq!(ip[6], 58);
        assert_eq!(&ip[40..42], &[1, 4]);
        assert_eq!(tag_at_end(&ip), Some(9));
        assert!(l4_checksum_ok(&ip));
        let quoted = &ip[48..];
        assert_eq!(
            tag_at_end(&quoted[..quoted.len() - TAG_LEN]),
            Some(9 | OPENER)
        );
        assert_eq!(wire_kind(&p), (58, Some(1)));
    }

    #[test]
    fn a_reply_goes_where_the_opener_came_from_after_nat() {
        for text in [
            "reply tcp 198.51.100.7:443 -> 192.168.1.10:40000 syn,ack",
            "reply icmp 198.51.100.7 -> 192.168.1.10 type 0 code 0",
            "reply udp [2001:db8::7]:53 -> [fd00::10]:40000",
        ] {
            let p = probe(text);
            let v6 = p.packet.is_ipv6();
            let src: IpAddr = if v6 { "fdff::2" } else { "169.254.0.2" }.parse().unwrap();
            let seen = Seen {
                src,
                port: 61000,
                packet: opener_packet(&p, 1),
            };
            let ip = probe_packet(&p, 1, Some(&seen));
            let (_, _, dst, l4) = parse_ip(&ip).expect("IP");
            assert_eq!(dst, src, "{text}");
            let at = if matches!(p.packet.l4, L4::Icmp { .. }) {
                4
            } else {
                2
            };
            assert_eq!(&l4[at..at + 2], &61000u16.to_be_bytes(), "{text}");
            assert!(l4_checksum_ok(&ip), "{text}");
            let related = Probe {
                origin: Origin::Related,
                ..probe(&text.replace(
                    "reply icmp 198.51.100.7 -> 192.168.1.10 type 0 code 0",
                    "reply udp 198.51.100.7:53 -> 192.168.1.10:40000",
                ))
            };
            let ip = probe_packet(&related, 2, Some(&seen));
            let (_, _, dst, l4) = parse_ip(&ip).expect("IP");
            assert_eq!(dst, src);
            assert_eq!(
                &l4[8..8 + seen.packet.len()],
                &seen.packet[..],
                "quotes the opener as seen"
            );
        }
    }

    #[test]
    fn multicast_and_broadcast_frames_go_to_group_macs() {
        let f = ethernet(&[0x45], "224.0.0.251".parse().unwrap(), [2; 6], [4; 6]);
        assert_eq!(&f[..6], &[0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);
        let f = ethernet(&[0x60], "ff02::fb".parse().unwrap(), [2; 6], [4; 6]);
        assert_eq!(&f[..6], &[0x33, 0x33, 0, 0, 0, 0xfb]);
        let f = ethernet(&[0x45], "255.255.255.255".parse().unwrap(), [2; 6], [4; 6]);
        assert_eq!(&f[..6], &[0xff; 6]);
        let f = ethernet(&[0x45], "192.0.2.1".parse().unwrap(), [2; 6], [4; 6]);
        assert_eq!(&f[..12], &[2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4]);
    }

    #[test]
    fn returned_frames_are_read_by_tag_or_by_tcp_ports() {
        let p = probe("icmp 198.51.100.7 -> 192.0.2.1 type 8 code 0");
        let ip = probe_packet(&p, 3, None);
        let f = ethernet(&ip, "192.0.2.1".parse().unwrap(), [2; 6], [4; 6]);
        assert_eq!(
            returned(&f),
            Some(Returned::Tagged {
                id: 3,
                proto: 1,
                icmp: (8, 0),
                src: p.packet.src,
                port: 0,
            })
        );
        let rst = PacketSpec::new(
            "192.0.2.1".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
            L4::Tcp {
                sport: 22,
                dport: 40000,
                flags: tcp_flags::RST | tcp_flags::ACK,
            },
        )
        .build();
        assert!(matches!(
            returned(&rst),
            Some(Returned::Tcp {
                sport: 22,
                dport: 40000,
                flags: 0x14,
                ..
            })
        ));
        assert_eq!(observed(&ip, false), Some((3, 8)));
    }
}
