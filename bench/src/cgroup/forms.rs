//! The rules every contender of `--cgroup` loads, written from one ClassBench filter
//! list, and the datagrams and addresses the timing uses.
//!
//! Packets: a sockc `cgroup egress` block (the head-to-head's conversion, filter `i`
//! dropping when `i` is even), and the same filters as nft rules in an `output` chain
//! that also tests the socket: `socket cgroupv2 level N "PATH"` in front of every
//! rule, `meta skuid 0` in front of every rule, or one `socket cgroupv2` test that
//! jumps to a chain of the plain rules. Socket calls: N prefixes of the set, each
//! `drop to PREFIX` in a `cgroup connect` block and an entry of the systemd-style deny
//! trie ([`super::systemd_style`]).
//!
//! Invariant: every packet form gives filter `i` the verdict the head-to-head gives it
//! (`peer::rules::accepts`), and accepts what no filter matches; the connect forms deny
//! exactly the listed prefixes.

use std::{fmt::Write as _, net::Ipv4Addr};

use ipnet::Ipv4Net;
use sockc_testkit::classbench::{first_match, Filter, TraceHeader};

use crate::peer::{
    rules,
    workload::{late_header, sendable},
};

/// The nft table every nft form loads.
pub const NFT_TABLE: &str = "sockc_cgbench";

