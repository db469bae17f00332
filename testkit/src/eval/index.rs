//! Which rules an evaluation needs to try, for many packets against a large program
//! (`sockc test --packets` with a 100,000-packet trace against 100,000 rules tried
//! every rule for every packet: about a millisecond a packet).
//!
//! The index only leaves out rules that cannot match. For IPv4 packets each rule is
//! filed once, under one of the keys a matching packet must have: the first 16 bits
//! of its destination or of its source, when that is an IPv4 prefix of 8 bits or more,
//! or its destination port, when it allows at most 256 ports. Of those it may be filed
//! under, it goes where the fewest rules of the program could go with it (so common
//! destinations do not make long lists). A rule that can be filed nowhere is tried for
//! every IPv4 packet. A packet tries the rules filed under its destination's 16 bits,
//! its source's 16 bits, its destination port (when it has ports) and the unfiled ones,
//! merged back into file order, through the same [`super::rule_matches`] as every
//! other evaluation. A rule
//! with an IPv6 prefix contains no IPv4 address and is left out for IPv4 packets.
//! Every other frame tries every rule. Whether a rule matches is never decided here,
//! so the evaluator stays the plain reading of the language.

use std::{collections::HashMap, net::IpAddr, ops::Range};

use ipnet::IpNet;
use sockc_compiler::ir::{AddrMatch, PortMatch, Program};

use super::{Headers, L4Fields};

/// Prefixes at least this long are filed by address (one to 256 keys each).
const FILED_FROM: u8 = 8;
/// Port matches of at most this many ports are filed by port.
const MOST_PORTS: u32 = 256;

/// A program's rules, each filed under the destination, source or destination-port
/// keys a packet must have for it to match (IPv4 packets).
pub struct RuleIndex {
    rules: usize,
    by_dst: HashMap<u16, Vec<u32>>,
    by_src: HashMap<u16, Vec<u32>>,
    by_dport: HashMap<u16, Vec<u32>>,
    /// Rules filed nowhere: tried for every IPv4 packet.
    everywhere: Vec<u32>,
}

/// The 16-bit keys of the addresses `m` can match, when it narrows them enough: `None`
/// when it does not; `Some(empty)` when it matches no IPv4 address.
fn address_keys(m: &AddrMatch) -> Option<Vec<u16>> {
    match m {
        AddrMatch::Prefix(IpNet::V4(n)) if n.prefix_len() >= FILED_FROM => {
            let first = (u32::from(n.network()) >> 16) as u16;
            let keys = 1u32 << (16 - n.prefix_len().min(16));
            Some((0..keys).map(|k| first + k as u16).collect())
        }
        AddrMatch::Prefix(IpNet::V6(_)) => Some(Vec::new()),
        _ => None,
    }
}

/// The ports of a destination port match of at most [`MOST_PORTS`] ports.
fn port_keys(m: &PortMatch) -> Option<Vec<u16>> {
    let PortMatch::Ranges(ranges) = m else {
        return None;
    };
    let count: u32 = ranges
        .iter()
        .map(|&(lo, hi)| u32::from(hi) - u32::from(lo) + 1)
        .sum();
    (count <= MOST_PORTS).then(|| ranges.iter().flat_map(|&(lo, hi)| lo..=hi).collect())
}

fn filed(table: &HashMap<u16, Vec<u32>>, key: u16) -> &[u32] {
    table.get(&key).map_or(&[], Vec::as_slice)
}

impl RuleIndex {
    pub fn new(prog: &Program) -> RuleIndex {
        // Where each rule may be filed: destination, source, destination port.
        let options: Vec<[Option<Vec<u16>>; 3]> = prog
            .rules
            .iter()
            .map(|r| {
                [
                    address_keys(&r.m.dst),
                    address_keys(&r.m.src),
                    port_keys(&r.m.dport),
                ]
            })
            .collect();
        // How many rules could go under each key of each table.
        let mut could: [HashMap<u16, u32>; 3] = Default::default();
        for opts in &options {
            for (table, keys) in could.iter_mut().zip(opts) {
                for k in keys.iter().flatten() {
                    *table.entry(*k).or_default() += 1;
                }
            }
        }
        let mut tables: [HashMap<u16, Vec<u32>>; 3] = Default::default();
        let mut everywhere = Vec::new();
        for (i, opts) in options.into_iter().enumerate() {
            let crowd = |t: usize, keys: &[u16]| {
                keys.iter()
                    .map(|k| could[t].get(k).copied().unwrap_or(0))
                    .max()
                    .unwrap_or(0)
            };
            let best = opts
                .into_iter()
                .enumerate()
                .filter_map(|(t, keys)| keys.map(|k| (t, k)))
                .min_by_key(|(t, keys)| crowd(*t, keys));
            match best {
                Some((t, keys)) => {
                    for k in keys {
                        tables[t].entry(k).or_default().push(i as u32);
                    }
                }
                None => everywhere.push(i as u32),
            }
        }
        let [by_dst, by_src, by_dport] = tables;
        RuleIndex {
            rules: prog.rules.len(),
            by_dst,
            by_src,
            by_dport,
            everywhere,
        }
    }

