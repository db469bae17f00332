//! The ClassBench sets carried over to IPv6, so `sockc bench` measures IPv6
//! classification on the same rule structure as IPv4: every IPv4 address `a.b.c.d`
//! becomes `2001:db8:ab:cd::` (the 32 bits of the IPv4 address right after the
//! documentation prefix `2001:db8::/32`), a prefix `/n` becomes `/(32 + n)`, and `/0`
//! stays the wildcard; ports and protocol are kept (ICMP becomes ICMPv6).
//!
//! Invariant: the mapping is one-to-one on addresses and keeps containment (an IPv6
//! prefix holds a mapped address exactly when the IPv4 prefix holds the original), so
//! rule *i* of the IPv6 file is filter *i*, a trace header decided by filter *i* in
//! IPv4 is decided by rule *i* in IPv6, and the early, late and never packets of a set
//! are those of its IPv4 case, mapped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::Ipv4Net;
use sockc_testkit::{
    classbench::{action_of, ActionPolicy, Filter, TraceHeader},
    packet::{PacketSpec, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, L4},
};

/// `a.b.c.d` as `2001:db8:ab:cd::`.
pub fn map_addr(a: Ipv4Addr) -> Ipv6Addr {
    let v4 = u128::from(u32::from(a));
    let doc = 0x2001_0db8u128 << 96;
    Ipv6Addr::from(doc | (v4 << 64))
}

/// The prefix text of a mapped IPv4 prefix: `*` for `/0`, else `ADDR/(32 + n)`.
pub fn map_prefix(net: Ipv4Net) -> String {
    if net.prefix_len() == 0 {
        "*".into()
    } else {
        format!("{}/{}", map_addr(net.network()), 32 + net.prefix_len())
    }
}

/// `[ADDR/len]:PORT` or the prefix alone when the port is any.
fn endpoint(net: Ipv4Net, (lo, hi): (u16, u16)) -> String {
    let address = map_prefix(net);
    if (lo, hi) == (0, u16::MAX) {
        return address;
    }
    let port = sockc_compiler::ir::port_range_text(lo, hi);
    if address == "*" {
        format!("*:{port}")
    } else {
        format!("[{address}]:{port}")
    }
}

/// The IPv6 rule of one filter: `ACTION ip6 [PROTO] from SRC to DST`.
fn rule_text(f: &Filter, action: &str) -> String {
    let proto = match f.proto {
        None => String::new(),
        Some(IPPROTO_TCP) => " tcp".into(),
        Some(IPPROTO_UDP) => " udp".into(),
        Some(IPPROTO_ICMP) => " icmpv6".into(),
        Some(n) => format!(" proto {n}"),
    };
    format!(
        "{action} ip6{proto} from {} to {}",
        endpoint(f.src, f.sport),
        endpoint(f.dst, f.dport)
    )
}

/// One XDP block with one IPv6 rule per filter, in filter order, actions as `policy`
/// gives them, then `default DEFAULT`.
pub fn to_sk(filters: &[Filter], policy: ActionPolicy, default: &str) -> String {
    let mut out = format!(
        "# A ClassBench filter set carried over to IPv6 (a.b.c.d -> 2001:db8:ab:cd::,\n\
         # /n -> /(32+n)): {} filters; rule i is filter i.\n\
         xdp on eth0 {{\n",
        filters.len()
    );
    for (i, f) in filters.iter().enumerate() {
        out.push_str("    ");
        out.push_str(&rule_text(f, action_of(policy, i)));
        out.push('\n');
    }
    out.push_str(&format!("    default {default}\n}}\n"));
    out
}

/// The IPv6 packet of a trace header: TCP and UDP keep the ports, ICMP becomes an
/// ICMPv6 echo request, any other protocol has no L4 header.
pub fn packet(h: &TraceHeader) -> PacketSpec {
    let l4 = match h.proto {
        IPPROTO_TCP => L4::Tcp {
            sport: h.sport,
            dport: h.dport,
            flags: 0,
        },
        IPPROTO_UDP => L4::Udp {
            sport: h.sport,
            dport: h.dport,
        },
        IPPROTO_ICMP => L4::Icmp { ty: 128, code: 0 },
        proto => L4::Other { proto },
    };
    PacketSpec::new(IpAddr::V6(map_addr(h.src)), IpAddr::V6(map_addr(h.dst)), l4)
}

/// The baseline over mapped destination prefixes: parse, one LPM lookup, count.
pub fn baseline_source(dsts: &[String]) -> String {
    format!(
        "set dsts = {{ {} }}\nxdp on eth0 {{\n    allow ip6 to @dsts\n    default allow\n}}\n",
        dsts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Containment is kept both ways on prefixes of every length.
    #[test]
    fn mapping_keeps_containment() {
        let mut x: u32 = 0x1234_5678;
        for len in 1..=32u8 {
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let net = Ipv4Net::new(Ipv4Addr::from(x), len).unwrap().trunc();
                let addr = Ipv4Addr::from(x.rotate_left(7));
                let v6: ipnet::Ipv6Net = map_prefix(net).parse().unwrap();
                assert_eq!(v6.prefix_len(), 32 + len);
                assert_eq!(v6, v6.trunc(), "{net} maps to a canonical prefix");
                assert_eq!(
                    v6.contains(&map_addr(addr)),
                    net.contains(&addr),
                    "{net} {addr}"
                );
                assert!(v6.contains(&map_addr(net.network())));
            }
        }
        assert_eq!(
            map_addr(Ipv4Addr::new(10, 1, 2, 3)),
            "2001:db8:a01:203::".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn rules_read_like_the_ipv4_ones() {
        let f = Filter {
            src: "10.0.0.0/8".parse().unwrap(),
            dst: "0.0.0.0/0".parse().unwrap(),
            sport: (0, u16::MAX),
            dport: (80, 80),
            proto: Some(IPPROTO_TCP),
            line: 1,
        };
        assert_eq!(
            rule_text(&f, "drop"),
            "drop ip6 tcp from 2001:db8:a00::/40 to *:80"
        );
        let f = Filter {
            dst: "192.0.2.0/24".parse().unwrap(),
            proto: Some(IPPROTO_ICMP),
            dport: (0, u16::MAX),
            ..f
        };
        assert_eq!(
            rule_text(&f, "allow"),
            "allow ip6 icmpv6 from 2001:db8:a00::/40 to 2001:db8:c000:200::/56"
        );
    }
}
