//! Frames built from specs (lengths, checksums, options, VLAN, truncation), the text
//! form parsed and printed back, and parse errors.

use std::net::Ipv6Addr;

use super::*;

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse().unwrap())
}
fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse().unwrap())
}

/// Independent ones' complement sum (no final complement), folded to 16 bits.
fn ones_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let hi = u32::from(bytes[i]) << 8;
        let lo = bytes.get(i + 1).map_or(0, |&b| u32::from(b));
        sum += hi | lo;
        sum = (sum & 0xffff) + (sum >> 16);
        i += 2;
    }
    sum as u16
}

fn be16(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// Pseudo-header built independently of the module's helper.
fn pseudo(f: &[u8], l3: usize, l4_len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    if f[l3] >> 4 == 4 {
        p.extend_from_slice(&f[l3 + 12..l3 + 20]);
        p.extend_from_slice(&[0, f[l3 + 9]]);
        p.extend_from_slice(&(l4_len as u16).to_be_bytes());
    } else {
        p.extend_from_slice(&f[l3 + 8..l3 + 40]);
        p.extend_from_slice(&(l4_len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, f[l3 + 6]]);
    }
    p
}

fn l4_checksum_ok(f: &[u8], l3: usize, l4: usize) -> bool {
    let mut all = pseudo(f, l3, f.len() - l4);
    all.extend_from_slice(&f[l4..]);
    if all.len() % 2 == 1 {
        all.push(0);
    }
    ones_sum(&all) == 0xffff
}

#[test]
fn ipv4_tcp_syn_byte_exact() {
    let spec = PacketSpec::new(
        v4("10.0.0.1"),
        v4("1.1.1.1"),
        L4::Tcp {
            sport: 1234,
            dport: 53,
            flags: tcp_flags::SYN,
        },
    );
    let f = spec.build();
    #[rustfmt::skip]
        let expected: [u8; 54] = [
            // Ethernet
            0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,
            // IPv4: v4 IHL5, tos, len 40, id 0, flags/frag 0, ttl 64, tcp, csum
            0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x40, 0x06, 0x6e, 0xce,
            10, 0, 0, 1, 1, 1, 1, 1,
            // TCP: 1234 -> 53, seq 0, ack 0, doff 5, SYN, win 65535, csum, urg 0
            0x04, 0xd2, 0x00, 0x35, 0, 0, 0, 0, 0, 0, 0, 0,
            0x50, 0x02, 0xff, 0xff, 0x9e, 0xd9, 0x00, 0x00,
        ];
    assert_eq!(f, expected);
    // Recompute independently: sum over a header including its checksum is 0xffff.
    assert_eq!(ones_sum(&f[14..34]), 0xffff);
    assert!(l4_checksum_ok(&f, 14, 34));
    assert_eq!(spec.l3_offset(), 14);
    assert_eq!(spec.l4_offset(), 34);
    assert_eq!(spec.untruncated_len(), 54);
}

#[test]
fn ipv6_udp_checksum() {
    let mut spec = PacketSpec::new(
        v6("2001:db8::1"),
        v6("2001:db8::2"),
        L4::Udp {
            sport: 5000,
            dport: 53,
        },
    );
    spec.payload = b"hello".to_vec(); // odd length
    let f = spec.build();
    assert_eq!(f.len(), 14 + 40 + 8 + 5);
    assert_eq!(be16(&f, 12), 0x86DD);
    assert_eq!(f[14] >> 4, 6);
    assert_eq!(be16(&f, 18), 13); // payload length
    assert_eq!(f[20], IPPROTO_UDP);
    assert_eq!(f[21], 64);
    assert_eq!(&f[22..38], &v6_octets("2001:db8::1"));
    assert_eq!(&f[38..54], &v6_octets("2001:db8::2"));
    assert_eq!(be16(&f, 54), 5000);
    assert_eq!(be16(&f, 56), 53);
    assert_eq!(be16(&f, 58), 13); // UDP length
    assert_ne!(be16(&f, 60), 0);
    assert!(l4_checksum_ok(&f, 14, 54));
    assert_eq!(&f[62..], b"hello");
}

fn v6_octets(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

#[test]
fn icmp_checksums() {
    let mut spec = PacketSpec::new(v4("10.0.0.1"), v4("10.0.0.2"), L4::Icmp { ty: 8, code: 0 });
    spec.payload = vec![1, 2, 3];
    let f = spec.build();
    assert_eq!(f[23], IPPROTO_ICMP);
    assert_eq!(&f[34..36], &[8, 0]);
    assert_eq!(&f[38..42], &[0, 0, 0, 0]);
    assert_eq!(ones_sum(&f[34..]), 0xffff); // no pseudo-header for ICMPv4

    let spec6 = PacketSpec::new(v6("fe80::1"), v6("ff02::1"), L4::Icmp { ty: 128, code: 0 });
    let f = spec6.build();
    assert_eq!(f[20], IPPROTO_ICMPV6);
    assert_eq!(f[54], 128);
    assert!(l4_checksum_ok(&f, 14, 54)); // ICMPv6 uses the pseudo-header
    assert_ne!(ones_sum(&f[54..]), 0xffff);
}

#[test]
fn other_protocol_has_no_l4_header() {
    let mut spec = PacketSpec::new(v4("10.0.0.1"), v4("10.0.0.2"), L4::Other { proto: 47 });
    spec.payload = vec![0xaa, 0xbb];
    let f = spec.build();
    assert_eq!(f[23], 47);
    assert_eq!(be16(&f, 16), 22);
    assert_eq!(&f[34..], &[0xaa, 0xbb]);
}

#[test]
fn vlan_layout() {
    let mut spec = PacketSpec::new(
        v4("10.0.0.1"),
        v4("1.1.1.1"),
        L4::Tcp {
            sport: 1,
            dport: 2,
            flags: 0,
        },
    );
    spec.vlan = Some(100);
    let f = spec.build();
    assert_eq!(f.len(), 58);
    assert_eq!(&f[0..12], &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    assert_eq!(be16(&f, 12), 0x8100);
    assert_eq!(be16(&f, 14), 100);
    assert_eq!(be16(&f, 16), 0x0800);
    assert_eq!(f[18], 0x45);
    assert_eq!(spec.l3_offset(), 18);
    assert_eq!(spec.l4_offset(), 38);
    assert_eq!(be16(&f, 38), 1);
    assert_eq!(ones_sum(&f[18..38]), 0xffff);
    assert!(l4_checksum_ok(&f, 18, 38));

    spec.vlan = Some(4095);
    spec.src = v6("::1");
    spec.dst = v6("::2");
    let f = spec.build();
    assert_eq!(be16(&f, 14), 4095);
    assert_eq!(be16(&f, 16), 0x86DD);
    assert_eq!(f[18] >> 4, 6);
}

#[test]
fn ipv4_options_shift_l4() {
    let mut spec = PacketSpec::new(
        v4("10.0.0.1"),
        v4("1.1.1.1"),
        L4::Udp { sport: 7, dport: 9 },
    );
    spec.ipv4_options = 2;
    let f = spec.build();
    assert_eq!(f[14], 0x47);
    assert_eq!(be16(&f, 16), 28 + 8);
    assert_eq!(&f[34..42], &[1, 1, 1, 1, 1, 1, 1, 0]);
    assert_eq!(ones_sum(&f[14..42]), 0xffff);
    assert_eq!(spec.l4_offset(), 42);
    assert_eq!(be16(&f, 42), 7);
    assert_eq!(be16(&f, 44), 9);
    assert!(l4_checksum_ok(&f, 14, 42));

    spec.ipv4_options = 10;
    let f = spec.build();
    assert_eq!(f[14], 0x4f);
    assert_eq!(f.len(), 14 + 60 + 8);
    assert_eq!(ones_sum(&f[14..74]), 0xffff);

    spec.ipv4_options = 11;
    assert!(spec.try_build().is_err());
}

#[test]
fn truncation() {
    let mut spec = PacketSpec::new(
        v4("10.0.0.1"),
        v4("1.1.1.1"),
        L4::Tcp {
            sport: 1234,
            dport: 53,
            flags: tcp_flags::SYN,
        },
    );
    let full = spec.build();
    spec.truncate_to = Some(40);
    let f = spec.build();
    assert_eq!(f.len(), 40);
    assert_eq!(&f[..], &full[..40]);
    // Length fields still describe the untruncated packet.
    assert_eq!(be16(&f, 16), 40);
    spec.truncate_to = Some(1000);
    assert_eq!(spec.build(), full);
    spec.truncate_to = Some(0);
    assert!(spec.build().is_empty());
}

#[test]
fn fragments() {
    let mut spec = PacketSpec::new(
        v4("10.0.0.1"),
        v4("1.1.1.1"),
        L4::Tcp {
            sport: 1234,
            dport: 53,
            flags: tcp_flags::SYN,
        },
    );
    spec.fragment_offset = 10;
    spec.more_fragments = true;
    spec.payload = vec![0xde, 0xad, 0xbe, 0xef];
    let f = spec.build();
    assert_eq!(f.len(), 14 + 20 + 4);
    assert_eq!(be16(&f, 16), 24);
    assert_eq!(be16(&f, 20), 0x2000 | 10);
    assert_eq!(f[23], IPPROTO_TCP);
    assert_eq!(ones_sum(&f[14..34]), 0xffff);
    assert_eq!(&f[34..], &[0xde, 0xad, 0xbe, 0xef]);

    // First fragment: L4 header present, MF set, offset 0.
    spec.fragment_offset = 0;
    let f = spec.build();
    assert_eq!(be16(&f, 20), 0x2000);
    assert_eq!(f.len(), 14 + 20 + 20 + 4);
    assert_eq!(be16(&f, 34), 1234);

    // Last fragment: offset, no MF, DF never set.
    spec.fragment_offset = MAX_FRAGMENT_OFFSET;
    spec.more_fragments = false;
    let f = spec.build();
    assert_eq!(be16(&f, 20), 0x1fff);
    spec.fragment_offset = MAX_FRAGMENT_OFFSET + 1;
    assert!(spec.try_build().is_err());

    // IPv6 fragments need a fragment header, which carries offset and M flag.
    let mut s6 = PacketSpec::new(v6("::1"), v6("::2"), L4::Udp { sport: 1, dport: 2 });
    s6.fragment_offset = 5;
    s6.more_fragments = true;
    assert!(s6.try_build().is_err());
    s6.ipv6_ext = vec![Ext6::Fragment];
    let f = s6.build();
    assert_eq!(
        f.len(),
        14 + 40 + 8,
        "a non-first fragment has no UDP header"
    );
    assert_eq!(f[20], 44);
    assert_eq!((f[54], be16(&f, 56)), (17, 5 << 3 | 1));
    assert_eq!(be16(&f, 18), 8, "payload length counts the fragment header");
}

#[test]
fn ipv6_extension_headers_chain_and_pad() {
    let mut s = PacketSpec::new(
        v6("::1"),
        v6("::2"),
        L4::Tcp {
            sport: 1,
            dport: 22,
            flags: 0,
        },
    );
    s.ipv6_ext = vec![Ext6::HopByHop(2), Ext6::DestOpts(1), Ext6::Auth];
    let f = s.build();
    assert_eq!(f[20], 0, "fixed header names hop-by-hop");
    assert_eq!(
        &f[54..58],
        &[60, 1, 1, 12],
        "HBH: next dst-opts, 16 bytes, PadN 12"
    );
    assert_eq!(&f[70..74], &[51, 0, 1, 4], "dst-opts: next AH, PadN 4");
    assert_eq!(&f[78..80], &[6, 2], "AH: next TCP, 16 bytes");
    assert_eq!(be16(&f, 94 + 2), 22);
    assert_eq!(be16(&f, 18) as usize, 16 + 8 + 16 + 20);
    s.ipv6_ext = vec![Ext6::DestOpts(33)];
    assert!(s.try_build().is_err());
    s.ipv6_ext = vec![Ext6::Fragment, Ext6::Fragment];
    assert!(s.try_build().is_err());
}

#[test]
fn validation() {
    let s = PacketSpec::new(v4("10.0.0.1"), v6("::1"), L4::Other { proto: 0 });
    assert!(s.try_build().unwrap_err().contains("mismatch"));
    let mut s = PacketSpec::new(v6("::1"), v6("::2"), L4::Other { proto: 0 });
    s.ipv4_options = 1;
    assert!(s.try_build().is_err());
    let mut s = PacketSpec::new(v4("1.2.3.4"), v4("1.2.3.5"), L4::Udp { sport: 0, dport: 0 });
    s.vlan = Some(4096);
    assert!(s.try_build().is_err());
    s.vlan = None;
    s.payload = vec![0; 65535 - 28];
    assert!(s.try_build().is_ok());
    s.payload.push(0);
    assert!(s.try_build().is_err());
    let mut s = PacketSpec::new(v6("::1"), v6("::2"), L4::Udp { sport: 0, dport: 0 });
    s.payload = vec![0; 65535 - 8];
    assert!(s.try_build().is_ok());
    s.payload.push(0);
    assert!(s.try_build().is_err());
}

#[test]
fn parse_forms() {
    let s = parse_packet("tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn").unwrap();
    assert_eq!(
        s,
        PacketSpec::new(
            v4("10.0.0.1"),
            v4("1.1.1.1"),
            L4::Tcp {
                sport: 1234,
                dport: 53,
                flags: tcp_flags::SYN
            }
        )
    );
    let s = parse_packet("tcp 10.0.0.1:1->1.1.1.1:2 SYN, ack cwr,ece").unwrap();
    assert_eq!(
        s.l4,
        L4::Tcp {
            sport: 1,
            dport: 2,
            flags: tcp_flags::SYN | tcp_flags::ACK | tcp_flags::CWR | tcp_flags::ECE
        }
    );
    let s = parse_packet("udp [2001:db8::1]:5000 -> [2001:db8::2]:53").unwrap();
    assert_eq!(s.src, v6("2001:db8::1"));
    assert_eq!(
        s.l4,
        L4::Udp {
            sport: 5000,
            dport: 53
        }
    );
    let s = parse_packet("icmp 10.0.0.1 -> 10.0.0.2 type 0 code 3").unwrap();
    assert_eq!(s.l4, L4::Icmp { ty: 0, code: 3 });
    let s = parse_packet("icmp 10.0.0.1 -> 10.0.0.2").unwrap();
    assert_eq!(s.l4, L4::Icmp { ty: 8, code: 0 });
    let s = parse_packet("icmpv6 2001:db8::1 -> [2001:db8::2]").unwrap();
    assert_eq!(s.l4, L4::Icmp { ty: 128, code: 0 });
    assert_eq!(s.dst, v6("2001:db8::2"));
    let s = parse_packet("icmpv6 ::1 -> ::2 code 4").unwrap();
    assert_eq!(s.l4, L4::Icmp { ty: 128, code: 4 });
    let s = parse_packet("proto 47 10.0.0.1 -> 10.0.0.2").unwrap();
    assert_eq!(s.l4, L4::Other { proto: 47 });
    let s = parse_packet(
        "udp 10.0.0.1:1 -> 10.0.0.2:2 vlan 100 ipopts 2 frag 10 mf payload 0a0B len 40",
    )
    .unwrap();
    assert_eq!(s.vlan, Some(100));
    assert_eq!(s.ipv4_options, 2);
    assert_eq!(s.fragment_offset, 10);
    assert!(s.more_fragments);
    assert_eq!(s.payload, vec![0x0a, 0x0b]);
    assert_eq!(s.truncate_to, Some(40));
    assert_eq!(
        "tcp 1.2.3.4:0 -> 1.2.3.4:65535"
            .parse::<PacketSpec>()
            .unwrap()
            .l4,
        L4::Tcp {
            sport: 0,
            dport: 65535,
            flags: 0
        }
    );
}

#[test]
fn display_round_trip() {
    let cases = [
        "tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn",
        "tcp 10.0.0.1:1234 -> 1.1.1.1:53",
        "tcp 10.0.0.1:1234 -> 1.1.1.1:53 fin,syn,rst,psh,ack,urg,ece,cwr",
        "tcp [::1]:1 -> [::2]:2 syn,ack vlan 7",
        "udp [2001:db8::1]:5000 -> [2001:db8::2]:53",
        "udp 10.0.0.1:5000 -> 10.0.0.2:53 payload 00ff10",
        "icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0",
        "icmp 10.0.0.1 -> 10.0.0.2 type 3 code 4 vlan 1",
        "icmpv6 2001:db8::1 -> 2001:db8::2 type 128 code 0",
        "icmpv6 ::ffff:1.2.3.4 -> fe80::1 type 135 code 0",
        "proto 47 10.0.0.1 -> 10.0.0.2",
        "proto 59 ::1 -> ::2 len 54",
        "tcp 10.0.0.1:1 -> 10.0.0.2:2 syn vlan 4095 ipopts 10 frag 8191 mf payload ab len 40",
        "tcp [::1]:1 -> [::2]:22 ext hbh/2,dst,rt/3,ah",
        "udp [::1]:1 -> [::2]:53 ext dst,fh frag 8 mf",
        "tcp [::1]:1 -> [::2]:22 ext fh",
    ];
    for text in cases {
        let spec = parse_packet(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let shown = spec.to_string();
        assert_eq!(shown, text, "canonical form");
        assert_eq!(parse_packet(&shown).unwrap(), spec, "round trip of {text}");
    }
    // Non-canonical inputs normalise and then round-trip.
    for text in [
        "TCP 10.0.0.1:1->1.1.1.1:53 ack syn",
        "icmp 10.0.0.1 -> 10.0.0.2",
        "icmp ::1 -> ::2",
        "icmp6 [::1] -> [::2] code 1 type 2",
        "proto 0x2f 10.0.0.1 -> 10.0.0.2 len 0x20",
    ] {
        let spec = parse_packet(text).unwrap();
        assert_eq!(parse_packet(&spec.to_string()).unwrap(), spec, "{text}");
    }
    assert_eq!(
        parse_packet("icmp ::1 -> ::2").unwrap().to_string(),
        "icmpv6 ::1 -> ::2 type 128 code 0"
    );
    assert_eq!(
        parse_packet("TCP 10.0.0.1:1->1.1.1.1:53 ack syn")
            .unwrap()
            .to_string(),
        "tcp 10.0.0.1:1 -> 1.1.1.1:53 syn,ack"
    );
}

fn err(text: &str) -> String {
    parse_packet(text).expect_err(text)
}

#[test]
fn parse_errors() {
    let e = err("tcp 10.0.0.256:1 -> 1.1.1.1:53");
    assert!(
        e.contains("invalid IPv4 source address") && e.contains("column 5"),
        "{e}"
    );
    let e = err("tcp 10.0.0.1:1 -> 1.1.1:53");
    assert!(
        e.contains("invalid IPv4 destination") && e.contains("column 19"),
        "{e}"
    );
    let e = err("udp [2001:db8::g]:1 -> [::1]:2");
    assert!(e.contains("invalid IPv6 source"), "{e}");
    let e = err("tcp 10.0.0.1:1 1.1.1.1:53");
    assert!(
        e.contains("expected '->'") && e.contains("column 16"),
        "{e}"
    );
    let e = err("tcp 10.0.0.1:1");
    assert!(e.contains("end of input") && e.contains("'->'"), "{e}");
    let e = err("tcp 10.0.0.1:1 -> 1.1.1.1:53 syn foo");
    assert!(e.contains("unknown TCP flag") && e.contains("'foo'"), "{e}");
    let e = err("tcp 10.0.0.1:1 -> [::1]:53");
    assert!(e.contains("mismatch") && e.contains("column 19"), "{e}");
    let e = err("icmp ::1 -> 10.0.0.1");
    assert!(e.contains("mismatch"), "{e}");
    let e = err("tcp 10.0.0.1:70000 -> 1.1.1.1:53");
    assert!(
        e.contains("port 70000 out of range") && e.contains("column 14"),
        "{e}"
    );
    let e = err("udp 10.0.0.1:1 -> 1.1.1.1:99999999999999999999999");
    assert!(e.contains("out of range"), "{e}");
    let e = err("udp 10.0.0.1 -> 1.1.1.1:53");
    assert!(e.contains("missing source port"), "{e}");
    let e = err("udp 2001:db8::1:5000 -> [2001:db8::2]:53");
    assert!(e.contains("missing source port"), "{e}");
    let e = err("icmp 10.0.0.1:5 -> 10.0.0.2");
    assert!(e.contains("takes no port"), "{e}");
    let e = err("icmpv6 10.0.0.1 -> 10.0.0.2");
    assert!(e.contains("icmpv6 needs IPv6"), "{e}");
    let e = err("sctp 10.0.0.1:1 -> 10.0.0.2:2");
    assert!(
        e.contains("unknown protocol") && e.contains("column 1"),
        "{e}"
    );
    let e = err("proto 256 10.0.0.1 -> 10.0.0.2");
    assert!(e.contains("out of range"), "{e}");
    let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 syn");
    assert!(e.contains("unknown option"), "{e}");
    let e = err("icmp 10.0.0.1 -> 10.0.0.2 type");
    assert!(e.contains("end of input") && e.contains("ICMP type"), "{e}");
    let e = err("icmp 10.0.0.1 -> 10.0.0.2 type 8 type 9");
    assert!(e.contains("twice"), "{e}");
    let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 vlan 4096");
    assert!(e.contains("VLAN id 4096 out of range"), "{e}");
    let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 ipopts 11");
    assert!(e.contains("out of range"), "{e}");
    let e = err("udp [::1]:1 -> [::2]:2 ipopts 1");
    assert!(e.contains("IPv4 packets only"), "{e}");
    let e = err("udp [::1]:1 -> [::2]:2 frag 1");
    assert!(e.contains("without a fragment header"), "{e}");
    let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 ext dst");
    assert!(e.contains("IPv6 packets only"), "{e}");
    let e = err("udp [::1]:1 -> [::2]:2 ext");
    assert!(e.contains("expected extension headers"), "{e}");
    let e = err("udp [::1]:1 -> [::2]:2 ext fh/2");
    assert!(e.contains("fixed length"), "{e}");
    let e = err("udp [::1]:1 -> [::2]:2 ext dst/33");
    assert!(e.contains("1..=32"), "{e}");
    let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 frag 8192");
    assert!(e.contains("out of range"), "{e}");
    let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 payload abc");
    assert!(e.contains("hex"), "{e}");
    let e = err("udp 10.0.0.1:1 -> 10.0.0.2:2 len -1");
    assert!(e.contains("number"), "{e}");
    let e = err("");
    assert!(e.contains("expected a protocol"), "{e}");
    let e = err("udp [::1:1 -> [::2]:2");
    assert!(e.contains("missing ']'"), "{e}");
    let e = err("udp [::1]x -> [::2]:2");
    assert!(e.contains("':PORT'"), "{e}");
    let e = err("tcp -> 1.1.1.1:1");
    assert!(e.contains("source address before '->'"), "{e}");
    let e = err("tcp é 10.0.0.1:1 -> 1.1.1.1:2");
    assert!(e.contains("column 5"), "{e}"); // columns count characters
    let e = err(&format!(
        "udp 10.0.0.1:1 -> 10.0.0.2:2 payload {}",
        "00".repeat(70000)
    ));
    assert!(e.contains("too long"), "{e}");
}

#[test]
fn odd_inputs_never_panic() {
    let odd = [
        "",
        " ",
        "->",
        "-> ->",
        ",,,",
        "tcp",
        "tcp ->",
        "tcp [",
        "tcp []",
        "tcp [:]:",
        "tcp [::1]:",
        "tcp 1.2.3.4:",
        "tcp :",
        ":::",
        "tcp 1.2.3.4:1 -> 1.2.3.4:1 -",
        "tcp 1.2.3.4:1 -> 1.2.3.4:1 -->",
        "proto",
        "proto x",
        "proto 0x",
        "proto 0x1g",
        "icmp 1.1.1.1 -> 1.1.1.1 code",
        "udp 1.1.1.1:0x -> 1.1.1.1:1",
        "udp 1.1.1.1:+1 -> 1.1.1.1:1",
        "udp 1.1.1.1:1 -> 1.1.1.1:1 payload",
        "udp 1.1.1.1:1 -> 1.1.1.1:1 payload 0x",
        "udp 1.1.1.1:1 -> 1.1.1.1:1 payload éé",
        "tcp ]::1[:1 -> 1.1.1.1:1",
        "\u{0}\u{ffff}",
        "tcp 1.1.1.1:1 ->1.1.1.1:1 syn,,ack",
        "😀 -> 😀",
        "tcp [😀]:1 -> [::1]:1",
        "udp 1.1.1.1:1 -> 1.1.1.1:1 len 99999999999",
        "udp 1.1.1.1:1\t->\n1.1.1.1:1",
    ];
    for s in odd {
        if let Ok(spec) = parse_packet(s) {
            let _ = spec.build();
            assert_eq!(parse_packet(&spec.to_string()).as_ref(), Ok(&spec));
        }
    }
    // Deterministic pseudo-random mutations of valid inputs.
    let seeds = [
        "tcp 10.0.0.1:1234 -> 1.1.1.1:53 syn vlan 100 len 40",
        "udp [2001:db8::1]:5000 -> [2001:db8::2]:53 payload 00ff",
        "icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0 ipopts 2 frag 10 mf",
    ];
    let alphabet: Vec<char> = "0123456789abcdefx:[]->., \u{e9}".chars().collect();
    let mut rng = crate::rng::Rng::seeded(0x9e3779b97f4a7c15);
    let mut rnd = |n: usize| rng.below(n);
    for seed in seeds {
        for _ in 0..2000 {
            let mut chars: Vec<char> = seed.chars().collect();
            for _ in 0..1 + rnd(4) {
                let i = rnd(chars.len() + 1);
                match rnd(3) {
                    0 if i < chars.len() => {
                        chars.remove(i);
                    }
                    1 if i < chars.len() => chars[i] = alphabet[rnd(alphabet.len())],
                    _ => chars.insert(i, alphabet[rnd(alphabet.len())]),
                }
            }
            let s: String = chars.into_iter().collect();
            if let Ok(spec) = parse_packet(&s) {
                let f = spec.build();
                assert!(f.len() <= spec.untruncated_len());
                assert_eq!(parse_packet(&spec.to_string()).as_ref(), Ok(&spec), "{s}");
            }
        }
    }
}

#[test]
fn icmp_types_may_be_named_as_in_the_rule_language() {
    let named = |t: &str| match parse_packet(t).unwrap().l4 {
        L4::Icmp { ty, .. } => ty,
        other => panic!("{other:?}"),
    };
    assert_eq!(named("icmp 10.0.0.1 -> 10.0.0.2 type echo-request"), 8);
    assert_eq!(named("icmpv6 ::1 -> ::2 type echo-request"), 128);
    assert_eq!(
        named("icmpv6 ::1 -> ::2 type NEIGHBOR-SOLICITATION code 0"),
        135
    );
    // A name that has no ICMPv4 number is an error, not a silent default.
    let e = parse_packet("icmp 10.0.0.1 -> 10.0.0.2 type packet-too-big").unwrap_err();
    assert!(e.contains("a number or a name"), "{e}");
}

/// Every frame the syntax accepts runs whole in BPF_PROG_TEST_RUN: frames under an
/// Ethernet header (the kernel's EINVAL) and over what XDP sees of one page (the
/// kernel's split into fragments) are refused here, with the reason.
#[test]
fn frames_the_kernel_cannot_run_whole_are_refused_with_a_reason() {
    let e = parse_packet("tcp 10.0.0.1:1 -> 10.0.0.2:2 len 10").unwrap_err();
    assert!(
        e.contains("the frame would be 10 bytes") && e.contains("at least 14"),
        "{e}"
    );
    assert!(parse_packet("tcp 10.0.0.1:1 -> 10.0.0.2:2 len 14").is_ok());
    // 14 + 20 + 8 bytes of headers: payloads up to 3,478 bytes make 3,520.
    let at = |n: usize| format!("udp 10.0.0.1:1 -> 10.0.0.2:2 payload {}", "ab".repeat(n));
    assert_eq!(
        parse_packet(&at(3478)).unwrap().build().len(),
        MAX_TEST_FRAME
    );
    let e = parse_packet(&at(3479)).unwrap_err();
    assert!(
        e.contains("3521 bytes") && e.contains("at most 3520"),
        "{e}"
    );
    let e = parse_packet(&at(4000)).unwrap_err();
    assert!(e.contains("4042 bytes"), "{e}");
    // Cut down to size, a long payload is fine.
    assert!(parse_packet(&format!("{} len 3520", at(4000))).is_ok());
}

#[test]
fn tc_refuses_ip_frames_without_the_fixed_ip_header() {
    let frame = |t: &str| parse_packet(t).unwrap().build();
    let e = tc_test_run_refuses(&frame("tcp 10.0.0.1:1 -> 10.0.0.2:2 len 33")).unwrap();
    assert!(e.contains("IPv4 frame shorter than 34 bytes"), "{e}");
    assert!(tc_test_run_refuses(&frame("tcp 10.0.0.1:1 -> 10.0.0.2:2 len 34")).is_none());
    assert!(tc_test_run_refuses(&frame("udp [::1]:1 -> [::2]:2 len 53")).is_some());
    assert!(tc_test_run_refuses(&frame("udp [::1]:1 -> [::2]:2 len 54")).is_none());
    // Behind a VLAN tag the EtherType is 802.1Q: the kernel does not look further.
    assert!(tc_test_run_refuses(&frame("tcp 10.0.0.1:1 -> 10.0.0.2:2 vlan 7 len 20")).is_none());
}

#[test]
fn arp_requests_and_other_ether_types() {
    let spec = parse_packet("arp 10.0.0.1 -> 10.0.0.2 vlan 7").unwrap();
    assert_eq!(spec.to_string(), "arp 10.0.0.1 -> 10.0.0.2 vlan 7");
    let f = spec.build();
    assert_eq!(f.len(), 18 + ARP_LEN);
    assert_eq!(be16(&f, 16), ETH_P_ARP);
    // Ethernet/IPv4 request; sender MAC and address, target address.
    assert_eq!(&f[18..26], &[0, 1, 8, 0, 6, 4, 0, 1]);
    assert_eq!(&f[26..32], &SRC_MAC);
    assert_eq!(&f[32..36], &[10, 0, 0, 1]);
    assert_eq!(&f[42..46], &[10, 0, 0, 2]);
    assert!(parse_packet("arp ::1 -> ::2").is_err());
    assert!(parse_packet("arp 10.0.0.1 -> 10.0.0.2 payload 00").is_err());

    let spec = parse_packet("udp 10.0.0.1:1 -> 10.0.0.2:2 ether 0x88cc").unwrap();
    assert_eq!(
        spec.to_string(),
        "udp 10.0.0.1:1 -> 10.0.0.2:2 ether 0x88cc"
    );
    let f = spec.build();
    assert_eq!(be16(&f, 12), 0x88cc);
    assert_eq!(f.len(), 14 + 20 + 8, "the IP packet's bytes follow");
    let h = crate::eval::decode(&f);
    assert_eq!((h.ip, h.ether_type, h.vlan), (None, Some(0x88cc), None));
    let h = crate::eval::decode(
        &parse_packet("arp 10.0.0.1 -> 10.0.0.2 vlan 7")
            .unwrap()
            .build(),
    );
    assert_eq!((h.ether_type, h.vlan), (Some(ETH_P_ARP), Some(7)));
    // A tag cut short: neither the tag nor a type.
    let mut short = f[..16].to_vec();
    short[12..14].copy_from_slice(&ETH_P_8021Q.to_be_bytes());
    let h = crate::eval::decode(&short);
    assert_eq!((h.ether_type, h.vlan), (None, None));
}

#[test]
fn ttl_sets_the_ipv4_ttl_and_the_ipv6_hop_limit() {
    let p = parse_packet("tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 3").unwrap();
    let f = p.build();
    assert_eq!(f[14 + 8], 3, "IPv4 TTL");
    assert_eq!(
        ones_sum(&f[14..34]),
        0xffff,
        "IPv4 header checksum covers the TTL"
    );
    assert_eq!(p.to_string(), "tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 3");
    let p = parse_packet("udp [2001:db8::1]:1 -> [2001:db8::2]:53 ttl 255").unwrap();
    assert_eq!(p.build()[14 + 7], 255, "IPv6 hop limit");
    assert_eq!(parse_packet(&p.to_string()).unwrap(), p);
    // Without `ttl`, 64, and the text does not name it.
    let p = parse_packet("tcp 10.0.0.1:1 -> 10.0.0.2:22").unwrap();
    assert_eq!(
        (p.build()[14 + 8], p.to_string().contains("ttl")),
        (64, false)
    );
    assert!(parse_packet("tcp 10.0.0.1:1 -> 10.0.0.2:22 ttl 256").is_err());
}