    /// The rules that can match `h`, in file order (every rule of the program the
    /// index was made for, for a frame that is not IPv4).
    pub fn candidates(&self, h: &Headers) -> Candidates<'_> {
        let Some(ip) = &h.ip else {
            return Candidates::All(0..self.rules);
        };
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (ip.src, ip.dst) else {
            return Candidates::All(0..self.rules);
        };
        let dport = match ip.l4 {
            L4Fields::Ports { dport, .. } => filed(&self.by_dport, dport),
            _ => &[],
        };
        Candidates::Merged([
            filed(&self.by_dst, (u32::from(dst) >> 16) as u16),
            filed(&self.by_src, (u32::from(src) >> 16) as u16),
            dport,
            &self.everywhere,
        ])
    }
}

/// Rule indices in ascending order.
pub enum Candidates<'a> {
    All(Range<usize>),
    /// Ascending lists without common elements, merged.
    Merged([&'a [u32]; 4]),
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            Candidates::All(r) => r.next(),
            Candidates::Merged(lists) => {
                let list = lists
                    .iter_mut()
                    .filter(|l| !l.is_empty())
                    .min_by_key(|l| l[0])?;
                let (first, rest) = list.split_first()?;
                *list = rest;
                Some(*first as usize)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        eval::{evaluate, evaluate_indexed, Facts},
        packet::parse_packet,
    };

    use crate::rng::Rng;

    /// An IPv4 address near one of a few bases, so that prefixes and packets meet.
    fn v4(rng: &mut Rng) -> std::net::Ipv4Addr {
        let bases = [0x0a00_0000u32, 0x0a01_0000, 0xc000_0200, 0x0b80_0000, 0];
        let base = bases[rng.below(bases.len())];
        (base ^ (rng.next() as u32 & [0xff, 0xffff, 0xff_ffff][rng.below(3)])).into()
    }

    fn addr(rng: &mut Rng, v6: bool) -> String {
        match (rng.below(8), v6) {
            (0, _) => "*".into(),
            (_, true) => format!("2001:db8::/{}", 32 + rng.below(97)),
            (1, false) => "@s".into(),
            (_, false) => {
                let len = rng.below(33) as u8;
                ipnet::Ipv4Net::new(v4(rng), len)
                    .unwrap()
                    .trunc()
                    .to_string()
            }
        }
    }

    /// Random rules of every shape the index files differently; the evaluation through
    /// the index is the evaluation of every rule, packet by packet.
    #[test]
    fn indexed_evaluation_is_the_plain_evaluation() {
        let mut rng = Rng::seeded(0x5eed_1de5);
        for round in 0..20 {
            let mut src = String::from("set s = { 10.0.0.0/16, 192.0.2.0/24, 2001:db8::/32 }\n");
            src.push_str("xdp on eth0 {\n");
            for _ in 0..300 {
                let action = ["allow", "drop", "count"][rng.below(3)];
                let proto = ["", "tcp ", "udp "][rng.below(3)];
                let port = if proto.is_empty() || rng.below(2) == 0 {
                    String::new()
                } else {
                    [
                        format!(":{}", rng.below(4)),
                        format!(":{}-{}", rng.below(2), 2 + rng.below(2)),
                        format!(":0-{}", 300 + rng.below(1000)),
                    ][rng.below(3)]
                    .clone()
                };
                let v6 = rng.below(10) == 0;
                let port = if port.is_empty() || v6 {
                    String::new()
                } else {
                    port
                };
                let (a, b) = (addr(&mut rng, v6), addr(&mut rng, v6));
                let family = if v6 { "ip6 " } else { "" };
                let dst = format!("{b}{port}");
                src.push_str(&format!("    {action} {family}{proto}from {a} to {dst}\n"));
            }
            src.push_str("    default drop\n}\n");
            let (c, d) = sockc_compiler::compile(&src, &Default::default());
            let c = c.unwrap_or_else(|| {
                panic!(
                    "{:?}",
                    d.iter()
                        .filter(|d| d.is_error())
                        .take(3)
                        .collect::<Vec<_>>()
                )
            });
            let prog = c.module.programs.values().next().unwrap();
            let index = RuleIndex::new(prog);
            let facts = Facts::default();
            for _ in 0..500 {
                let proto = ["tcp", "udp", "icmp"][rng.below(3)];
                let packet = if rng.below(8) == 0 {
                    let proto = if proto == "icmp" { "udp" } else { proto };
                    format!(
                        "{proto} [2001:db8::{:x}]:1 -> [2001:db8::1]:2",
                        rng.below(9)
                    )
                } else if proto == "icmp" {
                    format!("icmp {} -> {}", v4(&mut rng), v4(&mut rng))
                } else {
                    format!(
                        "{proto} {}:{} -> {}:{}",
                        v4(&mut rng),
                        rng.below(4),
                        v4(&mut rng),
                        rng.below(4)
                    )
                };
                let frame = parse_packet(&packet).unwrap().build();
                assert_eq!(
                    evaluate_indexed(&c.module, prog, &index, &frame, &facts),
                    evaluate(&c.module, prog, &frame, &facts),
                    "round {round}: {packet}"
                );
            }
        }
    }
}
