//! The symbolic names iptables and nft print for numbers: IP protocols, ICMP and
//! ICMPv6 types and codes, conntrack states, TCP flags; and iptables' interface
//! wildcard in nft's spelling.
//!
//! Invariant: each table gives the number the kernel compares, as the tools define
//! it (`/etc/protocols` for protocols, libiptc's and nft's ICMP tables, nft's
//! `ct_state` and `tcp_flag` bit values).

use crate::model::{CT_ESTABLISHED, CT_INVALID, CT_NEW, CT_RELATED, CT_UNTRACKED};

/// IP protocol numbers by name (`-p`, `meta l4proto`, `ip protocol`).
pub fn protocol(name: &str) -> Option<u8> {
    if let Ok(n) = name.parse::<u8>() {
        return Some(n);
    }
    Some(match name.to_ascii_lowercase().as_str() {
        "ip" | "hopopt" => 0,
        "icmp" => 1,
        "igmp" => 2,
        "ggp" => 3,
        "ipencap" | "ipip" | "ipv4" => 4,
        "st" => 5,
        "tcp" => 6,
        "egp" => 8,
        "igp" => 9,
        "pup" => 12,
        "udp" => 17,
        "hmp" => 20,
        "xns-idp" => 22,
        "rdp" => 27,
        "iso-tp4" => 29,
        "dccp" => 33,
        "xtp" => 36,
        "ddp" => 37,
        "idpr-cmtp" => 38,
        "ipv6" => 41,
        "ipv6-route" => 43,
        "ipv6-frag" => 44,
        "idrp" => 45,
        "rsvp" => 46,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "skip" => 57,
        "ipv6-icmp" | "icmpv6" | "icmp6" => 58,
        "ipv6-nonxt" => 59,
        "ipv6-opts" => 60,
        "rspf" => 73,
        "vmtp" => 81,
        "eigrp" => 88,
        "ospf" | "ospfigp" => 89,
        "ax.25" => 93,
        "ipip4" => 94,
        "etherip" => 97,
        "encap" => 98,
        "pim" => 103,
        "ipcomp" | "comp" => 108,
        "vrrp" => 112,
        "l2tp" => 115,
        "isis" => 124,
        "sctp" => 132,
        "fc" => 133,
        "mobility-header" | "mh" => 135,
        "udplite" => 136,
        "mpls-in-ip" => 137,
        "manet" => 138,
        "hip" => 139,
        "shim6" => 140,
        "wesp" => 141,
        "rohc" => 142,
        "ethernet" => 143,
        _ => return None,
    })
}

/// ICMP (IPv4) type, and code when the name implies one (iptables' names:
/// `port-unreachable` is type 3 code 3).
pub fn icmp4(name: &str) -> Option<(u8, Option<u8>)> {
    Some(match name {
        "any" => return None,
        "echo-reply" | "pong" => (0, None),
        "destination-unreachable" => (3, None),
        "network-unreachable" | "net-unreachable" => (3, Some(0)),
        "host-unreachable" => (3, Some(1)),
        "protocol-unreachable" | "prot-unreachable" => (3, Some(2)),
        "port-unreachable" => (3, Some(3)),
        "fragmentation-needed" | "frag-needed" => (3, Some(4)),
        "source-route-failed" => (3, Some(5)),
        "network-unknown" => (3, Some(6)),
        "host-unknown" => (3, Some(7)),
        "network-prohibited" | "net-prohibited" => (3, Some(9)),
        "host-prohibited" => (3, Some(10)),
        "TOS-network-unreachable" => (3, Some(11)),
        "TOS-host-unreachable" => (3, Some(12)),
        "communication-prohibited" | "admin-prohibited" => (3, Some(13)),
        "host-precedence-violation" => (3, Some(14)),
        "precedence-cutoff" => (3, Some(15)),
        "source-quench" => (4, None),
        "redirect" => (5, None),
        "network-redirect" => (5, Some(0)),
        "host-redirect" => (5, Some(1)),
        "TOS-network-redirect" => (5, Some(2)),
        "TOS-host-redirect" => (5, Some(3)),
        "echo-request" | "ping" => (8, None),
        "router-advertisement" => (9, None),
        "router-solicitation" => (10, None),
        "time-exceeded" | "ttl-exceeded" => (11, None),
        "ttl-zero-during-transit" => (11, Some(0)),
        "ttl-zero-during-reassembly" => (11, Some(1)),
        "parameter-problem" => (12, None),
        "ip-header-bad" => (12, Some(0)),
        "required-option-missing" => (12, Some(1)),
        "timestamp-request" => (13, None),
        "timestamp-reply" => (14, None),
        "info-request" => (15, None),
        "info-reply" => (16, None),
        "address-mask-request" => (17, None),
        "address-mask-reply" => (18, None),
        _ => return None,
    })
}