/// How the nft forms test the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NftSocket<'a> {
    /// `socket cgroupv2 level N "PATH"` in front of every rule.
    CgroupEach { path: &'a str, level: usize },
    /// `meta skuid UID` in front of every rule.
    UidEach(u32),
    /// One `socket cgroupv2` test that jumps to a chain of the plain rules.
    CgroupJump { path: &'a str, level: usize },
}

/// The sockc `cgroup egress` block on `dir`.
pub fn sockc_egress(filters: &[Filter], dir: &str) -> String {
    rules::sockc(filters, &format!("cgroup egress \"{dir}\""))
}

/// The filters as nft rules in an `output` chain of table [`NFT_TABLE`].
pub fn nft(filters: &[Filter], socket: NftSocket<'_>) -> String {
    let cgroup = |path: &str, level: usize| format!("socket cgroupv2 level {level} \"{path}\" ");
    let (each, jump) = match socket {
        NftSocket::CgroupEach { path, level } => (cgroup(path, level), None),
        NftSocket::UidEach(uid) => (format!("meta skuid {uid} "), None),
        NftSocket::CgroupJump { path, level } => (String::new(), Some(cgroup(path, level))),
    };
    let mut body = String::new();
    for (i, f) in filters.iter().enumerate() {
        let _ = writeln!(
            body,
            "        {each}{} {}",
            rules::nft_match(f),
            rules::nft_verdict(i)
        );
    }
    let head = "type filter hook output priority 0; policy accept;";
    match jump {
        None => format!("table ip {NFT_TABLE} {{\n    chain output {{\n        {head}\n{body}    }}\n}}\n"),
        Some(test) => format!(
            "table ip {NFT_TABLE} {{\n    chain rules {{\n{body}    }}\n    chain output {{\n        {head}\n        {test}jump rules\n    }}\n}}\n"
        ),
    }
}

/// The datagrams of a filter list: one the end of the list decides (accepted), and one
/// a dropping filter decides (refused), both UDP between ordinary addresses.
pub struct Datagrams {
    pub late: TraceHeader,
    /// The filter that decides `late` (`None`: none matches it).
    pub late_decider: Option<usize>,
    pub dropped: TraceHeader,
    pub dropped_by: usize,
}

impl Datagrams {
    pub fn of(filters: &[Filter]) -> Result<Datagrams, String> {
        let (late, late_decider) =
            late_header(filters, Some(17)).ok_or("no UDP datagram the end of the list decides")?;
        if late.sport == 0 {
            return Err(format!("the late datagram {late:?} has source port 0"));
        }
        let (dropped_by, dropped) = filters
            .iter()
            .enumerate()
            .filter(|(i, f)| !rules::accepts(*i) && f.proto.is_none_or(|p| p == 17))
            .find_map(|(i, f)| {
                let h = corner(f);
                let ok = sendable(&h) && h.sport != 0 && h.dst != late.src;
                (ok && first_match(filters, &h) == Some(i)).then_some((i, h))
            })
            .ok_or("no UDP datagram a dropping filter decides")?;
        Ok(Datagrams {
            late,
            late_decider,
            dropped,
            dropped_by,
        })
    }

    /// The sources the namespace must hold (the peers bind them).
    pub fn sources(&self) -> Vec<Ipv4Addr> {
        let mut v = vec![self.late.src, self.dropped.src];
        v.dedup();
        v
    }
}

/// A filter's lowest UDP corner (port 40000 where its range allows).
fn corner(f: &Filter) -> TraceHeader {
    let port = |(lo, hi): (u16, u16)| {
        if (lo..=hi).contains(&40_000) {
            40_000
        } else {
            lo.max(1).min(hi)
        }
    };
    let addr = |n: Ipv4Net, fallback: Ipv4Addr| {
        if n.prefix_len() == 0 {
            fallback
        } else {
            n.network()
        }
    };
    TraceHeader {
        src: addr(f.src, Ipv4Addr::new(198, 51, 100, 7)),
        dst: addr(f.dst, Ipv4Addr::new(192, 0, 2, 1)),
        sport: port(f.sport),
        dport: port(f.dport),
        proto: 17,
    }
}

/// The first `n` distinct prefixes of `filters`, each filter's destination then its
/// source (the remote address a connecting process's packets carry either way: what
/// `IPAddressDeny=` is about), /8 or longer (shorter ones would leave no address to
/// connect to), in filter order. (acl1's 10k filters have 749 distinct destinations,
/// and 4,737 prefixes of /8 or longer in all.)
pub fn connect_prefixes(filters: &[Filter], n: usize) -> Result<Vec<Ipv4Net>, String> {
    let mut seen = std::collections::BTreeSet::new();
    let v: Vec<Ipv4Net> = filters
        .iter()
        .flat_map(|f| [f.dst, f.src])
        .filter(|p| p.prefix_len() >= 8 && seen.insert(*p))
        .take(n)
        .collect();
    if v.len() < n {
        return Err(format!(
            "the set has {} distinct prefixes of /8 or longer, not {n}",
            v.len()
        ));
    }
    Ok(v)
}

/// The `cgroup connect` block on `dir` that refuses `prefixes`.
pub fn sockc_connect(prefixes: &[Ipv4Net], dir: &str) -> String {
    let mut out = format!("cgroup connect \"{dir}\" {{\n");
    for p in prefixes {
        let _ = writeln!(out, "    drop to {p}");
    }
    out.push_str("    default allow\n}\n");
    out
}

/// An ordinary address none of `prefixes` holds (the server the timed connects reach),
/// and one the last of them holds (the check that a contender refuses).
pub fn connect_targets(prefixes: &[Ipv4Net]) -> Result<(Ipv4Addr, Ipv4Addr), String> {
    let held = |a: Ipv4Addr| prefixes.iter().any(|p| p.contains(&a));
    let ordinary = |a: Ipv4Addr| {
        let h = TraceHeader {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: a,
            sport: 1,
            dport: 1,
            proto: 6,
        };
        sendable(&h)
    };
    let free = (0u32..1 << 16)
        .map(|i| Ipv4Addr::from(0x0a00_0001u32.wrapping_add(i.wrapping_mul(0x0101_0b07))))
        .find(|a| ordinary(*a) && !held(*a))
        .ok_or("every address tried is in a prefix")?;
    let last = prefixes.last().ok_or("no prefix")?;
    let host = u32::from(last.network()) | u32::from(last.prefix_len() < 32);
    let refused = Ipv4Addr::from(host);
    if !ordinary(refused) {
        return Err(format!("{last}: not an ordinary unicast prefix"));
    }
    Ok((free, refused))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockc_testkit::classbench::parse_filters;

    fn filters() -> Vec<Filter> {
        parse_filters(
            "@22.213.33.126/32\t249.158.184.110/32\t0 : 65535\t1526 : 1526\t0x06/0xFF\t0x0000/0x0200\t\n\
             @10.0.0.0/8\t20.1.0.0/16\t0 : 65535\t53 : 53\t0x11/0xFF\t0x0000/0x0000\t\n\
             @10.0.0.0/8\t20.1.0.0/16\t0 : 65535\t0 : 65535\t0x11/0xFF\t0x0000/0x0000\t\n\
             @0.0.0.0/0\t20.0.0.0/8\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000\t\n",
        )
        .unwrap()
    }

    #[test]
    fn nft_forms_test_the_socket_in_front_of_every_rule_or_once() {
        let f = filters();
        let each = nft(
            &f,
            NftSocket::CgroupEach {
                path: "b/t0",
                level: 2,
            },
        );
        assert_eq!(
            each.matches("socket cgroupv2 level 2 \"b/t0\" ip saddr")
                .count(),
            3
        );
        assert!(
            each.contains("        socket cgroupv2 level 2 \"b/t0\" ip daddr 20.0.0.0/8 accept\n")
        );
        let uid = nft(&f, NftSocket::UidEach(0));
        assert_eq!(uid.matches("meta skuid 0 ").count(), 4);
        let jump = nft(
            &f,
            NftSocket::CgroupJump {
                path: "b/t0",
                level: 2,
            },
        );
        assert_eq!(jump.matches("socket cgroupv2").count(), 1);
        assert!(jump.contains("        socket cgroupv2 level 2 \"b/t0\" jump rules\n"));
        assert!(
            jump.contains("        ip saddr 10.0.0.0/8 ip daddr 20.1.0.0/16 udp dport 53 accept\n")
        );
    }

    #[test]
    fn the_datagrams_are_decided_where_they_should_be() {
        let f = filters();
        let d = Datagrams::of(&f).unwrap();
        assert_eq!(d.late.proto, 17);
        assert!(d.late_decider.is_none_or(rules::accepts));
        // filter 2 is the first dropping UDP filter whose corner it decides
        assert_eq!(d.dropped_by, 2);
        assert_eq!(first_match(&f, &d.dropped), Some(2));
    }

    #[test]
    fn connect_prefixes_are_distinct_and_the_targets_fall_outside_and_inside() {
        let f = filters();
        let p = connect_prefixes(&f, 5).unwrap();
        assert_eq!(
            p.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            [
                "249.158.184.110/32",
                "22.213.33.126/32",
                "20.1.0.0/16",
                "10.0.0.0/8",
                "20.0.0.0/8"
            ]
        );
        assert!(connect_prefixes(&f, 6).is_err());
        let (free, refused) = connect_targets(&p).unwrap();
        assert!(p.iter().all(|n| !n.contains(&free)));
        assert!(p[4].contains(&refused));
        let (_, host) = connect_targets(&p[..2]).unwrap();
        assert_eq!(host, Ipv4Addr::new(22, 213, 33, 126));
        let text = sockc_connect(&p, "/cg");
        assert!(text.starts_with("cgroup connect \"/cg\" {\n    drop to 249.158.184.110/32\n"));
        assert!(text.ends_with("    drop to 20.0.0.0/8\n    default allow\n}\n"));
    }
}
