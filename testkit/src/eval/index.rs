//! Which rules an evaluation needs to try, for many packets against a large program
//! (`sockc test --packets` with a 100,000-packet trace against 100,000 rules tried
//! every rule for every packet: about a millisecond a packet).
//!
//! The index only leaves out rules that cannot match: a rule whose source (or
//! destination) is an IPv4 prefix of 8 bits or more is filed under the first 16 bits
//! of the addresses it contains, and an IPv4 packet tries only the rules filed under
//! its own address's 16 bits plus the rules filed nowhere (any address, a set, a
//! shorter prefix), in file order, through the same [`super::rule_matches`] as every
//! other evaluation. A rule with an IPv6 prefix contains no IPv4 address and is left
//! out for IPv4 packets. Every other frame tries every rule. Whether a rule matches is
//! never decided here, so the evaluator stays the plain reading of the language.

use std::{collections::HashMap, net::IpAddr, ops::Range};

use ipnet::IpNet;
use sockc_compiler::ir::{AddrMatch, Program};

use super::Headers;

/// Prefixes at least this long are filed by address (one to 256 keys each); shorter
/// ones are tried for every packet.
const FILED_FROM: u8 = 8;

/// A program's rules, filed by the first 16 bits of the IPv4 addresses their source
/// and their destination can match.
pub struct RuleIndex {
    rules: usize,
    /// Source, destination.
    sides: [Side; 2],
}

#[derive(Default)]
struct Side {
    /// Rules whose prefix contains addresses starting with the key, ascending.
    by_key: HashMap<u16, Vec<u32>>,
    /// Rules that can match an IPv4 address under any key, ascending.
    everywhere: Vec<u32>,
}

impl Side {
    fn file(&mut self, m: &AddrMatch, rule: u32) {
        match m {
            AddrMatch::Prefix(IpNet::V4(n)) if n.prefix_len() >= FILED_FROM => {
                let first = (u32::from(n.network()) >> 16) as u16;
                let keys = 1u32 << (16 - n.prefix_len().min(16));
                for k in 0..keys {
                    self.by_key.entry(first + k as u16).or_default().push(rule);
                }
            }
            AddrMatch::Prefix(IpNet::V6(_)) => {}
            _ => self.everywhere.push(rule),
        }
    }

    fn filed(&self, addr: u32) -> &[u32] {
        self.by_key
            .get(&((addr >> 16) as u16))
            .map_or(&[], Vec::as_slice)
    }
}

impl RuleIndex {
    pub fn new(prog: &Program) -> RuleIndex {
        let mut sides = [Side::default(), Side::default()];
        for (i, rule) in prog.rules.iter().enumerate() {
            sides[0].file(&rule.m.src, i as u32);
            sides[1].file(&rule.m.dst, i as u32);
        }
        RuleIndex {
            rules: prog.rules.len(),
            sides,
        }
    }

    /// The rules that can match `h`, in file order (every rule of the program the
    /// index was made for, for a frame that is not IPv4).
    pub fn candidates(&self, h: &Headers) -> Candidates<'_> {
        let Some((IpAddr::V4(src), IpAddr::V4(dst))) = h.ip.as_ref().map(|ip| (ip.src, ip.dst))
        else {
            return Candidates::All(0..self.rules);
        };
        // The side that leaves fewer rules to try.
        let [s, d] = &self.sides;
        let (s_filed, d_filed) = (s.filed(src.into()), d.filed(dst.into()));
        let (filed, everywhere) =
            if s_filed.len() + s.everywhere.len() <= d_filed.len() + d.everywhere.len() {
                (s_filed, &s.everywhere[..])
            } else {
                (d_filed, &d.everywhere[..])
            };
        Candidates::Merged {
            a: filed,
            b: everywhere,
        }
    }
}

/// Rule indices in ascending order.
pub enum Candidates<'a> {
    All(Range<usize>),
    /// Two ascending lists without common elements, merged.
    Merged {
        a: &'a [u32],
        b: &'a [u32],
    },
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            Candidates::All(r) => r.next(),
            Candidates::Merged { a, b } => {
                let take_a = match (a.first(), b.first()) {
                    (None, None) => return None,
                    (Some(x), Some(y)) => x < y,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                };
                let list = if take_a { a } else { b };
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

    /// xorshift64*: enough randomness for addresses and rules.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// An IPv4 address near one of a few bases, so that prefixes and packets meet.
    fn v4(rng: &mut Rng) -> std::net::Ipv4Addr {
        let bases = [0x0a00_0000u32, 0x0a01_0000, 0xc000_0200, 0x0b80_0000, 0];
        let base = bases[rng.below(bases.len() as u64) as usize];
        (base ^ (rng.next() as u32 & [0xff, 0xffff, 0xff_ffff][rng.below(3) as usize])).into()
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
        let mut rng = Rng(0x5eed_1de5);
        for round in 0..20 {
            let mut src = String::from("set s = { 10.0.0.0/16, 192.0.2.0/24, 2001:db8::/32 }\n");
            src.push_str("xdp on eth0 {\n");
            for _ in 0..300 {
                let action = ["allow", "drop", "count"][rng.below(3) as usize];
                let proto = ["", "tcp ", "udp "][rng.below(3) as usize];
                let port = if proto.is_empty() || rng.below(2) == 0 {
                    String::new()
                } else {
                    format!(":{}", rng.below(4))
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
                let proto = ["tcp", "udp", "icmp"][rng.below(3) as usize];
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