/// ICMPv6 type, and code when the name implies one.
pub fn icmp6(name: &str) -> Option<(u8, Option<u8>)> {
    Some(match name {
        "destination-unreachable" => (1, None),
        "no-route" => (1, Some(0)),
        "communication-prohibited" | "admin-prohibited" => (1, Some(1)),
        "beyond-scope" => (1, Some(2)),
        "address-unreachable" | "addr-unreachable" => (1, Some(3)),
        "port-unreachable" => (1, Some(4)),
        "failed-policy" | "policy-fail" => (1, Some(5)),
        "reject-route" => (1, Some(6)),
        "packet-too-big" => (2, None),
        "time-exceeded" | "ttl-exceeded" => (3, None),
        "ttl-zero-during-transit" => (3, Some(0)),
        "ttl-zero-during-reassembly" => (3, Some(1)),
        "parameter-problem" => (4, None),
        "bad-header" => (4, Some(0)),
        "unknown-header-type" => (4, Some(1)),
        "unknown-option" => (4, Some(2)),
        "echo-request" | "ping" => (128, None),
        "echo-reply" | "pong" => (129, None),
        "mld-listener-query" => (130, None),
        "mld-listener-report" => (131, None),
        "mld-listener-done" | "mld-listener-reduction" => (132, None),
        "nd-router-solicit" | "router-solicitation" => (133, None),
        "nd-router-advert" | "router-advertisement" => (134, None),
        "nd-neighbor-solicit" | "neighbour-solicitation" | "neighbor-solicitation" => (135, None),
        "nd-neighbor-advert" | "neighbour-advertisement" | "neighbor-advertisement" => (136, None),
        "nd-redirect" | "redirect" => (137, None),
        "router-renumbering" => (138, None),
        "ind-neighbor-solicit" => (141, None),
        "ind-neighbor-advert" => (142, None),
        "mld2-listener-report" => (143, None),
        _ => return None,
    })
}

/// nft's ICMP code names (`icmp code`, `icmpv6 code`, `icmpx code`).
pub fn icmp_code(v6: bool, name: &str) -> Option<u8> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    Some(match (v6, name) {
        (false, "net-unreachable") => 0,
        (false, "host-unreachable") => 1,
        (false, "prot-unreachable") => 2,
        (false, "port-unreachable") => 3,
        (false, "frag-needed") => 4,
        (false, "net-prohibited") => 9,
        (false, "host-prohibited") => 10,
        (false, "admin-prohibited") => 13,
        (true, "no-route") => 0,
        (true, "admin-prohibited") => 1,
        (true, "addr-unreachable") => 3,
        (true, "port-unreachable") => 4,
        (true, "policy-fail") => 5,
        (true, "reject-route") => 6,
        _ => return None,
    })
}

/// A conntrack state by name (iptables prints upper case, nft lower case).
pub fn ct_state(name: &str) -> Option<u128> {
    Some(match name.to_ascii_lowercase().as_str() {
        "new" => CT_NEW,
        "established" => CT_ESTABLISHED,
        "related" => CT_RELATED,
        "invalid" => CT_INVALID,
        "untracked" => CT_UNTRACKED,
        _ => return None,
    })
}

/// nft's `ct_state` bit value of state index `s`.
pub fn ct_state_bit(s: u128) -> u128 {
    match s {
        CT_INVALID => 1,
        CT_ESTABLISHED => 2,
        CT_RELATED => 4,
        CT_NEW => 8,
        _ => 64,
    }
}

/// A TCP flag's bit by name (both tools' spellings).
pub fn tcp_flag(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "fin" => 0x01,
        "syn" => 0x02,
        "rst" => 0x04,
        "psh" => 0x08,
        "ack" => 0x10,
        "urg" => 0x20,
        "ecn" | "ece" => 0x40,
        "cwr" => 0x80,
        "all" => 0xff,
        "none" => 0,
        _ => return None,
    })
}

/// A token bucket as one normalized text, `limit N/unit burst B`, so that equal limits
/// from both tools are one atom.
pub fn limit_key(rate: &str, burst: &str) -> String {
    let (n, unit) = rate.split_once('/').unwrap_or((rate, "second"));
    let unit = match unit {
        "s" | "sec" | "second" => "second",
        "m" | "min" | "minute" => "minute",
        "h" | "hour" => "hour",
        "d" | "day" => "day",
        "w" | "week" => "week",
        other => other,
    };
    format!("limit {n}/{unit} burst {burst}")
}

/// iptables' `-i`/`-o` argument in nft's spelling, as the import keeps interface
/// names (`semantics::atoms::iface_pattern`): its trailing `+` becomes `*`, and a
/// literal `*` or `\` is escaped.
pub fn iptables_iface(arg: &str) -> String {
    let (stem, prefix) = match arg.strip_suffix('+') {
        Some(stem) => (stem, true),
        None => (arg, false),
    };
    let mut out = String::with_capacity(arg.len() + 2);
    for c in stem.chars() {
        if matches!(c, '*' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    if prefix {
        out.push('*');
    }
    out
}
